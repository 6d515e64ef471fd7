//! Another writer that reacts to a write at once: the first committed write of an object
//! that meets a condition is followed, under the same lock (before any other request is
//! answered), by that writer's merge patch. It models the races a test cannot time from
//! outside: a GitOps tool replacing a Deployment between two writes of serin's.

use serde_json::Value;

use super::patch::PatchKind;
use super::resources::Resource;
use super::store::Store;
use super::write::Part;

pub type Condition = Box<dyn Fn(&Value) -> bool + Send>;

pub struct Reaction {
    pub res: &'static Resource,
    pub ns: String,
    pub name: String,
    pub when: Condition,
    pub patch: Value,
}

/// Runs, and forgets, the first reaction that `written` (just committed) triggers.
pub fn react(reactions: &mut Vec<Reaction>, store: &mut Store, res: &'static Resource, written: &Value) {
    let meta = |field: &str| written.pointer(&format!("/metadata/{field}")).and_then(Value::as_str).unwrap_or("");
    let due = reactions.iter().position(|r| {
        std::ptr::eq(r.res, res) && r.ns == meta("namespace") && r.name == meta("name") && (r.when)(written)
    });
    let Some(index) = due else { return };
    let reaction = reactions.remove(index);
    let body = reaction.patch.to_string();
    let result =
        store.patch(res, &reaction.ns, &reaction.name, PatchKind::Merge, body.as_bytes(), None, Part::Main, false);
    if let Err(e) = result {
        panic!("the reacting writer's patch failed: {}", e.message);
    }
}
