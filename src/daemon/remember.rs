//! The reconciler's use of serin's memory (`k8s::memory`, README "Lifecycle"): recalled when
//! the candidate lost its record, updated when a run rolls back or scales the candidate down.

use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt;

use crate::k8s::events::Notice;
use crate::k8s::memory;
use crate::k8s::objects::revision;
use crate::lifecycle::Record;
use crate::lifecycle::memory::{Memory, recall, remember};

use super::reconcile::Reconciler;

/// Writes of the shared memory ConfigMap retried after a conflict with another candidate's.
const CONFLICT_RETRIES: usize = 3;

/// What memory gives a candidate without a record.
#[derive(Default)]
pub struct Recalled {
    /// A settled rollback of the candidate's revision, to be written back on it.
    pub record: Option<Record>,
    /// The replicas to start the next run with.
    pub replicas: Option<i32>,
    pub notice: Option<Notice>,
}

impl Reconciler<'_> {
    /// For a candidate without `serin.io/status` (new, or rewritten by a GitOps tool).
    pub(super) async fn recall(&self, candidate: &Deployment, now: std::time::SystemTime) -> Recalled {
        let namespace = candidate.namespace().unwrap_or_default();
        let memory = match memory::read(&self.apis.client, &namespace, self.name).await {
            Ok(memory) => memory,
            Err(e) => {
                tracing::warn!(error = %e, "could not read serin's memory: going on without it");
                Memory::default()
            }
        };
        let record = recall(&memory, &revision(candidate), now);
        let notice = record.as_ref().map(|r| {
            Notice::warning(
                "RecordRestored",
                format!(
                    "serin.io/status was removed (a GitOps replace?): revision {} was rolled back ({}); \
                     it is not retried until its pod spec or serin.io/retry changes",
                    r.state.revision,
                    r.state.trigger.as_deref().unwrap_or("manual")
                ),
            )
        });
        Recalled { record, replicas: memory.replicas_before, notice }
    }

    /// Best effort after the record was written: a failure is logged, the record stands.
    pub(super) async fn remember(&self, candidate: &Deployment, before: Option<&Record>, after: &Record) {
        let rolled_back = |r: &Record| r.state.phase == crate::rollout::Phase::RolledBack;
        let news = (rolled_back(after) && !before.is_some_and(rolled_back))
            || (after.replicas_before.is_some() && after.replicas_before != before.and_then(|b| b.replicas_before));
        if !news || after.dry_run {
            return;
        }
        let namespace = candidate.namespace().unwrap_or_default();
        let update = || async {
            let memory = memory::read(&self.apis.client, &namespace, self.name).await?;
            let next = remember(&memory, after);
            if next != memory {
                memory::write(&self.apis.client, &namespace, self.name, &next).await?;
            }
            Ok::<_, crate::k8s::K8sError>(())
        };
        // The ConfigMap is shared by the namespace's candidates: a write that met another's
        // is read and made again.
        let mut result = update().await;
        for _ in 0..CONFLICT_RETRIES {
            match &result {
                Err(e) if e.is_conflict() => result = update().await,
                _ => break,
            }
        }
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not update serin's memory (ConfigMap {})", memory::NAME);
        }
    }
}
