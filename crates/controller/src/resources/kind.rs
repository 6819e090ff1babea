//! Resource kinds as data: what each kind is called, where its items live, which members it
//! has and which actions it offers, in one table ([`KindId`]), and the typed face of each kind
//! ([`Kind`]) over the store's kind-tagged values ([`Item`], [`NewItem`], [`ItemPatch`]).
//!
//! Adding a kind: its model struct (`item!` in `model`), its `New`/`Patch` input, one row in
//! `kinds!` below with its [`Facts`], its `Build` (how it is made and changed), its API
//! `Resource` (how bodies are read), and one router line. Stores need no change: their rules
//! are written over the facts.

use chrono::{DateTime, Utc};
use postern_api::bodies::{
    AccountIds, GrantScopeIds, GrantStrings, HostIds, HostSourceIds, MemberIds, Members as _,
    PrincipalIds,
};
use postern_grants::ResourceType;
use serde::Serialize;

use super::ids::{
    ACCOUNT_PREFIX, AUTH_METHOD_PREFIX, GROUP_PREFIX, HOST_CATALOG_PREFIX, HOST_PREFIX,
    HOST_SET_PREFIX, ORG_PREFIX, PROJECT_PREFIX, ROLE_PREFIX, TARGET_PREFIX, USER_PREFIX,
    WORKER_PREFIX,
};
use super::input::{
    AccountPatch, AuthMethodPatch, GroupPatch, HostCatalogPatch, HostPatch, HostSetPatch,
    NewAccount, NewAuthMethod, NewGroup, NewHost, NewHostCatalog, NewHostSet, NewRole, NewScope,
    NewTarget, NewUser, NewWorker, RolePatch, ScopePatch, TargetPatch, UserPatch, WorkerPatch,
};
use super::{Account, AuthMethod, Host, HostCatalog, HostSet, Scope, ScopeInfo, Target, User};
use super::{Change, Group, ResourceError, Role, Worker};

/// Where a kind's items live: what `scope_id`, `auth_method_id` or `host_catalog_id` names
/// when they are created and listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parent {
    /// A scope (global, an org or a project; which ones, the store checks). Lists default to
    /// global and may be recursive.
    Scope,
    /// An item of another kind (an auth method, a host catalog). Lists must name it; they are
    /// never recursive.
    Item(KindId),
}

impl Parent {
    /// The field that names the parent in a create body and a list query.
    pub fn field(self) -> &'static str {
        match self {
            Parent::Scope => "scope_id",
            Parent::Item(KindId::AuthMethod) => "auth_method_id",
            Parent::Item(KindId::HostCatalog) => "host_catalog_id",
            Parent::Item(kind) => kind.name(),
        }
    }
}

/// The members a kind holds, changed with `:add-<action>`, `:set-<action>` and
/// `:remove-<action>` (body `{"version", "<field>": [...]}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Members {
    /// `hosts` in `:add-hosts`.
    pub action: &'static str,
    /// `host_ids`: the contract's [`postern_api::bodies::Members::FIELD`], and the item's
    /// field that holds them.
    pub field: &'static str,
    /// What the members are.
    pub of: MemberOf,
}

/// What a member list holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberOf {
    /// Items of a kind that live where their holder does.
    Kind(KindId),
    /// Users of any scope: a group's members.
    Users,
    /// Users and groups of any scope, and the built-in `u_anon` and `u_auth`: a role's
    /// principals.
    Principals,
    /// Grant strings: a role's grants.
    Grants,
    /// `this`, `children`, `descendants` and scope ids: where a role's grants apply.
    GrantScopes,
}

impl MemberOf {
    /// Whether ids of `kind`'s items may be in such a list (and leave it when deleted).
    pub fn holds(self, kind: KindId) -> bool {
        match self {
            MemberOf::Kind(member) => member == kind,
            MemberOf::Users => kind == KindId::User,
            MemberOf::Principals => matches!(kind, KindId::User | KindId::Group),
            MemberOf::Grants => false,
            MemberOf::GrantScopes => kind == KindId::Scope,
        }
    }
}

const CRUD: &[&str] = &["no-op", "read", "update", "delete"];
/// What may be done with a kind's collection in a scope (or under its parent item).
pub const COLLECTION_ACTIONS: &[&str] = &["create", "list"];

macro_rules! kinds {
    ($($variant:ident: $item:ty, $new:ty, $patch:ty, parent $parent:ident, members [$($members:ident)*], facts $facts:ident;)*) => {
        /// Every kind of resource the controller keeps.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum KindId { $($variant),* }

        impl KindId {
            pub const ALL: &'static [KindId] = &[$(KindId::$variant),*];

            /// Everything the store and the API know of the kind.
            pub fn facts(self) -> &'static Facts {
                match self { $(KindId::$variant => &$facts),* }
            }
        }

        /// An item of any kind, as a store hands it over.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Item { $($variant($item)),* }

        /// What creates an item of any kind.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum NewItem { $($variant($new)),* }

        /// What changes an item of any kind.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum ItemPatch { $($variant($patch)),* }

        impl Item {
            pub fn kind(&self) -> KindId {
                match self { $(Item::$variant(_) => KindId::$variant),* }
            }

            pub fn id(&self) -> &str {
                match self { $(Item::$variant(item) => &item.id),* }
            }

            pub fn name(&self) -> &str {
                match self { $(Item::$variant(item) => &item.name),* }
            }

            pub fn version(&self) -> u32 {
                match self { $(Item::$variant(item) => item.version),* }
            }

            /// The id of the scope or item it lives in (empty for global).
            pub fn parent_id(&self) -> &str {
                match self { $(Item::$variant(item) => item.parent_id()),* }
            }

            /// The member list in `field` ([`Members::field`]), for kinds that have it.
            pub fn members_mut(&mut self, field: &str) -> Option<&mut Vec<String>> {
                match self { $(Item::$variant(item) => item.members_mut(field)),* }
            }

            /// The scope it is in, as filled when read.
            pub fn scope(&self) -> &ScopeInfo {
                match self { $(Item::$variant(item) => &item.scope),* }
            }

            /// Records a change: bumps the version, stamps the time.
            pub fn touch(&mut self, now: DateTime<Utc>) {
                match self { $(Item::$variant(item) => item.touch(now)),* }
            }

            /// Shows the scope it is in.
            pub fn set_scope(&mut self, scope: ScopeInfo) {
                match self { $(Item::$variant(item) => item.scope = scope),* }
            }

            /// The item as JSON, as the API shows it (a backend stores this form).
            pub fn to_json(&self) -> serde_json::Result<String> {
                match self { $(Item::$variant(item) => serde_json::to_string(item)),* }
            }

            /// An item of `kind` from [`Item::to_json`]'s form.
            pub fn from_json(kind: KindId, json: &str) -> serde_json::Result<Self> {
                match kind { $(KindId::$variant => serde_json::from_str(json).map(Item::$variant)),* }
            }
        }

        impl NewItem {
            pub fn kind(&self) -> KindId {
                match self { $(NewItem::$variant(_) => KindId::$variant),* }
            }
        }

        impl ItemPatch {
            pub fn kind(&self) -> KindId {
                match self { $(ItemPatch::$variant(_) => KindId::$variant),* }
            }
        }

        /// Runs `$body` with `$K` standing for the model type of `$kind` (a [`KindId`]).
        macro_rules! with_kind {
            ($kind:expr, $K:ident => $body:expr) => {
                match $kind {
                    $($crate::resources::KindId::$variant => {
                        // Each kind's model type is named as its variant.
                        type $K = $crate::resources::$variant;
                        $body
                    })*
                }
            };
        }
        pub(crate) use with_kind;

        $(
            impl Kind for $item {
                const KIND: KindId = KindId::$variant;
                type New = $new;
                type Patch = $patch;

                fn from_item(item: Item) -> Result<Self, ResourceError> {
                    match item {
                        Item::$variant(item) => Ok(item),
                        other => Err(ResourceError::Store(format!(
                            "the store returned a {} where a {} was asked for",
                            other.kind().name(),
                            Self::KIND.name()
                        ))),
                    }
                }

                #[allow(unreachable_patterns)] // a store with one kind
                fn as_kind(item: &Item) -> Option<&Self> {
                    match item {
                        Item::$variant(item) => Some(item),
                        _ => None,
                    }
                }

                fn into_item(self) -> Item {
                    Item::$variant(self)
                }

                fn new_item(new: $new) -> NewItem {
                    NewItem::$variant(new)
                }

                #[allow(unreachable_patterns)] // a store with one kind
                fn take_new(new: NewItem) -> Option<$new> {
                    match new {
                        NewItem::$variant(new) => Some(new),
                        _ => None,
                    }
                }

                #[allow(unreachable_patterns)] // a store with one kind
                fn take_patch(patch: ItemPatch) -> Option<$patch> {
                    match patch {
                        ItemPatch::$variant(patch) => Some(patch),
                        _ => None,
                    }
                }

                fn new_parent_id(new: &$new) -> &str {
                    &new.$parent
                }

                fn touch(&mut self, now: DateTime<Utc>) {
                    self.version = self.version.saturating_add(1);
                    self.updated_time = now;
                }

                fn patch_item(patch: $patch) -> ItemPatch {
                    ItemPatch::$variant(patch)
                }

                fn parent_id(&self) -> &str {
                    &self.$parent
                }

                fn id(&self) -> &str {
                    &self.id
                }

                fn scope(&self) -> &ScopeInfo {
                    &self.scope
                }

                fn members_mut(&mut self, field: &str) -> Option<&mut Vec<String>> {
                    match field {
                        $(stringify!($members) => Some(&mut self.$members),)*
                        _ => None,
                    }
                }

                fn authorized_actions(&mut self) -> &mut Vec<String> {
                    &mut self.authorized_actions
                }

                fn authorized_collection_actions(
                    &mut self,
                ) -> &mut std::collections::BTreeMap<String, Vec<String>> {
                    &mut self.authorized_collection_actions
                }
            }
        )*
    };
}

kinds! {
    Scope: Scope, NewScope, ScopePatch, parent scope_id, members [], facts SCOPE;
    AuthMethod: AuthMethod, NewAuthMethod, AuthMethodPatch, parent scope_id, members [],
        facts AUTH_METHOD;
    User: User, NewUser, UserPatch, parent scope_id, members [account_ids], facts USER;
    Account: Account, NewAccount, AccountPatch, parent auth_method_id, members [],
        facts ACCOUNT;
    HostCatalog: HostCatalog, NewHostCatalog, HostCatalogPatch, parent scope_id, members [],
        facts HOST_CATALOG;
    HostSet: HostSet, NewHostSet, HostSetPatch, parent host_catalog_id, members [host_ids],
        facts HOST_SET;
    Host: Host, NewHost, HostPatch, parent host_catalog_id, members [], facts HOST;
    Target: Target, NewTarget, TargetPatch, parent scope_id, members [host_source_ids],
        facts TARGET;
    Group: Group, NewGroup, GroupPatch, parent scope_id, members [member_ids], facts GROUP;
    Role: Role, NewRole, RolePatch, parent scope_id,
        members [principal_ids grant_strings grant_scope_ids], facts ROLE;
    Worker: Worker, NewWorker, WorkerPatch, parent scope_id, members [], facts WORKER;
}

/// What the store and the API know of a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// In messages: `host set`.
    pub name: &'static str,
    /// The API collection: `/v1/<collection>`.
    pub collection: &'static str,
    /// The `type` of its items (the API offers one per kind), if it has one.
    pub subtype: Option<&'static str>,
    pub parent: Parent,
    /// The types of scope its items may be created in (kinds under an item: none).
    pub scope_types: &'static [&'static str],
    /// The prefix of its items' ids (a scope's depends on its type: [`scope_prefix`]).
    pub prefix: &'static str,
    pub members: &'static [Members],
    /// What grants call it.
    pub grant_type: ResourceType,
    /// Every action on one of its items, in the order `authorized_actions` lists them.
    pub actions: &'static [&'static str],
}

const IAM_SCOPES: &[&str] = &["global", "org"];
const ALL_SCOPES: &[&str] = &["global", "org", "project"];
const PROJECT: &[&str] = &["project"];

const SCOPE: Facts = Facts {
    name: "scope",
    collection: "scopes",
    subtype: None,
    parent: Parent::Scope,
    scope_types: IAM_SCOPES,
    prefix: ORG_PREFIX,
    members: &[],
    grant_type: ResourceType::Scope,
    actions: CRUD,
};

const AUTH_METHOD: Facts = Facts {
    name: "auth method",
    collection: "auth-methods",
    subtype: Some("password"),
    parent: Parent::Scope,
    scope_types: IAM_SCOPES,
    prefix: AUTH_METHOD_PREFIX,
    members: &[],
    grant_type: ResourceType::AuthMethod,
    actions: &["no-op", "read", "update", "delete", "authenticate"],
};

const USER: Facts = Facts {
    name: "user",
    collection: "users",
    subtype: None,
    parent: Parent::Scope,
    scope_types: IAM_SCOPES,
    prefix: USER_PREFIX,
    members: &[Members {
        action: "accounts",
        field: AccountIds::FIELD,
        of: MemberOf::Kind(KindId::Account),
    }],
    grant_type: ResourceType::User,
    actions: &[
        "no-op",
        "read",
        "update",
        "delete",
        "add-accounts",
        "set-accounts",
        "remove-accounts",
    ],
};

const ACCOUNT: Facts = Facts {
    name: "account",
    collection: "accounts",
    subtype: Some("password"),
    parent: Parent::Item(KindId::AuthMethod),
    scope_types: &[],
    prefix: ACCOUNT_PREFIX,
    members: &[],
    grant_type: ResourceType::Account,
    actions: CRUD,
};

const HOST_CATALOG: Facts = Facts {
    name: "host catalog",
    collection: "host-catalogs",
    subtype: Some("static"),
    parent: Parent::Scope,
    scope_types: PROJECT,
    prefix: HOST_CATALOG_PREFIX,
    members: &[],
    grant_type: ResourceType::HostCatalog,
    actions: CRUD,
};

const HOST_SET: Facts = Facts {
    name: "host set",
    collection: "host-sets",
    subtype: Some("static"),
    parent: Parent::Item(KindId::HostCatalog),
    scope_types: &[],
    prefix: HOST_SET_PREFIX,
    members: &[Members {
        action: "hosts",
        field: HostIds::FIELD,
        of: MemberOf::Kind(KindId::Host),
    }],
    grant_type: ResourceType::HostSet,
    actions: &[
        "no-op",
        "read",
        "update",
        "delete",
        "add-hosts",
        "set-hosts",
        "remove-hosts",
    ],
};

const HOST: Facts = Facts {
    name: "host",
    collection: "hosts",
    subtype: Some("static"),
    parent: Parent::Item(KindId::HostCatalog),
    scope_types: &[],
    prefix: HOST_PREFIX,
    members: &[],
    grant_type: ResourceType::Host,
    actions: CRUD,
};

const TARGET: Facts = Facts {
    name: "target",
    collection: "targets",
    subtype: Some("tcp"),
    parent: Parent::Scope,
    scope_types: PROJECT,
    prefix: TARGET_PREFIX,
    members: &[Members {
        action: "host-sources",
        field: HostSourceIds::FIELD,
        of: MemberOf::Kind(KindId::HostSet),
    }],
    grant_type: ResourceType::Target,
    actions: &[
        "no-op",
        "read",
        "update",
        "delete",
        "add-host-sources",
        "set-host-sources",
        "remove-host-sources",
        "authorize-session",
    ],
};

const WORKER: Facts = Facts {
    name: "worker",
    collection: "workers",
    subtype: None,
    parent: Parent::Scope,
    scope_types: &["global"],
    prefix: WORKER_PREFIX,
    members: &[],
    grant_type: ResourceType::Worker,
    actions: CRUD,
};

const GROUP: Facts = Facts {
    name: "group",
    collection: "groups",
    subtype: None,
    parent: Parent::Scope,
    scope_types: ALL_SCOPES,
    prefix: GROUP_PREFIX,
    members: &[Members {
        action: "members",
        field: MemberIds::FIELD,
        of: MemberOf::Users,
    }],
    grant_type: ResourceType::Group,
    actions: &[
        "no-op",
        "read",
        "update",
        "delete",
        "add-members",
        "set-members",
        "remove-members",
    ],
};

const ROLE: Facts = Facts {
    name: "role",
    collection: "roles",
    subtype: None,
    parent: Parent::Scope,
    scope_types: ALL_SCOPES,
    prefix: ROLE_PREFIX,
    members: &[
        Members {
            action: "principals",
            field: PrincipalIds::FIELD,
            of: MemberOf::Principals,
        },
        Members {
            action: "grants",
            field: GrantStrings::FIELD,
            of: MemberOf::Grants,
        },
        Members {
            action: "grant-scopes",
            field: GrantScopeIds::FIELD,
            of: MemberOf::GrantScopes,
        },
    ],
    grant_type: ResourceType::Role,
    actions: &[
        "no-op",
        "read",
        "update",
        "delete",
        "add-principals",
        "set-principals",
        "remove-principals",
        "add-grants",
        "set-grants",
        "remove-grants",
        "add-grant-scopes",
        "set-grant-scopes",
        "remove-grant-scopes",
    ],
};

impl KindId {
    pub fn name(self) -> &'static str {
        self.facts().name
    }

    /// The kind whose collection is `collection` (`host-sets`).
    pub fn from_collection(collection: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|kind| kind.collection() == collection)
    }

    pub fn collection(self) -> &'static str {
        self.facts().collection
    }

    pub fn subtype(self) -> Option<&'static str> {
        self.facts().subtype
    }

    pub fn parent(self) -> Parent {
        self.facts().parent
    }

    pub fn members(self) -> &'static [Members] {
        self.facts().members
    }

    /// The member list an action changes (`add-hosts` -> hosts), and how.
    pub fn membership_action(self, action: &str) -> Option<(Members, Change)> {
        self.members()
            .iter()
            .find_map(|m| Some((*m, Change::from_action(action, m.action)?)))
    }

    pub fn actions(self) -> &'static [&'static str] {
        self.facts().actions
    }

    pub fn grant_type(self) -> ResourceType {
        self.facts().grant_type
    }

    pub fn scope_types(self) -> &'static [&'static str] {
        self.facts().scope_types
    }

    pub fn prefix(self) -> &'static str {
        self.facts().prefix
    }
}

/// The type and id prefix of a scope created in a scope of `parent_type`: orgs in global,
/// projects in an org.
pub fn scope_prefix(parent_type: &str) -> Option<(&'static str, &'static str)> {
    match parent_type {
        "global" => Some(("org", ORG_PREFIX)),
        "org" => Some(("project", PROJECT_PREFIX)),
        _ => None,
    }
}

/// One kind, typed: the model struct, what creates it and what changes it.
pub trait Kind: Serialize + Clone + Send + Sync + Sized + 'static {
    const KIND: KindId;
    type New: Send + 'static;
    type Patch: Send + 'static;

    /// The item, if the store handed over this kind (anything else is a store fault).
    fn from_item(item: Item) -> Result<Self, ResourceError>;
    fn as_kind(item: &Item) -> Option<&Self>;
    fn into_item(self) -> Item;
    fn new_item(new: Self::New) -> NewItem;
    fn patch_item(patch: Self::Patch) -> ItemPatch;
    /// The `New` value inside, if it is of this kind.
    fn take_new(new: NewItem) -> Option<Self::New>;
    /// The `Patch` value inside, if it is of this kind.
    fn take_patch(patch: ItemPatch) -> Option<Self::Patch>;
    /// Where a new item will live.
    fn new_parent_id(new: &Self::New) -> &str;
    /// Records a change: bumps the version, stamps the time.
    fn touch(&mut self, now: DateTime<Utc>);
    /// The id of the scope or item it lives in (empty for global).
    fn parent_id(&self) -> &str;
    fn id(&self) -> &str;
    /// The scope it is in, as filled when read (a scope: its parent; global: itself).
    fn scope(&self) -> &ScopeInfo;
    /// The member list in `field` ([`Members::field`]), for kinds that have it.
    fn members_mut(&mut self, field: &str) -> Option<&mut Vec<String>>;
    /// Filled by the API for the caller; the store leaves it empty.
    fn authorized_actions(&mut self) -> &mut Vec<String>;
    /// Filled by the API for the caller; the store leaves it empty.
    fn authorized_collection_actions(
        &mut self,
    ) -> &mut std::collections::BTreeMap<String, Vec<String>>;
}
