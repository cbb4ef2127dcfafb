//! What every request handler shares: the tokens, the pool, the caches and the settings.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::backups::BackupsSnapshot;
use super::cache::Cached;
use super::health::HealthSnapshot;
use super::pool::DbPool;
use super::tokens::Tokens;
use super::warnings::Warnings;

pub struct AppState {
    pub tokens: Tokens,
    pub metrics_public: bool,
    pub pool: DbPool,
    pub health: Cached<HealthSnapshot>,
    pub backups: Cached<BackupsSnapshot>,
    /// The backup repositories it reports on (`--repo`, several allowed; the first is the
    /// one `DELETE /backups/expired` prunes unless told otherwise).
    pub repos: Vec<crate::archive::repository::Repository>,
    pub max_age: Duration,
    /// One prune at a time: two concurrent DELETEs would race over the same folders.
    pub prune_lock: Mutex<()>,
    pub started: Instant,
    /// Health collections run so far (each is one query): shows what the cache saves.
    pub health_collections: AtomicU64,
    /// Warnings a client or a failing database can repeat, rate-limited.
    pub warnings: Arc<Warnings>,
    /// `--pgbouncer-url`: PgBouncer's admin console, and the database whose pools are judged.
    pub pgbouncer: Option<(crate::connect::ConnectSettings, String)>,
    /// The dashboard's sessions and cached advice.
    pub dashboard: super::dashboard::DashboardState,
}
