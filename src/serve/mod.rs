//! `palmdb serve`: the admin HTTP API and Prometheus metrics.
//!
//! It replaces the seed's `/api/admin/...` routes, whose `adminAuth` let everyone in under
//! `NODE_ENV=development`. Here there is no bypass: without a token the server does not start,
//! and every endpoint but `/livez` checks a bearer token in constant time. The JSON bodies are
//! the CLI's `--json` output of the same command, produced by the same library calls.
//!
//! The server reads like its steps: load the tokens → install the signal handlers → open the
//! pool → bind → serve until SIGTERM/SIGINT → drain requests in flight → close the pool.

pub mod auth;
pub mod backups;
pub mod cache;
pub mod dashboard;
pub mod health;
pub mod json;
pub mod listener;
pub mod metrics;
pub mod pool;
pub mod router;
pub mod shutdown;
pub mod state;
pub mod tls;
pub mod tokens;
pub mod warnings;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::net::TcpListener;
use tokio::sync::Mutex;

use crate::connect::ConnectSettings;
use crate::error::Failure;
use cache::Cached;
use listener::Limits;
use pool::DbPool;
use shutdown::ShutdownSignals;
use state::AppState;
use tokens::{TokenSources, Tokens};
use warnings::Warnings;

/// How long requests in flight may take to finish after SIGTERM/SIGINT.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

pub struct ServeOptions {
    pub listen: SocketAddr,
    /// `--tls-cert` and `--tls-key`: serve HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// `--insecure-listen`: allow a non-loopback address without TLS.
    pub insecure_listen: bool,
    pub limits: Limits,
    pub tokens: TokenSources,
    pub metrics_public: bool,
    pub repos: Vec<crate::archive::repository::Repository>,
    pub max_age: Duration,
    pub pool_size: usize,
    pub db_timeout: Duration,
    pub request_timeout: Duration,
    pub cache_ttl: Duration,
    /// `--pgbouncer-url`: add PgBouncer's pool checks to /health and /metrics.
    pub pgbouncer: Option<ConnectSettings>,
}

pub async fn serve(settings: &ConnectSettings, options: ServeOptions) -> Result<()> {
    check_timeouts(&options)?;
    check_exposure(
        options.listen,
        options.tls.is_some(),
        options.insecure_listen,
    )?;
    let tokens = Tokens::load(&options.tokens)?;
    let tls = match &options.tls {
        Some((cert, key)) => Some(tls::acceptor(cert, key)?),
        None => None,
    };
    let warnings = Arc::new(Warnings::default());
    let signals = ShutdownSignals::install()?;
    let pool = DbPool::open(settings, options.pool_size, options.db_timeout)?;
    let state = Arc::new(AppState {
        tokens,
        metrics_public: options.metrics_public,
        pool,
        health: Cached::new(options.cache_ttl),
        backups: Cached::new(options.cache_ttl),
        repos: options.repos.clone(),
        max_age: options.max_age,
        prune_lock: Mutex::new(()),
        started: Instant::now(),
        health_collections: AtomicU64::new(0),
        warnings: warnings.clone(),
        dashboard: dashboard::DashboardState::new(options.tls.is_some()),
        pgbouncer: options
            .pgbouncer
            .clone()
            .map(|console| (console, settings.database().to_string())),
    });
    let app = router::build(state.clone(), options.request_timeout);
    let listener = bind(options.listen).await?;
    announce(&listener, &state, &options)?;
    let stop = async {
        let name = signals.received().await;
        eprintln!("palmdb serve: {name} received, finishing the requests in flight");
    };
    listener::serve_until(
        listener,
        app,
        tls,
        options.limits,
        warnings,
        stop,
        SHUTDOWN_GRACE,
    )
    .await?;
    state.pool.close();
    eprintln!("palmdb serve: stopped");
    Ok(())
}

/// The database timeout must fit inside the request deadline, or a stuck database would
/// surface as a bare deadline error instead of `/health`'s 503 `unknown`.
fn check_timeouts(options: &ServeOptions) -> Result<()> {
    if options.db_timeout.is_zero() || options.request_timeout <= options.db_timeout {
        return Err(Failure::usage(format!(
            "--request-timeout ({}) must be longer than --db-timeout ({}), which must not be 0",
            humantime::format_duration(options.request_timeout),
            humantime::format_duration(options.db_timeout)
        ))
        .into());
    }
    Ok(())
}

/// Tokens must not cross a network in clear text: an address other machines can reach needs
/// TLS, or the operator's explicit `--insecure-listen` (a private network, a TLS proxy on
/// another host).
fn check_exposure(listen: SocketAddr, tls: bool, insecure_listen: bool) -> Result<()> {
    if listen.ip().is_loopback() || tls || insecure_listen {
        return Ok(());
    }
    Err(Failure::usage(format!(
        "--listen {listen} can be reached from other machines, and without TLS the tokens would \
         cross the network in clear text"
    ))
    .with_hint(
        "listen on 127.0.0.1 behind a TLS proxy, give --tls-cert FILE --tls-key FILE, or pass \
         --insecure-listen if the network is private",
    )
    .into())
}

async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        Failure::usage(format!("cannot listen on {addr}: {e}"))
            .with_hint("choose another address with --listen HOST:PORT")
            .into()
    })
}

/// One line on stderr saying where the server listens (the real port when `:0` was asked);
/// tests and operators read it. Tokens are never part of it.
fn announce(listener: &TcpListener, state: &AppState, options: &ServeOptions) -> Result<()> {
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::operation(format!("cannot read the listening address: {e}")))?;
    eprintln!(
        "palmdb serve: listening on {}://{addr} (database {}, pool of {}, metrics {})",
        if options.tls.is_some() {
            "https"
        } else {
            "http"
        },
        state.pool.describe(),
        options.pool_size,
        if options.metrics_public {
            "public"
        } else {
            "need a token"
        }
    );
    if !addr.ip().is_loopback() && options.tls.is_none() {
        eprintln!(
            "palmdb serve: warning: --insecure-listen: {addr} is reachable from other machines \
             and tokens travel in clear text"
        );
    }
    if !state.tokens.has_admin() {
        eprintln!("palmdb serve: no admin token: DELETE /backups/expired is refused to everyone");
    }
    Ok(())
}
