//! Resource kinds as data: what each kind is called, where its items live, which members it
//! has and which actions it offers, in one table ([`KindId`]), and the typed face of each kind
//! ([`Kind`]) over the store's kind-tagged values ([`Item`], [`NewItem`], [`ItemPatch`]).
//!
//! Adding a kind: its model struct (`item!` in `model`), its `New`/`Patch` input, one row in
//! `kinds!` below with its [`Facts`], its `Build` (how it is made and changed), its API
//! `Resource` (how bodies are read), and one router line. Stores need no change: their rules
//! are written over the facts.

use chrono::{DateTime, Utc};
use postern_api::bodies::{AccountIds, HostIds, HostSourceIds, Members as _};
use serde::Serialize;

use super::ids::{
    ACCOUNT_PREFIX, AUTH_METHOD_PREFIX, HOST_CATALOG_PREFIX, HOST_PREFIX, HOST_SET_PREFIX,
    ORG_PREFIX, PROJECT_PREFIX, TARGET_PREFIX, USER_PREFIX,
};
use super::input::{
    AccountPatch, AuthMethodPatch, HostCatalogPatch, HostPatch, HostSetPatch, NewAccount,
    NewAuthMethod, NewHost, NewHostCatalog, NewHostSet, NewScope, NewTarget, NewUser, ScopePatch,
    TargetPatch, UserPatch,
};
use super::{Account, AuthMethod, Host, HostCatalog, HostSet, Scope, ScopeInfo, Target, User};
use super::{Principal, ResourceError};

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
    /// `host_ids`: the contract's [`postern_api::bodies::Members::FIELD`].
    pub field: &'static str,
    /// What the members are.
    pub kind: KindId,
}

/// The actions of a kind: all of them for an admin, `others` for any other caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actions {
    pub admin: &'static [&'static str],
    pub others: &'static [&'static str],
}

impl Actions {
    /// The actions the caller holds on an item of this kind.
    fn of(&self, principal: Option<&Principal>) -> &'static [&'static str] {
        match principal {
            Some(p) if p.admin => self.admin,
            _ => self.others,
        }
    }

    pub fn for_caller(&self, principal: Option<&Principal>) -> Vec<String> {
        self.of(principal).iter().map(|a| (*a).to_owned()).collect()
    }

    /// Whether the caller may do `action` on an item of this kind.
    pub fn allows(&self, principal: Option<&Principal>, action: &str) -> bool {
        self.of(principal).contains(&action)
    }
}

const CRUD: &[&str] = &["no-op", "read", "update", "delete"];
const READ: &[&str] = &["no-op", "read"];

/// Who may list a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListAccess {
    /// Whoever may read its items.
    Readers,
    /// Anyone, anonymous callers included, in the global scope (how a client finds the auth
    /// method to log in with); any caller with a token elsewhere.
    Public,
}

macro_rules! kinds {
    ($($variant:ident: $item:ty, $new:ty, $patch:ty, parent $parent:ident, members [$($members:ident)?], facts $facts:ident;)*) => {
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

            /// The ids of its members, for kinds that have them.
            pub fn members_mut(&mut self) -> Option<&mut Vec<String>> {
                match self { $(Item::$variant(item) => item.members_mut()),* }
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

                fn members_mut(&mut self) -> Option<&mut Vec<String>> {
                    None $(.or(Some(&mut self.$members)))?
                }

                fn authorized_actions(&mut self) -> &mut Vec<String> {
                    &mut self.authorized_actions
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
    pub members: Option<Members>,
    pub actions: Actions,
    pub list_access: ListAccess,
}

const IAM_SCOPES: &[&str] = &["global", "org"];
const PROJECT: &[&str] = &["project"];
const ADMIN_CRUD: Actions = Actions {
    admin: CRUD,
    others: &[],
};

const SCOPE: Facts = Facts {
    name: "scope",
    collection: "scopes",
    subtype: None,
    parent: Parent::Scope,
    scope_types: IAM_SCOPES,
    prefix: ORG_PREFIX,
    members: None,
    actions: Actions {
        admin: CRUD,
        others: READ,
    },
    list_access: ListAccess::Readers,
};

const AUTH_METHOD: Facts = Facts {
    name: "auth method",
    collection: "auth-methods",
    subtype: Some("password"),
    parent: Parent::Scope,
    scope_types: IAM_SCOPES,
    prefix: AUTH_METHOD_PREFIX,
    members: None,
    actions: Actions {
        admin: &["no-op", "read", "update", "delete", "authenticate"],
        others: &["no-op", "authenticate"],
    },
    list_access: ListAccess::Public,
};

const USER: Facts = Facts {
    name: "user",
    collection: "users",
    subtype: None,
    parent: Parent::Scope,
    scope_types: IAM_SCOPES,
    prefix: USER_PREFIX,
    members: Some(Members {
        action: "accounts",
        field: AccountIds::FIELD,
        kind: KindId::Account,
    }),
    actions: Actions {
        admin: &[
            "no-op",
            "read",
            "update",
            "delete",
            "add-accounts",
            "set-accounts",
            "remove-accounts",
        ],
        others: &[],
    },
    list_access: ListAccess::Readers,
};

const ACCOUNT: Facts = Facts {
    name: "account",
    collection: "accounts",
    subtype: Some("password"),
    parent: Parent::Item(KindId::AuthMethod),
    scope_types: &[],
    prefix: ACCOUNT_PREFIX,
    members: None,
    actions: ADMIN_CRUD,
    list_access: ListAccess::Readers,
};

const HOST_CATALOG: Facts = Facts {
    name: "host catalog",
    collection: "host-catalogs",
    subtype: Some("static"),
    parent: Parent::Scope,
    scope_types: PROJECT,
    prefix: HOST_CATALOG_PREFIX,
    members: None,
    actions: ADMIN_CRUD,
    list_access: ListAccess::Readers,
};

const HOST_SET: Facts = Facts {
    name: "host set",
    collection: "host-sets",
    subtype: Some("static"),
    parent: Parent::Item(KindId::HostCatalog),
    scope_types: &[],
    prefix: HOST_SET_PREFIX,
    members: Some(Members {
        action: "hosts",
        field: HostIds::FIELD,
        kind: KindId::Host,
    }),
    actions: Actions {
        admin: &[
            "no-op",
            "read",
            "update",
            "delete",
            "add-hosts",
            "set-hosts",
            "remove-hosts",
        ],
        others: &[],
    },
    list_access: ListAccess::Readers,
};

const HOST: Facts = Facts {
    name: "host",
    collection: "hosts",
    subtype: Some("static"),
    parent: Parent::Item(KindId::HostCatalog),
    scope_types: &[],
    prefix: HOST_PREFIX,
    members: None,
    actions: ADMIN_CRUD,
    list_access: ListAccess::Readers,
};

const TARGET: Facts = Facts {
    name: "target",
    collection: "targets",
    subtype: Some("tcp"),
    parent: Parent::Scope,
    scope_types: PROJECT,
    prefix: TARGET_PREFIX,
    members: Some(Members {
        action: "host-sources",
        field: HostSourceIds::FIELD,
        kind: KindId::HostSet,
    }),
    actions: Actions {
        admin: &[
            "no-op",
            "read",
            "update",
            "delete",
            "add-host-sources",
            "set-host-sources",
            "remove-host-sources",
            "authorize-session",
        ],
        others: &["no-op", "read", "authorize-session"],
    },
    list_access: ListAccess::Readers,
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

    pub fn members(self) -> Option<Members> {
        self.facts().members
    }

    pub fn actions(self) -> Actions {
        self.facts().actions
    }

    pub fn scope_types(self) -> &'static [&'static str] {
        self.facts().scope_types
    }

    pub fn prefix(self) -> &'static str {
        self.facts().prefix
    }

    pub fn list_access(self) -> ListAccess {
        self.facts().list_access
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
    /// The ids of its members ([`KindId::members`]), for kinds that have them.
    fn members_mut(&mut self) -> Option<&mut Vec<String>>;
    /// Filled by the API for the caller; the store leaves it empty.
    fn authorized_actions(&mut self) -> &mut Vec<String>;
}
