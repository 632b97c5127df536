//! A local HTTP subscriber for tests: it records every request (time, headers, body, decoded
//! event) and answers according to a script that can change while it runs.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use herald_cloudevent::{Event, http as ce_http};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the subscriber received.
#[derive(Clone, Debug)]
pub struct Received {
    pub at: Instant,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The request decoded as a CloudEvent, when it is one.
    pub event: Option<Event>,
    /// How many times this event id had arrived, this one included.
    pub attempt: usize,
}

/// What to answer.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub delay: Duration,
}

impl Answer {
    pub fn status(status: u16) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).expect("a valid status"),
            headers: Vec::new(),
            body: Bytes::new(),
            delay: Duration::ZERO,
        }
    }

    pub fn ok() -> Answer {
        Answer::status(200)
    }

    /// The same answer with another status code.
    pub fn status_code(mut self, status: u16) -> Answer {
        self.status = StatusCode::from_u16(status).expect("a valid status");
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Answer {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Answer {
        self.body = body.into();
        self
    }

    pub fn delay(mut self, delay: Duration) -> Answer {
        self.delay = delay;
        self
    }

    /// Answers 200 with `event` as a binary-mode reply.
    pub fn reply(event: &Event) -> Answer {
        let (headers, body) = ce_http::encode_binary(event);
        let mut answer = Answer::ok().body(body);
        for (name, value) in &headers {
            answer = answer.header(name.as_str(), value.to_str().expect("ASCII header"));
        }
        answer
    }
}

type Script = Box<dyn Fn(&Received) -> Answer + Send + Sync>;

struct Shared {
    received: Mutex<Vec<Received>>,
    attempts: Mutex<HashMap<String, usize>>,
    script: Mutex<Arc<Script>>,
}

/// A running subscriber.
pub struct Subscriber {
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Subscriber {
    /// Starts a subscriber on 127.0.0.1:0 that answers with `script`.
    pub async fn start(script: impl Fn(&Received) -> Answer + Send + Sync + 'static) -> Subscriber {
        let shared = Arc::new(Shared {
            received: Mutex::new(Vec::new()),
            attempts: Mutex::new(HashMap::new()),
            script: Mutex::new(Arc::new(Box::new(script))),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a subscriber port");
        let url = format!("http://{}/", listener.local_addr().expect("local addr"));
        let app = Router::new().fallback(receive).with_state(shared.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("subscriber serves");
        });
        Subscriber { url, shared, task }
    }

    /// A subscriber that accepts everything with 200 and no body.
    pub async fn accepting() -> Subscriber {
        Subscriber::start(|_| Answer::ok()).await
    }

    /// Replaces the script.
    pub fn set_script(&self, script: impl Fn(&Received) -> Answer + Send + Sync + 'static) {
        *self.shared.script.lock().expect("script lock") = Arc::new(Box::new(script));
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().expect("received lock").clone()
    }

    /// The ids of the events received so far, in arrival order (duplicates included).
    pub fn ids(&self) -> Vec<String> {
        self.received()
            .iter()
            .filter_map(|r| r.event.as_ref().map(|e| e.id().to_string()))
            .collect()
    }

    /// Waits until at least `n` requests arrived; returns them (panics after `timeout`).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} requests within {timeout:?}, got {}",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let event = ce_http::decode_request(&headers, body.clone())
        .ok()
        .and_then(|(_, mut events)| events.pop());
    let attempt = match &event {
        Some(e) => {
            let mut attempts = shared.attempts.lock().expect("attempts lock");
            let n = attempts.entry(e.id().to_string()).or_insert(0);
            *n += 1;
            *n
        }
        None => 1,
    };
    let received = Received {
        at: Instant::now(),
        headers,
        body,
        event,
        attempt,
    };
    let script = shared.script.lock().expect("script lock").clone();
    let answer = script(&received);
    shared
        .received
        .lock()
        .expect("received lock")
        .push(received);
    if !answer.delay.is_zero() {
        tokio::time::sleep(answer.delay).await;
    }
    let mut response = (answer.status, answer.body).into_response();
    for (name, value) in answer.headers {
        response.headers_mut().insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            value.parse().expect("header value"),
        );
    }
    response
}
