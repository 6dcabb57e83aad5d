//! `payments` (gRPC): `mesh.Payments/Charge` charges an order; the issuer declines one
//! charge in [`DECLINE_EVERY`] with `FAILED_PRECONDITION`, so the mesh has errors to show.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tonic::body::Body;
use tonic::{Request, Response, Status};

use crate::args::Args;
use crate::grpc::{GrpcMethods, ResponseFuture, unary};
use crate::proto::{ChargeReply, ChargeRequest, PAYMENTS_SERVICE};
use crate::service::{BoxError, serve_grpc, start_telemetry};

/// `0.0.0.0:50052`.
pub const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED), 50052);
/// One charge in this many is declined.
pub const DECLINE_EVERY: u64 = 20;
/// Simulated latency of the card issuer.
const ISSUER_LATENCY: Duration = Duration::from_millis(4);

/// The payments service's state.
#[derive(Debug, Clone, Default)]
pub struct Payments {
    charges: Arc<AtomicU64>,
}

/// Runs payments: flag `--addr` (env `ADDR`).
pub async fn run(args: Args) -> Result<(), BoxError> {
    args.reject_unknown(&[("addr", "ADDR")])?;
    let addr = super::listen_addr(&args, DEFAULT_ADDR)?;
    let telemetry = start_telemetry("payments")?;
    serve_grpc(addr, Payments::default(), telemetry).await
}

impl GrpcMethods for Payments {
    const NAME: &'static str = PAYMENTS_SERVICE;

    fn dispatch(&self, method: &str, request: http::Request<Body>) -> Option<ResponseFuture> {
        let payments = self.clone();
        (method == "Charge").then(|| unary(request, move |request| payments.charge(request)))
    }
}

impl Payments {
    async fn charge(
        self,
        request: Request<ChargeRequest>,
    ) -> Result<Response<ChargeReply>, Status> {
        let ChargeRequest {
            order_id,
            amount_cents,
        } = request.into_inner();
        tokio::time::sleep(ISSUER_LATENCY).await;
        let number = self.charges.fetch_add(1, Ordering::Relaxed) + 1;
        if number.is_multiple_of(DECLINE_EVERY) {
            tracing::warn!(%order_id, amount_cents, "card declined by the issuer");
            return Err(Status::failed_precondition("card declined"));
        }
        let payment_id = format!("pay-{number}");
        tracing::info!(%order_id, amount_cents, %payment_id, "charged");
        Ok(Response::new(ChargeReply { payment_id }))
    }
}
