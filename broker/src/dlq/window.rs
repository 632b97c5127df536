//! `POST /api/v1/replay`: sends a time window of a broker's log, filtered, to one destination,
//! without moving any Trigger's position.
//!
//! The window is fixed in offsets by the first (usually dry-run) call — `[fromOffset, toOffset)`,
//! from the first event appended at or after `from` to the first appended at or after `to` — and
//! a client drives delivery a batch at a time, passing back `next` as `fromOffset`. A Trigger
//! destination's filter applies on top of the request's CESQL `filter`. Events are sent one after
//! another, in log order; one that fails after the destination's retries is reported and the
//! replay goes on (the log still holds it).

use super::destination::DestinationSpec;
use super::time::{parse_time, rfc3339};
use super::{destination, json_body};
use crate::error::ApiError;
use crate::runtime::Runtime;
use crate::runtime::replay::PolicyOf;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use herald_log::EventLog;
use herald_triggers::cesql::Expression;
use herald_triggers::delivery::Final;
use herald_triggers::dispatch::settle::Failure;
use herald_triggers::filter::Filter;
use herald_triggers::replay::{self, window};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Events shown as a sample by a dry run.
const SAMPLE: usize = 5;
/// Events delivered per call when the request does not say.
const DEFAULT_LIMIT: usize = 100;

/// The body of `POST /api/v1/replay`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WindowRequest {
    #[serde(default = "default_namespace")]
    namespace: String,
    broker: String,
    /// Start of the window: RFC 3339 or a duration ago (or `fromOffset`).
    from: Option<String>,
    /// End of the window, exclusive (default: now).
    to: Option<String>,
    from_offset: Option<u64>,
    to_offset: Option<u64>,
    /// CESQL the events must satisfy.
    filter: Option<String>,
    destination: DestinationSpec,
    #[serde(default)]
    dry_run: bool,
    /// Most events delivered by this call.
    limit: Option<usize>,
    replay_id: Option<String>,
}

fn default_namespace() -> String {
    "default".into()
}

/// `POST /api/v1/replay`
pub async fn replay_window(
    State(runtime): State<Arc<Runtime>>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request: WindowRequest = json_body(&body)?;
    let target = request.destination.target()?;
    let broker = runtime
        .broker(&request.namespace, &request.broker)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "broker {}/{} not found or not running",
                request.namespace, request.broker
            ))
        })?;
    let log = broker.log.clone();
    let (from, to) = window_offsets(&request, log.as_ref()).await?;
    let policy = PolicyOf::Broker {
        namespace: request.namespace.clone(),
        name: request.broker.clone(),
    };
    let destination = destination::resolve(&runtime, &target, &policy).await?;
    let mut filters: Vec<Filter> = destination.filter().cloned().into_iter().collect();
    if let Some(cesql) = &request.filter {
        let expression = Expression::parse(cesql)
            .map_err(|e| ApiError::bad_request(format!("invalid filter: {e}")))?;
        filters.push(Filter::Cesql(Box::new(expression)));
    }
    let filter = Filter::All(filters);

    if request.dry_run {
        let (count, sample) = window::survey(log.as_ref(), from, to, &filter, SAMPLE)
            .await
            .map_err(log_error)?;
        let sample: Vec<Value> = sample.iter().map(describe).collect();
        return Ok(Json(json!({
            "dryRun": true,
            "broker": format!("{}/{}", request.namespace, request.broker),
            "fromOffset": from,
            "toOffset": to,
            "count": count,
            "destination": destination.label(),
            "sample": sample,
        })));
    }

    let replay_id = request
        .replay_id
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let limit = request.limit.unwrap_or(DEFAULT_LIMIT).max(1);
    // On its own task: a client that goes away does not cut a delivery off midway.
    let id = replay_id.clone();
    let task = tokio::spawn(async move {
        let (matches, next) = window::collect(log.as_ref(), from, to, &filter, limit).await?;
        let stop = CancellationToken::new();
        let mut results = Vec::new();
        for found in matches {
            let outcome = replay::send(&destination, &found.event, &id, &stop).await;
            let mut result = describe(&found);
            match outcome {
                Final::Delivered { .. } => result["outcome"] = json!("delivered"),
                Final::Failed { last, attempts } => {
                    let failure = Failure::from_attempt(&last, attempts);
                    result["outcome"] = json!("failed");
                    result["attempts"] = json!(failure.attempts.len());
                    result["status"] = json!(failure.status);
                    result["error"] = json!(failure.reason);
                }
                Final::Interrupted { .. } => result["outcome"] = json!("interrupted"),
            }
            results.push(result);
        }
        Ok::<_, herald_log::LogError>((results, next))
    });
    let (results, next) = task
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the replay task failed: {e}"),
            )
        })?
        .map_err(log_error)?;
    Ok(Json(json!({
        "dryRun": false,
        "replayId": replay_id,
        "next": next,
        "done": next >= to,
        "results": results,
    })))
}

/// The window in offsets: given, or found from the times.
async fn window_offsets(
    request: &WindowRequest,
    log: &dyn EventLog,
) -> Result<(u64, u64), ApiError> {
    let now = chrono::Utc::now().timestamp_millis();
    let at = |field: &str, text: &str| {
        parse_time(text, now).map_err(|e| ApiError::bad_request(format!("invalid {field}: {e}")))
    };
    let head = log.head();
    let from = match (request.from_offset, &request.from) {
        (Some(offset), _) => offset,
        (None, Some(text)) => log
            .offset_at_time(at("from", text)?)
            .await
            .map_err(log_error)?,
        (None, None) => {
            return Err(ApiError::bad_request(
                "the window needs from (or fromOffset)",
            ));
        }
    };
    let to = match (request.to_offset, &request.to) {
        (Some(offset), _) => offset.min(head),
        (None, Some(text)) => log
            .offset_at_time(at("to", text)?)
            .await
            .map_err(log_error)?,
        (None, None) => head,
    };
    if from > to {
        return Err(ApiError::bad_request(format!(
            "the window ends (offset {to}) before it starts (offset {from})"
        )));
    }
    Ok((from, to))
}

fn describe(found: &window::Match) -> Value {
    json!({
        "offset": found.offset,
        "time": rfc3339(found.timestamp_ms),
        "eventId": found.event.id(),
        "eventType": found.event.ty(),
        "eventSource": found.event.source(),
    })
}

fn log_error(err: herald_log::LogError) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("reading the log failed: {err}"),
    )
}
