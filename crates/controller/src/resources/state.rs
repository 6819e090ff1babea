//! [`ResourceState`]: every item, one table per kind, the secrets kept beside them, and
//! every rule between items, written once for all kinds from their data ([`KindId`]): where
//! an item may live, unique names, versions, members, and the cascades that keep references
//! consistent when something is deleted. Every backend ([`ResourceRecords`](super::ResourceRecords))
//! holds one, and every change is made to it by these rules.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::build::{Build, Stamp};
use super::ids::new_id;
use super::kind::{
    scope_prefix, with_kind, Item, ItemPatch, Kind, KindId, MemberOf, NewItem, Parent,
};
use super::roles::{check_grant_scope_set, held_by, member_key, AclCache, ParsedGrants};
use super::secret::PasswordDigest;
use super::{Account, AuthMethod, HostSet, Scope, ScopeInfo, User, GLOBAL_SCOPE_ID};
use super::{Change, ResourceError};

/// Fresh ids tried before giving up; 62^10 ids make a second attempt already unlikely.
pub(crate) const ID_ATTEMPTS: usize = 4;

/// Everything, keyed by kind and id. Items are stored as the API shows them; the derived
/// fields (`scope`, a host's `host_set_ids`, a user's login, a scope's primary auth method)
/// are filled in when read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ResourceState {
    items: BTreeMap<KindId, BTreeMap<String, Item>>,
    /// Password digests by account id.
    passwords: BTreeMap<String, PasswordDigest>,
    /// The users who held every grant before roles existed (read from old stores, turned
    /// into a role by [`ResourceState::upgrade_admins`]).
    admins: BTreeSet<String>,
    /// Each caller's compiled grants; emptied by every change.
    pub(super) acls: AclCache,
    /// Grants parsed from their text, shared by every state that follows.
    pub(super) parsed: ParsedGrants,
}

/// One item as a backend stores it: the item without its derived fields, and the secrets
/// kept beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredItem {
    pub item: Item,
    /// An account's password digest.
    pub password: Option<PasswordDigest>,
    /// A user who held every grant before roles existed.
    pub admin: bool,
}

impl ResourceState {
    /// A state holding `items`, as a backend stored them.
    pub fn from_stored(items: impl IntoIterator<Item = StoredItem>) -> Self {
        let mut state = Self::default();
        for stored in items {
            state.put(stored);
        }
        state
    }

    /// Every item as a backend stores it.
    pub fn stored(&self) -> impl Iterator<Item = StoredItem> + '_ {
        self.items
            .values()
            .flat_map(BTreeMap::values)
            .map(|item| self.stored_item(item))
    }

    /// The item with id `id`, as stored (`None` when there is none).
    pub fn stored_by_id(&self, id: &str) -> Option<StoredItem> {
        let item = self.items.values().find_map(|table| table.get(id))?;
        Some(self.stored_item(item))
    }

    fn stored_item(&self, item: &Item) -> StoredItem {
        StoredItem {
            item: item.clone(),
            password: self.passwords.get(item.id()).cloned(),
            admin: self.admins.contains(item.id()),
        }
    }

    fn put(&mut self, stored: StoredItem) {
        let id = stored.item.id().to_owned();
        if let Some(password) = stored.password {
            self.passwords.insert(id.clone(), password);
        }
        if stored.admin {
            self.admins.insert(id);
        }
        self.insert(stored.item);
    }

    /// The ids whose stored item differs between `self` and `after`: (changed or new,
    /// deleted).
    pub fn changes(&self, after: &ResourceState) -> (Vec<StoredItem>, Vec<String>) {
        let mut written = Vec::new();
        let mut deleted = Vec::new();
        for (kind, table) in &after.items {
            for (id, item) in table {
                let before = self.items.get(kind).and_then(|t| t.get(id));
                // Compared in place: only what changed is copied out.
                let same = before == Some(item)
                    && self.passwords.get(id) == after.passwords.get(id)
                    && self.admins.contains(id) == after.admins.contains(id);
                if !same {
                    written.push(after.stored_item(item));
                }
            }
        }
        for (kind, table) in &self.items {
            for id in table.keys() {
                if !after.items.get(kind).is_some_and(|t| t.contains_key(id)) {
                    deleted.push(id.clone());
                }
            }
        }
        (written, deleted)
    }

    /// Whether the global scope is there (every store starts by making it).
    pub fn has_global(&self) -> bool {
        self.existing(KindId::Scope, GLOBAL_SCOPE_ID).is_ok()
    }

    /// Adds the global scope.
    pub fn add_global(&mut self, now: DateTime<Utc>) {
        let global = Scope {
            name: "global".into(),
            description: "Global Scope".into(),
            scope_type: "global".into(),
            ..Scope::stamped(GLOBAL_SCOPE_ID.into(), now)
        };
        self.insert(global.into_item());
    }

    /// The account's password digest.
    pub fn password(&self, account_id: &str) -> Option<&PasswordDigest> {
        self.passwords.get(account_id)
    }

    /// Stores a new digest of an account's password.
    pub fn set_password(&mut self, account_id: &str, digest: PasswordDigest) {
        self.passwords.insert(account_id.to_owned(), digest);
    }

    /// Whether a store made before roles existed marked users as holding every grant.
    pub fn has_legacy_admins(&self) -> bool {
        !self.admins.is_empty()
    }

    /// The users marked as holding every grant by a store made before roles existed; the
    /// marks are dropped (the caller gives them a role).
    pub fn take_legacy_admins(&mut self) -> Vec<String> {
        let admins = std::mem::take(&mut self.admins);
        self.acls = AclCache::default();
        admins.into_iter().collect()
    }

    /// How many items of `kind` there are.
    pub fn count(&self, kind: KindId) -> usize {
        self.items.get(&kind).map_or(0, BTreeMap::len)
    }

    fn insert(&mut self, item: Item) {
        self.acls = AclCache::default();
        let table = self.items.entry(item.kind()).or_default();
        table.insert(item.id().to_owned(), item);
    }

    fn table(&self, kind: KindId) -> impl Iterator<Item = &Item> {
        self.items.get(&kind).into_iter().flat_map(BTreeMap::values)
    }

    /// Every item of kind `K`.
    pub fn all<K: Kind>(&self) -> impl Iterator<Item = &K> {
        self.table(K::KIND).filter_map(K::as_kind)
    }

    fn existing(&self, kind: KindId, id: &str) -> Result<&Item, ResourceError> {
        self.items
            .get(&kind)
            .and_then(|table| table.get(id))
            .ok_or_else(|| ResourceError::not_found(kind.name(), id))
    }

    pub fn existing_as<K: Kind>(&self, id: &str) -> Result<&K, ResourceError> {
        let item = self.existing(K::KIND, id)?;
        K::as_kind(item).ok_or_else(|| ResourceError::not_found(K::KIND.name(), id))
    }

    // Reading.

    pub fn get(&self, kind: KindId, id: &str) -> Result<Item, ResourceError> {
        Ok(self.view(self.existing(kind, id)?.clone()))
    }

    /// The item with what other items decide filled in: the scope it is in, and a few
    /// cross-references.
    fn view(&self, mut item: Item) -> Item {
        // Global sits in itself, as Boundary shows it.
        let scope_id = match self.scope_of(&item) {
            none if none.is_empty() => item.id().to_owned(),
            scope_id => scope_id,
        };
        item.set_scope(self.scope_info(&scope_id));
        match &mut item {
            Item::Scope(view) => {
                view.primary_auth_method_id = self
                    .all::<AuthMethod>()
                    .find(|method| method.scope_id == view.id && method.is_primary)
                    .map(|method| method.id.clone())
                    .unwrap_or_default();
            }
            Item::User(view) => {
                let primary = view.account_ids.first();
                if let Some(primary) = primary.and_then(|id| self.existing_as::<Account>(id).ok()) {
                    view.primary_account_id = primary.id.clone();
                    view.login_name = primary.attributes.login_name.clone();
                }
            }
            Item::Role(view) => self.fill_role(view),
            Item::Group(view) => self.fill_group(view),
            Item::Host(view) => {
                view.host_set_ids = self
                    .all::<HostSet>()
                    .filter(|set| set.host_ids.contains(&view.id))
                    .map(|set| set.id.clone())
                    .collect();
            }
            _ => {}
        }
        item
    }

    /// The scope an item is in: its parent, or its parent's scope.
    fn scope_of(&self, item: &Item) -> String {
        match item.kind().parent() {
            Parent::Scope => item.parent_id().to_owned(),
            Parent::Item(kind) => self
                .existing(kind, item.parent_id())
                .map(|parent| self.scope_of(parent))
                .unwrap_or_default(),
        }
    }

    /// The scope as embedded in items that live in it.
    pub fn scope_info(&self, id: &str) -> ScopeInfo {
        match self.existing_as::<Scope>(id) {
            Ok(scope) => ScopeInfo {
                id: scope.id.clone(),
                scope_type: scope.scope_type.clone(),
                name: scope.name.clone(),
                description: scope.description.clone(),
                parent_scope_id: scope.scope_id.clone(),
            },
            // Cascading deletes keep every item's scope alive; show the bare id regardless.
            Err(_) => ScopeInfo {
                id: id.to_owned(),
                ..ScopeInfo::default()
            },
        }
    }

    pub fn list(
        &self,
        kind: KindId,
        parent_id: &str,
        recursive: bool,
    ) -> Result<Vec<Item>, ResourceError> {
        let keep: Box<dyn Fn(&Item) -> bool> = match kind.parent() {
            Parent::Scope => {
                let tree = self.scope_tree(parent_id, recursive)?;
                if kind == KindId::Scope && recursive {
                    Box::new(move |item| {
                        item.id() != parent_id && tree.iter().any(|s| s == item.id())
                    })
                } else if kind == KindId::Scope {
                    Box::new(|item| item.parent_id() == parent_id)
                } else {
                    Box::new(move |item| tree.iter().any(|s| s == item.parent_id()))
                }
            }
            // Under an item, not a scope: `recursive` changes nothing.
            Parent::Item(parent) => {
                self.existing(parent, parent_id)?;
                Box::new(|item| item.parent_id() == parent_id)
            }
        };
        let found = self.table(kind).filter(|item| keep(item));
        Ok(found.map(|item| self.view(item.clone())).collect())
    }

    /// Scope ids under `scope_id` (itself included) when recursive, else just itself.
    pub fn scope_tree(
        &self,
        scope_id: &str,
        recursive: bool,
    ) -> Result<Vec<String>, ResourceError> {
        self.existing(KindId::Scope, scope_id)?;
        let mut tree = vec![scope_id.to_owned()];
        if recursive {
            // Breadth first: each round adds the children of the scopes found so far.
            let mut next = 0;
            while next < tree.len() {
                let parent = tree[next].clone();
                let children = self
                    .table(KindId::Scope)
                    .filter(|s| s.parent_id() == parent);
                tree.extend(children.map(|scope| scope.id().to_owned()));
                next += 1;
            }
        }
        Ok(tree)
    }

    // Changing.

    /// A new item; `id` fixes its id (the dev seed's well-known ids), else a fresh one.
    pub fn create(
        &mut self,
        id: Option<&str>,
        new: NewItem,
        now: DateTime<Utc>,
    ) -> Result<Item, ResourceError> {
        let password = match &new {
            NewItem::Account(account) => Some(account.password.clone()),
            _ => None,
        };
        let item = with_kind!(new.kind(), K => {
            let new = K::take_new(new).ok_or_else(|| mismatch(K::KIND))?;
            self.create_as::<K>(id, new, now)?
        });
        if let Some(password) = password {
            let digest = PasswordDigest::new(&password);
            self.passwords.insert(item.id().to_owned(), digest);
        }
        Ok(self.view(item))
    }

    fn create_as<K: Build>(
        &mut self,
        id: Option<&str>,
        new: K::New,
        now: DateTime<Utc>,
    ) -> Result<Item, ResourceError> {
        let kind = K::KIND;
        let parent_id = K::new_parent_id(&new).to_owned();
        let scope_type = self.check_parent(kind, &parent_id)?;
        let prefix = match scope_type {
            Some((_, prefix)) => prefix,
            None => kind.prefix(),
        };
        let id = match id {
            Some(id) => id.to_owned(),
            None => self.unused_id(kind, prefix)?,
        };
        let mut item = K::build(new, Stamp { id, now })?.into_item();
        match &mut item {
            Item::Scope(scope) => {
                scope.scope_type = scope_type.map(|(t, _)| t).unwrap_or_default().into();
            }
            // The first auth method of a scope becomes its primary one.
            Item::AuthMethod(method) => {
                method.is_primary = !self
                    .all::<AuthMethod>()
                    .any(|m| m.scope_id == method.scope_id);
            }
            _ => {}
        }
        self.check_unique(&item)?;
        self.insert(item.clone());
        Ok(item)
    }

    /// Refuses a parent that does not exist or cannot hold this kind; for a scope, the new
    /// scope's type and id prefix.
    fn check_parent(
        &self,
        kind: KindId,
        parent_id: &str,
    ) -> Result<Option<(&'static str, &'static str)>, ResourceError> {
        let parent = match kind.parent() {
            Parent::Item(parent) => {
                self.existing(parent, parent_id)?;
                return Ok(None);
            }
            Parent::Scope => self.existing_as::<Scope>(parent_id)?,
        };
        let allowed = kind.scope_types();
        if !allowed.contains(&parent.scope_type.as_str()) {
            let message = format!(
                "a {} cannot be created in {} {parent_id}, only in {}",
                kind.name(),
                parent.scope_type,
                allowed.join(" or ")
            );
            return Err(ResourceError::invalid("scope_id", message));
        }
        Ok(match kind {
            KindId::Scope => scope_prefix(&parent.scope_type),
            _ => None,
        })
    }

    fn unused_id(&self, kind: KindId, prefix: &str) -> Result<String, ResourceError> {
        fresh_id(prefix, |id| self.existing(kind, id).is_ok())
    }

    /// Names are unique among the items of a kind in one parent; login names within an auth
    /// method.
    fn check_unique(&self, item: &Item) -> Result<(), ResourceError> {
        let kind = item.kind();
        let others = || {
            self.table(kind)
                .filter(|other| other.parent_id() == item.parent_id() && other.id() != item.id())
        };
        let name = item.name();
        if !name.is_empty() && others().any(|other| other.name() == name) {
            return Err(ResourceError::Conflict(format!(
                "a {} named {name:?} already exists in {}",
                kind.name(),
                item.parent_id()
            )));
        }
        if let Item::Account(account) = item {
            let login = &account.attributes.login_name;
            let taken = others().any(
                |other| matches!(other, Item::Account(o) if o.attributes.login_name == *login),
            );
            if taken {
                return Err(ResourceError::Conflict(format!(
                    "login name {login:?} is already used in {}",
                    account.auth_method_id
                )));
            }
        }
        Ok(())
    }

    pub fn update(
        &mut self,
        id: &str,
        version: u32,
        patch: ItemPatch,
        now: DateTime<Utc>,
    ) -> Result<Item, ResourceError> {
        check_version(self.existing(patch.kind(), id)?, version)?;
        let item = with_kind!(patch.kind(), K => {
            let patch = K::take_patch(patch).ok_or_else(|| mismatch(K::KIND))?;
            let mut item: K = self.existing_as::<K>(id)?.clone();
            item.apply(patch)?;
            item.touch(now);
            item.into_item()
        });
        self.check_unique(&item)?;
        self.insert(item.clone());
        Ok(self.view(item))
    }

    pub fn delete(&mut self, kind: KindId, id: &str) -> Result<(), ResourceError> {
        self.existing(kind, id)?;
        if kind == KindId::Scope && id == GLOBAL_SCOPE_ID {
            return Err(ResourceError::invalid(
                "id",
                "the global scope cannot be deleted",
            ));
        }
        self.remove(kind, id);
        Ok(())
    }

    /// Removes an item and every reference to it: what lives in it (a scope's sub-scopes and
    /// items, an auth method's accounts, a catalog's hosts and sets), its place in member
    /// lists, and its secrets. (Auth tokens issued through it are the backend's: they resolve
    /// to nothing once it is gone.)
    fn remove(&mut self, kind: KindId, id: &str) {
        for &child in KindId::ALL {
            let lives_here = match child.parent() {
                Parent::Scope => kind == KindId::Scope,
                Parent::Item(parent) => parent == kind,
            };
            if !lives_here {
                continue;
            }
            let ids: Vec<String> = self
                .table(child)
                .filter(|item| item.parent_id() == id)
                .map(|item| item.id().to_owned())
                .collect();
            for child_id in ids {
                self.remove(child, &child_id);
            }
        }
        for &holder in KindId::ALL {
            for members in held_by(holder, kind) {
                let table = self.items.entry(holder).or_default();
                for item in table.values_mut() {
                    if let Some(members) = item.members_mut(members.field) {
                        members.retain(|member| member != id);
                    }
                }
            }
        }
        self.acls = AclCache::default();
        self.passwords.remove(id);
        self.admins.remove(id);
        if let Some(table) = self.items.get_mut(&kind) {
            table.remove(id);
        }
    }

    /// Adds, replaces or removes the members in `field` ([`Members::field`]). A member
    /// must exist and live where its holder does (a host in the set's catalog; a host set in
    /// the target's project; an account in an auth method of the user's scope, and with no
    /// other user); a role's and a group's lists follow their own rules (`roles`).
    #[allow(clippy::too_many_arguments)] // one value per part of the request
    pub fn change_members(
        &mut self,
        kind: KindId,
        id: &str,
        version: u32,
        change: Change,
        field: &str,
        member_ids: &[String],
        now: DateTime<Utc>,
    ) -> Result<Item, ResourceError> {
        let Some(members) = kind.members().iter().copied().find(|m| m.field == field) else {
            return Err(ResourceError::invalid(
                "action",
                format!("a {} has no {field}", kind.name()),
            ));
        };
        let mut item = self.existing(kind, id)?.clone();
        check_version(&item, version)?;
        let removing = change == Change::Remove;
        let requested = self.check_special_members(&item, members, dedup(member_ids), removing)?;
        if let MemberOf::Kind(member_kind) = members.of {
            if !removing {
                for member_id in &requested {
                    self.check_member(&item, member_kind, member_id, field)?;
                }
            }
        }
        let Some(current) = item.members_mut(field) else {
            return Err(ResourceError::Store(format!(
                "a {} holds no {field}",
                kind.name()
            )));
        };
        let key = |id: &str| member_key(members, id);
        *current = membership(current, dedup(&requested), change, field, key)?;
        if let Item::Role(role) = &mut item {
            role.grant_scope_ids.sort();
            check_grant_scope_set(self, &role.scope_id, &role.grant_scope_ids, field)?;
        }
        item.touch(now);
        self.insert(item.clone());
        Ok(self.view(item))
    }

    fn check_member(
        &self,
        holder: &Item,
        member_kind: KindId,
        member_id: &str,
        field: &str,
    ) -> Result<(), ResourceError> {
        if let Item::Target(target) = holder {
            if target.address.is_some() {
                return Err(ResourceError::invalid(
                    field,
                    "a target with an address cannot also have host sources",
                ));
            }
        }
        let Ok(member) = self.existing(member_kind, member_id) else {
            let message = format!("{} {member_id} not found", member_kind.name());
            return Err(ResourceError::invalid(field, message));
        };
        // Siblings share a parent; otherwise both must be in one scope.
        let (there, here) = if member_kind.parent() == holder.kind().parent() {
            (member.parent_id().to_owned(), holder.parent_id().to_owned())
        } else {
            (self.scope_of(member), self.scope_of(holder))
        };
        if there != here {
            let message = format!(
                "{} {member_id} is in {there}, the {} in {here}",
                member_kind.name(),
                holder.kind().name()
            );
            return Err(ResourceError::invalid(field, message));
        }
        if member_kind == KindId::Account {
            if let Some(owner) = self.account_owner(member_id).filter(|o| *o != holder.id()) {
                return Err(ResourceError::Conflict(format!(
                    "account {member_id} already belongs to user {owner}"
                )));
            }
        }
        Ok(())
    }

    /// The user an account is associated with.
    pub fn account_owner(&self, account_id: &str) -> Option<&str> {
        self.all::<User>()
            .find(|u| u.account_ids.iter().any(|a| a == account_id))
            .map(|u| u.id.as_str())
    }
}

/// A fresh id with `prefix` that is not `taken`.
pub(crate) fn fresh_id(
    prefix: &str,
    taken: impl Fn(&str) -> bool,
) -> Result<String, ResourceError> {
    (0..ID_ATTEMPTS)
        .map(|_| new_id(prefix))
        .find(|id| !taken(id))
        .ok_or_else(|| ResourceError::Conflict(format!("could not find an unused {prefix} id")))
}

/// Refuses an update made from a stale read.
fn check_version(item: &Item, expected: u32) -> Result<(), ResourceError> {
    if item.version() != expected {
        return Err(ResourceError::StaleVersion {
            id: item.id().to_owned(),
            expected,
            current: item.version(),
        });
    }
    Ok(())
}

fn mismatch(kind: KindId) -> ResourceError {
    ResourceError::Store(format!(
        "a value for another kind reached the {} table",
        kind.name()
    ))
}

/// Ids in `requested`, once each, in order.
fn dedup(requested: &[String]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::with_capacity(requested.len());
    for id in requested {
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    ids
}

/// `current` after an add, set or remove of `requested` (already deduplicated), members
/// told apart by `key`. Removing one that is not there is refused, naming `field`.
fn membership(
    current: &[String],
    requested: Vec<String>,
    change: Change,
    field: &str,
    key: impl Fn(&str) -> String,
) -> Result<Vec<String>, ResourceError> {
    let mut kept: Vec<(String, String)> = match change {
        Change::Set => Vec::new(),
        Change::Add | Change::Remove => current.iter().map(|id| (key(id), id.clone())).collect(),
    };
    for id in requested {
        let k = key(&id);
        let at = kept.iter().position(|(have, _)| *have == k);
        match (change, at) {
            (Change::Remove, Some(at)) => {
                kept.remove(at);
            }
            (Change::Remove, None) => {
                return Err(ResourceError::invalid(
                    field,
                    format!("{id} is not a member"),
                ));
            }
            (_, Some(_)) => {}
            (_, None) => kept.push((k, id)),
        }
    }
    Ok(kept.into_iter().map(|(_, id)| id).collect())
}
