//! The benchmark's Prometheus: answers at once, with no data for the analysis queries (an
//! in-flight run stays inconclusive: never promoted, never rolled back) and, for the
//! template check a run starts with (`count by (…) (last_over_time(…))`), one series
//! carrying every label asked for, `le="+Inf"` among them, so every run may start.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};

/// Starts the stub on a loopback port; it serves until the process ends.
pub fn start() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let url = format!("http://{}", listener.local_addr().expect("a bound address"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    url
}

fn serve(stream: TcpStream) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0;
        let mut line = String::new();
        // The request line and the headers.
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap_or(0);
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body = String::from_utf8_lossy(&body);
        let check = body.contains("query=count+by") || body.contains("query=count%20by");
        let result = if check { r#"[{"metric":{"status":"500","le":"+Inf"},"value":[0,"1"]}]"# } else { "[]" };
        let json = format!(r#"{{"status":"success","data":{{"resultType":"vector","result":{result}}}}}"#);
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
            json.len()
        );
        if reader.get_mut().write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}
