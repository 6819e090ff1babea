//! Boundary's action vocabulary (types/action/action.go) and the bitset grants keep their
//! actions in: the ACL tests a set with a shift and a mask, never a string compare.

use std::sync::OnceLock;

/// Boundary's action strings, indexed by its `action.Type` numbers (0 is "unknown", which no
/// grant may name).
pub(crate) const NAMES: [&str; 65] = [
    "unknown",
    "list",
    "create",
    "update",
    "read",
    "delete",
    "authenticate",
    "*",
    "authorize-session",
    "add-grants",
    "remove-grants",
    "set-grants",
    "add-principals",
    "set-principals",
    "remove-principals",
    "deauthenticate",
    "add-members",
    "set-members",
    "remove-members",
    "set-password",
    "change-password",
    "add-hosts",
    "set-hosts",
    "remove-hosts",
    "add-host-sets",
    "set-host-sets",
    "remove-host-sets",
    "cancel",
    "add-accounts",
    "set-accounts",
    "remove-accounts",
    "read:self",
    "cancel:self",
    "change-state",
    "delete:self",
    "no-op",
    "add-credential-libraries",
    "set-credential-libraries",
    "remove-credential-libraries",
    "add-credential-sources",
    "set-credential-sources",
    "remove-credential-sources",
    "add-host-sources",
    "set-host-sources",
    "remove-host-sources",
    "create:worker-led",
    "add-worker-tags",
    "set-worker-tags",
    "remove-worker-tags",
    "create:controller-led",
    "reinitialize-certificate-authority",
    "read-certificate-authority",
    "list-keys",
    "rotate-keys",
    "list-key-version-destruction-jobs",
    "destroy-key-version",
    "download",
    "attach-storage-policy",
    "detach-storage-policy",
    "reapply-storage-policy",
    "add-grant-scopes",
    "set-grant-scopes",
    "remove-grant-scopes",
    "monthly-active-users",
    "list-resolvable-aliases",
];

pub(crate) const LIST: u8 = 1;
pub(crate) const CREATE: u8 = 2;
pub(crate) const AUTHENTICATE: u8 = 6;
pub(crate) const ALL: u8 = 7;
pub(crate) const NO_OP: u8 = 35;

/// Actions the API refuses in new grants, and what replaced them (action.go `DeprecatedMap`).
pub(crate) const DEPRECATED: [(&str, &str); 6] = [
    ("add-host-sets", "add-host-sources"),
    ("set-host-sets", "set-host-sources"),
    ("remove-host-sets", "remove-host-sources"),
    ("add-credential-libraries", "add-credential-sources"),
    ("set-credential-libraries", "set-credential-sources"),
    ("remove-credential-libraries", "remove-credential-sources"),
];

/// What the ACL needs to know of a requested action, worked out once per action.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Action {
    /// Its bit; the mask of the part before `:` (0 when there is none) so that `read`
    /// satisfies `read:self`; and the bit of `*`.
    pub(crate) accepted_by: u128,
    /// `list` or `list:…`: a collection action.
    pub(crate) is_list: bool,
    /// `create` or `create:…`: a collection action.
    pub(crate) is_create: bool,
    pub(crate) index: u8,
}

struct Table {
    /// (name, index) sorted by name, for binary search.
    by_name: Vec<(&'static str, u8)>,
    actions: Vec<Action>,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut by_name: Vec<(&'static str, u8)> = (1u8..)
            .zip(NAMES.iter().skip(1))
            .map(|(i, n)| (*n, i))
            .collect();
        by_name.sort_unstable();
        let lookup = |name: &str| {
            by_name
                .binary_search_by(|(n, _)| (*n).cmp(name))
                .ok()
                .map(|i| by_name[i].1)
        };
        let actions = (0u8..)
            .zip(NAMES)
            .map(|(index, name)| {
                let parent = name.split_once(':').and_then(|(p, _)| lookup(p));
                let sub_of = |base: &str| {
                    name == base || name.strip_prefix(base).is_some_and(|r| r.starts_with(':'))
                };
                Action {
                    accepted_by: bit(index) | parent.map_or(0, bit) | bit(ALL),
                    is_list: sub_of("list"),
                    is_create: sub_of("create"),
                    index,
                }
            })
            .collect();
        Table { by_name, actions }
    })
}

pub(crate) const fn bit(index: u8) -> u128 {
    1u128 << index
}

/// The index of a known action name; `None` for anything else, "unknown" included.
pub(crate) fn index_of(name: &str) -> Option<u8> {
    let t = table();
    t.by_name
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .map(|i| t.by_name[i].1)
}

/// The requested action, or `None` if Boundary has no such action.
pub(crate) fn lookup(name: &str) -> Option<Action> {
    index_of(name).map(|i| table().actions[usize::from(i)])
}

pub(crate) fn by_index(index: u8) -> Action {
    table().actions[usize::from(index)]
}

/// A set of actions, one bit per Boundary action number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub(crate) struct ActionSet(pub(crate) u128);

impl ActionSet {
    pub(crate) fn insert(&mut self, index: u8) {
        self.0 |= bit(index);
    }

    pub(crate) fn contains(self, index: u8) -> bool {
        self.0 & bit(index) != 0
    }

    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub(crate) fn len(self) -> u32 {
        self.0.count_ones()
    }

    /// Whether a grant holding these actions grants `action` (docs 2.3): the action itself,
    /// its parent, or `*`.
    pub(crate) fn grants(self, action: &Action) -> bool {
        self.0 & action.accepted_by != 0
    }

    pub(crate) fn union(&mut self, other: ActionSet) {
        self.0 |= other.0;
    }

    pub(crate) fn indices(self) -> impl Iterator<Item = u8> {
        (0u8..65).filter(move |&i| self.contains(i))
    }

    /// The names, sorted as Boundary sorts them (bytewise).
    pub(crate) fn sorted_names(self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.indices().map(|i| NAMES[usize::from(i)]).collect();
        names.sort_unstable();
        names
    }
}
