//! The resource types the fake serves: the table from URL (group, version, plural) to
//! kind, which ones have a `status` subresource, which field selectors each accepts, and
//! the typed k8s-openapi struct each must decode into (the real server decodes bodies
//! into Go structs, so a wrong type is a 400 there; decoding into the Rust types is
//! our equivalent).

use k8s_openapi::api::{apps, coordination, core, events, networking};
use serde::de::DeserializeOwned;
use serde_json::Value;

#[derive(Debug)]
pub struct Resource {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub kind: &'static str,
    /// Status is a subresource: writes to the main resource keep the stored status.
    pub has_status: bool,
    /// Field selectors beyond `metadata.name` / `metadata.namespace`.
    pub fields: &'static [&'static str],
    /// Decodes the object into its typed form; the error text on failure.
    pub decode: fn(&Value) -> Result<(), String>,
}

fn decode<T: DeserializeOwned>(obj: &Value) -> Result<(), String> {
    serde_json::from_value::<T>(obj.clone()).map(|_| ()).map_err(|e| e.to_string())
}

const fn resource(
    group: &'static str,
    plural: &'static str,
    kind: &'static str,
    has_status: bool,
    fields: &'static [&'static str],
    decode: fn(&Value) -> Result<(), String>,
) -> Resource {
    Resource { group, version: "v1", plural, kind, has_status, fields, decode }
}

const CORE_EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "reason",
    "reportingComponent",
    "source",
    "type",
];
const EVENT_FIELDS: &[&str] = &[
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
    "reason",
    "reportingController",
    "type",
];

pub static RESOURCES: &[Resource] = &[
    resource("apps", "deployments", "Deployment", true, &[], decode::<apps::v1::Deployment>),
    resource("", "services", "Service", true, &[], decode::<core::v1::Service>),
    resource("", "pods", "Pod", true, &["status.phase", "spec.nodeName"], decode::<core::v1::Pod>),
    resource("", "events", "Event", false, CORE_EVENT_FIELDS, decode::<core::v1::Event>),
    resource("", "configmaps", "ConfigMap", false, &[], decode::<core::v1::ConfigMap>),
    resource("networking.k8s.io", "ingresses", "Ingress", true, &[], decode::<networking::v1::Ingress>),
    resource("events.k8s.io", "events", "Event", false, EVENT_FIELDS, decode::<events::v1::Event>),
    resource("coordination.k8s.io", "leases", "Lease", false, &[], decode::<coordination::v1::Lease>),
    // A CRD: no k8s-openapi type; its structural schema's types are checked instead.
    resource("gateway.networking.k8s.io", "httproutes", "HTTPRoute", true, &[], super::httproute::decode),
];

impl Resource {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.to_string() } else { format!("{}/{}", self.group, self.version) }
    }

    /// `deployments.apps`: how the server names the resource in messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() { self.plural.to_string() } else { format!("{}.{}", self.plural, self.group) }
    }

    /// `Deployment.apps`: how validation errors name the kind.
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() { self.kind.to_string() } else { format!("{}.{}", self.kind, self.group) }
    }

    pub fn is(&self, group: &str, plural: &str) -> bool {
        self.group == group && self.plural == plural
    }

    pub fn by_path(group: &str, version: &str, plural: &str) -> Option<&'static Resource> {
        RESOURCES.iter().find(|r| r.group == group && r.version == version && r.plural == plural)
    }

    pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static Resource> {
        RESOURCES.iter().find(|r| r.api_version() == api_version && r.kind == kind)
    }

    /// Whether an immediate DELETE answers with the deleted object (the real Pod and
    /// Service storage do) rather than a success `Status` (everything else).
    pub fn returns_deleted_object(&self) -> bool {
        self.group.is_empty() && matches!(self.plural, "pods" | "services")
    }

    pub fn deployments() -> &'static Resource {
        Resource::by_path("apps", "v1", "deployments").expect("deployments are in the table")
    }

    pub fn pods() -> &'static Resource {
        Resource::by_path("", "v1", "pods").expect("pods are in the table")
    }
}
