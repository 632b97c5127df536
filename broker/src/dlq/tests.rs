//! The dead-letter routes against an in-process server (memory backend) whose store is filled
//! directly, so selections, names, stats and purge are checked exactly.

use crate::config::{LogBackend, ServeConfig};
use crate::server::Server;
use herald_cloudevent::{AttrValue, Event, SpecVersion, record};
use herald_triggers::deadletter::{AttemptInfo, DeadLetter, Origin};
use serde_json::{Value, json};

async fn server() -> (tempfile::TempDir, Server, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = ServeConfig::for_tests(dir.path().join("data"), LogBackend::Memory);
    let server = Server::start(config).await.unwrap();
    let admin = format!("http://{}", server.admin_addr);
    (dir, server, admin)
}

fn dead_letter(trigger: &str, ty: &str, status: u16, created_ms: i64) -> DeadLetter {
    let mut event = Event::new(SpecVersion::V10, format!("{trigger}-{ty}"), "/tests", ty);
    event.set("region", AttrValue::String("eu".into()));
    let mut encoded = Vec::new();
    record::encode(&event, &mut encoded);
    DeadLetter {
        id: String::new(),
        origin: Origin::Trigger {
            namespace: "default".into(),
            broker: "default".into(),
            trigger: trigger.into(),
        },
        destination: "http://127.0.0.1:9/".into(),
        event: encoded.into(),
        event_id: event.id().into(),
        event_type: ty.into(),
        event_source: "/tests".into(),
        attempts: vec![AttemptInfo {
            at_ms: created_ms,
            status: Some(status),
            error: Some(format!("the subscriber answered HTTP {status}")),
            latency_ms: 2,
        }],
        response_body: bytes::Bytes::from_static(b"nope"),
        reason: format!("not retried: the subscriber answered HTTP {status}"),
        delivered_to_dead_letter_sink: false,
        created_ms,
        replays: vec![],
        resolved: false,
    }
}

async fn get(url: String) -> (u16, Value) {
    let response = reqwest::get(url).await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["eventId"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn routes_answer_json_and_leave_resource_routes_alone() {
    let (_dir, server, admin) = server().await;
    assert_eq!(
        get(format!("{admin}/api/v1/deadletters")).await,
        (200, json!({"matched": 0, "items": []}))
    );
    let (status, stats) = get(format!("{admin}/api/v1/deadletters/stats")).await;
    assert_eq!((status, &stats["total"]), (200, &json!(0)));
    let (status, error) = get(format!("{admin}/api/v1/deadletters/default/default/nope")).await;
    assert_eq!(status, 404);
    assert_eq!(error["error"], "dead letter default/default/nope not found");
    let (status, brokers) = get(format!("{admin}/api/v1/brokers")).await;
    assert_eq!(
        (status, brokers["items"].as_array().unwrap().len()),
        (200, 1)
    );
    let (status, error) = get(format!("{admin}/api/v1/deadletters?since=someday")).await;
    assert_eq!(status, 400);
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid since:"),
        "{error}"
    );

    let client = reqwest::Client::new();
    let seek = client
        .post(format!(
            "{admin}/api/v1/namespaces/default/triggers/ghost/seek"
        ))
        .json(&json!({"earliest": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(seek.status(), 404);
    let window = client
        .post(format!("{admin}/api/v1/replay"))
        .json(&json!({"broker": "default", "from": "1h", "destination": {"url": "http://127.0.0.1:9/"}, "dryRun": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(window.status(), 200);
    let window: Value = window.json().await.unwrap();
    assert_eq!(
        (&window["count"], &window["fromOffset"], &window["toOffset"]),
        (&json!(0), &json!(0), &json!(0))
    );
    server.shutdown().await;
}

#[tokio::test]
async fn selections_name_show_count_and_purge_entries() {
    let (_dir, server, admin) = server().await;
    let store = server
        .runtime()
        .broker("default", "default")
        .unwrap()
        .dead_letters
        .clone();
    let now = chrono::Utc::now().timestamp_millis();
    let old = store
        .insert(dead_letter("orders", "order.created", 500, now - 3_600_000))
        .await
        .unwrap();
    store
        .insert(dead_letter("orders", "order.paid", 400, now - 60_000))
        .await
        .unwrap();
    store
        .insert(dead_letter("audit", "order.created", 500, now - 30_000))
        .await
        .unwrap();
    let mut resolved = dead_letter("audit", "order.paid", 503, now - 10_000);
    resolved.resolved = true;
    store.insert(resolved).await.unwrap();

    let list = |query: &str| get(format!("{admin}/api/v1/deadletters?{query}"));
    let (_, all) = list("").await;
    assert_eq!(
        ids(&all),
        [
            "orders-order.created",
            "orders-order.paid",
            "audit-order.created"
        ]
    );
    let (_, with_resolved) = list("includeResolved=true").await;
    assert_eq!(with_resolved["matched"], 4);
    assert_eq!(
        ids(&list("trigger=orders").await.1),
        ["orders-order.created", "orders-order.paid"]
    );
    assert_eq!(
        ids(&list("since=5m").await.1),
        ["orders-order.paid", "audit-order.created"]
    );
    let (_, filtered) =
        list("filter=type%20%3D%20%27order.created%27%20AND%20region%20%3D%20%27eu%27").await;
    assert_eq!(
        ids(&filtered),
        ["orders-order.created", "audit-order.created"]
    );
    let (_, limited) = list("limit=1").await;
    assert_eq!((ids(&limited).len(), &limited["matched"]), (1, &json!(3)));

    let name = format!("default/default/{old}");
    let (status, shown) = get(format!("{admin}/api/v1/deadletters/{name}")).await;
    assert_eq!(status, 200);
    assert_eq!(shown["id"], name);
    assert_eq!(shown["event"]["type"], "order.created");
    assert_eq!(shown["event"]["region"], "eu");
    assert_eq!(shown["attempts"][0]["status"], 500);
    assert_eq!(shown["responseBody"], "nope");
    assert_eq!(shown["reasonCategory"], "rejected");

    let (_, stats) = get(format!(
        "{admin}/api/v1/deadletters/stats?includeResolved=true"
    ))
    .await;
    assert_eq!(stats["total"], 4);
    assert_eq!(stats["resolved"], 1);
    assert_eq!(
        stats["byTrigger"],
        json!({"default/audit": 2, "default/orders": 2})
    );
    assert_eq!(stats["byStatus"], json!({"400": 1, "500": 2, "503": 1}));

    let client = reqwest::Client::new();
    let dry: Value = client
        .post(format!("{admin}/api/v1/deadletters/replay"))
        .json(&json!({"selection": {"trigger": "orders"}, "dryRun": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(dry["count"], 2);
    assert_eq!(
        dry["destinations"][0]["to"],
        "(cannot replay: trigger default/orders not found)"
    );

    let purged: Value = client
        .delete(format!("{admin}/api/v1/deadletters?ids={name}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(purged, json!({"purged": 1, "ids": [name]}));
    assert_eq!(
        ids(&list("").await.1),
        ["orders-order.paid", "audit-order.created"]
    );
    server.shutdown().await;
}
