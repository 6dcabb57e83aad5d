//! OTLP/gRPC: the three collector services on one tonic server.

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::codec::CompressionEncoding;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use super::model::Transport;
use super::receiver::until_stopped;
use super::store::TelemetryStore;

#[derive(Debug, Clone)]
struct Collector {
    store: TelemetryStore,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.store
            .ingest_spans(request.into_inner(), Transport::Grpc);
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Collector {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        self.store
            .ingest_logs(request.into_inner(), Transport::Grpc);
        Ok(Response::new(ExportLogsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        self.store
            .ingest_metrics(request.into_inner(), Transport::Grpc);
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}

/// Serves until `stop` turns true (or its sender is dropped), then drains connections.
pub(crate) async fn serve(
    listener: TcpListener,
    store: TelemetryStore,
    max_message_bytes: usize,
    stop: watch::Receiver<bool>,
) {
    let collector = Collector { store };
    // Exporters (the OTel SDKs, collectors such as rotel) compress with gzip by default.
    let traces = TraceServiceServer::new(collector.clone())
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_message_bytes);
    let logs = LogsServiceServer::new(collector.clone())
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_message_bytes);
    let metrics = MetricsServiceServer::new(collector)
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_message_bytes);
    let served = Server::builder()
        .add_service(traces)
        .add_service(logs)
        .add_service(metrics)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), until_stopped(stop))
        .await;
    if let Err(error) = served {
        // The listener is already bound, so this is rare; a test helper has no better
        // place to report it than stderr.
        eprintln!("obs_core::testing: OTLP/gRPC receiver stopped: {error}");
    }
}
