//! A small blocking HTTP client for tests that talk to serin's API (loopback only).
//! Include with `#[path = "support/http.rs"] mod http;`.
#![allow(dead_code)]

use std::net::SocketAddr;

/// One answer: status, `WWW-Authenticate` (if any), content type and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub www_authenticate: Option<String>,
    pub content_type: String,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// `method path` against `addr`, with `Authorization: <authorization>` when given.
pub fn call(addr: SocketAddr, method: &str, path: &str, authorization: Option<&str>) -> Answer {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().expect("a client");
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = client.request(method, format!("http://{addr}{path}"));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let (www_authenticate, content_type) = (header("www-authenticate"), header("content-type").unwrap_or_default());
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        Answer { status, www_authenticate, content_type, body }
    })
}

pub fn get(addr: SocketAddr, path: &str) -> Answer {
    call(addr, "GET", path, None)
}
