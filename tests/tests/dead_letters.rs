//! Herald's dead-letter store end to end, with a subscriber that fails until told to recover:
//! every attempt is kept, `dlq list --filter` selects by CESQL, a dry run changes nothing, a
//! replay delivers each entry exactly once (marked with `heraldreplay`, `id` and `source`
//! unchanged), a second replay sends nothing, an interrupted replay resumes without duplicates,
//! `kill -9` during a replay loses nothing, and purge asks before deleting.

use herald_cloudevent::AttrValue;
use herald_tests::client::describe;
use herald_tests::eventually;
use herald_tests::process::Herald;
use herald_tests::subscriber::{Answer, Received, Subscriber};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

fn trigger(subscriber: &str, retry: u32) -> String {
    format!(
        r#"
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: orders
spec:
  broker: default
  subscriber:
    uri: {subscriber}
  delivery:
    retry: {retry}
    backoffPolicy: linear
    backoffDelay: PT0.05S
"#
    )
}

/// A subscriber that answers 503 until `recovered` is set, then 200 (after `delay`).
async fn flaky(delay: Duration) -> (Subscriber, Arc<AtomicBool>) {
    let recovered = Arc::new(AtomicBool::new(false));
    let flag = recovered.clone();
    let sub = Subscriber::start(move |_| {
        if flag.load(Ordering::SeqCst) {
            Answer::ok().delay(delay)
        } else {
            Answer::status(503).body("down for maintenance")
        }
    })
    .await;
    (sub, recovered)
}

async fn send(herald: &Herald, id: &str, ty: &str, priority: i32) {
    let status = reqwest::Client::new()
        .post(herald.broker_url("default", "default"))
        .header("ce-specversion", "1.0")
        .header("ce-id", id)
        .header("ce-source", "/dlq-tests")
        .header("ce-type", ty)
        .header("ce-priority", priority.to_string())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 202);
}

/// Starts Herald with the Trigger and dead-letters `n` events `e1..en` (types alternating
/// `order.created` / `order.paid`, priority = n).
async fn with_dead_letters(data: &Path, sub: &Subscriber, retry: u32, n: usize) -> Herald {
    let herald = Herald::start(data, &[]);
    herald.apply(&trigger(&sub.url, retry));
    for i in 1..=n {
        let ty = if i % 2 == 1 {
            "order.created"
        } else {
            "order.paid"
        };
        send(&herald, &format!("e{i}"), ty, i as i32).await;
    }
    let all_in = eventually(WAIT, async || dead_letters(&herald, &[]).len() == n).await;
    assert!(
        all_in,
        "{n} dead letters expected, got {:?}",
        dead_letters(&herald, &[])
    );
    herald
}

/// `dlq list -o json` items (with extra flags).
fn dead_letters(herald: &Herald, flags: &[&str]) -> Vec<Value> {
    let mut args = vec!["dlq", "list"];
    args.extend(flags);
    herald.cli_json(&args)["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn field(items: &[Value], name: &str) -> Vec<String> {
    items
        .iter()
        .map(|i| i[name].as_str().unwrap_or_default().to_string())
        .collect()
}

fn replay_of(r: &Received) -> Option<String> {
    r.event
        .as_ref()?
        .get("heraldreplay")
        .map(AttrValue::to_string)
}

/// Event ids the subscriber received as replays, in arrival order.
fn replayed(sub: &Subscriber) -> Vec<String> {
    sub.received()
        .iter()
        .filter(|r| replay_of(r).is_some())
        .map(|r| r.event.as_ref().unwrap().id().to_string())
        .collect()
}

fn counts(ids: &[String]) -> HashMap<&str, usize> {
    let mut counts = HashMap::new();
    for id in ids {
        *counts.entry(id.as_str()).or_default() += 1;
    }
    counts
}

fn ids(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("e{i}")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_letters_keep_every_attempt_and_are_selected_by_cesql() {
    let dir = tempfile::tempdir().unwrap();
    let (sub, _) = flaky(Duration::ZERO).await;
    let herald = with_dead_letters(&dir.path().join("data"), &sub, 2, 6).await;

    let items = dead_letters(&herald, &[]);
    assert_eq!(field(&items, "eventId"), ids(6), "oldest first");
    for item in &items {
        assert_eq!(item["from"], "default/orders");
        assert_eq!(item["attempts"], 3, "one attempt and two retries: {item}");
        assert_eq!(item["lastStatus"], 503);
        assert_eq!(item["reasonCategory"], "retries_exhausted");
        assert_eq!(item["resolved"], false);
    }

    let shown = herald.cli_json(&["dlq", "show", items[3]["id"].as_str().unwrap()]);
    assert_eq!(shown["event"]["id"], "e4");
    assert_eq!(shown["event"]["type"], "order.paid");
    assert_eq!(shown["event"]["source"], "/dlq-tests");
    assert_eq!(shown["event"]["priority"], "4");
    let statuses: Vec<&Value> = shown["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["status"])
        .collect();
    assert_eq!(statuses, [503, 503, 503]);
    assert_eq!(shown["responseBody"], "down for maintenance");
    assert_eq!(shown["destination"], sub.url);
    assert_eq!(shown["deliveredToDeadLetterSink"], false);
    assert!(
        shown["reason"]
            .as_str()
            .unwrap()
            .starts_with("retries exhausted after 3 attempts"),
        "{shown}"
    );
    let text = herald.cli_ok(&["dlq", "show", items[3]["id"].as_str().unwrap()]);
    assert!(
        text.contains("down for maintenance") && text.contains("Attempts:"),
        "{text}"
    );

    let paid_and_urgent = dead_letters(
        &herald,
        &["--filter", "type = 'order.paid' AND priority > 2"],
    );
    assert_eq!(field(&paid_and_urgent, "eventId"), ["e4", "e6"]);
    let created = dead_letters(
        &herald,
        &["--filter", "type LIKE '%.created'", "--limit", "2"],
    );
    assert_eq!(field(&created, "eventId"), ["e1", "e3"]);
    assert!(dead_letters(&herald, &["--trigger", "other"]).is_empty());
    assert!(dead_letters(&herald, &["--until", "1h"]).is_empty());
    assert_eq!(dead_letters(&herald, &["--since", "1h"]).len(), 6);
    let bad = herald.cli(&["dlq", "list", "--filter", "type ="]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("invalid filter"),
        "{}",
        describe(&bad)
    );

    let stats = herald.cli_json(&["dlq", "stats"]);
    assert_eq!(stats["total"], 6);
    assert_eq!(stats["byTrigger"], serde_json::json!({"default/orders": 6}));
    assert_eq!(
        stats["byReason"],
        serde_json::json!({"retries_exhausted": 6})
    );
    assert_eq!(stats["byStatus"], serde_json::json!({"503": 6}));
    let table = herald.cli_ok(&["dlq", "list"]);
    assert!(
        table.starts_with("ID ") && table.contains("EVENT ID") && table.lines().count() == 7,
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_changes_nothing_and_replay_delivers_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let (sub, recovered) = flaky(Duration::ZERO).await;
    let herald = with_dead_letters(&dir.path().join("data"), &sub, 2, 5).await;
    let before = sub.received().len();
    assert_eq!(before, 15);

    let dry = herald.cli_ok(&["dlq", "replay", "--dry-run"]);
    assert!(dry.contains("Would replay 5 dead letter(s)"), "{dry}");
    assert!(dry.contains("5 to trigger default/orders"), "{dry}");
    assert!(dry.contains("e1") && dry.contains("Sample:"), "{dry}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sub.received().len(), before, "a dry run sends nothing");
    let untouched = dead_letters(&herald, &[]);
    assert!(
        untouched
            .iter()
            .all(|i| i["replays"] == 0 && i["attempts"] == 3)
    );

    // Still failing: the entry returns to the store with the new attempts, not a second entry.
    let first = untouched[0]["id"].as_str().unwrap().to_string();
    let failed = herald.cli(&["dlq", "replay", "--id", &first]);
    assert!(!failed.status.success(), "{}", describe(&failed));
    let after_failure = dead_letters(&herald, &[]);
    assert_eq!(field(&after_failure, "eventId"), ids(5));
    let shown = herald.cli_json(&["dlq", "show", &first]);
    assert_eq!(shown["attempts"].as_array().unwrap().len(), 6);
    assert_eq!(shown["replays"][0]["outcome"], "failed");
    assert_eq!(shown["replays"][0]["to"], "trigger default/orders");
    assert_eq!(shown["resolved"], false);

    let failing = sub.received().len();
    recovered.store(true, Ordering::SeqCst);
    let out = herald.cli_ok(&["dlq", "replay"]);
    assert!(out.contains("delivered 5"), "{out}");
    let delivered = sub.received()[failing..].to_vec();
    let delivered_ids: Vec<String> = delivered
        .iter()
        .map(|r| r.event.as_ref().unwrap().id().to_string())
        .collect();
    assert_eq!(
        delivered_ids,
        ids(5),
        "each delivered exactly once, oldest first"
    );
    let replay_ids: Vec<String> = delivered.iter().filter_map(replay_of).collect();
    assert_eq!(replay_ids.len(), 5);
    assert!(
        replay_ids.iter().all(|r| *r == replay_ids[0]),
        "one replay id: {replay_ids:?}"
    );
    assert!(
        delivered
            .iter()
            .all(|r| r.event.as_ref().unwrap().source() == "/dlq-tests")
    );

    let metrics = herald.metrics().await;
    let replay_attempts = |outcome: &str, code: &str| {
        metrics.lines().any(|l| {
            l.starts_with("herald_delivery_attempts_total{")
                && l.contains("trigger=\"orders\",replay=\"true\"")
                && l.contains(&format!("outcome=\"{outcome}\",code=\"{code}\""))
                && l.ends_with(if code == "200" { " 5" } else { " 3" })
        })
    };
    assert!(
        replay_attempts("delivered", "200") && replay_attempts("retryable", "503"),
        "{metrics}"
    );
    assert!(
        dead_letters(&herald, &[]).is_empty(),
        "resolved entries leave the selection"
    );
    let resolved = dead_letters(&herald, &["--include-resolved"]);
    assert_eq!(resolved.len(), 5);
    assert!(resolved.iter().all(|i| i["resolved"] == true));
    let count = sub.received().len();
    let again = herald.cli_ok(&["dlq", "replay"]);
    assert!(again.contains("Nothing to replay"), "{again}");
    let by_id = herald.cli_ok(&["dlq", "replay", "--id", &first]);
    assert!(by_id.contains("skipped 1"), "{by_id}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sub.received().len(), count, "a second replay sends nothing");

    let forced = herald.cli_ok(&["dlq", "replay", "--id", &first, "--include-resolved"]);
    assert!(forced.contains("delivered 1"), "{forced}");
    assert_eq!(sub.received().len(), count + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_replay_resumes_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let (sub, recovered) = flaky(Duration::ZERO).await;
    let herald = with_dead_letters(&dir.path().join("data"), &sub, 0, 10).await;
    recovered.store(true, Ordering::SeqCst);

    let mut replay = herald.cli_spawn(&["dlq", "replay", "--rate", "5/s"]);
    assert!(eventually(WAIT, async || replayed(&sub).len() >= 3).await);
    replay.kill().unwrap();
    replay.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let partial = replayed(&sub).len();
    assert!(
        partial < 10,
        "the replay was interrupted midway ({partial} sent)"
    );

    let out = herald.cli_ok(&["dlq", "replay"]);
    assert!(
        out.contains(&format!("delivered {}", 10 - partial)),
        "{out}"
    );
    let mut got = replayed(&sub);
    assert_eq!(
        counts(&got).values().max(),
        Some(&1),
        "no duplicates: {got:?}"
    );
    got.sort_by_key(|id| id[1..].parse::<u32>().unwrap());
    assert_eq!(got, ids(10));
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_a_replay_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (sub, recovered) = flaky(Duration::from_millis(150)).await;
    let herald = with_dead_letters(&data, &sub, 0, 10).await;
    recovered.store(true, Ordering::SeqCst);

    let mut replay = herald.cli_spawn(&["dlq", "replay"]);
    assert!(eventually(WAIT, async || replayed(&sub).len() >= 4).await);
    herald.kill9();
    let _ = replay.wait();

    let herald = Herald::start(&data, &[]);
    let kept = dead_letters(&herald, &["--include-resolved"]);
    assert_eq!(
        field(&kept, "eventId"),
        ids(10),
        "every entry survives kill -9"
    );
    let out = herald.cli_ok(&["dlq", "replay"]);
    assert!(out.contains("delivered"), "{out}");
    let resolved = dead_letters(&herald, &["--include-resolved"]);
    assert!(
        resolved.iter().all(|i| i["resolved"] == true),
        "{resolved:?}"
    );
    let got = replayed(&sub);
    let per_id = counts(&got);
    assert_eq!(per_id.len(), 10, "every entry delivered: {got:?}");
    let extra: usize = per_id.values().map(|n| n - 1).sum();
    assert!(
        extra <= 1,
        "at most the delivery in flight at the kill is sent twice: {got:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_to_a_url_then_purge_after_confirmation() {
    let dir = tempfile::tempdir().unwrap();
    let (sub, _) = flaky(Duration::ZERO).await;
    let other = Subscriber::accepting().await;
    let herald = with_dead_letters(&dir.path().join("data"), &sub, 0, 4).await;

    let paid = ["--filter", "type = 'order.paid'"];
    let mut args = vec!["dlq", "replay", "--to", other.url.as_str()];
    args.extend(paid);
    let out = herald.cli_ok(&args);
    assert!(out.contains("delivered 2"), "{out}");
    assert_eq!(other.ids(), ["e2", "e4"]);
    assert!(other.received().iter().all(|r| replay_of(r).is_some()));
    let shown = herald.cli_json(&[
        "dlq",
        "show",
        dead_letters(&herald, &["--include-resolved"])[1]["id"]
            .as_str()
            .unwrap(),
    ]);
    assert_eq!(shown["replays"][0]["to"], other.url);

    let created = ["--filter", "type = 'order.created'"];
    let mut args = vec!["dlq", "purge"];
    args.extend(created);
    let unconfirmed = herald.cli(&args);
    assert!(!unconfirmed.status.success(), "{}", describe(&unconfirmed));
    assert_eq!(
        dead_letters(&herald, &[]).len(),
        2,
        "nothing deleted without confirmation"
    );
    args.push("--yes");
    let out = herald.cli_ok(&args);
    assert!(out.contains("2 dead letter(s) purged"), "{out}");
    assert!(dead_letters(&herald, &[]).is_empty());
    assert_eq!(
        field(&dead_letters(&herald, &["--include-resolved"]), "eventId"),
        ["e2", "e4"]
    );
}
