//! The `mesh` runner: starts every service as its own process on free loopback ports,
//! with an OTLP receiver of its own to export to, sends a bounded burst of traffic,
//! stops the services (`SIGTERM`, so they flush), and reports what metrics, traces and
//! logs say about it.

pub mod html;
pub mod prom;
pub mod summary;
pub mod text;

mod process;
mod traffic;

use std::io::stderr;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use obs_core::testing::{OtlpReceiver, ReceiverConfig};
use obs_core::{ExporterKind, Signal};

use crate::args::{Args, say};
use crate::service::BoxError;
use process::{Launcher, ServiceProcess, ServiceSpec};
use summary::Summary;

/// How long the services get to start listening.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the services get to flush and exit after `SIGTERM`.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the runner waits for the slow trace's spans after the services exited.
const TELEMETRY_TIMEOUT: Duration = Duration::from_secs(10);

/// `--concurrency` when not given.
const DEFAULT_CONCURRENCY: NonZeroUsize = NonZeroUsize::new(8).unwrap();

/// What `mesh` was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub struct MeshOptions {
    /// `--requests`: how many requests to send (default 300).
    pub requests: usize,
    /// `--concurrency`: requests in flight at once (default 8).
    pub concurrency: usize,
    /// `--slow-ms`: the delay of reports' `report.render` (default 300).
    pub slow_ms: u64,
    /// `--max-seconds`: stop sending after this long, whatever `--requests` says (default 60).
    pub max_traffic: Duration,
    /// `--html`: also write the summary as a self-contained HTML page here.
    pub html: Option<PathBuf>,
    /// `--bin-dir`: run the service binaries in this directory (`gateway`, `orders`, ...).
    /// By default the runner starts copies of itself in `mesh serve <name>` mode, so a
    /// `cargo run --bin mesh`, which builds only `mesh`, never runs stale services.
    pub bin_dir: Option<PathBuf>,
}

impl MeshOptions {
    /// Reads the flags (and `MESH_*` environment variables).
    pub fn from_args(args: &Args) -> Result<MeshOptions, BoxError> {
        args.reject_unknown(&[
            ("requests", "MESH_REQUESTS"),
            ("concurrency", "MESH_CONCURRENCY"),
            ("slow-ms", "SLOW_MS"),
            ("max-seconds", "MESH_MAX_SECONDS"),
            ("html", "MESH_HTML"),
            ("bin-dir", "MESH_BIN_DIR"),
        ])?;
        let requests = args.value("requests", "MESH_REQUESTS", 300)?;
        // Zero requests in flight would send nothing: an error, not a silent 1. More workers
        // than requests would idle, and the headline would claim them.
        let concurrency: NonZeroUsize =
            args.value("concurrency", "MESH_CONCURRENCY", DEFAULT_CONCURRENCY)?;
        Ok(MeshOptions {
            requests,
            concurrency: concurrency.get().min(requests.max(1)),
            slow_ms: args.value(
                "slow-ms",
                "SLOW_MS",
                crate::services::reports::DEFAULT_SLOW_MS,
            )?,
            max_traffic: Duration::from_secs(args.value("max-seconds", "MESH_MAX_SECONDS", 60)?),
            html: args.optional("html", "MESH_HTML").map(PathBuf::from),
            bin_dir: args.optional("bin-dir", "MESH_BIN_DIR").map(PathBuf::from),
        })
    }
}

/// Runs the whole demo and returns its summary (also printed as it goes to stderr).
pub async fn run(options: &MeshOptions) -> Result<Summary, BoxError> {
    let launcher = match &options.bin_dir {
        Some(dir) => Launcher::Binaries(dir.clone()),
        None => Launcher::Serve(std::env::current_exe()?),
    };
    // With an endpoint of their own the services export there, and the runner sees no
    // spans: the summary then has metrics and logs only.
    let external = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|endpoint| !endpoint.is_empty());
    let receiver = match &external {
        Some(_) => None,
        None => Some(OtlpReceiver::start(ReceiverConfig::default()).await?),
    };
    let telemetry = match &receiver {
        Some(receiver) => format!(
            "OTLP/HTTP to the runner's embedded receiver at {}",
            receiver.http_endpoint()
        ),
        None => external_traces(external.as_deref().unwrap_or_default()),
    };

    let ports = free_ports(10)?;
    let addr = |index: usize| SocketAddr::from((Ipv4Addr::LOCALHOST, ports[index]));
    let url = |index: usize| format!("http://{}", addr(index));
    let (inventory, payments, orders, reports, gateway) = (0, 1, 2, 3, 4);
    let specs = [
        ServiceSpec::grpc("inventory", addr(inventory), addr(5), vec![]),
        ServiceSpec::grpc("payments", addr(payments), addr(6), vec![]),
        ServiceSpec::http(
            "orders",
            addr(orders),
            addr(7),
            vec![
                ("INVENTORY_URL", url(inventory)),
                ("PAYMENTS_URL", url(payments)),
            ],
        ),
        ServiceSpec::http(
            "reports",
            addr(reports),
            addr(8),
            vec![
                ("SLOW_MS", options.slow_ms.to_string()),
                ("ORDERS_URL", url(orders)),
                ("INVENTORY_URL", url(inventory)),
            ],
        ),
        ServiceSpec::http(
            "gateway",
            addr(gateway),
            addr(9),
            vec![("ORDERS_URL", url(orders)), ("REPORTS_URL", url(reports))],
        ),
    ];
    let endpoint = receiver.as_ref().map(OtlpReceiver::http_endpoint);
    let mut services = Vec::with_capacity(specs.len());
    for spec in specs {
        services.push(ServiceProcess::spawn(&launcher, spec, endpoint.as_deref())?);
    }
    say(
        stderr(),
        format_args!(
            "mesh: started {} services; waiting until they listen",
            services.len()
        ),
    );
    let outcome = drive(options, &mut services).await;
    say(
        stderr(),
        format_args!("mesh: stopping the services (SIGTERM, so they flush telemetry)"),
    );
    let mut logs = Vec::new();
    for service in &mut services {
        service.terminate();
    }
    for service in &mut services {
        service.wait(STOP_TIMEOUT).await;
        logs.extend(service.stdout_lines());
    }
    let (traffic, scrapes) = match outcome {
        Ok(done) => done,
        Err(e) => {
            for service in &services {
                say(
                    stderr(),
                    format_args!(
                        "--- {} stderr ---\n{}",
                        service.name(),
                        service.stderr_text()
                    ),
                );
            }
            return Err(e);
        }
    };
    // What the services said on stderr: obs's warnings, above all that their telemetry was
    // not delivered (an `OTEL_EXPORTER_OTLP_ENDPOINT` where nothing listens, which the
    // report, seeing no spans either way, cannot tell from one that took everything).
    for service in &services {
        for line in service.stderr_text().lines() {
            say(stderr(), format_args!("mesh: {}: {line}", service.name()));
        }
    }

    let spans = match receiver {
        Some(receiver) => {
            // Everything should be in after the services' shutdown flush; this only
            // covers an export still on the wire.
            let _ = receiver
                .wait_for_spans(
                    |spans| spans.iter().any(|span| span.name() == "report.render"),
                    TELEMETRY_TIMEOUT,
                )
                .await;
            receiver.shutdown().await.spans()
        }
        None => Vec::new(),
    };
    Ok(Summary {
        routes: summary::route_stats(&scrapes, traffic.seconds),
        edges: summary::service_map(&spans),
        slowest: summary::slowest_trace(&spans, &logs),
        traffic,
        telemetry,
    })
}

/// Where the services' traces go with the shell's `OTEL_EXPORTER_OTLP_ENDPOINT`, which they
/// inherit with the rest of that environment: read as obs reads it, since a shell that
/// also turns them off leaves nothing at `endpoint` to look up.
fn external_traces(endpoint: &str) -> String {
    const NO_RECEIVER: &str = "with OTEL_EXPORTER_OTLP_ENDPOINT set, the runner starts no \
        receiver of its own, so there is no service map or waterfall below";
    let config = obs_core::Config::from_env();
    if config.sdk_disabled {
        format!("nothing exported (OTEL_SDK_DISABLED); {NO_RECEIVER}")
    } else if config.exporter(Signal::Traces) != ExporterKind::Otlp {
        format!("traces not sent to {endpoint} (OTEL_TRACES_EXPORTER); {NO_RECEIVER}")
    } else {
        format!(
            "exported to {endpoint} (OTEL_EXPORTER_OTLP_ENDPOINT): the runner sees no spans, \
             so there is no service map or waterfall below"
        )
    }
}

/// Waits for readiness, sends the traffic, scrapes every `/metrics`.
async fn drive(
    options: &MeshOptions,
    services: &mut [ServiceProcess],
) -> Result<(summary::Traffic, Vec<(String, Vec<prom::Sample>)>), BoxError> {
    let client = traffic::plain_client();
    for service in services.iter_mut() {
        service.wait_ready(&client, READY_TIMEOUT).await?;
    }
    let gateway = services
        .iter()
        .find(|service| service.name() == "gateway")
        .ok_or("no gateway")?;
    say(
        stderr(),
        format_args!(
            "mesh: sending {} requests to the gateway at http://{} ({} at a time)",
            options.requests,
            gateway.addr(),
            options.concurrency
        ),
    );
    let traffic = traffic::send(&client, gateway.addr(), options).await;
    let mut scrapes = Vec::with_capacity(services.len());
    for service in services.iter() {
        let text = traffic::get_text(&client, &service.metrics_url()).await?;
        scrapes.push((service.name().to_owned(), prom::parse(&text)));
    }
    Ok((traffic, scrapes))
}

/// `count` distinct free loopback ports (bound together, then released for the services).
fn free_ports(count: usize) -> std::io::Result<Vec<u16>> {
    let listeners = (0..count)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<std::io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|listener| listener.local_addr().map(|addr| addr.port()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(argv: &[&str]) -> Result<MeshOptions, String> {
        let args = Args::parse_from(argv.iter().copied()).map_err(|e| e.to_string())?;
        MeshOptions::from_args(&args).map_err(|e| e.to_string())
    }

    #[test]
    fn zero_concurrency_is_an_error_naming_the_flag() {
        let error = options(&["--concurrency", "0"]).expect_err("0 requests in flight");
        assert!(error.contains("--concurrency \"0\""), "{error}");
    }

    #[test]
    fn concurrency_is_at_most_the_number_of_requests() {
        let few = options(&["--requests", "3", "--concurrency", "50"]).expect("valid");
        assert_eq!((few.requests, few.concurrency), (3, 3));
        let none = options(&["--requests", "0"]).expect("valid");
        assert_eq!(none.concurrency, 1);
        let default = options(&[]).expect("valid");
        assert_eq!((default.requests, default.concurrency), (300, 8));
    }
}
