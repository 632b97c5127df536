//! [`IsoDuration`]: an ISO-8601 duration (`PT0.2S`, `PT1M`, `P1D`, `PT1H30M`) as used by Knative's
//! `DeliverySpec`, kept as the text the user wrote plus its parsed value.
//!
//! Accepted form: `P[nY][nM][nW][nD][T[nH][nM][nS]]`, designators in that order, each at most once,
//! with at least one component and at least one after `T`. Numbers may carry a fraction (`.` or `,`).
//! Calendar units are converted to fixed lengths: a day is 24 h, a week 7 days, a year 365.2425 days
//! and a month a twelfth of that (what Knative's period library does). Negative durations are rejected.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const NANOS_PER_SECOND: u128 = 1_000_000_000;
const SECONDS_PER_DAY: u128 = 86_400;
/// 365.2425 days, in seconds.
const SECONDS_PER_YEAR: u128 = 31_556_952;

/// An ISO-8601 duration. Serialises as the original text; equality compares the parsed length, so
/// `PT60S == PT1M`.
#[derive(Clone, Debug)]
pub struct IsoDuration {
    text: String,
    duration: Duration,
}

/// Why a string is not an ISO-8601 duration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid ISO-8601 duration {text:?}: {reason}")]
pub struct DurationError {
    /// The rejected text.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl IsoDuration {
    /// The duration as a `std` value.
    pub fn as_duration(&self) -> Duration {
        self.duration
    }

    /// The text as written (or as formatted by [`IsoDuration::from_duration`]).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True for a zero-length duration.
    pub fn is_zero(&self) -> bool {
        self.duration.is_zero()
    }

    /// Formats `duration` as `PT…H…M…S` (`PT0.2S`, `PT5M`, `PT1H30M`, `PT0S`).
    pub fn from_duration(duration: Duration) -> Self {
        let total = duration.as_secs();
        let (hours, minutes, seconds) = (total / 3600, (total % 3600) / 60, total % 60);
        let nanos = duration.subsec_nanos();
        let mut text = String::from("PT");
        if hours > 0 {
            text.push_str(&format!("{hours}H"));
        }
        if minutes > 0 {
            text.push_str(&format!("{minutes}M"));
        }
        if seconds > 0 || nanos > 0 || text == "PT" {
            text.push_str(&seconds.to_string());
            if nanos > 0 {
                let fraction = format!("{nanos:09}");
                text.push('.');
                text.push_str(fraction.trim_end_matches('0'));
            }
            text.push('S');
        }
        Self { text, duration }
    }
}

impl PartialEq for IsoDuration {
    fn eq(&self, other: &Self) -> bool {
        self.duration == other.duration
    }
}

impl Eq for IsoDuration {}

impl fmt::Display for IsoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl From<Duration> for IsoDuration {
    fn from(duration: Duration) -> Self {
        Self::from_duration(duration)
    }
}

impl FromStr for IsoDuration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |reason: &str| DurationError {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        let nanos = parse_nanos(text).map_err(fail)?;
        let secs = u64::try_from(nanos / NANOS_PER_SECOND).map_err(|_| fail("too large"))?;
        let sub = (nanos % NANOS_PER_SECOND) as u32;
        Ok(Self {
            text: text.to_string(),
            duration: Duration::new(secs, sub),
        })
    }
}

/// Parses the text into nanoseconds, or says what is wrong.
fn parse_nanos(text: &str) -> Result<u128, &'static str> {
    if text.starts_with('-') {
        return Err("negative durations are not allowed");
    }
    let body = text
        .strip_prefix('P')
        .ok_or("must start with 'P' (for example PT1S, PT0.2S, PT1M, P1D)")?;
    if body.is_empty() {
        return Err("no components after 'P'");
    }
    let (date, time) = match body.split_once('T') {
        Some((date, time)) => {
            if time.is_empty() {
                return Err("no time components after 'T'");
            }
            (date, Some(time))
        }
        None => (body, None),
    };
    const DATE_UNITS: [(char, u128); 4] = [
        ('Y', SECONDS_PER_YEAR),
        ('M', SECONDS_PER_YEAR / 12),
        ('W', 7 * SECONDS_PER_DAY),
        ('D', SECONDS_PER_DAY),
    ];
    const TIME_UNITS: [(char, u128); 3] = [('H', 3600), ('M', 60), ('S', 1)];
    let mut total = parse_components(date, &DATE_UNITS)?;
    if let Some(time) = time {
        total = total
            .checked_add(parse_components(time, &TIME_UNITS)?)
            .ok_or("too large")?;
    }
    Ok(total)
}

/// Parses `nU nU …` where each `U` comes from `units` in order; returns nanoseconds.
fn parse_components(mut rest: &str, units: &[(char, u128)]) -> Result<u128, &'static str> {
    let mut total: u128 = 0;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
            .ok_or("number without a unit designator")?;
        if number_len == 0 {
            return Err("expected a number before each unit designator");
        }
        let number = &rest[..number_len];
        let designator = rest[number_len..]
            .chars()
            .next()
            .ok_or("number without a unit designator")?;
        let position = units[next_unit..]
            .iter()
            .position(|(u, _)| *u == designator)
            .ok_or(if units.iter().any(|(u, _)| *u == designator) {
                "unit designators out of order or repeated"
            } else {
                "unknown unit designator (use Y, M, W, D before 'T' and H, M, S after it)"
            })?;
        let unit_seconds = units[next_unit + position].1;
        next_unit += position + 1;
        total = total
            .checked_add(number_nanos(number, unit_seconds)?)
            .ok_or("too large")?;
        rest = &rest[number_len + designator.len_utf8()..];
    }
    Ok(total)
}

/// `number` (digits with an optional fraction) times `unit_seconds`, in nanoseconds.
fn number_nanos(number: &str, unit_seconds: u128) -> Result<u128, &'static str> {
    let (whole, fraction) = match number.split_once(['.', ',']) {
        Some((w, f)) => (w, f),
        None => (number, ""),
    };
    if whole.is_empty() || fraction.contains(['.', ',']) || number.ends_with(['.', ',']) {
        return Err("malformed number");
    }
    if whole.len() > 20 {
        return Err("too large");
    }
    let whole: u128 = whole.parse().map_err(|_| "malformed number")?;
    let unit_nanos = unit_seconds * NANOS_PER_SECOND;
    let mut nanos = whole.checked_mul(unit_nanos).ok_or("too large")?;
    // Digits beyond nanosecond precision of the largest unit cannot matter.
    let fraction = &fraction[..fraction.len().min(18)];
    if !fraction.is_empty() {
        let digits: u128 = fraction.parse().map_err(|_| "malformed number")?;
        let scale = 10u128.pow(fraction.len() as u32);
        nanos = nanos
            .checked_add(digits * unit_nanos / scale)
            .ok_or("too large")?;
    }
    Ok(nanos)
}

impl Serialize for IsoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for IsoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Duration {
        text.parse::<IsoDuration>().unwrap().as_duration()
    }

    fn err(text: &str) -> String {
        text.parse::<IsoDuration>().unwrap_err().to_string()
    }

    #[test]
    fn parses_knative_examples() {
        assert_eq!(d("PT0.2S"), Duration::from_millis(200));
        assert_eq!(d("PT1M"), Duration::from_secs(60));
        assert_eq!(d("P1D"), Duration::from_secs(86_400));
        assert_eq!(d("PT1H30M"), Duration::from_secs(5_400));
        assert_eq!(d("PT0S"), Duration::ZERO);
        assert_eq!(d("P1W"), Duration::from_secs(7 * 86_400));
        assert_eq!(d("P1DT1S"), Duration::from_secs(86_401));
        assert_eq!(d("PT1,5S"), Duration::from_millis(1_500));
        assert_eq!(d("PT0.000000001S"), Duration::from_nanos(1));
        assert_eq!(d("P1Y"), Duration::from_secs(31_556_952));
        assert_eq!(d("P1M"), Duration::from_secs(2_629_746));
        assert_eq!(d("PT1M1S"), Duration::from_secs(61));
    }

    #[test]
    fn rejects_with_clear_messages() {
        assert_eq!(
            err("1s"),
            "invalid ISO-8601 duration \"1s\": must start with 'P' (for example PT1S, PT0.2S, PT1M, P1D)"
        );
        assert!(err("P").contains("no components"));
        assert!(err("PT").contains("no time components"));
        assert!(err("PT1").contains("without a unit"));
        assert!(err("PT1S1M").contains("out of order"));
        assert!(err("P1S").contains("unknown unit designator"));
        assert!(err("PT1H1H").contains("out of order or repeated"));
        assert!(err("-PT1S").contains("negative"));
        assert!(err("PT.5S").contains("malformed"));
        assert!(err("PT1.S").contains("malformed"));
        assert!(err("PTS").contains("expected a number"));
        assert!(err("P99999999999999999999999Y").contains("too large"));
    }

    #[test]
    fn serde_keeps_text_and_compares_by_length() {
        let v: IsoDuration = serde_json::from_value(serde_json::json!("PT60S")).unwrap();
        assert_eq!(serde_json::to_value(&v).unwrap(), "PT60S");
        assert_eq!(v, "PT1M".parse().unwrap());
        let e = serde_json::from_value::<IsoDuration>(serde_json::json!("5s")).unwrap_err();
        assert!(e.to_string().contains("invalid ISO-8601 duration \"5s\""));
    }

    #[test]
    fn formats_durations() {
        let f = |d: Duration| IsoDuration::from_duration(d).to_string();
        assert_eq!(f(Duration::from_millis(200)), "PT0.2S");
        assert_eq!(f(Duration::from_secs(300)), "PT5M");
        assert_eq!(f(Duration::from_secs(5_400)), "PT1H30M");
        assert_eq!(f(Duration::ZERO), "PT0S");
        assert_eq!(f(Duration::from_millis(61_500)), "PT1M1.5S");
        for d in [Duration::from_millis(1_234), Duration::from_secs(90_061)] {
            assert_eq!(f(d).parse::<IsoDuration>().unwrap().as_duration(), d);
        }
    }
}
