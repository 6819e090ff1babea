//! [`Directory`] for [`MemoryDirectory`]: lock, read the clock, delegate to `State`.

use super::super::input::{
    AccountPatch, AuthMethodPatch, HostCatalogPatch, HostPatch, HostSetPatch, NewAccount,
    NewAuthMethod, NewHost, NewHostCatalog, NewHostSet, NewTarget, NewUser, TargetPatch, UserPatch,
};
use super::super::model::{
    Account, AuthMethod, AuthToken, Host, HostCatalog, HostSet, Scope, SessionPlan, Target, User,
};
use super::super::{Directory, Principal, ResourceError};
use super::state::Change;
use super::MemoryDirectory;

type Result<T> = std::result::Result<T, ResourceError>;

impl Directory for MemoryDirectory {
    fn authenticate(
        &self,
        auth_method_id: &str,
        login_name: &str,
        password: &str,
    ) -> Result<AuthToken> {
        let now = self.now();
        self.lock()
            .authenticate(auth_method_id, login_name, password, now)
    }

    fn principal(&self, bearer_token: &str) -> Result<Principal> {
        let now = self.now();
        self.lock().principal(bearer_token, now)
    }

    fn logout(&self, auth_token_id: &str) -> Result<()> {
        self.lock().logout(auth_token_id)
    }

    fn scope(&self, id: &str) -> Result<Scope> {
        self.lock().scope(id)
    }

    fn list_scopes(&self, parent_id: &str, recursive: bool) -> Result<Vec<Scope>> {
        self.lock().list_scopes(parent_id, recursive)
    }

    fn create_scope(&self, parent_id: &str, name: &str, description: &str) -> Result<Scope> {
        let now = self.now();
        self.lock()
            .create_scope(None, parent_id, name, description, now)
    }

    fn update_scope(
        &self,
        id: &str,
        version: u32,
        name: Option<String>,
        description: Option<String>,
    ) -> Result<Scope> {
        let now = self.now();
        self.lock()
            .update_scope(id, version, name, description, now)
    }

    fn delete_scope(&self, id: &str) -> Result<()> {
        self.lock().delete_scope(id)
    }

    fn scope_tree(&self, scope_id: &str, recursive: bool) -> Result<Vec<String>> {
        self.lock().scope_tree(scope_id, recursive)
    }

    fn auth_method(&self, id: &str) -> Result<AuthMethod> {
        self.lock().auth_method(id)
    }

    fn list_auth_methods(&self, scope_id: &str, recursive: bool) -> Result<Vec<AuthMethod>> {
        self.lock().list_auth_methods(scope_id, recursive)
    }

    fn create_auth_method(&self, new: NewAuthMethod) -> Result<AuthMethod> {
        let now = self.now();
        self.lock().create_auth_method(None, new, now)
    }

    fn update_auth_method(
        &self,
        id: &str,
        version: u32,
        patch: AuthMethodPatch,
    ) -> Result<AuthMethod> {
        let now = self.now();
        self.lock().update_auth_method(id, version, patch, now)
    }

    fn delete_auth_method(&self, id: &str) -> Result<()> {
        self.lock().delete_auth_method(id)
    }

    fn user(&self, id: &str) -> Result<User> {
        self.lock().user(id)
    }

    fn list_users(&self, scope_id: &str, recursive: bool) -> Result<Vec<User>> {
        self.lock().list_users(scope_id, recursive)
    }

    fn create_user(&self, new: NewUser) -> Result<User> {
        let now = self.now();
        self.lock().create_user(None, new, now)
    }

    fn update_user(&self, id: &str, version: u32, patch: UserPatch) -> Result<User> {
        let now = self.now();
        self.lock().update_user(id, version, patch, now)
    }

    fn delete_user(&self, id: &str) -> Result<()> {
        self.lock().delete_user(id)
    }

    fn change_user_accounts(
        &self,
        id: &str,
        version: u32,
        change: Change,
        account_ids: &[String],
    ) -> Result<User> {
        let now = self.now();
        self.lock()
            .change_user_accounts(id, version, account_ids, change, now)
    }

    fn account(&self, id: &str) -> Result<Account> {
        self.lock().account(id)
    }

    /// The parent is not a scope, so `recursive` changes nothing.
    fn list_accounts(&self, auth_method_id: &str, _recursive: bool) -> Result<Vec<Account>> {
        self.lock().list_accounts(auth_method_id)
    }

    fn create_account(&self, new: NewAccount) -> Result<Account> {
        let now = self.now();
        self.lock().create_account(None, new, now)
    }

    fn update_account(&self, id: &str, version: u32, patch: AccountPatch) -> Result<Account> {
        let now = self.now();
        self.lock().update_account(id, version, patch, now)
    }

    fn delete_account(&self, id: &str) -> Result<()> {
        self.lock().delete_account(id)
    }

    fn host_catalog(&self, id: &str) -> Result<HostCatalog> {
        self.lock().host_catalog(id)
    }

    fn list_host_catalogs(&self, scope_id: &str, recursive: bool) -> Result<Vec<HostCatalog>> {
        self.lock().list_host_catalogs(scope_id, recursive)
    }

    fn create_host_catalog(&self, new: NewHostCatalog) -> Result<HostCatalog> {
        let now = self.now();
        self.lock().create_host_catalog(None, new, now)
    }

    fn update_host_catalog(
        &self,
        id: &str,
        version: u32,
        patch: HostCatalogPatch,
    ) -> Result<HostCatalog> {
        let now = self.now();
        self.lock().update_host_catalog(id, version, patch, now)
    }

    fn delete_host_catalog(&self, id: &str) -> Result<()> {
        self.lock().delete_host_catalog(id)
    }

    fn host_set(&self, id: &str) -> Result<HostSet> {
        self.lock().host_set(id)
    }

    /// The parent is not a scope, so `recursive` changes nothing.
    fn list_host_sets(&self, host_catalog_id: &str, _recursive: bool) -> Result<Vec<HostSet>> {
        self.lock().list_host_sets(host_catalog_id)
    }

    fn create_host_set(&self, new: NewHostSet) -> Result<HostSet> {
        let now = self.now();
        self.lock().create_host_set(None, new, now)
    }

    fn update_host_set(&self, id: &str, version: u32, patch: HostSetPatch) -> Result<HostSet> {
        let now = self.now();
        self.lock().update_host_set(id, version, patch, now)
    }

    fn delete_host_set(&self, id: &str) -> Result<()> {
        self.lock().delete_host_set(id)
    }

    fn change_host_set_hosts(
        &self,
        id: &str,
        version: u32,
        change: Change,
        host_ids: &[String],
    ) -> Result<HostSet> {
        let now = self.now();
        self.lock()
            .change_host_set_hosts(id, version, host_ids, change, now)
    }

    fn host(&self, id: &str) -> Result<Host> {
        self.lock().host(id)
    }

    /// The parent is not a scope, so `recursive` changes nothing.
    fn list_hosts(&self, host_catalog_id: &str, _recursive: bool) -> Result<Vec<Host>> {
        self.lock().list_hosts(host_catalog_id)
    }

    fn create_host(&self, new: NewHost) -> Result<Host> {
        let now = self.now();
        self.lock().create_host(None, new, now)
    }

    fn update_host(&self, id: &str, version: u32, patch: HostPatch) -> Result<Host> {
        let now = self.now();
        self.lock().update_host(id, version, patch, now)
    }

    fn delete_host(&self, id: &str) -> Result<()> {
        self.lock().delete_host(id)
    }

    fn target(&self, id: &str) -> Result<Target> {
        self.lock().target(id)
    }

    fn list_targets(&self, scope_id: &str, recursive: bool) -> Result<Vec<Target>> {
        self.lock().list_targets(scope_id, recursive)
    }

    fn create_target(&self, new: NewTarget) -> Result<Target> {
        let now = self.now();
        self.lock().create_target(None, new, now)
    }

    fn update_target(&self, id: &str, version: u32, patch: TargetPatch) -> Result<Target> {
        let now = self.now();
        self.lock().update_target(id, version, patch, now)
    }

    fn delete_target(&self, id: &str) -> Result<()> {
        self.lock().delete_target(id)
    }

    fn change_target_host_sources(
        &self,
        id: &str,
        version: u32,
        change: Change,
        host_source_ids: &[String],
    ) -> Result<Target> {
        let now = self.now();
        self.lock()
            .change_target_host_sources(id, version, host_source_ids, change, now)
    }

    fn plan_session(&self, target_id: &str, host_id: Option<&str>) -> Result<SessionPlan> {
        self.lock().plan_session(target_id, host_id)
    }
}
