//! List options and watch streams. A watch is newline-delimited JSON events
//! (`{"type":…,"object":…}`), produced by a task that replays the retained history
//! after the requested resourceVersion (or lists the current objects when there is
//! none), then follows new writes. It sends periodic BOOKMARKs when asked, an ERROR
//! 410 Expired when the requested version has left the history, and ends at
//! `timeoutSeconds`, when the client goes away, or when the server stops.
//!
//! kube 5's `runtime::watcher` (default `Config`) lists with `?limit=500` (no
//! resourceVersion: the most recent state; `ListSemantic::Any` adds `resourceVersion=0&
//! resourceVersionMatch=NotOlderThan`), then watches with `?watch=true&timeoutSeconds=290&
//! allowWatchBookmarks=true&resourceVersion=<the list's>`, and relists after a 410;
//! `Config::streaming_lists()` instead watches with `sendInitialEvents=true&
//! resourceVersionMatch=NotOlderThan&resourceVersion=0` and waits for a BOOKMARK
//! annotated `k8s.io/initial-events-end`. Both are served.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_TYPE;
use axum::response::Response;
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};

use super::object::meta_str;
use super::resources::Resource;
use super::selector::Selector;
use super::status::{ApiError, FieldError};
use super::store::Event;
use super::{Shared, lock};

/// The list and watch options of one request.
#[derive(Debug, Default)]
pub struct ListOptions {
    pub watch: bool,
    pub resource_version: Option<String>,
    pub timeout_seconds: Option<u64>,
    pub bookmarks: bool,
    pub send_initial_events: bool,
}

impl ListOptions {
    /// Reads and checks the options as apimachinery's `ValidateListOptions` does.
    pub fn parse(query: &HashMap<String, String>) -> Result<ListOptions, ApiError> {
        let flag = |name: &str| query.get(name).is_some_and(|v| v == "true" || v == "1");
        let timeout_seconds = match query.get("timeoutSeconds") {
            Some(t) => Some(t.parse().map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds {t:?}")))?),
            None => None,
        };
        let options = ListOptions {
            watch: flag("watch"),
            resource_version: query.get("resourceVersion").filter(|v| !v.is_empty()).cloned(),
            timeout_seconds,
            bookmarks: flag("allowWatchBookmarks"),
            send_initial_events: flag("sendInitialEvents"),
        };
        let version_match = query.get("resourceVersionMatch").filter(|v| !v.is_empty());
        let mut errors = Vec::new();
        let forbid = |field: &str, detail: &str| FieldError::forbidden(field, detail);
        if options.send_initial_events {
            if !options.watch {
                errors.push(forbid("sendInitialEvents", "sendInitialEvents is forbidden for list"));
            } else {
                if version_match.is_none_or(|m| m != "NotOlderThan") {
                    let detail = "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan";
                    errors.push(forbid("resourceVersionMatch", detail));
                }
                if !options.bookmarks {
                    let detail = "sendInitialEvents requires setting allowWatchBookmarks to true";
                    errors.push(FieldError::required("allowWatchBookmarks", detail));
                }
            }
        } else if let Some(version_match) = version_match {
            if options.watch {
                let detail = "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided";
                errors.push(forbid("resourceVersionMatch", detail));
            } else if options.resource_version.is_none() {
                let detail = "resourceVersionMatch is forbidden unless resourceVersion is provided";
                errors.push(forbid("resourceVersionMatch", detail));
            } else if version_match != "NotOlderThan" && version_match != "Exact" {
                let supported = ["Exact", "NotOlderThan"];
                errors.push(FieldError::not_supported("resourceVersionMatch", &json!(version_match), &supported));
            } else if version_match == "Exact" && options.resource_version.as_deref() == Some("0") {
                let detail = "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"";
                errors.push(forbid("resourceVersionMatch", detail));
            }
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid_kind("ListOptions.meta.k8s.io", "meta.k8s.io", "ListOptions", "", &errors));
        }
        Ok(options)
    }
}

/// What one watch request selects, and how far it has been served.
struct Watch {
    shared: Arc<Shared>,
    res: &'static Resource,
    ns: Option<String>,
    selector: Selector,
    /// resourceVersion up to which every matching event has been sent.
    sent: u64,
}

/// Starts a watch; the response body streams until the watch ends.
pub fn start(
    shared: Arc<Shared>,
    res: &'static Resource,
    ns: Option<String>,
    selector: Selector,
    options: ListOptions,
) -> Result<Response, ApiError> {
    let from = match options.resource_version.as_deref() {
        None | Some("0") => None,
        Some(rv) => {
            Some(rv.parse::<u64>().map_err(|_| ApiError::bad_request(format!("invalid resource version {rv:?}")))?)
        }
    };
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let watch = Watch { shared, res, ns, selector, sent: 0 };
    tokio::spawn(watch.run(from, options, tx));
    let body = Body::from_stream(rx.map(Ok::<Bytes, Infallible>));
    Ok(Response::builder().header(CONTENT_TYPE, "application/json").body(body).expect("a valid response"))
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut text = serde_json::to_vec(&json!({ "type": kind, "object": object })).expect("JSON serialises");
    text.push(b'\n');
    Bytes::from(text)
}

impl Watch {
    async fn run(mut self, from: Option<u64>, options: ListOptions, mut tx: mpsc::Sender<Bytes>) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(options.timeout_seconds.unwrap_or(1800));
        let mut shutdown = self.shared.shutdown.subscribe();
        // Subscribing and reading under one lock: no write can fall between the two.
        let (mut changed, initial) = {
            let store = lock(&self.shared.store);
            let changed = store.subscribe();
            let initial = match from {
                Some(rv) if !options.send_initial_events => {
                    self.sent = rv;
                    Vec::new()
                }
                _ => {
                    self.sent = store.rv();
                    let objects = store.list(self.res, self.ns.as_deref(), &self.selector);
                    let mut lines: Vec<Bytes> = objects.iter().map(|o| line("ADDED", o)).collect();
                    if options.send_initial_events {
                        lines.push(self.bookmark(true));
                    }
                    lines
                }
            };
            (changed, initial)
        };
        if !send_all(&mut tx, initial).await {
            return;
        }
        let mut ticks =
            tokio::time::interval_at(tokio::time::Instant::now() + Duration::from_secs(1), Duration::from_secs(1));
        let mut bookmark = false;
        loop {
            let (lines, ended) = self.drain(bookmark && options.bookmarks);
            if !send_all(&mut tx, lines).await || ended {
                return;
            }
            bookmark = false;
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                _ = shutdown.changed() => return,
                woke = changed.changed() => if woke.is_err() { return },
                _ = ticks.tick() => {
                    if tx.is_closed() {
                        return;
                    }
                    bookmark = true;
                }
            }
        }
    }

    /// The lines for every matching event after `sent`, then maybe a BOOKMARK; or the
    /// 410 ERROR that ends the watch when those events are no longer retained.
    fn drain(&mut self, bookmark: bool) -> (Vec<Bytes>, bool) {
        let store = lock(&self.shared.store);
        let events = match store.events_after(self.sent) {
            Ok(events) => events,
            Err(oldest) => return (vec![line("ERROR", &ApiError::expired(self.sent, oldest).to_status())], true),
        };
        let mut lines: Vec<Bytes> = events.filter_map(|e| self.classify(e).map(|kind| line(kind, &e.object))).collect();
        self.sent = store.rv();
        if bookmark {
            lines.push(self.bookmark(false));
        }
        (lines, false)
    }

    /// How this watch sees an event: a change that moves an object into its selector
    /// is an ADDED, one that moves it out a DELETED, as with the real watch cache.
    fn classify(&self, event: &Event) -> Option<&'static str> {
        let same_resource = std::ptr::eq(event.res, self.res);
        if !same_resource || self.ns.as_deref().is_some_and(|ns| ns != meta_str(&event.object, "namespace")) {
            return None;
        }
        let now = self.selector.matches(&event.object);
        let before = event.previous.as_ref().is_some_and(|p| self.selector.matches(p));
        match (event.kind, before, now) {
            ("MODIFIED", true, true) => Some("MODIFIED"),
            ("MODIFIED", false, true) => Some("ADDED"),
            ("MODIFIED", true, false) => Some("DELETED"),
            ("ADDED" | "DELETED", _, true) => Some(event.kind),
            _ => None,
        }
    }

    /// A BOOKMARK at `sent`: everything up to it has been delivered.
    fn bookmark(&self, initial_events_end: bool) -> Bytes {
        let mut metadata = json!({ "resourceVersion": self.sent.to_string() });
        if initial_events_end {
            metadata["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
        }
        line("BOOKMARK", &json!({ "kind": self.res.kind, "apiVersion": self.res.api_version(), "metadata": metadata }))
    }
}

async fn send_all(tx: &mut mpsc::Sender<Bytes>, lines: Vec<Bytes>) -> bool {
    for line in lines {
        if tx.send(line).await.is_err() {
            return false;
        }
    }
    true
}
