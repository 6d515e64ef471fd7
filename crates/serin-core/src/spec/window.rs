//! Deployment windows (`serin.io/window`): 6-field cron expressions with seconds, in UTC,
//! `;`-separated. An instant is inside a window when its second matches one of them.
//!
//! Windows only gate *progress* (weight up, flip, promote); rollbacks ignore them, which is
//! why a window is a predicate on one instant rather than a schedule to wait for.

use std::cmp::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use croner::errors::CronError;
use croner::parser::{CronParser, Seconds, Year};
use croner::{CivilDate, CivilDateTime, CivilTime, Cron, CronDateTime, Resolution, Weekday};

/// A set of cron patterns; empty means "always".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Windows {
    /// The expressions as written (trimmed), for messages and status.
    patterns: Vec<String>,
    /// The same, parsed; kept so [`Windows::allows`] never re-parses or fails.
    crons: Vec<Cron>,
}

impl Windows {
    /// Parses `;`-separated cron expressions; each bad one is reported.
    ///
    /// Blank text (or only separators) means "always". Every expression must have exactly
    /// six fields, seconds first: a 5-field crontab line is refused rather than guessed,
    /// because reading `0 9 * * 1` as seconds-first would silently shift the window.
    pub fn parse(text: &str) -> Result<Windows, Vec<String>> {
        let parser = CronParser::builder().seconds(Seconds::Required).year(Year::Disallowed).build();
        let mut windows = Windows::default();
        let mut errors = Vec::new();
        for pattern in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let fields = pattern.split_whitespace().count();
            if fields != 6 && !pattern.starts_with('@') {
                errors.push(format!(
                    "{pattern:?}: has {fields} fields, expected 6 (second minute hour day-of-month month day-of-week, in UTC)"
                ));
                continue;
            }
            match parser.parse(pattern) {
                Ok(cron) => {
                    windows.patterns.push(pattern.to_string());
                    windows.crons.push(cron);
                }
                Err(e) => errors.push(format!("{pattern:?}: {e}")),
            }
        }
        if errors.is_empty() { Ok(windows) } else { Err(errors) }
    }

    pub fn always() -> Windows {
        Windows::default()
    }

    pub fn is_always(&self) -> bool {
        self.patterns.is_empty()
    }

    /// True when progress is allowed at `t`: its second (UTC) matches one of the patterns.
    pub fn allows(&self, t: SystemTime) -> bool {
        if self.crons.is_empty() {
            return true;
        }
        let instant = UtcSecond::from_system_time(t);
        self.crons.iter().any(|cron| cron.is_time_matching(&instant).unwrap_or(false))
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

/// Whole seconds since the Unix epoch, read as a UTC wall clock.
///
/// serin depends on no calendar crate; croner accepts any type implementing
/// [`CronDateTime`], and UTC has no folds or gaps, so the conversion is plain arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct UtcSecond(i64);

const SECONDS_PER_DAY: i64 = 86_400;

impl UtcSecond {
    fn from_system_time(t: SystemTime) -> UtcSecond {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => UtcSecond(i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2)),
            Err(e) => {
                // Before 1970: round towards the past so the second is the one containing t.
                let back = e.duration();
                let secs = i64::try_from(back.as_secs()).unwrap_or(i64::MAX / 2);
                UtcSecond(-secs - i64::from(back.subsec_nanos() > 0))
            }
        }
    }

    fn days(self) -> i64 {
        self.0.div_euclid(SECONDS_PER_DAY)
    }
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 → (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl CronDateTime for UtcSecond {
    fn to_civil(&self) -> CivilDateTime {
        let (year, month, day) = civil_from_days(self.days());
        let secs = self.0.rem_euclid(SECONDS_PER_DAY) as u32;
        let year = i32::try_from(year).unwrap_or(if year < 0 { i32::MIN } else { i32::MAX });
        let date = CivilDate::from_ymd_opt(year, month, day).unwrap_or(CivilDate::from_parts_unchecked(1970, 1, 1));
        let time = CivilTime::from_hms_opt(secs / 3600, secs / 60 % 60, secs % 60).unwrap_or(CivilTime::MIDNIGHT);
        CivilDateTime::new(date, time)
    }

    fn civil_weekday(&self) -> Weekday {
        // 1970-01-01 was a Thursday (4 days after Sunday).
        Weekday::from_days_from_sunday((self.days() + 4).rem_euclid(7) as u32)
    }

    fn resolve_civil(&self, civil: CivilDateTime) -> Result<Resolution<Self>, CronError> {
        let days = days_from_civil(i64::from(civil.year()), civil.month(), civil.day());
        let secs = i64::from(civil.hour() * 3600 + civil.minute() * 60 + civil.second());
        days.checked_mul(SECONDS_PER_DAY)
            .and_then(|d| d.checked_add(secs))
            .map(|s| Resolution::Single(UtcSecond(s)))
            .ok_or(CronError::InvalidDate)
    }

    fn checked_add_seconds(&self, seconds: i64) -> Option<Self> {
        self.0.checked_add(seconds).map(UtcSecond)
    }

    fn cmp_instant(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(text: &str) -> SystemTime {
        humantime::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn office_hours_allow_a_tuesday_morning_and_not_a_saturday() {
        let w = Windows::parse("* * 9-17 * * Mon-Fri").unwrap();
        assert!(w.allows(at("2026-11-24T10:00:05Z")), "Tuesday 10:00:05");
        assert!(!w.allows(at("2026-11-28T10:00:05Z")), "Saturday");
        assert!(!w.allows(at("2026-11-24T18:00:00Z")), "Tuesday after hours");
        assert!(w.allows(at("2026-11-24T17:59:59Z")));
    }

    #[test]
    fn several_windows_are_alternatives() {
        let w = Windows::parse("* * 9-11 * * Mon ; * * 14 * * Sat").unwrap();
        assert_eq!(w.patterns().len(), 2);
        assert!(w.allows(at("2026-11-23T09:30:00Z")));
        assert!(w.allows(at("2026-11-28T14:30:00Z")));
        assert!(!w.allows(at("2026-11-28T09:30:00Z")));
    }

    #[test]
    fn empty_means_always() {
        let w = Windows::parse("  ").unwrap();
        assert!(w.is_always());
        assert!(w.allows(UNIX_EPOCH));
        assert_eq!(w, Windows::always());
    }

    #[test]
    fn bad_expressions_are_each_reported() {
        let errors = Windows::parse("* * 25 * * *;0 9 * * 1;* * 9-17 * * Mon-Fri").unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("* * 25 * * *"));
        assert!(errors[1].contains("expected 6"), "{}", errors[1]);
    }

    #[test]
    fn calendar_arithmetic_round_trips() {
        for days in [-800_000, -1, 0, 59, 365 * 30 + 7, 20_000, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        let t = UtcSecond::from_system_time(at("2026-02-28T23:59:59Z") + Duration::from_secs(1));
        let c = t.to_civil();
        assert_eq!((c.year(), c.month(), c.day(), c.hour()), (2026, 3, 1, 0));
        assert_eq!(t.civil_weekday(), Weekday::Sunday);
    }
}
