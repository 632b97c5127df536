//! Filter evaluation with 1, 100 and 10,000 Triggers: how long it takes to find the Triggers one
//! event matches (exactly one does), with exact-`type` filters and CESQL filters that say
//! `type = '...'` (both indexed by type), and CESQL filters without a type (evaluated one by one).
//!
//! Run: `cargo bench -p herald-triggers --bench filter_index`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use herald_cloudevent::{AttrValue, Event, SpecVersion, record};
use herald_crds::filter::{SubscriptionsApiFilter, TriggerFilter};
use herald_triggers::dispatch::index::TriggerIndex;
use herald_triggers::filter::Filter;
use std::hint::black_box;
use std::sync::Arc;

const SIZES: [usize; 3] = [1, 100, 10_000];

fn payload() -> Vec<u8> {
    let mut event = Event::new(SpecVersion::V10, "id-1", "/bench/orders", "com.example.t0");
    event.set("subject", AttrValue::String("order-42".into()));
    event.set("priority", AttrValue::Integer(7));
    let mut out = Vec::new();
    record::encode(&event, &mut out);
    out
}

fn exact(i: usize) -> Filter {
    let attributes = [("type".to_string(), format!("com.example.t{i}"))].into();
    Filter::compile(Some(&TriggerFilter { attributes }), &[]).expect("exact filter")
}

fn cesql(i: usize) -> Filter {
    let dialect = SubscriptionsApiFilter {
        cesql: Some(format!(
            "type = 'com.example.t{i}' AND source LIKE '/bench/%' AND priority > 5"
        )),
        ..Default::default()
    };
    Filter::compile(None, &[dialect]).expect("cesql filter")
}

/// A CESQL filter with no `type = '...'` conjunct: it cannot be indexed and is evaluated per event.
fn cesql_unindexed(i: usize) -> Filter {
    let dialect = SubscriptionsApiFilter {
        cesql: Some(format!(
            "source LIKE '/bench/%' AND subject = 'order-{}'",
            i + 42
        )),
        ..Default::default()
    };
    Filter::compile(None, &[dialect]).expect("cesql filter")
}

fn bench(c: &mut Criterion, name: &str, make: fn(usize) -> Filter) {
    let payload = payload();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));
    for n in SIZES {
        let mut index = TriggerIndex::default();
        for i in 0..n {
            index.insert(i, Arc::new(make(i)));
        }
        group.bench_with_input(BenchmarkId::from_parameter(n), &index, |b, index| {
            b.iter(|| {
                let mut matched = 0usize;
                index.for_each_match(black_box(&payload), |_| matched += 1);
                assert_eq!(matched, 1);
                matched
            })
        });
    }
    group.finish();
}

fn exact_type(c: &mut Criterion) {
    bench(c, "route_one_event/exact_type", exact);
}

fn cesql_filters(c: &mut Criterion) {
    bench(c, "route_one_event/cesql", cesql);
}

fn cesql_without_type(c: &mut Criterion) {
    bench(c, "route_one_event/cesql_unindexed", cesql_unindexed);
}

criterion_group!(benches, exact_type, cesql_filters, cesql_without_type);
criterion_main!(benches);
