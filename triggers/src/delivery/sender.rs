//! One HTTP delivery attempt: encodes the event (binary or structured), POSTs it with
//! `Prefer: reply`, and classifies the response into an [`Attempt`].

use super::outcome::{Attempt, is_retryable_status, may_carry_reply, parse_retry_after};
use bytes::Bytes;
use herald_cloudevent::{Event, http as ce_http};
use herald_crds::delivery::DeliveryFormat;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_tls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// The most response body we read; replies larger than this are rejected.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Idle connections kept per subscriber host.
const IDLE_PER_HOST: usize = 256;

/// Sends events over HTTP/1.1 (plain or TLS) with a shared connection pool. It sits directly on
/// hyper: a delivery is one request built from the encoded event, with no redirect handling (a
/// 3xx is a failure) and no per-request URL normalisation.
#[derive(Clone, Debug)]
pub struct Sender {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Default for Sender {
    fn default() -> Self {
        Self::new()
    }
}

impl Sender {
    /// A sender with its own connection pool.
    pub fn new() -> Sender {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(IDLE_PER_HOST)
            .build(HttpsConnector::new_with_connector(http));
        Sender { client }
    }

    /// POSTs `event` to `url` once, bounded by `timeout` (until the whole response is read).
    pub async fn attempt(
        &self,
        url: &str,
        event: &Event,
        format: DeliveryFormat,
        timeout: Duration,
    ) -> Attempt {
        let (headers, body) = match format {
            DeliveryFormat::Binary => ce_http::encode_binary(event),
            DeliveryFormat::Json => ce_http::encode_structured(event),
        };
        let uri = match url.parse::<http::Uri>() {
            Ok(uri) => uri,
            Err(err) => return unanswered(format!("invalid destination URL {url:?}: {err}")),
        };
        let mut request = http::Request::new(Full::new(body));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        request
            .headers_mut()
            .insert("prefer", http::HeaderValue::from_static("reply"));
        match tokio::time::timeout(timeout, self.exchange(request)).await {
            Ok(attempt) => attempt,
            Err(_) => unanswered(format!("timed out after {timeout:?}")),
        }
    }

    /// Sends the request and reads the whole (bounded) response.
    async fn exchange(&self, request: http::Request<Full<Bytes>>) -> Attempt {
        let response = match self.client.request(request).await {
            Ok(response) => response,
            Err(err) => return unanswered(describe(&err)),
        };
        let (parts, body) = response.into_parts();
        let status = parts.status.as_u16();
        let retry_after = parts
            .headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = match Limited::new(body, MAX_RESPONSE_BYTES).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(err) => {
                let error = if err.is::<http_body_util::LengthLimitError>() {
                    format!("the response body exceeds {MAX_RESPONSE_BYTES} bytes")
                } else {
                    format!("reading the response body failed: {}", chain(err.as_ref()))
                };
                return Attempt::Retryable {
                    status: Some(status),
                    retry_after,
                    body: Bytes::new(),
                    error,
                };
            }
        };
        classify(status, &parts.headers, body, retry_after)
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

/// A one-line description of a client error, with its cause chain.
fn describe(err: &hyper_util::client::legacy::Error) -> String {
    let kind = if err.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    format!("{kind}: {}", chain(err))
}

/// An error and its causes, joined with `: `.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
