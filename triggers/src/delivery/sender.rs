//! One HTTP delivery attempt: encodes the event (binary or structured), POSTs it with
//! `Prefer: reply`, and classifies the response into an [`Attempt`].

use super::outcome::{Attempt, is_retryable_status, may_carry_reply, parse_retry_after};
use bytes::Bytes;
use herald_cloudevent::{Event, http as ce_http};
use herald_crds::delivery::DeliveryFormat;
use std::time::Duration;

/// The most response body we read; replies larger than this are rejected.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Sends events over HTTP with a shared connection pool.
#[derive(Clone, Debug)]
pub struct Sender {
    client: reqwest::Client,
}

impl Default for Sender {
    fn default() -> Self {
        Self::new()
    }
}

impl Sender {
    /// A sender with its own pooled client. Redirects are not followed: a 3xx is a failure.
    pub fn new() -> Sender {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .build()
            .expect("a plain HTTP client always builds");
        Sender { client }
    }

    /// POSTs `event` to `url` once, bounded by `timeout`.
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
        let request = self
            .client
            .post(url)
            .headers(headers)
            .header("prefer", "reply")
            .timeout(timeout)
            .body(body);
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => {
                return Attempt::Retryable {
                    status: None,
                    retry_after: None,
                    body: Bytes::new(),
                    error: describe(&err),
                };
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let headers = response.headers().clone();
        let body = match read_limited(response).await {
            Ok(body) => body,
            Err(error) => {
                return Attempt::Retryable {
                    status: Some(status),
                    retry_after,
                    body: Bytes::new(),
                    error,
                };
            }
        };
        classify(status, &headers, body, retry_after)
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

async fn read_limited(mut response: reqwest::Response) -> Result<Bytes, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| format!("reading the response body failed: {}", describe(&err)))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(format!(
                "the response body exceeds {MAX_RESPONSE_BYTES} bytes"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

/// A one-line description of a client error, with its cause chain.
fn describe(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut text = kind.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
