//! [`ResourceStore`] for [`MemoryStore`]: lock, read the clock, hand the call to `State`.
//! The lock is never held across an await; a login's password check runs outside it.

use async_trait::async_trait;

use super::super::kind::{Item, ItemPatch, KindId, NewItem};
use super::super::{AuthToken, SessionPlan};
use super::super::{Change, Principal, ResourceError, ResourceStore};
use super::MemoryStore;

type Result<T> = std::result::Result<T, ResourceError>;

#[async_trait]
impl ResourceStore for MemoryStore {
    async fn get(&self, kind: KindId, id: &str) -> Result<Item> {
        self.lock().get(kind, id)
    }

    async fn list(&self, kind: KindId, parent_id: &str, recursive: bool) -> Result<Vec<Item>> {
        self.lock().list(kind, parent_id, recursive)
    }

    async fn create(&self, new: NewItem) -> Result<Item> {
        let now = self.now();
        self.lock().create(None, new, now)
    }

    async fn update(&self, id: &str, version: u32, patch: ItemPatch) -> Result<Item> {
        let now = self.now();
        self.lock().update(id, version, patch, now)
    }

    async fn delete(&self, kind: KindId, id: &str) -> Result<()> {
        self.lock().delete(kind, id)
    }

    async fn change_members(
        &self,
        kind: KindId,
        id: &str,
        version: u32,
        change: Change,
        member_ids: &[String],
    ) -> Result<Item> {
        let now = self.now();
        self.lock()
            .change_members(kind, id, version, change, member_ids, now)
    }

    async fn scope_tree(&self, scope_id: &str, recursive: bool) -> Result<Vec<String>> {
        self.lock().scope_tree(scope_id, recursive)
    }

    async fn authenticate(
        &self,
        auth_method_id: &str,
        login_name: &str,
        password: &str,
    ) -> Result<AuthToken> {
        let candidate = self.lock().login_candidate(auth_method_id, login_name)?;
        // Argon2id takes tens of milliseconds: off the async threads and outside the lock.
        let password = password.to_owned();
        let (account_id, upgraded) =
            tokio::task::spawn_blocking(move || candidate.check(&password))
                .await
                .map_err(|e| ResourceError::Store(format!("password check failed: {e}")))??;
        let now = self.now();
        self.lock()
            .issue_token(auth_method_id, &account_id, upgraded, now)
    }

    async fn principal(&self, bearer_token: &str) -> Result<Principal> {
        let now = self.now();
        self.lock().principal(bearer_token, now)
    }

    async fn logout(&self, auth_token_id: &str) -> Result<()> {
        self.lock().logout(auth_token_id)
    }

    async fn plan_session(&self, target_id: &str, host_id: Option<&str>) -> Result<SessionPlan> {
        self.lock().plan_session(target_id, host_id)
    }
}
