//! The resources `postern dev` starts with, under Boundary's well-known dev ids.

use super::super::input::{
    DevSeed, NewAccount, NewAuthMethod, NewHost, NewHostCatalog, NewHostSet, NewScope, NewTarget,
    NewUser,
};
use super::super::kind::{KindId, NewItem};
use super::super::Change;
use super::super::ResourceError;
use super::super::GLOBAL_SCOPE_ID;
use super::MemoryStore;
use crate::sessions::Clock;

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

impl MemoryStore {
    /// Global, org `o_1234567890`, project `p_1234567890`; password auth method
    /// `ampw_1234567890` in global with the admin (`u_1234567890`, account
    /// `acctpw_1234567890`) and the unprivileged user (`u_0987654321`, account
    /// `acctpw_0987654321`); in the project, host catalog `hcst_1234567890` with host
    /// `hst_1234567890` in host set `hsst_1234567890`, the host source of tcp target
    /// `ttcp_1234567890`. The seed's values go through the same checks as API requests.
    pub fn dev(seed: &DevSeed) -> Result<Self, ResourceError> {
        Self::dev_with_clock(seed, postern_authority::system_clock())
    }

    /// [`MemoryStore::dev`] reading the time from `clock`.
    pub fn dev_with_clock(seed: &DevSeed, clock: Clock) -> Result<Self, ResourceError> {
        let store = Self::with_clock(clock);
        let now = store.now();
        let mut state = store.lock();
        let text = |s: &str| s.to_owned();

        let org = NewScope {
            scope_id: text(GLOBAL_SCOPE_ID),
            name: text("Generated org scope"),
            description: text("Provides an initial org scope in Boundary"),
        };
        state.create(Some(DEV_ORG_ID), NewItem::Scope(org), now)?;
        let project = NewScope {
            scope_id: text(DEV_ORG_ID),
            name: text("Generated project scope"),
            description: text("Provides an initial project scope in Boundary"),
        };
        state.create(Some(DEV_PROJECT_ID), NewItem::Scope(project), now)?;

        let method = NewAuthMethod {
            scope_id: text(GLOBAL_SCOPE_ID),
            name: text("Generated global scope initial password auth method"),
            description: text(
                "Provides initial administrative and unprivileged authentication into Boundary",
            ),
        };
        state.create(Some(DEV_AUTH_METHOD_ID), NewItem::AuthMethod(method), now)?;
        let people = [
            (
                DEV_ADMIN_USER_ID,
                DEV_ADMIN_ACCOUNT_ID,
                &seed.login_name,
                &seed.password,
                true,
            ),
            (
                DEV_USER_ID,
                DEV_USER_ACCOUNT_ID,
                &seed.unprivileged_login_name,
                &seed.unprivileged_password,
                false,
            ),
        ];
        for (user_id, account_id, login_name, password, admin) in people {
            let account = NewAccount {
                auth_method_id: text(DEV_AUTH_METHOD_ID),
                login_name: login_name.clone(),
                password: password.clone(),
                ..NewAccount::default()
            };
            state.create(Some(account_id), NewItem::Account(account), now)?;
            let (name, description) = if admin {
                ("admin", r#"Initial admin user within the "global" scope"#)
            } else {
                ("user", "Initial unprivileged user")
            };
            let user = NewUser {
                scope_id: text(GLOBAL_SCOPE_ID),
                name: text(name),
                description: text(description),
                admin,
            };
            state.create(Some(user_id), NewItem::User(user), now)?;
            let accounts = [text(account_id)];
            state.change_members(KindId::User, user_id, 1, Change::Set, &accounts, now)?;
        }

        let catalog = NewHostCatalog {
            scope_id: text(DEV_PROJECT_ID),
            name: text("Generated host catalog"),
            description: text("Provides an initial host catalog in Boundary"),
        };
        state.create(
            Some(DEV_HOST_CATALOG_ID),
            NewItem::HostCatalog(catalog),
            now,
        )?;
        let host = NewHost {
            host_catalog_id: text(DEV_HOST_CATALOG_ID),
            name: text("Generated host"),
            description: text("Provides an initial host in Boundary"),
            address: seed.host_address.clone(),
        };
        state.create(Some(DEV_HOST_ID), NewItem::Host(host), now)?;
        let set = NewHostSet {
            host_catalog_id: text(DEV_HOST_CATALOG_ID),
            name: text("Generated host set"),
            description: text("Provides an initial host set in Boundary"),
        };
        state.create(Some(DEV_HOST_SET_ID), NewItem::HostSet(set), now)?;
        let hosts = [text(DEV_HOST_ID)];
        state.change_members(
            KindId::HostSet,
            DEV_HOST_SET_ID,
            1,
            Change::Set,
            &hosts,
            now,
        )?;

        let target = NewTarget {
            scope_id: text(DEV_PROJECT_ID),
            name: text("Generated target"),
            description: text("Provides an initial target in Boundary"),
            default_port: Some(u32::from(seed.target_default_port)),
            default_client_port: None,
            address: None,
            session_max_seconds: Some(seed.target_session_max_seconds),
            session_connection_limit: Some(seed.target_session_connection_limit.wire()),
        };
        state.create(Some(DEV_TARGET_ID), NewItem::Target(target), now)?;
        let sources = [text(DEV_HOST_SET_ID)];
        state.change_members(KindId::Target, DEV_TARGET_ID, 1, Change::Set, &sources, now)?;
        drop(state);
        Ok(store)
    }
}
