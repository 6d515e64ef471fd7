//! A simulated metrics exporter whose traffic split follows a caller-supplied weight.
//!
//! [`TrafficExporter`] serves `GET /metrics` (Prometheus text format) on a loopback port,
//! in one of two flavours:
//! - [`Flavour::Nginx`]: ingress-nginx's `nginx_ingress_controller_requests` and
//!   `nginx_ingress_controller_request_duration_seconds`, labelled as the controller labels
//!   them (see analysis-templates/README.md): canary-served requests carry
//!   `canary="<namespace>-<canary service>-<port>"`, main-served ones `canary=""`, and both
//!   the MAIN Ingress's `ingress` label;
//! - [`Flavour::HttpSlo`]: application metrics `http_requests_total` and
//!   `http_request_duration_seconds` split by a slot label (analysis-templates/http-slo.yaml).
//!
//! A generator thread ticks every 100 ms: `rate_per_second / 10` requests a tick, of which
//! `weight()`% go to the candidate (canary / candidate slot), the rest to the stable (main
//! backend / previous slot). Each version's [`Profile`] decides errors and latency. No
//! randomness: accumulators keep every count within a request of its ideal share, so
//! tests never flake on sampling noise. Every series exists, at 0, from the first scrape:
//! `increase()` cannot see a series' first sample, so a series born mid-run would lose its
//! first requests. Both threads stop on drop.
//! Include with `#[path = "support/traffic.rs"] mod traffic;`.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Histogram bounds: ingress-nginx's default `--time-buckets` (client_golang's DefBuckets),
/// also the usual application default. `+Inf` is implied.
pub const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
const TICK: Duration = Duration::from_millis(100);
/// A stalled generator (suspended machine) catches up at most this many ticks at once.
const MAX_CATCH_UP_TICKS: u64 = 50;
/// How often the accept loop looks for shutdown.
const ACCEPT_POLL: Duration = Duration::from_millis(20);
/// Bound on reading a request and writing a response (a stuck client cannot hang drop).
const IO_TIMEOUT: Duration = Duration::from_secs(2);
const STABLE: usize = 0;
const CANDIDATE: usize = 1;
/// ingress-nginx's constant labels (its class, namespace and pod).
const CONTROLLER: &str = concat!(
    r#"controller_class="k8s.io/ingress-nginx",controller_namespace="ingress-nginx","#,
    r#"controller_pod="ingress-nginx-controller-0""#
);

/// How one version behaves: the fraction of 5xx answers and the latency distribution as
/// `(seconds, share)` pairs. Shares are relative (normalised by their sum).
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub error_rate: f64,
    pub latency: Vec<(f64, f64)>,
}

impl Profile {
    /// 0.5% 5xx, every request between 20 and 80 ms.
    pub fn healthy() -> Profile {
        Profile { error_rate: 0.005, latency: vec![(0.02, 0.25), (0.04, 0.35), (0.06, 0.25), (0.08, 0.15)] }
    }

    /// 8% 5xx, healthy latency.
    pub fn bad() -> Profile {
        Profile { error_rate: 0.08, ..Profile::healthy() }
    }

    /// Healthy errors, but 3% of requests take 4 s (above the 2.5 s bucket, so p99 > 2 s).
    pub fn slow() -> Profile {
        let mut latency: Vec<(f64, f64)> = Profile::healthy().latency.iter().map(|&(s, w)| (s, w * 0.97)).collect();
        latency.push((4.0, 0.03));
        Profile { latency, ..Profile::healthy() }
    }
}

/// Percent (0..=100; more is clamped) of the traffic the candidate serves. Called once per
/// generator round, outside any lock, so it may ask a fake API server; a slow answer only
/// delays ticks, which are then caught up.
pub type WeightFn = Arc<dyn Fn() -> u8 + Send + Sync>;

/// A weight read from an atomic the test sets.
pub fn weight_from(weight: Arc<AtomicU8>) -> WeightFn {
    Arc::new(move || weight.load(Ordering::SeqCst))
}

/// Which metrics are exposed, with the identity labels of the two versions.
#[derive(Debug, Clone)]
pub enum Flavour {
    /// ingress-nginx: the stable is the main Ingress's backend, the candidate its canary.
    Nginx { ingress: String, stable_service: String, canary_service: String, port: u16, host: String },
    /// Application metrics: the stable is `previous_slot`, the candidate `candidate_slot`.
    /// `job` is a label of the series (the scrape must honour it, as
    /// `TestPrometheus::start_scraping` does) so that `selector: job="..."` works.
    HttpSlo { job: String, service: String, slot_label: String, candidate_slot: String, previous_slot: String },
    /// Application metrics by pod, as a Prometheus Operator scrape labels them (`namespace`,
    /// `pod`, `job`): the stable is `stable_pod`, the candidate `canary_pod`
    /// (analysis-templates/app-canary.yaml).
    App { job: String, stable_pod: String, canary_pod: String },
}

#[derive(Clone)]
pub struct TrafficConfig {
    pub namespace: String,
    pub flavour: Flavour,
    pub rate_per_second: f64,
    pub weight: WeightFn,
    pub stable: Profile,
    pub candidate: Profile,
}

impl TrafficConfig {
    /// 200 requests/s, weight 0, both versions healthy.
    pub fn new(namespace: &str, flavour: Flavour) -> TrafficConfig {
        let (stable, candidate) = (Profile::healthy(), Profile::healthy());
        TrafficConfig {
            namespace: namespace.into(),
            flavour,
            rate_per_second: 200.0,
            weight: Arc::new(|| 0),
            stable,
            candidate,
        }
    }

    /// ingress-nginx metrics; `host` is `<ingress>.example.com`.
    pub fn nginx(namespace: &str, ingress: &str, stable_service: &str, canary_service: &str, port: u16) -> Self {
        let (ingress, host) = (ingress.to_string(), format!("{ingress}.example.com"));
        let (stable_service, canary_service) = (stable_service.into(), canary_service.into());
        TrafficConfig::new(namespace, Flavour::Nginx { ingress, stable_service, canary_service, port, host })
    }

    /// Application metrics; `job` and `service` are both `service`.
    pub fn http_slo(namespace: &str, service: &str, slot_label: &str, candidate: &str, previous: &str) -> Self {
        let (job, service, slot_label) = (service.to_string(), service.to_string(), slot_label.to_string());
        let (candidate_slot, previous_slot) = (candidate.to_string(), previous.to_string());
        TrafficConfig::new(namespace, Flavour::HttpSlo { job, service, slot_label, candidate_slot, previous_slot })
    }

    /// Application metrics by pod name; `job` is `app`.
    pub fn app(namespace: &str, app: &str, stable_pod: &str, canary_pod: &str) -> Self {
        let (job, stable_pod, canary_pod) = (app.to_string(), stable_pod.to_string(), canary_pod.to_string());
        TrafficConfig::new(namespace, Flavour::App { job, stable_pod, canary_pod })
    }

    pub fn weight(self, weight: WeightFn) -> Self {
        TrafficConfig { weight, ..self }
    }
}

/// What one version served so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Served {
    pub requests: u64,
    /// 5xx answers (included in `requests`).
    pub errors: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub stable: Served,
    pub candidate: Served,
    /// The weight the generator last read.
    pub weight: u8,
}

/// One series group: request count, histogram buckets (not cumulative; the last is
/// `+Inf`) and latency sum.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    requests: u64,
    buckets: [u64; BUCKETS.len() + 1],
    sum: f64,
}

impl Counts {
    fn add(&mut self, seconds: f64) {
        self.buckets[BUCKETS.iter().position(|&le| seconds <= le).unwrap_or(BUCKETS.len())] += 1;
        self.requests += 1;
        self.sum += seconds;
    }
}

#[derive(Debug, Default)]
struct Version {
    profile: Option<Profile>,
    /// 2xx, 5xx, and both (the app histogram has no status label).
    ok: Counts,
    failed: Counts,
    all: Counts,
    error_acc: f64,
    /// Requests per latency entry since the profile was set.
    picked: Vec<u64>,
}

impl Version {
    fn set(&mut self, profile: Profile) {
        assert!((0.0..=1.0).contains(&profile.error_rate), "error_rate {} is not in 0..=1", profile.error_rate);
        let shares_ok = profile.latency.iter().all(|&(s, w)| s >= 0.0 && w >= 0.0);
        assert!(shares_ok && profile.latency.iter().any(|&(_, w)| w > 0.0), "bad latency {:?}", profile.latency);
        self.picked = vec![0; profile.latency.len()];
        self.profile = Some(profile);
    }

    fn serve(&mut self, n: u64) {
        let profile = self.profile.as_ref().expect("profile set at start");
        let total_share: f64 = profile.latency.iter().map(|&(_, w)| w).sum();
        for _ in 0..n {
            self.error_acc += profile.error_rate;
            let failed = self.error_acc >= 1.0;
            if failed {
                self.error_acc -= 1.0;
            }
            // Largest deficit: the entry furthest below its share of the requests so far
            // takes this one, so every entry stays within a request of its ideal count.
            let served = (self.picked.iter().sum::<u64>() + 1) as f64;
            let deficit = |j: usize| profile.latency[j].1 / total_share * served - self.picked[j] as f64;
            let j = (0..self.picked.len()).max_by(|&a, &b| deficit(a).total_cmp(&deficit(b))).unwrap_or(0);
            self.picked[j] += 1;
            let seconds = profile.latency[j].0;
            (if failed { &mut self.failed } else { &mut self.ok }).add(seconds);
            self.all.add(seconds);
        }
    }

    fn served(&self) -> Served {
        Served { requests: self.all.requests, errors: self.failed.requests }
    }
}

#[derive(Debug, Default)]
struct State {
    versions: [Version; 2],
    total_acc: f64,
    candidate_acc: f64,
    weight: u8,
}

impl State {
    fn tick(&mut self, rate_per_second: f64, weight: u8) {
        self.weight = weight;
        self.total_acc += rate_per_second * TICK.as_secs_f64();
        let n = self.total_acc.floor() as u64;
        self.total_acc -= n as f64;
        self.candidate_acc += n as f64 * f64::from(weight) / 100.0;
        let to_candidate = (self.candidate_acc.floor() as u64).min(n);
        self.candidate_acc -= to_candidate as f64;
        self.versions[STABLE].serve(n - to_candidate);
        self.versions[CANDIDATE].serve(to_candidate);
    }
}

struct Shared {
    state: Mutex<State>,
    stop: AtomicBool,
    config: TrafficConfig,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not hide the counts from the test's own assertions.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The running exporter; its two threads stop and are joined on drop.
pub struct TrafficExporter {
    shared: Arc<Shared>,
    address: String,
    threads: Vec<JoinHandle<()>>,
}

impl TrafficExporter {
    pub fn start(config: TrafficConfig) -> TrafficExporter {
        if let Flavour::HttpSlo { slot_label, .. } = &config.flavour {
            let valid = |(i, c): (usize, char)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit());
            let name_ok = !slot_label.is_empty() && slot_label.chars().enumerate().all(valid);
            assert!(name_ok, "{slot_label:?} is not a Prometheus label name");
        }
        let mut state = State::default();
        state.versions[STABLE].set(config.stable.clone());
        state.versions[CANDIDATE].set(config.candidate.clone());
        let shared = Arc::new(Shared { state: Mutex::new(state), stop: AtomicBool::new(false), config });
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a loopback port for the exporter");
        let address = listener.local_addr().expect("exporter address").to_string();
        // Non-blocking accept, so that the server loop sees `stop` within ACCEPT_POLL.
        listener.set_nonblocking(true).expect("non-blocking listener");
        let spawn = |name: &str, body: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new().name(name.into()).spawn(body).expect("spawn an exporter thread")
        };
        let (a, b) = (shared.clone(), shared.clone());
        let threads = vec![
            spawn("traffic-generator", Box::new(move || generate(&a))),
            spawn("traffic-exporter", Box::new(move || serve(&listener, &b))),
        ];
        TrafficExporter { shared, address, threads }
    }

    /// `127.0.0.1:PORT`: the scrape target.
    pub fn address(&self) -> String {
        self.address.clone()
    }

    /// Changes the candidate's behaviour from the next tick on.
    pub fn set_candidate(&self, profile: Profile) {
        self.shared.lock().versions[CANDIDATE].set(profile);
    }

    pub fn set_stable(&self, profile: Profile) {
        self.shared.lock().versions[STABLE].set(profile);
    }

    pub fn totals(&self) -> Totals {
        let state = self.shared.lock();
        let [stable, candidate] = &state.versions;
        Totals { stable: stable.served(), candidate: candidate.served(), weight: state.weight }
    }

    /// What `GET /metrics` answers now.
    pub fn metrics_text(&self) -> String {
        render(&self.shared.lock(), &self.shared.config)
    }
}

impl Drop for TrafficExporter {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Ticks on a fixed schedule from the start (not "sleep 100 ms" in a loop), so the rate
/// holds in wall-clock time however late the thread wakes.
fn generate(shared: &Shared) {
    let started = Instant::now();
    let mut done = 0u64;
    while !shared.stop.load(Ordering::SeqCst) {
        let next = started + TICK.mul_f64((done + 1) as f64);
        std::thread::sleep(next.saturating_duration_since(Instant::now()).min(TICK));
        let due = (started.elapsed().as_nanos() / TICK.as_nanos()) as u64;
        if due <= done {
            continue;
        }
        let weight = (shared.config.weight)().min(100);
        let mut state = shared.lock();
        for _ in 0..(due - done).min(MAX_CATCH_UP_TICKS) {
            state.tick(shared.config.rate_per_second, weight);
        }
        done = due;
    }
}

fn serve(listener: &TcpListener, shared: &Shared) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = answer(stream, shared);
            }
            Err(_) => std::thread::sleep(ACCEPT_POLL), // WouldBlock: nobody is connecting
        }
    }
}

/// One request per connection (`Connection: close`): enough for a scraper and a test.
fn answer(mut stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let (mut head, mut buf) = (Vec::new(), [0u8; 2048]);
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut request_line = head.lines().next().unwrap_or_default().split_whitespace();
    let (method, target) = (request_line.next().unwrap_or_default(), request_line.next().unwrap_or_default());
    let (status, body) = if method == "GET" && target.split('?').next() == Some("/metrics") {
        ("200 OK", render(&shared.lock(), &shared.config))
    } else {
        ("404 Not Found", format!("no {method} {target}; try GET /metrics\n"))
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes())?;
    stream.flush()
}

/// The exposition text: every series of both versions, zeros included.
fn render(state: &State, config: &TrafficConfig) -> String {
    let ns = escape(&config.namespace);
    // (labels as `k="v",...`, counts) of the counter and of the histogram.
    let (mut requests, mut durations) = (Vec::new(), Vec::new());
    for (v, version) in state.versions.iter().enumerate() {
        match &config.flavour {
            Flavour::Nginx { ingress, stable_service, canary_service, port, host } => {
                // As ingress-nginx's socket collector labels them: requestTags, plus `host`
                // (--metrics-per-host is on by default) and the constant labels; its
                // request_duration_seconds histogram has the same labels, status included.
                let (service, canary) = match v {
                    CANDIDATE => (canary_service, format!("{}-{canary_service}-{port}", config.namespace)),
                    _ => (stable_service, String::new()),
                };
                let (canary, host, ingress, service) =
                    (escape(&canary), escape(host), escape(ingress), escape(service));
                let request = format!(r#"host="{host}",ingress="{ingress}",method="GET",namespace="{ns}",path="/""#);
                for (status, counts) in [("200", version.ok), ("500", version.failed)] {
                    let labels =
                        format!(r#"canary="{canary}",{CONTROLLER},{request},service="{service}",status="{status}""#);
                    requests.push((labels.clone(), counts));
                    durations.push((labels, counts));
                }
            }
            Flavour::HttpSlo { job, service, slot_label, candidate_slot, previous_slot } => {
                let slot = escape(if v == CANDIDATE { candidate_slot } else { previous_slot });
                let (job, service) = (escape(job), escape(service));
                let labels =
                    format!(r#"job="{job}",method="GET",namespace="{ns}",service="{service}",{slot_label}="{slot}""#);
                requests.push((format!(r#"{labels},status="200""#), version.ok));
                requests.push((format!(r#"{labels},status="500""#), version.failed));
                durations.push((labels, version.all));
            }
            Flavour::App { job, stable_pod, canary_pod } => {
                let pod = escape(if v == CANDIDATE { canary_pod } else { stable_pod });
                let labels = format!(r#"job="{}",method="GET",namespace="{ns}",pod="{pod}""#, escape(job));
                requests.push((format!(r#"{labels},status="200""#), version.ok));
                requests.push((format!(r#"{labels},status="500""#), version.failed));
                durations.push((labels, version.all));
            }
        }
    }
    let (counter, histogram) = match config.flavour {
        Flavour::Nginx { .. } => {
            ("nginx_ingress_controller_requests", "nginx_ingress_controller_request_duration_seconds")
        }
        Flavour::HttpSlo { .. } | Flavour::App { .. } => ("http_requests_total", "http_request_duration_seconds"),
    };
    let mut out = format!("# HELP {counter} The total number of requests\n# TYPE {counter} counter\n");
    for (labels, counts) in &requests {
        let _ = writeln!(out, "{counter}{{{labels}}} {}", counts.requests);
    }
    let _ = writeln!(out, "# HELP {histogram} The request processing time in seconds\n# TYPE {histogram} histogram");
    for (labels, counts) in &durations {
        let mut cumulative = 0;
        for (i, n) in counts.buckets.iter().enumerate() {
            cumulative += n;
            let le = BUCKETS.get(i).map_or_else(|| "+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(out, "{histogram}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        let _ = writeln!(
            out,
            "{histogram}_sum{{{labels}}} {}\n{histogram}_count{{{labels}}} {}",
            counts.sum, counts.requests
        );
    }
    out
}

/// A label value in the text format.
fn escape(value: &str) -> String {
    value.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n")
}
