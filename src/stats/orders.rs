//! `palmdb stats orders --status S`: one page of `palmdb.orders_by_status`, newest first,
//! with the cursor of the next page.

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::Client;

use super::table::{money, time};
use crate::ui::table::{Align, Table};

#[derive(Debug, Clone)]
pub struct OrdersQuery {
    pub status: String,
    pub limit: i32,
    /// The id of the last order of the previous page.
    pub before: Option<i64>,
}

/// One page; the JSON keys of an order are the function's column names.
#[derive(Debug, Clone, Serialize)]
pub struct OrdersPage {
    pub status: String,
    pub orders: Vec<Order>,
    /// Pass as `--before` for the next page; null on the last page.
    pub next_before: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Order {
    pub id: i64,
    pub user_id: String,
    pub customer_email: Option<String>,
    pub status: String,
    pub amount_cents: i32,
    pub currency: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A page of orders; an unknown status is a usage error naming the allowed ones.
pub async fn orders_by_status(client: &Client, query: &OrdersQuery) -> Result<OrdersPage> {
    let rows = match client
        .query(
            "SELECT o.id, o.user_id::text AS user_id, o.customer_email, o.status::text AS status,
                    o.amount_cents, o.currency, o.created_at, o.updated_at
             FROM palmdb.orders_by_status($1, $2, $3) AS o",
            &[&query.status, &query.limit, &query.before],
        )
        .await
    {
        Ok(rows) => rows,
        Err(e) => return Err(super::sql_error::explain(client, e).await),
    };
    let orders = rows
        .iter()
        .map(|r| {
            Ok(Order {
                id: r.try_get("id")?,
                user_id: r.try_get("user_id")?,
                customer_email: r.try_get("customer_email")?,
                status: r.try_get("status")?,
                amount_cents: r.try_get("amount_cents")?,
                currency: r.try_get("currency")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // A full page may have a next one; a short page is the last.
    let next_before = (orders.len() == query.limit as usize)
        .then(|| orders.last().map(|o| o.id))
        .flatten();
    Ok(OrdersPage {
        status: query.status.clone(),
        orders,
        next_before,
    })
}

impl crate::ui::Report for OrdersPage {
    fn render_text(&self) -> String {
        if self.orders.is_empty() {
            return format!("no {} orders\n", self.status);
        }
        let mut table = Table::new(&[
            ("ID", Align::Right),
            ("CREATED", Align::Left),
            ("AMOUNT", Align::Right),
            ("CUR", Align::Left),
            ("CUSTOMER", Align::Left),
            ("USER", Align::Left),
        ]);
        for order in &self.orders {
            table.push(vec![
                order.id.to_string(),
                time(Some(order.created_at)),
                money(i64::from(order.amount_cents)),
                order.currency.clone(),
                order
                    .customer_email
                    .clone()
                    .unwrap_or_else(|| "-".to_string()),
                order.user_id.clone(),
            ]);
        }
        let mut out = table.render();
        if let Some(before) = self.next_before {
            out.push_str(&format!(
                "next page: palmdb stats orders --status {} --limit {} --before {before}\n",
                self.status,
                self.orders.len()
            ));
        }
        out
    }
}
