//! A loopback HTTP server standing in for a blue-green candidate's pods in smoke checks
//! (the fake API server gives pods the IP 127.0.0.1).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// Answers every request with `status` on a loopback port; counts requests; stops on drop.
pub struct SmokeServer {
    pub port: u16,
    pub hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl SmokeServer {
    pub fn start(status: &'static str) -> SmokeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().unwrap().port();
        let (hits, stop) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let (counter, stopped) = (hits.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                        let mut buffer = [0u8; 1024];
                        let _ = stream.read(&mut buffer);
                        counter.fetch_add(1, Ordering::Relaxed);
                        let reply = format!("HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
                        let _ = stream.write_all(reply.as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        SmokeServer { port, hits, stop }
    }
}

impl Drop for SmokeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
