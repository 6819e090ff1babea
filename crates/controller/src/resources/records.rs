//! Where resources are kept: the [`ResourceRecords`] trait, and [`MemoryResources`], the
//! in-memory records of `postern dev`.
//!
//! A backend keeps a [`ResourceState`] and auth tokens, and nothing else: every rule between
//! items is the state's, applied by [`Resources`](super::Resources) as changes it hands to
//! [`ResourceRecords::change`]. A backend runs each change on the newest state with no other
//! change in between (a database: under one row lock), so two controllers on one database
//! cannot both take the same name or version.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::state::ResourceState;
use super::tokens::TokenRecord;
use super::ResourceError;

/// A change to the state. It may fail halfway: a backend stores nothing of a change that
/// returns an error.
pub type StateChange<'a> =
    &'a mut (dyn FnMut(&mut ResourceState) -> Result<(), ResourceError> + Send);

/// Storage of the resource state and of auth tokens.
#[async_trait]
pub trait ResourceRecords: Send + Sync + 'static {
    /// The newest state. Callers only read it; a backend may hand the same one to many.
    async fn state(&self) -> Result<Arc<ResourceState>, ResourceError>;
    /// Runs `change` on the newest state with no other change in between, and stores the
    /// result if it returns `Ok`.
    async fn change(&self, change: StateChange<'_>) -> Result<(), ResourceError>;

    /// Stores a new token; `false` when its id is taken.
    async fn insert_token(&self, token: TokenRecord) -> Result<bool, ResourceError>;
    /// The token with this id, if there is one.
    async fn token(&self, id: &str) -> Result<Option<TokenRecord>, ResourceError>;
    /// Records that the token was used at `at`.
    async fn token_used(&self, id: &str, at: DateTime<Utc>) -> Result<(), ResourceError>;
    /// Deletes a token; whether there was one.
    async fn delete_token(&self, id: &str) -> Result<bool, ResourceError>;
}

/// Resources in memory: everything is lost when the process ends.
#[derive(Default)]
pub struct MemoryResources {
    state: Mutex<Arc<ResourceState>>,
    tokens: Mutex<BTreeMap<String, TokenRecord>>,
}

impl MemoryResources {
    pub fn new() -> Self {
        Self::default()
    }

    /// A change replaces the state whole only when it succeeds, so a poisoned lock is
    /// taken over rather than propagated.
    fn lock_state(&self) -> MutexGuard<'_, Arc<ResourceState>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_tokens(&self) -> MutexGuard<'_, BTreeMap<String, TokenRecord>> {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl ResourceRecords for MemoryResources {
    async fn state(&self) -> Result<Arc<ResourceState>, ResourceError> {
        Ok(Arc::clone(&self.lock_state()))
    }

    async fn change(&self, change: StateChange<'_>) -> Result<(), ResourceError> {
        let mut current = self.lock_state();
        let mut next = ResourceState::clone(&current);
        change(&mut next)?;
        *current = Arc::new(next);
        // Tokens of what is gone can never resolve again: drop them.
        let state = Arc::clone(&current);
        drop(current);
        self.lock_tokens()
            .retain(|_, record| state.token_holds(&record.token));
        Ok(())
    }

    async fn insert_token(&self, token: TokenRecord) -> Result<bool, ResourceError> {
        let mut tokens = self.lock_tokens();
        if tokens.contains_key(&token.token.id) {
            return Ok(false);
        }
        tokens.insert(token.token.id.clone(), token);
        Ok(true)
    }

    async fn token(&self, id: &str) -> Result<Option<TokenRecord>, ResourceError> {
        Ok(self.lock_tokens().get(id).cloned())
    }

    async fn token_used(&self, id: &str, at: DateTime<Utc>) -> Result<(), ResourceError> {
        if let Some(record) = self.lock_tokens().get_mut(id) {
            record.token.approximate_last_used_time = at;
        }
        Ok(())
    }

    async fn delete_token(&self, id: &str) -> Result<bool, ResourceError> {
        Ok(self.lock_tokens().remove(id).is_some())
    }
}

impl fmt::Debug for MemoryResources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `try_lock`: formatting must not wait for (or deadlock on) a caller holding a lock.
        let mut debug = f.debug_struct("MemoryResources");
        if let Ok(state) = self.state.try_lock() {
            debug.field("items", &state.stored().count());
        }
        if let Ok(tokens) = self.tokens.try_lock() {
            debug.field("auth_tokens", &tokens.len());
        }
        debug.finish_non_exhaustive()
    }
}
