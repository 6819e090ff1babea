//! The resources `postern dev` starts with, under Boundary's well-known dev ids, as data:
//! the steps any [`ResourceStore`](super::ResourceStore) backend applies in order, each with
//! the same checks as an API request.

use postern_api::bodies::{
    AccountIds, GrantScopeIds, GrantStrings, HostIds, HostSourceIds, Members, PrincipalIds,
};

use super::ids::{
    new_id, ACCOUNT_PREFIX, ANONYMOUS_USER_ID, AUTHENTICATED_USER_ID, AUTH_METHOD_PREFIX,
    ROLE_PREFIX, USER_PREFIX,
};
use super::input::{
    DevSeed, NewAccount, NewAuthMethod, NewHost, NewHostCatalog, NewHostSet, NewRole, NewScope,
    NewTarget, NewUser,
};
use super::kind::{KindId, NewItem};
use super::roles::{GRANT_SCOPE_DESCENDANTS, GRANT_SCOPE_THIS};
use super::GLOBAL_SCOPE_ID;

pub const DEV_ORG_ID: &str = "o_1234567890";
pub const DEV_PROJECT_ID: &str = "p_1234567890";
pub const DEV_AUTH_METHOD_ID: &str = "ampw_1234567890";
pub const DEV_ADMIN_USER_ID: &str = "u_1234567890";
pub const DEV_ADMIN_ACCOUNT_ID: &str = "acctpw_1234567890";
pub const DEV_USER_ID: &str = "u_0987654321";
pub const DEV_USER_ACCOUNT_ID: &str = "acctpw_0987654321";
pub const DEV_HOST_CATALOG_ID: &str = "hcst_1234567890";
pub const DEV_HOST_SET_ID: &str = "hsst_1234567890";
pub const DEV_HOST_ID: &str = "hst_1234567890";
pub const DEV_TARGET_ID: &str = "ttcp_1234567890";

/// One step of a seed.
#[derive(Debug, Clone)]
pub enum SeedStep {
    /// Create an item under this id.
    Create { id: String, new: NewItem },
    /// Set the members in `field` of the item, at the version it has then.
    SetMembers {
        kind: KindId,
        id: String,
        field: &'static str,
        members: Vec<String>,
    },
}

fn create(id: &str, new: NewItem) -> SeedStep {
    SeedStep::Create {
        id: id.to_owned(),
        new,
    }
}

fn members<M: Members>(kind: KindId, id: &str, members: &[&str]) -> SeedStep {
    SeedStep::SetMembers {
        kind,
        id: id.to_owned(),
        field: M::FIELD,
        members: members.iter().map(|m| (*m).to_owned()).collect(),
    }
}

/// A role in `scope_id` with its principals, grants and grant scopes, under a fresh id.
fn role(
    scope_id: &str,
    (name, description): (&str, &str),
    principals: &[&str],
    grants: &[&str],
    grant_scopes: &[&str],
) -> [SeedStep; 4] {
    let id = new_id(ROLE_PREFIX);
    let new = NewRole {
        scope_id: scope_id.to_owned(),
        name: name.to_owned(),
        description: description.to_owned(),
    };
    [
        create(&id, NewItem::Role(new)),
        members::<GrantStrings>(KindId::Role, &id, grants),
        members::<PrincipalIds>(KindId::Role, &id, principals),
        members::<GrantScopeIds>(KindId::Role, &id, grant_scopes),
    ]
}

/// Boundary's three global roles: logging in for everyone (`u_anon`), reading scopes and
/// one's own sessions and account for every logged-in user (`u_auth`), and every grant for
/// the admins. They apply in global and every scope under it.
pub fn default_roles(admin_user_ids: &[&str]) -> Vec<SeedStep> {
    let everywhere = &[GRANT_SCOPE_THIS, GRANT_SCOPE_DESCENDANTS];
    let mut steps = Vec::new();
    steps.extend(role(
        GLOBAL_SCOPE_ID,
        (
            "Login Grants",
            "Role created for login capability for unauthenticated users",
        ),
        &[ANONYMOUS_USER_ID],
        &[
            "ids=*;type=scope;actions=list,no-op",
            "ids=*;type=auth-method;actions=list,authenticate",
            "ids=*;type=auth-token;actions=read:self,delete:self",
        ],
        everywhere,
    ));
    steps.extend(role(
        GLOBAL_SCOPE_ID,
        (
            "Authenticated User Grants",
            "Role created for account self-management, and other initial authenticated user grants",
        ),
        &[AUTHENTICATED_USER_ID],
        &[
            "ids=*;type=scope;actions=read",
            "ids=*;type=auth-token;actions=list",
            "ids={{.Account.Id}};actions=read,change-password",
            "ids=*;type=session;actions=list,read:self,cancel:self",
        ],
        everywhere,
    ));
    if !admin_user_ids.is_empty() {
        steps.extend(role(
            GLOBAL_SCOPE_ID,
            (
                "Administration",
                "Provides admin grants within all scopes to the initial admin user",
            ),
            admin_user_ids,
            &["ids=*;type=*;actions=*"],
            everywhere,
        ));
    }
    steps
}

/// The roles a new scope starts with, as Boundary makes them: "Administration" for the user
/// who created it (none for `creator` empty), and its default grants: logging in and
/// self-management in an org, one's own sessions and the list of targets in a project.
pub fn scope_roles(
    scope_id: &str,
    scope_type: &str,
    creator: Option<&str>,
    defaults: bool,
) -> Vec<SeedStep> {
    let mut steps = Vec::new();
    let this = &[GRANT_SCOPE_THIS];
    if let Some(creator) = creator {
        let description = format!(
            "Role created for administration of scope {scope_id} by user {creator} at its creation time"
        );
        steps.extend(role(
            scope_id,
            ("Administration", &description),
            &[creator],
            &["ids=*;type=*;actions=*"],
            this,
        ));
    }
    if !defaults {
        return steps;
    }
    if scope_type == "org" {
        let description = format!(
            "Role created for login capability, account self-management, and other default grants for users of scope {scope_id} at its creation time"
        );
        steps.extend(role(
            scope_id,
            ("Login and Default Grants", &description),
            &[ANONYMOUS_USER_ID],
            &[
                "ids=*;type=scope;actions=list,no-op",
                "ids=*;type=auth-method;actions=authenticate,list",
                "ids={{.Account.Id}};actions=read,change-password",
                "ids=*;type=auth-token;actions=list,read:self,delete:self",
            ],
            this,
        ));
    } else if scope_type == "project" {
        let description = format!(
            "Role created to provide default grants to users of scope {scope_id} at its creation time"
        );
        steps.extend(role(
            scope_id,
            ("Default Grants", &description),
            &[AUTHENTICATED_USER_ID],
            &[
                "ids=*;type=session;actions=list,read:self,cancel:self",
                "type=target;actions=list",
            ],
            this,
        ));
    }
    steps
}

/// A user with one password account: the account, the user, and the user's membership.
fn person(
    auth_method_id: &str,
    (user_id, account_id): (&str, &str),
    (login_name, password): (&str, &str),
    (name, description): (&str, &str),
) -> [SeedStep; 3] {
    let account = NewAccount {
        auth_method_id: auth_method_id.to_owned(),
        login_name: login_name.to_owned(),
        password: password.to_owned(),
        ..NewAccount::default()
    };
    let user = NewUser {
        scope_id: GLOBAL_SCOPE_ID.to_owned(),
        name: name.to_owned(),
        description: description.to_owned(),
    };
    [
        create(account_id, NewItem::Account(account)),
        create(user_id, NewItem::User(user)),
        members::<AccountIds>(KindId::User, user_id, &[account_id]),
    ]
}

const AUTH_METHOD_NAME: &str = "Generated global scope initial password auth method";
const ADMIN_NAME: (&str, &str) = ("admin", r#"Initial admin user within the "global" scope"#);

/// The ids `postern database init` made for the first admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialAdmin {
    pub auth_method_id: String,
    pub user_id: String,
    pub account_id: String,
}

/// What `postern database init` creates in a new database: a password auth method in global
/// and an admin who logs in with `login_name` and `password`, under fresh ids.
pub fn init_seed(login_name: &str, password: &str) -> (InitialAdmin, Vec<SeedStep>) {
    let admin = InitialAdmin {
        auth_method_id: new_id(AUTH_METHOD_PREFIX),
        user_id: new_id(USER_PREFIX),
        account_id: new_id(ACCOUNT_PREFIX),
    };
    let method = NewAuthMethod {
        scope_id: GLOBAL_SCOPE_ID.to_owned(),
        name: AUTH_METHOD_NAME.to_owned(),
        description: "Provides initial administrative authentication into postern".to_owned(),
    };
    let mut steps = vec![create(&admin.auth_method_id, NewItem::AuthMethod(method))];
    steps.extend(person(
        &admin.auth_method_id,
        (&admin.user_id, &admin.account_id),
        (login_name, password),
        ADMIN_NAME,
    ));
    steps.extend(default_roles(&[&admin.user_id]));
    (admin, steps)
}

/// Global, org `o_1234567890`, project `p_1234567890`; password auth method
/// `ampw_1234567890` in global with the admin (`u_1234567890`, account `acctpw_1234567890`)
/// and the unprivileged user (`u_0987654321`, account `acctpw_0987654321`); in the project,
/// host catalog `hcst_1234567890` with host `hst_1234567890` in host set `hsst_1234567890`,
/// the host source of tcp target `ttcp_1234567890`; Boundary's default roles
/// ([`default_roles`], [`scope_roles`]), and a role in the project that lets the
/// unprivileged user reach the generated target.
pub fn dev_seed(seed: &DevSeed) -> Vec<SeedStep> {
    let text = |s: &str| s.to_owned();
    let mut steps = vec![
        create(
            DEV_ORG_ID,
            NewItem::Scope(NewScope {
                scope_id: text(GLOBAL_SCOPE_ID),
                name: text("Generated org scope"),
                description: text("Provides an initial org scope in Boundary"),
            }),
        ),
        create(
            DEV_PROJECT_ID,
            NewItem::Scope(NewScope {
                scope_id: text(DEV_ORG_ID),
                name: text("Generated project scope"),
                description: text("Provides an initial project scope in Boundary"),
            }),
        ),
        create(
            DEV_AUTH_METHOD_ID,
            NewItem::AuthMethod(NewAuthMethod {
                scope_id: text(GLOBAL_SCOPE_ID),
                name: text(AUTH_METHOD_NAME),
                description: text(
                    "Provides initial administrative and unprivileged authentication into Boundary",
                ),
            }),
        ),
    ];
    steps.extend(person(
        DEV_AUTH_METHOD_ID,
        (DEV_ADMIN_USER_ID, DEV_ADMIN_ACCOUNT_ID),
        (&seed.login_name, &seed.password),
        ADMIN_NAME,
    ));
    steps.extend(person(
        DEV_AUTH_METHOD_ID,
        (DEV_USER_ID, DEV_USER_ACCOUNT_ID),
        (&seed.unprivileged_login_name, &seed.unprivileged_password),
        ("user", "Initial unprivileged user"),
    ));
    steps.extend([
        create(
            DEV_HOST_CATALOG_ID,
            NewItem::HostCatalog(NewHostCatalog {
                scope_id: text(DEV_PROJECT_ID),
                name: text("Generated host catalog"),
                description: text("Provides an initial host catalog in Boundary"),
            }),
        ),
        create(
            DEV_HOST_ID,
            NewItem::Host(NewHost {
                host_catalog_id: text(DEV_HOST_CATALOG_ID),
                name: text("Generated host"),
                description: text("Provides an initial host in Boundary"),
                address: seed.host_address.clone(),
            }),
        ),
        create(
            DEV_HOST_SET_ID,
            NewItem::HostSet(NewHostSet {
                host_catalog_id: text(DEV_HOST_CATALOG_ID),
                name: text("Generated host set"),
                description: text("Provides an initial host set in Boundary"),
            }),
        ),
        members::<HostIds>(KindId::HostSet, DEV_HOST_SET_ID, &[DEV_HOST_ID]),
        create(
            DEV_TARGET_ID,
            NewItem::Target(NewTarget {
                scope_id: text(DEV_PROJECT_ID),
                name: text("Generated target"),
                description: text("Provides an initial target in Boundary"),
                default_port: Some(u32::from(seed.target_default_port)),
                default_client_port: None,
                address: None,
                session_max_seconds: Some(seed.target_session_max_seconds),
                session_connection_limit: Some(seed.target_session_connection_limit.wire()),
                egress_worker_filter: None,
            }),
        ),
        members::<HostSourceIds>(KindId::Target, DEV_TARGET_ID, &[DEV_HOST_SET_ID]),
    ]);
    steps.extend(default_roles(&[DEV_ADMIN_USER_ID]));
    steps.extend(scope_roles(DEV_ORG_ID, "org", None, true));
    steps.extend(scope_roles(DEV_PROJECT_ID, "project", None, true));
    steps.extend(role(
        DEV_PROJECT_ID,
        (
            "Generated target access",
            "Lets the unprivileged dev user list the project's targets and connect to the generated target",
        ),
        &[DEV_USER_ID],
        &[
            "type=target;actions=list",
            &format!("ids={DEV_TARGET_ID};actions=read,authorize-session"),
        ],
        &[GRANT_SCOPE_THIS],
    ));
    steps
}
