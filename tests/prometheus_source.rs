//! `PrometheusSource` and `record()` against a real Prometheus backfilled with known
//! counters (needs `prometheus` and `promtool`: scripts/install-test-deps.sh).

#[path = "support/prometheus.rs"]
mod prometheus;

use std::time::Duration;

use prometheus::TestPrometheus;
use serin::source::{MetricSource, PrometheusSource, Recording, RecordingSource, Sample, SourceError, record};
use serin::time::from_unix_seconds;

/// First sample (2023-11-14T22:13:20Z); blocks this old stay thanks to the long retention.
const T0: u64 = 1_700_000_000;
const SAMPLE_EVERY: u64 = 15;
const SAMPLES: u64 = 121; // 30 minutes

const METRIC: &str = "nginx_ingress_controller_requests";

/// (canary, status, requests per 15 s). The 503 series never moves: a ratio over it is 0/0.
const SERIES: [(&str, &str, u64); 4] =
    [("false", "200", 150), ("false", "500", 3), ("true", "200", 30), ("true", "503", 0)];

fn openmetrics() -> String {
    let mut text = format!("# HELP {METRIC} The total number of client requests\n# TYPE {METRIC} counter\n");
    for (canary, status, per_sample) in SERIES {
        for i in 0..SAMPLES {
            let value = 7 + per_sample * i;
            let t = T0 + SAMPLE_EVERY * i;
            text.push_str(&format!(
                "{METRIC}{{namespace=\"prod\",ingress=\"web\",canary=\"{canary}\",status=\"{status}\"}} {value} {t}\n"
            ));
        }
    }
    text.push_str("# EOF\n");
    text
}

fn at(offset_seconds: u64) -> std::time::SystemTime {
    from_unix_seconds((T0 + offset_seconds) as f64)
}

fn start() -> (TestPrometheus, PrometheusSource) {
    let server = TestPrometheus::start_with_openmetrics(&openmetrics());
    let source = PrometheusSource::new(server.url()).expect("valid URL");
    (server, source)
}

const INCREASE_BY_CANARY: &str =
    "sum by (canary) (increase(nginx_ingress_controller_requests{namespace=\"prod\",status=\"200\"}[1m]))";
const NO_INCREASE_RATIO: &str = "sum(increase(nginx_ingress_controller_requests{status=\"503\"}[1m])) / sum(increase(nginx_ingress_controller_requests{status=\"503\"}[1m]))";
const MISSING_METRIC: &str = "sum(increase(no_such_metric_total[1m]))";

fn sorted(mut samples: Vec<Sample>) -> Vec<Sample> {
    samples.sort_by(|a, b| a.labels.cmp(&b.labels));
    samples
}

/// Equal, with NaN equal to NaN (the point of some of these queries).
fn same(a: &[Sample], b: &[Sample]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.labels == y.labels && (x.value == y.value || (x.value.is_nan() && y.value.is_nan())))
}

#[tokio::test]
async fn increase_over_a_minute_matches_the_generated_rate() {
    let (server, source) = start();
    let samples = sorted(source.query(INCREASE_BY_CANARY, at(600)).await.unwrap());
    assert_eq!(samples.len(), 2, "{samples:?}\n{}", server.log());
    // 150 and 30 requests per 15 s; 1% covers any extrapolation at the window edges.
    for (sample, (canary, expected)) in samples.iter().zip([("false", 600.0), ("true", 120.0)]) {
        assert_eq!(sample.labels.get("canary").map(String::as_str), Some(canary));
        assert_eq!(sample.labels.len(), 1, "{:?}", sample.labels);
        assert!((sample.value - expected).abs() <= expected * 0.01, "{canary}: {}", sample.value);
    }
}

#[tokio::test]
async fn scalars_come_back_as_one_unlabelled_sample() {
    let (_server, source) = start();
    let samples = source.query("scalar(vector(6))", at(600)).await.unwrap();
    assert_eq!(samples.len(), 1);
    assert!(samples[0].labels.is_empty());
    assert_eq!(samples[0].value, 6.0);
}

#[tokio::test]
async fn a_metric_that_does_not_exist_is_an_empty_vector() {
    let (_server, source) = start();
    assert_eq!(source.query(MISSING_METRIC, at(600)).await, Ok(vec![]));
}

#[tokio::test]
async fn zero_over_zero_is_nan_not_an_error() {
    let (_server, source) = start();
    let samples = source.query(NO_INCREASE_RATIO, at(600)).await.unwrap();
    assert_eq!(samples.len(), 1, "{samples:?}");
    assert!(samples[0].value.is_nan(), "{samples:?}");
}

#[tokio::test]
async fn a_syntax_error_is_a_bad_query_with_prometheus_message() {
    let (_server, source) = start();
    match source.query("sum(rate(nginx_ingress_controller_requests[1m])", at(600)).await {
        Err(SourceError::BadQuery(message)) => {
            assert!(message.contains("parse error"), "{message}")
        }
        other => panic!("expected BadQuery, got {other:?}"),
    }
}

#[tokio::test]
async fn a_closed_port_is_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let source = PrometheusSource::new(&format!("http://127.0.0.1:{port}")).unwrap();
    let started = std::time::Instant::now();
    match source.query("up", at(600)).await {
        Err(SourceError::Unavailable(message)) => {
            assert!(message.contains(&port.to_string()), "{message}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_recording_replays_what_the_live_server_answered() {
    let (_server, source) = start();
    let queries: Vec<String> =
        [INCREASE_BY_CANARY, NO_INCREASE_RATIO, MISSING_METRIC, INCREASE_BY_CANARY].map(String::from).to_vec();
    let step = Duration::from_secs(60);
    let recording = record(&source, &queries, at(120), at(1500), step).await.unwrap();
    assert_eq!(recording.queries.len(), 3, "duplicates are recorded once");
    assert_eq!(recording.queries[MISSING_METRIC], vec![]);
    assert_eq!(recording.queries[INCREASE_BY_CANARY].len(), 2);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recording.json");
    recording.save(&path).unwrap();
    let loaded = Recording::load(&path).unwrap();
    assert_eq!(loaded, recording);
    let replay = RecordingSource::new(loaded);

    let mut compared = 0;
    for offset in (120..=1500).step_by(60) {
        for query in &queries {
            let live = sorted(source.query(query, at(offset)).await.unwrap());
            let replayed = sorted(replay.query(query, at(offset)).await.unwrap());
            assert!(same(&live, &replayed), "{query} at T0+{offset}: live {live:?} replayed {replayed:?}");
            compared += live.len();
        }
    }
    assert!(compared > 100, "only {compared} samples compared");
}

#[tokio::test]
async fn long_ranges_are_split_into_requests_prometheus_accepts() {
    let (_server, source) = start();
    // 30 minutes at 150 ms is 12,001 points: above Prometheus' 11,000 per request.
    let step = Duration::from_millis(150);
    let series = source.query_range("sum(nginx_ingress_controller_requests)", at(0), at(1800), step).await.unwrap();
    assert_eq!(series.len(), 1);
    let times: Vec<f64> = series[0].values.iter().map(|(t, _)| *t).collect();
    assert_eq!(times.len(), 12_001);
    assert!(times.windows(2).all(|w| ((w[1] - w[0]) - 0.15).abs() < 1e-3), "grid broken across chunks");
    assert_eq!(times.last().copied(), Some((T0 + 1800) as f64));
}

/// Serves `response` to one connection on a loopback port (a stand-in for a broken
/// server or proxy, which a real Prometheus cannot be made into).
fn one_shot_server(response: String) -> (u16, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        // Read the head and the (small, form-encoded) body, then answer.
        while let Ok(n) = stream.read(&mut buf) {
            request.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&request);
            if let Some(head_end) = text.find("\r\n\r\n") {
                let length = text[..head_end]
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                if request.len() >= head_end + 4 + length {
                    break;
                }
            }
            if n == 0 {
                break;
            }
        }
        let _ = stream.write_all(response.as_bytes());
    });
    (port, handle)
}

#[tokio::test]
async fn server_errors_are_unavailable() {
    let (port, handle) = one_shot_server(
        "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: 11\r\nConnection: close\r\n\r\nbad gateway"
            .to_string(),
    );
    let source = PrometheusSource::new(&format!("http://127.0.0.1:{port}")).unwrap();
    match source.query("up", at(600)).await {
        Err(SourceError::Unavailable(message)) => assert!(message.contains("502"), "{message}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    handle.join().unwrap();

    let body = r#"{"status":"error","errorType":"internal","error":"storage exploded"}"#;
    let response = format!(
        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (port, handle) = one_shot_server(response);
    let source = PrometheusSource::new(&format!("http://127.0.0.1:{port}")).unwrap();
    match source.query("up", at(600)).await {
        Err(SourceError::Unavailable(message)) => assert!(message.contains("storage exploded"), "{message}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    handle.join().unwrap();
}
