//! `inventory` (gRPC): `mesh.Inventory/Reserve` takes units out of stock,
//! `mesh.Inventory/WatchStock` streams a SKU's level in each warehouse.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tonic::body::Body;
use tonic::{Request, Response, Status};

use crate::args::Args;
use crate::grpc::{GrpcMethods, ResponseFuture, ResponseStream, server_streaming, unary};
use crate::proto::{
    INVENTORY_SERVICE, ReserveReply, ReserveRequest, StockLevel, WatchStockRequest,
};
use crate::service::{BoxError, serve_grpc, start_telemetry};

/// `0.0.0.0:50051`.
pub const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED), 50051);
/// Units of a SKU when it is first seen and after each restock.
const FULL_STOCK: u32 = 10_000;
/// The warehouses `WatchStock` reports on, one message each.
const WAREHOUSES: [&str; 3] = ["north", "south", "east"];
/// Simulated storage latency per reservation and per streamed level.
const STORAGE_LATENCY: Duration = Duration::from_millis(2);

/// The inventory service's state.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    stock: Arc<Mutex<HashMap<String, u32>>>,
    reservations: Arc<AtomicU64>,
}

/// Runs inventory: flag `--addr` (env `ADDR`).
pub async fn run(args: Args) -> Result<(), BoxError> {
    args.reject_unknown(&[("addr", "ADDR")])?;
    let addr = super::listen_addr(&args, DEFAULT_ADDR)?;
    let telemetry = start_telemetry("inventory")?;
    serve_grpc(addr, Inventory::default(), telemetry).await
}

impl GrpcMethods for Inventory {
    const NAME: &'static str = INVENTORY_SERVICE;

    fn dispatch(&self, method: &str, request: http::Request<Body>) -> Option<ResponseFuture> {
        let inventory = self.clone();
        match method {
            "Reserve" => Some(unary(request, move |request| inventory.reserve(request))),
            "WatchStock" => Some(server_streaming(request, move |request| {
                inventory.watch_stock(request)
            })),
            _ => None,
        }
    }
}

impl Inventory {
    async fn reserve(
        self,
        request: Request<ReserveRequest>,
    ) -> Result<Response<ReserveReply>, Status> {
        let ReserveRequest { sku, qty } = request.into_inner();
        tokio::time::sleep(STORAGE_LATENCY).await;
        let remaining = {
            let mut stock = self.stock.lock().unwrap_or_else(|e| e.into_inner());
            let level = stock.entry(sku.clone()).or_insert(FULL_STOCK);
            if *level < qty {
                // The demo never runs dry: the warehouse restocks on demand.
                tracing::info!(%sku, restocked_to = FULL_STOCK, "restocking");
                *level = FULL_STOCK;
            }
            if qty > *level {
                return Err(Status::failed_precondition(format!(
                    "only {level} units of {sku} exist"
                )));
            }
            *level -= qty;
            *level
        };
        let reservation_id = format!("res-{}", self.reservations.fetch_add(1, Ordering::Relaxed));
        tracing::info!(%sku, qty, remaining, %reservation_id, "stock reserved");
        Ok(Response::new(ReserveReply {
            reservation_id,
            remaining,
        }))
    }

    async fn watch_stock(
        self,
        request: Request<WatchStockRequest>,
    ) -> Result<Response<ResponseStream<StockLevel>>, Status> {
        let sku = request.into_inner().sku;
        let total = self
            .stock
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&sku)
            .copied()
            .unwrap_or(FULL_STOCK);
        tracing::info!(%sku, warehouses = WAREHOUSES.len(), "streaming stock levels");
        let per_warehouse = total / WAREHOUSES.len() as u32;
        let levels = futures_util::stream::iter(WAREHOUSES).then(move |warehouse| {
            let sku = sku.clone();
            async move {
                tokio::time::sleep(STORAGE_LATENCY).await;
                Ok(StockLevel {
                    sku,
                    warehouse: warehouse.to_owned(),
                    available: per_warehouse,
                })
            }
        });
        Ok(Response::new(levels.boxed()))
    }
}
