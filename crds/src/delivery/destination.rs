//! [`Destination`]: where events go (Knative `duck/v1` Destination: `ref`, `uri`, `CACerts`,
//! `audience`), with Knative's validation rules.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::meta::KReference;
use crate::validation::{self, ValidationErrors};

/// An addressable target: a reference to a resource, a URI, or a reference plus a URI relative to
/// its address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    /// Resource whose address is the target. Its namespace defaults to the holder's namespace.
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub r#ref: Option<KReference>,
    /// Absolute `http`/`https` URL, or a path relative to the address of `ref`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// PEM-encoded CA certificates to trust when calling the target.
    #[serde(rename = "CACerts", default, skip_serializing_if = "Option::is_none")]
    pub ca_certs: Option<String>,
    /// OIDC audience of the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
}

impl Destination {
    /// A destination that is just a URI.
    pub fn from_uri(uri: impl Into<String>) -> Self {
        Self {
            uri: Some(uri.into()),
            ..Self::default()
        }
    }

    /// A destination that is just a reference.
    pub fn from_ref(reference: KReference) -> Self {
        Self {
            r#ref: Some(reference),
            ..Self::default()
        }
    }

    /// True when neither `ref` nor `uri` is set.
    pub fn is_empty(&self) -> bool {
        self.r#ref.is_none() && self.uri.as_deref().is_none_or(str::is_empty)
    }

    /// Fills `ref.namespace` with the holder's namespace when unset.
    pub fn default_namespace(&mut self, parent_namespace: &str) {
        if let Some(reference) = &mut self.r#ref {
            reference.default_namespace(parent_namespace);
        }
    }

    /// Knative's rules: at least one of `ref`/`uri`; no absolute `uri` together with `ref`; without
    /// `ref` the `uri` must be an absolute `http`/`https` URL with a host; `ref` needs `apiVersion`,
    /// `kind`, `name`; `CACerts` must be PEM certificates.
    pub fn validate(&self, path: &str, errs: &mut ValidationErrors) {
        let uri = self.uri.as_deref().filter(|u| !u.is_empty());
        match (&self.r#ref, uri) {
            (None, None) => errs.push(
                path,
                "expected at least one of ref, uri; got neither (missing field)",
            ),
            (Some(reference), Some(uri)) => {
                if url::Url::parse(uri).is_ok() {
                    errs.push(path, "absolute URI is not allowed when ref is present");
                }
                reference.validate(&validation::field(path, "ref"), errs);
            }
            (Some(reference), None) => reference.validate(&validation::field(path, "ref"), errs),
            (None, Some(uri)) => {
                if let Err(message) = check_http_url(uri) {
                    errs.push(validation::field(path, "uri"), message);
                }
            }
        }
        if let Some(pem) = &self.ca_certs
            && let Err(reason) = check_pem_certificates(pem)
        {
            errs.push(
                validation::field(path, "CACerts"),
                format!("invalid value: CA certs must be PEM-encoded X.509 certificates: {reason}"),
            );
        }
    }
}

/// Checks that `uri` is an absolute `http`/`https` URL with a host.
pub fn check_http_url(uri: &str) -> Result<(), String> {
    match url::Url::parse(uri) {
        Err(url::ParseError::RelativeUrlWithoutBase) => Err(format!(
            "invalid value {uri:?}: relative URI is not allowed when ref is absent"
        )),
        Err(e) => Err(format!("invalid value {uri:?}: {e}")),
        Ok(url) if !matches!(url.scheme(), "http" | "https") => Err(format!(
            "invalid value {uri:?}: scheme must be http or https, not {:?}",
            url.scheme()
        )),
        Ok(url) if url.host_str().is_none_or(str::is_empty) => {
            Err(format!("invalid value {uri:?}: URL has no host"))
        }
        Ok(_) => Ok(()),
    }
}

/// Checks that `pem` holds one or more `CERTIFICATE` blocks whose bodies are base64 DER.
fn check_pem_certificates(pem: &str) -> Result<(), String> {
    const BEGIN: &str = "-----BEGIN ";
    const END: &str = "-----END ";
    let mut count = 0;
    let mut lines = pem.lines().map(str::trim).filter(|l| !l.is_empty());
    while let Some(line) = lines.next() {
        let label = line
            .strip_prefix(BEGIN)
            .and_then(|l| l.strip_suffix("-----"))
            .ok_or_else(|| format!("expected a PEM BEGIN line, found {line:?}"))?;
        if label != "CERTIFICATE" {
            return Err(format!("PEM block {label:?} is not a CERTIFICATE"));
        }
        let mut body = String::new();
        let mut closed = false;
        for line in lines.by_ref() {
            if line.starts_with(END) {
                closed = true;
                break;
            }
            body.push_str(line);
        }
        if !closed {
            return Err("PEM block has no END line".to_string());
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|e| format!("certificate body is not base64: {e}"))?;
        if der.first() != Some(&0x30) {
            return Err("certificate body is not DER".to_string());
        }
        count += 1;
    }
    if count == 0 {
        return Err("no certificate found".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(d: &Destination) -> ValidationErrors {
        let mut errs = ValidationErrors::new();
        d.validate("spec.subscriber", &mut errs);
        errs
    }

    #[test]
    fn uri_rules() {
        assert!(errors(&Destination::from_uri("http://svc.ns/path")).is_empty());
        assert!(errors(&Destination::from_uri("https://example.com")).is_empty());
        let e = errors(&Destination::from_uri("/relative"));
        assert_eq!(e.0[0].field, "spec.subscriber.uri");
        assert_eq!(
            e.0[0].message,
            "invalid value \"/relative\": relative URI is not allowed when ref is absent"
        );
        let e = errors(&Destination::from_uri("ftp://x/"));
        assert!(e.0[0].message.contains("scheme must be http or https"));
        let e = errors(&Destination::default());
        assert_eq!(e.0[0].field, "spec.subscriber");
        assert!(
            e.0[0]
                .message
                .starts_with("expected at least one of ref, uri")
        );
    }

    #[test]
    fn ref_rules() {
        let mut d = Destination::from_ref(KReference::new("v1", "Service", "svc"));
        assert!(errors(&d).is_empty());
        d.uri = Some("/extra/path".into());
        assert!(errors(&d).is_empty(), "relative uri with ref is allowed");
        d.uri = Some("http://abs/".into());
        let e = errors(&d);
        assert_eq!(e.0[0].field, "spec.subscriber");
        assert_eq!(
            e.0[0].message,
            "absolute URI is not allowed when ref is present"
        );
        let e = errors(&Destination::from_ref(KReference::default()));
        let fields: Vec<_> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.subscriber.ref.apiVersion",
                "spec.subscriber.ref.kind",
                "spec.subscriber.ref.name"
            ]
        );
    }

    #[test]
    fn ca_certs_must_be_pem() {
        let mut d = Destination::from_uri("https://x");
        d.ca_certs = Some("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into());
        assert!(errors(&d).is_empty());
        d.ca_certs = Some("not a cert".into());
        let e = errors(&d);
        assert_eq!(e.0[0].field, "spec.subscriber.CACerts");
        assert!(e.0[0].message.contains("expected a PEM BEGIN line"));
        d.ca_certs = Some("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----".into());
        assert!(errors(&d).0[0].message.contains("is not a CERTIFICATE"));
        d.ca_certs = Some("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----".into());
        assert!(errors(&d).0[0].message.contains("not base64"));
    }

    #[test]
    fn serde_field_names() {
        let d: Destination = serde_json::from_value(serde_json::json!({
            "ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "s"},
            "uri": "/p", "CACerts": "pem", "audience": "aud"
        }))
        .unwrap();
        assert_eq!(d.r#ref.as_ref().unwrap().kind, "Service");
        assert_eq!(d.ca_certs.as_deref(), Some("pem"));
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["CACerts"], "pem");
        assert_eq!(v["ref"]["apiVersion"], "serving.knative.dev/v1");
    }
}
