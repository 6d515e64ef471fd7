//! A loopback webhook receiver for notification tests: records each POSTed JSON body, and
//! answers 500 to its first `fail_first` requests (200 after). One thread per connection;
//! every answer closes its connection. Include with
//! `#[path = "support/receiver.rs"] mod receiver;`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

#[derive(Default)]
struct Seen {
    /// Every request's body, failed ones included.
    requests: Vec<Value>,
    /// Bodies answered 200.
    accepted: Vec<Value>,
}

pub struct Receiver {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
}

/// An address nothing listens on (yet): connections to it are refused.
pub fn unused_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free loopback port")
}

impl Receiver {
    pub fn start(fail_first: usize) -> Receiver {
        Receiver::start_on(unused_addr(), fail_first)
    }

    /// On `addr` (e.g. one that refused connections until now).
    pub fn start_on(addr: SocketAddr, fail_first: usize) -> Receiver {
        let listener = TcpListener::bind(addr).expect("bind the receiver");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let seen = shared.clone();
                std::thread::spawn(move || answer(stream, &seen, fail_first));
            }
        });
        Receiver { addr, seen }
    }

    /// `http://127.0.0.1:port{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn accepted(&self) -> Vec<Value> {
        self.seen.lock().unwrap().accepted.clone()
    }

    pub fn requests(&self) -> usize {
        self.seen.lock().unwrap().requests.len()
    }

    /// The `action` of each accepted notification, in order.
    pub fn actions(&self) -> Vec<String> {
        self.accepted().iter().map(|n| n["action"].as_str().unwrap_or_default().to_string()).collect()
    }

    /// Waits until `done` holds for the accepted notifications.
    pub fn wait_for(&self, timeout: Duration, what: &str, done: impl Fn(&[Value]) -> bool) {
        let deadline = Instant::now() + timeout;
        while !done(&self.accepted()) {
            assert!(Instant::now() < deadline, "{what}: received {:?}", self.actions());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn answer(stream: TcpStream, seen: &Mutex<Seen>, fail_first: usize) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(&stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let ok = {
        let mut seen = seen.lock().unwrap();
        seen.requests.push(value.clone());
        let ok = seen.requests.len() > fail_first;
        if ok {
            seen.accepted.push(value);
        }
        ok
    };
    let status = if ok { "200 OK" } else { "500 Internal Server Error" };
    let _ = write!(&stream, "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
}
