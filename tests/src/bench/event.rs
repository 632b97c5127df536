//! The benchmark's event: a binary-mode CloudEvent with a JSON body of an exact size, a numeric
//! id (the sequence number) and the send time in the `benchsent` extension; or a run of such
//! events with consecutive ids in one batch-mode request.

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
/// Header carrying the broker's arrival stamp (RFC 3339), which Herald sets as its ingress
/// appends the event, once the request has been read.
pub const ARRIVAL_HEADER: &str = "ce-knativearrivaltime";

const SOURCE: &str = "/herald-bench";
/// Content type of a batch-mode request.
const BATCH_CONTENT_TYPE: &str = "application/cloudevents-batch+json";
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

    /// The batch-mode POST of events `first..first + count`, all sent (or scheduled) at
    /// `sent_ns`. Each is the structured form of the event [`EventTemplate::request`] would send
    /// (`benchsent` a string: CloudEvents integers are 32-bit).
    pub fn batch_request(
        &self,
        path: &str,
        authority: &HeaderValue,
        first: u64,
        count: u64,
        sent_ns: u64,
    ) -> Result<Request<Full<Bytes>>, http::Error> {
        let mut body = Vec::with_capacity((self.body.len() + 160) * count as usize + 2);
        body.push(b'[');
        for seq in first..first + count {
            if seq > first {
                body.push(b',');
            }
            body.extend_from_slice(
                format!(
                    "{{\"specversion\":\"1.0\",\"id\":\"{seq}\",\"source\":\"{SOURCE}\",\
                     \"type\":\"{EVENT_TYPE}\",\"benchsent\":\"{sent_ns}\",\
                     \"datacontenttype\":\"application/json\",\"data\":"
                )
                .as_bytes(),
            );
            body.extend_from_slice(&self.body);
            body.push(b'}');
        }
        body.push(b']');
        Request::post(path)
            .header(HOST, authority)
            .header(CONTENT_TYPE, BATCH_CONTENT_TYPE)
            .body(Full::new(Bytes::from(body)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

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

    #[tokio::test]
    async fn a_batch_request_holds_consecutive_ids_with_the_same_body() {
        let template = EventTemplate::new(64);
        let request = template
            .batch_request(
                "/default/default",
                &HeaderValue::from_static("127.0.0.1:1"),
                10,
                3,
                99,
            )
            .unwrap();
        assert_eq!(request.headers()[CONTENT_TYPE], BATCH_CONTENT_TYPE);
        let bytes = request.into_body().collect().await.unwrap().to_bytes();
        let events: Vec<serde_json::Value> = serde_json::from_slice(&bytes).unwrap();
        let ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["10", "11", "12"]);
        for event in &events {
            assert_eq!(event["type"], EVENT_TYPE);
            assert_eq!(event["benchsent"], "99");
            assert_eq!(serde_json::to_vec(&event["data"]).unwrap(), template.body());
        }
    }
}
