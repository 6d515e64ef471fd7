//! The daemon's resident memory and CPU time, read from /proc (Linux only): `VmRSS`,
//! `RssAnon` and the peak `VmHWM` from /proc/<pid>/status, user + system CPU time in
//! clock ticks from /proc/<pid>/stat. A [`Sampler`] thread reads them every 250 ms over a
//! window; CPU is the difference of the tick counters between the window's ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const PERIOD: Duration = Duration::from_millis(250);

/// One reading of the process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reading {
    pub rss_kib: u64,
    pub rss_anon_kib: u64,
    pub hwm_kib: u64,
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
    pub threads: u64,
    /// Open file descriptors: mostly its connections to the API server.
    pub fds: u64,
}

pub fn read(pid: u32) -> Reading {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        let line = status.lines().find(|l| l.starts_with(key));
        line.and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) may hold spaces: count fields after its closing ')'.
    // Fields 3.. follow; utime and stime are fields 14 and 15, num_threads field 20.
    let fields: Vec<u64> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or("")
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let field = |n: usize| fields.get(n - 3).copied().unwrap_or(0);
    Reading {
        rss_kib: kib("VmRSS:"),
        rss_anon_kib: kib("RssAnon:"),
        hwm_kib: kib("VmHWM:"),
        cpu_ticks: field(14) + field(15),
        threads: field(20),
        fds: std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count() as u64).unwrap_or(0),
    }
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every common Linux).
pub fn clock_ticks() -> u64 {
    let out = std::process::Command::new("getconf").arg("CLK_TCK").output().ok();
    out.and_then(|o| String::from_utf8(o.stdout).ok()).and_then(|s| s.trim().parse().ok()).unwrap_or(100)
}

/// What a window measured.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub wall: Duration,
    pub rss_mean_kib: u64,
    pub rss_max_kib: u64,
    pub rss_anon_mean_kib: u64,
    /// The process's peak RSS since it started (VmHWM) at the end of the window.
    pub hwm_kib: u64,
    pub cpu_ticks: u64,
    pub threads: u64,
    pub fds: u64,
    pub clock_ticks: u64,
}

impl Window {
    /// CPU time over the window, in percent of one core.
    pub fn cpu_percent(&self) -> f64 {
        let cpu_seconds = self.cpu_ticks as f64 / self.clock_ticks as f64;
        100.0 * cpu_seconds / self.wall.as_secs_f64()
    }
}

/// Samples a process from a thread until stopped.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Reading>>,
    first: Reading,
    started: Instant,
    pid: u32,
}

impl Sampler {
    pub fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let first = read(pid);
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut readings = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(PERIOD);
                readings.push(read(pid));
            }
            readings
        });
        Sampler { stop, thread, first, started: Instant::now(), pid }
    }

    pub fn stop(self) -> Window {
        self.stop.store(true, Ordering::Relaxed);
        let last = read(self.pid);
        let wall = self.started.elapsed();
        let mut readings = self.thread.join().expect("the sampler thread");
        readings.push(last);
        let mean = |f: fn(&Reading) -> u64| readings.iter().map(f).sum::<u64>() / readings.len() as u64;
        Window {
            wall,
            rss_mean_kib: mean(|r| r.rss_kib),
            rss_max_kib: readings.iter().map(|r| r.rss_kib).max().unwrap_or(0),
            rss_anon_mean_kib: mean(|r| r.rss_anon_kib),
            hwm_kib: last.hwm_kib,
            cpu_ticks: last.cpu_ticks.saturating_sub(self.first.cpu_ticks),
            threads: last.threads,
            fds: last.fds,
            clock_ticks: clock_ticks(),
        }
    }
}
