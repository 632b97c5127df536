//! Printing resources: aligned tables like kubectl's, or YAML / JSON.

use serde_json::Value;

/// Output format of `get`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Yaml,
    Json,
}

/// Prints rows as a table with a header, columns padded to their widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let last = cells.len() - 1;
        for (i, cell) in cells.into_iter().enumerate() {
            out.push_str(cell);
            if i < last {
                out.push_str(&" ".repeat(widths[i] - cell.chars().count() + 3));
            }
        }
        out.push('\n');
    };
    line(header.to_vec(), &mut out);
    for row in rows {
        line(row.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

/// The `Ready` condition's status and reason, as shown in tables.
pub fn ready(resource: &Value) -> (String, String) {
    let conditions = resource["status"]["conditions"].as_array();
    let ready = conditions.and_then(|c| c.iter().find(|c| c["type"] == "Ready"));
    match ready {
        Some(c) => (
            c["status"].as_str().unwrap_or("Unknown").to_string(),
            c["reason"].as_str().unwrap_or("").to_string(),
        ),
        None => ("Unknown".into(), String::new()),
    }
}

/// How long ago an RFC 3339 timestamp was, kubectl style (`5s`, `3m`, `2h`, `4d`).
pub fn age(timestamp: Option<&str>) -> String {
    let Some(then) = timestamp.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()) else {
        return "<unknown>".into();
    };
    let secs = (chrono::Utc::now() - then.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// Serializes a value as YAML or JSON.
pub fn document(value: &Value, format: Format) -> anyhow::Result<String> {
    Ok(match format {
        Format::Yaml => serde_yaml_ng::to_string(value)?,
        _ => format!("{}\n", serde_json::to_string_pretty(value)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_pads_columns() {
        let text = table(
            &["NAME", "READY"],
            &[
                vec!["default".into(), "True".into()],
                vec!["b".into(), "False".into()],
            ],
        );
        assert_eq!(text, "NAME      READY\ndefault   True\nb         False\n");
    }

    #[test]
    fn ready_reads_the_condition() {
        let r = serde_json::json!({"status": {"conditions": [
            {"type": "Ready", "status": "False", "reason": "BrokerDoesNotExist"}
        ]}});
        assert_eq!(ready(&r), ("False".into(), "BrokerDoesNotExist".into()));
        assert_eq!(
            ready(&serde_json::json!({})),
            ("Unknown".into(), String::new())
        );
    }
}
