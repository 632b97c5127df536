//! Manifest loading: decoding one resource from JSON ([`Resource::from_json_value`]) and parsing
//! multi-document YAML ([`parse_manifests`]), with [`ManifestError`] saying which document, which
//! resource and which field went wrong.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Kind, Resource};

/// Why a manifest (or one document of it) could not be turned into a [`Resource`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The YAML does not parse; the message carries the line and column in the whole file.
    #[error("invalid YAML: {message}")]
    Yaml { message: String },
    /// The document is a scalar or a list rather than a mapping.
    #[error("expected a resource (a mapping with apiVersion and kind), found {found}")]
    NotAnObject { found: &'static str },
    /// `apiVersion` or `kind` is missing or not a string.
    #[error("missing field {field:?}")]
    MissingField { field: &'static str },
    /// `kind` is not one Herald serves.
    #[error("unknown kind {kind:?} (apiVersion {api_version:?}); supported kinds: {supported}")]
    UnknownKind {
        kind: String,
        api_version: String,
        supported: String,
    },
    /// `apiVersion` is not accepted for this kind.
    #[error("unsupported apiVersion {api_version:?} for kind {kind}; supported: {supported}")]
    UnsupportedApiVersion {
        kind: Kind,
        api_version: String,
        supported: String,
    },
    /// A field has the wrong type or an invalid value (bad duration, unknown enum value, …).
    #[error("invalid {kind}{}: {field}: {message}", quoted_name(.name))]
    Invalid {
        kind: Kind,
        name: Option<String>,
        /// JSON path of the field, e.g. `spec.delivery.backoffDelay`.
        field: String,
        message: String,
    },
    /// An error inside one document of a multi-document manifest.
    #[error(
        "document at index {index}{}{}: {source}",
        item.map(|i| format!(", item {i}")).unwrap_or_default(),
        quoted_name(.name)
    )]
    InDocument {
        /// 0-based index of the YAML document (empty documents count).
        index: usize,
        /// 0-based index in `items` when the document is a `kind: List`.
        item: Option<usize>,
        /// `metadata.name`, when the document has one.
        name: Option<String>,
        source: Box<ManifestError>,
    },
}

fn quoted_name(name: &Option<String>) -> String {
    name.as_ref().map(|n| format!(" {n:?}")).unwrap_or_default()
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn name_of(value: &Value) -> Option<String> {
    value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

fn string_field(value: &Value, field: &'static str) -> Result<String, ManifestError> {
    value
        .get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or(ManifestError::MissingField { field })
}

fn typed<T: DeserializeOwned>(value: Value, kind: Kind) -> Result<T, ManifestError> {
    let name = name_of(&value);
    serde_path_to_error::deserialize(value).map_err(|e| ManifestError::Invalid {
        kind,
        name,
        field: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

/// Decodes one resource, dispatching on `apiVersion` and `kind`.
pub(super) fn decode(value: Value) -> Result<Resource, ManifestError> {
    if !value.is_object() {
        return Err(ManifestError::NotAnObject {
            found: type_name(&value),
        });
    }
    let api_version = string_field(&value, "apiVersion")?;
    let kind_field = string_field(&value, "kind")?;
    let kind = Kind::from_kind_field(&kind_field).ok_or_else(|| ManifestError::UnknownKind {
        kind: kind_field,
        api_version: api_version.clone(),
        supported: Kind::supported_list(),
    })?;
    if !kind.accepts_api_version(&api_version) {
        return Err(ManifestError::UnsupportedApiVersion {
            kind,
            api_version,
            supported: kind.api_versions().join(", "),
        });
    }
    Ok(match kind {
        Kind::Broker => Resource::Broker(typed(value, kind)?),
        Kind::Trigger => Resource::Trigger(typed(value, kind)?),
        Kind::PingSource => Resource::PingSource(typed(value, kind)?),
        Kind::KafkaSource => Resource::KafkaSource(typed(value, kind)?),
        Kind::RabbitmqSource => Resource::RabbitmqSource(typed(value, kind)?),
        Kind::NatsSource => Resource::NatsSource(typed(value, kind)?),
    })
}

/// True for lines that only hold a comment or nothing.
fn is_blank(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#')
    })
}

/// Splits a YAML stream at `---` lines. Each document is padded with the newlines before it, so
/// parser errors name lines of the whole file; the `---` itself becomes spaces, keeping any content
/// that follows it on that line. Text before the first `---` is a document only if it holds content.
fn split_documents(yaml: &str) -> Vec<String> {
    let mut documents = Vec::new();
    let mut current = String::new();
    // At the start of the stream and after `...`, a blank stretch before `---` is no document.
    let mut blank_may_drop = true;
    for (number, line) in yaml.lines().enumerate() {
        let is_separator =
            line.starts_with("---") && line[3..].chars().next().is_none_or(char::is_whitespace);
        let is_end = line.starts_with("...") && line[3..].trim().is_empty();
        if !is_separator && !is_end {
            current.push_str(line);
            current.push('\n');
            continue;
        }
        if is_end || !(blank_may_drop && is_blank(&current)) {
            documents.push(std::mem::take(&mut current));
        }
        blank_may_drop = is_end;
        current = "\n".repeat(number);
        if is_separator {
            current.push_str("   ");
            current.push_str(&line[3..]);
        }
        current.push('\n');
    }
    documents.push(current);
    documents
}

/// True for `kind: List` (and `…List`) documents with an `items` array.
fn is_list(value: &Value) -> bool {
    value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
        && value.get("items").is_some_and(Value::is_array)
}

/// Parses a multi-document YAML manifest. Empty documents are skipped; a `kind: List` document
/// yields each of its `items`. Every failure is wrapped in [`ManifestError::InDocument`] with the
/// document index (and item index and resource name when known); the other documents still parse.
/// Resources are returned as written: call [`Resource::apply_defaults`] and [`Resource::validate`].
pub fn parse_manifests(yaml: &str) -> Vec<Result<Resource, ManifestError>> {
    let mut results = Vec::new();
    for (index, document) in split_documents(yaml).into_iter().enumerate() {
        if is_blank(&document) {
            continue;
        }
        let in_document = |item: Option<usize>, name: Option<String>, source: ManifestError| {
            ManifestError::InDocument {
                index,
                item,
                name,
                source: Box::new(source),
            }
        };
        let value: Value = match serde_yaml_ng::from_str(&document) {
            Ok(value) => value,
            Err(e) => {
                results.push(Err(in_document(
                    None,
                    None,
                    ManifestError::Yaml {
                        message: e.to_string(),
                    },
                )));
                continue;
            }
        };
        if value.is_null() {
            continue;
        }
        let list = is_list(&value);
        let values = match value {
            Value::Object(mut map) if list => match map.remove("items") {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            },
            other => vec![other],
        };
        for (item, value) in values.into_iter().enumerate() {
            let name = name_of(&value);
            let item = list.then_some(item);
            results.push(decode(value).map_err(|e| in_document(item, name, e)));
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting_keeps_line_numbers() {
        let docs = split_documents("a: 1\n---\nb: 2\n--- # c\n\n...\nd: 1\n");
        assert_eq!(docs.len(), 4);
        assert_eq!(docs[1], "\n   \nb: 2\n");
        assert_eq!(docs[2], "\n\n\n    # c\n\n");
        assert!(docs[3].ends_with("d: 1\n"));
        let docs = split_documents("# leading comment\n---\nx: 1\n");
        assert_eq!(docs.len(), 1, "{docs:?}");
        assert!(
            split_documents("----\n").len() == 1,
            "---- is not a separator"
        );
    }

    #[test]
    fn yaml_errors_name_the_file_line() {
        let results = parse_manifests("a: 1\n---\nkey: [unclosed\n");
        let errs: Vec<String> = results
            .into_iter()
            .filter_map(Result::err)
            .map(|e| e.to_string())
            .collect();
        assert_eq!(errs.len(), 2);
        assert!(errs[0].starts_with("document at index 0: missing field \"apiVersion\""));
        assert!(
            errs[1].starts_with("document at index 1: invalid YAML"),
            "{}",
            errs[1]
        );
        assert!(
            errs[1].contains("flow sequence at line 3 column 6"),
            "{}",
            errs[1]
        );
    }
}
