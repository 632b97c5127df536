//! `herald apply`, `get`, `describe` and `delete`.

use super::Global;
use super::client::AdminClient;
use super::output::{self, Format};
use anyhow::{Context, bail};
use herald_crds::resource::{Kind, parse_manifests};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Every kind of source, for `herald get sources`.
const SOURCE_KINDS: [Kind; 4] = [
    Kind::PingSource,
    Kind::KafkaSource,
    Kind::RabbitmqSource,
    Kind::NatsSource,
];

/// Reads the manifests of a file, or of every `*.yaml`/`*.yml` in a directory.
fn manifests(path: &Path) -> anyhow::Result<Vec<(PathBuf, Value)>> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("reading {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        for parsed in parse_manifests(&text) {
            match parsed {
                Ok(resource) => out.push((file.clone(), resource.to_json_value())),
                Err(err) => problems.push(format!("{}: {err}", file.display())),
            }
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    Ok(out)
}

fn resource_label(value: &Value) -> String {
    let kind = value["kind"].as_str().unwrap_or("resource").to_lowercase();
    let group = value["apiVersion"]
        .as_str()
        .and_then(|v| v.split('/').next())
        .unwrap_or("");
    format!(
        "{kind}.{group}/{}",
        value["metadata"]["name"].as_str().unwrap_or("")
    )
}

pub async fn apply(global: &Global, path: &Path) -> anyhow::Result<()> {
    let client = AdminClient::new(&global.server);
    let mut failed = 0;
    for (file, mut value) in manifests(path)? {
        if value["metadata"]["namespace"].is_null() {
            value["metadata"]["namespace"] = Value::from(global.namespace.clone());
        }
        match client.apply(&value).await {
            Ok((stored, created)) => {
                let verb = if created { "created" } else { "configured" };
                println!("{} {verb}", resource_label(&stored));
            }
            Err(err) => {
                failed += 1;
                eprintln!("{}: {}: {err:#}", file.display(), resource_label(&value));
            }
        }
    }
    if failed > 0 {
        bail!("{failed} resource(s) were not applied");
    }
    Ok(())
}

fn kinds_for(name: &str) -> anyhow::Result<Vec<Kind>> {
    if matches!(name, "sources" | "source") {
        return Ok(SOURCE_KINDS.to_vec());
    }
    Kind::from_name(name).map(|k| vec![k]).with_context(|| {
        format!("unknown resource type {name:?}: use brokers, triggers or sources")
    })
}

pub async fn get(
    global: &Global,
    kind: &str,
    name: Option<&str>,
    format: Format,
    all_namespaces: bool,
) -> anyhow::Result<()> {
    let client = AdminClient::new(&global.server);
    let kinds = kinds_for(kind)?;
    let namespace = (!all_namespaces).then_some(global.namespace.as_str());
    let mut items = Vec::new();
    for kind in &kinds {
        match name {
            Some(name) => items.push(client.get(kind.plural(), &global.namespace, name).await?),
            None => items.extend(client.list(kind.plural(), namespace).await?),
        }
    }
    match format {
        Format::Table => {
            if items.is_empty() {
                eprintln!("No resources found.");
                return Ok(());
            }
            print!("{}", table(&kinds, &items, all_namespaces));
        }
        _ if name.is_some() && items.len() == 1 => {
            print!("{}", output::document(&items[0], format)?)
        }
        _ => print!(
            "{}",
            output::document(&serde_json::json!({ "items": items }), format)?
        ),
    }
    Ok(())
}

fn table(kinds: &[Kind], items: &[Value], all_namespaces: bool) -> String {
    let (mut header, rows): (Vec<&str>, Vec<Vec<String>>) = match kinds {
        [Kind::Broker] => (
            vec!["NAME", "URL", "READY", "REASON", "AGE"],
            items
                .iter()
                .map(|b| {
                    let (ready, reason) = output::ready(b);
                    vec![
                        text(&b["metadata"]["name"]),
                        text(&b["status"]["address"]["url"]),
                        ready,
                        reason,
                        output::age(b["metadata"]["creationTimestamp"].as_str()),
                    ]
                })
                .collect(),
        ),
        [Kind::Trigger] => (
            vec![
                "NAME",
                "BROKER",
                "SUBSCRIBER_URI",
                "READY",
                "REASON",
                "LAG",
                "AGE",
            ],
            items
                .iter()
                .map(|t| {
                    let (ready, reason) = output::ready(t);
                    vec![
                        text(&t["metadata"]["name"]),
                        text(&t["spec"]["broker"]),
                        text(&t["status"]["subscriberUri"]),
                        ready,
                        reason,
                        text(&t["status"]["lag"]),
                        output::age(t["metadata"]["creationTimestamp"].as_str()),
                    ]
                })
                .collect(),
        ),
        _ => (
            vec!["NAME", "KIND", "SINK", "READY", "REASON", "AGE"],
            items
                .iter()
                .map(|s| {
                    let (ready, reason) = output::ready(s);
                    vec![
                        text(&s["metadata"]["name"]),
                        text(&s["kind"]),
                        text(&s["status"]["sinkUri"]),
                        ready,
                        reason,
                        output::age(s["metadata"]["creationTimestamp"].as_str()),
                    ]
                })
                .collect(),
        ),
    };
    let rows = if all_namespaces {
        header.insert(0, "NAMESPACE");
        rows.into_iter()
            .zip(items)
            .map(|(mut row, item)| {
                row.insert(0, text(&item["metadata"]["namespace"]));
                row
            })
            .collect()
    } else {
        rows
    };
    output::table(&header, &rows)
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub async fn describe(global: &Global, kind: &str, name: &str) -> anyhow::Result<()> {
    let client = AdminClient::new(&global.server);
    let kinds = kinds_for(kind)?;
    let mut found = None;
    for kind in kinds {
        if let Ok(value) = client.get(kind.plural(), &global.namespace, name).await {
            found = Some(value);
            break;
        }
    }
    let value = found.with_context(|| format!("{kind} {}/{name} not found", global.namespace))?;
    print!("{}", describe_text(&value));
    Ok(())
}

/// A human-readable description: identity, spec as YAML, then status with conditions.
fn describe_text(value: &Value) -> String {
    let meta = &value["metadata"];
    let mut out = format!(
        "Name:         {}\nNamespace:    {}\nKind:         {} ({})\nCreated:      {} ({} ago)\n",
        text(&meta["name"]),
        text(&meta["namespace"]),
        text(&value["kind"]),
        text(&value["apiVersion"]),
        text(&meta["creationTimestamp"]),
        output::age(meta["creationTimestamp"].as_str()),
    );
    for (title, field) in [("Labels", "labels"), ("Annotations", "annotations")] {
        if let Some(map) = meta[field].as_object().filter(|m| !m.is_empty()) {
            out.push_str(&format!("{title}:\n"));
            for (k, v) in map {
                out.push_str(&format!("  {k}={}\n", text(v)));
            }
        }
    }
    out.push_str("Spec:\n");
    let spec = serde_yaml_ng::to_string(&value["spec"]).unwrap_or_default();
    for line in spec.lines() {
        out.push_str(&format!("  {line}\n"));
    }
    let status = &value["status"];
    if let Some(object) = status.as_object() {
        out.push_str("Status:\n");
        for (key, figure) in object {
            if key != "conditions" {
                out.push_str(&format!("  {key}: {}\n", text(figure)));
            }
        }
        if let Some(conditions) = status["conditions"].as_array() {
            out.push_str("Conditions:\n");
            let rows: Vec<Vec<String>> = conditions
                .iter()
                .map(|c| {
                    vec![
                        text(&c["type"]),
                        text(&c["status"]),
                        text(&c["reason"]),
                        text(&c["message"]),
                        output::age(c["lastTransitionTime"].as_str()),
                    ]
                })
                .collect();
            for line in
                output::table(&["TYPE", "STATUS", "REASON", "MESSAGE", "AGE"], &rows).lines()
            {
                out.push_str(&format!("  {line}\n"));
            }
        }
    }
    out
}

pub async fn delete(
    global: &Global,
    kind: Option<&str>,
    name: Option<&str>,
    file: Option<&Path>,
) -> anyhow::Result<()> {
    let client = AdminClient::new(&global.server);
    let targets: Vec<(Kind, String, String)> = match (kind, name, file) {
        (_, _, Some(file)) => manifests(file)?
            .into_iter()
            .map(|(_, v)| {
                let kind = Kind::from_name(v["kind"].as_str().unwrap_or(""))
                    .context("manifest without a known kind")?;
                let ns = v["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or(&global.namespace)
                    .to_string();
                Ok((kind, ns, text(&v["metadata"]["name"])))
            })
            .collect::<anyhow::Result<_>>()?,
        (Some(kind), Some(name), None) => {
            let kind =
                Kind::from_name(kind).with_context(|| format!("unknown resource type {kind:?}"))?;
            vec![(kind, global.namespace.clone(), name.to_string())]
        }
        _ => bail!("give a kind and a name (herald delete trigger NAME) or -f FILE"),
    };
    for (kind, namespace, name) in targets {
        client.delete(kind.plural(), &namespace, &name).await?;
        println!(
            "{} {namespace}/{name} deleted",
            kind.to_string().to_lowercase()
        );
    }
    Ok(())
}
