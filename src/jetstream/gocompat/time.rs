//! RFC 3339 timestamps exactly as nats-server writes them (Go's `time.RFC3339Nano` in UTC) and a
//! parser for the ones clients send (`start_time`, `opt_start_time`, ...). No time crate: the
//! conversion between days and civil dates is the classic era/day-of-era arithmetic.

/// Go's zero `time.Time`, which nats-server prints for "no time" (e.g. `first_ts` of an empty stream).
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

const NANOS_PER_SEC: u64 = 1_000_000_000;
const SECS_PER_DAY: u64 = 86_400;
/// Days from 0000-03-01 (start of the shifted era) to 1970-01-01.
const EPOCH_SHIFT_DAYS: i64 = 719_468;
const DAYS_PER_ERA: i64 = 146_097;

/// Converts days since 1970-01-01 into a proleptic Gregorian (year, month, day).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + EPOCH_SHIFT_DAYS;
    let era = shifted.div_euclid(DAYS_PER_ERA);
    let day_of_era = shifted.rem_euclid(DAYS_PER_ERA); // 0..=146096
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365; // 0..=399
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100); // 0..=365
    let shifted_month = (5 * day_of_year + 2) / 153; // 0..=11, March based
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    debug_assert!((1..=12).contains(&month) && (1..=31).contains(&day));
    (year, month, day)
}

/// Converts a proleptic Gregorian date into days since 1970-01-01 (inverse of `civil_from_days`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    debug_assert!((1..=12).contains(&month) && (1..=31).contains(&day));
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let shifted_month = i64::from(if month > 2 { month - 3 } else { month + 9 });
    let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * DAYS_PER_ERA + day_of_era - EPOCH_SHIFT_DAYS
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Longest timestamp this module prints (`YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`).
const MAX_RFC3339_NANOS_LEN: usize = 30;

/// Formats `unix_ns` into `buf` (the year of any u64 nanosecond count has 4 digits) and
/// returns the length used.
fn format_into(unix_ns: u64, buf: &mut [u8; MAX_RFC3339_NANOS_LEN]) -> usize {
    fn two(buf: &mut [u8], at: usize, v: u64) {
        buf[at] = b'0' + (v / 10) as u8;
        buf[at + 1] = b'0' + (v % 10) as u8;
    }
    let secs = unix_ns / NANOS_PER_SEC;
    let nanos = unix_ns % NANOS_PER_SEC;
    let (year, month, day) = civil_from_days((secs / SECS_PER_DAY) as i64);
    debug_assert!((1970..=9999).contains(&year));
    let year = year as u64;
    let sec_of_day = secs % SECS_PER_DAY;
    two(buf, 0, year / 100);
    two(buf, 2, year % 100);
    buf[4] = b'-';
    two(buf, 5, u64::from(month));
    buf[7] = b'-';
    two(buf, 8, u64::from(day));
    buf[10] = b'T';
    two(buf, 11, sec_of_day / 3600);
    buf[13] = b':';
    two(buf, 14, sec_of_day / 60 % 60);
    buf[16] = b':';
    two(buf, 17, sec_of_day % 60);
    let mut len = 19;
    if nanos != 0 {
        buf[len] = b'.';
        let mut rest = nanos;
        for i in (0..9).rev() {
            buf[len + 1 + i] = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        let mut digits = 9;
        while buf[len + digits] == b'0' {
            digits -= 1;
        }
        len += 1 + digits;
    }
    buf[len] = b'Z';
    len + 1
}

/// Appends `unix_ns` as Go's RFC3339Nano in UTC: `2026-11-22T03:33:31.674664328Z`, fraction
/// trimmed of trailing zeros and dropped entirely when zero (`1970-01-01T00:00:00Z`).
pub fn write_rfc3339_nanos(out: &mut Vec<u8>, unix_ns: u64) {
    let mut buf = [0u8; MAX_RFC3339_NANOS_LEN];
    let len = format_into(unix_ns, &mut buf);
    out.extend_from_slice(&buf[..len]);
}

/// `unix_ns` as Go's RFC3339Nano in UTC (see `write_rfc3339_nanos`).
pub fn format_rfc3339_nanos(unix_ns: u64) -> String {
    let mut buf = [0u8; MAX_RFC3339_NANOS_LEN];
    let len = format_into(unix_ns, &mut buf);
    // Only ASCII digits and separators were written.
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

/// Formats a stream-state timestamp, where 0 means "no time" and prints as Go's zero time.
pub fn format_state_time(unix_ns: u64) -> String {
    if unix_ns == 0 {
        ZERO_TIME.to_owned()
    } else {
        format_rfc3339_nanos(unix_ns)
    }
}

/// Why a client timestamp was refused; rendered after Go's `parsing time "<s>" as "<layout>"` prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parsing time {input:?} as \"2006-01-02T15:04:05Z07:00\": {reason}")]
pub struct TimeParseError {
    /// The rejected text.
    pub input: String,
    /// What was wrong with it.
    pub reason: &'static str,
}

/// Cursor over the bytes of a timestamp being parsed.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, count: usize) -> Option<u32> {
        let field = self.bytes.get(self.pos..self.pos + count)?;
        let mut value = 0u32;
        for &b in field {
            if !b.is_ascii_digit() {
                return None;
            }
            value = value * 10 + u32::from(b - b'0');
        }
        self.pos += count;
        Some(value)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.bytes.get(self.pos) == Some(&byte)).then(|| self.pos += 1)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }
}

/// Parses an RFC 3339 timestamp (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, as Go's `time.Time`
/// JSON decoding accepts it) into nanoseconds since the Unix epoch (negative before 1970).
/// Fractions longer than nanoseconds are truncated.
pub fn parse_rfc3339_nanos(input: &str) -> Result<i128, TimeParseError> {
    let fail = |reason| TimeParseError {
        input: input.to_owned(),
        reason,
    };
    let mut cur = Cursor {
        bytes: input.as_bytes(),
        pos: 0,
    };
    let year = cur.digits(4).ok_or_else(|| fail("bad year"))?;
    cur.expect(b'-').ok_or_else(|| fail("expected '-'"))?;
    let month = cur.digits(2).ok_or_else(|| fail("bad month"))?;
    cur.expect(b'-').ok_or_else(|| fail("expected '-'"))?;
    let day = cur.digits(2).ok_or_else(|| fail("bad day"))?;
    cur.expect(b'T').ok_or_else(|| fail("expected 'T'"))?;
    let hour = cur.digits(2).ok_or_else(|| fail("bad hour"))?;
    cur.expect(b':').ok_or_else(|| fail("expected ':'"))?;
    let minute = cur.digits(2).ok_or_else(|| fail("bad minute"))?;
    cur.expect(b':').ok_or_else(|| fail("expected ':'"))?;
    let second = cur.digits(2).ok_or_else(|| fail("bad second"))?;
    let mut nanos = 0u32;
    if cur.peek() == Some(b'.') {
        cur.pos += 1;
        let mut count = 0;
        while let Some(b) = cur.peek().filter(u8::is_ascii_digit) {
            if count < 9 {
                nanos = nanos * 10 + u32::from(b - b'0');
            }
            count += 1;
            cur.pos += 1;
        }
        if count == 0 {
            return Err(fail("bad fractional second"));
        }
        for _ in count..9 {
            nanos *= 10;
        }
    }
    let offset_secs: i64 = match cur.peek() {
        Some(b'Z') => {
            cur.pos += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            cur.pos += 1;
            let oh = cur.digits(2).ok_or_else(|| fail("bad zone offset"))?;
            cur.expect(b':').ok_or_else(|| fail("bad zone offset"))?;
            let om = cur.digits(2).ok_or_else(|| fail("bad zone offset"))?;
            if oh > 23 || om > 59 {
                return Err(fail("zone offset out of range"));
            }
            let magnitude = i64::from(oh * 3600 + om * 60);
            if sign == b'-' {
                -magnitude
            } else {
                magnitude
            }
        }
        _ => return Err(fail("missing zone")),
    };
    if cur.pos != input.len() {
        return Err(fail("extra text"));
    }
    let year = i64::from(year);
    if !(1..=12).contains(&month) {
        return Err(fail("month out of range"));
    }
    if day == 0 || day > days_in_month(year, month) {
        return Err(fail("day out of range"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(fail("time out of range"));
    }
    let days = days_from_civil(year, month, day);
    let secs =
        days * SECS_PER_DAY as i64 + i64::from(hour * 3600 + minute * 60 + second) - offset_secs;
    Ok(i128::from(secs) * i128::from(NANOS_PER_SEC) + i128::from(nanos))
}

/// Clamps parsed nanoseconds into the store's `u64` Unix-nanosecond range (before 1970 → 0).
pub fn clamp_unix_nanos(nanos: i128) -> u64 {
    u64::try_from(nanos.max(0)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go_rfc3339nano() {
        let cases: &[(u64, &str)] = &[
            (0, "1970-01-01T00:00:00Z"),
            (1, "1970-01-01T00:00:00.000000001Z"),
            (100_000_000, "1970-01-01T00:00:00.1Z"),
            (1_500_000_000, "1970-01-01T00:00:01.5Z"),
            (86_399_999_999_999, "1970-01-01T23:59:59.999999999Z"),
            // 2000-02-29 (leap day, century divisible by 400).
            (951_782_400_000_000_000, "2000-02-29T00:00:00Z"),
            (951_868_799_000_000_000, "2000-02-29T23:59:59Z"),
            (951_868_800_000_000_000, "2000-03-01T00:00:00Z"),
            // 2100-03-01: 2100 is not a leap year.
            (4_107_542_400_000_000_000, "2100-03-01T00:00:00Z"),
            (1_700_000_000_123_456_789, "2023-11-14T22:13:20.123456789Z"),
            (1_700_000_000_120_000_000, "2023-11-14T22:13:20.12Z"),
            (1_609_459_199_000_000_000, "2020-12-31T23:59:59Z"),
            (1_609_459_200_000_000_000, "2021-01-01T00:00:00Z"),
            // Largest u64 nanosecond value.
            (u64::MAX, "2554-07-21T23:34:33.709551615Z"),
        ];
        for &(ns, want) in cases {
            assert_eq!(format_rfc3339_nanos(ns), want, "ns={ns}");
        }
    }

    #[test]
    fn state_time_zero_is_go_zero_time() {
        assert_eq!(format_state_time(0), "0001-01-01T00:00:00Z");
        assert_eq!(format_state_time(1), "1970-01-01T00:00:00.000000001Z");
    }

    #[test]
    fn parses_what_it_formats() {
        for ns in [
            0u64,
            1,
            999_999_999,
            951_782_400_000_000_000,
            1_700_000_000_123_456_789,
            4_107_542_400_000_000_000,
            u64::MAX,
        ] {
            let text = format_rfc3339_nanos(ns);
            assert_eq!(parse_rfc3339_nanos(&text), Ok(i128::from(ns)), "{text}");
        }
    }

    #[test]
    fn civil_round_trip_over_many_days() {
        for days in (-800_000i64..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(days_from_civil(1, 1, 1), -719_162);
    }

    #[test]
    fn parses_offsets_fractions_and_zero_time() {
        assert_eq!(parse_rfc3339_nanos("1970-01-01T01:00:00+01:00"), Ok(0));
        assert_eq!(parse_rfc3339_nanos("1969-12-31T19:00:00-05:00"), Ok(0));
        assert_eq!(
            parse_rfc3339_nanos("1970-01-01T00:00:00.5Z"),
            Ok(500_000_000)
        );
        assert_eq!(
            parse_rfc3339_nanos("1970-01-01T00:00:00.1234567891Z"),
            Ok(123_456_789)
        );
        let zero = parse_rfc3339_nanos(ZERO_TIME).unwrap();
        assert_eq!(zero, -62_135_596_800 * 1_000_000_000);
        assert_eq!(clamp_unix_nanos(zero), 0);
        assert_eq!(clamp_unix_nanos(i128::MAX), u64::MAX);
        assert_eq!(clamp_unix_nanos(42), 42);
    }

    #[test]
    fn rejects_malformed_timestamps() {
        for bad in [
            "",
            "yesterday",
            "2020-01-01",
            "2020-01-01T00:00:00",
            "2020-01-01 00:00:00Z",
            "2020-13-01T00:00:00Z",
            "2021-02-29T00:00:00Z",
            "2020-01-01T24:00:00Z",
            "2020-01-01T00:60:00Z",
            "2020-01-01T00:00:60Z",
            "2020-01-01T00:00:00.Z",
            "2020-01-01T00:00:00+0100",
            "2020-01-01T00:00:00Zx",
            "20200-01-01T00:00:00Z",
        ] {
            assert!(parse_rfc3339_nanos(bad).is_err(), "{bad:?} accepted");
        }
        let err = parse_rfc3339_nanos("yesterday").unwrap_err();
        assert!(err
            .to_string()
            .starts_with("parsing time \"yesterday\" as \"2006-01-02T15:04:05Z07:00\""));
    }
}
