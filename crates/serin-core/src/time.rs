//! Time helpers shared by every module: RFC 3339 / Unix-seconds parsing and formatting,
//! and serde adapters, so that the rest of the code only ever sees `SystemTime`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The latest instant serin reads or computes, 9999-12-31T23:59:59Z: the last one RFC 3339
/// can write. Every instant read is checked against it, and every sum of an instant and a
/// duration goes through [`add`], so no arithmetic on time can overflow (and panic).
pub const LATEST: &str = "9999-12-31T23:59:59Z";
const LATEST_UNIX_SECONDS: u64 = 253_402_300_799;

pub fn latest() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(LATEST_UNIX_SECONDS)
}

/// `t + d`, or `None` past [`LATEST`].
pub fn add(t: SystemTime, d: Duration) -> Option<SystemTime> {
    t.checked_add(d).filter(|sum| *sum <= latest())
}

/// Parses `2026-11-20T02:00:00Z` or Unix seconds (`1763604000`, `1763604000.5`), up to
/// [`LATEST`].
pub fn parse_instant(text: &str) -> Result<SystemTime, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        if seconds.is_finite() && (0.0..=LATEST_UNIX_SECONDS as f64).contains(&seconds) {
            return Ok(UNIX_EPOCH + Duration::from_secs_f64(seconds));
        }
        return Err(format!("{text:?} is not a Unix time between 0 and {LATEST_UNIX_SECONDS} ({LATEST})"));
    }
    let t = humantime::parse_rfc3339_weak(text)
        .map_err(|e| format!("{text:?} is neither RFC 3339 nor Unix seconds ({e})"))?;
    if t > latest() {
        return Err(format!("{text:?} is after {LATEST}, the latest instant serin accepts"));
    }
    Ok(t)
}

/// Formats as RFC 3339 in UTC with second precision.
pub fn format_instant(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Seconds since the Unix epoch (negative times do not occur in serin).
pub fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// The inverse of [`unix_seconds`], clamped to `0..=`[`LATEST`] (NaN is 0).
pub fn from_unix_seconds(seconds: f64) -> SystemTime {
    let seconds = if seconds.is_nan() { 0.0 } else { seconds.clamp(0.0, LATEST_UNIX_SECONDS as f64) };
    UNIX_EPOCH + Duration::from_secs_f64(seconds)
}

/// Formats a duration the way users write it (`5m`, `1h 30m`).
pub fn format_duration(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

/// A Prometheus range-selector duration (`60s`), as `{{interval}}` renders.
pub fn prometheus_duration(d: Duration) -> String {
    format!("{}s", d.as_secs().max(1))
}

/// serde adapter: `SystemTime` as an RFC 3339 string.
pub mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::SystemTime;

    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_instant(*t))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_instant(&text).map_err(serde::de::Error::custom)
    }
}

/// serde adapter: `Option<SystemTime>` as an RFC 3339 string or null.
pub mod rfc3339_option {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::SystemTime;

    pub fn serialize<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&super::format_instant(*t)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SystemTime>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| super::parse_instant(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// serde adapter: `Duration` as humantime text (`5m`).
pub mod human_duration {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_duration(*d))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(text.trim()).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_round_trip_through_rfc3339_and_unix_seconds() {
        let t = parse_instant("2026-11-20T02:00:00Z").unwrap();
        assert_eq!(unix_seconds(t), 1_795_140_000.0);
        assert_eq!(parse_instant("1795140000").unwrap(), t);
        assert_eq!(format_instant(t), "2026-11-20T02:00:00Z");
        assert!(parse_instant("yesterday").is_err());
    }
}
