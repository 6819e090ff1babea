//! The resource items as the API shows them: Boundary's JSON field names
//! (`internal/proto/controller/api/resources/<kind>/v1/*.proto`), RFC 3339 times, empty
//! optional values left out. `scope` (the scope an item lives in) and the cross-references
//! (`host_set_ids` of a host, `login_name` of a user) are filled when the item is read.
//! `authorized_actions` is the API layer's to fill; empty, it is left out.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize, Serializer};

use crate::ConnectionLimit;

/// Id of the one global scope.
pub const GLOBAL_SCOPE_ID: &str = "global";
/// A target's session duration unless it says otherwise (8 h).
pub const DEFAULT_SESSION_MAX_SECONDS: u32 = 28_800;
/// How long an auth token lives (Boundary's default: 7 days).
pub const AUTH_TOKEN_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// The scope an item lives in, embedded in it as `"scope"`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeInfo {
    pub id: String,
    /// `global`, `org` or `project`.
    #[serde(rename = "type")]
    pub scope_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub parent_scope_id: String,
}

/// Declares the struct of an item kind: the fields every kind shares (`id`, `scope`, `name`,
/// `description`, the times, `version`, `authorized_actions`) around the kind's own.
macro_rules! item {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $($(#[$field_meta:meta])* pub $field:ident: $type:ty,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
        pub struct $name {
            /// The kind's prefix, `_` and 10 base62 characters.
            pub id: String,
            $($(#[$field_meta])* pub $field: $type,)*
            /// The scope it is in (a scope: its parent; global: itself).
            pub scope: ScopeInfo,
            #[serde(default, skip_serializing_if = "String::is_empty")]
            pub name: String,
            #[serde(default, skip_serializing_if = "String::is_empty")]
            pub description: String,
            #[serde(serialize_with = "rfc3339")]
            pub created_time: DateTime<Utc>,
            #[serde(serialize_with = "rfc3339")]
            pub updated_time: DateTime<Utc>,
            pub version: u32,
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            pub authorized_actions: Vec<String>,
            /// What the caller may do with the collections under it (`"targets": ["create",
            /// "list"]`): scopes, auth methods and host catalogs have some.
            #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
            pub authorized_collection_actions: BTreeMap<String, Vec<String>>,
        }

        impl $name {
            /// A blank item with its id and times, at version 1, for a kind's build to fill.
            pub fn stamped(id: String, now: DateTime<Utc>) -> Self {
                Self {
                    id,
                    created_time: now,
                    updated_time: now,
                    version: 1,
                    ..Self::default()
                }
            }
        }
    };
}

item! {
    pub struct Scope {
        /// The parent's id; empty (left out) for global.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub scope_id: String,
        /// `global`, `org` or `project`.
        #[serde(rename = "type")]
        pub scope_type: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub primary_auth_method_id: String,
    }
}

item! {
    pub struct AuthMethod {
        /// Global or an org.
        pub scope_id: String,
        /// `password`.
        #[serde(rename = "type")]
        pub kind: String,
        #[serde(default)]
        pub is_primary: bool,
    }
}

item! {
    pub struct User {
        /// Global or an org.
        pub scope_id: String,
        /// The login name of the primary (first) account.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub login_name: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub primary_account_id: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub account_ids: Vec<String>,
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountAttributes {
    pub login_name: String,
}

item! {
    /// A password account. The password is never part of it.
    pub struct Account {
        pub auth_method_id: String,
        /// `password`.
        #[serde(rename = "type")]
        pub kind: String,
        pub attributes: AccountAttributes,
    }
}

/// An auth token. `token` (`<id>_<secret>`) is set only in the authenticate response; Debug
/// masks it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthToken {
    /// `at_` + 10 base62 characters.
    pub id: String,
    /// The auth method's scope.
    pub scope_id: String,
    pub scope: ScopeInfo,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token: String,
    pub user_id: String,
    pub auth_method_id: String,
    pub account_id: String,
    #[serde(serialize_with = "rfc3339")]
    pub created_time: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    pub updated_time: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    pub approximate_last_used_time: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    pub expiration_time: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorized_actions: Vec<String>,
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let token = if self.token.is_empty() { "" } else { "***" };
        f.debug_struct("AuthToken")
            .field("id", &self.id)
            .field("scope_id", &self.scope_id)
            .field("token", &token)
            .field("user_id", &self.user_id)
            .field("auth_method_id", &self.auth_method_id)
            .field("account_id", &self.account_id)
            .field("expiration_time", &self.expiration_time)
            .finish_non_exhaustive()
    }
}

item! {
    pub struct HostCatalog {
        /// A project.
        pub scope_id: String,
        /// `static`.
        #[serde(rename = "type")]
        pub kind: String,
    }
}

item! {
    pub struct HostSet {
        pub host_catalog_id: String,
        /// `static`.
        #[serde(rename = "type")]
        pub kind: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub host_ids: Vec<String>,
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostAttributes {
    /// A host name or IP address, without scheme or port.
    pub address: String,
}

item! {
    pub struct Host {
        pub host_catalog_id: String,
        /// `static`.
        #[serde(rename = "type")]
        pub kind: String,
        pub attributes: HostAttributes,
        /// The host sets it is in.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub host_set_ids: Vec<String>,
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetAttributes {
    /// 1..=65535.
    pub default_port: u32,
    /// The port a client proxy listens on by default; 0 = none (left out).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub default_client_port: u32,
}

item! {
    pub struct Target {
        /// A project.
        pub scope_id: String,
        /// `tcp`.
        #[serde(rename = "type")]
        pub kind: String,
        pub attributes: TargetAttributes,
        /// A direct address (host name or IP, no port) used instead of host sources.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub address: Option<String>,
        /// Host set ids.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub host_source_ids: Vec<String>,
        pub session_max_seconds: u32,
        pub session_connection_limit: ConnectionLimit,
        /// Which workers may carry its sessions: a filter over each worker's
        /// `{"name", "tags": {key: [values]}}` (Boundary's `egress_worker_filter`).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub egress_worker_filter: String,
    }
}

/// A principal of a role, as the role shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolePrincipal {
    pub id: String,
    /// `user` or `group`.
    #[serde(rename = "type")]
    pub kind: String,
    pub scope_id: String,
}

/// A grant of a role: as given, in canonical form, and as JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleGrant {
    pub raw: String,
    pub canonical: String,
    pub json: serde_json::Value,
}

item! {
    /// Grants, the scopes they apply to, and who holds them.
    pub struct Role {
        /// Global, an org or a project.
        pub scope_id: String,
        /// `this`, `children`, `descendants` or scope ids; sorted.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub grant_scope_ids: Vec<String>,
        /// User and group ids (and `u_anon`, `u_auth`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub principal_ids: Vec<String>,
        /// Filled when read.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub principals: Vec<RolePrincipal>,
        /// As they were given.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub grant_strings: Vec<String>,
        /// Filled when read.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub grants: Vec<RoleGrant>,
    }
}

/// A member of a group, as the group shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMember {
    pub id: String,
    pub scope_id: String,
}

item! {
    /// Users who share roles.
    pub struct Group {
        /// Global, an org or a project.
        pub scope_id: String,
        /// User ids.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub member_ids: Vec<String>,
        /// Filled when read.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub members: Vec<GroupMember>,
    }
}

item! {
    /// A worker that links to the controllers over the cluster listener. The live fields
    /// (address, tags, last status, connections) come from the controller it is linked to
    /// and are absent while it is not linked; `controller_generated_activation_token` is in
    /// the create response only.
    pub struct Worker {
        /// Global.
        pub scope_id: String,
        /// `pki`.
        #[serde(rename = "type")]
        pub kind: String,
        /// SHA-256 (hex) of the certificate the worker holds; empty until it activates.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub certificate_sha256: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub address: String,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub config_tags: BTreeMap<String, Vec<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none", serialize_with = "rfc3339_opt")]
        pub last_status_time: Option<DateTime<Utc>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub active_connection_count: Option<u32>,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub release_version: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub controller_generated_activation_token: String,
    }
}

fn rfc3339_opt<S: Serializer>(
    time: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => rfc3339(time, serializer),
        None => serializer.serialize_none(),
    }
}

/// RFC 3339 in UTC with 0, 3, 6 or 9 fraction digits, as protojson writes timestamps.
fn rfc3339<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&time.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}
