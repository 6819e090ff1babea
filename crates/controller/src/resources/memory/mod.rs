//! [`MemoryStore`]: every resource in one `std::sync::Mutex<State>`, held only for
//! the duration of one synchronous call.
//!
//! `state` holds the items and every rule between them, written once for all kinds; `tokens`
//! adds logging in and bearer tokens, `targets` the session plan; `store` implements
//! [`ResourceStore`] by locking and delegating.

mod state;
mod store;
mod targets;
mod tokens;

use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};

use super::kind::KindId;
use crate::sessions::Clock;

use state::State;

use super::input::DevSeed;
use super::seed::{dev_seed, SeedStep};
use super::{Change, ResourceError};

#[cfg(doc)]
use super::ResourceStore;

/// The in-memory store of `postern dev`: everything is lost when the process ends.
pub struct MemoryStore {
    state: Mutex<State>,
    clock: Clock,
}

impl MemoryStore {
    /// A store holding only the global scope.
    pub fn new() -> Self {
        Self::with_clock(postern_authority::system_clock())
    }

    /// Reads the time from `clock` (tests move it by hand to expire tokens).
    pub fn with_clock(clock: Clock) -> Self {
        let now = DateTime::<Utc>::from(clock());
        Self {
            state: Mutex::new(State::with_global(now)),
            clock,
        }
    }

    /// A store with `postern dev`'s resources ([`dev_seed`]).
    pub fn dev(seed: &DevSeed) -> Result<Self, ResourceError> {
        Self::dev_with_clock(seed, postern_authority::system_clock())
    }

    /// [`MemoryStore::dev`] reading the time from `clock`.
    pub fn dev_with_clock(seed: &DevSeed, clock: Clock) -> Result<Self, ResourceError> {
        let store = Self::with_clock(clock);
        store.apply_seed(dev_seed(seed))?;
        Ok(store)
    }

    /// Applies a seed's steps in order; the first refusal stops it.
    pub fn apply_seed(&self, steps: Vec<SeedStep>) -> Result<(), ResourceError> {
        let now = self.now();
        let mut state = self.lock();
        for step in steps {
            match step {
                SeedStep::Create { id, new } => {
                    state.create(Some(id), new, now)?;
                }
                SeedStep::SetMembers { kind, id, members } => {
                    state.change_members(kind, id, 1, Change::Set, &members, now)?;
                }
            }
        }
        Ok(())
    }

    fn now(&self) -> DateTime<Utc> {
        (self.clock)().into()
    }

    /// Every call leaves the state consistent before it returns (updates are built on a copy
    /// and then stored), so a panic elsewhere cannot leave a half-made change behind and the
    /// lock is taken over even when poisoned.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("MemoryStore");
        // `try_lock`: formatting must not wait for (or deadlock on) a caller holding the lock.
        if let Ok(state) = self.state.try_lock() {
            debug
                .field("scopes", &state.count(KindId::Scope))
                .field("users", &state.count(KindId::User))
                .field("auth_tokens", &state.tokens.len())
                .field("targets", &state.count(KindId::Target));
        }
        debug.finish_non_exhaustive()
    }
}
