//! Filter behaviour: attribute filters, every Subscriptions API dialect, and the type index hint.

use super::*;
use herald_cloudevent::{AttrValue, SpecVersion};
use herald_crds::filter::{SubscriptionsApiFilter, TriggerFilter};

fn event() -> Event {
    let mut e = Event::new(
        SpecVersion::V10,
        "1",
        "/orders/eu",
        "com.example.order.created",
    );
    e.set("subject", AttrValue::String("order-42".into()));
    e.set("priority", AttrValue::Integer(7));
    e.set("urgent", AttrValue::Boolean(true));
    e.set("empty", AttrValue::String(String::new()));
    e
}

fn attrs(pairs: &[(&str, &str)]) -> TriggerFilter {
    TriggerFilter {
        attributes: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn dialects(yaml: &str) -> Vec<SubscriptionsApiFilter> {
    serde_yaml_ng::from_str(yaml).expect("test filters parse")
}

fn compiled(yaml: &str) -> Filter {
    Filter::compile(None, &dialects(yaml)).expect("filters compile")
}

#[test]
fn no_filter_matches_everything() {
    assert!(Filter::compile(None, &[]).unwrap().matches(&event()));
    assert!(
        Filter::compile(Some(&attrs(&[])), &[])
            .unwrap()
            .matches(&event())
    );
}

#[test]
fn attribute_filter_is_an_and_of_exact_matches() {
    let f = attrs(&[
        ("type", "com.example.order.created"),
        ("source", "/orders/eu"),
    ]);
    assert!(Filter::compile(Some(&f), &[]).unwrap().matches(&event()));
    let f = attrs(&[
        ("type", "com.example.order.created"),
        ("source", "/orders/us"),
    ]);
    assert!(!Filter::compile(Some(&f), &[]).unwrap().matches(&event()));
}

#[test]
fn empty_value_means_present_and_non_empty() {
    let m = |k: &str| {
        Filter::compile(Some(&attrs(&[(k, "")])), &[])
            .unwrap()
            .matches(&event())
    };
    assert!(m("subject"));
    assert!(!m("missing"));
    assert!(!m("empty"));
}

#[test]
fn non_string_extensions_compare_in_string_form() {
    let f = attrs(&[("priority", "7"), ("urgent", "true")]);
    assert!(Filter::compile(Some(&f), &[]).unwrap().matches(&event()));
    let f = attrs(&[("priority", "8")]);
    assert!(!Filter::compile(Some(&f), &[]).unwrap().matches(&event()));
}

#[test]
fn missing_attribute_fails_every_string_dialect() {
    for yaml in [
        "- exact: {missing: x}",
        "- prefix: {missing: x}",
        "- suffix: {missing: x}",
    ] {
        assert!(!compiled(yaml).matches(&event()), "{yaml}");
    }
}

#[test]
fn prefix_suffix_and_exact_dialects() {
    assert!(compiled("- prefix: {type: com.example.}").matches(&event()));
    assert!(!compiled("- prefix: {type: com.other.}").matches(&event()));
    assert!(compiled("- suffix: {type: .created}").matches(&event()));
    assert!(!compiled("- suffix: {type: .deleted}").matches(&event()));
    assert!(
        compiled("- exact: {type: com.example.order.created, subject: order-42}").matches(&event())
    );
    assert!(
        !compiled("- exact: {type: com.example.order.created, subject: order-43}")
            .matches(&event())
    );
}

#[test]
fn all_any_not_nest() {
    let yaml = r#"
- any:
    - exact: {type: nope}
    - all:
        - prefix: {source: /orders/}
        - not: {suffix: {source: /us}}
"#;
    assert!(compiled(yaml).matches(&event()));
    let yaml = "- not: {exact: {type: com.example.order.created}}";
    assert!(!compiled(yaml).matches(&event()));
}

#[test]
fn filters_list_is_anded_and_overrides_attribute_filter() {
    let yaml = "- prefix: {type: com.example.}\n- exact: {subject: order-42}";
    assert!(compiled(yaml).matches(&event()));
    let yaml = "- prefix: {type: com.example.}\n- exact: {subject: order-1}";
    assert!(!compiled(yaml).matches(&event()));
    // `filter` would reject, but a non-empty `filters` wins.
    let f = attrs(&[("type", "something.else")]);
    let filters = dialects("- prefix: {type: com.example.}");
    assert!(
        Filter::compile(Some(&f), &filters)
            .unwrap()
            .matches(&event())
    );
}

#[test]
fn cesql_dialect_and_sql_alias() {
    assert!(compiled("- cesql: \"type LIKE 'com.example.%' AND priority > 5\"").matches(&event()));
    assert!(compiled("- sql: \"urgent = TRUE\"").matches(&event()));
    assert!(!compiled("- cesql: \"priority > 10\"").matches(&event()));
}

#[test]
fn cesql_evaluation_error_does_not_match() {
    // A missing attribute is an evaluation error; NOT of it must still not match.
    assert!(!compiled("- cesql: \"missing = 'x'\"").matches(&event()));
    assert!(!compiled("- cesql: \"NOT (missing = 'x')\"").matches(&event()));
}

#[test]
fn invalid_cesql_is_rejected_with_position() {
    let err =
        Filter::compile(None, &dialects("- exact: {type: a}\n- cesql: \"type = \"")).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("spec.filters[1].cesql"), "{text}");
    assert!(text.contains("position"), "{text}");
}

#[test]
fn a_dialect_object_needs_exactly_one_dialect() {
    let err =
        Filter::compile(None, &dialects("- {exact: {type: a}, prefix: {type: b}}")).unwrap_err();
    assert_eq!(
        err,
        FilterError::Dialects {
            field: "spec.filters[0]".into(),
            found: 2
        }
    );
}

#[test]
fn required_type_is_found_through_and_only() {
    let f = attrs(&[("type", "t1"), ("source", "s")]);
    assert_eq!(
        Filter::compile(Some(&f), &[]).unwrap().required_type(),
        Some("t1")
    );
    assert_eq!(compiled("- exact: {type: t2}").required_type(), Some("t2"));
    assert_eq!(
        compiled("- any: [{exact: {type: t3}}]").required_type(),
        None
    );
    assert_eq!(compiled("- prefix: {type: t}").required_type(), None);
    assert_eq!(
        compiled("- cesql: \"type = 't4' AND source LIKE '/x%'\"").required_type(),
        Some("t4")
    );
}
