//! A real Prometheus (Debian's `prometheus`) on a free loopback port, scraping one target
//! every second with exemplar storage on, plus the few HTTP API queries tests need.
//!
//! Requires `prometheus` on PATH (`scripts/install-test-deps.sh`); a missing binary fails
//! the test rather than skipping it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::collector::{START_ATTEMPTS, free_port};
use crate::listening::{Listening, wait_child_listening};
use crate::wait::poll_blocking;

/// A running Prometheus; killed and its data directory removed when dropped.
#[derive(Debug)]
pub struct Prometheus {
    child: Child,
    /// The web/API address.
    pub addr: SocketAddr,
    dir: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus scraping `target` (`host:port`, path `/metrics`) every second and
    /// waits, up to 30 s, until it reports ready. Panics with the log if it does not.
    pub fn start(target: SocketAddr) -> Prometheus {
        Prometheus::start_jobs(&[("obs", target)])
    }

    /// [`start`](Self::start) with one scrape job per `(job_name, target)`.
    pub fn start_jobs(jobs: &[(&str, SocketAddr)]) -> Prometheus {
        let mut config =
            String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n");
        for (job, target) in jobs {
            config.push_str(&format!(
                "  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']\n"
            ));
        }
        Prometheus::start_with_config(&config)
    }

    /// Starts Prometheus with the configuration file `config` (YAML) on a free port and
    /// waits, up to 30 s, until it listens there itself (on another port if it exits first:
    /// the port was taken since it was chosen) and reports ready. Panics with the log if it
    /// does not.
    pub fn start_with_config(config: &str) -> Prometheus {
        for attempt in 1..=START_ATTEMPTS {
            let port = free_port();
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let dir = std::env::temp_dir().join(format!("obs-prometheus-{port}"));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("prometheus temp dir");
            let config_path = dir.join("prometheus.yml");
            std::fs::write(&config_path, config).expect("prometheus config");
            let log = std::fs::File::create(dir.join("prometheus.log")).expect("prometheus log");
            let child = Command::new("prometheus")
                .arg(format!("--config.file={}", config_path.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("data").display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .arg("--enable-feature=exemplar-storage")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log handle"))
                .stderr(log)
                .spawn()
                .expect("`prometheus` not found on PATH: run scripts/install-test-deps.sh");
            let mut prometheus = Prometheus { child, addr, dir };
            match wait_child_listening(&mut prometheus.child, &[port], Duration::from_secs(30)) {
                Listening::Ready => {}
                // Its port was taken before it could bind it: again, on another port.
                Listening::Exited(status) if attempt < START_ATTEMPTS => {
                    eprintln!(
                        "prometheus exited ({status}) before listening on {addr}; trying \
                         another port. Its log:\n{}",
                        prometheus.log()
                    );
                    continue;
                }
                outcome => panic!(
                    "prometheus did not listen on {addr} ({outcome:?}):\n{}",
                    prometheus.log()
                ),
            }
            let ready = prometheus
                .wait_for(Duration::from_secs(30), |p| {
                    p.get("/-/ready")
                        .filter(|(status, _)| *status == 200)
                        .map(drop)
                })
                .is_some();
            assert!(
                ready,
                "prometheus did not become ready:\n{}",
                prometheus.log()
            );
            return prometheus;
        }
        unreachable!("the last attempt returns or panics")
    }

    /// Prometheus's own log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// Calls `check` every 200 ms until it returns `Some`, for at most `timeout`.
    pub fn wait_for<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&Self) -> Option<T>,
    ) -> Option<T> {
        poll_blocking(timeout, Duration::from_millis(200), || check(self))
    }

    /// `GET /api/v1/query?query=<promql>`: the `data.result` array, if the call succeeded.
    pub fn query(&self, promql: &str) -> Option<Vec<serde_json::Value>> {
        let body = self.api(&format!("/api/v1/query?query={}", url_encode(promql)))?;
        body["data"]["result"].as_array().cloned()
    }

    /// The first sample value of an instant query, as a number.
    pub fn query_value(&self, promql: &str) -> Option<f64> {
        self.query(promql)?
            .first()?
            .get("value")?
            .get(1)?
            .as_str()?
            .parse()
            .ok()
    }

    /// `GET /api/v1/query_exemplars` over the last hour: the `data` array (one entry per
    /// series, each with its `exemplars`).
    pub fn query_exemplars(&self, promql: &str) -> Option<Vec<serde_json::Value>> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs();
        let body = self.api(&format!(
            "/api/v1/query_exemplars?query={}&start={}&end={}",
            url_encode(promql),
            now - 3600,
            now + 60
        ))?;
        body["data"].as_array().cloned()
    }

    /// Asserts that every scrape so far went through: each active target is up with no
    /// scrape error, and Prometheus logged no error.
    pub fn assert_scraped_cleanly(&self) {
        let targets = self.targets().expect("the targets API answers");
        assert!(!targets.is_empty(), "no target:\n{}", self.log());
        for target in &targets {
            assert_eq!(target["health"], "up", "{target}");
            assert_eq!(target["lastError"], "", "{target}");
        }
        let log = self.log();
        assert!(!log.contains("level=error"), "{log}");
    }

    /// `GET /api/v1/targets`: the active targets.
    pub fn targets(&self) -> Option<Vec<serde_json::Value>> {
        let body = self.api("/api/v1/targets")?;
        body["data"]["activeTargets"].as_array().cloned()
    }

    fn api(&self, path_and_query: &str) -> Option<serde_json::Value> {
        let (status, body) = self.get(path_and_query)?;
        let json: serde_json::Value = serde_json::from_str(&body).ok()?;
        (status == 200 && json["status"] == "success").then_some(json)
    }

    /// A plain HTTP/1.0 GET (so the answer is never chunked), with 5 s timeouts.
    fn get(&self, path_and_query: &str) -> Option<(u16, String)> {
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            stream,
            "GET {path_and_query} HTTP/1.0\r\nHost: {}\r\n\r\n",
            self.addr
        )
        .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let status = response.split(' ').nth(1)?.parse().ok()?;
        let body = response.split_once("\r\n\r\n")?.1.to_owned();
        Some((status, body))
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Serves `registry` at `/metrics` on a free loopback port in the Prometheus 0.0.4 text
/// format whatever the request's `Accept` (Prometheus 2.x has no setting to ask for it),
/// until the returned task is aborted.
pub async fn serve_text_format(
    registry: obs_core::metrics::Registry,
) -> (SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>) {
    use obs_core::metrics::text::{Format, PROMETHEUS_CONTENT_TYPE};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let registry = registry.clone();
            async move {
                (
                    [(http::header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)],
                    registry.encode(Format::Prometheus),
                )
            }
        }),
    );
    (
        addr,
        tokio::spawn(async move { axum::serve(listener, app).await }),
    )
}
