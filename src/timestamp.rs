//! RFC 3339 text of UTC instants, written straight into a small buffer. chrono's formatter
//! goes through `fmt` a character at a time (about 1,200 instructions an instant, plus an
//! allocation for `to_rfc3339_opts`); the event log stamps every ping, and the live state
//! writes up to nine instants an entity. The text is exactly chrono's, which a property test
//! checks; what the fast path does not cover (years outside 0-9999, a leap second) is left to
//! chrono.

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use serde::Serializer;

/// At most `9999-12-31T23:59:59.999999999Z`.
const LONGEST: usize = 30;

/// The text of one instant, on the stack.
pub struct Text {
    bytes: [u8; LONGEST],
    len: usize,
}

impl Text {
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and separators are written.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

/// `t` as `to_rfc3339_opts(format, true)` writes it, for `Millis` and `AutoSi` (chrono's serde
/// format); `None` for another format, a year outside 0-9999 or a leap second.
pub fn rfc3339(t: &DateTime<Utc>, format: SecondsFormat) -> Option<Text> {
    let nanos = t.nanosecond();
    if !(0..=9999).contains(&t.year()) || nanos >= 1_000_000_000 {
        return None;
    }
    let (fraction, digits) = match format {
        SecondsFormat::Millis => (nanos / 1_000_000, 3),
        SecondsFormat::AutoSi if nanos == 0 => (0, 0),
        SecondsFormat::AutoSi if nanos.is_multiple_of(1_000_000) => (nanos / 1_000_000, 3),
        SecondsFormat::AutoSi if nanos.is_multiple_of(1_000) => (nanos / 1_000, 6),
        SecondsFormat::AutoSi => (nanos, 9),
        _ => return None,
    };
    let seconds = t.timestamp();
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let of_day = seconds.rem_euclid(86_400) as u32;
    let mut text = Text { bytes: [0; LONGEST], len: 0 };
    let seconds_end = if digits > 0 { b'.' } else { b'Z' };
    for (value, width, then) in [
        (year, 4, b'-'),
        (month, 2, b'-'),
        (day, 2, b'T'),
        (of_day / 3600, 2, b':'),
        (of_day / 60 % 60, 2, b':'),
        (of_day % 60, 2, seconds_end),
    ] {
        text.digits(value, width);
        text.push(then);
    }
    if digits > 0 {
        text.digits(fraction, digits);
        text.push(b'Z');
    }
    Some(text)
}

/// The proleptic Gregorian date of a day counted from 1970-01-01, by Howard Hinnant's
/// `civil_from_days` (chrono works the month and the day out of its own representation again
/// for each of them). Only called for years 0-9999.
fn civil_from_days(days: i64) -> (u32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let of_era = z - era * 146_097; // 0..=146_096
    let year_of_era = (of_era - of_era / 1_460 + of_era / 36_524 - of_era / 146_096) / 365;
    let day_of_year = of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153; // March is 0
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year as u32, month as u32, day as u32)
}

impl Text {
    /// `value` in `width` digits, zero-padded.
    fn digits(&mut self, mut value: u32, width: usize) {
        for i in (0..width).rev() {
            self.bytes[self.len + i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
        self.len += width;
    }

    fn push(&mut self, byte: u8) {
        self.bytes[self.len] = byte;
        self.len += 1;
    }
}

/// Writes `t` as chrono's serde does (`AutoSi`, `Z`), for `#[serde(serialize_with)]`.
pub fn serialize<S: Serializer>(t: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    write(t, SecondsFormat::AutoSi, serializer)
}

/// [`serialize`] for an optional instant (`null` when absent).
pub fn serialize_opt<S: Serializer>(t: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => serializer.serialize_some(&Auto(t)),
        None => serializer.serialize_none(),
    }
}

/// `t` with milliseconds, as the event log stamps events.
pub fn serialize_millis<S: Serializer>(t: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    write(t, SecondsFormat::Millis, serializer)
}

fn write<S: Serializer>(t: &DateTime<Utc>, format: SecondsFormat, serializer: S) -> Result<S::Ok, S::Error> {
    match rfc3339(t, format) {
        Some(text) => serializer.serialize_str(text.as_str()),
        None => serializer.serialize_str(&t.to_rfc3339_opts(format, true)),
    }
}

struct Auto<'a>(&'a DateTime<Utc>);

impl serde::Serialize for Auto<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize(self.0, serializer)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// The same text as chrono's, for every instant it covers, at every precision
        /// (nanoseconds on whole milli- and microseconds too, so each `AutoSi` width is met).
        #[test]
        fn the_text_is_chronos(secs in -62_167_219_200i64..253_402_300_800i64, nanos in 0u32..1_000_000_000, round in 0u32..4) {
            let nanos = match round {
                0 => 0,
                1 => nanos / 1_000_000 * 1_000_000,
                2 => nanos / 1_000 * 1_000,
                _ => nanos,
            };
            let t = DateTime::from_timestamp(secs, nanos).expect("in range");
            for format in [SecondsFormat::Millis, SecondsFormat::AutoSi] {
                let text = rfc3339(&t, format).expect("years 0-9999");
                prop_assert_eq!(text.as_str(), t.to_rfc3339_opts(format, true));
            }
            prop_assert_eq!(
                serde_json::to_value(Auto(&t)).expect("serializes"),
                serde_json::to_value(t).expect("chrono serializes")
            );
        }
    }

    /// The edges of the calendar: the first and last instants covered, the epoch, leap days
    /// of century years (2000 has one, 1900 does not).
    #[test]
    fn calendar_edges() {
        for text in [
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59.5Z",
            "2000-02-29T12:00:00.000001Z",
            "1900-02-28T23:59:59Z",
            "1900-03-01T00:00:00Z",
            "2026-12-03T20:15:00.120Z",
        ] {
            let t: DateTime<Utc> = text.parse().expect(text);
            let ours = rfc3339(&t, SecondsFormat::AutoSi).expect(text);
            assert_eq!(ours.as_str(), t.to_rfc3339_opts(SecondsFormat::AutoSi, true), "{text}");
            let millis = rfc3339(&t, SecondsFormat::Millis).expect(text);
            assert_eq!(millis.as_str(), t.to_rfc3339_opts(SecondsFormat::Millis, true), "{text}");
        }
    }

    #[test]
    fn what_the_fast_path_leaves_to_chrono() {
        let far = DateTime::from_timestamp(253_402_300_800, 0).expect("year 10000");
        assert!(rfc3339(&far, SecondsFormat::AutoSi).is_none());
        assert_eq!(serde_json::to_value(Auto(&far)).expect("json"), serde_json::to_value(far).expect("json"));
        let leap = DateTime::from_timestamp(1_483_228_799, 1_500_000_000).expect("a leap second");
        assert!(rfc3339(&leap, SecondsFormat::AutoSi).is_none());
        assert_eq!(
            serde_json::to_value(Auto(&leap)).expect("json"),
            serde_json::to_value(leap).expect("json")
        );
        let t = DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        assert!(rfc3339(&t, SecondsFormat::Secs).is_none());
    }
}
