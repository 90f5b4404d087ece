//! `Nats-Schedule` patterns as nats-server 2.15 reads them (`server/scheduler.go`
//! parseMsgSchedule, `server/cron.go`): `@at <RFC 3339>` (once), `@every <Go duration>` (at
//! least one second, aligned to whole seconds), six-field cron (`sec min hour dom month dow`,
//! names `jan`…`dec` / `sun`…`sat`, `*`/`?`, ranges, steps, lists; day of month and day of
//! week OR-ed unless one is `*`) and the shorthands `@yearly` `@annually` `@monthly` `@weekly`
//! `@daily` `@midnight` `@hourly`. Pure functions of the pattern and the times passed in.
//!
//! Time zones (`Nats-Schedule-Time-Zone`, cron only): natrix has no zone database, so it
//! knows only the zero-offset names (`UTC`, `Etc/UTC`, `GMT`, …); nats-server loads any IANA
//! zone. Every other name is refused as invalid (10223).

use crate::jetstream::gocompat::{
    parse_go_duration_exact,
    time::{civil_from_days, days_from_civil, parse_rfc3339_nanos},
};

const SEC: u64 = 1_000_000_000;

/// Zone names natrix accepts in `Nats-Schedule-Time-Zone`: those at offset zero always.
const ZERO_OFFSET_ZONES: &[&str] = &[
    "UTC",
    "Etc/UTC",
    "UCT",
    "Etc/UCT",
    "GMT",
    "Etc/GMT",
    "GMT0",
    "GMT+0",
    "GMT-0",
    "Etc/GMT0",
    "Etc/GMT+0",
    "Etc/GMT-0",
    "Greenwich",
    "Etc/Greenwich",
    "Universal",
    "Etc/Universal",
    "Zulu",
    "Etc/Zulu",
];

/// Whether `Nats-Schedule-Time-Zone: name` names a zone natrix can schedule in.
pub(crate) fn known_zone(name: &[u8]) -> bool {
    ZERO_OFFSET_ZONES.iter().any(|z| z.as_bytes() == name)
}

/// When a pattern fires next: `(unix ns, repeats)`. `None` is nats-server's "pattern invalid"
/// (10189). `ts_ns` is the time it counts from (the schedule's store time, or the due time it
/// just fired at), `now_ns` the wall clock: a repeating schedule whose next time is already
/// past skips ahead so that it fires once, not once per missed period. `zoned`: a
/// `Nats-Schedule-Time-Zone` header was given (allowed for cron only).
pub(crate) fn next_fire(
    pattern: &str,
    zoned: bool,
    ts_ns: u64,
    now_ns: u64,
) -> Option<(u64, bool)> {
    if let Some(at) = pattern.strip_prefix("@at ") {
        if zoned {
            return None;
        }
        let ns = parse_rfc3339_nanos(at).ok()?;
        // Before 1970 fires at once; nats-server's zero time (year 1) means "no schedule".
        return Some((u64::try_from(ns.max(1)).unwrap_or(u64::MAX), false));
    }
    if let Some(every) = pattern.strip_prefix("@every ") {
        if zoned {
            return None;
        }
        let dur = parse_go_duration_exact(every)?;
        if dur < SEC as i64 {
            return None;
        }
        let dur = dur as u64;
        let mut next = round_to_second(ts_ns).saturating_add(dur);
        if next < now_ns {
            next = round_to_second(now_ns).saturating_add(dur);
        }
        return Some((next, true));
    }
    let cron = Cron::parse(expand_shorthand(pattern))?;
    let mut next = cron.next_after(ts_ns)?;
    if next < now_ns {
        next = cron.next_after(round_to_second(now_ns))?;
    }
    Some((next, true))
}

/// Go's `Time.Round(time.Second)`: to the nearest second, halves up.
fn round_to_second(ns: u64) -> u64 {
    ns.saturating_add(SEC / 2) / SEC * SEC
}

fn expand_shorthand(pattern: &str) -> &str {
    match pattern {
        "@yearly" | "@annually" => "0 0 0 1 1 *",
        "@monthly" => "0 0 0 1 * *",
        "@weekly" => "0 0 0 * * 0",
        "@daily" | "@midnight" => "0 0 0 * * *",
        "@hourly" => "0 0 * * * *",
        other => other,
    }
}

/// Set when a field was `*` or `?` (day matching then ANDs instead of ORs).
const STAR_BIT: u64 = 1 << 63;

/// A parsed six-field cron pattern: one bit per allowed value of each field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cron {
    second: u64,
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
}

struct Bounds {
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const SECONDS: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const MINUTES: Bounds = SECONDS;
const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
/// Month names, value = index + 1.
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
/// Day names, value = index.
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

impl Cron {
    /// Parses `sec min hour dom month dow` (whitespace-separated, exactly six fields).
    pub(crate) fn parse(pattern: &str) -> Option<Cron> {
        let fields: Vec<&str> = pattern.split_whitespace().collect();
        let [s, mi, h, d, mo, w] = fields[..] else {
            return None;
        };
        Some(Cron {
            second: field(s, &SECONDS)?,
            minute: field(mi, &MINUTES)?,
            hour: field(h, &HOURS)?,
            dom: field(d, &DOM)?,
            month: field(mo, &MONTHS)?,
            dow: field(w, &DOW)?,
        })
    }

    /// The first matching second strictly after `ts_ns` (UTC), within five years, as
    /// nats-server's `parseCron` walks it (month, day, hour, minute, second; a field that
    /// wraps restarts the walk).
    pub(crate) fn next_after(&self, ts_ns: u64) -> Option<u64> {
        let mut t = (ts_ns / SEC) as i64 + 1;
        let year_limit = Civil::of(t).year + 5;
        let mut truncated = false;
        'wrap: loop {
            let c = Civil::of(t);
            if c.year > year_limit {
                return None;
            }
            while !bit(self.month, Civil::of(t).month) {
                let c = Civil::of(t);
                if !truncated {
                    truncated = true;
                    t = Civil::at(c.year, c.month, 1);
                }
                let c = Civil::of(t);
                let (y, m) = if c.month == 12 {
                    (c.year + 1, 1)
                } else {
                    (c.year, c.month + 1)
                };
                // Go's AddDate(0, 1, 0) from the first of a month (the walk is always there).
                t = Civil::at(y, m, c.day) + (t - Civil::at(c.year, c.month, c.day));
                if Civil::of(t).month == 1 {
                    continue 'wrap;
                }
            }
            while !self.day_matches(t) {
                if !truncated {
                    truncated = true;
                    let c = Civil::of(t);
                    t = Civil::at(c.year, c.month, c.day);
                }
                t += 86_400;
                if Civil::of(t).day == 1 {
                    continue 'wrap;
                }
            }
            while !bit(self.hour, Civil::of(t).hour) {
                if !truncated {
                    truncated = true;
                    t -= t.rem_euclid(3600);
                }
                t += 3600;
                if Civil::of(t).hour == 0 {
                    continue 'wrap;
                }
            }
            while !bit(self.minute, Civil::of(t).minute) {
                if !truncated {
                    truncated = true;
                    t -= t.rem_euclid(60);
                }
                t += 60;
                if Civil::of(t).minute == 0 {
                    continue 'wrap;
                }
            }
            while !bit(self.second, Civil::of(t).second) {
                truncated = true;
                t += 1;
                if Civil::of(t).second == 0 {
                    continue 'wrap;
                }
            }
            return u64::try_from(t).ok()?.checked_mul(SEC);
        }
    }

    fn day_matches(&self, t: i64) -> bool {
        let c = Civil::of(t);
        let dom = bit(self.dom, c.day);
        let dow = bit(self.dow, c.weekday);
        if self.dom & STAR_BIT != 0 || self.dow & STAR_BIT != 0 {
            dom && dow
        } else {
            dom || dow
        }
    }
}

fn bit(bits: u64, value: u32) -> bool {
    bits & (1u64 << value) != 0
}

/// A UTC instant (unix seconds) broken into civil fields.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// 0 = Sunday.
    weekday: u32,
}

impl Civil {
    fn of(t: i64) -> Civil {
        let days = t.div_euclid(86_400);
        let secs = t.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: secs / 3600,
            minute: secs / 60 % 60,
            second: secs % 60,
            // 1970-01-01 was a Thursday.
            weekday: (days + 4).rem_euclid(7) as u32,
        }
    }

    /// Midnight of a date, in unix seconds.
    fn at(year: i64, month: u32, day: u32) -> i64 {
        days_from_civil(year, month, day) * 86_400
    }
}

/// A comma-separated list of ranges (empty elements skipped, as Go's FieldsFunc does).
fn field(text: &str, b: &Bounds) -> Option<u64> {
    let mut bits = 0;
    for expr in text.split(',').filter(|e| !e.is_empty()) {
        bits |= range(expr, b)?;
    }
    Some(bits)
}

/// `number | number-number | */? ` with an optional `/step`.
fn range(expr: &str, b: &Bounds) -> Option<u64> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_and_high.len() == 1;
    let (start, mut end, mut extra);
    if low_and_high[0] == "*" || low_and_high[0] == "?" {
        (start, end, extra) = (b.min, b.max, STAR_BIT);
    } else {
        start = int_or_name(low_and_high[0], b.names)?;
        end = match low_and_high.len() {
            1 => start,
            2 => int_or_name(low_and_high[1], b.names)?,
            _ => return None,
        };
        extra = 0;
    }
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = parse_int(range_and_step[1])?;
            // `N/step` means `N-max/step`.
            if single {
                end = b.max;
            }
            if step > 1 {
                extra = 0;
            }
            step
        }
        _ => return None,
    };
    if start < b.min || end > b.max || start > end || step == 0 {
        return None;
    }
    let mut bits = 0u64;
    let mut v = start;
    while v <= end {
        bits |= 1 << v;
        v += step;
    }
    Some(bits | extra)
}

fn int_or_name(expr: &str, names: &[&str]) -> Option<u32> {
    let lower = expr.to_ascii_lowercase();
    if let Some(i) = names.iter().position(|n| *n == lower) {
        // Months count from 1, days of the week from 0.
        return Some(i as u32 + u32::from(names.len() == 12));
    }
    parse_int(expr)
}

/// Go's `strconv.Atoi` for a non-negative value (an optional `+`; `-N` is refused).
fn parse_int(expr: &str) -> Option<u32> {
    let digits = expr.strip_prefix('+').unwrap_or(expr);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    // Anything past the bounds is refused by the caller; keep huge values huge.
    Some(
        digits
            .parse::<u64>()
            .map_or(u32::MAX, |v| v.min(u64::from(u32::MAX)) as u32),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jetstream::gocompat::time::format_rfc3339_nanos;

    fn at(s: &str) -> u64 {
        parse_rfc3339_nanos(s).unwrap() as u64
    }

    fn next(pattern: &str, from: &str) -> Option<String> {
        let c = Cron::parse(expand_shorthand(pattern))?;
        c.next_after(at(from)).map(format_rfc3339_nanos)
    }

    #[test]
    fn cron_walks_like_nats_server() {
        let from = "2026-12-07T21:18:21.4Z";
        assert_eq!(next("* * * * * *", from).unwrap(), "2026-12-07T21:18:22Z");
        assert_eq!(next("*/5 * * * * *", from).unwrap(), "2026-12-07T21:18:25Z");
        assert_eq!(next("0 * * * * *", from).unwrap(), "2026-12-07T21:19:00Z");
        assert_eq!(
            next("0 30 9 * * mon-fri", from).unwrap(),
            "2026-12-08T09:30:00Z"
        );
        assert_eq!(next("@hourly", from).unwrap(), "2026-12-07T22:00:00Z");
        assert_eq!(next("@daily", from).unwrap(), "2026-12-08T00:00:00Z");
        assert_eq!(next("@weekly", from).unwrap(), "2026-12-13T00:00:00Z");
        assert_eq!(next("@monthly", from).unwrap(), "2027-01-01T00:00:00Z");
        assert_eq!(next("@yearly", from).unwrap(), "2027-01-01T00:00:00Z");
        assert_eq!(
            next("0 0 12 29 feb ?", from).unwrap(),
            "2028-02-29T12:00:00Z"
        );
        // Day of month OR day of week when neither is a star.
        assert_eq!(
            next("0 0 0 15 * sun", from).unwrap(),
            "2026-12-13T00:00:00Z"
        );
        assert_eq!(next("0 0 0 15 * *", from).unwrap(), "2026-12-15T00:00:00Z");
        assert_eq!(
            next("0 0 0 1,15 JAN,Jul *", from).unwrap(),
            "2027-01-01T00:00:00Z"
        );
        assert_eq!(
            next("10-20/5 * * * * *", from).unwrap(),
            "2026-12-07T21:19:10Z"
        );
        assert_eq!(
            next("7/20 * * * * *", from).unwrap(),
            "2026-12-07T21:18:27Z"
        );
        // Never within five years.
        assert_eq!(next("0 0 0 30 feb *", from), None);
    }

    #[test]
    fn cron_refusals() {
        for bad in [
            "* * * * *",
            "* * * * * * *",
            "60 * * * * *",
            "* * 24 * * *",
            "* * * 0 * *",
            "* * * * 13 *",
            "* * * * * 7",
            "5-1 * * * * *",
            "*/0 * * * * *",
            "1-2-3 * * * * *",
            "1/2/3 * * * * *",
            "-1 * * * * *",
            "x * * * * *",
            "@reboot",
            "",
        ] {
            assert_eq!(Cron::parse(expand_shorthand(bad)), None, "{bad:?}");
        }
        assert!(Cron::parse("+5 ,1,, * * * ?").is_some());
    }

    #[test]
    fn at_and_every() {
        let now = at("2026-12-07T21:18:21.4Z");
        assert_eq!(
            next_fire("@at 2026-12-07T21:18:22Z", false, now, now),
            Some((at("2026-12-07T21:18:22Z"), false))
        );
        assert_eq!(
            next_fire("@at 2026-12-07T22:18:22+01:00", false, now, now),
            Some((at("2026-12-07T21:18:22Z"), false))
        );
        assert_eq!(next_fire("@at 2026-12-07 21:18:22Z", false, now, now), None);
        assert_eq!(next_fire("@at 2026-12-07T21:18:22Z", true, now, now), None);
        // @every: rounded to the second, then skipped ahead when already past.
        assert_eq!(
            next_fire("@every 1s", false, now, now),
            Some((at("2026-12-07T21:18:22Z"), true))
        );
        assert_eq!(
            next_fire("@every 5s", false, at("2026-12-07T21:18:21.5Z"), now),
            Some((at("2026-12-07T21:18:27Z"), true))
        );
        let later = now + 3600 * SEC;
        assert_eq!(
            next_fire("@every 1m", false, now, later),
            Some((at("2026-12-07T22:19:21Z"), true))
        );
        for bad in [
            "@every 999ms",
            "@every 0",
            "@every -5s",
            "@every 5",
            "@every",
        ] {
            assert_eq!(next_fire(bad, false, now, now), None, "{bad}");
        }
        assert_eq!(next_fire("@every 1s", true, now, now), None);
        // Cron skips missed occurrences: the next one after now.
        assert_eq!(
            next_fire("0 * * * * *", false, now, later),
            Some((at("2026-12-07T22:19:00Z"), true))
        );
        assert!(next_fire("0 * * * * *", true, now, now).is_some());
        assert!(known_zone(b"Etc/UTC") && !known_zone(b"Europe/Amsterdam"));
    }
}
