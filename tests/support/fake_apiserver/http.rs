//! The HTTP face: one axum fallback handler that parses Kubernetes REST paths
//! (`/api/v1/...`, `/apis/{group}/{version}/...`), dispatches the verb to the store,
//! answers errors as `Status` objects, and records every request it serves.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::patch::PatchKind;
use super::resources::Resource;
use super::selector::Selector;
use super::status::{self, ApiError};
use super::watch::{self, ListOptions};
use super::write::Part;
use super::{RecordedRequest, Shared, discovery, lock, reaction};

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(dispatch).with_state(shared)
}

/// What a resource path names.
struct Target {
    res: &'static Resource,
    /// None: across all namespaces (cluster-wide list and watch).
    ns: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

/// One request as the handlers see it.
struct Request<'a> {
    method: Method,
    query: HashMap<String, String>,
    content_type: Option<&'a str>,
    body: &'a [u8],
}

impl Request<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    fn dry_run(&self) -> bool {
        self.param("dryRun").is_some()
    }

    /// The JSON body of a create, update or delete (an empty DELETE body is allowed).
    fn json(&self, res: &Resource) -> Result<Value, ApiError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(self.body).map_err(|e| ApiError::undecodable(res, &e.to_string()))
    }
}

async fn dispatch(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let query = Query::<HashMap<String, String>>::try_from_uri(&uri).map(|q| q.0).unwrap_or_default();
    if hangs(&shared, &method, uri.path(), &body) {
        tokio::time::sleep(std::time::Duration::from_secs(120)).await;
        return (StatusCode::GATEWAY_TIMEOUT, "hung").into_response();
    }
    let request = Request { method: method.clone(), query, content_type: content_type.as_deref(), body: &body };
    let response = match serve(&shared, uri.path(), &request) {
        Ok(response) => response,
        Err(error) => {
            (StatusCode::from_u16(error.code).expect("valid code"), axum::Json(error.to_status())).into_response()
        }
    };
    let recorded = RecordedRequest {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or("").to_string(),
        body: recorded_body(&body, content_type.as_deref()),
        content_type,
        status: response.status().as_u16(),
        at: std::time::Instant::now(),
    };
    if shared.log {
        let query = if recorded.query.is_empty() { String::new() } else { format!("?{}", recorded.query) };
        eprintln!("fake-apiserver: {} {}{query} -> {}", recorded.method, recorded.path, recorded.status);
    }
    lock(&shared.requests).push(recorded);
    response
}

/// A Lease write by a replica the test cut off (`FakeApiServer::hang_lease_writes_of`).
fn hangs(shared: &Shared, method: &Method, path: &str, body: &[u8]) -> bool {
    if !matches!(*method, Method::PUT | Method::POST) || !path.contains("/leases") {
        return false;
    }
    let holder = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|b| b["spec"]["holderIdentity"].as_str().map(str::to_string));
    holder.is_some_and(|h| lock(&shared.hung_lease_writers).contains(&h))
}

/// The body as JSON (apply bodies are YAML), None when empty or unreadable.
fn recorded_body(body: &[u8], content_type: Option<&str>) -> Option<Value> {
    if body.is_empty() {
        return None;
    }
    if content_type.is_some_and(|c| c.contains("yaml")) {
        return serde_yaml_ng::from_slice(body).ok();
    }
    serde_json::from_slice(body).ok()
}

fn parse_path(path: &str) -> Result<Target, ApiError> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(ApiError::path_not_found()),
    };
    let (ns, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(ns.to_string()), rest),
        _ => (None, rest),
    };
    let (plural, name, subresource) = match rest {
        [plural] => (*plural, None, None),
        [plural, name] if ns.is_some() => (*plural, Some(name.to_string()), None),
        [plural, name, sub] if ns.is_some() => (*plural, Some(name.to_string()), Some(sub.to_string())),
        _ => return Err(ApiError::path_not_found()),
    };
    let res = Resource::by_path(group, version, plural).ok_or_else(ApiError::path_not_found)?;
    Ok(Target { res, ns, name, subresource })
}

fn serve(shared: &Arc<Shared>, path: &str, request: &Request) -> Result<Response, ApiError> {
    if let Some(answer) = discovery::answer(path) {
        return if request.method == Method::GET {
            Ok(json(StatusCode::OK, answer))
        } else {
            Err(ApiError::method_not_allowed())
        };
    }
    let target = parse_path(path)?;
    if matches!(request.method, Method::POST | Method::PUT | Method::PATCH) {
        let refused = lock(&shared.refused_writes).iter().find(|(kind, _)| kind == target.res.kind).cloned();
        if let Some((_, message)) = refused {
            return Err(ApiError::internal(&message));
        }
    }
    match (&target.name, target.subresource.as_deref()) {
        (None, _) => collection(shared, &target, request),
        (Some(_), None) => item(shared, &target, request, Part::Main),
        (Some(_), Some("status")) if target.res.has_status => item(shared, &target, request, Part::Status),
        _ => Err(ApiError::path_not_found()),
    }
}

fn json(code: StatusCode, value: Value) -> Response {
    (code, axum::Json(value)).into_response()
}

fn collection(shared: &Arc<Shared>, target: &Target, request: &Request) -> Result<Response, ApiError> {
    let res = target.res;
    match (&request.method, &target.ns) {
        (&Method::GET, ns) => {
            let options = ListOptions::parse(&request.query)?;
            let selector = Selector::parse(res, request.param("labelSelector"), request.param("fieldSelector"))?;
            if options.watch {
                return watch::start(shared.clone(), res, ns.clone(), selector, options);
            }
            let store = lock(&shared.store);
            // Pages of `limit` items, as clients ask for (kube's watcher: 500): the
            // `continue` token is the offset of the next page in the latest state. Only the
            // page is cloned: a list of 10,000 Deployments in pages of 100 stays linear.
            let offset: usize = request.param("continue").and_then(|c| c.parse().ok()).unwrap_or(0);
            let limit = request.param("limit").and_then(|l| l.parse::<usize>().ok()).filter(|l| *l > 0);
            let matching = store.iter(res, ns.as_deref()).filter(|o| selector.matches(o));
            let mut items: Vec<Value> =
                matching.skip(offset).take(limit.map_or(usize::MAX, |l| l.saturating_add(1))).cloned().collect();
            let next = limit.filter(|l| items.len() > *l).map(|l| {
                items.truncate(l);
                offset.saturating_add(l).to_string()
            });
            // Items of a list carry no apiVersion and kind on the real server either.
            for item in &mut items {
                let map = item.as_object_mut().expect("stored objects are objects");
                map.remove("apiVersion");
                map.remove("kind");
            }
            let list = serde_json::json!({
                "kind": format!("{}List", res.kind),
                "apiVersion": res.api_version(),
                "metadata": { "resourceVersion": store.rv().to_string(), "continue": next },
                "items": items,
            });
            Ok(json(StatusCode::OK, list))
        }
        (&Method::POST, Some(ns)) => {
            let created = lock(&shared.store).create(res, ns, request.json(res)?, request.dry_run())?;
            Ok(json(StatusCode::CREATED, created))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn item(shared: &Arc<Shared>, target: &Target, request: &Request, part: Part) -> Result<Response, ApiError> {
    let (res, dry_run) = (target.res, request.dry_run());
    let ns = target.ns.as_deref().expect("named paths are namespaced");
    let name = target.name.as_deref().expect("item paths have a name");
    let mut store = lock(&shared.store);
    let (code, obj) = match request.method {
        Method::GET => {
            (StatusCode::OK, store.get(res, ns, name).cloned().ok_or_else(|| ApiError::not_found(res, name))?)
        }
        Method::PUT => (StatusCode::OK, store.update(res, ns, name, request.json(res)?, part, dry_run)?),
        Method::PATCH => {
            let kind = PatchKind::from_content_type(request.content_type)?;
            let manager = request.param("fieldManager");
            let (obj, created) = store.patch(res, ns, name, kind, request.body, manager, part, dry_run)?;
            (if created { StatusCode::CREATED } else { StatusCode::OK }, obj)
        }
        Method::DELETE if part == Part::Main => {
            let obj = store.delete(res, ns, name, &request.json(res)?, dry_run)?;
            let removed = !dry_run && store.get(res, ns, name).is_none();
            if removed && !res.returns_deleted_object() {
                return Ok(json(StatusCode::OK, status::deleted(res, &obj)));
            }
            (StatusCode::OK, obj)
        }
        _ => return Err(ApiError::method_not_allowed()),
    };
    if matches!(request.method, Method::PUT | Method::PATCH) && !dry_run {
        reaction::react(&mut lock(&shared.reactions), &mut store, res, &obj);
    }
    Ok(json(code, obj))
}
