//! One HTTP delivery attempt: encodes the event (binary or structured) into a `POST` with
//! `Prefer: reply`, exchanges it on a pooled connection, and classifies the response into an
//! [`Attempt`].

use super::destination::{Destination, Destinations};
use super::http1::{Response, ResponseError};
use super::outcome::{Attempt, is_retryable_status, may_carry_reply, parse_retry_after};
use super::pool::Pool;
use bytes::Bytes;
use herald_cloudevent::{Event, http as ce_http};
use herald_crds::delivery::DeliveryFormat;
use std::sync::Arc;
use std::time::Duration;

/// The most response body we read; replies larger than this are rejected.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Sends events over HTTP/1.1 (plain or TLS) with a shared pool of keep-alive connections. A
/// delivery is one request built from the encoded event, with no redirect handling (a 3xx is a
/// failure) and no per-request URL normalisation.
#[derive(Clone, Debug, Default)]
pub struct Sender {
    pool: Pool,
    destinations: Arc<Destinations>,
}

/// Why an exchange got no response.
#[derive(Debug, thiserror::Error)]
enum ExchangeError {
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("request failed: {0}")]
    Request(ResponseError),
}

impl Sender {
    /// A sender with its own connection pool.
    pub fn new() -> Sender {
        Sender {
            pool: Pool::new(),
            destinations: Arc::default(),
        }
    }

    /// POSTs `event` to `url` once, bounded by `timeout` (until the whole response is read).
    pub async fn attempt(
        &self,
        url: &str,
        event: &Event,
        format: DeliveryFormat,
        timeout: Duration,
    ) -> Attempt {
        let destination = match self.destinations.get(url) {
            Ok(destination) => destination,
            Err(reason) => return unanswered(reason),
        };
        let request = encode_request(&destination, event, format);
        match tokio::time::timeout(timeout, self.exchange(&destination, &request)).await {
            Ok(Ok(response)) => classify_response(response),
            Ok(Err(err)) => unanswered(err.to_string()),
            Err(_) => unanswered(format!("timed out after {timeout:?}")),
        }
    }

    /// Makes the exchange on a pooled connection, which goes back to the pool when the exchange
    /// left it fit for another.
    async fn exchange(
        &self,
        destination: &Destination,
        request: &[u8],
    ) -> Result<Response, ExchangeError> {
        let mut live = self
            .pool
            .checkout(destination)
            .await
            .map_err(ExchangeError::Connect)?;
        let response = live
            .connection
            .exchange(request, MAX_RESPONSE_BYTES)
            .await
            .map_err(ExchangeError::Request)?;
        self.pool.checkin(live);
        Ok(response)
    }
}

/// The request as it goes on the wire: a `POST` of the event to the destination, asking for a
/// reply.
fn encode_request(destination: &Destination, event: &Event, format: DeliveryFormat) -> Vec<u8> {
    let data_len = event.data().map_or(0, |data| data.bytes().len());
    let start = &destination.request_start;
    let mut request = Vec::with_capacity(start.len() + 384 + data_len);
    request.extend_from_slice(start);
    let body = match format {
        DeliveryFormat::Binary => ce_http::write_binary(event, &mut request),
        DeliveryFormat::Json => ce_http::write_structured(event, &mut request),
    };
    request.extend_from_slice(b"content-length: ");
    put_decimal(&mut request, body.len());
    request.extend_from_slice(b"\r\n\r\n");
    request.extend_from_slice(&body);
    request
}

/// Appends `n` in decimal.
fn put_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// Classifies a read response: its status, or a failed body read as a retryable failure.
fn classify_response(response: Response) -> Attempt {
    let Response {
        status,
        headers,
        body,
    } = response;
    let retry_after = headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    match body {
        Ok(body) => classify(status, &headers, body, retry_after),
        Err(err) => Attempt::Retryable {
            status: Some(status),
            retry_after,
            body: Bytes::new(),
            error: match err {
                ResponseError::TooLarge(_) => err.to_string(),
                other => format!("reading the response body failed: {other}"),
            },
        },
    }
}

/// An attempt that got no HTTP answer.
fn unanswered(error: String) -> Attempt {
    Attempt::Retryable {
        status: None,
        retry_after: None,
        body: Bytes::new(),
        error,
    }
}

fn classify(
    status: u16,
    headers: &http::HeaderMap,
    body: Bytes,
    retry_after: Option<Duration>,
) -> Attempt {
    if (200..300).contains(&status) {
        if !may_carry_reply(status) {
            return Attempt::Delivered {
                status,
                reply: None,
            };
        }
        return match ce_http::decode_response(headers, body.clone()) {
            Ok(reply) => Attempt::Delivered { status, reply },
            Err(err) => Attempt::Rejected {
                status: Some(status),
                body,
                error: format!("the subscriber replied with an invalid CloudEvent: {err}"),
            },
        };
    }
    let error = format!("the subscriber answered HTTP {status}");
    if is_retryable_status(status) {
        let retry_after = retry_after.filter(|_| matches!(status, 429 | 503));
        Attempt::Retryable {
            status: Some(status),
            retry_after,
            body,
            error,
        }
    } else {
        Attempt::Rejected {
            status: Some(status),
            body,
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::pool::{IDLE_TIMEOUT, REAP_EVERY};
    use super::*;
    use herald_cloudevent::SpecVersion;
    use http_body_util::Full;
    use hyper::server::conn::http1 as server;
    use hyper_util::rt::TokioIo;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::net::TcpListener;

    /// Connections a test subscriber accepted, and how many of them the client closed.
    #[derive(Default)]
    struct Connections {
        accepted: AtomicUsize,
        closed_by_client: AtomicUsize,
    }

    /// A subscriber answering 200 to everything; counts the connections it accepted. With
    /// `close_after`, it drops each connection that long after accepting it, without warning.
    async fn subscriber(close_after: Option<Duration>) -> (String, Arc<Connections>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/sink", listener.local_addr().unwrap());
        let connections = Arc::new(Connections::default());
        let counted = connections.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                counted.accepted.fetch_add(1, Ordering::SeqCst);
                let service = hyper::service::service_fn(|request: http::Request<_>| async move {
                    assert_eq!(request.uri(), "/sink");
                    assert!(request.headers().contains_key(http::header::HOST));
                    Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::new())))
                });
                let connection =
                    server::Builder::new().serve_connection(TokioIo::new(stream), service);
                let counted = counted.clone();
                tokio::spawn(async move {
                    match close_after {
                        Some(after) => drop(tokio::time::timeout(after, connection).await),
                        None => {
                            drop(connection.await);
                            counted.closed_by_client.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                });
            }
        });
        (url, connections)
    }

    fn event() -> Event {
        Event::new(SpecVersion::V10, "1", "/test", "test.event")
    }

    async fn deliver(sender: &Sender, url: &str) -> Attempt {
        sender
            .attempt(
                url,
                &event(),
                DeliveryFormat::Binary,
                Duration::from_secs(5),
            )
            .await
    }

    fn assert_delivered(attempt: Attempt) {
        assert!(
            matches!(attempt, Attempt::Delivered { status: 200, .. }),
            "{attempt:?}"
        );
    }

    #[tokio::test]
    async fn back_to_back_deliveries_reuse_one_connection() {
        let (url, connections) = subscriber(None).await;
        let sender = Sender::new();
        for _ in 0..5 {
            assert_delivered(deliver(&sender, &url).await);
        }
        assert_eq!(connections.accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_idle_connection_is_closed_once_it_expires_with_no_delivery_to_come_across_it() {
        let (url, connections) = subscriber(None).await;
        let sender = Sender::new();
        assert_delivered(deliver(&sender, &url).await);
        assert_eq!(connections.closed_by_client.load(Ordering::SeqCst), 0);

        // Past the idle timeout and one look-over later, with no delivery in between.
        tokio::time::pause();
        tokio::time::advance(IDLE_TIMEOUT).await;
        tokio::time::advance(REAP_EVERY).await;
        tokio::time::resume();
        for _ in 0..200 {
            if connections.closed_by_client.load(Ordering::SeqCst) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(connections.closed_by_client.load(Ordering::SeqCst), 1);
        // The next delivery opens a new connection.
        assert_delivered(deliver(&sender, &url).await);
        assert_eq!(connections.accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_connection_the_subscriber_closed_while_idle_is_replaced_without_a_failed_attempt() {
        let (url, connections) = subscriber(Some(Duration::from_millis(50))).await;
        let sender = Sender::new();
        for _ in 0..3 {
            assert_delivered(deliver(&sender, &url).await);
            // The subscriber drops the idle connection meanwhile.
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        assert_eq!(connections.accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn an_unreachable_subscriber_is_a_retryable_connect_failure() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        drop(listener);
        match deliver(&Sender::new(), &url).await {
            Attempt::Retryable {
                status: None,
                error,
                ..
            } => assert!(error.starts_with("could not connect"), "{error}"),
            other => panic!("expected a connect failure, got {other:?}"),
        }
    }
}
