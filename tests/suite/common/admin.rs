//! One admin connection per server for the whole test process, as sqlx's test harness keeps:
//! every test creates and drops its database through it instead of opening a session (a new
//! server process) twice per test. Its connection task lives on one small runtime of its own,
//! so the connection outlives the test, thread or runtime that first needed it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::runtime::{Handle, Runtime};
use tokio_postgres::{Client, NoTls};

/// The runtime that drives the admin connections.
fn runtime() -> Handle {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("test-admin-connection")
                .enable_all()
                .build()
                .expect("admin connection runtime")
        })
        .handle()
        .clone()
}

/// Runs `work` on the admin runtime and waits for it, from sync or async code alike (a
/// thread of its own: blocking inside another runtime is not allowed).
fn on_admin_runtime<F, T>(work: F) -> T
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handle = runtime();
    std::thread::spawn(move || handle.block_on(work))
        .join()
        .expect("admin connection thread panicked")
}

/// The shared connection to `url`, opened on first use and again if the server closed it.
fn client(url: &str) -> Arc<Client> {
    static CLIENTS: OnceLock<Mutex<HashMap<String, Arc<Client>>>> = OnceLock::new();
    let mut clients = CLIENTS.get_or_init(Default::default).lock().unwrap();
    if let Some(client) = clients.get(url).filter(|c| !c.is_closed()) {
        return client.clone();
    }
    let owned = url.to_string();
    let client = Arc::new(on_admin_runtime(async move {
        let (client, connection) = tokio_postgres::connect(&owned, NoTls)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the test server: {e}"));
        tokio::spawn(connection);
        client
    }));
    clients.insert(url.to_string(), client.clone());
    client
}

/// Runs `sql` (no parameters, possibly several statements) on the shared connection to `url`;
/// once more on a new connection if the server had closed the shared one (a restarted server).
pub fn execute(url: &str, sql: &str) -> Result<(), tokio_postgres::Error> {
    rows(url, sql).map(drop)
}

/// The rows of `sql` (simple query protocol: no parameters, possibly several statements) on
/// the shared connection to `url`, each value as text (None for NULL); once more on a new
/// connection if the server had closed the shared one.
pub fn rows(url: &str, sql: &str) -> Result<Vec<Vec<Option<String>>>, tokio_postgres::Error> {
    let run = |client: Arc<Client>| {
        let sql = sql.to_string();
        on_admin_runtime(async move {
            let messages = client.simple_query(&sql).await?;
            Ok::<_, tokio_postgres::Error>(
                messages
                    .into_iter()
                    .filter_map(|message| match message {
                        tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                            (0..row.len())
                                .map(|i| row.get(i).map(str::to_string))
                                .collect(),
                        ),
                        _ => None,
                    })
                    .collect(),
            )
        })
    };
    match run(client(url)) {
        Err(e) if e.is_closed() => run(client(url)),
        done => done,
    }
}
