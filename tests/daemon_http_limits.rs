//! The HTTP surface of the real `serin run` stays bounded under a flood of half-open
//! connections (a partial request line, then nothing: slowloris): serin closes them after
//! its header-read timeout, keeps at most its connection limit open (the oldest
//! connections that never sent a whole request make room for new ones), answers
//! `/healthz` within 2 s meanwhile, and its RSS stays under 64 MiB. Loopback only; needs
//! no Prometheus (the daemon's is an unreachable address: no rollout exists).

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/fake_apiserver/mod.rs"]
mod fake_apiserver;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use daemon::Daemon;
use fake_apiserver::FakeApiServer;

/// serin's header-read timeout (README, "The HTTP API").
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_FLOOD: u64 = 8_000;
const MAX_RSS_KIB: u64 = 64 * 1024;

/// Raises this process's open-file soft limit to the hard limit; returns the new limit.
fn raise_open_files_limit() -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by reference.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
    limit.rlim_cur
}

/// `VmRSS` (now) or `VmHWM` (the peak so far) of `pid`, in KiB.
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("a {field} line"));
    line.split_whitespace().nth(1).and_then(|kib| kib.parse().ok()).expect("a size in kB")
}

fn rss_kib(pid: u32) -> u64 {
    memory_kib(pid, "VmRSS:")
}

/// A whole `GET path` on a fresh connection; the status and how long it took.
fn timed_get(addr: SocketAddr, path: &str, within: Duration) -> (Option<u16>, Duration) {
    let started = Instant::now();
    let status = (|| {
        let mut stream = TcpStream::connect_timeout(&addr, within).ok()?;
        stream.set_read_timeout(Some(within)).ok()?;
        write!(stream, "GET {path} HTTP/1.1\r\nHost: serin\r\nConnection: close\r\n\r\n").ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        answer.split_whitespace().nth(1)?.parse().ok()
    })();
    (status, started.elapsed())
}

/// `count` connections that each sent a partial request line, with when each was opened.
/// Opened from several threads: a connect whose SYN the kernel dropped (the accept queue
/// full for a moment) waits a second to retry, and the others should not wait behind it.
fn open_half_open_connections(addr: SocketAddr, count: u64) -> Vec<(Instant, TcpStream)> {
    const THREADS: u64 = 8;
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                let share = count / THREADS + u64::from(t < count % THREADS);
                (0..share)
                    .map(|_| {
                        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
                        // Best effort: serin may already have closed an old one to make room.
                        let _ = stream.write_all(b"GET /api/v1/rollouts HT");
                        (Instant::now(), stream)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    threads.into_iter().flat_map(|t| t.join().expect("a flooding thread")).collect()
}

/// True once the peer closed (EOF or reset), false while the connection stays open.
fn closed(mut stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 64];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) if e.kind() == ErrorKind::WouldBlock => false,
        Err(_) => true,
    }
}

#[test]
fn a_flood_of_half_open_connections_is_closed_and_health_stays_answered() {
    let limit = raise_open_files_limit();
    let api = FakeApiServer::start();
    let dir = tempfile::tempdir().unwrap();
    api.write_kubeconfig(&dir.path().join("kubeconfig"));
    let mut serin =
        Daemon::start(&dir.path().join("kubeconfig"), "http://127.0.0.1:1", &[], &dir.path().join("serin.log"));
    let addr = serin.http_addr();
    let deadline = Instant::now() + Duration::from_secs(20);
    while timed_get(addr, "/readyz", Duration::from_secs(2)).0 != Some(200) {
        assert!(Instant::now() < deadline, "serin never became ready:\n{}", serin.log());
        std::thread::sleep(Duration::from_millis(100));
    }

    // Leave room for the fake API server's, the daemon's and the probes' descriptors.
    let flood = MAX_FLOOD.min(limit.saturating_sub(500));
    assert!(flood >= 1_000, "RLIMIT_NOFILE {limit} is too low for a meaningful flood");
    let idle_rss = rss_kib(serin.pid());
    // Probes run all along, from the first flooding connection to the last held one.
    let flooding = Arc::new(AtomicBool::new(true));
    let prober = {
        let flooding = flooding.clone();
        std::thread::spawn(move || {
            let mut answers = Vec::new();
            while flooding.load(Ordering::Acquire) {
                for path in ["/healthz", "/readyz"] {
                    answers.push((path, timed_get(addr, path, Duration::from_secs(2))));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            answers
        })
    };
    let flood_started = Instant::now();
    let mut held = open_half_open_connections(addr, flood);
    eprintln!("{flood} half-open connections opened in {:?}", flood_started.elapsed());
    let mut peak_rss = rss_kib(serin.pid());
    std::thread::sleep(Duration::from_secs(1));
    peak_rss = peak_rss.max(rss_kib(serin.pid()));
    flooding.store(false, Ordering::Release);
    let answers = prober.join().unwrap();
    let worst = answers.iter().map(|(_, (_, took))| *took).max().unwrap_or_default();
    eprintln!("{} probes, slowest {worst:?}; RSS {idle_rss} KiB before, {peak_rss} KiB during", answers.len());
    for (path, (status, took)) in &answers {
        assert_eq!(*status, Some(200), "{path} during a flood of {flood} (took {took:?}):\n{}", serin.log());
    }
    assert!(answers.len() >= 10, "probes ran during the flood: {answers:?}");
    assert!(worst < Duration::from_secs(2), "a probe took {worst:?} during the flood");
    assert!(peak_rss < MAX_RSS_KIB, "serin's RSS reached {peak_rss} KiB under a flood of {flood}");

    // The last connections were not pushed out by newer ones: the header timeout closes them.
    held.sort_by_key(|(at, _)| *at);
    let (last_opened, last) = held.last().unwrap();
    if last_opened.elapsed() < HEADER_TIMEOUT - Duration::from_secs(1) {
        assert!(!closed(last), "a half-open connection lives until the header timeout");
    }
    std::thread::sleep(
        (*last_opened + HEADER_TIMEOUT + Duration::from_secs(3)).saturating_duration_since(Instant::now()),
    );
    let open = held.iter().filter(|(_, s)| !closed(s)).count();
    assert_eq!(open, 0, "{open} of {flood} half-open connections still open after the header timeout");
    // The kernel's own record of the peak, flood included.
    let peak_rss = memory_kib(serin.pid(), "VmHWM:");
    eprintln!("peak RSS (VmHWM) {peak_rss} KiB");
    assert!(peak_rss < MAX_RSS_KIB, "serin's RSS peaked at {peak_rss} KiB");
    assert!(serin.is_running());
    assert_eq!(timed_get(addr, "/healthz", Duration::from_secs(2)).0, Some(200));
}

#[test]
fn a_request_body_over_the_limit_is_refused_unread() {
    let api = FakeApiServer::start();
    let dir = tempfile::tempdir().unwrap();
    api.write_kubeconfig(&dir.path().join("kubeconfig"));
    let mut serin =
        Daemon::start(&dir.path().join("kubeconfig"), "http://127.0.0.1:1", &[], &dir.path().join("serin.log"));
    let addr = serin.http_addr();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let head = "POST /api/v1/rollouts/production/sark-canary/pause HTTP/1.1\r\nHost: serin\r\n\
                Content-Length: 104857600\r\nConnection: close\r\n\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    let _ = stream.write_all(&[b'x'; 4096]);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}
