//! A small client for the admin API, with errors that carry the server's JSON message.

use anyhow::{Context, bail};
use serde_json::Value;

/// Talks to one Herald's admin API.
pub struct AdminClient {
    base: String,
    http: reqwest::Client,
}

impl AdminClient {
    pub fn new(server: &str) -> AdminClient {
        AdminClient {
            base: server.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
        }
    }

    /// Applies one resource; returns it as stored and whether it was created.
    pub async fn apply(&self, resource: &Value) -> anyhow::Result<(Value, bool)> {
        let response = self
            .http
            .post(format!("{}/api/v1/apply", self.base))
            .json(resource)
            .send()
            .await
            .with_context(|| format!("cannot reach Herald at {}", self.base))?;
        let created = response.status() == reqwest::StatusCode::CREATED;
        Ok((Self::json(response).await?, created))
    }

    pub async fn list(&self, plural: &str, namespace: Option<&str>) -> anyhow::Result<Vec<Value>> {
        let url = match namespace {
            Some(ns) => format!("{}/api/v1/namespaces/{ns}/{plural}", self.base),
            None => format!("{}/api/v1/{plural}", self.base),
        };
        let body = self.get_json(&url).await?;
        Ok(body["items"].as_array().cloned().unwrap_or_default())
    }

    pub async fn get(&self, plural: &str, namespace: &str, name: &str) -> anyhow::Result<Value> {
        self.get_json(&format!(
            "{}/api/v1/namespaces/{namespace}/{plural}/{name}",
            self.base
        ))
        .await
    }

    pub async fn delete(&self, plural: &str, namespace: &str, name: &str) -> anyhow::Result<()> {
        let response = self
            .http
            .delete(format!(
                "{}/api/v1/namespaces/{namespace}/{plural}/{name}",
                self.base
            ))
            .send()
            .await
            .with_context(|| format!("cannot reach Herald at {}", self.base))?;
        Self::json(response).await.map(drop)
    }

    /// GETs an admin API path (`/api/v1/...`) with query parameters.
    pub async fn get_path(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        self.get_json(self.url(path, query)?.as_str()).await
    }

    /// POSTs a JSON body to an admin API path.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(self.url(path, &[])?)
            .json(body)
            .send()
            .await
            .with_context(|| format!("cannot reach Herald at {}", self.base))?;
        Self::json(response).await
    }

    /// DELETEs an admin API path with query parameters.
    pub async fn delete_path(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        let response = self
            .http
            .delete(self.url(path, query)?)
            .send()
            .await
            .with_context(|| format!("cannot reach Herald at {}", self.base))?;
        Self::json(response).await
    }

    fn url(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<reqwest::Url> {
        let mut url = reqwest::Url::parse(&format!("{}{path}", self.base))
            .with_context(|| format!("invalid server address {:?}", self.base))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    async fn get_json(&self, url: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .with_context(|| format!("cannot reach Herald at {}", self.base))?;
        Self::json(response).await
    }

    async fn json(response: reqwest::Response) -> anyhow::Result<Value> {
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let message = body["error"].as_str().unwrap_or("no message");
            bail!("{message} (HTTP {})", status.as_u16());
        }
        Ok(body)
    }
}
