//! Resource kinds as data: what each kind is called, where its items live, which members it
//! has and which actions it offers, in one table ([`KindId`]), and the typed face of each kind
//! ([`Kind`]) over the store's kind-tagged values ([`Item`], [`NewItem`], [`ItemPatch`]).
//!
//! Adding a kind: its model struct, its `New`/`Patch` input, one row in [`kinds!`] below, its
//! facts in [`KindId`]'s `match`es, the store's arms, and one router line in the API.

use serde::Serialize;

use super::input::{
    AccountPatch, AuthMethodPatch, HostCatalogPatch, HostPatch, HostSetPatch, NewAccount,
    NewAuthMethod, NewHost, NewHostCatalog, NewHostSet, NewScope, NewTarget, NewUser, ScopePatch,
    TargetPatch, UserPatch,
};
use super::model::{Account, AuthMethod, Host, HostCatalog, HostSet, Scope, Target, User};
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
    /// `host_ids`.
    pub field: &'static str,
}

/// The actions of a kind: all of them for an admin, `others` for any other caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actions {
    pub admin: &'static [&'static str],
    pub others: &'static [&'static str],
}

impl Actions {
    pub fn for_caller(&self, principal: Option<&Principal>) -> Vec<String> {
        let actions = match principal {
            Some(p) if p.admin => self.admin,
            _ => self.others,
        };
        actions.iter().map(|a| (*a).to_owned()).collect()
    }

    /// Whether the caller may do `action` on an item of this kind.
    pub fn allows(&self, principal: Option<&Principal>, action: &str) -> bool {
        let actions = match principal {
            Some(p) if p.admin => self.admin,
            _ => self.others,
        };
        actions.contains(&action)
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
    ($($variant:ident: $item:ty, $new:ty, $patch:ty;)*) => {
        /// Every kind of resource the controller keeps.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum KindId { $($variant),* }

        impl KindId {
            pub const ALL: &'static [KindId] = &[$(KindId::$variant),*];
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

                fn new_item(new: $new) -> NewItem {
                    NewItem::$variant(new)
                }

                fn patch_item(patch: $patch) -> ItemPatch {
                    ItemPatch::$variant(patch)
                }

                fn authorized_actions(&mut self) -> &mut Vec<String> {
                    &mut self.authorized_actions
                }
            }
        )*
    };
}

kinds! {
    Scope: Scope, NewScope, ScopePatch;
    AuthMethod: AuthMethod, NewAuthMethod, AuthMethodPatch;
    User: User, NewUser, UserPatch;
    Account: Account, NewAccount, AccountPatch;
    HostCatalog: HostCatalog, NewHostCatalog, HostCatalogPatch;
    HostSet: HostSet, NewHostSet, HostSetPatch;
    Host: Host, NewHost, HostPatch;
    Target: Target, NewTarget, TargetPatch;
}

impl KindId {
    /// In messages: `host set`.
    pub fn name(self) -> &'static str {
        match self {
            KindId::Scope => "scope",
            KindId::AuthMethod => "auth method",
            KindId::User => "user",
            KindId::Account => "account",
            KindId::HostCatalog => "host catalog",
            KindId::HostSet => "host set",
            KindId::Host => "host",
            KindId::Target => "target",
        }
    }

    /// The API collection: `/v1/<collection>`.
    pub fn collection(self) -> &'static str {
        match self {
            KindId::Scope => "scopes",
            KindId::AuthMethod => "auth-methods",
            KindId::User => "users",
            KindId::Account => "accounts",
            KindId::HostCatalog => "host-catalogs",
            KindId::HostSet => "host-sets",
            KindId::Host => "hosts",
            KindId::Target => "targets",
        }
    }

    /// The `type` an item of this kind has (the API offers one per kind); scopes have none
    /// to choose.
    pub fn subtype(self) -> Option<&'static str> {
        match self {
            KindId::Scope | KindId::User => None,
            KindId::AuthMethod | KindId::Account => Some("password"),
            KindId::HostCatalog | KindId::HostSet | KindId::Host => Some("static"),
            KindId::Target => Some("tcp"),
        }
    }

    pub fn parent(self) -> Parent {
        match self {
            KindId::Account => Parent::Item(KindId::AuthMethod),
            KindId::HostSet | KindId::Host => Parent::Item(KindId::HostCatalog),
            _ => Parent::Scope,
        }
    }

    pub fn members(self) -> Option<Members> {
        match self {
            KindId::User => Some(Members {
                action: "accounts",
                field: "account_ids",
            }),
            KindId::HostSet => Some(Members {
                action: "hosts",
                field: "host_ids",
            }),
            KindId::Target => Some(Members {
                action: "host-sources",
                field: "host_source_ids",
            }),
            _ => None,
        }
    }

    pub fn actions(self) -> Actions {
        match self {
            KindId::Scope => Actions {
                admin: CRUD,
                others: READ,
            },
            KindId::AuthMethod => Actions {
                admin: &["no-op", "read", "update", "delete", "authenticate"],
                others: &["no-op", "authenticate"],
            },
            KindId::User => Actions {
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
            KindId::Account | KindId::HostCatalog | KindId::Host => Actions {
                admin: CRUD,
                others: &[],
            },
            KindId::HostSet => Actions {
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
            KindId::Target => Actions {
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
        }
    }

    pub fn list_access(self) -> ListAccess {
        match self {
            KindId::AuthMethod => ListAccess::Public,
            _ => ListAccess::Readers,
        }
    }
}

/// One kind, typed: the model struct, what creates it and what changes it.
pub trait Kind: Serialize + Clone + Send + Sync + Sized + 'static {
    const KIND: KindId;
    type New: Send + 'static;
    type Patch: Send + 'static;

    /// The item, if the store handed over this kind (anything else is a store fault).
    fn from_item(item: Item) -> Result<Self, ResourceError>;
    fn new_item(new: Self::New) -> NewItem;
    fn patch_item(patch: Self::Patch) -> ItemPatch;
    /// Filled by the API for the caller; the store leaves it empty.
    fn authorized_actions(&mut self) -> &mut Vec<String>;
}
