//! The CloudEvent record Herald stores and moves, and its encodings.
//!
//! Layout:
//! - [`Event`] (module `event`): the record itself — the spec version, attributes in arrival
//!   order as [`AttrValue`]s, optional [`Data`] — with [`Event::validate`].
//! - [`http`]: the HTTP protocol binding (binary, structured and batched content modes).
//! - [`json`]: the JSON event format, single events and batches.
//! - [`record`]: the compact, versioned binary encoding the event log stores.
//!
//! Why not `cloudevents-sdk`'s `Event`? Herald is an intermediary: what it receives it must
//! forward unchanged. The SDK re-parses `time` into a `chrono` timestamp and `data` into a
//! `serde_json::Value`, so re-sending an event can change the timestamp's spelling (precision,
//! offset), the JSON's whitespace, key order and number formatting. Here every attribute keeps its
//! exact received string form and data keeps its exact bytes — a binary-mode event is re-sent
//! with identical `ce-` header values and body, and a structured event with identical attribute
//! values and a byte-identical `data` text. Both spec versions 1.0 and 0.3 are supported and an
//! event is never upgraded from one to the other.

mod decode_error;
mod event;
pub mod http;
pub mod json;
mod media_type;
pub mod record;

pub use event::{AttrName, AttrValue, Data, Event, EventError, SpecVersion, attr_name};
