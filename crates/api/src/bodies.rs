//! Request bodies, in Boundary's JSON shape. The server reads them (every refusal names the
//! field's dotted path); the client writes them. Fields are optional so that a missing one
//! can be refused by name, and absent ones are left out when written.
//!
//! In an update, an absent field keeps its value and `null` clears it: [`clearable`] reads
//! `null` as `Some(default)`, which the store takes as "clear" (`Some("")`, port `Some(0)`).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::ConnectionLimit;

/// Declares a body: every field is optional (absent reads as its default) and left out when
/// written if it holds its default.
macro_rules! body {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $($(#[$field_meta:meta])* pub $field:ident: $type:ty,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
        pub struct $name {
            $(
                $(#[$field_meta])*
                #[serde(default, skip_serializing_if = "is_default")]
                pub $field: $type,
            )*
        }
    };
}

/// An update body: it names the version it was read at.
pub trait Update {
    fn version(&self) -> Option<u32>;
}

body! {
    /// Create body of the kinds whose parent is a scope and that have no fields of their own:
    /// scopes (parent: global or an org), auth methods and users (global or an org), host
    /// catalogs (a project).
    pub struct ScopedCreate {
        pub scope_id: Option<String>,
        pub name: Option<String>,
        pub description: Option<String>,
        /// The subtype (`password`, `static`); each kind has one.
        #[serde(rename = "type")]
        pub kind: Option<String>,
    }
}

body! {
    pub struct HostSetCreate {
        pub host_catalog_id: Option<String>,
        pub name: Option<String>,
        pub description: Option<String>,
        #[serde(rename = "type")]
        pub kind: Option<String>,
    }
}

body! {
    pub struct HostCreate {
        pub host_catalog_id: Option<String>,
        pub name: Option<String>,
        pub description: Option<String>,
        #[serde(rename = "type")]
        pub kind: Option<String>,
        pub attributes: Option<HostAddress>,
    }
}

body! {
    /// A static host's `attributes`.
    pub struct HostAddress {
        /// A host name or IP address, without scheme or port.
        pub address: Option<String>,
    }
}

body! {
    pub struct AccountCreate {
        pub auth_method_id: Option<String>,
        pub name: Option<String>,
        pub description: Option<String>,
        #[serde(rename = "type")]
        pub kind: Option<String>,
        pub attributes: Option<Credentials>,
    }
}

/// A password account's login name and password: the `attributes` of an account to create
/// and of `:authenticate`. Debug masks the password.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Credentials {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("login_name", &self.login_name)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

body! {
    /// A tcp target.
    pub struct TargetCreate {
        /// A project.
        pub scope_id: Option<String>,
        /// Required, unique within the project.
        pub name: Option<String>,
        pub description: Option<String>,
        #[serde(rename = "type")]
        pub kind: Option<String>,
        /// A direct address instead of host sources.
        pub address: Option<String>,
        pub session_max_seconds: Option<u32>,
        pub session_connection_limit: Option<ConnectionLimit>,
        pub egress_worker_filter: Option<String>,
        pub attributes: Option<TcpPorts>,
    }
}

body! {
    /// A tcp target's `attributes`. Ports are `u32` so that an out-of-range one reaches the
    /// store's check, whose error names the field.
    pub struct TcpPorts {
        /// The endpoint's port: required to create.
        pub default_port: Option<u32>,
        /// The port a client proxy listens on by default; in an update `null` or 0 clears it.
        #[serde(deserialize_with = "clearable")]
        pub default_client_port: Option<u32>,
    }
}

body! {
    /// Update body of the kinds whose only changeable fields are `name` and `description`.
    pub struct NameUpdate {
        pub version: Option<u32>,
        #[serde(deserialize_with = "clearable")]
        pub name: Option<String>,
        #[serde(deserialize_with = "clearable")]
        pub description: Option<String>,
    }
}

body! {
    pub struct AccountUpdate {
        pub version: Option<u32>,
        #[serde(deserialize_with = "clearable")]
        pub name: Option<String>,
        #[serde(deserialize_with = "clearable")]
        pub description: Option<String>,
        pub attributes: Option<LoginName>,
    }
}

body! {
    /// An account's changeable `attributes`.
    pub struct LoginName {
        pub login_name: Option<String>,
    }
}

body! {
    pub struct HostUpdate {
        pub version: Option<u32>,
        #[serde(deserialize_with = "clearable")]
        pub name: Option<String>,
        #[serde(deserialize_with = "clearable")]
        pub description: Option<String>,
        pub attributes: Option<HostAddress>,
    }
}

body! {
    pub struct TargetUpdate {
        pub version: Option<u32>,
        #[serde(deserialize_with = "clearable")]
        pub name: Option<String>,
        #[serde(deserialize_with = "clearable")]
        pub description: Option<String>,
        /// `""` or `null` clears it.
        #[serde(deserialize_with = "clearable")]
        pub address: Option<String>,
        pub session_max_seconds: Option<u32>,
        pub session_connection_limit: Option<ConnectionLimit>,
        pub egress_worker_filter: Option<String>,
        pub attributes: Option<TcpPorts>,
    }
}

macro_rules! impl_update {
    ($($body:ty),*) => {
        $(impl Update for $body {
            fn version(&self) -> Option<u32> {
                self.version
            }
        })*
    };
}

impl_update!(NameUpdate, AccountUpdate, HostUpdate, TargetUpdate, Version);

body! {
    /// The body of a session's `:cancel`: the version it was read at.
    pub struct Version {
        pub version: Option<u32>,
    }
}

/// The body of a membership action (`:add-<members>`, `:set-…`, `:remove-…`): the version
/// and the member ids, under a field named after the members.
pub trait Members: Serialize {
    /// The ids' field: `host_ids`, `host_source_ids`, `account_ids`.
    const FIELD: &'static str;
    fn new(version: u32, ids: Vec<String>) -> Self;
}

macro_rules! members {
    ($($(#[$meta:meta])* $name:ident { $field:ident })*) => {
        $(
            $(#[$meta])*
            #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
            pub struct $name {
                pub version: u32,
                pub $field: Vec<String>,
            }

            impl Members for $name {
                const FIELD: &'static str = stringify!($field);
                fn new(version: u32, ids: Vec<String>) -> Self {
                    Self { version, $field: ids }
                }
            }
        )*
    };
}

members! {
    /// A host set's hosts.
    HostIds { host_ids }
    /// A target's host sets.
    HostSourceIds { host_source_ids }
    /// A user's accounts.
    AccountIds { account_ids }
    /// A group's users.
    MemberIds { member_ids }
    /// A role's users and groups.
    PrincipalIds { principal_ids }
    /// A role's grants.
    GrantStrings { grant_strings }
    /// The scopes a role's grants apply to.
    GrantScopeIds { grant_scope_ids }
}

body! {
    /// The body of an auth method's `:authenticate`. Older clients send `credentials` instead
    /// of `attributes`.
    pub struct Authenticate {
        /// `login` (the default) is the only command of a password auth method.
        pub command: Option<String>,
        pub attributes: Option<Credentials>,
        pub credentials: Option<Credentials>,
    }
}

impl Authenticate {
    pub fn login(login_name: &str, password: &str) -> Self {
        Self {
            command: Some("login".into()),
            attributes: Some(Credentials {
                login_name: Some(login_name.into()),
                password: Some(password.into()),
            }),
            credentials: None,
        }
    }
}

body! {
    /// The body of a target's `:authorize-session`.
    pub struct AuthorizeSession {
        /// A host of the target's host sets; otherwise one at random.
        pub host_id: Option<String>,
        /// When the target is named instead of identified: the project it is in.
        pub scope_id: Option<String>,
    }
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// For an update: absent stays `None` (the field keeps its value), `null` becomes
/// `Some(default)` (the field is cleared), a value is `Some(value)`.
fn clearable<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Some(
        Option::<T>::deserialize(deserializer)?.unwrap_or_default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_keeps_null_clears() {
        let update: TargetUpdate = serde_json::from_str(
            r#"{"version":2,"name":null,"address":"","attributes":{"default_client_port":null}}"#,
        )
        .unwrap();
        assert_eq!(update.version(), Some(2));
        assert_eq!(update.name.as_deref(), Some(""));
        assert_eq!(update.description, None);
        assert_eq!(update.address.as_deref(), Some(""));
        let ports = update.attributes.unwrap();
        assert_eq!(ports.default_client_port, Some(0));
        assert_eq!(ports.default_port, None);
        let update: HostUpdate = serde_json::from_str(r#"{"attributes":null}"#).unwrap();
        assert_eq!(update.attributes, None);
    }

    #[test]
    fn written_bodies_leave_out_what_is_not_given() {
        let body = TargetCreate {
            scope_id: Some("p_1234567890".into()),
            name: Some("t".into()),
            kind: Some("tcp".into()),
            attributes: Some(TcpPorts {
                default_port: Some(22),
                default_client_port: None,
            }),
            ..TargetCreate::default()
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"scope_id":"p_1234567890","name":"t","type":"tcp","attributes":{"default_port":22}}"#
        );
        let members = HostIds::new(3, vec!["hst_1".into()]);
        assert_eq!(
            serde_json::to_string(&members).unwrap(),
            r#"{"version":3,"host_ids":["hst_1"]}"#
        );
        assert_eq!(HostSourceIds::FIELD, "host_source_ids");
    }

    #[test]
    fn passwords_stay_out_of_debug() {
        let body = Authenticate::login("admin", "hunter22");
        let debug = format!("{body:?}");
        assert!(!debug.contains("hunter22"), "{debug}");
        assert!(debug.contains("admin"), "{debug}");
    }
}
