//! Time arguments of the dead-letter and replay API: an RFC 3339 timestamp, or a duration such as
//! `90s`, `15m`, `2h` or `7d` (also `1h 30m`) meaning that long before now.

use chrono::{DateTime, Utc};

/// Milliseconds since the Unix epoch of `text`, durations counting back from `now_ms`.
pub fn parse_time(text: &str, now_ms: i64) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.timestamp_millis());
    }
    match humantime::parse_duration(text) {
        Ok(ago) => {
            let ago = i64::try_from(ago.as_millis()).unwrap_or(i64::MAX);
            Ok(now_ms.saturating_sub(ago))
        }
        Err(_) => Err(format!(
            "{text:?} is neither an RFC 3339 time (2024-05-01T12:00:00Z) nor a duration ago (15m, 2h, 7d)"
        )),
    }
}

/// `ms` as an RFC 3339 timestamp (UTC, milliseconds).
pub fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_and_durations_ago() {
        let now = 1_700_000_000_000;
        assert_eq!(parse_time("2023-11-14T22:13:20Z", now), Ok(now));
        assert_eq!(parse_time("2023-11-14T23:13:20+01:00", now), Ok(now));
        assert_eq!(parse_time("15m", now), Ok(now - 15 * 60_000));
        assert_eq!(parse_time("2h", now), Ok(now - 2 * 3_600_000));
        assert_eq!(parse_time("7d", now), Ok(now - 7 * 86_400_000));
        assert_eq!(parse_time(" 1h 30m ", now), Ok(now - 90 * 60_000));
        assert!(
            parse_time("yesterday", now)
                .unwrap_err()
                .contains("RFC 3339")
        );
        assert_eq!(rfc3339(now), "2023-11-14T22:13:20.000Z");
    }
}
