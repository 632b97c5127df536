//! Where a source's events go: the [`Sink`] trait and [`HttpSink`], which POSTs each event over
//! the CloudEvents HTTP binding.
//!
//! A source ignores reply events a sink sends back (as Knative's adapters do): a 2xx answer only
//! means the event was accepted.

use std::time::Duration;

use herald_cloudevent::Event;
use herald_crds::delivery::DeliveryFormat;
use herald_triggers::delivery::{Attempt, Sender};

/// A destination for events.
#[async_trait::async_trait]
pub trait Sink: Send + Sync + 'static {
    /// One attempt to hand `event` over, classified like an HTTP delivery.
    async fn attempt(&self, event: &Event) -> Attempt;
    /// Where events go, for status (`sinkUri`) and logs.
    fn uri(&self) -> String;
}

/// A sink reached over HTTP.
#[derive(Clone, Debug)]
pub struct HttpSink {
    url: String,
    sender: Sender,
    format: DeliveryFormat,
    timeout: Duration,
}

impl HttpSink {
    /// A sink at `url`, sending in `format` (binary or structured mode), each attempt bounded by
    /// `timeout`.
    pub fn new(url: String, sender: Sender, format: DeliveryFormat, timeout: Duration) -> HttpSink {
        HttpSink {
            url,
            sender,
            format,
            timeout,
        }
    }
}

#[async_trait::async_trait]
impl Sink for HttpSink {
    async fn attempt(&self, event: &Event) -> Attempt {
        self.sender
            .attempt(&self.url, event, self.format, self.timeout)
            .await
    }

    fn uri(&self) -> String {
        self.url.clone()
    }
}
