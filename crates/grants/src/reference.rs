//! Boundary's ACL as acl.go writes it, grant by grant, to check the index against: for any
//! roles, caller, resource and action, the compiled [`Acl`] must say what the walk says.

use proptest::prelude::*;

use crate::acl::grant_matches;
use crate::action::{self, ActionSet};
use crate::parse::{template, Template};
use crate::{Acl, Caller, Grant, GrantScope, Resource, ResourceType, RoleGrants};

#[derive(Debug, Clone)]
struct Role {
    scope: &'static str,
    grant_scopes: Vec<String>,
    grants: Vec<Grant>,
}

fn walk(caller: Caller<'_>, roles: &[Role], r: &Resource<'_>, action: &str) -> bool {
    let Some(a) = action::lookup(action) else {
        return false;
    };
    let anonymous = caller.user_id.is_empty() || caller.user_id == "u_anon";
    for role in roles {
        for gs in &role.grant_scopes {
            let placed = match GrantScope::parse(gs) {
                Some(GrantScope::This) => r.scope_id == role.scope,
                Some(GrantScope::Scope(s)) => r.scope_id == s,
                Some(GrantScope::Children) => r.parent_scope_id == role.scope,
                Some(GrantScope::Descendants) => r.scope_id != "global",
                None => false,
            };
            if !placed {
                continue;
            }
            for g in &role.grants {
                let no_id = vec![String::new()];
                let ids = if g.ids.is_empty() { &no_id } else { &g.ids };
                for id in ids {
                    let id = match template(id) {
                        Some(Ok(Template::User)) => caller.user_id,
                        Some(Ok(Template::Account)) => caller.account_id,
                        _ => id.as_str(),
                    };
                    if g.actions.is_empty() || g.actions.0 & a.accepted_by == 0 {
                        continue;
                    }
                    let found = if anonymous {
                        g.kind == r.kind
                            && match g.kind {
                                ResourceType::Scope => {
                                    matches!(a.index, action::LIST | action::NO_OP)
                                }
                                ResourceType::AuthMethod => matches!(
                                    a.index,
                                    action::LIST | action::NO_OP | action::AUTHENTICATE
                                ),
                                _ => false,
                            }
                    } else if id.is_empty() && !ids[0].is_empty() {
                        // A template with no caller id to stand for.
                        false
                    } else {
                        grant_matches(id, g.kind, r, &a)
                    };
                    if found {
                        return true;
                    }
                }
            }
        }
    }
    false
}

const TYPES: [&str; 10] = [
    "",
    "*",
    "user",
    "host-catalog",
    "host-set",
    "host",
    "target",
    "scope",
    "auth-method",
    "account",
];
const ACTIONS: [&str; 10] = [
    "read",
    "list",
    "create",
    "*",
    "read:self",
    "no-op",
    "authenticate",
    "create:worker-led",
    "update",
    "cancel:self",
];
/// Resources as handlers describe them (id, type, pin), and a few odd ones.
const RESOURCES: [(&str, &str, &str); 16] = [
    ("", "target", ""),
    ("ttcp_1", "target", ""),
    ("u_1", "user", ""),
    ("u_2", "user", ""),
    ("", "user", ""),
    ("hcst_1", "host-catalog", ""),
    ("hsst_1", "host-set", "hcst_1"),
    ("", "host-set", "hcst_1"),
    ("", "host", "hcst_1"),
    ("acctpw_1", "account", "ampw_1"),
    ("ampw_1", "auth-method", ""),
    ("", "auth-method", ""),
    ("", "scope", ""),
    ("p_1", "scope", ""),
    ("u_1", "target", "u_1"),
    ("*", "*", "*"),
];
const SCOPES: [(&str, &str); 5] = [
    ("global", ""),
    ("o_1", "global"),
    ("p_1", "o_1"),
    ("o_2", "global"),
    ("p_2", "o_2"),
];
const GRANT_SCOPES: [&str; 8] = [
    "this",
    "children",
    "descendants",
    "o_1",
    "p_1",
    "global",
    "p_2",
    "junk",
];

fn grant() -> impl Strategy<Value = Option<Grant>> {
    // Boundary refuses ids of mixed types and `*` beside other actions even for stored
    // grants, so draw id lists and action lists that mostly parse.
    let ids: Vec<&[&str]> = vec![
        &[],
        &["*"],
        &["u_1"],
        &["u_1", "u_2"],
        &["hcst_1"],
        &["hsst_1"],
        &["ttcp_1"],
        &["ampw_1"],
        &["acctpw_1"],
        &["p_1"],
        &["{{user.id}}"],
        &["{{account.id}}"],
        &["{{user.id}}", "{{account.id}}"],
    ];
    (
        prop::sample::select(ids),
        prop::sample::select(TYPES.to_vec()),
        prop::sample::subsequence(ACTIONS.to_vec(), 1..3),
    )
        .prop_map(|(ids, kind, actions)| {
            let mut parts = Vec::new();
            if !ids.is_empty() {
                parts.push(format!("ids={}", ids.join(",")));
            }
            if !kind.is_empty() {
                parts.push(format!("type={kind}"));
            }
            parts.push(format!("actions={}", actions.join(",")));
            Grant::parse_stored(&parts.join(";")).ok()
        })
}

fn role() -> impl Strategy<Value = Role> {
    (
        prop::sample::select(vec!["global", "o_1", "p_1", "o_2"]),
        prop::sample::subsequence(GRANT_SCOPES.to_vec(), 0..4),
        prop::collection::vec(grant(), 0..8),
    )
        .prop_map(|(scope, gs, grants)| Role {
            scope,
            grant_scopes: gs.into_iter().map(String::from).collect(),
            grants: grants.into_iter().flatten().collect(),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn index_agrees_with_boundarys_walk(
        roles in prop::collection::vec(role(), 0..8),
        user in prop::sample::select(vec!["u_1", "u_2", "u_2", "u_anon", ""]),
    ) {
        let caller = Caller { user_id: user, account_id: "acctpw_1" };
        let acl = Acl::new(caller, roles.iter().map(|r| RoleGrants {
            role_scope_id: r.scope,
            grant_scope_ids: &r.grant_scopes,
            grants: &r.grants,
        }));
        // Every resource in every scope, for every action: the case is the roles.
        for (id, kind, pin) in RESOURCES {
            for (scope_id, parent_scope_id) in SCOPES {
                let r = Resource {
                    id,
                    kind: ResourceType::parse(kind).unwrap_or(ResourceType::Unknown),
                    scope_id,
                    parent_scope_id,
                    pin,
                };
                for action in ACTIONS.iter().copied().chain(["bogus"]) {
                    let expected = walk(caller, &roles, &r, action);
                    prop_assert_eq!(acl.allowed(&r, action), expected, "{:?} {}", r, action);
                }
            }
        }
    }
}

#[test]
fn action_parents() {
    let read = action::lookup("read").unwrap();
    let read_self = action::lookup("read:self").unwrap();
    let worker_led = action::lookup("create:worker-led").unwrap();
    let mut only_read = ActionSet::default();
    only_read.insert(read.index);
    let mut only_self = ActionSet::default();
    only_self.insert(read_self.index);
    assert!(only_read.grants(&read_self));
    assert!(!only_self.grants(&read));
    assert!(worker_led.is_create && !worker_led.is_list);
    assert!(!action::lookup("list-keys").unwrap().is_list);
    assert!(action::lookup("unknown").is_none());
}
