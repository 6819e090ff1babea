//! The memory store's state and what every kind shares: records, fresh ids, version checks,
//! unique names, and the cascades that keep references consistent when something is deleted.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::super::ids::new_id;
use super::super::model::{
    AuthMethod, AuthToken, Host, HostCatalog, HostSet, Scope, ScopeInfo, Target, User,
};
use super::super::secret::{PasswordDigest, TokenDigest};
use super::super::{Account, ResourceError};

/// Fresh ids tried before giving up; 62^10 ids make a second attempt already unlikely.
const ID_ATTEMPTS: usize = 4;

#[derive(Debug, Clone)]
pub(super) struct UserRecord {
    pub user: User,
    pub admin: bool,
}

#[derive(Debug, Clone)]
pub(super) struct AccountRecord {
    pub account: Account,
    pub password: PasswordDigest,
}

#[derive(Debug, Clone)]
pub(super) struct TokenRecord {
    pub token: AuthToken,
    pub secret: TokenDigest,
}

/// Everything, keyed by id. Items are stored as the API shows them; the derived fields
/// (`scope`, a host's `host_set_ids`, a user's login) are filled in when read.
#[derive(Debug, Default)]
pub(super) struct State {
    pub scopes: BTreeMap<String, Scope>,
    pub auth_methods: BTreeMap<String, AuthMethod>,
    pub users: BTreeMap<String, UserRecord>,
    pub accounts: BTreeMap<String, AccountRecord>,
    pub tokens: BTreeMap<String, TokenRecord>,
    pub host_catalogs: BTreeMap<String, HostCatalog>,
    pub host_sets: BTreeMap<String, HostSet>,
    pub hosts: BTreeMap<String, Host>,
    pub targets: BTreeMap<String, Target>,
}

/// What an update needs of every kind of item.
pub(super) trait Versioned {
    fn id(&self) -> &str;
    fn version(&self) -> u32;
    /// Records a change: bumps the version, stamps the time.
    fn touch(&mut self, now: DateTime<Utc>);
}

macro_rules! versioned {
    ($($kind:ty),*) => {$(
        impl Versioned for $kind {
            fn id(&self) -> &str {
                &self.id
            }
            fn version(&self) -> u32 {
                self.version
            }
            fn touch(&mut self, now: DateTime<Utc>) {
                self.version = self.version.saturating_add(1);
                self.updated_time = now;
            }
        }
    )*};
}

versioned!(
    Scope,
    AuthMethod,
    User,
    Account,
    HostCatalog,
    HostSet,
    Host,
    Target
);

/// Refuses an update made from a stale read.
pub(super) fn check_version(item: &impl Versioned, expected: u32) -> Result<(), ResourceError> {
    if item.version() != expected {
        return Err(ResourceError::StaleVersion {
            id: item.id().to_owned(),
            expected,
            current: item.version(),
        });
    }
    Ok(())
}

/// Refuses a non-empty `name` that one of `others` (the parent's other items) already uses.
pub(super) fn unique_name<'a>(
    kind: &str,
    name: &str,
    parent_id: &str,
    mut others: impl Iterator<Item = &'a str>,
) -> Result<(), ResourceError> {
    if !name.is_empty() && others.any(|other| other == name) {
        return Err(ResourceError::Conflict(format!(
            "a {kind} named {name:?} already exists in {parent_id}"
        )));
    }
    Ok(())
}

/// Applies an optional new value.
pub(super) fn patch(field: &mut String, value: Option<String>) {
    if let Some(value) = value {
        *field = value;
    }
}

/// Ids in `requested`, once each, in order.
pub(super) fn dedup(requested: &[String]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::with_capacity(requested.len());
    for id in requested {
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    ids
}

/// `current` after an add, set or remove of `requested` (already deduplicated). Removing an
/// id that is not there is refused, naming `field`.
pub(super) fn membership(
    current: &[String],
    requested: Vec<String>,
    change: Change,
    field: &str,
) -> Result<Vec<String>, ResourceError> {
    match change {
        Change::Set => Ok(requested),
        Change::Add => {
            let mut ids = current.to_vec();
            ids.extend(requested.into_iter().filter(|id| !current.contains(id)));
            Ok(ids)
        }
        Change::Remove => {
            if let Some(missing) = requested.iter().find(|id| !current.contains(id)) {
                return Err(ResourceError::invalid(
                    field,
                    format!("{missing} is not a member"),
                ));
            }
            Ok(current
                .iter()
                .filter(|id| !requested.contains(id))
                .cloned()
                .collect())
        }
    }
}

pub(super) use crate::resources::Change;

impl State {
    /// A fresh id with `prefix` that no item of `map` has.
    pub fn unused_id<V>(map: &BTreeMap<String, V>, prefix: &str) -> Result<String, ResourceError> {
        (0..ID_ATTEMPTS)
            .map(|_| new_id(prefix))
            .find(|id| !map.contains_key(id))
            .ok_or_else(|| ResourceError::Conflict(format!("could not find an unused {prefix} id")))
    }

    /// The scope as embedded in items that live in it.
    pub fn scope_info(&self, id: &str) -> ScopeInfo {
        match self.scopes.get(id) {
            Some(scope) => ScopeInfo {
                id: scope.id.clone(),
                scope_type: scope.scope_type.clone(),
                name: scope.name.clone(),
                description: scope.description.clone(),
                parent_scope_id: scope.scope_id.clone(),
            },
            // Cascading deletes keep every item's scope alive; show the bare id regardless.
            None => ScopeInfo {
                id: id.to_owned(),
                ..ScopeInfo::default()
            },
        }
    }

    pub fn existing_scope(&self, id: &str) -> Result<&Scope, ResourceError> {
        self.scopes
            .get(id)
            .ok_or_else(|| ResourceError::not_found("scope", id))
    }

    /// The scope where users and auth methods live: global or an org.
    pub fn iam_scope(&self, id: &str, kind: &str) -> Result<&Scope, ResourceError> {
        let scope = self.existing_scope(id)?;
        if scope.scope_type == "project" {
            return Err(ResourceError::invalid(
                "scope_id",
                format!("{kind}s are created in the global scope or an org, not in a project"),
            ));
        }
        Ok(scope)
    }

    /// The scope where targets and host catalogs live: a project.
    pub fn project_scope(&self, id: &str, kind: &str) -> Result<&Scope, ResourceError> {
        let scope = self.existing_scope(id)?;
        if scope.scope_type != "project" {
            return Err(ResourceError::invalid(
                "scope_id",
                format!("{kind}s are created in a project scope, and {id} is not one"),
            ));
        }
        Ok(scope)
    }

    // Cascades: each removes an item and every reference to it.

    pub fn remove_scope(&mut self, id: &str) {
        let children: Vec<String> = self
            .scopes
            .values()
            .filter(|scope| scope.scope_id == id)
            .map(|scope| scope.id.clone())
            .collect();
        for child in children {
            self.remove_scope(&child);
        }
        let in_scope = |scope_id: &str| scope_id == id;
        for method in ids_where(&self.auth_methods, |m| in_scope(&m.scope_id)) {
            self.remove_auth_method(&method);
        }
        for user in ids_where(&self.users, |u| in_scope(&u.user.scope_id)) {
            self.remove_user(&user);
        }
        for catalog in ids_where(&self.host_catalogs, |c| in_scope(&c.scope_id)) {
            self.remove_host_catalog(&catalog);
        }
        self.targets.retain(|_, target| target.scope_id != id);
        self.scopes.remove(id);
    }

    pub fn remove_auth_method(&mut self, id: &str) {
        for account in ids_where(&self.accounts, |a| a.account.auth_method_id == id) {
            self.remove_account(&account);
        }
        self.tokens.retain(|_, t| t.token.auth_method_id != id);
        self.auth_methods.remove(id);
    }

    pub fn remove_account(&mut self, id: &str) {
        for record in self.users.values_mut() {
            record.user.account_ids.retain(|account| account != id);
        }
        self.tokens.retain(|_, t| t.token.account_id != id);
        self.accounts.remove(id);
    }

    pub fn remove_user(&mut self, id: &str) {
        self.tokens.retain(|_, t| t.token.user_id != id);
        self.users.remove(id);
    }

    pub fn remove_host_catalog(&mut self, id: &str) {
        for set in ids_where(&self.host_sets, |s| s.host_catalog_id == id) {
            self.remove_host_set(&set);
        }
        self.hosts.retain(|_, host| host.host_catalog_id != id);
        self.host_catalogs.remove(id);
    }

    pub fn remove_host_set(&mut self, id: &str) {
        for target in self.targets.values_mut() {
            target.host_source_ids.retain(|set| set != id);
        }
        self.host_sets.remove(id);
    }

    pub fn remove_host(&mut self, id: &str) {
        for set in self.host_sets.values_mut() {
            set.host_ids.retain(|host| host != id);
        }
        self.hosts.remove(id);
    }
}

fn ids_where<V>(map: &BTreeMap<String, V>, keep: impl Fn(&V) -> bool) -> Vec<String> {
    map.iter()
        .filter(|(_, value)| keep(value))
        .map(|(id, _)| id.clone())
        .collect()
}
