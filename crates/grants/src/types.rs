//! The vocabulary grants are written in: resource types (Boundary's resource.go), the id
//! prefixes that tell a resource's type (globals/prefixes.go) and grant scopes.

/// A resource type as grants name it (Boundary's vocabulary: resource.go).
///
/// The order is Boundary's, so sorting agrees with its numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceType {
    Unknown,
    /// `*`: any type.
    All,
    Scope,
    User,
    Group,
    Role,
    AuthMethod,
    Account,
    AuthToken,
    HostCatalog,
    HostSet,
    Host,
    Target,
    /// Named in Boundary's vocabulary but refused in grants.
    Controller,
    Worker,
    Session,
    SessionRecording,
    ManagedGroup,
    CredentialStore,
    CredentialLibrary,
    Credential,
    StorageBucket,
    Policy,
    Billing,
    Alias,
}

impl ResourceType {
    /// Every type, in Boundary's order; `VARIANTS[t as usize] == t`.
    pub const VARIANTS: [ResourceType; 25] = [
        Self::Unknown,
        Self::All,
        Self::Scope,
        Self::User,
        Self::Group,
        Self::Role,
        Self::AuthMethod,
        Self::Account,
        Self::AuthToken,
        Self::HostCatalog,
        Self::HostSet,
        Self::Host,
        Self::Target,
        Self::Controller,
        Self::Worker,
        Self::Session,
        Self::SessionRecording,
        Self::ManagedGroup,
        Self::CredentialStore,
        Self::CredentialLibrary,
        Self::Credential,
        Self::StorageBucket,
        Self::Policy,
        Self::Billing,
        Self::Alias,
    ];

    /// The type a grant's `type=` names. Case-sensitive, as Boundary's map is (the text form
    /// lower-cases before asking). `"unknown"` parses, as in Boundary, and grants refuse it.
    pub fn parse(s: &str) -> Option<Self> {
        Self::VARIANTS.iter().copied().find(|t| t.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::All => "*",
            Self::Scope => "scope",
            Self::User => "user",
            Self::Group => "group",
            Self::Role => "role",
            Self::AuthMethod => "auth-method",
            Self::Account => "account",
            Self::AuthToken => "auth-token",
            Self::HostCatalog => "host-catalog",
            Self::HostSet => "host-set",
            Self::Host => "host",
            Self::Target => "target",
            Self::Controller => "controller",
            Self::Worker => "worker",
            Self::Session => "session",
            Self::SessionRecording => "session-recording",
            Self::ManagedGroup => "managed-group",
            Self::CredentialStore => "credential-store",
            Self::CredentialLibrary => "credential-library",
            Self::Credential => "credential",
            Self::StorageBucket => "storage-bucket",
            Self::Policy => "policy",
            Self::Billing => "billing",
            Self::Alias => "alias",
        }
    }

    /// The key of `authorized_collection_actions` (`resource.PluralString`).
    pub fn plural(self) -> &'static str {
        match self {
            Self::Unknown => "unknowns",
            Self::All => "*s",
            Self::Scope => "scopes",
            Self::User => "users",
            Self::Group => "groups",
            Self::Role => "roles",
            Self::AuthMethod => "auth-methods",
            Self::Account => "accounts",
            Self::AuthToken => "auth-tokens",
            Self::HostCatalog => "host-catalogs",
            Self::HostSet => "host-sets",
            Self::Host => "hosts",
            Self::Target => "targets",
            Self::Controller => "controllers",
            Self::Worker => "workers",
            Self::Session => "sessions",
            Self::SessionRecording => "session-recordings",
            Self::ManagedGroup => "managed-groups",
            Self::CredentialStore => "credential-stores",
            Self::CredentialLibrary => "credential-libraries",
            Self::Credential => "credentials",
            Self::StorageBucket => "storage-buckets",
            Self::Policy => "policies",
            Self::Billing => "billing",
            Self::Alias => "aliases",
        }
    }

    /// The type of the resource an id names, by its prefix (the text before the first `_`,
    /// or the whole id: `global` is the global scope). `None` for an unknown prefix.
    pub fn from_id(id: &str) -> Option<Self> {
        let prefix = id.split_once('_').map_or(id, |(p, _)| p);
        Some(match prefix {
            "at" => Self::AuthToken,
            "ampw" | "amoidc" | "amldap" => Self::AuthMethod,
            "acctpw" | "apw" | "acctoidc" | "acctldap" => Self::Account,
            "mgoidc" | "mgldap" => Self::ManagedGroup,
            "p" | "o" | "global" => Self::Scope,
            "u" => Self::User,
            "g" => Self::Group,
            "r" => Self::Role,
            "csst" | "cs" | "csvlt" => Self::CredentialStore,
            "clvlt" | "clvsclt" | "clvllt" => Self::CredentialLibrary,
            "cdvlt" | "credup" | "credupd" | "cred" | "credp" | "credspk" | "credjson" => {
                Self::Credential
            }
            "alt" => Self::Alias,
            "hcst" | "hcplg" | "hc" => Self::HostCatalog,
            "hsst" | "hsplg" | "hs" => Self::HostSet,
            "hst" | "hplg" | "h" => Self::Host,
            "s" => Self::Session,
            "ttcp" | "tssh" | "trdp" => Self::Target,
            "w" => Self::Worker,
            "sb" => Self::StorageBucket,
            "sr" => Self::SessionRecording,
            "pst" => Self::Policy,
            _ => return None,
        })
    }

    /// Like [`from_id`](Self::from_id) with Boundary's zero value for an unknown prefix.
    pub(crate) fn of_id(id: &str) -> Self {
        Self::from_id(id).unwrap_or(Self::Unknown)
    }

    /// The type a child type lives under; a type without a parent is its own.
    pub fn parent(self) -> Self {
        match self {
            Self::Account | Self::ManagedGroup => Self::AuthMethod,
            Self::HostSet | Self::Host => Self::HostCatalog,
            Self::CredentialLibrary | Self::Credential => Self::CredentialStore,
            other => other,
        }
    }

    /// Whether the type has child types (the inverse of [`parent`](Self::parent)).
    pub fn has_child_types(self) -> bool {
        matches!(
            self,
            Self::AuthMethod | Self::HostCatalog | Self::CredentialStore
        )
    }

    /// Whether the type has collections of its own (create and list), i.e. is not pinned
    /// under a parent resource.
    pub fn is_top_level(self) -> bool {
        matches!(
            self,
            Self::AuthMethod
                | Self::AuthToken
                | Self::CredentialStore
                | Self::Group
                | Self::HostCatalog
                | Self::Role
                | Self::Scope
                | Self::Session
                | Self::SessionRecording
                | Self::Target
                | Self::User
                | Self::StorageBucket
                | Self::Policy
                | Self::Alias
                | Self::Worker
        )
    }
}

impl std::fmt::Display for ResourceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which scopes a role's grants apply to, from one of its `grant_scope_ids`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GrantScope {
    /// The role's own scope.
    This,
    /// Every scope whose parent is the role's scope.
    Children,
    /// Every scope below global (a role in global only).
    Descendants,
    /// One named scope: `global`, `o_…` or `p_…`.
    Scope(String),
}

impl GrantScope {
    /// `this`, `children`, `descendants`, `global`, or an `o_`/`p_` id with an alphanumeric
    /// tail; anything else is junk. Whether the value suits the role's scope is the
    /// controller's check, not this one.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "this" => Some(Self::This),
            "children" => Some(Self::Children),
            "descendants" => Some(Self::Descendants),
            "global" => Some(Self::Scope(s.to_owned())),
            _ => {
                let tail = s.strip_prefix("o_").or_else(|| s.strip_prefix("p_"))?;
                let ok = !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_alphanumeric());
                ok.then(|| Self::Scope(s.to_owned()))
            }
        }
    }

    /// The text form, as stored in a role's `grant_scope_ids`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::This => "this",
            Self::Children => "children",
            Self::Descendants => "descendants",
            Self::Scope(id) => id,
        }
    }
}
