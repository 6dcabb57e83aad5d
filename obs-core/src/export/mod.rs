//! The OTLP side of the pipeline: conversion to protobuf, transport, batching.

pub(crate) mod batch;
pub(crate) mod convert;
pub(crate) mod metrics;
pub(crate) mod transport;

pub use transport::ExportError;
