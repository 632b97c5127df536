//! The CloudEvents JSON event format (`application/cloudevents+json`) and its batch form
//! (`application/cloudevents-batch+json`).
//!
//! Decoding keeps attribute order and JSON types (string, integer, boolean; `null` means absent)
//! and keeps `data` as its raw JSON text ([`Data::Json`](crate::Data::Json)), so re-encoding a
//! received event reproduces its `data` byte for byte. `data_base64` (1.0) and 0.3 `data` with
//! `datacontentencoding: base64` decode to [`Data::Binary`](crate::Data::Binary).
//!
//! Encoding writes attributes in order, then the data: [`Data::Json`](crate::Data::Json)
//! verbatim as `data`; [`Data::Binary`](crate::Data::Binary) verbatim as `data` when
//! `datacontenttype` is JSON and the bytes are valid JSON, otherwise as `data_base64` (1.0) or
//! as a base64 `data` string with `datacontentencoding: base64` (0.3).

mod read;
mod write;

pub use crate::decode_error::DecodeError;
use crate::event::Event;
use bytes::Bytes;
use read::{RawBatch, RawEvent};

/// Encodes one event as a JSON object.
pub fn to_json(event: &Event) -> Vec<u8> {
    let mut out = Vec::with_capacity(estimated_len(event));
    write::write_event(event, &mut out);
    out
}

/// Decodes and validates one event from a JSON object.
pub fn from_json(bytes: &[u8]) -> Result<Event, DecodeError> {
    let raw: RawEvent<'_> = serde_json::from_slice(bytes)?;
    Ok(raw.into_event(&copied)?)
}

/// Like [`from_json`], but the event's JSON `data` shares `bytes` instead of copying it.
pub fn from_json_shared(bytes: &Bytes) -> Result<Event, DecodeError> {
    let raw: RawEvent<'_> = serde_json::from_slice(bytes)?;
    Ok(raw.into_event(&|text| shared(bytes, text))?)
}

/// Encodes events as a JSON array.
pub fn batch_to_json(events: &[Event]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + events.iter().map(estimated_len).sum::<usize>());
    out.push(b'[');
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write::write_event(event, &mut out);
    }
    out.push(b']');
    out
}

/// Decodes and validates a JSON array of events; an empty array is zero events.
pub fn batch_from_json(bytes: &[u8]) -> Result<Vec<Event>, DecodeError> {
    decode_batch(bytes, &copied)
}

/// Like [`batch_from_json`], but the events' JSON `data` shares `bytes` instead of copying it.
pub fn batch_from_json_shared(bytes: &Bytes) -> Result<Vec<Event>, DecodeError> {
    decode_batch(bytes, &|text| shared(bytes, text))
}

fn decode_batch(bytes: &[u8], keep: &impl Fn(&str) -> Bytes) -> Result<Vec<Event>, DecodeError> {
    let RawBatch(raw) = serde_json::from_slice(bytes)?;
    raw.into_iter()
        .enumerate()
        .map(|(index, raw)| {
            raw.into_event(keep)
                .map_err(|error| DecodeError::InvalidInBatch { index, error })
        })
        .collect()
}

/// A copy of raw JSON text.
fn copied(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

/// Raw JSON text as a slice of the input it was parsed from (a copy if it is not part of it).
fn shared(input: &Bytes, text: &str) -> Bytes {
    let range = input.as_ptr_range();
    if range.contains(&text.as_ptr()) && text.as_ptr().wrapping_add(text.len()) <= range.end {
        input.slice_ref(text.as_bytes())
    } else {
        copied(text)
    }
}

/// A capacity guess so encoding rarely reallocates.
fn estimated_len(event: &Event) -> usize {
    let attributes: usize = event
        .attributes()
        .map(|(name, value)| name.len() + value.as_str().map_or(12, str::len) + 6)
        .sum();
    let data = event.data().map_or(0, |d| d.bytes().len() * 4 / 3 + 24);
    attributes + data + 2
}
