//! The resources `postern dev` starts with, under Boundary's well-known dev ids, as data:
//! the steps any [`ResourceStore`](super::ResourceStore) backend applies in order, each with
//! the same checks as an API request.

use super::ids::{new_id, ACCOUNT_PREFIX, AUTH_METHOD_PREFIX, USER_PREFIX};
use super::input::{
    DevSeed, NewAccount, NewAuthMethod, NewHost, NewHostCatalog, NewHostSet, NewScope, NewTarget,
    NewUser,
};
use super::kind::{KindId, NewItem};
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
    /// Set the members of the item (at version 1, as created).
    SetMembers {
        kind: KindId,
        id: String,
        members: Vec<String>,
    },
}

fn create(id: &str, new: NewItem) -> SeedStep {
    SeedStep::Create {
        id: id.to_owned(),
        new,
    }
}

fn members(kind: KindId, id: &str, member: &str) -> SeedStep {
    SeedStep::SetMembers {
        kind,
        id: id.to_owned(),
        members: vec![member.to_owned()],
    }
}

/// A user with one password account: the account, the user, and the user's membership.
fn person(
    auth_method_id: &str,
    (user_id, account_id): (&str, &str),
    (login_name, password): (&str, &str),
    (name, description): (&str, &str),
    admin: bool,
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
        admin,
    };
    [
        create(account_id, NewItem::Account(account)),
        create(user_id, NewItem::User(user)),
        members(KindId::User, user_id, account_id),
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
        true,
    ));
    (admin, steps)
}

/// Global, org `o_1234567890`, project `p_1234567890`; password auth method
/// `ampw_1234567890` in global with the admin (`u_1234567890`, account `acctpw_1234567890`)
/// and the unprivileged user (`u_0987654321`, account `acctpw_0987654321`); in the project,
/// host catalog `hcst_1234567890` with host `hst_1234567890` in host set `hsst_1234567890`,
/// the host source of tcp target `ttcp_1234567890`.
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
        true,
    ));
    steps.extend(person(
        DEV_AUTH_METHOD_ID,
        (DEV_USER_ID, DEV_USER_ACCOUNT_ID),
        (&seed.unprivileged_login_name, &seed.unprivileged_password),
        ("user", "Initial unprivileged user"),
        false,
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
        members(KindId::HostSet, DEV_HOST_SET_ID, DEV_HOST_ID),
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
            }),
        ),
        members(KindId::Target, DEV_TARGET_ID, DEV_HOST_SET_ID),
    ]);
    steps
}
