//! Recordings (README, "Commands"): the `query_range` answers of every rendered query over a time range.
//!
//! This file owns the file format: the types, loading with errors that say what is wrong
//! and where, saving, and the Prometheus value-string convention (`"NaN"`, `"+Inf"`).
//! Answering instant queries from a recording is [`lookup`]'s concern.

mod lookup;
mod query_key;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use lookup::RecordingSource;

/// The only format version this serin reads and writes.
pub const RECORDING_VERSION: u32 = 1;

/// A recording file, as written by `serin record` and the simulations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    pub serin_recording: u32,
    #[serde(with = "crate::time::rfc3339")]
    pub start: SystemTime,
    #[serde(with = "crate::time::rfc3339")]
    pub end: SystemTime,
    #[serde(with = "crate::time::human_duration")]
    pub step: Duration,
    /// Rendered query → the `data.result` of a `query_range` answer.
    pub queries: BTreeMap<String, Vec<RangeSeries>>,
    /// The Deployment the queries were rendered for (written by `serin record` and the
    /// simulations), so a replay needs no `--deployment`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<crate::target::Target>,
    /// When the rollout starts, if the recording begins earlier: what comes before is the
    /// stable's history, which the judge reads to learn how bursty the baseline is
    /// (`crates/serin-core/src/judge/README.md`, "Overdispersion"). Absent: the rollout starts at `start`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::time::rfc3339_option")]
    pub rollout_start: Option<SystemTime>,
}

impl Recording {
    /// Where a replay of this recording starts the rollout.
    pub fn rollout_start(&self) -> SystemTime {
        self.rollout_start.filter(|t| *t >= self.start && *t < self.end).unwrap_or(self.start)
    }
}

/// One series of a `query_range` matrix: `values` are `[unix_seconds, "value"]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RangeSeries {
    #[serde(default)]
    pub metric: BTreeMap<String, String>,
    #[serde(serialize_with = "serialize_points", deserialize_with = "deserialize_points")]
    pub values: Vec<(f64, String)>,
}

/// Why a recording could not be read, written or trusted.
///
/// Every variant names the file (or `origin` for text not read from a file) so that a
/// user with several recordings knows which one to fix.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("cannot read recording {path}: {cause}", path = path.display())]
    Read { path: PathBuf, cause: std::io::Error },
    #[error("cannot write recording {path}: {cause}", path = path.display())]
    Write { path: PathBuf, cause: std::io::Error },
    /// Not JSON, or JSON of the wrong shape; serde's message carries line and column.
    #[error("{origin}: not a valid recording: {cause}")]
    Json { origin: String, cause: serde_json::Error },
    #[error("{origin}: serin_recording is {found}, but this serin reads version {RECORDING_VERSION}")]
    Version { origin: String, found: String },
    /// Well-formed JSON whose content makes no sense (`at` says where).
    #[error("{origin}: {at}: {problem}")]
    Invalid { origin: String, at: String, problem: String },
}

/// Only `serin_recording` is looked at first, so that a file of another version gets a
/// version error rather than a confusing shape error.
#[derive(Deserialize)]
struct VersionProbe {
    serin_recording: Option<serde_json::Value>,
}

impl Recording {
    /// Reads and validates a recording file.
    pub fn load(path: &Path) -> Result<Recording, RecordingError> {
        let text =
            std::fs::read_to_string(path).map_err(|cause| RecordingError::Read { path: path.to_path_buf(), cause })?;
        Recording::from_json(&text, &path.display().to_string())
    }

    /// Parses and validates recording JSON; `origin` names it in error messages.
    pub fn from_json(text: &str, origin: &str) -> Result<Recording, RecordingError> {
        let json_error = |cause| RecordingError::Json { origin: origin.to_string(), cause };
        let probe: VersionProbe = serde_json::from_str(text).map_err(json_error)?;
        match probe.serin_recording {
            Some(serde_json::Value::Number(n)) if n.as_u64() == Some(RECORDING_VERSION.into()) => {}
            Some(other) => {
                return Err(RecordingError::Version { origin: origin.to_string(), found: other.to_string() });
            }
            None => {
                return Err(RecordingError::Version { origin: origin.to_string(), found: "missing".to_string() });
            }
        }
        let recording: Recording = serde_json::from_str(text).map_err(json_error)?;
        recording.validate(origin)?;
        Ok(recording)
    }

    /// Checks what serde cannot: the time range, the step, and that every value string
    /// is a number. Samples need not be sorted (the lookup sorts them).
    pub fn validate(&self, origin: &str) -> Result<(), RecordingError> {
        let invalid = |at: String, problem: String| RecordingError::Invalid { origin: origin.to_string(), at, problem };
        if self.serin_recording != RECORDING_VERSION {
            return Err(RecordingError::Version {
                origin: origin.to_string(),
                found: self.serin_recording.to_string(),
            });
        }
        if self.start >= self.end {
            return Err(invalid(
                "start/end".into(),
                format!(
                    "start ({}) must be before end ({})",
                    crate::time::format_instant(self.start),
                    crate::time::format_instant(self.end)
                ),
            ));
        }
        if self.step.is_zero() {
            return Err(invalid("step".into(), "step must be greater than 0".into()));
        }
        for (query, series) in &self.queries {
            for (s, one) in series.iter().enumerate() {
                for (v, (t, value)) in one.values.iter().enumerate() {
                    let at = || format!("queries[{query:?}][{s}].values[{v}]");
                    if !t.is_finite() || *t < 0.0 {
                        return Err(invalid(at(), format!("timestamp {t} is not a Unix time")));
                    }
                    if parse_value(value).is_none() {
                        return Err(invalid(at(), format!("value {value:?} (at {t}) is not a number")));
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes the recording as pretty-printed JSON.
    pub fn save(&self, path: &Path) -> Result<(), RecordingError> {
        let write_error = |cause| RecordingError::Write { path: path.to_path_buf(), cause };
        let mut text = serde_json::to_string_pretty(self).map_err(|e| write_error(e.into()))?;
        text.push('\n');
        std::fs::write(path, text).map_err(write_error)
    }
}

/// Parses a Prometheus sample value string: a decimal number, `NaN`, `+Inf` or `-Inf`.
pub fn parse_value(text: &str) -> Option<f64> {
    match text.trim() {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "" => None,
        other => other.parse::<f64>().ok(),
    }
}

/// Formats a value the way Prometheus' API does, so that recordings read like its answers
/// and round-trip exactly (Rust's `Display` for `f64` is the shortest exact form).
pub fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value == f64::INFINITY {
        "+Inf".to_string()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        value.to_string()
    }
}

/// Whole-second timestamps are written as integers, as Prometheus does.
fn serialize_points<S: Serializer>(points: &[(f64, String)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(points.len()))?;
    for (t, value) in points {
        if t.fract() == 0.0 && t.abs() < 9.0e15 {
            seq.serialize_element(&(*t as i64, value))?;
        } else {
            seq.serialize_element(&(t, value))?;
        }
    }
    seq.end()
}

/// Reads `[[unix_seconds, "value"], ...]` with an error naming the offending element,
/// instead of serde's generic "expected f64".
fn deserialize_points<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(f64, String)>, D::Error> {
    let raw = Vec::<serde_json::Value>::deserialize(d)?;
    raw.into_iter()
        .enumerate()
        .map(|(i, point)| match point.as_array().map(Vec::as_slice) {
            Some([serde_json::Value::Number(t), serde_json::Value::String(v)]) => t
                .as_f64()
                .map(|t| (t, v.clone()))
                .ok_or_else(|| serde::de::Error::custom(format!("values[{i}]: bad timestamp {t}"))),
            _ => Err(serde::de::Error::custom(format!("values[{i}] must be [unix_seconds, \"value\"], found {point}"))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_json() -> String {
        r#"{ "serin_recording": 1,
  "start": "2026-11-20T02:00:00Z", "end": "2026-11-20T03:00:00Z", "step": "15s",
  "queries": { "sum(x)": [ {"metric": {"canary": "true"}, "values": [[1795140000, "12"], [1795140015, "NaN"], [1795140030.5, "+Inf"]]} ] } }"#
            .to_string()
    }

    fn load_err(text: &str) -> String {
        Recording::from_json(text, "rec.json").unwrap_err().to_string()
    }

    #[test]
    fn loads_the_spec_example_and_saves_it_back() {
        let rec = Recording::from_json(&sample_json(), "rec.json").unwrap();
        assert_eq!(rec.step, Duration::from_secs(15));
        let series = &rec.queries["sum(x)"][0];
        assert_eq!(series.metric["canary"], "true");
        assert_eq!(series.values[2], (1795140030.5, "+Inf".to_string()));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        rec.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("1795140000,"), "integral timestamps stay integers: {text}");
        assert_eq!(Recording::load(&path).unwrap(), rec);
    }

    #[test]
    fn value_strings_follow_prometheus() {
        assert!(parse_value("NaN").unwrap().is_nan());
        assert_eq!(parse_value("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_value("-Inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_value("1.5e+06"), Some(1.5e6));
        assert_eq!(parse_value("twelve"), None);
        assert_eq!(parse_value(""), None);
        for v in [0.1, 600.0, -3.25, 1e-300, f64::INFINITY] {
            assert_eq!(parse_value(&format_value(v)), Some(v));
        }
        assert_eq!(format_value(f64::NAN), "NaN");
    }

    #[test]
    fn not_json_reports_line_and_column() {
        let msg = load_err("{\n  \"serin_recording\": 1,\n  oops");
        assert!(msg.contains("rec.json") && msg.contains("line 3"), "{msg}");
    }

    #[test]
    fn wrong_or_missing_version_is_named() {
        let msg = load_err(&sample_json().replace("\"serin_recording\": 1", "\"serin_recording\": 2"));
        assert!(msg.contains("serin_recording is 2"), "{msg}");
        let msg = load_err(r#"{"queries": {}}"#);
        assert!(msg.contains("serin_recording is missing"), "{msg}");
    }

    #[test]
    fn start_must_precede_end_and_step_be_positive() {
        let msg = load_err(&sample_json().replace("03:00:00Z", "01:00:00Z"));
        assert!(msg.contains("must be before end"), "{msg}");
        let msg = load_err(&sample_json().replace("\"15s\"", "\"0s\""));
        assert!(msg.contains("step must be greater than 0"), "{msg}");
    }

    #[test]
    fn malformed_values_are_located() {
        let msg = load_err(&sample_json().replace("[1795140015, \"NaN\"]", "[1795140015, 3]"));
        assert!(msg.contains("values[1] must be [unix_seconds"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
        let msg = load_err(&sample_json().replace("\"12\"", "\"twelve\""));
        assert!(msg.contains("queries[\"sum(x)\"][0].values[0]"), "{msg}");
        assert!(msg.contains("\"twelve\""), "{msg}");
    }

    #[test]
    fn missing_file_is_a_read_error() {
        let err = Recording::load(Path::new("/nonexistent/rec.json")).unwrap_err();
        assert!(matches!(err, RecordingError::Read { .. }), "{err}");
    }
}
