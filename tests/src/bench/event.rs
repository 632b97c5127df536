//! The benchmark's event: a binary-mode CloudEvent with a JSON body of an exact size, a numeric
//! id (the sequence number) and the send time in the `benchsent` extension.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderValue, Request};
use http_body_util::Full;

/// The `type` of every event the benchmark sends; the matching Triggers filter on it.
pub const EVENT_TYPE: &str = "bench.event";
/// Header carrying the send time (ns since the Unix epoch), read back by the subscriber.
pub const SENT_HEADER: &str = "ce-benchsent";
/// Header carrying the event id, the decimal sequence number.
pub const ID_HEADER: &str = "ce-id";

const SOURCE: &str = "/herald-bench";
/// Bytes of `{"pad":""}` around the padding.
const JSON_OVERHEAD: usize = 10;

/// A body of `size` bytes, reused for every event.
#[derive(Clone, Debug)]
pub struct EventTemplate {
    body: Bytes,
}

impl EventTemplate {
    /// A JSON body of exactly `size` bytes (at least the 10 bytes of `{"pad":""}`).
    pub fn new(size: usize) -> EventTemplate {
        let pad = "x".repeat(size.saturating_sub(JSON_OVERHEAD));
        EventTemplate {
            body: Bytes::from(format!("{{\"pad\":\"{pad}\"}}")),
        }
    }

    pub fn body(&self) -> Bytes {
        self.body.clone()
    }

    /// The binary-mode POST of event `seq`, sent (or scheduled) at `sent_ns`.
    pub fn request(
        &self,
        path: &str,
        authority: &HeaderValue,
        seq: u64,
        sent_ns: u64,
    ) -> Result<Request<Full<Bytes>>, http::Error> {
        Request::post(path)
            .header(HOST, authority)
            .header("ce-specversion", "1.0")
            .header(ID_HEADER, seq)
            .header("ce-source", SOURCE)
            .header("ce-type", EVENT_TYPE)
            .header(SENT_HEADER, sent_ns)
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(self.body()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_have_the_exact_size_and_are_json() {
        for size in [10, 11, 1024, 4096] {
            let body = EventTemplate::new(size).body();
            assert_eq!(body.len(), size);
            let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert!(value["pad"].is_string());
        }
    }

    #[test]
    fn requests_carry_the_id_and_send_time() {
        let template = EventTemplate::new(100);
        let request = template
            .request(
                "/default/default",
                &HeaderValue::from_static("127.0.0.1:1"),
                42,
                7,
            )
            .unwrap();
        assert_eq!(request.uri().path(), "/default/default");
        assert_eq!(request.headers()[ID_HEADER], "42");
        assert_eq!(request.headers()[SENT_HEADER], "7");
        assert_eq!(request.headers()["ce-type"], EVENT_TYPE);
    }
}
