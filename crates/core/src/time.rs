//! Timestamps as Gatehouse stores and prints them.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeZone, Utc};

/// Fixed-width UTC text (microseconds, `Z`), so that text order is time order in SQLite.
pub fn to_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Reads what [`to_text`] wrote (and any RFC 3339 time).
pub fn from_text(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Parses the timestamps senders actually use: RFC 3339 with any number of fractional digits
/// (.NET writes seven), a space instead of `T`, or no offset at all (taken as UTC).
pub fn parse_liberal(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let with_t = s.replacen(' ', "T", 1);
    if let Ok(t) = DateTime::parse_from_rfc3339(&with_t) {
        return Some(t.with_timezone(&Utc));
    }
    let naive = with_t.trim_end_matches('Z');
    NaiveDateTime::parse_from_str(naive, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| Utc.from_utc_datetime(&n))
}

/// Unix seconds or milliseconds, told apart by size.
pub fn from_unix_number(n: f64) -> Option<DateTime<Utc>> {
    let millis = if n.abs() >= 1e11 { n } else { n * 1000.0 };
    DateTime::from_timestamp_millis(millis as i64)
}

#[cfg(test)]
mod tests {
    // Fixed dates on purpose: parser input and its expected text; nothing here reads a clock.
    use super::*;

    #[test]
    fn dotnet_seven_digit_timestamp() {
        let t = parse_liberal("2022-10-26T14:55:08.4622757+00:00").expect("parses");
        assert_eq!(to_text(t), "2022-10-26T14:55:08.462275Z");
    }

    #[test]
    fn offsets_are_normalised_to_utc() {
        let t = parse_liberal("2022-10-26T16:55:08+02:00").expect("parses");
        assert_eq!(to_text(t), "2022-10-26T14:55:08.000000Z");
    }

    #[test]
    fn missing_offset_and_space_separator_mean_utc() {
        let a = parse_liberal("2022-10-26 14:55:08.1").expect("parses");
        let b = parse_liberal("2022-10-26T14:55:08.1").expect("parses");
        assert_eq!(a, b);
        assert_eq!(to_text(a), "2022-10-26T14:55:08.100000Z");
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(parse_liberal("yesterday").is_none());
        assert!(parse_liberal("").is_none());
    }

    #[test]
    fn unix_seconds_and_millis() {
        let s = from_unix_number(1_666_796_108.0).expect("seconds");
        let ms = from_unix_number(1_666_796_108_000.0).expect("millis");
        assert_eq!(s, ms);
    }
}
