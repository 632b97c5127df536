//! [`SourceError`]: why a source could not be started.

use herald_crds::resource::{Kind, ResourceKey};
use herald_crds::validation::ValidationErrors;

/// Why [`spawn`](crate::run::spawn) refused a resource. Connection problems are not errors here:
/// a running source retries them and reports them through its
/// [`readiness`](crate::stats::SourceStats::readiness).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The resource is a Broker or a Trigger.
    #[error(
        "{0} is not a source kind (sources are PingSource, KafkaSource, RabbitmqSource and NatsSource)"
    )]
    NotASource(Kind),
    /// The resource fails validation.
    #[error("invalid {key}: {errors}")]
    Invalid {
        key: ResourceKey,
        errors: ValidationErrors,
    },
    /// A field is valid on its own but cannot be used to run the source.
    #[error("{key}: {field}: {reason}")]
    Config {
        key: ResourceKey,
        /// JSON path of the field, e.g. `spec.net.sasl.password`.
        field: String,
        reason: String,
    },
}

impl SourceError {
    /// A [`SourceError::Config`] for `field` of `key`.
    pub(crate) fn config(
        key: &ResourceKey,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> SourceError {
        SourceError::Config {
            key: key.clone(),
            field: field.into(),
            reason: reason.into(),
        }
    }
}
