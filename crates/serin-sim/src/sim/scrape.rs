//! What Prometheus makes of the simulated counters: samples taken per controller pod at its
//! own scrape phase, and the two ways a template can turn them into per-interval counts.
//!
//! - [`Form::Increase`]: `increase(x[w])`, as Prometheus 2.x computes it (closed range
//!   `[t − w, t]`, `extrapolatedRate` in `promql/functions.go`): per series, the difference
//!   between the first and last sample in the range, scaled up to the whole window unless
//!   the samples are far from its edges, and only down to where the counter would have been
//!   zero. A 1-minute window over 15 s scrapes that are not on the minute sees 45 s of
//!   growth scaled by 4/3; over 30 s scrapes, 30 s scaled by 2. A series needs two samples
//!   in the range; a series born inside it loses its first value.
//! - [`Form::Delta`]: `(x - last_over_time(x[1h] offset w)) >= 0 or x`, the exact form the
//!   shipped templates use (see `analysis-templates/README.md`): per series, the last sample
//!   at `t` (within the 5-minute lookback) minus the last one at or before `t − w` (within
//!   an hour), or the whole value for a series that did not exist then. Consecutive windows
//!   tile exactly: every increment is counted once, integer counts stay integers.
//!
//! Pods share the traffic evenly: pod p's counter is the version's counter ÷ pods. A series
//! exists from its first non-zero sample (a request counter's first increment; every bucket
//! of a histogram from the version's first request). Gap instants have no sample.

use std::time::{Duration, SystemTime};

use super::world::{Arm, Counters, World};

/// How a rendered query turns counters into a count over its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Form {
    /// Prometheus' `increase()` (or `rate()`), extrapolated.
    Increase,
    /// Differences of the samples at the window's edges.
    Delta,
}

impl Form {
    /// The form a rendered query uses: `increase(` or `rate(` extrapolate; anything else is
    /// read as the edge difference.
    pub fn of_query(query: &str) -> Form {
        if query.contains("increase(") || query.contains("rate(") { Form::Increase } else { Form::Delta }
    }
}

/// The scrapes `k` in `ks` of one pod: scrape k is at `phase + k·interval` seconds since the
/// origin and reads the counters after `floor(that / step)` ticks.
struct Scrapes {
    ks: std::ops::Range<u64>,
    phase: f64,
    interval: f64,
    step: f64,
}

/// Prometheus' default lookback for an instant selector.
const LOOKBACK: Duration = Duration::from_secs(300);
/// The range of `last_over_time(x[1h] offset w)` in the exact form.
const EDGE_LOOKBACK: Duration = Duration::from_secs(3600);

/// A quantity of one version's [`Counters`]: what a series counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    /// All requests (both statuses).
    Requests,
    /// 5xx answers (`status="500"`).
    Errors,
    /// Non-5xx answers (`status="200"`).
    Ok,
    /// The cumulative count of bucket `k` of [`super::LE_BOUNDS`].
    Bucket(usize),
    /// The sum of latencies, in seconds.
    LatencySum,
}

impl Quantity {
    pub fn of(self, c: &Counters) -> f64 {
        match self {
            Quantity::Requests => c.requests,
            Quantity::Errors => c.errors,
            Quantity::Ok => c.requests - c.errors,
            Quantity::Bucket(k) => c.buckets.get(k).copied().unwrap_or(0.0),
            Quantity::LatencySum => c.latency_sum,
        }
    }
}

/// One counter of one version: the quantity it counts, and the quantity whose first
/// increment creates the series (a request counter's own; for every series of a histogram,
/// the version's first request, since a client library creates all buckets at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Series {
    pub value: Quantity,
    pub creator: Quantity,
}

impl Series {
    /// A counter created by its own first increment.
    pub const fn counter(q: Quantity) -> Series {
        Series { value: q, creator: q }
    }

    /// A histogram series: it exists from the version's first request.
    pub const fn histogram(q: Quantity) -> Series {
        Series { value: q, creator: Quantity::Requests }
    }
}

impl World {
    /// The window's count of `series` of `arm` at `t`, summed over the controller pods, in
    /// `form`; `None` when no pod has the series (Prometheus answers an empty vector).
    pub fn windowed(&self, arm: Arm, series: Series, form: Form, t: SystemTime, window: Duration) -> Option<f64> {
        let pods = self.scenario().scrape.pods.max(1);
        let mut sum = None;
        for pod in 0..pods {
            let value = match form {
                Form::Delta => self.delta(arm, series, pod, t, window),
                Form::Increase => self.increase(arm, series, pod, t, window),
            };
            if let Some(v) = value {
                *sum.get_or_insert(0.0) += v / f64::from(pods);
            }
        }
        sum
    }

    /// `series`' samples of `pod` in `[from, to]`: (seconds since the origin, the pod's
    /// full counter value, not yet its share), oldest first; instants before the series
    /// exists are left out.
    fn samples(&self, arm: Arm, series: Series, pod: u32, from: SystemTime, to: SystemTime) -> Vec<(f64, f64)> {
        let scrapes = self.scrapes(pod, from, to);
        scrapes
            .ks
            .clone()
            .filter_map(|k| self.sample(&scrapes, k, arm))
            .filter(|(_, c)| series.creator.of(c) > 0.0)
            .map(|(s, c)| (s, series.value.of(c)))
            .collect()
    }

    /// The counters of the last scrape in `[from, to]` at which `creator` is non-zero (the
    /// series exists), found walking back from `to`: what an instant selector or
    /// `last_over_time` reads, at the cost of the scrapes it passes rather than of the
    /// whole range (an hour for the exact form's left edge).
    fn last_counters(
        &self,
        arm: Arm,
        creator: Quantity,
        pod: u32,
        from: SystemTime,
        to: SystemTime,
    ) -> Option<&Counters> {
        let scrapes = self.scrapes(pod, from, to);
        let mut samples = scrapes.ks.clone().rev().filter_map(|k| self.sample(&scrapes, k, arm));
        samples.find(|(_, c)| creator.of(c) > 0.0).map(|(_, c)| c)
    }

    /// [`World::windowed`] in [`Form::Delta`] for every series of a histogram at once (all
    /// created by the version's first request): the same numbers, but each pod's edge
    /// scrapes are found once rather than once per bucket. `None` when no pod has them.
    pub fn windowed_histogram(
        &self,
        arm: Arm,
        values: &[Quantity],
        t: SystemTime,
        window: Duration,
    ) -> Option<Vec<f64>> {
        let pods = self.scenario().scrape.pods.max(1);
        let mut sums: Option<Vec<f64>> = None;
        for pod in 0..pods {
            let Some((right, left)) = self.edges(arm, Quantity::Requests, pod, t, window) else { continue };
            let sums = sums.get_or_insert_with(|| vec![0.0; values.len()]);
            for (sum, &q) in sums.iter_mut().zip(values) {
                *sum += grown(q, right, left) / f64::from(pods);
            }
        }
        sums
    }

    /// The scrape instants of `pod` in `[from, to]` (and not after [`World::now`]), oldest
    /// first, with `arm`'s counters then; gap instants have no sample and are left out.
    pub fn scrape_points(&self, pod: u32, arm: Arm, from: SystemTime, to: SystemTime) -> Vec<(SystemTime, Counters)> {
        let scrapes = self.scrapes(pod, from, to);
        let origin = self.origin();
        let samples = scrapes.ks.clone().filter_map(|k| self.sample(&scrapes, k, arm));
        samples.map(|(s, c)| (origin + Duration::from_secs_f64(s), *c)).collect()
    }

    /// Which scrapes of `pod` fall in `[from, to]`, not after [`World::now`].
    fn scrapes(&self, pod: u32, from: SystemTime, to: SystemTime) -> Scrapes {
        let scenario = self.scenario();
        let origin = self.origin();
        let interval = scenario.scrape_interval().as_secs_f64();
        let pods = scenario.scrape.pods.max(1);
        let phase = scenario.scrape.phase.as_secs_f64() + interval * f64::from(pod) / f64::from(pods);
        let since = |t: SystemTime| t.duration_since(origin).map(|d| d.as_secs_f64()).unwrap_or(-1.0);
        let (lo, hi) = (since(from), since(to).min(since(self.now())));
        let first = ((lo - phase) / interval).ceil().max(0.0) as u64;
        // The last k with phase + k·interval ≤ hi (to within rounding), if any.
        let at = |k: u64| phase + interval * k as f64;
        let mut end = ((hi - phase) / interval).floor().max(0.0) as u64 + 1;
        while end > 0 && at(end - 1) > hi + 1e-9 {
            end -= 1;
        }
        while at(end) <= hi + 1e-9 {
            end += 1;
        }
        let ks = if hi < 0.0 { 0..0 } else { first..end.max(first) };
        Scrapes { ks, phase, interval, step: scenario.step.as_secs_f64() }
    }

    /// Scrape `k` of `scrapes`: (seconds since the origin, `arm`'s counters then); `None`
    /// in a gap.
    fn sample(&self, scrapes: &Scrapes, k: u64, arm: Arm) -> Option<(f64, &Counters)> {
        let s = scrapes.phase + scrapes.interval * k as f64;
        if self.in_gap(self.origin() + Duration::from_secs_f64(s)) {
            return None;
        }
        let ticks = ((s + 1e-9) / scrapes.step).floor() as usize;
        Some((s, self.counters(ticks, arm)))
    }

    fn delta(&self, arm: Arm, series: Series, pod: u32, t: SystemTime, window: Duration) -> Option<f64> {
        let (right, left) = self.edges(arm, series.creator, pod, t, window)?;
        Some(grown(series.value, right, left))
    }

    /// The exact form's edges for `pod`: the last scrape at `t` (within the lookback) at
    /// which `creator` is non-zero, and the last one at or before `t − window` (within an
    /// hour), if the series existed then.
    fn edges(
        &self,
        arm: Arm,
        creator: Quantity,
        pod: u32,
        t: SystemTime,
        window: Duration,
    ) -> Option<(&Counters, Option<&Counters>)> {
        let right = self.last_counters(arm, creator, pod, t.checked_sub(LOOKBACK)?, t)?;
        let edge = t.checked_sub(window)?;
        let from = edge.checked_sub(EDGE_LOOKBACK).unwrap_or(edge);
        Some((right, self.last_counters(arm, creator, pod, from, edge)))
    }

    /// Prometheus 2.x `extrapolatedRate` for a counter, not divided by the range.
    fn increase(&self, arm: Arm, series: Series, pod: u32, t: SystemTime, window: Duration) -> Option<f64> {
        let samples = self.samples(arm, series, pod, t.checked_sub(window)?, t);
        let (&(first_t, first_v), &(last_t, last_v)) = (samples.first()?, samples.last()?);
        if samples.len() < 2 {
            return None;
        }
        let mut result = last_v - first_v;
        for pair in samples.windows(2) {
            if pair[1].1 < pair[0].1 {
                result += pair[0].1;
            }
        }
        let origin = self.origin();
        let since = |t: SystemTime| t.duration_since(origin).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        let range_start = since(t) - window.as_secs_f64();
        let mut to_start = first_t - range_start;
        let mut to_end = since(t) - last_t;
        let sampled = last_t - first_t;
        let average = sampled / (samples.len() - 1) as f64;
        if result > 0.0 && first_v >= 0.0 {
            let to_zero = sampled * (first_v / result);
            if to_zero < to_start {
                to_start = to_zero;
            }
        }
        let threshold = average * 1.1;
        if to_start >= threshold {
            to_start = average / 2.0;
        }
        if to_end >= threshold {
            to_end = average / 2.0;
        }
        Some(result * (sampled + to_start + to_end) / sampled)
    }
}

/// How much `q` grew between the edges (0 before the series existed); a counter that went
/// down was reset, and its value since the reset is what is known.
fn grown(q: Quantity, right: &Counters, left: Option<&Counters>) -> f64 {
    let (r, l) = (q.of(right), left.map_or(0.0, |c| q.of(c)));
    if r >= l { r - l } else { r }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::world::tests::scenario;

    const MINUTE: Duration = Duration::from_secs(60);
    const REQUESTS: Series = Series::counter(Quantity::Requests);

    fn world(extra: &str) -> World {
        let mut w = World::new(&scenario(&format!("step: 5s\n{extra}")), None);
        w.set_weight(50);
        w.advance_to(w.start() + 20 * MINUTE);
        w
    }

    fn exact(w: &World, t: SystemTime) -> f64 {
        let ticks = w.ticks().iter().filter(|k| k.end > t - MINUTE && k.end <= t);
        ticks.map(|k| k.canary.requests as f64).sum()
    }

    #[test]
    fn delta_tiles_exactly_whatever_the_phase() {
        let w = world("scrape: {interval: 15s, pods: 3, phase: 5s}\n");
        let (a, b) = (w.start() + 10 * MINUTE, w.start() + 15 * MINUTE);
        let mut sum = 0.0;
        let mut t = a;
        while t < b {
            t += MINUTE;
            sum += w.windowed(Arm::Canary, REQUESTS, Form::Delta, t, MINUTE).unwrap();
        }
        // The five windows together count exactly what the scrapes at a and b differ by.
        let at = |t: SystemTime| w.windowed(Arm::Canary, REQUESTS, Form::Delta, t, 5 * MINUTE).unwrap();
        assert!((sum - at(b)).abs() < 1e-6, "{sum} vs {}", at(b));
        assert!((sum.round() - sum).abs() < 1e-6, "pods' shares add up to whole requests");
    }

    #[test]
    fn a_histogram_read_at_once_is_every_bucket_read_alone() {
        let buckets: Vec<Quantity> = (0..crate::sim::LE_BOUNDS.len()).map(Quantity::Bucket).collect();
        for extra in [
            "",
            "scrape: {interval: 15s, pods: 3, phase: 5s}\n",
            "scrape: {interval: 30s, pods: 3, phase: 20s}\ngaps: [{from: 9m, to: 11m}]\n",
        ] {
            let w = world(extra);
            for (arm, minutes, window) in [
                (Arm::Canary, 7, MINUTE),
                (Arm::Baseline, 12, 5 * MINUTE),
                (Arm::Canary, 10, MINUTE),
                (Arm::Canary, 0, MINUTE),
            ] {
                let t = w.start() + minutes * MINUTE;
                let each: Option<Vec<f64>> =
                    buckets.iter().map(|&q| w.windowed(arm, Series::histogram(q), Form::Delta, t, window)).collect();
                assert_eq!(w.windowed_histogram(arm, &buckets, t, window), each, "{extra} {arm:?} at {minutes} min");
            }
        }
    }

    #[test]
    fn aligned_single_pod_delta_is_the_window_sum() {
        let w = world("");
        let t = w.start() + 12 * MINUTE;
        assert_eq!(w.windowed(Arm::Canary, REQUESTS, Form::Delta, t, MINUTE), Some(exact(&w, t)));
    }

    #[test]
    fn increase_over_unaligned_15s_scrapes_scales_45s_by_four_thirds() {
        let w = world("scrape: {interval: 15s, pods: 1, phase: 5s}\n");
        let t = w.start() + 12 * MINUTE;
        let got = w.windowed(Arm::Canary, REQUESTS, Form::Increase, t, MINUTE).unwrap();
        // Samples at t−55 s … t−10 s: 45 s of growth, extrapolated by 5 s at each end.
        let grown: f64 = w
            .ticks()
            .iter()
            .filter(|k| k.end > t - Duration::from_secs(55) && k.end <= t - Duration::from_secs(10))
            .map(|k| k.canary.requests as f64)
            .sum();
        assert!((got - grown * 4.0 / 3.0).abs() < 1e-6, "{got} vs {grown}");
        let w30 = world("scrape: {interval: 30s, pods: 1, phase: 10s}\n");
        let got = w30.windowed(Arm::Canary, REQUESTS, Form::Increase, t, MINUTE).unwrap();
        let grown: f64 = w30
            .ticks()
            .iter()
            .filter(|k| k.end > t - Duration::from_secs(50) && k.end <= t - Duration::from_secs(20))
            .map(|k| k.canary.requests as f64)
            .sum();
        assert!((got - grown * 2.0).abs() < 1e-6, "{got} vs {grown}");
    }

    #[test]
    fn a_series_born_in_the_window_loses_its_first_value_to_increase_but_not_to_delta() {
        let mut w = World::new(&scenario("step: 5s\nscrape: {interval: 15s, pods: 1, phase: 5s}\n"), None);
        w.advance_to(w.start() + 10 * MINUTE);
        // Five seconds of canary traffic, then none: the series is born at its first scrape
        // with its whole value and never moves again.
        w.set_weight(50);
        w.advance_to(w.start() + 10 * MINUTE + Duration::from_secs(5));
        w.set_weight(0);
        let t = w.start() + 11 * MINUTE;
        w.advance_to(t);
        let served: f64 = w.ticks().iter().map(|k| k.canary.requests as f64).sum();
        assert!(served > 0.0);
        assert_eq!(w.windowed(Arm::Canary, REQUESTS, Form::Delta, t, MINUTE), Some(served));
        assert_eq!(w.windowed(Arm::Canary, REQUESTS, Form::Increase, t, MINUTE), Some(0.0));
    }

    #[test]
    fn forms_are_read_from_the_query() {
        assert_eq!(Form::of_query("sum(increase(x[1m]))"), Form::Increase);
        assert_eq!(Form::of_query("sum((x - last_over_time(x[1h] offset 1m)) >= 0 or x)"), Form::Delta);
    }
}
