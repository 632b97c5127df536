//! A lean HTTP/1.1 sender: hyper client connections with keep-alive and TCP_NODELAY, kept in a
//! pool of idle connections, so each concurrent sender reuses one connection back to back. Each
//! request carries one event in binary mode, or a batch of them in batch mode.

use super::error::BenchError;
use super::event::EventTemplate;
use super::target::SendFailure;
use bytes::Bytes;
use http::header::HOST;
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Mutex;

type Connection = SendRequest<Full<Bytes>>;

/// POSTs benchmark events to one URL.
pub struct HttpTarget {
    addr: SocketAddr,
    authority: HeaderValue,
    path: String,
    template: EventTemplate,
    /// Events per request: 1 in binary mode, more in batch mode.
    batch: u64,
    idle: Mutex<Vec<Connection>>,
}

impl HttpTarget {
    /// A sender to `url` (`http://host:port/path`); resolves the host once.
    pub async fn new(url: &str, template: EventTemplate) -> Result<HttpTarget, BenchError> {
        let bad = || BenchError::BadUrl { url: url.into() };
        let uri: Uri = url.parse().map_err(|_| bad())?;
        if uri.scheme_str() != Some("http") {
            return Err(bad());
        }
        let authority = uri.authority().ok_or_else(bad)?.clone();
        let port = authority.port_u16().unwrap_or(80);
        let addr = tokio::net::lookup_host((authority.host(), port))
            .await
            .map_err(|e| BenchError::io(format!("resolving {url}"), e))?
            .next()
            .ok_or_else(bad)?;
        Ok(HttpTarget {
            addr,
            authority: HeaderValue::from_str(authority.as_str()).map_err(|_| bad())?,
            path: uri.path().to_string(),
            template,
            batch: 1,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Sends `events` events per request in batch mode (1: one binary-mode event per request).
    pub fn batching(mut self, events: u64) -> HttpTarget {
        self.batch = events.max(1);
        self
    }

    /// Events each [`HttpTarget::send`] carries.
    pub fn events_per_send(&self) -> u64 {
        self.batch
    }

    /// POSTs event `seq` (in batch mode, events `seq..seq + batch`); Ok on a 2xx answer.
    pub async fn send(&self, seq: u64, sent_ns: u64) -> Result<(), SendFailure> {
        let (template, path, authority) = (&self.template, &self.path, &self.authority);
        let request = if self.batch > 1 {
            template.batch_request(path, authority, seq, self.batch, sent_ns)
        } else {
            template.request(path, authority, seq, sent_ns)
        }
        .map_err(|e| SendFailure::Request(e.to_string()))?;
        self.exchange(request).await
    }

    /// POSTs an event received elsewhere as it came, `headers` and `body`, with this target's
    /// host; Ok on a 2xx answer.
    pub async fn forward(&self, mut headers: HeaderMap, body: Bytes) -> Result<(), SendFailure> {
        headers.insert(HOST, self.authority.clone());
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self
            .path
            .parse()
            .map_err(|e: http::uri::InvalidUri| SendFailure::Request(e.to_string()))?;
        *request.headers_mut() = headers;
        self.exchange(request).await
    }

    /// Sends `request` on an idle pooled connection (or a new one) and reads the whole answer;
    /// the connection goes back to the pool unless it broke.
    async fn exchange(&self, request: Request<Full<Bytes>>) -> Result<(), SendFailure> {
        let pooled = self.idle.lock().map(|mut idle| idle.pop()).unwrap_or(None);
        let usable = match pooled {
            Some(mut c) => c.ready().await.is_ok().then_some(c),
            None => None,
        };
        let mut connection = match usable {
            Some(c) => c,
            None => self.connect().await?,
        };
        let response = connection
            .send_request(request)
            .await
            .map_err(|e| SendFailure::Request(e.to_string()))?;
        let status = response.status();
        response
            .into_body()
            .collect()
            .await
            .map_err(|e| SendFailure::Request(e.to_string()))?;
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(connection);
        }
        if status.is_success() {
            Ok(())
        } else {
            Err(SendFailure::Status(status.as_u16()))
        }
    }

    async fn connect(&self) -> Result<Connection, SendFailure> {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| SendFailure::Connect(e.to_string()))?;
        stream
            .set_nodelay(true)
            .map_err(|e| SendFailure::Connect(e.to_string()))?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| SendFailure::Connect(e.to_string()))?;
        tokio::spawn(async move {
            // The connection ends when its sender is dropped or the peer closes it; either way
            // the next send notices and opens another.
            let _ = connection.await;
        });
        Ok(sender)
    }
}
