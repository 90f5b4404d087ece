//! Go's `time.Duration`: printing as `Duration.String()` does and parsing `time.ParseDuration` text.

/// Formats nanoseconds as Go's `time.Duration.String()` does (`2s`, `1.5ms`, `1m0s`, `1h0m0s`).
pub fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".to_owned();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    /// Appends `v / 10^prec` with trailing fractional zeros trimmed.
    fn frac(out: &mut String, v: u64, prec: u32) {
        let scale = 10u64.pow(prec);
        out.push_str(&(v / scale).to_string());
        let rest = v % scale;
        if rest != 0 {
            let digits = format!("{rest:0width$}", width = prec as usize);
            out.push('.');
            out.push_str(digits.trim_end_matches('0'));
        }
    }
    if u < 1_000_000_000 {
        let (prec, unit) = if u < 1_000 {
            (0, "ns")
        } else if u < 1_000_000 {
            (3, "µs")
        } else {
            (6, "ms")
        };
        frac(&mut out, u, prec);
        out.push_str(unit);
        return out;
    }
    let hours = u / 3_600_000_000_000;
    let minutes = u / 60_000_000_000 % 60;
    let secs_ns = u % 60_000_000_000;
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    frac(&mut out, secs_ns, 9);
    out.push('s');
    out
}

/// Parses a Go duration like `1.5s`, `300ms`, `2m`, `1h2m3s` into ns, exactly as Go's
/// `time.ParseDuration` does: whole units in integers, a fraction as `f * (unit / 10^digits)`
/// in float (so `2.000000007s` is 2000000007 ns; an f64 of the whole number lost the last
/// nanosecond). Values past `u64::MAX` saturate.
pub fn parse_go_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    if s == "0" {
        return Some(0);
    }
    let mut total: u64 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (whole, fraction) = rest[..num_end]
            .split_once('.')
            .unwrap_or((&rest[..num_end], ""));
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return None;
        }
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit: u64 = match &rest[..unit_end] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        let whole = whole.bytes().fold(0u64, |n, d| {
            n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
        });
        let (f, scale) = leading_fraction(fraction);
        let part = (f as f64 * (unit as f64 / scale)) as u64;
        total = total
            .saturating_add(whole.saturating_mul(unit))
            .saturating_add(part);
        rest = &rest[unit_end..];
    }
    Some(total)
}

/// Go's `leadingFraction`: the fraction digits as an integer and their scale (10^digits),
/// ignoring digits that would overflow.
fn leading_fraction(digits: &str) -> (u64, f64) {
    let (mut f, mut scale) = (0u64, 1.0f64);
    for d in digits.bytes() {
        match f
            .checked_mul(10)
            .and_then(|x| x.checked_add(u64::from(d - b'0')))
        {
            Some(x) if x <= 1 << 63 => {
                f = x;
                scale *= 10.0;
            }
            _ => break,
        }
    }
    (f, scale)
}

/// Go's `time.ParseDuration`, exactly: an optional sign, then one or more `<number><unit>`
/// (`1.5h`, `.5s`, `2h45m`; units ns, us, µs, μs, ms, s, m, h), or a bare `0`; no spaces;
/// `None` where Go returns an error (missing unit, overflow, empty).
pub fn parse_go_duration_exact(s: &str) -> Option<i64> {
    const LIMIT: u64 = 1 << 63;
    let (neg, mut s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if s == "0" {
        return Some(0);
    }
    if s.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        let b = s.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return None;
        }
        // Integer part (an overflow is an error, as Go's leadingInt).
        let int_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let mut v: u64 = 0;
        for &d in &b[..int_len] {
            v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            if v > LIMIT {
                return None;
            }
        }
        s = &s[int_len..];
        // Fraction: digits past what fits are consumed and ignored (Go's leadingFraction).
        let (mut frac, mut scale, mut post) = (0u64, 1f64, false);
        if s.starts_with('.') {
            s = &s[1..];
            let n = s.bytes().take_while(u8::is_ascii_digit).count();
            let mut overflow = false;
            for d in s[..n].bytes() {
                if overflow {
                    continue;
                }
                match frac
                    .checked_mul(10)
                    .and_then(|x| x.checked_add(u64::from(d - b'0')))
                    .filter(|&x| x <= LIMIT)
                {
                    Some(x) => {
                        frac = x;
                        scale *= 10.0;
                    }
                    None => overflow = true,
                }
            }
            post = n > 0;
            s = &s[n..];
        }
        if int_len == 0 && !post {
            return None;
        }
        let unit_len = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        let unit: u64 = match &s[..unit_len] {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        s = &s[unit_len..];
        if v > LIMIT / unit {
            return None;
        }
        v *= unit;
        if frac > 0 {
            v += (frac as f64 * (unit as f64 / scale)) as u64;
            if v > LIMIT {
                return None;
            }
        }
        total = total.checked_add(v).filter(|&t| t <= LIMIT)?;
    }
    if neg {
        return Some((total as i64).wrapping_neg());
    }
    i64::try_from(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exactly_like_go_parse_duration() {
        for (text, want) in [
            ("0", Some(0)),
            ("-0", Some(0)),
            ("+5s", Some(5_000_000_000)),
            ("-5s", Some(-5_000_000_000)),
            ("1.5s", Some(1_500_000_000)),
            (".5s", Some(500_000_000)),
            ("1.s", Some(1_000_000_000)),
            ("1h1s", Some(3_601_000_000_000)),
            ("1500ms", Some(1_500_000_000)),
            ("3\u{b5}s", Some(3_000)),
            ("2562047h47m16.854775807s", Some(i64::MAX)),
            ("2562047h47m16.854775808s", None),
            ("5", None),
            ("00", None),
            ("", None),
            ("s", None),
            (".s", None),
            ("1e3s", None),
            (" 1s", None),
            ("1s ", None),
            ("1d", None),
        ] {
            assert_eq!(parse_go_duration_exact(text), want, "{text:?}");
        }
    }

    #[test]
    fn prints_like_go_duration_string() {
        for (ns, want) in [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5µs"),
            (1_000_000, "1ms"),
            (1_500_000, "1.5ms"),
            (2_000_000_000, "2s"),
            (10_000_000_000, "10s"),
            (1_500_000_000, "1.5s"),
            (60_000_000_000, "1m0s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_500_000_000, "1h2m3.5s"),
            (-2_000_000_000, "-2s"),
        ] {
            assert_eq!(go_duration(ns), want, "{ns}");
        }
    }

    #[test]
    fn parses_like_go_parse_duration() {
        assert_eq!(parse_go_duration("0"), Some(0));
        assert_eq!(parse_go_duration("300ms"), Some(300_000_000));
        assert_eq!(parse_go_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_go_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_go_duration("2h"), Some(7_200_000_000_000));
        assert_eq!(parse_go_duration("10us"), Some(10_000));
        assert_eq!(parse_go_duration(""), None);
        assert_eq!(parse_go_duration("abc"), None);
        assert_eq!(parse_go_duration("5"), None);
        assert_eq!(parse_go_duration("."), None);
        assert_eq!(parse_go_duration(".5s"), Some(500_000_000));
        assert_eq!(parse_go_duration("1.s"), Some(1_000_000_000));
        assert_eq!(parse_go_duration("1.2.3s"), None);
    }

    /// Found by the `headers` fuzz target: an f64 of `2.000000007` times 1e9 is 2000000006.99…,
    /// so the duration Go's `Duration.String()` printed read back one nanosecond short.
    #[test]
    fn printed_durations_parse_back_exactly() {
        for ns in [
            2_000_000_007i64,
            1_500_000_001,
            59_999_999_999,
            3_723_000_000_009,
            1,
            999,
        ] {
            assert_eq!(parse_go_duration(&go_duration(ns)), Some(ns as u64), "{ns}");
        }
    }
}
