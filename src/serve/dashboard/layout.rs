//! The frame every page shares: the navigation, who is logged in, the logout form.

use maud::{html, Markup, DOCTYPE};

use super::session::Session;

/// The pages in the navigation, in order: (path, title).
pub const PAGES: [(&str, &str); 5] = [
    ("/", "Overview"),
    ("/queries", "Queries"),
    ("/space", "Space"),
    ("/backups", "Backups"),
    ("/connections", "Connections"),
];

/// A full page: `current` is the path of the page shown.
pub fn page(current: &str, title: &str, session: &Session, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · palmdb" }
                link rel="stylesheet" href="/dashboard.css";
            }
            body {
                header {
                    span.brand { "palmdb" }
                    nav {
                        @for (path, name) in PAGES {
                            @if path == current {
                                a.current href=(path) aria-current="page" { (name) }
                            } @else {
                                a href=(path) { (name) }
                            }
                        }
                    }
                    form.logout method="post" action="/logout" {
                        span.role data-role=(role(session)) { (role(session)) }
                        input type="hidden" name="csrf" value=(session.csrf);
                        button type="submit" { "Log out" }
                    }
                }
                main {
                    h1 { (title) }
                    (content)
                }
                footer {
                    "Rendered " (chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC"))
                    " by palmdb " (env!("CARGO_PKG_VERSION"))
                }
            }
        }
    }
}

/// A page for someone not logged in (the login form).
pub fn bare(title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · palmdb" }
                link rel="stylesheet" href="/dashboard.css";
            }
            body.bare {
                main { (content) }
            }
        }
    }
}

/// An error the page could not avoid (the database is down, an extension is missing).
pub fn problem(message: &str) -> Markup {
    html! { p.problem role="alert" { (message) } }
}

fn role(session: &Session) -> &'static str {
    if session.is_admin() {
        "admin"
    } else {
        "read"
    }
}
