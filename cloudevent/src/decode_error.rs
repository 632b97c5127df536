//! The error returned when an HTTP message or JSON document cannot be decoded into events.

use crate::event::EventError;

/// Why a message could not be decoded. Re-exported as `http::DecodeError` and
/// `json::DecodeError`.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The event is malformed or fails validation; names the attribute at fault.
    #[error("invalid CloudEvent: {0}")]
    Invalid(#[from] EventError),
    /// An event inside a batch is malformed or fails validation.
    #[error("invalid CloudEvent at batch index {index}: {error}")]
    InvalidInBatch {
        /// Position of the event in the batch array.
        index: usize,
        /// What is wrong with it.
        #[source]
        error: EventError,
    },
    /// The body is not well-formed JSON of the expected shape.
    #[error("malformed CloudEvents JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// `application/cloudevents+<format>` or `application/cloudevents-batch+<format>` with a
    /// format other than JSON (HTTP 415).
    #[error(
        "unsupported CloudEvents format `{0}`: only application/cloudevents+json and \
         application/cloudevents-batch+json are supported"
    )]
    UnsupportedMediaType(String),
    /// A batch arrived where exactly one event (a response) was expected.
    #[error(
        "a batch of events (application/cloudevents-batch+json) cannot be a single response event"
    )]
    UnexpectedBatch,
}

impl DecodeError {
    /// The attribute (or data member) at fault, when the error concerns one.
    pub fn attribute(&self) -> Option<&str> {
        match self {
            DecodeError::Invalid(e) | DecodeError::InvalidInBatch { error: e, .. } => {
                Some(&e.attribute)
            }
            DecodeError::Json(_)
            | DecodeError::UnsupportedMediaType(_)
            | DecodeError::UnexpectedBatch => None,
        }
    }

    /// Whether the message used a CloudEvents media type with a format Herald cannot read; an
    /// HTTP server answers `415 Unsupported Media Type`.
    pub fn is_unsupported_media_type(&self) -> bool {
        matches!(self, DecodeError::UnsupportedMediaType(_))
    }
}
