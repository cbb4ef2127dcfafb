//! The HTTP/1.1 accept loop, with the limits `axum::serve` does not offer.
//!
//! - a client has `header_read_timeout` to send each request head (and to finish the TLS
//!   handshake), so slow or idle clients (slowloris) cannot pin connections;
//! - at most `max_connections` connections are served at once, and at most `per_client` from
//!   one client (one IPv4 address, one IPv6 /64): hundreds of half-open connections from one
//!   address take its own share and nothing more, so a monitor calling from elsewhere still
//!   gets in. Connections over a limit are closed at once, with one rate-limited warning;
//! - on shutdown the listener closes, idle keep-alive connections are closed, requests in
//!   flight finish (up to `grace`), then the function returns.
//!
//! Prometheus and every HTTP client speak HTTP/1.1, so HTTP/2 is not offered.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_native_tls::TlsAcceptor;

use super::warnings::Warnings;

pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// An eighth of the default total: room for Prometheus, browsers behind one NAT address and a
/// load test of 50 connections, while one client alone never takes more than its share.
pub const DEFAULT_MAX_PER_CLIENT: usize = 64;

/// How many connections the server accepts, and how long a client may take to speak.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub per_client: usize,
    pub header_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            per_client: DEFAULT_MAX_PER_CLIENT,
            header_read_timeout: HEADER_READ_TIMEOUT,
        }
    }
}

/// Serves `app` on `listener` (through TLS when `tls` is given) until `stop` completes, then
/// drains connections.
pub async fn serve_until(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    warnings: Arc<Warnings>,
    stop: impl Future<Output = ()>,
    grace: Duration,
) -> Result<()> {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let clients = Arc::new(ClientCounts::default());
    tokio::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        warnings.warn("accept", || format!("accept failed: {e}"));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let client = client_key(peer.ip());
                let Some(client_slot) = clients.take(client, limits.per_client) else {
                    warnings.warn("per_client", || format!(
                        "{client} already has {} connections open: closing new ones from it",
                        limits.per_client
                    ));
                    continue;
                };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    warnings.warn("max_connections", || format!(
                        "{} connections open: closing new ones",
                        limits.max_connections
                    ));
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let connection = Connection {
                    builder: builder.clone(),
                    app: app.clone(),
                    watcher: graceful.watcher(),
                };
                let tls = tls.clone();
                let handshake_deadline = limits.header_read_timeout;
                tokio::spawn(async move {
                    match tls {
                        None => connection.serve(stream).await,
                        Some(acceptor) => {
                            match tokio::time::timeout(handshake_deadline, acceptor.accept(stream)).await {
                                Ok(Ok(stream)) => connection.serve(stream).await,
                                Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                                Err(_) => tracing::debug!("TLS handshake took too long"),
                            }
                        }
                    }
                    drop(slot);
                    drop(client_slot);
                });
            }
            () = &mut stop => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still running after {}: closing them",
            humantime::format_duration(grace)
        );
    }
    Ok(())
}

/// What serving one accepted connection needs.
struct Connection {
    builder: http1::Builder,
    app: Router,
    watcher: Watcher,
}

impl Connection {
    async fn serve<S>(self, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let service = TowerToHyperService::new(self.app);
        let connection = self.builder.serve_connection(TokioIo::new(stream), service);
        if let Err(e) = self.watcher.watch(connection).await {
            tracing::debug!("connection ended: {e}");
        }
    }
}

/// Who a connection counts against: an IPv4 address, or an IPv6 /64 (one host usually has a
/// whole /64 to pick addresses from). IPv4-mapped IPv6 addresses count as the IPv4 address.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(Ipv6Addr::from(segments))
            }
        },
    }
}

/// Open connections per client.
#[derive(Default)]
struct ClientCounts {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection of a client; gives its place back when dropped.
struct ClientSlot {
    counts: Arc<ClientCounts>,
    client: IpAddr,
}

impl ClientCounts {
    fn take(self: &Arc<Self>, client: IpAddr, max: usize) -> Option<ClientSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(client).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            counts: self.clone(),
            client,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.counts.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn a_client_gets_its_share_and_gives_it_back() {
        let counts = Arc::new(ClientCounts::default());
        let one: IpAddr = "127.0.0.2".parse().unwrap();
        let two: IpAddr = "127.0.0.3".parse().unwrap();
        let held: Vec<_> = (0..3).map(|_| counts.take(one, 3).unwrap()).collect();
        assert!(counts.take(one, 3).is_none());
        assert!(counts.take(two, 3).is_some());
        drop(held);
        assert!(counts.take(one, 3).is_some());
        assert!(counts.open.lock().unwrap().len() <= 1);
    }
}
