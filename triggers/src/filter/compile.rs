//! Turns the resource model's filter fields into a [`Filter`] tree, parsing CESQL once.

use super::Filter;
use crate::cesql::{Expression, ParseError};
use herald_crds::filter::{SubscriptionsApiFilter, TriggerFilter};
use std::collections::BTreeMap;

/// Why a Trigger's filter could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// A CESQL expression did not parse.
    #[error("{field}: invalid CESQL expression {expression:?}: {source}")]
    Cesql {
        field: String,
        expression: String,
        source: ParseError,
    },
    /// A dialect object held no dialect, or more than one.
    #[error("{field}: a filter must hold exactly one dialect, found {found}")]
    Dialects { field: String, found: usize },
}

impl Filter {
    /// Compiles a Trigger's filters: `filters` when non-empty (ANDed), else `filter.attributes`.
    pub fn compile(
        filter: Option<&TriggerFilter>,
        filters: &[SubscriptionsApiFilter],
    ) -> Result<Filter, FilterError> {
        if !filters.is_empty() {
            let compiled = filters
                .iter()
                .enumerate()
                .map(|(i, f)| compile_dialect(f, &format!("spec.filters[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(simplify_all(compiled));
        }
        let Some(filter) = filter else {
            return Ok(Filter::MatchAll);
        };
        let children = filter
            .attributes
            .iter()
            .map(|(attribute, value)| {
                if value.is_empty() {
                    Filter::Present {
                        attribute: attribute.clone(),
                    }
                } else {
                    Filter::Exact {
                        attribute: attribute.clone(),
                        value: value.clone(),
                    }
                }
            })
            .collect();
        Ok(simplify_all(children))
    }
}

fn simplify_all(mut children: Vec<Filter>) -> Filter {
    match children.len() {
        0 => Filter::MatchAll,
        1 => children.remove(0),
        _ => Filter::All(children),
    }
}

fn map_dialect(
    map: &BTreeMap<String, String>,
    make: impl Fn(String, String) -> Filter,
) -> Vec<Filter> {
    map.iter()
        .map(|(attribute, value)| make(attribute.clone(), value.clone()))
        .collect()
}

fn compile_dialect(f: &SubscriptionsApiFilter, field: &str) -> Result<Filter, FilterError> {
    let mut compiled = Vec::new();
    if let Some(exact) = &f.exact {
        compiled.push(simplify_all(map_dialect(exact, |attribute, value| {
            Filter::Exact { attribute, value }
        })));
    }
    if let Some(prefix) = &f.prefix {
        compiled.push(simplify_all(map_dialect(prefix, |attribute, value| {
            Filter::Prefix { attribute, value }
        })));
    }
    if let Some(suffix) = &f.suffix {
        compiled.push(simplify_all(map_dialect(suffix, |attribute, value| {
            Filter::Suffix { attribute, value }
        })));
    }
    if let Some(all) = &f.all {
        compiled.push(Filter::All(compile_list(all, &format!("{field}.all"))?));
    }
    if let Some(any) = &f.any {
        compiled.push(Filter::Any(compile_list(any, &format!("{field}.any"))?));
    }
    if let Some(not) = &f.not {
        compiled.push(Filter::Not(Box::new(compile_dialect(
            not,
            &format!("{field}.not"),
        )?)));
    }
    if let Some(expression) = &f.cesql {
        let parsed = Expression::parse(expression).map_err(|source| FilterError::Cesql {
            field: format!("{field}.cesql"),
            expression: expression.clone(),
            source,
        })?;
        compiled.push(Filter::Cesql(Box::new(parsed)));
    }
    if compiled.len() != 1 {
        return Err(FilterError::Dialects {
            field: field.to_string(),
            found: compiled.len(),
        });
    }
    Ok(compiled.remove(0))
}

fn compile_list(list: &[SubscriptionsApiFilter], field: &str) -> Result<Vec<Filter>, FilterError> {
    list.iter()
        .enumerate()
        .map(|(i, f)| compile_dialect(f, &format!("{field}[{i}]")))
        .collect()
}
