//! Reading credentials: a [`SecretValueFromSource`] resolved to its value. `secretKeyRef`
//! reads `{secrets_dir}/{name}/{key}` (a Kubernetes secret volume layout), `file` reads the
//! file, `env` the process environment, `value` is the value itself. File contents lose one
//! trailing newline (`\n` or `\r\n`).

use std::path::Path;

use herald_crds::sources::{SecretSource, SecretValueFromSource};

/// Why a credential could not be read. The message never contains the credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("secretKeyRef {name}/{key} needs a secrets directory, and none was configured")]
    NoSecretsDir { name: String, key: String },
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("environment variable {0} is not set (or not valid UTF-8)")]
    MissingEnv(String),
    #[error("several sources are set; expected exactly one of secretKeyRef, file, env, value")]
    Ambiguous,
}

/// The value of `secret`; `Ok(None)` when it is empty (`{}`) or an optional `secretKeyRef` whose
/// file does not exist.
pub(crate) fn resolve(
    secret: &SecretValueFromSource,
    secrets_dir: Option<&Path>,
) -> Result<Option<String>, SecretError> {
    if secret.is_empty() {
        return Ok(None);
    }
    match secret.source().ok_or(SecretError::Ambiguous)? {
        SecretSource::Value(value) => Ok(Some(value.to_owned())),
        SecretSource::Env(var) => std::env::var(var)
            .map(Some)
            .map_err(|_| SecretError::MissingEnv(var.to_owned())),
        SecretSource::File(path) => read(Path::new(path)).map(Some),
        SecretSource::SecretKeyRef(selector) => {
            let dir = secrets_dir.ok_or_else(|| SecretError::NoSecretsDir {
                name: selector.name.clone(),
                key: selector.key.clone(),
            })?;
            let path = dir.join(&selector.name).join(&selector.key);
            if selector.optional == Some(true) && !path.exists() {
                return Ok(None);
            }
            read(&path).map(Some)
        }
    }
}

fn read(path: &Path) -> Result<String, SecretError> {
    let mut text = std::fs::read_to_string(path).map_err(|e| SecretError::Unreadable {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use herald_crds::sources::SecretKeySelector;

    use super::*;

    fn key_ref(name: &str, key: &str, optional: Option<bool>) -> SecretValueFromSource {
        SecretValueFromSource {
            secret_key_ref: Some(SecretKeySelector {
                name: name.into(),
                key: key.into(),
                optional,
            }),
            ..SecretValueFromSource::default()
        }
    }

    #[test]
    fn every_source_resolves() {
        let dir = std::env::temp_dir().join(format!("herald-secret-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("kafka")).unwrap();
        std::fs::write(dir.join("kafka/password"), "s3cret\r\n").unwrap();

        assert_eq!(
            resolve(&key_ref("kafka", "password", None), Some(&dir)).unwrap(),
            Some("s3cret".to_owned())
        );
        assert_eq!(
            resolve(&key_ref("kafka", "absent", Some(true)), Some(&dir)).unwrap(),
            None
        );
        assert!(matches!(
            resolve(&key_ref("kafka", "absent", None), Some(&dir)),
            Err(SecretError::Unreadable { .. })
        ));
        assert!(matches!(
            resolve(&key_ref("kafka", "password", None), None),
            Err(SecretError::NoSecretsDir { .. })
        ));
        let file = SecretValueFromSource {
            file: Some(dir.join("kafka/password").display().to_string()),
            ..SecretValueFromSource::default()
        };
        assert_eq!(resolve(&file, None).unwrap(), Some("s3cret".to_owned()));
        let env = SecretValueFromSource {
            env: Some("HERALD_SURELY_UNSET_VARIABLE".into()),
            ..SecretValueFromSource::default()
        };
        assert_eq!(
            resolve(&env, None),
            Err(SecretError::MissingEnv(
                "HERALD_SURELY_UNSET_VARIABLE".into()
            ))
        );
        let value = SecretValueFromSource::from_value("inline");
        assert_eq!(resolve(&value, None).unwrap(), Some("inline".to_owned()));
        assert_eq!(
            resolve(&SecretValueFromSource::default(), None).unwrap(),
            None
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
