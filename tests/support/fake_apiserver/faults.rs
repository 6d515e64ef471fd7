//! The faults a test gives the fake API server, as the real one has them: an admission
//! webhook that is down, a replica cut off from the server, another writer racing a client.

use serde_json::{Value, json};

use super::{FakeApiServer, lock, reaction, resolve};

impl FakeApiServer {
    /// A validating admission webhook for `kind` that is down (failurePolicy: Fail): every
    /// CREATE and UPDATE (POST, PUT, PATCH) of that kind is refused with a 500, as the real
    /// server answers; DELETEs, which ingress-nginx's webhook does not check, pass.
    pub fn refuse_writes(&self, kind: &str) {
        let message = format!(
            "failed calling webhook \"validate.{}.example\": failed to call webhook: \
             Post \"https://admission.example.svc:443/validate?timeout=10s\": dial tcp 127.0.0.1:8443: connect: \
             connection refused",
            kind.to_lowercase()
        );
        lock(&self.shared.refused_writes).push((kind.to_string(), message));
    }

    /// Lease writes claiming `identity` as holder hang for two minutes (the replica is cut
    /// off from the API server while others are not), then answer 504.
    pub fn hang_lease_writes_of(&self, identity: &str) {
        lock(&self.shared.hung_lease_writers).push(identity.to_string());
    }

    /// Once a client's write of the object leaves it as `when` says, another writer merge-
    /// patches it with `patch` before any other request is answered (reaction.rs).
    pub fn react_once(
        &self,
        (api_version, kind, namespace, name): (&str, &str, &str, &str),
        when: impl Fn(&Value) -> bool + Send + 'static,
        patch: Value,
    ) {
        let target =
            json!({"apiVersion": api_version, "kind": kind, "metadata": {"namespace": namespace, "name": name}});
        let (res, ns) = resolve(&target);
        let reaction = reaction::Reaction { res, ns, name: name.to_string(), when: Box::new(when), patch };
        lock(&self.shared.reactions).push(reaction);
    }

    /// The webhook is back.
    pub fn accept_writes(&self) {
        lock(&self.shared.refused_writes).clear();
    }
}
