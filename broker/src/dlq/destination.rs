//! Where a replay sends events, as the API names it — `{"trigger": NAME, "namespace": NS}` or
//! `{"url": URL}` — resolved to a [`Destination`]. Without one, a dead letter goes back to the
//! Trigger it failed on.

use crate::error::ApiError;
use crate::runtime::Runtime;
use crate::runtime::replay::{DestinationError, PolicyOf};
use axum::http::StatusCode;
use herald_triggers::deadletter::Origin;
use herald_triggers::replay::Destination;
use serde::Deserialize;

/// A destination in a request: a Trigger (in `namespace`, default `default`) or a URL.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DestinationSpec {
    pub trigger: Option<String>,
    pub namespace: Option<String>,
    pub url: Option<String>,
}

/// What a destination spec asks for, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Trigger { namespace: String, name: String },
    Url(String),
}

impl DestinationSpec {
    /// Exactly one of `trigger` and `url`; a URL must be absolute http(s).
    pub fn target(&self) -> Result<Target, ApiError> {
        match (&self.trigger, &self.url) {
            (Some(name), None) => Ok(Target::Trigger {
                namespace: self.namespace.clone().unwrap_or_else(|| "default".into()),
                name: name.clone(),
            }),
            (None, Some(url)) => match reqwest::Url::parse(url) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {
                    Ok(Target::Url(url.clone()))
                }
                _ => Err(ApiError::bad_request(format!(
                    "destination url {url:?} is not an absolute http(s) URL"
                ))),
            },
            _ => Err(ApiError::bad_request(
                "the destination needs exactly one of trigger and url",
            )),
        }
    }
}

/// Resolves `target` (or, without one, the Trigger of `origin`) for a dead letter of `origin`.
/// A URL gets the delivery policy of the entry's Trigger.
pub async fn for_dead_letter(
    runtime: &Runtime,
    target: Option<&Target>,
    origin: &Origin,
) -> Result<Destination, ApiError> {
    let origin_trigger = match origin {
        Origin::Trigger {
            namespace, trigger, ..
        } => Some((namespace.as_str(), trigger.as_str())),
        Origin::Source { .. } => None,
    };
    match (target, origin_trigger) {
        (Some(target), _) => {
            let policy = match origin_trigger {
                Some((namespace, name)) => PolicyOf::Trigger {
                    namespace: namespace.into(),
                    name: name.into(),
                },
                None => PolicyOf::Default,
            };
            resolve(runtime, target, &policy).await
        }
        (None, Some((namespace, name))) => runtime
            .trigger_destination(namespace, name)
            .await
            .map_err(api_error),
        (None, None) => Err(ApiError::bad_request(format!(
            "dead letters of {} have no Trigger to go back to: give a destination (--to-trigger or --to)",
            origin.label()
        ))),
    }
}

/// Resolves `target`; a URL gets the delivery policy `policy` names.
pub async fn resolve(
    runtime: &Runtime,
    target: &Target,
    policy: &PolicyOf,
) -> Result<Destination, ApiError> {
    match target {
        Target::Trigger { namespace, name } => runtime
            .trigger_destination(namespace, name)
            .await
            .map_err(api_error),
        Target::Url(url) => runtime.url_destination(url, policy).map_err(api_error),
    }
}

fn api_error(err: DestinationError) -> ApiError {
    let status = match &err {
        DestinationError::TriggerNotFound { .. } => StatusCode::NOT_FOUND,
        DestinationError::BrokerNotRunning { .. } => StatusCode::CONFLICT,
        DestinationError::Plan { .. } => StatusCode::UNPROCESSABLE_ENTITY,
    };
    ApiError::new(status, err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_valid_destination() {
        let spec = |trigger: Option<&str>, url: Option<&str>| DestinationSpec {
            trigger: trigger.map(String::from),
            namespace: None,
            url: url.map(String::from),
        };
        assert_eq!(
            spec(Some("t"), None).target().unwrap(),
            Target::Trigger {
                namespace: "default".into(),
                name: "t".into()
            }
        );
        assert_eq!(
            spec(None, Some("http://127.0.0.1:9/x")).target().unwrap(),
            Target::Url("http://127.0.0.1:9/x".into())
        );
        assert!(spec(None, Some("ftp://host/")).target().is_err());
        assert!(spec(None, Some("not a url")).target().is_err());
        assert!(spec(Some("t"), Some("http://h/")).target().is_err());
        assert!(spec(None, None).target().is_err());
    }
}
