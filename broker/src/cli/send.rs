//! `herald send`: builds a CloudEvent from flags, POSTs it to a broker's ingress (found through
//! the admin API, or given with `--url`) and prints the answer.

use super::Global;
use super::client::AdminClient;
use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Args;
use herald_cloudevent::{AttrValue, Data, Event, SpecVersion, attr_name, http as ce_http};

#[derive(Debug, Args)]
pub struct SendArgs {
    /// The broker to send to.
    #[arg(long, default_value = "default")]
    pub broker: String,
    /// The event's `type`.
    #[arg(long = "type")]
    pub ty: String,
    /// The event's `source`.
    #[arg(long)]
    pub source: String,
    /// The event's `id` (a fresh UUID when omitted).
    #[arg(long)]
    pub id: Option<String>,
    /// The event's `subject`.
    #[arg(long)]
    pub subject: Option<String>,
    /// JSON data (sent with datacontenttype application/json).
    #[arg(long)]
    pub data: Option<String>,
    /// An extension attribute, `name=value` (repeatable).
    #[arg(long = "extension", short = 'e')]
    pub extensions: Vec<String>,
    /// Send in structured mode instead of binary.
    #[arg(long)]
    pub structured: bool,
    /// POST to this URL instead of looking the broker up.
    #[arg(long)]
    pub url: Option<String>,
    #[command(flatten)]
    pub global: Global,
}

/// Builds the event the flags describe.
pub fn build_event(args: &SendArgs) -> anyhow::Result<Event> {
    let id = args
        .id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let mut event = Event::new(SpecVersion::V10, id, &args.source, &args.ty);
    if let Some(subject) = &args.subject {
        event.set("subject", AttrValue::String(subject.clone()));
    }
    if let Some(data) = &args.data {
        serde_json::from_str::<serde_json::Value>(data).context("--data must be JSON")?;
        event.set(
            "datacontenttype",
            AttrValue::String("application/json".into()),
        );
        event.set_data(Some(Data::Binary(Bytes::from(data.clone()))));
    }
    for extension in &args.extensions {
        let Some((name, value)) = extension.split_once('=') else {
            bail!("--extension takes name=value, got {extension:?}");
        };
        event.set(attr_name(name), AttrValue::String(value.to_string()));
    }
    event.validate().context("the event is not valid")?;
    Ok(event)
}

pub async fn send(args: SendArgs) -> anyhow::Result<()> {
    let event = build_event(&args)?;
    let url = match &args.url {
        Some(url) => url.clone(),
        None => {
            let broker = AdminClient::new(&args.global.server)
                .get("brokers", &args.global.namespace, &args.broker)
                .await?;
            broker["status"]["address"]["url"]
                .as_str()
                .with_context(|| format!("broker {} has no address yet", args.broker))?
                .to_string()
        }
    };
    let (headers, body) = if args.structured {
        ce_http::encode_structured(&event)
    } else {
        ce_http::encode_binary(&event)
    };
    let response = reqwest::Client::new()
        .post(&url)
        .headers(headers)
        .body(body)
        .send()
        .await
        .with_context(|| format!("cannot reach the broker at {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    println!(
        "{} {} (event id {})",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        event.id()
    );
    if !text.is_empty() {
        println!("{text}");
    }
    if !status.is_success() {
        bail!("the broker refused the event");
    }
    Ok(())
}
