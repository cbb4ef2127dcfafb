//! Dashboard sessions: a person logs in once with the read or admin token and gets a session
//! cookie instead of typing the token on every page.
//!
//! - The cookie holds only a random session id (256 bits from the OS); the token is never
//!   stored, in the cookie or in memory (the token check is serve's own, in `tokens`).
//! - `HttpOnly` (scripts cannot read it), `SameSite=Strict` (no other site's page can send it
//!   along), `Path=/`, `Max-Age` = the session's lifetime, and `Secure` when the dashboard is
//!   reached over TLS (serve's own, or a proxy saying `X-Forwarded-Proto: https`).
//! - Sessions expire [`SESSION_TTL`] after login whatever happens, live in memory only (a
//!   restart logs everyone out), and are capped at [`MAX_SESSIONS`]: the oldest goes first.
//! - Each session has its own CSRF token, required on every form that changes something.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use subtle::ConstantTimeEq;

use crate::serve::tokens::Access;

pub const COOKIE: &str = "palmdb_session";
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
pub const MAX_SESSIONS: usize = 1000;

#[derive(Debug, Clone)]
pub struct Session {
    pub access: Access,
    pub csrf: String,
    pub expires: Instant,
}

#[derive(Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// A new session for `access`; returns its id (the cookie's value) and the session.
    pub fn create(&self, access: Access) -> (String, Session) {
        let id = random_hex();
        let session = Session {
            access,
            csrf: random_hex(),
            expires: Instant::now() + SESSION_TTL,
        };
        let mut by_id = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        by_id.retain(|_, s| s.expires > now);
        if by_id.len() >= MAX_SESSIONS {
            if let Some(oldest) = by_id
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(id, _)| id.clone())
            {
                by_id.remove(&oldest);
            }
        }
        by_id.insert(id.clone(), session.clone());
        (id, session)
    }

    /// The live session a request's cookie names, if any.
    pub fn of_request(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let id = cookie_value(headers, COOKIE)?;
        let mut by_id = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        match by_id.get(id) {
            Some(s) if s.expires > Instant::now() => Some((id.to_string(), s.clone())),
            Some(_) => {
                by_id.remove(id);
                None
            }
            None => None,
        }
    }

    pub fn end(&self, id: &str) {
        self.by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }
}

impl Session {
    /// Whether a form's CSRF field is this session's token (constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        presented.len() == self.csrf.len()
            && bool::from(presented.as_bytes().ct_eq(self.csrf.as_bytes()))
    }

    pub fn is_admin(&self) -> bool {
        self.access == Access::Admin
    }
}

/// The `Set-Cookie` value that starts a session.
pub fn set_cookie(id: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={id}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{}",
        SESSION_TTL.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that ends one.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Whether the browser reached us over TLS: serve's own TLS, or a proxy that says so.
pub fn over_tls(served_with_tls: bool, headers: &HeaderMap) -> bool {
    served_with_tls
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// 32 random bytes from the operating system, as hex.
fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_cookie(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn a_session_is_found_by_its_cookie_until_it_ends() {
        let sessions = Sessions::default();
        let (id, session) = sessions.create(Access::Read);
        assert_eq!(id.len(), 64);
        assert_ne!(id, session.csrf);
        let headers = with_cookie(&format!("theme=dark; {COOKIE}={id}; other=1"));
        let (found, s) = sessions.of_request(&headers).unwrap();
        assert_eq!(found, id);
        assert_eq!(s.access, Access::Read);
        assert!(s.csrf_matches(&session.csrf));
        assert!(!s.csrf_matches("nope"));
        assert!(sessions
            .of_request(&with_cookie(&format!("{COOKIE}=forged")))
            .is_none());
        sessions.end(&id);
        assert!(sessions.of_request(&headers).is_none());
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_over_tls() {
        let cookie = set_cookie("abc", false);
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        assert!(cookie.contains("Max-Age=28800") && !cookie.contains("Secure"));
        assert!(set_cookie("abc", true).ends_with("; Secure"));
        let mut proxied = HeaderMap::new();
        proxied.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(over_tls(false, &proxied));
        assert!(!over_tls(false, &HeaderMap::new()));
        assert!(clear_cookie(false).contains("Max-Age=0"));
    }

    #[test]
    fn sessions_are_capped() {
        let sessions = Sessions::default();
        for _ in 0..MAX_SESSIONS + 5 {
            sessions.create(Access::Read);
        }
        assert_eq!(sessions.by_id.lock().unwrap().len(), MAX_SESSIONS);
    }
}
