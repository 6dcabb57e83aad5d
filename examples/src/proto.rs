//! The mesh's gRPC messages, written by hand with `prost` derives (no `protoc` needed).
//! The equivalent `.proto`:
//!
//! ```text
//! package mesh;
//! service Inventory {
//!   rpc Reserve(ReserveRequest) returns (ReserveReply);
//!   rpc WatchStock(WatchStockRequest) returns (stream StockLevel);
//! }
//! service Payments { rpc Charge(ChargeRequest) returns (ChargeReply); }
//! ```
//!
//! plus `grpc.health.v1.Health/Check` from the
//! [gRPC health checking protocol](https://github.com/grpc/grpc/blob/master/doc/health-checking.md).

/// `mesh.Inventory`.
pub const INVENTORY_SERVICE: &str = "mesh.Inventory";
/// `mesh.Inventory/Reserve`, unary.
pub const INVENTORY_RESERVE: &str = "/mesh.Inventory/Reserve";
/// `mesh.Inventory/WatchStock`, server-streaming.
pub const INVENTORY_WATCH_STOCK: &str = "/mesh.Inventory/WatchStock";
/// `mesh.Payments`.
pub const PAYMENTS_SERVICE: &str = "mesh.Payments";
/// `mesh.Payments/Charge`, unary.
pub const PAYMENTS_CHARGE: &str = "/mesh.Payments/Charge";
/// `grpc.health.v1.Health`.
pub const HEALTH_SERVICE: &str = "grpc.health.v1.Health";

/// Reserve `qty` units of `sku`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReserveRequest {
    /// The stock-keeping unit.
    #[prost(string, tag = "1")]
    pub sku: String,
    /// How many units.
    #[prost(uint32, tag = "2")]
    pub qty: u32,
}

/// A reservation that was made.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReserveReply {
    /// Identifies the reservation.
    #[prost(string, tag = "1")]
    pub reservation_id: String,
    /// Units of the SKU left after the reservation.
    #[prost(uint32, tag = "2")]
    pub remaining: u32,
}

/// Stream the stock level of `sku` in each warehouse.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WatchStockRequest {
    /// The stock-keeping unit.
    #[prost(string, tag = "1")]
    pub sku: String,
}

/// The stock of one SKU in one warehouse.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StockLevel {
    /// The stock-keeping unit.
    #[prost(string, tag = "1")]
    pub sku: String,
    /// The warehouse.
    #[prost(string, tag = "2")]
    pub warehouse: String,
    /// Units available there.
    #[prost(uint32, tag = "3")]
    pub available: u32,
}

/// Charge an order.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChargeRequest {
    /// The order being paid.
    #[prost(string, tag = "1")]
    pub order_id: String,
    /// The amount, in cents.
    #[prost(uint64, tag = "2")]
    pub amount_cents: u64,
}

/// A successful charge.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChargeReply {
    /// Identifies the payment.
    #[prost(string, tag = "1")]
    pub payment_id: String,
}

/// `grpc.health.v1.HealthCheckRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HealthCheckRequest {
    /// The service asked about; empty for the server as a whole.
    #[prost(string, tag = "1")]
    pub service: String,
}

/// `grpc.health.v1.HealthCheckResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HealthCheckResponse {
    /// A `ServingStatus`: 1 is `SERVING`.
    #[prost(int32, tag = "1")]
    pub status: i32,
}

/// `HealthCheckResponse.ServingStatus.SERVING`.
pub const SERVING: i32 = 1;
