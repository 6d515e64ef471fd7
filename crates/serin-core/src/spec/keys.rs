//! The `serin.io/` annotation vocabulary: which keys exist, for which strategy, and a
//! "did you mean" for the rest. Kept apart from the value parsing so the list of keys is
//! one table a reader (and the tests) can check against the README's "Annotations".

/// Keys every strategy reads (without the prefix).
pub const COMMON: &[&str] =
    &["strategy", "analysis", "interval", "progress-deadline", "window", "dry-run", "paused", "retry"];

/// Keys only a canary rollout reads.
pub const CANARY: &[&str] = &[
    "stable",
    "ingress",
    "route",
    "canary-service",
    "steps",
    "step-min",
    "step-max",
    "on-inconclusive",
    "scale-with-weight",
    "header",
    "cookie",
];

/// Keys only a blue-green rollout reads.
pub const BLUE_GREEN: &[&str] = &["service", "slot-label", "smoke", "observe", "keep-previous"];

/// Keys serin writes on the candidate itself: never an error, never read as configuration.
/// `command` is written by serin's API (promote, abort) and consumed by the reconciler.
pub const WRITTEN: &[&str] = &["phase", "weight", "status", "command"];

/// Prefix (after `serin.io/`) of template arguments.
pub const ARG_PREFIX: &str = "arg.";

/// Where a known key belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyClass {
    Common,
    Canary,
    BlueGreen,
    Written,
    Arg,
    Unknown,
}

pub fn classify(key: &str) -> KeyClass {
    if key.starts_with(ARG_PREFIX) {
        KeyClass::Arg
    } else if COMMON.contains(&key) {
        KeyClass::Common
    } else if CANARY.contains(&key) {
        KeyClass::Canary
    } else if BLUE_GREEN.contains(&key) {
        KeyClass::BlueGreen
    } else if WRITTEN.contains(&key) {
        KeyClass::Written
    } else {
        KeyClass::Unknown
    }
}

/// The closest known key, when it is close enough to be a typo.
pub fn suggest(key: &str) -> Option<&'static str> {
    let candidates = COMMON.iter().chain(CANARY).chain(BLUE_GREEN);
    let (best, distance) = candidates.map(|k| (*k, edit_distance(key, k))).min_by_key(|(_, d)| *d)?;
    // Short keys tolerate fewer edits: `step` vs `steps` yes, `sta` vs `stable` no.
    let limit = if best.len() <= 5 { 1 } else { 2 };
    if distance <= limit || (key.len() >= 4 && best.starts_with(key)) { Some(best) } else { None }
}

/// Levenshtein distance on chars (keys are short: a 2-row table is plenty).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_a_suggestion() {
        assert_eq!(suggest("step"), Some("steps"));
        assert_eq!(suggest("intervall"), Some("interval"));
        assert_eq!(suggest("progres-deadline"), Some("progress-deadline"));
        assert_eq!(suggest("dryrun"), Some("dry-run"));
        assert_eq!(suggest("canary-svc"), None);
        assert_eq!(suggest("zzz"), None);
    }

    #[test]
    fn classes() {
        assert_eq!(classify("steps"), KeyClass::Canary);
        assert_eq!(classify("observe"), KeyClass::BlueGreen);
        assert_eq!(classify("phase"), KeyClass::Written);
        assert_eq!(classify("arg.port"), KeyClass::Arg);
        assert_eq!(classify("nope"), KeyClass::Unknown);
    }
}
