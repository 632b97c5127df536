//! PingSource against a local HTTP sink: a seconds schedule read in a non-UTC time zone, ticks
//! that survive a failing sink, dead-lettering, and restarts that neither repeat nor lose ticks
//! beyond the documented one-tick catch-up.

mod common;

use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use common::{TestSink, harness, harness_with_state, policy, start, unique};
use herald_log::{MemoryStateStore, StateStore as _};
use herald_sources::ping::EVENT_TYPE;
use serde_json::json;

const ZONE: chrono_tz::Tz = chrono_tz::Asia::Tokyo;

fn manifest(name: &str, schedule: &str, sink: &TestSink) -> serde_json::Value {
    json!({
        "apiVersion": "sources.knative.dev/v1",
        "kind": "PingSource",
        "metadata": {"name": name, "namespace": "pings"},
        "spec": {
            "schedule": schedule,
            "timezone": "Asia/Tokyo",
            "contentType": "application/json",
            "data": "{\"message\": \"tick\"}",
            "sink": {"uri": sink.url()},
            "ceOverrides": {"extensions": {"team": "blue"}}
        }
    })
}

fn tick_time(event: &herald_cloudevent::Event) -> DateTime<Utc> {
    let time = event.get_str("time").expect("ping events have a time");
    DateTime::parse_from_rfc3339(time)
        .unwrap_or_else(|e| panic!("time {time:?} is not RFC 3339: {e}"))
        .with_timezone(&Utc)
}

/// Waits, if needed, so that the next few seconds stay within one hour in Tokyo.
async fn away_from_the_hour_boundary() {
    let now = Utc::now().with_timezone(&ZONE);
    if now.minute() == 59 && now.second() >= 45 {
        tokio::time::sleep(Duration::from_secs(u64::from(61 - now.second()))).await;
    }
}

#[tokio::test]
async fn every_second_in_the_source_time_zone() {
    common::init_tracing();
    away_from_the_hour_boundary().await;
    let tokyo_hour = Utc::now().with_timezone(&ZONE).hour();
    let utc_hour = Utc::now().hour();
    assert_ne!(tokyo_hour, utc_hour, "Tokyo is 9 hours from UTC");

    let sink = TestSink::start().await;
    let name = unique("tz");
    let h = harness(&sink, None, policy(3, Duration::from_millis(50)));
    let source = start(
        manifest(&name, &format!("*/1 * {tokyo_hour} * * *"), &sink),
        &h,
    );
    // The same schedule with the UTC hour never matches in Tokyo at this moment.
    let quiet_sink = TestSink::start().await;
    let quiet_h = harness(&quiet_sink, None, policy(0, Duration::ZERO));
    let quiet = start(
        manifest(
            &unique("tz-utc"),
            &format!("*/1 * {utc_hour} * * *"),
            &quiet_sink,
        ),
        &quiet_h,
    );

    let events = sink.wait_for(3, Duration::from_secs(10)).await;
    source.stop().await;
    assert_eq!(
        quiet.stats.snapshot()["eventsReceived"],
        0,
        "the UTC-hour schedule fired in Tokyo time"
    );
    quiet.stop().await;

    let times: Vec<DateTime<Utc>> = events.iter().map(tick_time).collect();
    for (event, time) in events.iter().zip(&times) {
        let raw = event.get_str("time").unwrap();
        assert!(
            raw.ends_with('Z') && !raw.contains('.'),
            "whole UTC second: {raw}"
        );
        assert_eq!(time.nanosecond(), 0);
        assert_eq!(time.with_timezone(&ZONE).hour(), tokyo_hour);
        assert_eq!(event.ty(), EVENT_TYPE);
        assert_eq!(
            event.source(),
            format!("/apis/v1/namespaces/pings/pingsources/{name}")
        );
        assert_eq!(event.datacontenttype(), Some("application/json"));
        assert_eq!(
            event.data().unwrap().bytes(),
            &b"{\"message\": \"tick\"}"[..]
        );
        assert_eq!(event.get_str("team"), Some("blue"));
    }
    for pair in times.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            chrono::TimeDelta::seconds(1),
            "{times:?}"
        );
    }
    let ids = common::sink::id_counts(&events);
    assert_eq!(ids.len(), events.len(), "a fresh id per tick");
    assert!(quiet_sink.events().is_empty());
}

#[tokio::test]
async fn ticks_are_not_lost_while_the_sink_fails() {
    common::init_tracing();
    let sink = TestSink::start().await;
    sink.fail_with(503);
    let h = harness(&sink, None, policy(40, Duration::from_millis(100)));
    let source = start(manifest(&unique("down"), "* * * * * *", &sink), &h);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(sink.requests() >= 2, "the source kept trying");
    sink.recover();
    let events = sink.wait_for(4, Duration::from_secs(10)).await;
    source.stop().await;

    let mut times: Vec<DateTime<Utc>> = sink.events().iter().map(tick_time).collect();
    let arrived = times.clone();
    times.sort();
    times.dedup();
    assert_eq!(times.len(), arrived.len(), "no tick was delivered twice");
    for pair in times.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            chrono::TimeDelta::seconds(1),
            "no tick skipped: {times:?}"
        );
    }
    assert!(tick_time(&events[0]) < Utc::now() - chrono::TimeDelta::seconds(2));
    assert!(h.dead_letters.entries().is_empty());
}

#[tokio::test]
async fn failed_ticks_are_dead_lettered_and_recorded() {
    common::init_tracing();
    let sink = TestSink::start().await;
    sink.fail_with(503);
    let dls = TestSink::start().await;
    let h = harness(&sink, Some(&dls), policy(1, Duration::from_millis(10)));
    let name = unique("dls");
    let source = start(manifest(&name, "* * * * * *", &sink), &h);
    let dead = dls.wait_for(1, Duration::from_secs(10)).await;
    source.stop().await;

    let event = &dead[0];
    assert_eq!(event.ty(), EVENT_TYPE);
    assert_eq!(event.get_str("knativeerrordest"), Some(sink.url().as_str()));
    // Binary mode carries the Integer extension as its canonical string.
    assert_eq!(event.get_str("knativeerrorcode"), Some("503"));
    assert!(
        sink.seen_ids()
            .iter()
            .filter(|id| *id == event.id())
            .count()
            >= 2
    );
    let recorded = h.dead_letters.entries();
    let entry = recorded
        .iter()
        .find(|e| e.event.id() == event.id())
        .expect("the dead-lettered tick is recorded");
    assert_eq!(entry.source, format!("pingsources/pings/{name}"));
    assert!(entry.delivered_to_dls);
    assert_eq!(entry.attempts.len(), 2, "one attempt and one retry");
    assert!(entry.reason.contains("503"), "{}", entry.reason);
}

#[tokio::test]
async fn restarts_neither_repeat_ticks_nor_lose_the_last_missed_one() {
    common::init_tracing();
    let sink = TestSink::start().await;
    let state = MemoryStateStore::new();
    let name = unique("restart");
    let run = || {
        let h = harness_with_state(
            &sink,
            None,
            policy(3, Duration::from_millis(50)),
            state.clone(),
        );
        start(manifest(&name, "* * * * * *", &sink), &h)
    };

    let first = run();
    sink.wait_for(2, Duration::from_secs(10)).await;
    first.stop().await;
    let before = sink.events().len();
    let stored = state
        .get(&format!("pingsources/pings/{name}/last-tick"))
        .expect("the last final tick is stored");
    assert_eq!(
        std::str::from_utf8(&stored).unwrap(),
        sink.events().last().unwrap().get_str("time").unwrap()
    );

    // Down for a little over two ticks: only the most recent missed tick is caught up.
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let restarted_at = Utc::now();
    let second = run();
    let events = sink.wait_for(before + 2, Duration::from_secs(10)).await;
    second.stop().await;

    let times: Vec<DateTime<Utc>> = sink.events().iter().map(tick_time).collect();
    for pair in times.windows(2) {
        assert!(
            pair[0] < pair[1],
            "ticks repeated or out of order: {times:?}"
        );
    }
    let catch_up = tick_time(&events[before]);
    assert!(
        catch_up <= restarted_at && restarted_at - catch_up < chrono::TimeDelta::seconds(1),
        "the first tick after the restart is the most recent missed one: {catch_up} vs {restarted_at}"
    );
    let skipped = catch_up - tick_time(&events[before - 1]);
    assert!(
        skipped >= chrono::TimeDelta::seconds(2),
        "older missed ticks are not replayed: {times:?}"
    );

    // A third start right away fires nothing twice either.
    let third = run();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    third.stop().await;
    let all: Vec<DateTime<Utc>> = sink.events().iter().map(tick_time).collect();
    let mut unique_times = all.clone();
    unique_times.dedup();
    assert_eq!(unique_times, all, "no tick fired twice across restarts");
}
