//! [`Resources`]: the one [`ResourceStore`], over any [`ResourceRecords`] backend. Reads
//! look at the backend's newest state; changes are handed to it as closures over the state,
//! whose rules decide them; logins and bearer tokens are checked here.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::ids::ANONYMOUS_USER_ID;
use super::input::DevSeed;
use super::kind::{Item, ItemPatch, KindId, NewItem};
use super::records::{MemoryResources, ResourceRecords};
use super::secret::split_token;
use super::seed::{default_roles, dev_seed, SeedStep};
use super::state::{ResourceState, ID_ATTEMPTS};
use super::tokens::{LoginCandidate, TokenRecord};
use super::{AuthToken, SessionPlan};
use super::{Change, Principal, ResourceError, ResourceStore};
use crate::sessions::Clock;

type Result<T> = std::result::Result<T, ResourceError>;

/// How stale a token's `approximate_last_used_time` may get: recording every use would turn
/// every request into a write.
const TOKEN_USE_GRANULARITY: chrono::Duration = chrono::Duration::minutes(1);

/// The resources of a controller, kept by a [`ResourceRecords`] backend.
pub struct Resources {
    records: Arc<dyn ResourceRecords>,
    clock: Clock,
}

impl Resources {
    /// Resources kept by `records`, reading the time from `clock`; adds the global scope
    /// when the records do not hold it yet, and gives the admins of a store made before
    /// roles existed Boundary's default roles instead of their mark.
    pub async fn open(records: Arc<dyn ResourceRecords>, clock: Clock) -> Result<Self> {
        let store = Self { records, clock };
        let state = store.records.state().await?;
        if !state.has_global() {
            let now = store.now();
            store
                .change(|state| {
                    if !state.has_global() {
                        state.add_global(now);
                    }
                    Ok(())
                })
                .await?;
        }
        if state.has_legacy_admins() {
            let now = store.now();
            store
                .change(|state| {
                    let admins = state.take_legacy_admins();
                    if state.count(KindId::Role) == 0 && !admins.is_empty() {
                        let admins: Vec<&str> = admins.iter().map(String::as_str).collect();
                        apply(state, &default_roles(&admins), now)?;
                    }
                    Ok(())
                })
                .await?;
        }
        Ok(store)
    }

    /// Resources in memory, holding only the global scope.
    pub async fn memory(clock: Clock) -> Result<Self> {
        Self::open(Arc::new(MemoryResources::new()), clock).await
    }

    /// Resources in memory holding `postern dev`'s resources ([`dev_seed`]).
    pub async fn memory_dev(seed: &DevSeed, clock: Clock) -> Result<Self> {
        let store = Self::memory(clock).await?;
        store.apply_seed(dev_seed(seed)).await?;
        Ok(store)
    }

    /// Applies a seed's steps in order, all in one change; the first refusal stops it and
    /// nothing is stored.
    pub async fn apply_seed(&self, steps: Vec<SeedStep>) -> Result<()> {
        let now = self.now();
        self.change(|state| apply(state, &steps, now)).await
    }

    /// Whether the records hold anything beyond the global scope (a database `postern dev`
    /// seeded before, or one in use).
    pub async fn is_blank(&self) -> Result<bool> {
        Ok(self.records.state().await?.stored().count() <= 1)
    }

    /// The backend.
    pub fn records(&self) -> &Arc<dyn ResourceRecords> {
        &self.records
    }

    fn now(&self) -> DateTime<Utc> {
        (self.clock)().into()
    }

    async fn state(&self) -> Result<Arc<ResourceState>> {
        self.records.state().await
    }

    /// Runs `change` through the backend and hands back what it returned.
    async fn change<T: Send>(
        &self,
        mut change: impl FnMut(&mut ResourceState) -> Result<T> + Send,
    ) -> Result<T> {
        let mut out = None;
        self.records
            .change(&mut |state| {
                out = Some(change(state)?);
                Ok(())
            })
            .await?;
        out.ok_or_else(|| ResourceError::Store("a change stored nothing".into()))
    }

    /// Stores a new token, under a fresh id.
    async fn issue_token(
        &self,
        user_id: String,
        account_id: &str,
        auth_method_id: &str,
        state: &ResourceState,
    ) -> Result<AuthToken> {
        let scope_id = state
            .existing_as::<super::AuthMethod>(auth_method_id)?
            .scope_id
            .clone();
        for _ in 0..ID_ATTEMPTS {
            let (record, mut issued) = TokenRecord::mint(
                user_id.clone(),
                account_id.to_owned(),
                auth_method_id.to_owned(),
                scope_id.clone(),
                self.now(),
            );
            if self.records.insert_token(record).await? {
                issued.scope = state.scope_info(&scope_id);
                return Ok(issued);
            }
        }
        Err(ResourceError::Conflict(
            "could not find an unused auth token id".into(),
        ))
    }
}

#[async_trait]
impl ResourceStore for Resources {
    async fn get(&self, kind: KindId, id: &str) -> Result<Item> {
        self.state().await?.get(kind, id)
    }

    async fn list(&self, kind: KindId, parent_id: &str, recursive: bool) -> Result<Vec<Item>> {
        self.state().await?.list(kind, parent_id, recursive)
    }

    async fn create(&self, new: NewItem) -> Result<Item> {
        let now = self.now();
        self.change(|state| state.create(None, new.clone(), now))
            .await
    }

    async fn update(&self, id: &str, version: u32, patch: ItemPatch) -> Result<Item> {
        let now = self.now();
        self.change(|state| state.update(id, version, patch.clone(), now))
            .await
    }

    async fn delete(&self, kind: KindId, id: &str) -> Result<()> {
        self.change(|state| state.delete(kind, id)).await
    }

    async fn change_members(
        &self,
        kind: KindId,
        id: &str,
        version: u32,
        change: Change,
        field: &str,
        member_ids: &[String],
    ) -> Result<Item> {
        let now = self.now();
        self.change(|state| state.change_members(kind, id, version, change, field, member_ids, now))
            .await
    }

    async fn scope_tree(&self, scope_id: &str, recursive: bool) -> Result<Vec<String>> {
        self.state().await?.scope_tree(scope_id, recursive)
    }

    async fn authenticate(
        &self,
        auth_method_id: &str,
        login_name: &str,
        password: &str,
    ) -> Result<AuthToken> {
        let candidate: LoginCandidate = self
            .state()
            .await?
            .login_candidate(auth_method_id, login_name)?;
        // Argon2id takes tens of milliseconds: off the async threads.
        let password = password.to_owned();
        let (account_id, upgraded) =
            tokio::task::spawn_blocking(move || candidate.check(&password))
                .await
                .map_err(|e| ResourceError::Store(format!("password check failed: {e}")))??;
        let state = self.state().await?;
        // Most logins change nothing: the account has its user and its hash is current.
        let owner = state.account_owner(&account_id).map(str::to_owned);
        let (user_id, state) = match owner {
            Some(user_id) if upgraded.is_none() => (user_id, state),
            _ => {
                let now = self.now();
                let user_id = self
                    .change(|state| {
                        state.login_user(auth_method_id, &account_id, upgraded.clone(), now)
                    })
                    .await?;
                (user_id, self.state().await?)
            }
        };
        self.issue_token(user_id, &account_id, auth_method_id, &state)
            .await
    }

    async fn principal(&self, bearer_token: &str) -> Result<Principal> {
        let Some((id, secret)) = split_token(bearer_token) else {
            return Err(ResourceError::Unauthenticated(
                "malformed auth token".into(),
            ));
        };
        let invalid = || ResourceError::Unauthenticated("invalid auth token".into());
        let record = self.records.token(id).await?.ok_or_else(invalid)?;
        if !record.secret.matches(secret) {
            return Err(invalid());
        }
        let now = self.now();
        let token = &record.token;
        if token.expiration_time <= now {
            self.records.delete_token(id).await?;
            return Err(ResourceError::Unauthenticated("auth token expired".into()));
        }
        let state = self.state().await?;
        if !state.token_holds(token) {
            return Err(invalid());
        }
        if now - token.approximate_last_used_time >= TOKEN_USE_GRANULARITY {
            self.records.token_used(id, now).await?;
        }
        Ok(Principal {
            acl: state.acl(&token.user_id, &token.account_id),
            user_id: token.user_id.clone(),
            auth_token_id: id.to_owned(),
            account_id: token.account_id.clone(),
        })
    }

    async fn anonymous(&self) -> Result<Principal> {
        let state = self.state().await?;
        Ok(Principal {
            acl: state.acl(ANONYMOUS_USER_ID, ""),
            user_id: ANONYMOUS_USER_ID.to_owned(),
            auth_token_id: String::new(),
            account_id: String::new(),
        })
    }

    async fn auth_token(&self, auth_token_id: &str) -> Result<AuthToken> {
        match self.records.token(auth_token_id).await? {
            Some(record) => {
                let mut token = record.token;
                token.scope = self.state().await?.scope_info(&token.scope_id);
                Ok(token)
            }
            None => Err(ResourceError::not_found("auth token", auth_token_id)),
        }
    }

    async fn apply_steps(&self, steps: Vec<SeedStep>) -> Result<()> {
        self.apply_seed(steps).await
    }

    async fn logout(&self, auth_token_id: &str) -> Result<()> {
        if self.records.delete_token(auth_token_id).await? {
            Ok(())
        } else {
            Err(ResourceError::not_found("auth token", auth_token_id))
        }
    }

    async fn plan_session(&self, target_id: &str, host_id: Option<&str>) -> Result<SessionPlan> {
        self.state().await?.plan_session(target_id, host_id)
    }
}

/// Applies seed steps to a state, in order.
fn apply(state: &mut ResourceState, steps: &[SeedStep], now: DateTime<Utc>) -> Result<()> {
    for step in steps {
        match step {
            SeedStep::Create { id, new } => {
                state.create(Some(id.as_str()), new.clone(), now)?;
            }
            SeedStep::SetMembers {
                kind,
                id,
                field,
                members,
            } => {
                let version = state.get(*kind, id)?.version();
                state.change_members(*kind, id, version, Change::Set, field, members, now)?;
            }
        }
    }
    Ok(())
}

impl fmt::Debug for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resources").finish_non_exhaustive()
    }
}
