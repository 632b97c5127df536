//! Serving a service (an axum router or handler) over HTTP (HTTP/1.1, and HTTP/2 with prior
//! knowledge): one task per connection, each connection's read buffer bounded, and a graceful
//! stop that stops accepting and lets the requests in progress finish.
//!
//! hyper lets a connection's read buffer grow to about 400 KB by default; with hundreds of
//! clients posting 100 KB batches that alone was tens of megabytes. Here it is capped at
//! [`MAX_READ_BUFFER`], which bodies of any size stream through.

use axum::response::Response;
use hyper::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::Service;

/// Most bytes a connection reads ahead of what its request has consumed.
pub const MAX_READ_BUFFER: usize = 64 * 1024;
/// Pause after a failed accept (e.g. out of file descriptors) before trying again.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// Serves `service` on `listener` until `stop` fires, then waits for open connections to finish
/// their requests in progress (idle keep-alive connections are closed).
pub async fn serve<S>(listener: TcpListener, service: S, stop: CancellationToken)
where
    S: Service<Request<Incoming>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().max_buf_size(MAX_READ_BUFFER);
    let graceful = GracefulShutdown::new();
    loop {
        let stream = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            },
        };
        // Answers are small single writes; never hold one back waiting for an ACK (Nagle).
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "setting TCP_NODELAY failed");
        }
        let service = TowerToHyperService::new(service.clone());
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
