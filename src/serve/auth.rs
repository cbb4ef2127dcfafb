//! Who may call what, declared in one place and enforced before any handler runs.
//!
//! - `/livez` is open (it touches nothing); `/metrics` is open only with `--metrics-public`.
//! - Reading (GET/HEAD) needs the read or the admin token; anything else (the DELETE) needs the
//!   admin token.
//! - No valid token → 401 with an empty body and `WWW-Authenticate: Bearer`, the same answer
//!   whatever was wrong (no header, another scheme, a wrong token), so a caller learns nothing.
//! - A valid read token on the DELETE → 403: the caller is known but not allowed. It tells the
//!   holder of a read token only what that token is for, which the holder knows anyway, and
//!   lets a client tell "bad credentials" (fix the token) from "wrong role" (use the admin one).
//!   Unknown paths also need a token, so an anonymous caller cannot map the API.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::state::AppState;
use super::tokens::Access;

/// The access a request needs, or `None` for the open ones.
pub fn required_access(method: &Method, path: &str, metrics_public: bool) -> Option<Access> {
    match path {
        "/livez" => None,
        "/metrics" if metrics_public => None,
        _ if method == Method::GET || method == Method::HEAD => Some(Access::Read),
        _ => Some(Access::Admin),
    }
}

pub async fn authorize(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(needed) =
        required_access(request.method(), request.uri().path(), state.metrics_public)
    else {
        return next.run(request).await;
    };
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|value| value.as_bytes());
    match (state.tokens.access_of(header), needed) {
        (None, _) => unauthorized(),
        (Some(Access::Read), Access::Admin) => StatusCode::FORBIDDEN.into_response(),
        (Some(_), _) => next.run(request).await,
    }
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer realm=\"palmdb\"")],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_livez_and_a_public_metrics_are_open() {
        assert_eq!(required_access(&Method::GET, "/livez", false), None);
        assert_eq!(required_access(&Method::GET, "/metrics", true), None);
        assert_eq!(
            required_access(&Method::GET, "/metrics", false),
            Some(Access::Read)
        );
        assert_eq!(
            required_access(&Method::GET, "/health", true),
            Some(Access::Read)
        );
        assert_eq!(
            required_access(&Method::GET, "/nowhere", false),
            Some(Access::Read)
        );
        assert_eq!(
            required_access(&Method::DELETE, "/backups/expired", true),
            Some(Access::Admin)
        );
        assert_eq!(
            required_access(&Method::POST, "/health", false),
            Some(Access::Admin)
        );
    }
}
