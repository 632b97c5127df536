//! The attribute rules `Event::validate` enforces (names, required attributes, typed values).

use chrono::DateTime;

use super::{AttrValue, Event, EventError, SpecVersion};
use crate::media_type;

/// Reason given for a missing required attribute.
pub(crate) const MISSING: &str = "required attribute is missing";

const REQUIRED: [&str; 4] = ["specversion", "id", "source", "type"];

pub(super) fn validate(event: &Event) -> Result<(), EventError> {
    for required in REQUIRED {
        if event.get(required).is_none() {
            return Err(EventError::new(required, MISSING));
        }
    }
    let schema_attribute = event.specversion().schema_attribute();
    for (name, value) in event.attributes() {
        check_name(name)?;
        let fail = |reason: String| Err(EventError::new(name, reason));
        match name {
            "specversion" => {
                let version: SpecVersion = non_empty_string(name, value)?.parse()?;
                if version != event.specversion() {
                    return fail(format!(
                        "value `{version}` does not match the event's spec version {}",
                        event.specversion()
                    ));
                }
            }
            "id" | "source" | "type" | "subject" => {
                non_empty_string(name, value)?;
            }
            "time" => {
                let time = string(name, value)?;
                if let Err(e) = DateTime::parse_from_rfc3339(time) {
                    return fail(format!("`{time}` is not an RFC 3339 timestamp ({e})"));
                }
            }
            "datacontenttype" => {
                let media_type = string(name, value)?;
                if !media_type::is_valid(media_type) {
                    return fail(format!(
                        "`{media_type}` is not a media type such as `application/json`"
                    ));
                }
            }
            _ if name == schema_attribute => {
                let uri = string(name, value)?;
                if !is_absolute_uri(uri) {
                    return fail(format!(
                        "`{uri}` is not an absolute URI (a scheme followed by `:`)"
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Attribute names: non-empty, only `[a-z0-9]`, and not the reserved data member names.
fn check_name(name: &str) -> Result<(), EventError> {
    if name.is_empty() {
        return Err(EventError::new(name, "attribute names must not be empty"));
    }
    if name == "data" || name == "data_base64" {
        return Err(EventError::new(
            name,
            "this name is reserved for event data and cannot be an attribute",
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return Err(EventError::new(
            name,
            "attribute names may only contain lower-case letters a-z and digits 0-9",
        ));
    }
    Ok(())
}

fn string<'a>(name: &str, value: &'a AttrValue) -> Result<&'a str, EventError> {
    value.as_str().ok_or_else(|| {
        EventError::new(
            name,
            format!("must be a string, not {} `{value}`", value.type_name()),
        )
    })
}

fn non_empty_string<'a>(name: &str, value: &'a AttrValue) -> Result<&'a str, EventError> {
    let s = string(name, value)?;
    if s.is_empty() {
        return Err(EventError::new(name, "must be a non-empty string"));
    }
    Ok(s)
}

/// RFC 3986 absolute URI check: `scheme ":" rest`, where scheme is
/// `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )` and the rest has no whitespace or controls.
fn is_absolute_uri(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return false;
    };
    let mut scheme_bytes = scheme.bytes();
    let scheme_ok = scheme_bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && scheme_bytes.all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.');
    scheme_ok && !rest.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AttrValue;

    fn event(version: SpecVersion) -> Event {
        Event::new(version, "1", "/src", "com.example")
    }

    fn error_for(mut event: Event, name: &str, value: AttrValue) -> EventError {
        event.set(name.to_owned(), value);
        event.validate().expect_err("must be rejected")
    }

    #[test]
    fn minimal_events_are_valid() {
        event(SpecVersion::V10).validate().unwrap();
        event(SpecVersion::V03).validate().unwrap();
    }

    #[test]
    fn required_attributes_must_be_present_non_empty_strings() {
        for name in REQUIRED {
            let mut e = event(SpecVersion::V10);
            e.remove(name);
            let err = e.validate().unwrap_err();
            assert_eq!(
                (err.attribute.as_str(), err.reason.as_str()),
                (name, MISSING)
            );

            let err = error_for(event(SpecVersion::V10), name, "".into());
            assert_eq!(err.attribute, name);

            let err = error_for(event(SpecVersion::V10), name, AttrValue::Integer(3));
            assert_eq!(err.attribute, name);
            assert!(err.reason.contains("must be a string"), "{err}");
        }
    }

    #[test]
    fn names_are_checked() {
        for bad in [
            "",
            "Upper",
            "with-dash",
            "under_score",
            "ünï",
            "data",
            "data_base64",
        ] {
            let err = error_for(event(SpecVersion::V10), bad, "x".into());
            assert_eq!(err.attribute, bad);
        }
        event(SpecVersion::V10)
            .tap_set("abc123", AttrValue::Boolean(true))
            .validate()
            .unwrap();
    }

    #[test]
    fn time_must_be_rfc3339() {
        let ok = [
            "2018-04-05T17:31:00Z",
            "2018-04-05T17:31:00.123456789+02:00",
            "1985-04-12t23:20:50.52z",
        ];
        for t in ok {
            event(SpecVersion::V10)
                .tap_set("time", t.into())
                .validate()
                .unwrap();
        }
        for t in [
            "2018-04-05",
            "yesterday",
            "2018-04-05T17:31:00",
            "2018-13-05T17:31:00Z",
        ] {
            let err = error_for(event(SpecVersion::V10), "time", t.into());
            assert_eq!(err.attribute, "time", "{t}");
        }
        let err = error_for(event(SpecVersion::V10), "time", AttrValue::Integer(0));
        assert_eq!(err.attribute, "time");
    }

    #[test]
    fn schema_attribute_depends_on_version() {
        let err = error_for(event(SpecVersion::V10), "dataschema", "/relative".into());
        assert_eq!(err.attribute, "dataschema");
        let err = error_for(event(SpecVersion::V03), "schemaurl", "no scheme".into());
        assert_eq!(err.attribute, "schemaurl");
        // The other version's name is an ordinary extension.
        event(SpecVersion::V10)
            .tap_set("schemaurl", "/relative".into())
            .validate()
            .unwrap();
        event(SpecVersion::V03)
            .tap_set("dataschema", "/relative".into())
            .validate()
            .unwrap();
        for uri in [
            "https://example.com/schema",
            "urn:uuid:6e8bc430",
            "x+y.z-1:path",
        ] {
            event(SpecVersion::V10)
                .tap_set("dataschema", uri.into())
                .validate()
                .unwrap();
        }
        for uri in ["", ":x", "1http://x", "http://a b", "ht tp://x"] {
            let err = error_for(event(SpecVersion::V10), "dataschema", uri.into());
            assert_eq!(err.attribute, "dataschema", "{uri}");
        }
    }

    #[test]
    fn datacontenttype_and_subject() {
        event(SpecVersion::V10)
            .tap_set("datacontenttype", "application/json; charset=utf-8".into())
            .validate()
            .unwrap();
        let err = error_for(event(SpecVersion::V10), "datacontenttype", "json".into());
        assert_eq!(err.attribute, "datacontenttype");
        let err = error_for(event(SpecVersion::V10), "subject", "".into());
        assert_eq!(err.attribute, "subject");
    }

    trait TapSet {
        fn tap_set(self, name: &str, value: AttrValue) -> Self;
    }

    impl TapSet for Event {
        fn tap_set(mut self, name: &str, value: AttrValue) -> Self {
            self.set(name.to_owned(), value);
            self
        }
    }
}
