//! [`PingSource`]: emits an event on a cron schedule (`sources.knative.dev/v1` and `v1beta2`, or
//! `sources.herald.dev/v1`).
//!
//! Schedule syntax: 5 fields (`min hour dom month dow`), or 6 with **seconds first**
//! (`sec min hour dom month dow`), or a descriptor: `@yearly`/`@annually`, `@monthly`, `@weekly`,
//! `@daily`/`@midnight`, `@hourly`. `@every` is rejected (as in Knative). A `CRON_TZ=Zone ` or
//! `TZ=Zone ` prefix is accepted as in Knative's cron library. Parsing uses croner, so
//! [`parse_schedule`] is the very parse the runtime should use. Croner extras (`L`, `W`, `#`, `+`,
//! `?`) are accepted.
//!
//! Defaults: `schedule` → [`DEFAULT_SCHEDULE`] (`* * * * *`). The time zone is `timezone` (IANA,
//! checked with chrono-tz), else the schedule's `CRON_TZ=` prefix, else **UTC** (Knative's adapter
//! uses the container's local zone, which is UTC in practice).

use std::str::FromStr;

use base64::Engine as _;
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use serde::{Deserialize, Serialize};

use super::common::{CloudEventOverrides, Source, SourceSpec};
use crate::delivery::{DeliverySpec, Destination};
use crate::meta::ObjectMeta;
use crate::resource::Kind;
use crate::validation::ValidationErrors;

/// Schedule used when `spec.schedule` is empty: every minute.
pub const DEFAULT_SCHEDULE: &str = "* * * * *";

/// A PingSource resource.
pub type PingSource = Source<PingSourceSpec>;

/// `spec` of a PingSource.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PingSourceSpec {
    /// Cron schedule (see the module docs).
    #[serde(default)]
    pub schedule: String,
    /// IANA time zone name the schedule is read in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// `datacontenttype` of the emitted events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Event data as text (valid JSON when `contentType` is `application/json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Event data as standard base64; exclusive with `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_base64: Option<String>,
    #[serde(default)]
    pub sink: Destination,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ce_overrides: Option<CloudEventOverrides>,
    /// Retries and dead-letter sink for ticks the sink does not take (Herald's addition; Knative's
    /// PingSource retries 5 times from 50 ms and then drops the tick).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliverySpec>,
}

/// Why a schedule or time zone is rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("invalid schedule {schedule:?}: {reason}")]
    Schedule { schedule: String, reason: String },
    #[error(
        "invalid timezone {timezone:?}: not an IANA time zone name (for example \"Europe/Paris\" or \"UTC\")"
    )]
    Timezone { timezone: String },
    #[error("timezone {timezone:?} conflicts with the schedule's prefix time zone {prefix:?}")]
    ConflictingTimezone { timezone: String, prefix: String },
}

/// `dataBase64` is not standard base64.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not valid base64: {reason}")]
pub struct InvalidBase64 {
    pub reason: String,
}

/// Splits a `CRON_TZ=Zone ` / `TZ=Zone ` prefix off a schedule.
fn split_timezone_prefix(schedule: &str) -> (Option<&str>, &str) {
    let trimmed = schedule.trim();
    for prefix in ["CRON_TZ=", "TZ="] {
        if let Some(rest) = trimmed.strip_prefix(prefix) {
            let (zone, expression) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            return (Some(zone), expression.trim_start());
        }
    }
    (None, trimmed)
}

/// Parses a PingSource schedule (any `CRON_TZ=` prefix is ignored here; see
/// [`PingSourceSpec::timezone`]).
pub fn parse_schedule(schedule: &str) -> Result<Cron, ScheduleError> {
    let fail = |reason: String| ScheduleError::Schedule {
        schedule: schedule.to_string(),
        reason,
    };
    let (_, expression) = split_timezone_prefix(schedule);
    if expression.is_empty() {
        return Err(fail("must not be empty".to_string()));
    }
    let expression = if let Some(descriptor) = expression.strip_prefix('@') {
        let descriptor = descriptor.to_ascii_lowercase();
        match descriptor.as_str() {
            "yearly" | "annually" | "monthly" | "weekly" | "daily" | "hourly" => expression,
            "midnight" => "@daily",
            d if d.starts_with("every") => {
                return Err(fail(
                    "@every is not supported; use a cron expression such as \"*/5 * * * *\""
                        .to_string(),
                ));
            }
            _ => {
                return Err(fail(format!(
                    "unknown descriptor \"@{descriptor}\" (supported: @yearly, @annually, \
                     @monthly, @weekly, @daily, @midnight, @hourly)"
                )));
            }
        }
    } else {
        let fields = expression.split_whitespace().count();
        if fields != 5 && fields != 6 {
            return Err(fail(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds \
                 first, got {fields}"
            )));
        }
        expression
    };
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
        .parse(expression)
        .map_err(|e| fail(e.to_string()))
}

impl PingSourceSpec {
    /// The parsed schedule.
    pub fn schedule(&self) -> Result<Cron, ScheduleError> {
        parse_schedule(&self.schedule)
    }

    /// The time zone: `timezone`, else the schedule's `CRON_TZ=` prefix, else UTC.
    pub fn timezone(&self) -> Result<Tz, ScheduleError> {
        let field = self.timezone.as_deref().filter(|t| !t.is_empty());
        let (prefix, _) = split_timezone_prefix(&self.schedule);
        let zone = match (field, prefix) {
            (Some(field), Some(prefix)) if field != prefix => {
                return Err(ScheduleError::ConflictingTimezone {
                    timezone: field.to_string(),
                    prefix: prefix.to_string(),
                });
            }
            (Some(zone), _) | (None, Some(zone)) => zone,
            (None, None) => return Ok(Tz::UTC),
        };
        Tz::from_str(zone).map_err(|_| ScheduleError::Timezone {
            timezone: zone.to_string(),
        })
    }

    /// The event data as bytes: `data` as UTF-8, or `dataBase64` decoded; `None` when neither.
    pub fn data_bytes(&self) -> Result<Option<Vec<u8>>, InvalidBase64> {
        if let Some(encoded) = &self.data_base64 {
            return base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map(Some)
                .map_err(|e| InvalidBase64 {
                    reason: e.to_string(),
                });
        }
        Ok(self.data.as_ref().map(|d| d.as_bytes().to_vec()))
    }

    fn is_json_content_type(&self) -> bool {
        self.content_type.as_deref().is_some_and(|ct| {
            let essence = ct.split(';').next().unwrap_or("").trim();
            essence.eq_ignore_ascii_case("application/json")
        })
    }
}

impl SourceSpec for PingSourceSpec {
    const KIND: Kind = Kind::PingSource;

    fn sink(&self) -> &Destination {
        &self.sink
    }

    fn sink_mut(&mut self) -> &mut Destination {
        &mut self.sink
    }

    fn ce_overrides(&self) -> Option<&CloudEventOverrides> {
        self.ce_overrides.as_ref()
    }

    fn apply_defaults(&mut self, metadata: &ObjectMeta) {
        if self.schedule.trim().is_empty() {
            self.schedule = DEFAULT_SCHEDULE.to_string();
        }
        if let Some(delivery) = &mut self.delivery {
            delivery.default_namespace(metadata.namespace_or_default());
        }
    }

    fn validate(&self, errs: &mut ValidationErrors) {
        if let Some(delivery) = &self.delivery {
            delivery.validate("spec.delivery", errs);
        }
        if self.schedule.trim().is_empty() {
            errs.missing("spec.schedule");
        } else if let Err(e) = self.schedule() {
            errs.push("spec.schedule", e.to_string());
        }
        if let Err(e) = self.timezone() {
            let field = if self.timezone.as_deref().is_some_and(|t| !t.is_empty()) {
                "spec.timezone"
            } else {
                "spec.schedule"
            };
            errs.push(field, e.to_string());
        }
        if self.data.is_some() && self.data_base64.is_some() {
            errs.push(
                "spec.data",
                "expected exactly one of data, dataBase64; got both",
            );
        }
        if let Err(e) = self.data_bytes() {
            errs.push("spec.dataBase64", format!("invalid value: {e}"));
        }
        if let Some(data) = &self.data
            && self.is_json_content_type()
            && let Err(e) = serde_json::from_str::<serde_json::Value>(data)
        {
            errs.push(
                "spec.data",
                format!(
                    "invalid value: contentType is application/json but data is not valid JSON: {e}"
                ),
            );
        }
    }
}

impl Source<PingSourceSpec> {
    /// The parsed schedule (same as [`PingSourceSpec::schedule`]).
    pub fn schedule(&self) -> Result<Cron, ScheduleError> {
        self.spec.schedule()
    }

    /// The schedule's time zone (same as [`PingSourceSpec::timezone`]).
    pub fn timezone(&self) -> Result<Tz, ScheduleError> {
        self.spec.timezone()
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Timelike, Utc};

    use super::*;

    fn next_after(schedule: &str, h: u32, m: u32, s: u32) -> chrono::DateTime<Utc> {
        let start = Utc.with_ymd_and_hms(2024, 1, 1, h, m, s).unwrap();
        parse_schedule(schedule)
            .unwrap()
            .find_next_occurrence(&start, false)
            .unwrap()
    }

    #[test]
    fn five_fields_fire_on_minutes() {
        let next = next_after("*/5 * * * *", 10, 1, 0);
        assert_eq!((next.hour(), next.minute(), next.second()), (10, 5, 0));
    }

    #[test]
    fn six_fields_have_seconds_first() {
        let next = next_after("30 * * * * *", 10, 0, 0);
        assert_eq!((next.hour(), next.minute(), next.second()), (10, 0, 30));
        let next = next_after("15 0 12 * * *", 10, 0, 0);
        assert_eq!((next.hour(), next.minute(), next.second()), (12, 0, 15));
    }

    #[test]
    fn descriptors() {
        for d in [
            "@hourly",
            "@daily",
            "@weekly",
            "@monthly",
            "@yearly",
            "@annually",
            "@midnight",
            "@HOURLY",
        ] {
            assert!(parse_schedule(d).is_ok(), "{d}");
        }
        let next = next_after("@midnight", 10, 0, 0);
        assert_eq!((next.hour(), next.minute()), (0, 0));
        let e = parse_schedule("@every 5m").unwrap_err().to_string();
        assert!(e.contains("@every is not supported"), "{e}");
        let e = parse_schedule("@sometimes").unwrap_err().to_string();
        assert!(e.contains("unknown descriptor \"@sometimes\""), "{e}");
    }

    #[test]
    fn rejects_bad_expressions() {
        let e = parse_schedule("* * *").unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid schedule \"* * *\": expected 5 fields (minute hour day-of-month month \
             day-of-week) or 6 with seconds first, got 3"
        );
        assert!(parse_schedule("* * * * * * 2030").is_err());
        assert!(parse_schedule("61 * * * *").is_err());
        assert!(parse_schedule("").is_err());
    }

    #[test]
    fn timezone_sources() {
        let mut spec = PingSourceSpec {
            schedule: "CRON_TZ=Europe/Paris 0 * * * *".into(),
            ..PingSourceSpec::default()
        };
        assert_eq!(spec.timezone().unwrap(), chrono_tz::Europe::Paris);
        assert!(spec.schedule().is_ok());
        spec.timezone = Some("Asia/Tokyo".into());
        assert!(matches!(
            spec.timezone(),
            Err(ScheduleError::ConflictingTimezone { .. })
        ));
        spec.schedule = "0 * * * *".into();
        assert_eq!(spec.timezone().unwrap(), chrono_tz::Asia::Tokyo);
        spec.timezone = None;
        assert_eq!(spec.timezone().unwrap(), Tz::UTC);
    }
}
