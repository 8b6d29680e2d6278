//! go-plugin's side services: the controller (graceful shutdown), stdio and broker.
//!
//! We write logs to stderr, which go-plugin already captures, and start no sub-plugins, so
//! stdio and broker streams stay open and quiet until shutdown, then end.

use std::pin::Pin;

use futures_util::Stream;
use sparkoss_proto::plugin as pb;
use tokio::sync::watch;
use tonic::{Request, Response, Status};

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Ends the process's gRPC server when Terraform is done with it.
pub struct Controller {
    /// Set to true to shut down.
    pub shutdown: watch::Sender<bool>,
    /// In `--debug` mode Terraform's Shutdown is ignored: the developer's process outlives runs.
    pub ignore_shutdown: bool,
}

#[tonic::async_trait]
impl pb::grpc_controller_server::GrpcController for Controller {
    async fn shutdown(&self, _r: Request<pb::Empty>) -> Result<Response<pb::Empty>, Status> {
        if !self.ignore_shutdown {
            tracing::debug!("shutdown requested by Terraform");
            let _ = self.shutdown.send(true);
        }
        Ok(Response::new(pb::Empty {}))
    }
}

/// The stdio service.
pub struct Stdio {
    /// Ends the stream.
    pub shutdown: watch::Receiver<bool>,
}

#[tonic::async_trait]
impl pb::grpc_stdio_server::GrpcStdio for Stdio {
    async fn stream_stdio(&self, _r: Request<()>) -> Result<Response<BoxStream<pb::StdioData>>, Status> {
        Ok(Response::new(empty_until(self.shutdown.clone())))
    }
}

/// The broker service.
pub struct Broker {
    /// Ends the stream.
    pub shutdown: watch::Receiver<bool>,
}

#[tonic::async_trait]
impl pb::grpc_broker_server::GrpcBroker for Broker {
    async fn start_stream(&self, _r: Request<tonic::Streaming<pb::ConnInfo>>) -> Result<Response<BoxStream<pb::ConnInfo>>, Status> {
        Ok(Response::new(empty_until(self.shutdown.clone())))
    }
}

/// A typed stream that yields nothing and ends at shutdown.
fn empty_until<T: Send + 'static>(shutdown: watch::Receiver<bool>) -> BoxStream<T> {
    Box::pin(futures_util::stream::unfold(shutdown, |mut rx| async move {
        let _ = rx.wait_for(|down| *down).await;
        None::<(Result<T, Status>, watch::Receiver<bool>)>
    }))
}
