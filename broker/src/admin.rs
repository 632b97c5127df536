//! The admin API (JSON): create/replace, get, list and delete resources with their status, plus
//! `/healthz`, `/readyz` and `/metrics`.
//!
//! Routes:
//! - `POST /api/v1/apply` — body: one resource; creates or replaces it (201 created, 200 replaced)
//! - `GET /api/v1/{plural}` — list across namespaces
//! - `GET /api/v1/namespaces/{ns}/{plural}` — list in a namespace
//! - `GET|PUT|DELETE /api/v1/namespaces/{ns}/{plural}/{name}`

use crate::error::ApiError;
use crate::metrics;
use crate::registry::{Origin, RegistryError, ResourceKey};
use crate::runtime::Runtime;
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use herald_crds::resource::{Kind, Resource};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// The admin router.
pub fn router(runtime: Arc<Runtime>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/api/v1/apply", post(apply))
        .route("/api/v1/{plural}", get(list_all))
        .route(
            "/api/v1/namespaces/{namespace}/{plural}",
            get(list_namespace),
        )
        .route(
            "/api/v1/namespaces/{namespace}/{plural}/{name}",
            get(get_one).put(put_one).delete(delete_one),
        )
        .merge(crate::dlq::routes())
        .fallback(|| async { ApiError::not_found("no such admin API route") })
        .with_state(runtime)
}

async fn readyz(State(runtime): State<Arc<Runtime>>) -> Response {
    let not_ready: Vec<String> = runtime
        .registry
        .list(Kind::Broker, None)
        .iter()
        .filter(|r| !herald_crds::meta::is_ready(r.conditions()))
        .map(|r| format!("{}/{}", r.namespace(), r.name()))
        .collect();
    if not_ready.is_empty() {
        (StatusCode::OK, "ready").into_response()
    } else {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "brokers not ready")
            .with_detail("brokers", not_ready)
            .into_response()
    }
}

async fn metrics_text(State(runtime): State<Arc<Runtime>>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics::render(&runtime).await,
    )
        .into_response()
}

fn kind(plural: &str) -> Result<Kind, ApiError> {
    Kind::from_name(plural).ok_or_else(|| {
        ApiError::not_found(format!(
            "unknown resource type {plural:?}; known: brokers, triggers, pingsources, kafkasources, rabbitmqsources, natssources"
        ))
    })
}

fn registry_error(err: RegistryError) -> ApiError {
    match err {
        RegistryError::Invalid(errors) => {
            let details: Vec<Value> = errors
                .0
                .iter()
                .map(|e| json!({ "field": e.field, "message": e.message }))
                .collect();
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("invalid resource: {errors}"),
            )
            .with_detail("causes", details)
        }
        RegistryError::NotFound { .. } => ApiError::not_found(err.to_string()),
        other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}

async fn apply(State(runtime): State<Arc<Runtime>>, Json(body): Json<Value>) -> Response {
    apply_value(&runtime, body).await
}

async fn apply_value(runtime: &Runtime, body: Value) -> Response {
    let resource = match Resource::from_json_value(body) {
        Ok(resource) => resource,
        Err(err) => return ApiError::bad_request(err.to_string()).into_response(),
    };
    match runtime.registry.apply(resource, Origin::Api) {
        Ok((stored, created)) => {
            // Reconcile now so the answer (and the next `get`) shows the status.
            runtime.reconcile().await;
            let current = runtime
                .registry
                .get(stored.kind(), stored.namespace(), stored.name())
                .unwrap_or(stored);
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (status, Json(live(runtime, current).await)).into_response()
        }
        Err(err) => registry_error(err).into_response(),
    }
}

#[derive(Deserialize)]
struct ListQuery {
    namespace: Option<String>,
}

async fn list_all(
    State(runtime): State<Arc<Runtime>>,
    Path(plural): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    list(&runtime, kind(&plural)?, query.namespace.as_deref()).await
}

async fn list_namespace(
    State(runtime): State<Arc<Runtime>>,
    Path((namespace, plural)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    list(&runtime, kind(&plural)?, Some(&namespace)).await
}

async fn list(
    runtime: &Runtime,
    kind: Kind,
    namespace: Option<&str>,
) -> Result<Json<Value>, ApiError> {
    let mut items = Vec::new();
    for resource in runtime.registry.list(kind, namespace) {
        items.push(live(runtime, resource).await);
    }
    Ok(Json(
        json!({ "kind": format!("{kind}List"), "items": items }),
    ))
}

async fn get_one(
    State(runtime): State<Arc<Runtime>>,
    Path((namespace, plural, name)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let kind = kind(&plural)?;
    let resource = runtime
        .registry
        .get(kind, &namespace, &name)
        .ok_or_else(|| ApiError::not_found(format!("{kind} {namespace}/{name} not found")))?;
    Ok(Json(live(&runtime, resource).await))
}

async fn put_one(
    State(runtime): State<Arc<Runtime>>,
    Path((namespace, plural, name)): Path<(String, String, String)>,
    Json(mut body): Json<Value>,
) -> Response {
    let kind = match kind(&plural) {
        Ok(kind) => kind,
        Err(err) => return err.into_response(),
    };
    let meta = &mut body["metadata"];
    if meta
        .get("name")
        .and_then(Value::as_str)
        .is_some_and(|n| n != name)
    {
        return ApiError::bad_request("metadata.name does not match the name in the path")
            .into_response();
    }
    meta["name"] = json!(name);
    meta["namespace"] = json!(namespace);
    if body
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| Kind::from_name(k) != Some(kind))
    {
        return ApiError::bad_request(format!("kind does not match the path ({kind})"))
            .into_response();
    }
    apply_value(&runtime, body).await
}

async fn delete_one(
    State(runtime): State<Arc<Runtime>>,
    Path((namespace, plural, name)): Path<(String, String, String)>,
) -> Response {
    let kind = match kind(&plural) {
        Ok(kind) => kind,
        Err(err) => return err.into_response(),
    };
    match runtime.registry.delete(kind, &namespace, &name) {
        Ok(resource) => {
            runtime.reconcile().await;
            Json(resource.to_json_value()).into_response()
        }
        Err(err) => registry_error(err).into_response(),
    }
}

/// The resource as JSON, with live figures added to a Trigger's or a source's status.
async fn live(runtime: &Runtime, mut resource: Resource) -> Value {
    if resource.kind().is_source()
        && let Some((ready, progress)) = runtime.sources.live(&ResourceKey::of(&resource)).await
    {
        herald_crds::meta::set_condition(resource.conditions_mut(), ready);
        let mut value = resource.to_json_value();
        for (key, figure) in progress {
            value["status"][key] = figure;
        }
        return value;
    }
    let mut value = resource.to_json_value();
    if let Resource::Trigger(trigger) = &resource
        && let Some(stats) = runtime
            .trigger_stats(resource.namespace(), &trigger.spec.broker, resource.name())
            .await
    {
        let status = &mut value["status"];
        for (key, figure) in stats {
            status[key] = json!(figure);
        }
    }
    value
}
