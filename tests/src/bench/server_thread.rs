//! A minimal hyper HTTP/1.1 server on its own thread and single-threaded runtime, optionally
//! pinned to given CPUs: what the benchmark's subscriber and the relay baseline are built on.
//! Dropping it stops accepting, and joins the thread.

use super::error::BenchError;
use super::placement::{self, Cpus};
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// A running server thread.
pub struct ServerThread {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ServerThread {
    /// Listens on 127.0.0.1 (a port the system picks) and answers every request of every
    /// connection with `handle`, on a thread named `name` that runs on `cpus` when given.
    pub fn start<H, F>(
        name: &str,
        cpus: Option<&Cpus>,
        handle: H,
    ) -> Result<ServerThread, BenchError>
    where
        H: Fn(Request<Incoming>) -> F + Clone + Send + 'static,
        F: Future<Output = Result<Response<Empty<Bytes>>, Infallible>> + Send + 'static,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .map_err(|e| BenchError::io(format!("binding the {name}"), e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| BenchError::io(format!("configuring the {name} socket"), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| BenchError::io(format!("reading the {name} address"), e))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| BenchError::io(format!("building the {name} runtime"), e))?;
        let (stop, stopped) = oneshot::channel();
        let cpus = cpus.cloned();
        let label = name.to_string();
        let thread = std::thread::Builder::new()
            .name(format!("bench-{name}"))
            .spawn(move || {
                if let Some(cpus) = cpus
                    && let Err(err) = placement::pin_this_thread(&cpus)
                {
                    eprintln!("herald-bench: the {label} runs unpinned: {err}");
                }
                runtime.block_on(serve(&label, listener, handle, stopped))
            })
            .map_err(|e| BenchError::io(format!("starting the {name} thread"), e))?;
        Ok(ServerThread {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve<H, F>(
    name: &str,
    listener: std::net::TcpListener,
    handle: H,
    mut stopped: oneshot::Receiver<()>,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + 'static,
    F: Future<Output = Result<Response<Empty<Bytes>>, Infallible>> + Send + 'static,
{
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("herald-bench: the {name} cannot listen: {err}");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let handle = handle.clone();
                tokio::spawn(async move {
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service_fn(handle))
                        .await;
                });
            }
        }
    }
}
