//! The dashboard: `palmdb serve`'s pages for people, at `/` — overview (every check's status
//! and remedy), queries (top statements and index advice), space (sizes, and growth per day
//! drawn from the recorded snapshots), backups (with prune and verify for the admin) and
//! connections.
//!
//! Server-rendered HTML (maud templates, escaped by construction) with inline SVG charts: no
//! JavaScript at all, so it works with scripts off, and the Content-Security-Policy forbids
//! every script, frame, plugin and foreign resource. A person logs in once with the read or
//! admin token (checked by serve's own `tokens`) and gets a session cookie (`session`); the
//! forms that change something are POSTs carrying the session's CSRF token.
//!
//! The pages share the API's data paths: the health report and the backup list come from the
//! same single-flight caches as `GET /health` and `GET /backups`, so the figures on screen are
//! the JSON API's.
//!
//! Routing: [`intercept`] runs before the API's bearer-token check and takes the dashboard's
//! paths; `GET /backups` is the page only for a browser (`Accept: text/html`) that sends no
//! `Authorization` header, and the JSON API otherwise.

pub mod backups;
pub mod chart;
pub mod connections;
pub mod layout;
pub mod login;
pub mod overview;
pub mod queries;
pub mod session;
pub mod space;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{map_response, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use tower::ServiceExt;

use super::cache::Cached;
use super::state::AppState;
use crate::insights::advise::AdviceReport;
use session::{Session, Sessions};

/// No script, style or image from anywhere but this server; no frames, plugins or forms
/// posting elsewhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Index advice is costly to compute (it plans every top statement several times): it is
/// computed at most this often, on demand.
pub const ADVICE_TTL: Duration = Duration::from_secs(600);

/// What the dashboard keeps between requests.
pub struct DashboardState {
    pub sessions: Sessions,
    /// Whether serve itself speaks TLS (cookies are then `Secure`).
    pub tls: bool,
    pub advice: Cached<Result<AdviceReport, String>>,
    /// The last verification of each backup run from the dashboard: (when, ok, summary).
    pub verified: std::sync::Mutex<std::collections::HashMap<String, backups::Verified>>,
}

impl DashboardState {
    pub fn new(tls: bool) -> DashboardState {
        DashboardState {
            sessions: Sessions::default(),
            tls,
            advice: Cached::new(ADVICE_TTL),
            verified: Default::default(),
        }
    }
}

/// The dashboard's routes, with its security headers on every answer.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(overview::page))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/queries", get(queries::page))
        .route("/space", get(space::page))
        .route("/connections", get(connections::page))
        .route("/backups", get(backups::page))
        .route("/backups/prune", post(backups::prune))
        .route("/backups/verify", post(backups::verify))
        .route("/dashboard.css", get(stylesheet))
        .layer(map_response(security_headers))
        .with_state(state)
}

/// Whether a request is the dashboard's rather than the JSON API's.
pub fn is_dashboard_request(method: &Method, path: &str, headers: &HeaderMap) -> bool {
    match path {
        "/" | "/login" | "/logout" | "/queries" | "/space" | "/connections" | "/dashboard.css"
        | "/backups/prune" | "/backups/verify" => true,
        "/backups" => {
            method == Method::GET
                && !headers.contains_key(header::AUTHORIZATION)
                && headers
                    .get(header::ACCEPT)
                    .and_then(|a| a.to_str().ok())
                    .is_some_and(|a| a.contains("text/html"))
        }
        _ => false,
    }
}

/// Middleware in front of the API's token check: the dashboard's requests go to its router.
pub async fn intercept(State(pages): State<Router>, request: Request, next: Next) -> Response {
    if is_dashboard_request(request.method(), request.uri().path(), request.headers()) {
        match pages.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    } else {
        next.run(request).await
    }
}

/// Why a request gets no page: not logged in (to the login form), or not allowed.
pub enum Refusal {
    Login,
    Forbidden(&'static str),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Login => Redirect::to("/login").into_response(),
            Refusal::Forbidden(why) => (StatusCode::FORBIDDEN, why).into_response(),
        }
    }
}

/// The logged-in session, or the way to the login page.
pub fn require_session(state: &AppState, headers: &HeaderMap) -> Result<Session, Refusal> {
    state
        .dashboard
        .sessions
        .of_request(headers)
        .map(|(_, s)| s)
        .ok_or(Refusal::Login)
}

/// The admin's session with a valid CSRF token, or why not.
pub fn require_admin_form(
    state: &AppState,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<Session, Refusal> {
    let session = require_session(state, headers)?;
    if !session.csrf_matches(csrf) {
        return Err(Refusal::Forbidden(
            "the form is stale or forged: reload the page",
        ));
    }
    if !session.is_admin() {
        return Err(Refusal::Forbidden("this needs the admin token"));
    }
    Ok(session)
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("dashboard.css"),
    )
        .into_response()
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backups_is_the_page_only_for_a_browser_without_a_token() {
        let mut browser = HeaderMap::new();
        browser.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/html,application/xhtml+xml"),
        );
        assert!(is_dashboard_request(&Method::GET, "/backups", &browser));
        let mut api = browser.clone();
        api.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert!(!is_dashboard_request(&Method::GET, "/backups", &api));
        assert!(!is_dashboard_request(
            &Method::GET,
            "/backups",
            &HeaderMap::new()
        ));
        assert!(!is_dashboard_request(&Method::DELETE, "/backups", &browser));
        assert!(is_dashboard_request(&Method::GET, "/", &HeaderMap::new()));
        assert!(!is_dashboard_request(&Method::GET, "/health", &browser));
        assert!(!is_dashboard_request(&Method::GET, "/metrics", &browser));
    }
}
