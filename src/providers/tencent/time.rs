//! Beijing time (UTC+8), the zone SCF writes and reads without a marker: `AddTime`/`ModTime`
//! (API-FACTS §2.2, `"2024-12-17 17:52:48"`) and GetFunctionLogs' `StartTime`/`EndTime`.
//!
//! Pure: Unix seconds in, text out, and back. The clock is the caller's. Beijing has no
//! daylight saving, so the conversion is a fixed eight-hour shift.

/// The offset of Beijing time from UTC, seconds.
pub const OFFSET_SECS: i64 = 8 * 3600;

/// `YYYY-MM-DD HH:MM:SS` in Beijing time for `unix_secs`; empty for a time outside the
/// representable range (years −9999 to 9999).
pub fn format(unix_secs: i64) -> String {
    jiff::Timestamp::from_second(unix_secs.saturating_add(OFFSET_SECS))
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// [`format`] with milliseconds, `YYYY-MM-DD HH:MM:SS.mmm` (a log entry's `StartTime`).
pub fn format_millis(unix_ms: i64) -> String {
    format!(
        "{}.{:03}",
        format(unix_ms.div_euclid(1000)),
        unix_ms.rem_euclid(1000)
    )
}

/// Why a Beijing-time text did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The text, as given.
    pub text: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` is not a Beijing time like 2017-05-16 20:00:00",
            self.text
        )
    }
}

impl std::error::Error for ParseError {}

/// `YYYY-MM-DD HH:MM:SS` (Beijing time; surrounding whitespace ignored) → Unix seconds.
pub fn parse(text: &str) -> Result<i64, ParseError> {
    let err = || ParseError {
        text: text.to_owned(),
    };
    let civil: jiff::civil::DateTime = text.trim().parse().map_err(|_| err())?;
    let ts = jiff::tz::offset(8).to_timestamp(civil).map_err(|_| err())?;
    Ok(ts.as_second())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `unix seconds => Beijing text` rows, checked both ways.
    macro_rules! round_trip {
        ($($name:ident: $secs:expr => $text:expr;)*) => {$(
            #[test]
            fn $name() {
                assert_eq!(format($secs), $text);
                assert_eq!(parse($text), Ok($secs));
            }
        )*};
    }

    round_trip! {
        epoch_is_eight_in_the_morning: 0 => "1970-01-01 08:00:00";
        before_the_epoch: -8 * 3600 => "1970-01-01 00:00:00";
        the_documented_example: 1_734_429_168 => "2024-12-17 17:52:48";
        utc_evening_is_the_next_day: 1_700_000_000 => "2023-11-15 06:13:20";
        leap_day: 951_753_600 => "2000-02-29 00:00:00";
        end_of_year_rolls_over: 1_704_038_400 => "2024-01-01 00:00:00";
    }

    #[test]
    fn millis_are_three_digits_and_floor_before_the_epoch() {
        assert_eq!(format_millis(1_734_429_168_123), "2024-12-17 17:52:48.123");
        assert_eq!(format_millis(5), "1970-01-01 08:00:00.005");
        assert_eq!(format_millis(-1), "1970-01-01 07:59:59.999");
    }

    #[test]
    fn out_of_range_formats_as_empty() {
        assert_eq!(format(i64::MAX), "");
        assert_eq!(format(i64::MIN), "");
    }

    #[test]
    fn parse_trims_and_rejects_other_shapes() {
        assert_eq!(parse("  2024-12-17 17:52:48\n"), Ok(1_734_429_168));
        for bad in [
            "",
            "yesterday",
            "2024-13-01 00:00:00",
            "2024-02-30 00:00:00",
            "2024-12-17 25:00:00",
            "2024-12-17 17:52:48+08:00 junk",
            "1734429168",
        ] {
            assert_eq!(
                parse(bad),
                Err(ParseError {
                    text: bad.to_owned()
                }),
                "{bad:?}"
            );
        }
    }
}
