//! `gateway`: the public HTTP API. `POST /orders` goes to orders, `GET /reports/{id}` to
//! reports.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::args::Args;
use crate::http_client::{JsonClient, JsonResponse};
use crate::service::{BoxError, serve_http, start_telemetry};

/// `0.0.0.0:8080`.
pub const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8080);

struct Peers {
    orders: JsonClient,
    reports: JsonClient,
}

/// Runs the gateway: flags `--addr`, `--orders-url`, `--reports-url` (env `ADDR`,
/// `ORDERS_URL`, `REPORTS_URL`).
pub async fn run(args: Args) -> Result<(), BoxError> {
    args.reject_unknown(&[
        ("addr", "ADDR"),
        ("orders-url", "ORDERS_URL"),
        ("reports-url", "REPORTS_URL"),
    ])?;
    let addr = super::listen_addr(&args, DEFAULT_ADDR)?;
    let peers = Peers {
        orders: JsonClient::new(&args.string("orders-url", "ORDERS_URL", "http://127.0.0.1:8081")),
        reports: JsonClient::new(&args.string(
            "reports-url",
            "REPORTS_URL",
            "http://127.0.0.1:8082",
        )),
    };
    let telemetry = start_telemetry("gateway")?;
    let routes = Router::new()
        .route("/orders", post(place_order))
        .route("/reports/{id}", get(get_report))
        .with_state(Arc::new(peers));
    serve_http(addr, routes, telemetry).await
}

async fn place_order(
    State(peers): State<Arc<Peers>>,
    Json(order): Json<Value>,
) -> (StatusCode, Json<Value>) {
    tracing::info!(
        sku = order["sku"].as_str().unwrap_or_default(),
        qty = order["qty"].as_u64().unwrap_or_default(),
        "placing order"
    );
    let answer = peers.orders.post("/orders", &order).await;
    match answer {
        Ok(JsonResponse { status, body }) if status.is_success() => {
            tracing::info!(
                order_id = body["order_id"].as_str().unwrap_or_default(),
                "order placed"
            );
            (status, Json(body))
        }
        Ok(JsonResponse { status, body }) if status == StatusCode::PAYMENT_REQUIRED => {
            tracing::warn!(
                reason = body["error"].as_str().unwrap_or_default(),
                "order declined by payments"
            );
            (status, Json(body))
        }
        Ok(JsonResponse { status, body }) if status.is_client_error() => {
            tracing::warn!(%status, reason = body["error"].as_str().unwrap_or_default(), "order rejected");
            (status, Json(body))
        }
        other => bad_gateway("orders", other),
    }
}

async fn get_report(
    State(peers): State<Arc<Peers>>,
    Path(id): Path<u64>,
) -> (StatusCode, Json<Value>) {
    tracing::info!(report_id = id, "fetching report");
    match peers.reports.get(&format!("/reports/{id}")).await {
        Ok(JsonResponse { status, body }) if !status.is_server_error() => {
            tracing::info!(report_id = id, %status, "report delivered");
            (status, Json(body))
        }
        other => bad_gateway("reports", other),
    }
}

fn bad_gateway(peer: &str, answer: Result<JsonResponse, String>) -> (StatusCode, Json<Value>) {
    let reason = match answer {
        Ok(response) => format!("{peer} answered {}", response.status),
        Err(e) => format!("{peer} unreachable: {e}"),
    };
    tracing::error!(%reason, "upstream failed");
    (StatusCode::BAD_GATEWAY, Json(json!({ "error": reason })))
}
