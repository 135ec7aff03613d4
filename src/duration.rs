//! Durations as people write them: `3ms`, `1.2s`, `42s`, `4m 10s`, `2h 5m`, `3d 4h`.
//!
//! `humantime::format_duration` is exact (`3ms 257us 592ns`), which is right for a value a
//! program reads back and wrong for a line an owner reads: every duration shown by `why`,
//! messages, events and chat answers goes through [`human`] instead. At most two units are
//! shown, the larger first, so the figure stays as short as its precision deserves.

use std::time::Duration;

/// The duration rounded to what a person would say.
pub fn human(d: Duration) -> String {
    let micros = d.as_micros();
    if micros == 0 {
        return "0s".to_string();
    }
    if micros < 1_000 {
        return format!("{micros}µs");
    }
    let millis = d.as_millis();
    if millis < 1_000 {
        return format!("{millis}ms");
    }
    if millis < 10_000 {
        // One decimal, without a trailing `.0`.
        let tenths = (millis + 50) / 100;
        return if tenths % 10 == 0 {
            format!("{}s", tenths / 10)
        } else {
            format!("{}.{}s", tenths / 10, tenths % 10)
        };
    }
    let secs = (millis + 500) / 1_000;
    let units = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let Some(first) = units.iter().position(|(size, _)| secs >= *size) else { return format!("{secs}s") };
    let (big, big_unit) = units[first];
    let mut out = format!("{}{big_unit}", secs / big);
    if let Some((small, small_unit)) = units.get(first + 1) {
        let rest = (secs % big) / small;
        if rest > 0 {
            out.push_str(&format!(" {rest}{small_unit}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_people_write_them() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(999), "0s"),
            (Duration::from_micros(850), "850µs"),
            (Duration::from_nanos(3_257_592), "3ms"),
            (Duration::from_millis(999), "999ms"),
            (Duration::from_millis(1_000), "1s"),
            (Duration::from_millis(1_200), "1.2s"),
            (Duration::from_millis(1_249), "1.2s"),
            (Duration::from_millis(9_960), "10s"),
            (Duration::from_secs(42), "42s"),
            (Duration::from_secs(60), "1m"),
            (Duration::from_secs(250), "4m 10s"),
            (Duration::from_secs(3_600), "1h"),
            (Duration::from_secs(7_500), "2h 5m"),
            (Duration::from_secs(7_530), "2h 5m"),
            (Duration::from_secs(4 * 86_400 + 3_600 * 3), "4d 3h"),
        ];
        for (d, text) in cases {
            assert_eq!(human(d), text, "{d:?}");
        }
    }
}
