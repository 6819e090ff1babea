//! ACL decisions against Boundary's matching rules (docs/boundary-grants.md 2.3-2.4) and
//! grant-scope reach (3.3).

use postern_grants::{Acl, Caller, Grant, Resource, ResourceType, RoleGrants};

/// One role: its scope, grant scopes and grant strings.
type RoleSpec<'a> = (&'a str, &'a [&'a str], &'a [&'a str]);

fn acl_for(user_id: &str, account_id: &str, roles: &[RoleSpec<'_>]) -> Acl {
    let owned: Vec<(String, Vec<String>, Vec<Grant>)> = roles
        .iter()
        .map(|(scope, grant_scopes, grants)| {
            (
                scope.to_string(),
                grant_scopes.iter().map(|s| s.to_string()).collect(),
                grants
                    .iter()
                    .map(|g| Grant::parse_stored(g).expect(g))
                    .collect(),
            )
        })
        .collect();
    Acl::new(
        Caller {
            user_id,
            account_id,
        },
        owned.iter().map(|(scope, gs, grants)| RoleGrants {
            role_scope_id: scope,
            grant_scope_ids: gs,
            grants,
        }),
    )
}

fn acl(roles: &[RoleSpec<'_>]) -> Acl {
    acl_for("u_1", "acctpw_1", roles)
}

/// Where a resource lives: (scope_id, parent_scope_id).
const GLOBAL: (&str, &str) = ("global", "");
const ORG: (&str, &str) = ("o_1", "global");
const PROJECT: (&str, &str) = ("p_1", "o_1");
const OTHER_ORG: (&str, &str) = ("o_2", "global");
const OTHER_PROJECT: (&str, &str) = ("p_2", "o_2");

fn res<'a>(id: &'a str, kind: ResourceType, at: (&'a str, &'a str), pin: &'a str) -> Resource<'a> {
    Resource {
        id,
        kind,
        scope_id: at.0,
        parent_scope_id: at.1,
        pin,
    }
}

use ResourceType::{
    AuthMethod, AuthToken, Host, HostCatalog, HostSet, Scope, Session, Target, User, Worker,
};

const LOGIN_GRANTS: &[&str] = &[
    "ids=*;type=scope;actions=list,no-op",
    "ids=*;type=auth-method;actions=list,authenticate",
    "ids=*;type=auth-token;actions=read:self,delete:self",
];

#[test]
fn anonymous_users_may_only_discover_and_authenticate() {
    for user in ["u_anon", ""] {
        let a = acl_for(
            user,
            "",
            &[
                ("global", &["this", "descendants"], LOGIN_GRANTS),
                (
                    "global",
                    &["this", "descendants"],
                    &["ids=*;type=*;actions=*"],
                ),
            ],
        );
        assert!(a.is_anonymous());
        assert!(a.allowed(&res("", Scope, GLOBAL, ""), "list"));
        assert!(a.allowed(&res("o_1", Scope, GLOBAL, ""), "no-op"));
        assert!(a.allowed(&res("ampw_1", AuthMethod, ORG, ""), "authenticate"));
        assert!(a.allowed(&res("", AuthMethod, GLOBAL, ""), "list"));
        // Everything else is refused, admin grant or not.
        assert!(!a.allowed(&res("o_1", Scope, GLOBAL, ""), "read"));
        assert!(!a.allowed(&res("at_1", AuthToken, GLOBAL, ""), "read:self"));
        assert!(!a.allowed(&res("ttcp_1", Target, PROJECT, ""), "read"));
        assert!(!a.allowed(&res("", Target, PROJECT, ""), "list"));
    }
    // `type=*` never matches for the anonymous user.
    let a = acl_for(
        "u_anon",
        "",
        &[("global", &["this"], &["ids=*;type=*;actions=*"])],
    );
    assert!(!a.allowed(&res("", Scope, GLOBAL, ""), "list"));
    // The id is ignored: a typed grant for one scope lets anonymous list every scope there.
    let a = acl_for(
        "u_anon",
        "",
        &[("global", &["this"], &["ids=o_9;type=scope;actions=no-op"])],
    );
    assert!(a.allowed(&res("o_1", Scope, GLOBAL, ""), "no-op"));
    // Authenticated users get the auth-token grant.
    let a = acl(&[("global", &["this", "descendants"], LOGIN_GRANTS)]);
    assert!(!a.is_anonymous());
    assert!(a.allowed(&res("at_1", AuthToken, GLOBAL, ""), "read:self"));
    assert!(a.allowed(&res("at_1", AuthToken, ORG, ""), "delete:self"));
    assert!(!a.allowed(&res("at_1", AuthToken, ORG, ""), "delete"));
}

#[test]
fn specific_ids() {
    let a = acl(&[(
        "p_1",
        &["this"],
        &[
            "ids=ttcp_1,ttcp_2;actions=read,update",
            "ids=hcst_1;type=host-catalog;actions=delete",
        ],
    )]);
    assert!(a.allowed(&res("ttcp_1", Target, PROJECT, ""), "read"));
    assert!(a.allowed(&res("ttcp_2", Target, PROJECT, ""), "update"));
    assert!(!a.allowed(&res("ttcp_3", Target, PROJECT, ""), "read"));
    assert!(!a.allowed(&res("ttcp_1", Target, PROJECT, ""), "delete"));
    assert!(a.allowed(&res("hcst_1", HostCatalog, PROJECT, ""), "delete"));
    // Only in the scopes the role reaches.
    assert!(!a.allowed(&res("ttcp_1", Target, OTHER_PROJECT, ""), "read"));
    // Collection actions never come from an id.
    let a = acl(&[("p_1", &["this"], &["ids=ttcp_1;actions=*"])]);
    assert!(a.allowed(&res("ttcp_1", Target, PROJECT, ""), "authorize-session"));
    assert!(!a.allowed(&res("", Target, PROJECT, ""), "list"));
    assert!(!a.allowed(&res("ttcp_1", Target, PROJECT, ""), "create"));
}

#[test]
fn collections() {
    let a = acl(&[(
        "p_1",
        &["this"],
        &[
            "type=target;actions=list",
            "type=host-set;actions=create",
            "type=worker;actions=create",
        ],
    )]);
    assert!(a.allowed(&res("", Target, PROJECT, ""), "list"));
    assert!(!a.allowed(&res("", Target, PROJECT, ""), "create"));
    assert!(!a.allowed(&res("ttcp_1", Target, PROJECT, ""), "read"));
    assert!(!a.allowed(&res("ttcp_1", Target, PROJECT, ""), "list"));
    // Host sets are not top level: a collection grant cannot reach them (Boundary refuses
    // this grant for new roles for that reason).
    assert!(!a.allowed(&res("", HostSet, PROJECT, "hcst_1"), "create"));
    // `create` covers its sub-actions.
    assert!(a.allowed(&res("", Worker, PROJECT, ""), "create:worker-led"));
}

#[test]
fn wildcards() {
    let a = acl(&[("p_1", &["this"], &["ids=*;type=target;actions=*"])]);
    for action in ["create", "list", "read", "authorize-session"] {
        assert!(a.allowed(&res("", Target, PROJECT, ""), action), "{action}");
        assert!(
            a.allowed(&res("ttcp_1", Target, PROJECT, ""), action),
            "{action}"
        );
    }
    assert!(!a.allowed(&res("hcst_1", HostCatalog, PROJECT, ""), "read"));
    let a = acl(&[("p_1", &["this"], &["ids=*;type=*;actions=read"])]);
    assert!(a.allowed(&res("hcst_1", HostCatalog, PROJECT, ""), "read"));
    assert!(a.allowed(&res("hst_1", Host, PROJECT, "hcst_1"), "read"));
    assert!(!a.allowed(&res("hst_1", Host, PROJECT, "hcst_1"), "update"));
    // An action Boundary does not know is never allowed, not even by `*`.
    let a = acl(&[("p_1", &["this"], &["ids=*;type=*;actions=*"])]);
    assert!(!a.allowed(&res("ttcp_1", Target, PROJECT, ""), "teleport"));
}

#[test]
fn pins() {
    let a = acl(&[(
        "p_1",
        &["this"],
        &["ids=hcst_1;type=host-set;actions=create,list,read"],
    )]);
    assert!(a.allowed(&res("", HostSet, PROJECT, "hcst_1"), "create"));
    assert!(a.allowed(&res("", HostSet, PROJECT, "hcst_1"), "list"));
    assert!(a.allowed(&res("hsst_1", HostSet, PROJECT, "hcst_1"), "read"));
    assert!(!a.allowed(&res("hsst_1", HostSet, PROJECT, "hcst_2"), "read"));
    assert!(!a.allowed(&res("hsst_1", HostSet, PROJECT, "hcst_1"), "update"));
    assert!(!a.allowed(&res("hst_1", Host, PROJECT, "hcst_1"), "read"));
    // The catalog itself is not a host set.
    assert!(!a.allowed(&res("hcst_1", HostCatalog, PROJECT, ""), "read"));
    // type=* pins every child type, and Boundary's acl_test example: a host in its catalog.
    let a = acl(&[(
        "o_b",
        &["this"],
        &["ids=hcst_mypin;type=host;actions=*;output_fields=name,description"],
    )]);
    let host = |pin| Resource {
        id: "hst_1",
        kind: Host,
        scope_id: "o_b",
        parent_scope_id: "global",
        pin,
    };
    for action in ["read", "update", "delete"] {
        assert!(a.allowed(&host("hcst_mypin"), action));
        assert!(!a.allowed(&host("hcst_other"), action));
    }
    let a = acl(&[("p_1", &["this"], &["ids=hcst_1;type=*;actions=read"])]);
    assert!(a.allowed(&res("hst_1", Host, PROJECT, "hcst_1"), "read"));
    assert!(a.allowed(&res("hsst_1", HostSet, PROJECT, "hcst_1"), "read"));
}

#[test]
fn parent_actions_satisfy_self_actions_and_not_the_reverse() {
    let a = acl(&[(
        "p_1",
        &["this"],
        &["ids=*;type=session;actions=read,cancel:self"],
    )]);
    let s = res("s_1", Session, PROJECT, "");
    assert!(a.allowed(&s, "read"));
    assert!(a.allowed(&s, "read:self"));
    assert!(a.allowed(&s, "cancel:self"));
    assert!(!a.allowed(&s, "cancel"));
    assert_eq!(
        a.allowed_actions(&s, &["cancel", "no-op", "read:self", "cancel:self", "read"]),
        ["read:self", "cancel:self", "read"]
    );
}

#[test]
fn grant_scope_reach() {
    let admin: &[&str] = &["ids=*;type=*;actions=read"];
    let everywhere = |a: &Acl| {
        [GLOBAL, ORG, PROJECT, OTHER_ORG, OTHER_PROJECT]
            .map(|at| a.allowed(&res("ttcp_1", Target, at, ""), "read"))
    };
    // Global role: this reaches global (including the org scope objects that live there).
    let a = acl(&[("global", &["this"], admin)]);
    assert_eq!(everywhere(&a), [true, false, false, false, false]);
    assert!(a.allowed(&res("o_1", Scope, GLOBAL, ""), "read"));
    // children reaches the orgs (including their project scope objects), not the projects.
    let a = acl(&[("global", &["children"], admin)]);
    assert_eq!(everywhere(&a), [false, true, false, true, false]);
    assert!(a.allowed(&res("p_1", Scope, ORG, ""), "read"));
    // descendants reaches orgs and projects, not global.
    let a = acl(&[("global", &["descendants"], admin)]);
    assert_eq!(everywhere(&a), [false, true, true, true, true]);
    // An explicit scope reaches only that scope; `global` is a scope like any other.
    let a = acl(&[("global", &["p_1"], admin)]);
    assert_eq!(everywhere(&a), [false, false, true, false, false]);
    let a = acl(&[("global", &["global"], admin)]);
    assert_eq!(everywhere(&a), [true, false, false, false, false]);
    // Org role: this is the org; children its projects only.
    let a = acl(&[("o_1", &["this"], admin)]);
    assert_eq!(everywhere(&a), [false, true, false, false, false]);
    let a = acl(&[("o_1", &["children"], admin)]);
    assert_eq!(everywhere(&a), [false, false, true, false, false]);
    // Project role.
    let a = acl(&[("p_1", &["this"], admin)]);
    assert_eq!(everywhere(&a), [false, false, true, false, false]);
    // No grant scopes, or only junk ones: nothing.
    let a = acl(&[("global", &[], admin), ("o_1", &["bogus", "o_"], admin)]);
    assert_eq!(everywhere(&a), [false; 5]);
    // Roles add up.
    let a = acl(&[("global", &["this"], admin), ("o_2", &["children"], admin)]);
    assert_eq!(everywhere(&a), [true, false, false, false, true]);
}

#[test]
fn templates_become_the_callers_ids() {
    let roles: &[RoleSpec<'_>] = &[(
        "global",
        &["this", "descendants"],
        &[
            "ids={{.User.Id}};type=user;actions=read",
            "ids={{account.id}};actions=read,change-password",
        ],
    )];
    let a = acl_for("u_1", "acctpw_1", roles);
    assert!(a.allowed(&res("u_1", User, GLOBAL, ""), "read"));
    assert!(!a.allowed(&res("u_2", User, GLOBAL, ""), "read"));
    let account = res("acctpw_1", ResourceType::Account, ORG, "ampw_1");
    assert!(a.allowed(&account, "change-password"));
    assert!(!a.allowed(
        &res("acctpw_2", ResourceType::Account, ORG, "ampw_1"),
        "change-password"
    ));
    // Without an account id the account template matches nothing, not even an empty id.
    let a = acl_for("u_1", "", roles);
    assert!(!a.allowed(&account, "change-password"));
    assert!(!a.allowed(&res("", ResourceType::Account, ORG, "ampw_1"), "read"));
    assert!(a.allowed(&res("u_1", User, ORG, ""), "read"));
}

#[test]
fn output_field_grants_never_authorize() {
    let a = acl(&[("global", &["this"], &["ids=*;type=*;output_fields=id"])]);
    assert!(!a.allowed(&res("u_1", User, GLOBAL, ""), "read"));
    assert!(!Acl::default().allowed(&res("u_1", User, GLOBAL, ""), "read"));
}
