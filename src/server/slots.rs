//! The connection limit. A plain semaphore would let a flood of half-open connections
//! (slowloris) take every slot until their header timeout, and the kubelet's `/healthz`
//! probe would queue behind them and fail. Instead, when every slot is taken, the oldest
//! connection that has not yet sent a whole request is closed to make room: such a
//! connection costs the server memory and gives it nothing, while a new one (a probe, a
//! client) sends its request at once. Connections that were served are never pushed out;
//! when all slots hold such connections, a new one is refused (closed at once).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

/// The open connections, by arrival order.
#[derive(Debug)]
pub struct Slots {
    max: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next: u64,
    /// Arrival number → the connection.
    open: BTreeMap<u64, Open>,
}

#[derive(Debug)]
struct Open {
    /// Fired (or dropped) to close the connection.
    evict: oneshot::Sender<()>,
    /// A whole request arrived: never pushed out for a newer connection.
    served: bool,
}

/// A held slot; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<Slots>,
    id: u64,
}

impl Slots {
    pub fn new(max: usize) -> Arc<Slots> {
        Arc::new(Slots { max: max.max(1), inner: Mutex::default() })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding this lock leaves consistent data: carry on.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A slot for a new connection, and what fires when serin closes it to make room;
    /// `None` when every slot holds a connection that was served.
    pub fn admit(self: &Arc<Self>) -> Option<(Slot, oneshot::Receiver<()>)> {
        let mut inner = self.lock();
        if inner.open.len() >= self.max {
            let oldest_unserved = inner.open.iter().find(|(_, open)| !open.served).map(|(id, _)| *id)?;
            if let Some(open) = inner.open.remove(&oldest_unserved) {
                let _ = open.evict.send(());
            }
        }
        let (evict, evicted) = oneshot::channel();
        let id = inner.next;
        inner.next += 1;
        inner.open.insert(id, Open { evict, served: false });
        Some((Slot { slots: self.clone(), id }, evicted))
    }

    pub fn open(&self) -> usize {
        self.lock().open.len()
    }
}

impl Slot {
    /// The connection sent a whole request: it is no longer pushed out for newer ones.
    pub fn served(&self) {
        if let Some(open) = self.slots.lock().open.get_mut(&self.id) {
            open.served = true;
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.lock().open.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_server_closes_its_oldest_unserved_connection_for_a_new_one() {
        let slots = Slots::new(3);
        let (first, mut first_evicted) = slots.admit().unwrap();
        let first_id = first.id;
        let (second, mut second_evicted) = slots.admit().unwrap();
        let (_third, _) = slots.admit().unwrap();
        first.served();
        let (_fourth, _) = slots.admit().unwrap();
        assert_eq!(slots.open(), 3);
        assert!(slots.lock().open.contains_key(&first_id));
        assert!(matches!(first_evicted.try_recv(), Err(oneshot::error::TryRecvError::Empty)), "a served one stays");
        assert!(second_evicted.try_recv().is_ok(), "the oldest unserved one is closed");
        drop(second);
        assert_eq!(slots.open(), 3, "an evicted slot is freed once, by the eviction");
    }

    #[test]
    fn a_server_full_of_served_connections_refuses_new_ones_until_one_closes() {
        let slots = Slots::new(2);
        let (a, _a) = slots.admit().unwrap();
        let (b, _b) = slots.admit().unwrap();
        a.served();
        b.served();
        assert!(slots.admit().is_none());
        drop(a);
        assert!(slots.admit().is_some());
    }
}
