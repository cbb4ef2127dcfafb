//! `palmdb stats user <ID-or-EMAIL>`: one round trip to `palmdb.user_stats` (through
//! `palmdb.find_user_by_email` for an address).

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::{Client, Row};

use super::table::{money, time};
use crate::error::Failure;

/// How the user was named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserKey {
    Id(String),
    Email(String),
}

impl UserKey {
    /// An address has an `@`; an id is a uuid (32 hex digits, dashes optional).
    pub fn parse(text: &str) -> Result<UserKey> {
        let text = text.trim();
        if text.contains('@') {
            return Ok(UserKey::Email(text.to_string()));
        }
        let digits: String = text.chars().filter(|c| *c != '-').collect();
        if digits.len() == 32 && digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(UserKey::Id(text.to_string()));
        }
        Err(Failure::usage(format!(
            "\"{text}\" is neither a user id (a uuid) nor an email address"
        ))
        .into())
    }

    fn describe(&self) -> String {
        match self {
            UserKey::Id(id) => format!("id {id}"),
            UserKey::Email(email) => format!("email {email}"),
        }
    }
}

/// One row of `palmdb.user_stats`; the JSON keys are the function's column names.
#[derive(Debug, Clone, Serialize)]
pub struct UserStats {
    pub user_id: String,
    pub email: String,
    pub role: String,
    pub signed_up_at: DateTime<Utc>,
    pub orders_total: i64,
    pub orders_completed: i64,
    pub orders_refunded: i64,
    pub revenue_cents: i64,
    pub sessions_total: i64,
    pub sessions_completed: i64,
    pub sessions_failed: i64,
    pub first_activity_at: Option<DateTime<Utc>>,
    pub last_activity_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "s.user_id::text AS user_id, s.email, s.role, s.signed_up_at, \
     s.orders_total, s.orders_completed, s.orders_refunded, s.revenue_cents, \
     s.sessions_total, s.sessions_completed, s.sessions_failed, \
     s.first_activity_at, s.last_activity_at";

/// The user's figures; an unknown user is a usage error.
pub async fn user_stats(client: &Client, key: &UserKey) -> Result<UserStats> {
    let row = match key {
        UserKey::Id(id) => {
            client
                .query_opt(
                    &format!("SELECT {COLUMNS} FROM palmdb.user_stats($1::text::uuid) AS s"),
                    &[id],
                )
                .await
        }
        UserKey::Email(email) => {
            client
                .query_opt(
                    &format!(
                        "SELECT {COLUMNS}
                         FROM palmdb.find_user_by_email($1) AS u
                         CROSS JOIN LATERAL palmdb.user_stats(u.id) AS s"
                    ),
                    &[email],
                )
                .await
        }
    };
    let row = match row {
        Ok(row) => row,
        Err(e) => return Err(super::sql_error::explain(client, e).await),
    };
    match row {
        Some(row) => from_row(&row),
        None => Err(Failure::usage(format!("no user with {}", key.describe()))
            .with_hint("emails match whatever their case; ids are uuids")
            .into()),
    }
}

fn from_row(row: &Row) -> Result<UserStats> {
    Ok(UserStats {
        user_id: row.try_get("user_id")?,
        email: row.try_get("email")?,
        role: row.try_get("role")?,
        signed_up_at: row.try_get("signed_up_at")?,
        orders_total: row.try_get("orders_total")?,
        orders_completed: row.try_get("orders_completed")?,
        orders_refunded: row.try_get("orders_refunded")?,
        revenue_cents: row.try_get("revenue_cents")?,
        sessions_total: row.try_get("sessions_total")?,
        sessions_completed: row.try_get("sessions_completed")?,
        sessions_failed: row.try_get("sessions_failed")?,
        first_activity_at: row.try_get("first_activity_at")?,
        last_activity_at: row.try_get("last_activity_at")?,
    })
}

impl crate::ui::Report for UserStats {
    fn render_text(&self) -> String {
        let lines = [
            ("user", format!("{} ({})", self.email, self.user_id)),
            ("role", self.role.clone()),
            ("signed up", time(Some(self.signed_up_at))),
            (
                "orders",
                format!(
                    "{} total, {} completed, {} refunded",
                    self.orders_total, self.orders_completed, self.orders_refunded
                ),
            ),
            (
                "revenue",
                format!(
                    "{} (completed orders, amounts added across currencies)",
                    money(self.revenue_cents)
                ),
            ),
            (
                "palm analyses",
                format!(
                    "{} total, {} completed, {} failed",
                    self.sessions_total, self.sessions_completed, self.sessions_failed
                ),
            ),
            ("first activity", time(self.first_activity_at)),
            ("last activity", time(self.last_activity_at)),
        ];
        let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        lines
            .iter()
            .map(|(key, value)| format!("{key:<width$}  {value}\n"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_an_email_and_a_uuid_is_an_id() {
        assert_eq!(
            UserKey::parse("Ava@Example.com").unwrap(),
            UserKey::Email("Ava@Example.com".into())
        );
        assert_eq!(
            UserKey::parse("1ea346a8-75cf-1f87-ef3d-4f55d74a5c01").unwrap(),
            UserKey::Id("1ea346a8-75cf-1f87-ef3d-4f55d74a5c01".into())
        );
        assert!(UserKey::parse("ava").is_err());
        assert!(UserKey::parse("1234").is_err());
    }
}
