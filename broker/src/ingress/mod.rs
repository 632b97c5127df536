//! The HTTP ingress: `POST /{namespace}/{broker}` takes CloudEvents (binary, structured or batch,
//! 1.0 and 0.3) and answers 202 only once they are durable on the broker's log.
//!
//! Answers: 202 accepted; 400 invalid event (JSON body naming the attribute); 404 unknown broker;
//! 405 other methods; `OPTIONS` answers the CloudEvents webhook handshake; 413 too large;
//! 415 unsupported structured format; 503 with `Retry-After` when the log cannot take more now,
//! or when the ingress [`budget`] of request bytes in memory stayed full for too long.

pub mod budget;

use crate::error::ApiError;
use crate::runtime::append::AppendError;
use crate::runtime::{BrokerRuntime, Runtime};
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use budget::{Budget, Reservation};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use herald_cloudevent::http as ce_http;
use herald_log::LogError;
use herald_triggers::dispatch::settle::TTL;
use hyper::body::Incoming;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;
use tower::Service;

/// The ingress as a service: one handler, no router. Its one path shape, `/{namespace}/{name}`,
/// is split by hand: Kubernetes names never need percent-decoding, and every event would pay
/// for a router's match and its path parameters otherwise.
pub fn service(
    runtime: Arc<Runtime>,
) -> impl Service<Request<Incoming>, Response = Response, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    handle.with_state(runtime)
}

/// `(namespace, name)` of an ingress path `/{namespace}/{name}`.
fn broker_path(path: &str) -> Option<(&str, &str)> {
    let (namespace, name) = path.strip_prefix('/')?.split_once('/')?;
    (!namespace.is_empty() && !name.is_empty() && !name.contains('/')).then_some((namespace, name))
}

async fn handle(State(runtime): State<Arc<Runtime>>, request: Request) -> Response {
    let arrived = Instant::now();
    let Some((namespace, name)) = broker_path(request.uri().path()) else {
        return ApiError::not_found("no broker at this path; POST to /{namespace}/{broker}")
            .into_response();
    };
    let Some(broker) = runtime.broker(namespace, name) else {
        return ApiError::not_found(format!("broker {namespace}/{name} not found")).into_response();
    };
    // The request is taken whole (not as a `HeaderMap` extractor, which would clone the headers).
    let (parts, body) = request.into_parts();
    match parts.method {
        Method::POST => match accept(&runtime, &broker, &parts.headers, body).await {
            Ok(()) => {
                broker
                    .accept_latency
                    .observe(arrived.elapsed().as_secs_f64());
                StatusCode::ACCEPTED.into_response()
            }
            Err(err) => err.into_response(),
        },
        Method::OPTIONS => webhook_handshake(&parts.headers),
        _ => {
            let mut response = ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "use POST to send CloudEvents",
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST, OPTIONS"));
            response
        }
    }
}

/// The CloudEvents webhook abuse-protection handshake: any origin may send, at any rate.
fn webhook_handshake(headers: &HeaderMap) -> Response {
    let origin = headers
        .get("webhook-request-origin")
        .cloned()
        .unwrap_or(HeaderValue::from_static("*"));
    let mut response = StatusCode::OK.into_response();
    let h = response.headers_mut();
    h.insert(header::ALLOW, HeaderValue::from_static("POST, OPTIONS"));
    h.insert("webhook-allowed-origin", origin);
    h.insert("webhook-allowed-rate", HeaderValue::from_static("*"));
    response
}

async fn accept(
    runtime: &Runtime,
    broker: &BrokerRuntime,
    headers: &HeaderMap,
    body: Body,
) -> Result<(), ApiError> {
    let config = &runtime.config;
    let limit = config.max_event_bytes.max(config.max_batch_bytes);
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    // Room for the body is held until its events are durable (or refused).
    let (body, _room) = read_body(&runtime.ingress_budget, body, declared, limit).await?;
    let body_len = body.len();
    // The events share the body; both are gone once encoded into records, before the append
    // waits for its fsync.
    let (mode, events) = ce_http::decode_request(headers, body).map_err(decode_error)?;
    if !matches!(mode, ce_http::Mode::Batch) && body_len > config.max_event_bytes {
        return Err(too_large(config.max_event_bytes));
    }
    broker
        .append(events, config.max_event_bytes)
        .await
        .map_err(append_error)
}

/// Reads the body while holding room for it in the ingress budget: its declared length before
/// reading, or, for a chunked body with no length, each chunk's size as it arrives (so a chunked
/// request holds no more than it has sent).
async fn read_body(
    budget: &Budget,
    body: Body,
    declared: Option<usize>,
    limit: usize,
) -> Result<(Bytes, Reservation<'_>), ApiError> {
    let full = |err: budget::Exhausted| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, err.to_string()).with_retry_after(1)
    };
    let mut room = budget
        .reserve(declared.unwrap_or(0), budget::MAX_WAIT)
        .await
        .map_err(full)?;
    if declared.is_some() {
        let body = to_bytes(body, limit).await.map_err(|_| too_large(limit))?;
        return Ok((body, room));
    }
    let mut chunks = body.into_data_stream();
    let mut read = BytesMut::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|err| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("reading the request body failed: {err}"),
            )
        })?;
        if read.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        room.grow(chunk.len(), budget::MAX_WAIT)
            .await
            .map_err(full)?;
        read.extend_from_slice(&chunk);
    }
    Ok((read.freeze(), room))
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the event exceeds the maximum size of {limit} bytes"),
    )
}

fn decode_error(err: ce_http::DecodeError) -> ApiError {
    let status = if err.is_unsupported_media_type() {
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut api = ApiError::new(status, err.to_string());
    if let Some(attribute) = err.attribute() {
        api = api.with_detail("attribute", attribute);
    }
    api
}

fn append_error(err: AppendError) -> ApiError {
    match err {
        AppendError::TtlExhausted => {
            ApiError::bad_request(err.to_string()).with_detail("attribute", TTL)
        }
        AppendError::TooLarge { .. } => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, err.to_string())
        }
        AppendError::Log(LogError::Overloaded) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the broker's log cannot take more events right now; retry shortly",
        )
        .with_retry_after(1),
        AppendError::Log(LogError::Closed) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the broker is shutting down",
        )
        .with_retry_after(1),
        AppendError::Log(other) => {
            tracing::error!(error = %other, "appending to the log failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("storing the event failed: {other}"),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::broker_path;

    #[test]
    fn only_two_non_empty_segments_name_a_broker() {
        assert_eq!(broker_path("/default/orders"), Some(("default", "orders")));
        for path in [
            "/",
            "/default",
            "/default/",
            "//orders",
            "/a/b/c",
            "/a/b/",
            "a/b",
        ] {
            assert_eq!(broker_path(path), None, "{path}");
        }
    }
}
