//! `GET /login`, `POST /login` (the form field `token`: the read or admin token) and
//! `POST /logout`. The token is checked by serve's own constant-time comparison (`tokens`);
//! a wrong one gets the same answer whatever was wrong, and is never logged or echoed.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use serde::Deserialize;

use super::layout;
use super::session;
use crate::serve::state::AppState;

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

#[derive(Deserialize)]
pub struct LogoutForm {
    csrf: String,
}

pub async fn form(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if state.dashboard.sessions.of_request(&headers).is_some() {
        return Redirect::to("/").into_response();
    }
    login_page(StatusCode::OK, None)
}

pub async fn submit(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(login): Form<LoginForm>,
) -> Response {
    let Some(access) = state.tokens.access_of_token(login.token.trim().as_bytes()) else {
        return login_page(
            StatusCode::UNAUTHORIZED,
            Some("That is not the read or the admin token."),
        );
    };
    let (id, _) = state.dashboard.sessions.create(access);
    let secure = session::over_tls(state.dashboard.tls, &headers);
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/".to_string()),
            (header::SET_COOKIE, session::set_cookie(&id, secure)),
        ],
    )
        .into_response()
}

pub async fn logout(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    if let Some((id, s)) = state.dashboard.sessions.of_request(&headers) {
        if !s.csrf_matches(&form.csrf) {
            return (
                StatusCode::FORBIDDEN,
                "the form is stale or forged: reload the page",
            )
                .into_response();
        }
        state.dashboard.sessions.end(&id);
    }
    let secure = session::over_tls(state.dashboard.tls, &headers);
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/login".to_string()),
            (header::SET_COOKIE, session::clear_cookie(secure)),
        ],
    )
        .into_response()
}

fn login_page(status: StatusCode, error: Option<&str>) -> Response {
    let content = html! {
        form.login method="post" action="/login" {
            h1 { "palmdb" }
            p { "Log in with the read or the admin token of this palmdb serve." }
            @if let Some(error) = error {
                (layout::problem(error))
            }
            label for="token" { "Token" }
            input #token type="password" name="token" autocomplete="current-password" required autofocus;
            button type="submit" { "Log in" }
        }
    };
    (status, layout::bare("Log in", content)).into_response()
}
