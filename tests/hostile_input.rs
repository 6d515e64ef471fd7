//! Hostile input never panics: a seeded generator of awkward strings and numbers (huge
//! durations, `1e300`, NaN, quotes, control characters, unicode) is thrown at every parser
//! that reads user or cluster data — the annotations, the `serin.io/status` record, a
//! recording file — and at a replay over a tiny recording. Each must answer `Ok` or `Err`.
//!
//! Seeded, so a failure names the seed and iteration and reproduces exactly.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use serin::engine;
use serin::judge::JudgeConfig;
use serin::k8s::record::Record;
use serin::rollout::RolloutState;
use serin::source::{Recording, RecordingSource};
use serin::spec::keys;
use serin::target::Target;
use serin::template::Catalog;

const SEED: u64 = 0x005e_214a;
const ITERATIONS: usize = 1500;

/// Values picked because they broke, or could break, a parser somewhere.
const NASTY: &[&str] = &[
    "",
    " ",
    "0",
    "-1",
    "1e300",
    "-1e300",
    "1e-300",
    "NaN",
    "inf",
    "-Infinity",
    "18446744073709551615",
    "18446744073709551616s",
    "300000000000y",
    "584542046091y",
    "9999-12-31T23:59:59Z",
    "10000-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "2026-11-20T02:00:00Z",
    "1s",
    "7d",
    "30days",
    "1ns",
    "10,25,50,100",
    "100,10",
    "0,101",
    "true",
    "yes",
    "* * * * * *",
    "0 0 0 31 2 * *",
    "x\"}) or vector(1) #",
    "\\",
    "\n",
    "\u{0}",
    "é🙂",
    "{",
    "[]",
    "null",
];

/// The annotations a replay reads, each with values at the edges of what it accepts.
const EXTREME_BUT_VALID: &[(&str, &[&str])] = &[
    ("interval", &["1s", "7d", "10m"]),
    ("step-min", &["0s", "1s", "7d"]),
    ("step-max", &["1s", "7d"]),
    ("progress-deadline", &["1s", "7d"]),
    ("steps", &["1,100", "1", "100", "99,100"]),
    ("window", &["* * * * * *", "0 0 0 29 2 *", "0 0 0 * * MON"]),
];

/// Every key serin reads (`spec::keys`), plus two template arguments.
fn all_keys() -> Vec<&'static str> {
    [keys::COMMON, keys::CANARY, keys::BLUE_GREEN, &["arg.port", "arg.x"]].concat()
}

fn nasty(rng: &mut StdRng) -> String {
    match rng.random_range(0..6) {
        0 => NASTY[rng.random_range(0..NASTY.len())].to_string(),
        1 => format!("{}{}", NASTY[rng.random_range(0..NASTY.len())], NASTY[rng.random_range(0..NASTY.len())]),
        2 => format!("{}{}", rng.random::<u64>(), ["s", "m", "h", "d", "y", "ms", ""][rng.random_range(0..7)]),
        3 => format!("{:e}", f64::from_bits(rng.random::<u64>())),
        4 => (0..rng.random_range(0..40)).map(|_| char::from(rng.random_range(0u8..128))).collect(),
        _ => "9".repeat(rng.random_range(1..400)),
    }
}

/// Runs `f`, failing the test with the input that made it panic.
fn must_not_panic<T>(what: &str, input: &dyn std::fmt::Debug, f: impl FnOnce() -> T) -> Option<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Some(v),
        Err(_) => panic!("{what} panicked on {input:?} (seed {SEED:#x})"),
    }
}

fn healthy() -> Recording {
    Recording::load(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/simulations/recordings/healthy.json")))
        .unwrap()
}

/// Replaces leaves of `value` by hostile strings or numbers.
fn mutate(value: &mut Value, rng: &mut StdRng) {
    match value {
        Value::Object(map) => map.values_mut().for_each(|v| mutate(v, rng)),
        Value::Array(items) => items.iter_mut().for_each(|v| mutate(v, rng)),
        leaf if rng.random_bool(0.3) => {
            *leaf = match rng.random_range(0..3) {
                0 => Value::String(nasty(rng)),
                1 => json!(f64::from_bits(rng.random::<u64>()) % 1e300),
                _ => json!(rng.random::<u64>()),
            }
        }
        _ => {}
    }
}

#[test]
fn annotations_never_panic() {
    let mut rng = StdRng::seed_from_u64(SEED);
    let keys = all_keys();
    for _ in 0..ITERATIONS {
        let mut annotations = BTreeMap::from([("serin.io/strategy".to_string(), "canary".to_string())]);
        if rng.random_bool(0.5) {
            annotations.insert("serin.io/strategy".into(), "blue-green".into());
            annotations.insert("serin.io/service".into(), "sark".into());
        }
        for _ in 0..rng.random_range(1..5) {
            annotations.insert(format!("serin.io/{}", keys[rng.random_range(0..keys.len())]), nasty(&mut rng));
        }
        must_not_panic("spec::parse", &annotations, || serin::spec::parse("sark-canary", &annotations));
    }
}

#[test]
fn status_records_never_panic() {
    let mut rng = StdRng::seed_from_u64(SEED);
    let start = serin::time::parse_instant("2026-11-20T02:00:00Z").unwrap();
    let written = Record::new(RolloutState::new("rev", start)).annotations();
    let status: Value = serde_json::from_str(&written["serin.io/status"]).unwrap();
    for _ in 0..ITERATIONS {
        let mut hostile = status.clone();
        mutate(&mut hostile, &mut rng);
        let mut annotations = written.clone();
        annotations.insert("serin.io/status".into(), hostile.to_string());
        must_not_panic("Record::read", &hostile, || Record::read(&annotations));
    }
    for text in ["1e300", "-1", "NaN", "99999999999999999999"] {
        let mut hostile = status.clone();
        hostile["started"] = json!(text);
        let annotations = BTreeMap::from([("serin.io/status".to_string(), hostile.to_string())]);
        let read = must_not_panic("Record::read", &hostile, || Record::read(&annotations)).unwrap();
        assert!(read.is_err(), "a status started at {text} is refused");
    }
}

#[test]
fn recordings_never_panic() {
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut small = healthy();
    for series in small.queries.values_mut().flatten() {
        series.values.truncate(3);
    }
    let text = serde_json::to_value(&small).unwrap();
    for _ in 0..ITERATIONS / 3 {
        let mut hostile = text.clone();
        mutate(&mut hostile, &mut rng);
        hostile["serin_recording"] = json!(1);
        let text = hostile.to_string();
        must_not_panic("Recording::from_json", &text, || Recording::from_json(&text, "fuzz"));
    }
}

/// Hostile values for the annotations a replay reads, and hostile samples, over a
/// recording of a few minutes: whatever parses must replay without a panic.
#[test]
fn replays_of_hostile_specs_and_samples_never_panic() {
    let mut rng = StdRng::seed_from_u64(SEED);
    let full = healthy();
    let end = full.start + Duration::from_secs(600);
    let catalog = Catalog::builtin();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut replayed = 0;
    for _ in 0..200 {
        let mut recording = full.clone();
        recording.end = end;
        for series in recording.queries.values_mut().flatten() {
            series.values.truncate(40);
            for (t, v) in &mut series.values {
                if rng.random_bool(0.1) {
                    *v = ["1e308", "-1e308", "NaN", "+Inf", "-Inf", "0", "-5"][rng.random_range(0..7)].into();
                }
                if rng.random_bool(0.02) {
                    *t = [0.0, 1e300, f64::MAX, 4e9][rng.random_range(0..4)];
                }
            }
        }
        let mut target: Target = recording.deployment.clone().unwrap();
        for _ in 0..rng.random_range(1..4) {
            let (key, values) = EXTREME_BUT_VALID[rng.random_range(0..EXTREME_BUT_VALID.len())];
            let value = if rng.random_bool(0.8) {
                values[rng.random_range(0..values.len())].to_string()
            } else {
                nasty(&mut rng)
            };
            target.annotations.insert(format!("serin.io/{key}"), value);
        }
        let input = (target.annotations.clone(), recording.queries.len());
        let Ok(spec) = serin::spec::parse(&target.name, &target.annotations) else { continue };
        let Ok(analysis) = engine::prepare(&spec, &catalog, &target) else { continue };
        if recording.validate("fuzz").is_err() {
            continue;
        }
        let source = RecordingSource::new(recording.clone());
        let config = JudgeConfig::default();
        must_not_panic("replay::run", &input, || {
            runtime.block_on(serin::replay::run(
                &source,
                &spec,
                &analysis,
                (recording.start, recording.end),
                &config,
                |_| {},
            ))
        });
        replayed += 1;
    }
    assert!(replayed > 20, "the generator must produce specs that parse ({replayed} did)");
}

#[test]
fn instants_past_the_representable_range_are_errors() {
    for text in ["1e300", "1e20", "253402300800", "inf", "-1", "NaN"] {
        let parsed = must_not_panic("parse_instant", &text, || serin::time::parse_instant(text)).unwrap();
        assert!(parsed.is_err(), "{text} is refused");
    }
    assert!(serin::time::parse_instant("253402300799").is_ok(), "9999-12-31T23:59:59Z is the latest instant");
}
