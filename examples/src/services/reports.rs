//! `reports`: `GET /reports/{id}` queries recent orders (orders `GET /orders`) and stock
//! levels (inventory `WatchStock`) in `report.query`, then renders in `report.render`,
//! which takes `--slow-ms` because it renders every row without the summary cache, and
//! says so in a warning: the slow span the mesh demo finds.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tracing::Instrument;

use crate::args::Args;
use crate::grpc::GrpcClient;
use crate::http_client::JsonClient;
use crate::proto::{INVENTORY_WATCH_STOCK, StockLevel, WatchStockRequest};
use crate::service::{BoxError, serve_http, start_telemetry};

/// `0.0.0.0:8082`.
pub const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8082);
/// The default `--slow-ms`.
pub const DEFAULT_SLOW_MS: u64 = 300;
/// Rows a report has on top of one per order.
const BASE_ROWS: usize = 12_000;

struct Reports {
    slow: Duration,
    orders: Option<JsonClient>,
    inventory: Option<GrpcClient>,
}

/// Runs reports: flags `--addr`, `--slow-ms`, and the optional peers `--orders-url` and
/// `--inventory-url` (env `ADDR`, `SLOW_MS`, `ORDERS_URL`, `INVENTORY_URL`); a report
/// skips the data of a peer that is not configured.
pub async fn run(args: Args) -> Result<(), BoxError> {
    args.reject_unknown(&[
        ("addr", "ADDR"),
        ("slow-ms", "SLOW_MS"),
        ("orders-url", "ORDERS_URL"),
        ("inventory-url", "INVENTORY_URL"),
    ])?;
    let addr = super::listen_addr(&args, DEFAULT_ADDR)?;
    let reports = Reports {
        slow: Duration::from_millis(args.value("slow-ms", "SLOW_MS", DEFAULT_SLOW_MS)?),
        orders: args
            .optional("orders-url", "ORDERS_URL")
            .map(|url| JsonClient::new(&url)),
        inventory: args
            .optional("inventory-url", "INVENTORY_URL")
            .map(|url| GrpcClient::new(&url))
            .transpose()?,
    };
    let telemetry = start_telemetry("reports")?;
    let routes = Router::new()
        .route("/reports/{id}", get(report))
        .with_state(Arc::new(reports));
    serve_http(addr, routes, telemetry).await
}

async fn report(State(reports): State<Arc<Reports>>, Path(id): Path<u64>) -> Json<Value> {
    tracing::info!(report_id = id, "generating report");
    let (orders, stock) = reports
        .query(id)
        .instrument(tracing::info_span!("report.query", report_id = id))
        .await;
    let rows = BASE_ROWS + orders;
    reports
        .render(rows)
        .instrument(tracing::info_span!("report.render", report_id = id, rows))
        .await;
    Json(json!({ "report_id": id, "rows": rows, "orders": orders, "stock": stock }))
}

impl Reports {
    /// How many recent orders and units in stock there are; unknown parts count as 0.
    async fn query(&self, id: u64) -> (usize, u32) {
        let orders = match &self.orders {
            Some(client) => match client.get("/orders").await {
                Ok(response) => response.body.as_array().map_or(0, Vec::len),
                Err(e) => {
                    tracing::warn!(error = %e, "orders unavailable: report without orders");
                    0
                }
            },
            None => 0,
        };
        let stock = match &self.inventory {
            Some(client) => {
                let request = WatchStockRequest {
                    sku: format!("sku-{}", id % 5),
                };
                match client
                    .server_streaming::<_, StockLevel>(INVENTORY_WATCH_STOCK, request)
                    .await
                {
                    Ok(levels) => levels.iter().map(|level| level.available).sum(),
                    Err(status) => {
                        tracing::warn!(reason = status.message(), "stock unavailable");
                        0
                    }
                }
            }
            None => 0,
        };
        tracing::info!(orders, stock, "report data loaded");
        (orders, stock)
    }

    async fn render(&self, rows: usize) {
        tracing::warn!(
            rows,
            slow_ms = self.slow.as_millis() as u64,
            "rendering {rows} rows one by one: the summary cache is disabled, so every row is re-aggregated"
        );
        tokio::time::sleep(self.slow).await;
        tracing::info!(rows, "report rendered");
    }
}
