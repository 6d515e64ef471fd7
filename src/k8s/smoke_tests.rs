//! [`probe`](super::probe) against a loopback HTTP server that redirects, fails once, or
//! never answers.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::*;

/// Short enough for a unit test, with the shape of [`POLICY`]: three attempts.
const FAST: Policy = Policy { timeout: Duration::from_millis(300), backoff: &[Duration::from_millis(50); 2] };

/// Answers by path: `/redirect` 302, `/flaky` 500 then 200, `/hang` never, `/ok` 200, and
/// anything else 404. Returns its address and how many requests each path got.
fn server() -> (SocketAddr, Arc<[AtomicUsize; 5]>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let counts: Arc<[AtomicUsize; 5]> = Arc::new(Default::default());
    let seen = counts.clone();
    std::thread::spawn(move || {
        let mut hanging = Vec::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let path = request_path(&mut stream);
            let (index, answer) = match path.as_str() {
                "/redirect" => (0, "302 Found\r\nLocation: https://login.example.com/"),
                "/flaky" if seen[1].load(Ordering::SeqCst) == 0 => (1, "500 Internal Server Error"),
                "/flaky" => (1, "200 OK"),
                "/hang" => (2, ""),
                "/ok" => (3, "200 OK"),
                _ => (4, "404 Not Found"),
            };
            seen[index].fetch_add(1, Ordering::SeqCst);
            if answer.is_empty() {
                hanging.push(stream);
                continue;
            }
            let _ = write!(stream, "HTTP/1.1 {answer}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (addr, counts)
}

fn request_path(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).split_whitespace().nth(1).unwrap_or_default().to_string()
}

async fn run(addr: SocketAddr, path: &str) -> SmokeResult {
    let targets = [("sark-green-7d9f".to_string(), addr.to_string())];
    probe(&client().unwrap(), &targets, &[path.to_string()], &FAST).await
}

#[tokio::test]
async fn a_redirect_fails_at_once_naming_its_location() {
    let (addr, counts) = server();
    let result = run(addr, "/redirect").await;
    assert!(!result.passed);
    assert!(result.detail.starts_with("pod sark-green-7d9f: GET http://"), "{}", result.detail);
    assert!(result.detail.contains("302 Found") && result.detail.contains("https://login.example.com/"), "{result:?}");
    assert_eq!(counts[0].load(Ordering::SeqCst), 1, "not retried, not followed");
}

#[tokio::test]
async fn a_server_error_is_retried_and_a_later_success_passes() {
    let (addr, counts) = server();
    let result = run(addr, "/flaky").await;
    assert!(result.passed, "{result:?}");
    assert_eq!(counts[1].load(Ordering::SeqCst), 2);
    let passed = run(addr, "/ok").await;
    assert!(passed.passed && passed.detail.contains("all 2xx"), "{passed:?}");
}

#[tokio::test]
async fn a_pod_that_never_answers_times_out_on_every_attempt() {
    let (addr, counts) = server();
    let started = Instant::now();
    let result = run(addr, "/hang").await;
    assert!(!result.passed);
    assert!(
        result.detail.contains("pod sark-green-7d9f") && result.detail.contains("no answer within 300ms"),
        "{result:?}"
    );
    assert!(result.detail.contains("attempt 3 of 3"), "{result:?}");
    assert_eq!(counts[2].load(Ordering::SeqCst), 3);
    assert!(started.elapsed() < Duration::from_secs(3), "bounded by the timeouts: {:?}", started.elapsed());
}

#[tokio::test]
async fn a_client_error_names_the_status_and_is_not_retried() {
    let (addr, counts) = server();
    let result = run(addr, "/missing").await;
    assert!(!result.passed && result.detail.ends_with("answered 404 Not Found"), "{result:?}");
    assert_eq!(counts[4].load(Ordering::SeqCst), 1);
}
