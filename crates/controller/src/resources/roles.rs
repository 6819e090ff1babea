//! Roles and groups: what may be in their member lists (principals, grants, grant scopes,
//! group members), what a role shows when read, and the compiled grants of a caller
//! ([`Acl`]), cached per state.
//!
//! The rules follow Boundary's (docs/boundary-grants.md): grants are checked as a role's
//! `add-grants` checks them and compared by their canonical form; grant scopes are `this`,
//! `children`, `descendants` or scope ids, limited by the role's own scope; principals are
//! users and groups of any scope, and the built-in anonymous and authenticated users.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use postern_api::items::{GroupMember, RoleGrant, RolePrincipal};
use postern_grants::{Acl, Caller, Grant, RoleGrants};

use super::ids::{ANONYMOUS_USER_ID, AUTHENTICATED_USER_ID};
use super::kind::{Item, KindId, MemberOf, Members};
use super::state::ResourceState;
use super::{Group, ResourceError, Role, Scope, User, GLOBAL_SCOPE_ID};

pub const GRANT_SCOPE_THIS: &str = "this";
pub const GRANT_SCOPE_CHILDREN: &str = "children";
pub const GRANT_SCOPE_DESCENDANTS: &str = "descendants";

/// Actions Boundary no longer takes in new grants, and what replaced them.
const DEPRECATED_ACTIONS: &[(&str, &str)] = &[
    ("add-host-sets", "add-host-sources"),
    ("set-host-sets", "set-host-sources"),
    ("remove-host-sets", "remove-host-sources"),
];

/// The compiled grants of each caller of one state, built on first use. A change makes a
/// new state and so an empty cache: roles, groups and memberships are never read stale.
#[derive(Debug, Default, Clone)]
pub struct AclCache(Arc<Mutex<AclsByCaller>>);

/// Compiled grants by (user id, account id).
type AclsByCaller = HashMap<(String, String), Arc<Acl>>;

/// Grants parsed from their text, kept across changes (a grant's meaning is its text): a
/// change recompiles callers' grants without parsing every grant again.
#[derive(Debug, Default, Clone)]
pub struct ParsedGrants(Arc<Mutex<HashMap<String, Grant>>>);

impl PartialEq for ParsedGrants {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for ParsedGrants {}

/// Two states are equal whatever their caches hold.
impl PartialEq for AclCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for AclCache {}

impl ResourceState {
    /// The compiled grants of `user_id` (logged in with `account_id`; the anonymous user has
    /// neither a token nor an account).
    pub fn acl(&self, user_id: &str, account_id: &str) -> Arc<Acl> {
        let key = (user_id.to_owned(), account_id.to_owned());
        if let Some(acl) = self
            .acl_cache()
            .lock()
            .ok()
            .and_then(|c| c.get(&key).cloned())
        {
            return acl;
        }
        let acl = Arc::new(self.compile_acl(user_id, account_id));
        if let Ok(mut cache) = self.acl_cache().lock() {
            cache.insert(key, acl.clone());
        }
        acl
    }

    fn acl_cache(&self) -> &Mutex<AclsByCaller> {
        &self.acls.0
    }

    fn compile_acl(&self, user_id: &str, account_id: &str) -> Acl {
        let mut principals = vec![ANONYMOUS_USER_ID];
        if user_id != ANONYMOUS_USER_ID {
            principals.extend([AUTHENTICATED_USER_ID, user_id]);
            let groups = self.all::<Group>();
            principals.extend(
                groups
                    .filter(|g| g.member_ids.iter().any(|m| m == user_id))
                    .map(|g| g.id.as_str()),
            );
        }
        let held: Vec<&Role> = self
            .all::<Role>()
            .filter(|role| {
                role.principal_ids
                    .iter()
                    .any(|p| principals.contains(&p.as_str()))
            })
            .collect();
        let roles: Vec<(&Role, Vec<Grant>)> = {
            let mut parsed = match self.parsed.0.lock() {
                Ok(parsed) => parsed,
                Err(poisoned) => poisoned.into_inner(),
            };
            // Grants no role holds any more are let go now and then.
            let live: usize = self.all::<Role>().map(|r| r.grant_strings.len()).sum();
            if parsed.len() > 2 * live + 1024 {
                parsed.clear();
            }
            held.into_iter()
                .map(|role| {
                    // Stored grants were checked when added; one that no longer parses
                    // grants nothing rather than failing every request.
                    let grants = role
                        .grant_strings
                        .iter()
                        .filter_map(|text| match parsed.get(text) {
                            Some(grant) => Some(grant.clone()),
                            None => {
                                let grant = Grant::parse_stored(text).ok()?;
                                parsed.insert(text.clone(), grant.clone());
                                Some(grant)
                            }
                        })
                        .collect();
                    (role, grants)
                })
                .collect()
        };
        let caller = Caller {
            user_id,
            account_id,
        };
        Acl::new(
            caller,
            roles.iter().map(|(role, grants)| RoleGrants {
                role_scope_id: &role.scope_id,
                grant_scope_ids: &role.grant_scope_ids,
                grants,
            }),
        )
    }

    /// Checks the ids requested for a member list that is not of items of one kind, and
    /// puts them in the form they are kept in (a role's own scope id becomes `this`).
    pub(crate) fn check_special_members(
        &self,
        holder: &Item,
        members: Members,
        requested: Vec<String>,
        removing: bool,
    ) -> Result<Vec<String>, ResourceError> {
        let field = members.field;
        match members.of {
            MemberOf::Kind(_) => Ok(requested),
            MemberOf::Users => {
                for id in &requested {
                    if !removing && self.existing_as::<User>(id).is_err() {
                        let message = format!("Must only contain valid user ids but found {id:?}.");
                        return Err(ResourceError::invalid(field, message));
                    }
                }
                Ok(requested)
            }
            MemberOf::Principals => {
                for id in &requested {
                    if !removing {
                        self.check_principal(id, field)?;
                    }
                }
                Ok(requested)
            }
            MemberOf::Grants => {
                for grant in &requested {
                    check_grant(grant, field, removing)?;
                }
                Ok(requested)
            }
            MemberOf::GrantScopes => {
                let Item::Role(role) = holder else {
                    return Err(ResourceError::Store("grant scopes outside a role".into()));
                };
                requested
                    .iter()
                    .map(|id| self.check_grant_scope(role, id, field, removing))
                    .collect()
            }
        }
    }

    fn check_principal(&self, id: &str, field: &str) -> Result<(), ResourceError> {
        if id == "u_recovery" {
            return Err(ResourceError::invalid(
                field,
                "u_recovery cannot be assigned to a role.",
            ));
        }
        if id == ANONYMOUS_USER_ID || id == AUTHENTICATED_USER_ID {
            return Ok(());
        }
        let known = if id.starts_with("u_") {
            self.existing_as::<User>(id).is_ok()
        } else if id.starts_with("g_") {
            self.existing_as::<Group>(id).is_ok()
        } else {
            return Err(ResourceError::invalid(
                field,
                format!("{id:?}: must only have valid user and/or group ids."),
            ));
        };
        if !known {
            return Err(ResourceError::invalid(field, format!("{id} not found.")));
        }
        Ok(())
    }

    /// One grant scope, as kept: a role's own scope id (and `global` for a global role)
    /// becomes `this`.
    fn check_grant_scope(
        &self,
        role: &Role,
        id: &str,
        field: &str,
        removing: bool,
    ) -> Result<String, ResourceError> {
        let invalid = |message: String| Err(ResourceError::invalid(field, message));
        if id.is_empty() {
            return invalid("Grant scope IDs must not be empty.".into());
        }
        if id == role.scope_id || (id == GLOBAL_SCOPE_ID && role.scope_id == GLOBAL_SCOPE_ID) {
            return Ok(GRANT_SCOPE_THIS.to_owned());
        }
        if removing {
            return Ok(id.to_owned());
        }
        let role_type = self
            .existing_as::<Scope>(&role.scope_id)?
            .scope_type
            .clone();
        let special = [
            GRANT_SCOPE_THIS,
            GRANT_SCOPE_CHILDREN,
            GRANT_SCOPE_DESCENDANTS,
        ];
        let is_special = special.contains(&id);
        let scope = if is_special {
            None
        } else if id.starts_with("o_") || id.starts_with("p_") || id == GLOBAL_SCOPE_ID {
            match self.existing_as::<Scope>(id) {
                Ok(scope) => Some(scope),
                Err(_) => return invalid(format!("Scope {id} not found.")),
            }
        } else {
            return invalid(format!("Unknown value {id:?}."));
        };
        match role_type.as_str() {
            "global" => Ok(id.to_owned()),
            "org" => {
                let child_project = scope.is_some_and(|s| s.scope_id == role.scope_id);
                if id == GRANT_SCOPE_THIS || id == GRANT_SCOPE_CHILDREN || child_project {
                    Ok(id.to_owned())
                } else {
                    invalid(format!(
                        "Grant scope ID {id:?} is not valid to set on an organization role: \
                         only \"this\", \"children\" or a project of the organization."
                    ))
                }
            }
            _ if id == GRANT_SCOPE_THIS => Ok(id.to_owned()),
            _ => invalid(
                "Project scopes can only have their own scope ID or \"this\" as a grant scope ID."
                    .into(),
            ),
        }
    }

    /// What a role shows besides what it stores: its principals and its grants in every
    /// form.
    pub(crate) fn fill_role(&self, role: &mut Role) {
        role.principals = role
            .principal_ids
            .iter()
            .map(|id| {
                let (kind, scope_id) = match self.existing_as::<Group>(id) {
                    Ok(group) => ("group", group.scope_id.clone()),
                    Err(_) => match self.existing_as::<User>(id) {
                        Ok(user) => ("user", user.scope_id.clone()),
                        Err(_) => ("user", GLOBAL_SCOPE_ID.to_owned()),
                    },
                };
                RolePrincipal {
                    id: id.clone(),
                    kind: kind.into(),
                    scope_id,
                }
            })
            .collect();
        role.grants = role
            .grant_strings
            .iter()
            .filter_map(|raw| {
                let grant = Grant::parse_stored(raw).ok()?;
                Some(RoleGrant {
                    raw: raw.clone(),
                    canonical: grant.canonical(),
                    json: grant.json(),
                })
            })
            .collect();
    }

    /// A group's members with their scopes.
    pub(crate) fn fill_group(&self, group: &mut Group) {
        group.members = group
            .member_ids
            .iter()
            .map(|id| GroupMember {
                id: id.clone(),
                scope_id: self
                    .existing_as::<User>(id)
                    .map(|u| u.scope_id.clone())
                    .unwrap_or_default(),
            })
            .collect();
    }
}

/// How members of a list are told apart: grants by their canonical form, the rest by id.
pub(crate) fn member_key(members: Members, id: &str) -> String {
    match members.of {
        MemberOf::Grants => Grant::parse_stored(id)
            .map(|g| g.canonical())
            .unwrap_or_else(|_| id.to_owned()),
        _ => id.to_owned(),
    }
}

/// Refuses a role's grant scopes that cannot go together: `children` with `descendants`,
/// and a scope id that a hierarchical grant scope already reaches.
pub(crate) fn check_grant_scope_set(
    state: &ResourceState,
    role_scope_id: &str,
    scopes: &[String],
    field: &str,
) -> Result<(), ResourceError> {
    let has = |s: &str| scopes.iter().any(|x| x == s);
    let invalid = |message: &str| Err(ResourceError::invalid(field, message));
    if has(GRANT_SCOPE_CHILDREN) && has(GRANT_SCOPE_DESCENDANTS) {
        return invalid("only one of descendants or children grant scope can be specified");
    }
    for id in scopes {
        let Ok(scope) = state.existing_as::<Scope>(id) else {
            continue;
        };
        let covered = if has(GRANT_SCOPE_DESCENDANTS) {
            true
        } else {
            has(GRANT_SCOPE_CHILDREN) && scope.scope_id == role_scope_id
        };
        if covered {
            let message = format!(
                "grant scope {id} is already reached by the role's {} grant scope",
                if has(GRANT_SCOPE_DESCENDANTS) {
                    GRANT_SCOPE_DESCENDANTS
                } else {
                    GRANT_SCOPE_CHILDREN
                }
            );
            return invalid(&message);
        }
    }
    Ok(())
}

/// A grant as a role's `add-grants` and `set-grants` take it (`remove-grants` only needs it
/// to parse, so that old grants can still be removed).
fn check_grant(grant: &str, field: &str, removing: bool) -> Result<(), ResourceError> {
    if grant.is_empty() {
        return Err(ResourceError::invalid(
            field,
            "Grant strings must not be empty.",
        ));
    }
    let parsed = if removing {
        Grant::parse_stored(grant)
    } else {
        Grant::parse(grant)
    };
    let parsed = parsed.map_err(|e| {
        ResourceError::invalid(field, format!("Improperly formatted grant {grant:?}: {e}."))
    })?;
    if removing {
        return Ok(());
    }
    if parsed.uses_id_field() {
        return Err(ResourceError::invalid(
            field,
            format!(
                "Grant {grant:?} uses the \"id\" field which is no longer supported. Please use \"ids\" instead."
            ),
        ));
    }
    let canonical = parsed.canonical();
    for (old, new) in DEPRECATED_ACTIONS {
        let named = canonical
            .split(';')
            .filter_map(|segment| segment.strip_prefix("actions="))
            .any(|actions| actions.split(',').any(|a| a == *old));
        if named {
            return Err(ResourceError::invalid(
                field,
                format!(
                    "Action {old:?} has been deprecated and is not allowed to be set in grants. Use {new:?} instead."
                ),
            ));
        }
    }
    Ok(())
}

/// Whether `kind`'s items are held in some list of `holder`'s kind.
pub(crate) fn held_by(holder: KindId, kind: KindId) -> impl Iterator<Item = Members> {
    holder
        .members()
        .iter()
        .copied()
        .filter(move |m| m.of.holds(kind))
}
