//! The admin API of Herald's dead-letter store and of replays: inspect, replay and purge dead
//! letters; seek a Trigger; send a window of a broker's log to one destination.
//!
//! # Routes
//!
//! Dead letters (every store the runtime has: one per broker, scope `namespace/broker`). An entry
//! is named `{scope}/{id}`, e.g. `default/default/1714557600000-000003`.
//!
//! - `GET /api/v1/deadletters` — list, oldest first: `{"matched": N, "items": [...]}`. Query
//!   parameters (the selection, shared by every dead-letter route): `namespace`, `broker`,
//!   `trigger`, `since`, `until` (RFC 3339, or a duration ago such as `15m`, `2h`, `7d`), `filter`
//!   (CESQL over the dead-lettered event's attributes), `limit`, `includeResolved` (entries a
//!   replay delivered are left out unless `true`), `ids` (comma-separated names; replaces the
//!   other criteria).
//! - `GET /api/v1/deadletters/{scope}/{id}` — one entry: the event (JSON, and `eventRecord`, the
//!   stored bytes in base64), every attempt, the last response body, the reason, whether the
//!   `deadLetterSink` took it, and its replay history.
//! - `GET /api/v1/deadletters/stats` — counts by Trigger, reason and last status code.
//! - `DELETE /api/v1/deadletters` — purge the selection: `{"purged": N, "ids": [...]}`.
//! - `POST /api/v1/deadletters/replay` — body `{"selection": {...as the query...},
//!   "destination": {"trigger": NAME, "namespace": NS} | {"url": URL}, "dryRun": bool,
//!   "applyFilter": bool, "replayId": ID}`. Without a destination each entry goes back to the
//!   Trigger it failed on, under that Trigger's delivery policy, its filter not re-applied unless
//!   `applyFilter`; a URL gets the delivery policy of the entry's Trigger. A dry run answers
//!   `{"count", "destinations": [{"to", "count"}], "sample", "ids"}` and changes nothing;
//!   otherwise the entries are replayed one after another and the answer lists each outcome
//!   (`delivered`, `failed`, `skipped`, `error`) with `counts` by outcome.
//!
//! Replay from the log:
//!
//! - `POST /api/v1/namespaces/{namespace}/triggers/{name}/seek` — body `{"toTime": TIME}` |
//!   `{"toOffset": N}` | `{"earliest": true}` | `{"latest": true}`; moves the Trigger's position
//!   while serving and answers `{"previousPosition", "position", "head"}`.
//! - `POST /api/v1/replay` — body `{"namespace", "broker", "from", "to", "filter",
//!   "destination", "dryRun", "fromOffset", "toOffset", "limit", "replayId"}`: sends the window of
//!   the broker's log to one destination without moving any Trigger (see [`window`]).
//!
//! # Replay semantics
//!
//! Replayed events carry the `heraldreplay` extension (the replay id) with `id` and `source`
//! unchanged. A delivered entry is marked resolved before the answer is sent; one that fails
//! again stays in the store with the new attempts appended. Each entry is replayed on its own
//! task, so a client that disconnects (an interrupted `herald dlq replay`) never cuts a delivery
//! off between sending and recording it, and replays of one entry are serialised: re-running the
//! same selection sends nothing twice. If the server itself dies after a delivery and before its
//! resolution is durable, that one entry is sent again by the next replay (at least once).
//!
//! Errors are JSON (`{"error": "..."}`): 400 for a bad selection, time, filter or destination,
//! 404 for an unknown entry, Trigger or broker, 409 when a broker is not running.

mod deadletters;
pub mod destination;
mod seek;
pub mod selection;
pub mod time;
mod view;
pub mod window;

use crate::error::ApiError;
use crate::runtime::Runtime;
use axum::http::Uri;
use axum::routing::{get, post};
use axum::{Extension, Router};
use herald_triggers::replay::Replayer;
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// The dead-letter, replay and seek routes, to merge into the admin router.
pub fn routes() -> Router<Arc<Runtime>> {
    Router::new()
        .route(
            "/api/v1/deadletters",
            get(deadletters::list).delete(deadletters::purge),
        )
        .route("/api/v1/deadletters/stats", get(deadletters::stats))
        .route("/api/v1/deadletters/replay", post(deadletters::replay))
        .route("/api/v1/deadletters/{*name}", get(deadletters::show))
        .route("/api/v1/replay", post(window::replay_window))
        .route(
            "/api/v1/namespaces/{namespace}/triggers/{name}/seek",
            post(seek::seek),
        )
        .layer(Extension(Arc::new(Replayer::default())))
}

/// A JSON request body, or a 400 saying what is wrong with it.
fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.is_empty() {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))
}

/// The query parameters, or a 400 saying what is wrong with them.
fn query<T: DeserializeOwned>(uri: &Uri) -> Result<T, ApiError> {
    axum::extract::Query::try_from_uri(uri)
        .map(|q| q.0)
        .map_err(|e| ApiError::bad_request(format!("invalid query: {}", e.body_text())))
}

#[cfg(test)]
mod tests;
