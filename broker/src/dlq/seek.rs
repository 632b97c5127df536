//! `POST /api/v1/namespaces/{namespace}/triggers/{name}/seek`: moves a Trigger's position while
//! Herald serves. Body: exactly one of `{"toTime": TIME}` (RFC 3339 or a duration ago),
//! `{"toOffset": N}`, `{"earliest": true}`, `{"latest": true}`.

use super::json_body;
use super::time::parse_time;
use crate::error::ApiError;
use crate::runtime::Runtime;
use crate::runtime::seek::{SeekError, SeekTo};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SeekRequest {
    to_time: Option<String>,
    to_offset: Option<u64>,
    #[serde(default)]
    earliest: bool,
    #[serde(default)]
    latest: bool,
}

impl SeekRequest {
    fn to(&self) -> Result<SeekTo, ApiError> {
        let now = chrono::Utc::now().timestamp_millis();
        let given = [
            self.to_time.is_some(),
            self.to_offset.is_some(),
            self.earliest,
            self.latest,
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(ApiError::bad_request(
                "give exactly one of toTime, toOffset, earliest and latest",
            ));
        }
        Ok(match (&self.to_time, self.to_offset) {
            (Some(time), _) => SeekTo::Time(
                parse_time(time, now)
                    .map_err(|e| ApiError::bad_request(format!("invalid toTime: {e}")))?,
            ),
            (None, Some(offset)) => SeekTo::Offset(offset),
            (None, None) if self.earliest => SeekTo::Earliest,
            (None, None) => SeekTo::Latest,
        })
    }
}

/// `POST /api/v1/namespaces/{namespace}/triggers/{name}/seek`
pub async fn seek(
    State(runtime): State<Arc<Runtime>>,
    Path((namespace, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request: SeekRequest = json_body(&body)?;
    let to = request.to()?;
    let seeked = runtime
        .seek_trigger(&namespace, &name, to)
        .await
        .map_err(|err| {
            let status = match &err {
                SeekError::TriggerNotFound { .. } => StatusCode::NOT_FOUND,
                SeekError::BrokerNotRunning { .. } => StatusCode::CONFLICT,
                SeekError::BeyondHead { .. } => StatusCode::BAD_REQUEST,
                SeekError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            ApiError::new(status, err.to_string())
        })?;
    Ok(Json(json!({
        "trigger": format!("{namespace}/{name}"),
        "broker": seeked.broker,
        "previousPosition": seeked.previous,
        "position": seeked.position,
        "head": seeked.head,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_target() {
        let parse = |body: &str| serde_json::from_str::<SeekRequest>(body).unwrap().to();
        assert_eq!(parse(r#"{"toOffset": 7}"#).unwrap(), SeekTo::Offset(7));
        assert_eq!(parse(r#"{"earliest": true}"#).unwrap(), SeekTo::Earliest);
        assert_eq!(parse(r#"{"latest": true}"#).unwrap(), SeekTo::Latest);
        assert_eq!(
            parse(r#"{"toTime": "2023-11-14T22:13:20Z"}"#).unwrap(),
            SeekTo::Time(1_700_000_000_000)
        );
        assert!(parse(r#"{}"#).is_err());
        assert!(parse(r#"{"earliest": true, "toOffset": 1}"#).is_err());
        assert!(parse(r#"{"toTime": "soon"}"#).is_err());
    }
}
