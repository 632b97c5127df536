//! The dead-letter endpoints: list, show, stats, purge and replay.

use super::destination::{self, DestinationSpec, Target};
use super::selection::{self, Selected, SelectionQuery};
use super::{json_body, query, view};
use crate::error::ApiError;
use crate::runtime::Runtime;
use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use herald_triggers::deadletter::Stats;
use herald_triggers::replay::{Destination, ReplayOptions, Replayer};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Entries shown as a sample by a dry run.
const SAMPLE: usize = 5;

/// `GET /api/v1/deadletters`
pub async fn list(State(runtime): State<Arc<Runtime>>, uri: Uri) -> Result<Json<Value>, ApiError> {
    let query: SelectionQuery = query(&uri)?;
    let chosen = selection::select(&runtime, &query)?;
    let items: Vec<Value> = chosen.entries.iter().map(view::summary).collect();
    Ok(Json(json!({ "matched": chosen.matched, "items": items })))
}

/// `GET /api/v1/deadletters/{scope}/{id}`
pub async fn show(
    State(runtime): State<Arc<Runtime>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let selected = selection::find(&runtime.dead_letter_stores(), &name)?;
    Ok(Json(view::detail(&selected)))
}

/// `GET /api/v1/deadletters/stats`
pub async fn stats(State(runtime): State<Arc<Runtime>>, uri: Uri) -> Result<Json<Stats>, ApiError> {
    let query: SelectionQuery = query(&uri)?;
    let chosen = selection::select(&runtime, &query)?;
    Ok(Json(chosen.entries.iter().map(|s| &s.entry).collect()))
}

/// `DELETE /api/v1/deadletters`
pub async fn purge(
    State(runtime): State<Arc<Runtime>>,
    Extension(replayer): Extension<Arc<Replayer>>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let query: SelectionQuery = query(&uri)?;
    let chosen = selection::select(&runtime, &query)?;
    let mut purged = Vec::new();
    for selected in &chosen.entries {
        let removed = replayer
            .remove(&selected.scope, selected.store.as_ref(), &selected.entry.id)
            .await
            .map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("purging {}: {e}", selected.name()),
                )
                .with_detail("purged", purged.clone())
            })?;
        if removed {
            purged.push(selected.name());
        }
    }
    Ok(Json(json!({ "purged": purged.len(), "ids": purged })))
}

/// The body of `POST /api/v1/deadletters/replay`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ReplayRequest {
    #[serde(default)]
    selection: SelectionQuery,
    /// Where to; by default each entry goes back to the Trigger it failed on.
    destination: Option<DestinationSpec>,
    /// Report what would be replayed; change nothing.
    #[serde(default)]
    dry_run: bool,
    /// Skip entries the destination Trigger's filter does not match.
    #[serde(default)]
    apply_filter: bool,
    /// Names the replay in the `heraldreplay` extension (generated when absent).
    replay_id: Option<String>,
}

/// `POST /api/v1/deadletters/replay`
pub async fn replay(
    State(runtime): State<Arc<Runtime>>,
    Extension(replayer): Extension<Arc<Replayer>>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request: ReplayRequest = json_body(&body)?;
    let target = request
        .destination
        .as_ref()
        .map(DestinationSpec::target)
        .transpose()?;
    let chosen = selection::select(&runtime, &request.selection)?;
    let mut destinations = Destinations::new(&runtime, target);
    if request.dry_run {
        return Ok(Json(
            dry_run(&mut destinations, &chosen.entries, chosen.matched).await,
        ));
    }
    // Explicit ids select resolved entries too; only include-resolved sends them again.
    let options = ReplayOptions {
        replay_id: request
            .replay_id
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        include_resolved: request.selection.include_resolved,
        apply_filter: request.apply_filter,
    };
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut results = Vec::new();
    for selected in chosen.entries {
        let name = selected.name();
        let mut result = match destinations.get(&selected).await {
            Err(message) => json!({ "outcome": "error", "error": message }),
            Ok(destination) => replay_one(&replayer, selected, destination, options.clone()).await,
        };
        let outcome = result["outcome"].as_str().unwrap_or("error");
        *counts.entry(static_outcome(outcome)).or_default() += 1;
        result["id"] = json!(name);
        results.push(result);
    }
    Ok(Json(json!({
        "dryRun": false,
        "replayId": options.replay_id,
        "counts": counts,
        "results": results,
    })))
}

fn static_outcome(outcome: &str) -> &'static str {
    match outcome {
        "delivered" => "delivered",
        "failed" => "failed",
        "skipped" => "skipped",
        "interrupted" => "interrupted",
        _ => "error",
    }
}

/// Replays one entry on its own task, so a client that goes away mid-request cannot cut the
/// delivery off between sending and recording it.
async fn replay_one(
    replayer: &Arc<Replayer>,
    selected: Selected,
    destination: Destination,
    options: ReplayOptions,
) -> Value {
    let replayer = replayer.clone();
    let to = destination.label();
    let task = tokio::spawn(async move {
        replayer
            .replay(
                &selected.scope,
                selected.store.as_ref(),
                &selected.entry.id,
                &destination,
                &options,
                &CancellationToken::new(),
            )
            .await
    });
    let mut result = match task.await {
        Ok(Ok(outcome)) => serde_json::to_value(outcome).unwrap_or(Value::Null),
        Ok(Err(err)) => json!({ "outcome": "error", "error": err.to_string() }),
        Err(err) => {
            json!({ "outcome": "error", "error": format!("the replay task failed: {err}") })
        }
    };
    result["to"] = json!(to);
    result
}

/// What a replay would do: how many entries, to where, a sample, and the entries' names.
async fn dry_run(
    destinations: &mut Destinations<'_>,
    entries: &[Selected],
    matched: usize,
) -> Value {
    let mut by_destination: BTreeMap<String, u64> = BTreeMap::new();
    let mut sample = Vec::new();
    for selected in entries {
        let to = match destinations.get(selected).await {
            Ok(destination) => destination.label(),
            Err(message) => format!("(cannot replay: {message})"),
        };
        if sample.len() < SAMPLE {
            let mut summary = view::summary(selected);
            summary["to"] = json!(to);
            sample.push(summary);
        }
        *by_destination.entry(to).or_default() += 1;
    }
    let destinations: Vec<Value> = by_destination
        .into_iter()
        .map(|(to, count)| json!({ "to": to, "count": count }))
        .collect();
    json!({
        "dryRun": true,
        "count": entries.len(),
        "matched": matched,
        "destinations": destinations,
        "sample": sample,
        "ids": entries.iter().map(Selected::name).collect::<Vec<_>>(),
    })
}

/// Destinations resolved once per origin within a request.
struct Destinations<'r> {
    runtime: &'r Runtime,
    target: Option<Target>,
    resolved: HashMap<String, Result<Destination, String>>,
}

impl<'r> Destinations<'r> {
    fn new(runtime: &'r Runtime, target: Option<Target>) -> Destinations<'r> {
        Destinations {
            runtime,
            target,
            resolved: HashMap::new(),
        }
    }

    async fn get(&mut self, selected: &Selected) -> Result<Destination, String> {
        let origin = &selected.entry.origin;
        let key = origin.label();
        if let Some(found) = self.resolved.get(&key) {
            return found.clone();
        }
        let found = destination::for_dead_letter(self.runtime, self.target.as_ref(), origin)
            .await
            .map_err(|e| e.message);
        self.resolved.insert(key, found.clone());
        found
    }
}
