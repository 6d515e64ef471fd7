//! A trigger's trailing window, kept small enough for `serin.io/status` whatever its
//! length: at most [`SLOTS`] entries. A window of up to `SLOTS` intervals (every shipped
//! trigger at an interval of 10 s or more) keeps one entry per interval and slides by one
//! interval, exactly as a plain ring. A longer one keeps blocks of `k = ⌈need / SLOTS⌉`
//! intervals and slides by whole blocks: it pools the last `need` to `need + k − 1`
//! intervals (12 h of 1-minute intervals: blocks of 12, so 12 h to 12 h 11 min), which is
//! still a valid window for the test, only up to one block longer.

use super::counts::Events;
use super::evidence::TriggerState;

/// Most entries a trigger's window keeps.
pub const SLOTS: usize = 60;

/// Intervals per entry for a window of `need` intervals.
pub fn block_len(need: usize) -> u32 {
    need.div_ceil(SLOTS).max(1) as u32
}

/// Intervals the window covers now.
pub fn covered(st: &TriggerState) -> usize {
    match st.window.len() {
        0 => 0,
        n => (n - 1) * block_of(st) as usize + newest_fill(st) as usize,
    }
}

/// Adds this interval's events (zero for an interval without data) to a window that
/// must cover `need` intervals.
pub fn push(st: &mut TriggerState, events: Events, need: usize) {
    let k = block_len(need);
    if block_of(st) != k {
        regroup(st, k);
    }
    let room = newest_fill(st) < k;
    match st.window.last_mut() {
        Some(newest) if room => {
            newest.add(&events);
            st.window_fill += 1;
        }
        _ => {
            st.window.push(events);
            st.window_fill = 1;
        }
    }
    // The oldest entry goes once the others cover the window without it.
    while st.window.len() > 1 && covered(st) - oldest_len(st) >= need {
        st.window.remove(0);
    }
    if k == 1 {
        st.window_fill = 0;
    }
}

/// Stored as 0 (absent) for one interval per entry, so statuses written before blocks
/// existed read as they were.
fn block_of(st: &TriggerState) -> u32 {
    st.window_block.max(1)
}

fn newest_fill(st: &TriggerState) -> u32 {
    if block_of(st) == 1 { 1 } else { st.window_fill.clamp(1, block_of(st)) }
}

fn oldest_len(st: &TriggerState) -> usize {
    if st.window.len() == 1 { newest_fill(st) as usize } else { block_of(st) as usize }
}

/// The window's entries regrouped into blocks of `k` (the window's length or the interval
/// changed, or a status from before blocks). Single intervals regroup exactly, newest
/// block full; blocks of another size cannot be split, so their window starts over.
fn regroup(st: &mut TriggerState, k: u32) {
    let old = std::mem::take(&mut st.window);
    if block_of(st) == 1 {
        let k = k as usize;
        let first = match old.len() % k {
            0 => k,
            partial => partial,
        };
        let mut start = 0;
        let mut size = first;
        while start < old.len() {
            let mut block = Events::default();
            old[start..start + size].iter().for_each(|e| block.add(e));
            st.window.push(block);
            start += size;
            size = k;
        }
    }
    st.window_block = if k == 1 { 0 } else { k };
    st.window_fill = if st.window.is_empty() { 0 } else { k };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(bad: f64) -> Events {
        Events::exact(bad, 10.0)
    }

    fn pooled(st: &TriggerState) -> f64 {
        st.window.iter().map(|e| e.bad_hi).sum()
    }

    #[test]
    fn short_windows_slide_by_one_interval() {
        let mut st = TriggerState::default();
        for i in 0..100 {
            push(&mut st, one(f64::from(i)), 10);
            let n = (i + 1).min(10);
            assert_eq!(covered(&st), n as usize);
            let expected: f64 = (i + 1 - n..=i).map(f64::from).sum();
            assert_eq!(pooled(&st), expected, "after {i}");
        }
        assert_eq!(st.window.len(), 10);
        assert_eq!((st.window_block, st.window_fill), (0, 0), "nothing new in the status");
    }

    #[test]
    fn long_windows_keep_blocks_covering_at_least_the_window() {
        let need = 720;
        let mut st = TriggerState::default();
        for i in 0..3000u32 {
            push(&mut st, one(f64::from(i)), need);
            let n = covered(&st);
            assert!(st.window.len() <= SLOTS + 1, "{} entries", st.window.len());
            let seen = (i + 1) as usize;
            if seen < need {
                assert_eq!(n, seen, "everything is kept until the window is full");
            } else {
                assert!((need..need + 12).contains(&n), "covers {n}");
            }
            let expected: f64 = (i + 1 - n as u32..=i).map(f64::from).sum();
            assert_eq!(pooled(&st), expected, "the newest {n} intervals, after {i}");
        }
    }

    #[test]
    fn a_status_from_before_blocks_is_regrouped_exactly() {
        let mut st = TriggerState { window: (0..720).map(|i| one(f64::from(i))).collect(), ..Default::default() };
        push(&mut st, one(720.0), 720);
        let n = covered(&st);
        assert!((720..732).contains(&n), "{n}");
        let expected: f64 = (721 - n as u32..=720).map(f64::from).sum();
        assert_eq!(pooled(&st), expected);
        assert!(st.window.len() <= SLOTS + 1);
    }
}
