//! Small handles the actors, the HTTP layer and the runtime share, kept in a leaf module
//! so that none of them has to import another to reach them:
//! - [`Shared`]: a value one actor publishes and handlers read;
//! - [`Slot`]: where handlers find the current incarnation of a restartable actor;
//! - [`now_ms`]: the wall clock, as the contract's `cast_at_ms` counts it.

use ractor::ActorRef;
use std::sync::{Arc, RwLock};

/// A value one actor publishes and HTTP handlers read (a clone under a short lock, never
/// held across `.await`).
pub struct Shared<T>(Arc<RwLock<Option<T>>>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}
impl<T> Default for Shared<T> {
    fn default() -> Self {
        Shared(Arc::new(RwLock::new(None)))
    }
}
impl<T: Clone> Shared<T> {
    pub fn get(&self) -> Option<T> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
    pub fn set(&self, v: T) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Some(v);
    }
}

/// Where callers find the current incarnation of a restartable actor. The actor puts
/// itself here in `pre_start` and removes itself in `post_stop`. The lock is only ever
/// held to clone or swap a reference, never across an `.await`.
pub struct Slot<M>(Arc<RwLock<Option<ActorRef<M>>>>);

impl<M> Clone for Slot<M> {
    fn clone(&self) -> Self {
        Slot(self.0.clone())
    }
}
impl<M> Default for Slot<M> {
    fn default() -> Self {
        Slot(Arc::new(RwLock::new(None)))
    }
}
impl<M: ractor::Message> Slot<M> {
    pub fn get(&self) -> Option<ActorRef<M>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
    pub fn set(&self, a: ActorRef<M>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Some(a);
    }
    /// Clears the slot if it still holds `a` (a newer incarnation may already be there).
    pub fn clear(&self, a: &ActorRef<M>) {
        let mut g = self.0.write().unwrap_or_else(|e| e.into_inner());
        if g.as_ref().is_some_and(|cur| cur.get_id() == a.get_id()) {
            *g = None;
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
