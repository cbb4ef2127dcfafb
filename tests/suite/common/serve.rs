//! `palmdb serve` started by a test: on a free port, its address (http or https) read from its log, its
//! stderr kept for the test to read, killed when dropped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A running `palmdb serve`.
pub struct ServeProcess {
    pub child: Child,
    /// `http://127.0.0.1:PORT` (`https://` with TLS), as the server logged it.
    pub base: String,
    log: Arc<Mutex<String>>,
}

impl ServeProcess {
    /// Spawns `cmd` (a `palmdb serve --listen 127.0.0.1:0 ...` with its environment) and waits
    /// until it logs the address it listens on. Every stderr line is kept and also passed to
    /// `on_line` (to echo it, or to check that no secret is logged).
    pub fn spawn(mut cmd: Command, on_line: impl Fn(&str) + Send + 'static) -> ServeProcess {
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start palmdb serve");
        let pipe = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Whole lines: a read that ends inside the address would send a cut-off port (a
            // test once asked another program's port and got its 403).
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let url = rest.split_whitespace().next().unwrap_or("");
                    if url.starts_with("http://") || url.starts_with("https://") {
                        let _ = tx.send(url.to_string());
                    }
                }
                {
                    let mut all = sink.lock().unwrap();
                    all.push_str(&line);
                    all.push('\n');
                }
                on_line(&line);
            }
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(base) => ServeProcess { child, base, log },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("palmdb serve did not start:\n{}", log.lock().unwrap());
            }
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        let port = self
            .base
            .rsplit(':')
            .next()
            .expect("an address with a port");
        port.parse().expect("a port number")
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Everything the server wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Kills the server and waits for it (also done on drop).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        self.stop();
    }
}
