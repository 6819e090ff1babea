//! A caller's grants compiled for fast decisions (Boundary's acl.go).
//!
//! Boundary keeps each grant and walks every grant of the scopes in reach per decision. Here
//! the grants are folded at build time into per-scope [`Bucket`]s keyed the way a decision
//! asks: by specific id, by pin, by type. Within one key only the union of the actions
//! matters (a request is allowed if *any* grant there holds the action, its parent or `*`),
//! so each key holds one bitset, and a decision is a handful of hash lookups and mask tests,
//! without allocating.

use std::collections::HashMap;

use crate::action::{self, Action, ActionSet};
use crate::parse::{template, Template};
use crate::{Grant, GrantScope, ResourceType};

const TYPES: usize = ResourceType::VARIANTS.len();

/// One role as the ACL needs it.
#[derive(Debug, Clone, Copy)]
pub struct RoleGrants<'a> {
    pub role_scope_id: &'a str,
    pub grant_scope_ids: &'a [String],
    pub grants: &'a [Grant],
}

/// Who asks. Templates (`{{.User.Id}}`, `{{user.id}}`, `{{.Account.Id}}`, `{{account.id}}`)
/// become these ids when the ACL is built; an empty one matches nothing.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub user_id: &'a str,
    pub account_id: &'a str,
}

/// What is asked about (Boundary's `perms.Resource`).
#[derive(Debug, Clone, Copy)]
pub struct Resource<'a> {
    /// Empty for a collection (create, list).
    pub id: &'a str,
    pub kind: ResourceType,
    /// The scope the resource is in; for a scope, its parent (global's is `global`).
    pub scope_id: &'a str,
    /// The parent of `scope_id`: `""` for global, `global` for an org, the org for a project.
    pub parent_scope_id: &'a str,
    /// For a child type, the parent resource's id (a host set's catalog); else empty.
    pub pin: &'a str,
}

/// The grants that apply to one scope key, folded by how a decision looks them up.
#[derive(Debug, Clone, Default)]
struct Bucket {
    /// Case 2: `ids=<id>` grants whose type is absent or the id's own type.
    by_id: HashMap<Box<str>, ActionSet>,
    /// Case 5: grants with a specific id and a type, used as a pin for child resources.
    pinned: HashMap<Box<str>, Vec<(ResourceType, ActionSet)>>,
    /// Case 3: typed grants without ids (collections), by type.
    collection: [ActionSet; TYPES],
    /// Case 4: `ids=*` grants, by type (`type=*` at `ResourceType::All`).
    wildcard: [ActionSet; TYPES],
    /// Case 1 (the anonymous user): any grant of type scope or auth-method, whatever its id.
    anon_scope: ActionSet,
    anon_auth_method: ActionSet,
}

impl Bucket {
    fn add(&mut self, grant: &Grant, caller: Caller<'_>) {
        let actions = grant.actions;
        // A grant without actions only shapes output fields; it never authorizes.
        if actions.is_empty() {
            return;
        }
        let kind = grant.kind;
        match kind {
            ResourceType::Scope => self.anon_scope.union(actions),
            ResourceType::AuthMethod => self.anon_auth_method.union(actions),
            _ => {}
        }
        let ids: &[String] = &grant.ids;
        let no_id = [String::new()];
        let ids = if ids.is_empty() { &no_id[..] } else { ids };
        for id in ids {
            let id = match template(id) {
                None => id.as_str(),
                Some(Ok(t)) => {
                    let id = match t {
                        Template::User => caller.user_id,
                        Template::Account => caller.account_id,
                    };
                    // A template with no caller id to stand for matches nothing.
                    if id.is_empty() {
                        continue;
                    }
                    id
                }
                // Parsing refuses unknown templates; nothing to match if one got here.
                Some(Err(())) => continue,
            };
            match id {
                "" => {
                    if kind != ResourceType::Unknown {
                        self.collection[kind as usize].union(actions);
                    }
                }
                "*" => {
                    if kind != ResourceType::Unknown {
                        self.wildcard[kind as usize].union(actions);
                    }
                }
                _ => {
                    if kind == ResourceType::Unknown || kind == ResourceType::of_id(id) {
                        self.by_id.entry(id.into()).or_default().union(actions);
                    }
                    if kind != ResourceType::Unknown {
                        let pins = self.pinned.entry(id.into()).or_default();
                        match pins.iter_mut().find(|(t, _)| *t == kind) {
                            Some((_, set)) => set.union(actions),
                            None => pins.push((kind, actions)),
                        }
                    }
                }
            }
        }
    }

    fn allows(&self, r: &Resource<'_>, a: &Action, anonymous: bool) -> bool {
        if anonymous {
            // Only discovery of scopes and auth methods, and authenticating, whatever else
            // the grants say.
            return match r.kind {
                ResourceType::Scope => {
                    matches!(a.index, action::LIST | action::NO_OP) && self.anon_scope.grants(a)
                }
                ResourceType::AuthMethod => {
                    matches!(a.index, action::LIST | action::NO_OP | action::AUTHENTICATE)
                        && self.anon_auth_method.grants(a)
                }
                _ => false,
            };
        }
        let collection_action = a.is_list || a.is_create;
        if !r.id.is_empty() && !collection_action {
            if let Some(set) = self.by_id.get(r.id) {
                if set.grants(a) {
                    return true;
                }
            }
        }
        if r.id.is_empty()
            && collection_action
            && r.kind.is_top_level()
            && self.collection[r.kind as usize].grants(a)
        {
            return true;
        }
        if self.wildcard[r.kind as usize].grants(a)
            || self.wildcard[ResourceType::All as usize].grants(a)
        {
            return true;
        }
        if !r.pin.is_empty() && !r.kind.is_top_level() {
            if let Some(pins) = self.pinned.get(r.pin) {
                return pins
                    .iter()
                    .any(|(t, set)| (*t == r.kind || *t == ResourceType::All) && set.grants(a));
            }
        }
        false
    }
}

/// Whether one grant's target matches (Boundary's cases 2 to 5, the non-anonymous ones)
/// for an action the grant holds. The parse-time check uses it; the [`Acl`] is its indexed
/// form.
pub(crate) fn grant_matches(gid: &str, gkind: ResourceType, r: &Resource<'_>, a: &Action) -> bool {
    use ResourceType::{All, Unknown};
    let collection_action = a.is_list || a.is_create;
    (gid == r.id
        && !gid.is_empty()
        && gid != "*"
        && (gkind == Unknown || gkind == ResourceType::of_id(gid))
        && !collection_action)
        || (gid.is_empty()
            && r.id.is_empty()
            && gkind == r.kind
            && gkind != Unknown
            && r.kind.is_top_level()
            && collection_action)
        || (gid == "*" && gkind != Unknown && (gkind == r.kind || gkind == All))
        || (!gid.is_empty()
            && gid == r.pin
            && gkind != Unknown
            && (gkind == r.kind || gkind == All)
            && !r.kind.is_top_level())
}

/// A caller's compiled grants: build once per caller, decide many times.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    /// Grants for one scope: the role's own (`this`) or a named one.
    direct: HashMap<Box<str>, Bucket>,
    /// `children` grants, keyed by the role's scope: they reach resources whose parent
    /// scope is that scope.
    children: HashMap<Box<str>, Bucket>,
    /// `descendants` grants: every scope but global.
    descendants: Option<Bucket>,
    anonymous: bool,
}

impl Acl {
    /// Compiles the roles' grants for `caller`. Grant scope ids that are not valid
    /// ([`GrantScope::parse`]) are skipped; a role without grant scopes grants nothing.
    pub fn new<'a>(caller: Caller<'_>, roles: impl IntoIterator<Item = RoleGrants<'a>>) -> Acl {
        let mut acl = Acl {
            anonymous: is_anonymous(caller.user_id),
            ..Acl::default()
        };
        for role in roles {
            for scope in role.grant_scope_ids {
                let bucket = match GrantScope::parse(scope) {
                    Some(GrantScope::This) => {
                        acl.direct.entry(role.role_scope_id.into()).or_default()
                    }
                    Some(GrantScope::Scope(id)) => acl.direct.entry(id.into()).or_default(),
                    Some(GrantScope::Children) => {
                        acl.children.entry(role.role_scope_id.into()).or_default()
                    }
                    Some(GrantScope::Descendants) => {
                        acl.descendants.get_or_insert_with(Bucket::default)
                    }
                    None => continue,
                };
                for grant in role.grants {
                    bucket.add(grant, caller);
                }
            }
        }
        acl
    }

    /// Whether `action` is allowed on `resource`. An action Boundary does not know is never
    /// allowed. The anonymous user (`u_anon` or no user) may only list and no-op scopes and
    /// auth methods, and authenticate to auth methods, whatever the grants say.
    pub fn allowed(&self, resource: &Resource<'_>, action: &str) -> bool {
        let Some(a) = action::lookup(action) else {
            return false;
        };
        let descendants = if resource.scope_id == "global" {
            None
        } else {
            self.descendants.as_ref()
        };
        [
            self.direct.get(resource.scope_id),
            self.children.get(resource.parent_scope_id),
            descendants,
        ]
        .into_iter()
        .flatten()
        .any(|b| b.allows(resource, &a, self.anonymous))
    }

    /// The subset of `actions` allowed on `resource`, in the given order.
    pub fn allowed_actions<'s>(
        &self,
        resource: &Resource<'_>,
        actions: &[&'s str],
    ) -> Vec<&'s str> {
        actions
            .iter()
            .copied()
            .filter(|a| self.allowed(resource, a))
            .collect()
    }

    /// The caller is the anonymous user.
    pub fn is_anonymous(&self) -> bool {
        self.anonymous
    }
}

fn is_anonymous(user_id: &str) -> bool {
    user_id.is_empty() || user_id == "u_anon"
}
