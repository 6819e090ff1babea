//! [`ResourceStore`] for [`MemoryStore`]: lock, read the clock, hand the call to the kind's
//! operations on `State`. Nothing here waits, so the lock is never held across an await.

use async_trait::async_trait;

use super::super::kind::{Item, ItemPatch, KindId, NewItem};
use super::super::model::{AuthToken, SessionPlan};
use super::super::{Change, Principal, ResourceError, ResourceStore};
use super::MemoryStore;

type Result<T> = std::result::Result<T, ResourceError>;

#[async_trait]
impl ResourceStore for MemoryStore {
    async fn get(&self, kind: KindId, id: &str) -> Result<Item> {
        let state = self.lock();
        Ok(match kind {
            KindId::Scope => Item::Scope(state.scope(id)?),
            KindId::AuthMethod => Item::AuthMethod(state.auth_method(id)?),
            KindId::User => Item::User(state.user(id)?),
            KindId::Account => Item::Account(state.account(id)?),
            KindId::HostCatalog => Item::HostCatalog(state.host_catalog(id)?),
            KindId::HostSet => Item::HostSet(state.host_set(id)?),
            KindId::Host => Item::Host(state.host(id)?),
            KindId::Target => Item::Target(state.target(id)?),
        })
    }

    async fn list(&self, kind: KindId, parent_id: &str, recursive: bool) -> Result<Vec<Item>> {
        let state = self.lock();
        // Accounts, host sets and hosts live under an item, not a scope: `recursive` changes
        // nothing for them.
        Ok(match kind {
            KindId::Scope => wrap(state.list_scopes(parent_id, recursive)?, Item::Scope),
            KindId::AuthMethod => wrap(
                state.list_auth_methods(parent_id, recursive)?,
                Item::AuthMethod,
            ),
            KindId::User => wrap(state.list_users(parent_id, recursive)?, Item::User),
            KindId::Account => wrap(state.list_accounts(parent_id)?, Item::Account),
            KindId::HostCatalog => wrap(
                state.list_host_catalogs(parent_id, recursive)?,
                Item::HostCatalog,
            ),
            KindId::HostSet => wrap(state.list_host_sets(parent_id)?, Item::HostSet),
            KindId::Host => wrap(state.list_hosts(parent_id)?, Item::Host),
            KindId::Target => wrap(state.list_targets(parent_id, recursive)?, Item::Target),
        })
    }

    async fn create(&self, new: NewItem) -> Result<Item> {
        let now = self.now();
        let mut state = self.lock();
        Ok(match new {
            NewItem::Scope(new) => Item::Scope(state.create_scope(None, new, now)?),
            NewItem::AuthMethod(new) => Item::AuthMethod(state.create_auth_method(None, new, now)?),
            NewItem::User(new) => Item::User(state.create_user(None, new, now)?),
            NewItem::Account(new) => Item::Account(state.create_account(None, new, now)?),
            NewItem::HostCatalog(new) => {
                Item::HostCatalog(state.create_host_catalog(None, new, now)?)
            }
            NewItem::HostSet(new) => Item::HostSet(state.create_host_set(None, new, now)?),
            NewItem::Host(new) => Item::Host(state.create_host(None, new, now)?),
            NewItem::Target(new) => Item::Target(state.create_target(None, new, now)?),
        })
    }

    async fn update(&self, id: &str, version: u32, patch: ItemPatch) -> Result<Item> {
        let now = self.now();
        let mut state = self.lock();
        Ok(match patch {
            ItemPatch::Scope(p) => Item::Scope(state.update_scope(id, version, p, now)?),
            ItemPatch::AuthMethod(p) => {
                Item::AuthMethod(state.update_auth_method(id, version, p, now)?)
            }
            ItemPatch::User(p) => Item::User(state.update_user(id, version, p, now)?),
            ItemPatch::Account(p) => Item::Account(state.update_account(id, version, p, now)?),
            ItemPatch::HostCatalog(p) => {
                Item::HostCatalog(state.update_host_catalog(id, version, p, now)?)
            }
            ItemPatch::HostSet(p) => Item::HostSet(state.update_host_set(id, version, p, now)?),
            ItemPatch::Host(p) => Item::Host(state.update_host(id, version, p, now)?),
            ItemPatch::Target(p) => Item::Target(state.update_target(id, version, p, now)?),
        })
    }

    async fn delete(&self, kind: KindId, id: &str) -> Result<()> {
        let mut state = self.lock();
        match kind {
            KindId::Scope => state.delete_scope(id),
            KindId::AuthMethod => state.delete_auth_method(id),
            KindId::User => state.delete_user(id),
            KindId::Account => state.delete_account(id),
            KindId::HostCatalog => state.delete_host_catalog(id),
            KindId::HostSet => state.delete_host_set(id),
            KindId::Host => state.delete_host(id),
            KindId::Target => state.delete_target(id),
        }
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
        let mut state = self.lock();
        Ok(match kind {
            KindId::User => {
                Item::User(state.change_user_accounts(id, version, member_ids, change, now)?)
            }
            KindId::HostSet => {
                Item::HostSet(state.change_host_set_hosts(id, version, member_ids, change, now)?)
            }
            KindId::Target => Item::Target(
                state.change_target_host_sources(id, version, member_ids, change, now)?,
            ),
            other => {
                return Err(ResourceError::invalid(
                    "action",
                    format!("a {} has no members", other.name()),
                ))
            }
        })
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
        let now = self.now();
        self.lock()
            .authenticate(auth_method_id, login_name, password, now)
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

fn wrap<T>(items: Vec<T>, tag: fn(T) -> Item) -> Vec<Item> {
    items.into_iter().map(tag).collect()
}
