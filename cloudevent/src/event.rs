//! The in-memory CloudEvent: spec version, typed attributes in arrival order, and raw data.
//!
//! Attribute values keep the exact string form they arrived with (`time` is not re-parsed into a
//! timestamp, URIs are not normalised) and data keeps its exact bytes, so every encoding can
//! reproduce what was received.

mod validate;

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use bytes::Bytes;

/// A CloudEvents specification version Herald understands. Events keep the version they arrived
/// with; Herald never upgrades a 0.3 event to 1.0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SpecVersion {
    /// CloudEvents 0.3 (`schemaurl`, `datacontentencoding`).
    V03,
    /// CloudEvents 1.0 (`dataschema`, `data_base64`).
    V10,
}

impl SpecVersion {
    /// The `specversion` attribute value: `"0.3"` or `"1.0"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SpecVersion::V03 => "0.3",
            SpecVersion::V10 => "1.0",
        }
    }

    /// The name of the attribute holding the data schema URI in this version
    /// (`schemaurl` in 0.3, `dataschema` in 1.0).
    pub const fn schema_attribute(self) -> &'static str {
        match self {
            SpecVersion::V03 => "schemaurl",
            SpecVersion::V10 => "dataschema",
        }
    }
}

impl fmt::Display for SpecVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SpecVersion {
    type Err = EventError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "1.0" => Ok(SpecVersion::V10),
            "0.3" => Ok(SpecVersion::V03),
            other => Err(EventError::new(
                "specversion",
                format!("unsupported specversion `{other}` (supported: 1.0, 0.3)"),
            )),
        }
    }
}

impl TryFrom<&str> for SpecVersion {
    type Error = EventError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// A context attribute value.
///
/// URI, URI-reference, Timestamp and Binary typed attributes are held as [`AttrValue::String`] in
/// their string form exactly as received.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AttrValue {
    /// A String (or URI, URI-reference, Timestamp, Binary) attribute in its string form.
    String(String),
    /// An Integer attribute (the CloudEvents Integer range is exactly `i32`).
    Integer(i32),
    /// A Boolean attribute.
    Boolean(bool),
}

impl AttrValue {
    /// The string value; `None` for integers and booleans.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::String(s) => Some(s),
            AttrValue::Integer(_) | AttrValue::Boolean(_) => None,
        }
    }

    /// The CloudEvents type name of this value, for error messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            AttrValue::String(_) => "string",
            AttrValue::Integer(_) => "integer",
            AttrValue::Boolean(_) => "boolean",
        }
    }
}

/// The canonical CloudEvents string form: integers in decimal, booleans as `true`/`false`.
impl fmt::Display for AttrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrValue::String(s) => f.write_str(s),
            AttrValue::Integer(i) => write!(f, "{i}"),
            AttrValue::Boolean(b) => f.write_str(if *b { "true" } else { "false" }),
        }
    }
}

impl From<String> for AttrValue {
    fn from(value: String) -> Self {
        AttrValue::String(value)
    }
}

impl From<&str> for AttrValue {
    fn from(value: &str) -> Self {
        AttrValue::String(value.to_owned())
    }
}

impl From<i32> for AttrValue {
    fn from(value: i32) -> Self {
        AttrValue::Integer(value)
    }
}

impl From<bool> for AttrValue {
    fn from(value: bool) -> Self {
        AttrValue::Boolean(value)
    }
}

/// Event data, kept as the exact bytes that were received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Data {
    /// The raw JSON text of a structured event's `data` member, byte-exact. Must be valid JSON.
    Json(Bytes),
    /// A binary-mode body, or the decoded `data_base64` (or 0.3 base64 `data`).
    Binary(Bytes),
}

impl Data {
    /// The stored bytes (JSON text for [`Data::Json`]).
    pub fn bytes(&self) -> &Bytes {
        match self {
            Data::Json(b) | Data::Binary(b) => b,
        }
    }
}

/// A validation failure, naming the offending attribute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("attribute `{attribute}`: {reason}")]
pub struct EventError {
    /// The attribute (or data member such as `data_base64`) at fault.
    pub attribute: String,
    /// What is wrong with it.
    pub reason: String,
}

impl EventError {
    /// Builds an error for `attribute`.
    pub fn new(attribute: impl Into<String>, reason: impl Into<String>) -> EventError {
        EventError {
            attribute: attribute.into(),
            reason: reason.into(),
        }
    }
}

/// An attribute's name: borrowed from a static string for the names the specification and the
/// broker define (so decoding an event allocates nothing for them), owned for the rest.
pub type AttrName = Cow<'static, str>;

/// Names kept as static strings when decoded, besides the record format's well-known ones.
const OTHER_STATIC_NAMES: [&str; 1] = ["knativebrokerttl"];

/// `name` as an [`AttrName`]: static when it is a well-known name, copied otherwise.
pub fn attr_name(name: &str) -> AttrName {
    crate::record::WELL_KNOWN
        .iter()
        .chain(&OTHER_STATIC_NAMES)
        .find(|known| **known == name)
        .map_or_else(
            || Cow::Owned(name.to_owned()),
            |known| Cow::Borrowed(*known),
        )
}

/// A CloudEvent: attributes in arrival order (including `specversion`, `id`, `source`, `type`)
/// and optional data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    specversion: SpecVersion,
    attributes: Vec<(AttrName, AttrValue)>,
    data: Option<Data>,
}

impl Event {
    /// Creates an event with the four required attributes, in the order
    /// `specversion`, `id`, `source`, `type`, and no data.
    pub fn new(
        specversion: SpecVersion,
        id: impl Into<String>,
        source: impl Into<String>,
        ty: impl Into<String>,
    ) -> Event {
        Event {
            specversion,
            attributes: vec![
                (
                    Cow::Borrowed("specversion"),
                    AttrValue::String(specversion.as_str().to_owned()),
                ),
                (Cow::Borrowed("id"), AttrValue::String(id.into())),
                (Cow::Borrowed("source"), AttrValue::String(source.into())),
                (Cow::Borrowed("type"), AttrValue::String(ty.into())),
            ],
            data: None,
        }
    }

    /// Builds an event from decoded attributes: rejects duplicate names, reads the spec version
    /// from the `specversion` attribute and validates the result.
    pub(crate) fn from_decoded(
        attributes: Vec<(AttrName, AttrValue)>,
        data: Option<Data>,
    ) -> Result<Event, EventError> {
        if let Some(name) = find_duplicate(&attributes) {
            return Err(EventError::new(name, "attribute appears more than once"));
        }
        let specversion = spec_version_of(&attributes)?;
        let event = Event {
            specversion,
            attributes,
            data,
        };
        event.validate()?;
        Ok(event)
    }

    /// Builds an event without any checks; the record decoder uses it for events that were
    /// validated before they were stored.
    pub(crate) fn from_parts(
        specversion: SpecVersion,
        attributes: Vec<(AttrName, AttrValue)>,
        data: Option<Data>,
    ) -> Event {
        Event {
            specversion,
            attributes,
            data,
        }
    }

    /// The spec version the event was created or received with.
    pub fn specversion(&self) -> SpecVersion {
        self.specversion
    }

    /// The `id` attribute (empty if absent or not a string, which `validate` rejects).
    pub fn id(&self) -> &str {
        self.get_str("id").unwrap_or_default()
    }

    /// The `source` attribute (empty if absent or not a string, which `validate` rejects).
    pub fn source(&self) -> &str {
        self.get_str("source").unwrap_or_default()
    }

    /// The `type` attribute (empty if absent or not a string, which `validate` rejects).
    pub fn ty(&self) -> &str {
        self.get_str("type").unwrap_or_default()
    }

    /// The `datacontenttype` attribute, if present and a string.
    pub fn datacontenttype(&self) -> Option<&str> {
        self.get_str("datacontenttype")
    }

    /// Any attribute, including `specversion`, `id`, `source` and `type`.
    pub fn get(&self, name: &str) -> Option<&AttrValue> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// The attribute's value when it is a string.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(AttrValue::as_str)
    }

    /// Inserts an attribute at the end, or replaces an existing one in place. Setting
    /// `specversion` to `"0.3"` or `"1.0"` also switches [`Event::specversion`]; any other value
    /// is stored as given and rejected by [`Event::validate`].
    pub fn set(&mut self, name: impl Into<AttrName>, value: AttrValue) {
        let name = name.into();
        if name == "specversion"
            && let Some(version) = value.as_str().and_then(|v| v.parse().ok())
        {
            self.specversion = version;
        }
        match self.attributes.iter_mut().find(|(n, _)| *n == name) {
            Some((_, slot)) => *slot = value,
            None => self.attributes.push((name, value)),
        }
    }

    /// Removes an attribute, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<AttrValue> {
        let index = self.attributes.iter().position(|(n, _)| n == name)?;
        Some(self.attributes.remove(index).1)
    }

    /// All attributes, in order.
    pub fn attributes(&self) -> impl Iterator<Item = (&str, &AttrValue)> {
        self.attributes.iter().map(|(n, v)| (n.as_ref(), v))
    }

    /// Number of attributes, including the required ones.
    pub fn attribute_count(&self) -> usize {
        self.attributes.len()
    }

    /// The event data.
    pub fn data(&self) -> Option<&Data> {
        self.data.as_ref()
    }

    /// Replaces the event data.
    pub fn set_data(&mut self, data: Option<Data>) {
        self.data = data;
    }

    /// Checks the event against the CloudEvents rules Herald enforces: required `specversion`,
    /// `id`, `source`, `type` are non-empty strings; names are `[a-z0-9]+` and not `data`;
    /// `time` is RFC 3339; `dataschema` (1.0) / `schemaurl` (0.3) is an absolute URI;
    /// `datacontenttype` is a media type; `subject` is a non-empty string.
    pub fn validate(&self) -> Result<(), EventError> {
        validate::validate(self)
    }
}

/// Reads and parses the `specversion` attribute of decoded attributes.
fn spec_version_of(attributes: &[(AttrName, AttrValue)]) -> Result<SpecVersion, EventError> {
    match attributes.iter().find(|(n, _)| n == "specversion") {
        None => Err(EventError::new("specversion", validate::MISSING)),
        Some((_, AttrValue::String(v))) => v.parse(),
        Some((_, other)) => Err(EventError::new(
            "specversion",
            format!("must be a string, not {}", other.type_name()),
        )),
    }
}

/// The first name that occurs twice. Quadratic for the usual handful of attributes, sort-based
/// for large (possibly hostile) inputs.
fn find_duplicate(attributes: &[(AttrName, AttrValue)]) -> Option<&str> {
    if attributes.len() <= 16 {
        return attributes.iter().enumerate().find_map(|(i, (name, _))| {
            attributes[..i]
                .iter()
                .any(|(earlier, _)| earlier == name)
                .then_some(name.as_ref())
        });
    }
    let mut names: Vec<&str> = attributes.iter().map(|(n, _)| n.as_ref()).collect();
    names.sort_unstable();
    names.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_orders_required_attributes() {
        let event = Event::new(SpecVersion::V03, "1", "/src", "t");
        let names: Vec<&str> = event.attributes().map(|(n, _)| n).collect();
        assert_eq!(names, ["specversion", "id", "source", "type"]);
        assert_eq!(event.get_str("specversion"), Some("0.3"));
        assert_eq!(event.specversion(), SpecVersion::V03);
        assert_eq!((event.id(), event.source(), event.ty()), ("1", "/src", "t"));
    }

    #[test]
    fn set_replaces_in_place_and_appends_new() {
        let mut event = Event::new(SpecVersion::V10, "1", "/src", "t");
        event.set("ext", AttrValue::Integer(5));
        event.set("id", "2".into());
        let attrs: Vec<(&str, String)> = event
            .attributes()
            .map(|(n, v)| (n, v.to_string()))
            .collect();
        assert_eq!(
            attrs,
            [
                ("specversion", "1.0"),
                ("id", "2"),
                ("source", "/src"),
                ("type", "t"),
                ("ext", "5")
            ]
            .map(|(n, v)| (n, v.to_owned()))
        );
        assert_eq!(event.remove("ext"), Some(AttrValue::Integer(5)));
        assert_eq!(event.get("ext"), None);
        assert_eq!(event.remove("ext"), None);
    }

    #[test]
    fn set_specversion_switches_version() {
        let mut event = Event::new(SpecVersion::V10, "1", "/src", "t");
        event.set("specversion", "0.3".into());
        assert_eq!(event.specversion(), SpecVersion::V03);
        event.set("specversion", "9.9".into());
        assert_eq!(event.specversion(), SpecVersion::V03);
        assert_eq!(event.validate().unwrap_err().attribute, "specversion");
    }

    #[test]
    fn display_is_canonical() {
        assert_eq!(AttrValue::Integer(-42).to_string(), "-42");
        assert_eq!(AttrValue::Boolean(true).to_string(), "true");
        assert_eq!(AttrValue::Boolean(false).to_string(), "false");
        assert_eq!(AttrValue::from("x y").to_string(), "x y");
        assert_eq!(AttrValue::Integer(1).as_str(), None);
    }

    #[test]
    fn spec_version_parsing() {
        assert_eq!("1.0".parse::<SpecVersion>(), Ok(SpecVersion::V10));
        assert_eq!(SpecVersion::try_from("0.3"), Ok(SpecVersion::V03));
        assert_eq!(
            "1.1".parse::<SpecVersion>().unwrap_err().attribute,
            "specversion"
        );
        assert_eq!(SpecVersion::V03.to_string(), "0.3");
    }

    #[test]
    fn duplicates_are_found_small_and_large() {
        let mut attrs: Vec<(AttrName, AttrValue)> = (0..40)
            .map(|i| (Cow::Owned(format!("a{i}")), AttrValue::Integer(i)))
            .collect();
        assert_eq!(find_duplicate(&attrs), None);
        assert_eq!(find_duplicate(&attrs[..5]), None);
        attrs.push((Cow::Borrowed("a7"), AttrValue::Boolean(true)));
        assert_eq!(find_duplicate(&attrs), Some("a7"));
        let small = vec![
            (Cow::Borrowed("x"), AttrValue::Integer(1)),
            (Cow::Borrowed("x"), AttrValue::Integer(2)),
        ];
        assert_eq!(find_duplicate(&small), Some("x"));
    }

    #[test]
    fn from_decoded_reports_duplicates_and_missing_specversion() {
        let dup = vec![
            (Cow::Borrowed("specversion"), AttrValue::from("1.0")),
            (Cow::Borrowed("id"), AttrValue::from("1")),
            (Cow::Borrowed("id"), AttrValue::from("2")),
        ];
        let err = Event::from_decoded(dup, None).unwrap_err();
        assert_eq!(err.attribute, "id");
        assert!(err.reason.contains("more than once"));
        let err = Event::from_decoded(vec![(Cow::Borrowed("id"), "1".into())], None).unwrap_err();
        assert_eq!(err.attribute, "specversion");
        let err = Event::from_decoded(
            vec![(Cow::Borrowed("specversion"), AttrValue::Integer(1))],
            None,
        )
        .unwrap_err();
        assert_eq!(err.attribute, "specversion");
        assert!(err.reason.contains("integer"), "{err}");
    }
}
