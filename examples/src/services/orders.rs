//! `orders`: `POST /orders` reserves stock (inventory `Reserve`), charges the customer
//! (payments `Charge`) and reads the SKU's stock levels (inventory `WatchStock`, a
//! server-streaming call); `GET /orders` lists recent orders for reports.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tonic::Code;
use tracing::Instrument;

use crate::args::Args;
use crate::grpc::GrpcClient;
use crate::proto::{
    ChargeReply, ChargeRequest, INVENTORY_RESERVE, INVENTORY_WATCH_STOCK, PAYMENTS_CHARGE,
    ReserveReply, ReserveRequest, StockLevel, WatchStockRequest,
};
use crate::service::{BoxError, serve_http, start_telemetry};

/// `0.0.0.0:8081`.
pub const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8081);
/// How many orders `GET /orders` remembers.
const RECENT_ORDERS: usize = 100;
/// The price of every unit, in cents.
const UNIT_PRICE_CENTS: u64 = 1_299;

/// What `POST /orders` takes.
#[derive(Debug, Deserialize)]
struct NewOrder {
    sku: String,
    qty: u32,
}

/// A placed order.
#[derive(Debug, Clone, Serialize)]
struct Order {
    order_id: String,
    sku: String,
    qty: u32,
    amount_cents: u64,
    payment_id: String,
}

struct Orders {
    inventory: GrpcClient,
    payments: GrpcClient,
    next_id: AtomicU64,
    recent: Mutex<VecDeque<Order>>,
}

/// Runs orders: flags `--addr`, `--inventory-url`, `--payments-url` (env `ADDR`,
/// `INVENTORY_URL`, `PAYMENTS_URL`).
pub async fn run(args: Args) -> Result<(), BoxError> {
    args.reject_unknown(&[
        ("addr", "ADDR"),
        ("inventory-url", "INVENTORY_URL"),
        ("payments-url", "PAYMENTS_URL"),
    ])?;
    let addr = super::listen_addr(&args, DEFAULT_ADDR)?;
    let orders = Orders {
        inventory: GrpcClient::new(&args.string(
            "inventory-url",
            "INVENTORY_URL",
            "http://127.0.0.1:50051",
        ))?,
        payments: GrpcClient::new(&args.string(
            "payments-url",
            "PAYMENTS_URL",
            "http://127.0.0.1:50052",
        ))?,
        next_id: AtomicU64::new(1),
        recent: Mutex::new(VecDeque::with_capacity(RECENT_ORDERS)),
    };
    let telemetry = start_telemetry("orders")?;
    let routes = Router::new()
        .route("/orders", post(place_order).get(recent_orders))
        .with_state(Arc::new(orders));
    serve_http(addr, routes, telemetry).await
}

fn error(status: StatusCode, message: impl Into<String>) -> (StatusCode, Json<Value>) {
    (status, Json(json!({ "error": message.into() })))
}

async fn place_order(
    State(orders): State<Arc<Orders>>,
    Json(new): Json<NewOrder>,
) -> (StatusCode, Json<Value>) {
    if new.qty == 0 {
        return error(StatusCode::BAD_REQUEST, "qty must be at least 1");
    }
    let order_id = format!("ord-{}", orders.next_id.fetch_add(1, Ordering::Relaxed));
    let span = tracing::info_span!("order.place", order_id = %order_id, sku = %new.sku);
    orders.place(order_id, new).instrument(span).await
}

impl Orders {
    async fn place(&self, order_id: String, new: NewOrder) -> (StatusCode, Json<Value>) {
        let reserved: ReserveReply = match self
            .inventory
            .unary(
                INVENTORY_RESERVE,
                ReserveRequest {
                    sku: new.sku.clone(),
                    qty: new.qty,
                },
            )
            .await
        {
            Ok(reply) => reply,
            Err(status) if status.code() == Code::FailedPrecondition => {
                tracing::warn!(reason = status.message(), "out of stock");
                return error(StatusCode::CONFLICT, status.message());
            }
            Err(status) => {
                tracing::error!(code = ?status.code(), reason = status.message(), "inventory failed");
                return error(StatusCode::BAD_GATEWAY, "inventory unavailable");
            }
        };
        let amount_cents = u64::from(new.qty) * UNIT_PRICE_CENTS;
        let charge = ChargeRequest {
            order_id: order_id.clone(),
            amount_cents,
        };
        let paid: ChargeReply = match self.payments.unary(PAYMENTS_CHARGE, charge).await {
            Ok(reply) => reply,
            Err(status) if status.code() == Code::FailedPrecondition => {
                tracing::warn!(reason = status.message(), amount_cents, "payment declined");
                return error(StatusCode::PAYMENT_REQUIRED, status.message());
            }
            Err(status) => {
                tracing::error!(code = ?status.code(), reason = status.message(), "payments failed");
                return error(StatusCode::BAD_GATEWAY, "payments unavailable");
            }
        };
        // Stock levels are informative: an order does not fail because they are unknown.
        let stock: Vec<StockLevel> = self
            .inventory
            .server_streaming(
                INVENTORY_WATCH_STOCK,
                WatchStockRequest {
                    sku: new.sku.clone(),
                },
            )
            .await
            .unwrap_or_else(|status| {
                tracing::warn!(reason = status.message(), "stock levels unavailable");
                Vec::new()
            });
        let available: u32 = stock.iter().map(|level| level.available).sum();
        let order = Order {
            order_id,
            sku: new.sku,
            qty: new.qty,
            amount_cents,
            payment_id: paid.payment_id,
        };
        tracing::info!(
            reservation_id = %reserved.reservation_id,
            payment_id = %order.payment_id,
            available,
            "order placed"
        );
        let body = json!({
            "order_id": order.order_id,
            "reservation_id": reserved.reservation_id,
            "payment_id": order.payment_id,
            "available": available,
        });
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == RECENT_ORDERS {
            recent.pop_front();
        }
        recent.push_back(order);
        (StatusCode::CREATED, Json(body))
    }
}

async fn recent_orders(State(orders): State<Arc<Orders>>) -> Json<Vec<Order>> {
    let recent: Vec<Order> = orders
        .recent
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .cloned()
        .collect();
    tracing::info!(count = recent.len(), "listing recent orders");
    Json(recent)
}
