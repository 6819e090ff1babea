//! `roles list | read | create | update | delete`, and the membership actions
//! `add-|set-|remove-principals`, `add-|set-|remove-grants` and
//! `add-|set-|remove-grant-scopes`.
//!
//! Updates and membership actions name the role's version, read first unless `-version` is
//! given. A membership action needs at least one value (Boundary's `No principals supplied
//! via -principal`, ...); for a `set-*` action a lone `null` clears the list.

use clap::{Args, Subcommand};
use postern_api::bodies::{GrantScopeIds, GrantStrings, PrincipalIds};
use serde_json::Value;

use super::args::{ApiArgs, IdArgs, NameUpdateArgs, ScopedCreateArgs, ScopedListArgs};
use super::kind::Kind;
use super::render::{
    actions_block, common_rows, entry_lines, finish, list_table as render_list, scope_block,
    strings, text_or_empty,
};
use super::{values_to_send, Context, Failure, MemberChange};
use crate::output::{max_attributes_length, wrap_map};
use crate::ClientError;

const ROLES: Kind = Kind {
    noun: "role",
    collection: "roles",
    item_table,
};

/// `postern roles`: grants, the scopes they apply to, and who holds them.
#[derive(Debug, Subcommand)]
pub enum RolesCommand {
    /// List the roles in a scope.
    List(ScopedListArgs),
    /// Show one role.
    Read(IdArgs),
    /// Create a role.
    #[command(mut_arg("scope_id", |a| a.help("Global, an org or a project")))]
    Create(ScopedCreateArgs),
    /// Change a role's name or description.
    Update(NameUpdateArgs),
    /// Delete a role.
    Delete(IdArgs),
    /// Add principals (users, groups) to the role.
    AddPrincipals(PrincipalsArgs),
    /// Replace the role's principals; `-principal null` clears them.
    SetPrincipals(PrincipalsArgs),
    /// Remove principals from the role.
    RemovePrincipals(PrincipalsArgs),
    /// Add grants to the role.
    AddGrants(GrantsArgs),
    /// Replace the role's grants; `-grant null` clears them.
    SetGrants(GrantsArgs),
    /// Remove grants from the role.
    RemoveGrants(GrantsArgs),
    /// Add scopes the role's grants apply to.
    AddGrantScopes(GrantScopesArgs),
    /// Replace the scopes the role's grants apply to; `-grant-scope-id null` clears them.
    SetGrantScopes(GrantScopesArgs),
    /// Remove scopes the role's grants apply to.
    RemoveGrantScopes(GrantScopesArgs),
}

// The value flags below are not clap-required: a missing one is refused with Boundary's
// message (`No principals supplied via -principal`), which clap cannot print.

#[derive(Debug, Args)]
pub struct PrincipalsArgs {
    #[arg(long)]
    pub id: String,
    /// A user or group id; repeat for several.
    #[arg(long = "principal")]
    pub principals: Vec<String>,
    #[arg(long)]
    pub version: Option<u32>,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Args)]
pub struct GrantsArgs {
    #[arg(long)]
    pub id: String,
    /// A grant, e.g. "ids=*;type=*;actions=read", or its JSON form; repeat for several.
    #[arg(long = "grant")]
    pub grants: Vec<String>,
    #[arg(long)]
    pub version: Option<u32>,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Args)]
pub struct GrantScopesArgs {
    #[arg(long)]
    pub id: String,
    /// this, children, descendants or a scope id; repeat for several.
    #[arg(long = "grant-scope-id")]
    pub grant_scope_ids: Vec<String>,
    #[arg(long)]
    pub version: Option<u32>,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Which of a role's lists a membership action changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleMembers {
    Principals,
    Grants,
    GrantScopes,
}

impl RoleMembers {
    /// The action's noun: `add-<this>`.
    fn noun(self) -> &'static str {
        match self {
            Self::Principals => "principals",
            Self::Grants => "grants",
            Self::GrantScopes => "grant-scopes",
        }
    }

    /// Boundary's error when the flag is not given.
    fn missing(self) -> &'static str {
        match self {
            Self::Principals => "No principals supplied via -principal",
            Self::Grants => "No grants supplied via -grant",
            Self::GrantScopes => "No grant scope IDs supplied via -grant-scope-id",
        }
    }
}

impl RolesCommand {
    /// Calls the controller; the text to print.
    pub fn run(self) -> Result<String, Failure> {
        use MemberChange::{Add, Remove, Set};
        use RoleMembers::{GrantScopes, Grants, Principals};
        match self {
            Self::List(a) => a.api.run(|ctx| ROLES.list_in_scope(ctx, &a, list_table)),
            Self::Read(a) => a.api.run(|ctx| ROLES.read(ctx, &a.id)),
            Self::Create(a) => a.api.run(|ctx| ROLES.create_in_scope(ctx, &a, None)),
            Self::Update(a) => a.api.run(|ctx| ROLES.update_name(ctx, &a)),
            Self::Delete(a) => a.api.run(|ctx| ROLES.delete(ctx, &a.id)),
            Self::AddPrincipals(a) => a
                .api
                .run(|ctx| change_members(ctx, Add, Principals, &a.id, a.version, &a.principals)),
            Self::SetPrincipals(a) => a
                .api
                .run(|ctx| change_members(ctx, Set, Principals, &a.id, a.version, &a.principals)),
            Self::RemovePrincipals(a) => a.api.run(|ctx| {
                change_members(ctx, Remove, Principals, &a.id, a.version, &a.principals)
            }),
            Self::AddGrants(a) => a
                .api
                .run(|ctx| change_members(ctx, Add, Grants, &a.id, a.version, &a.grants)),
            Self::SetGrants(a) => a
                .api
                .run(|ctx| change_members(ctx, Set, Grants, &a.id, a.version, &a.grants)),
            Self::RemoveGrants(a) => a
                .api
                .run(|ctx| change_members(ctx, Remove, Grants, &a.id, a.version, &a.grants)),
            Self::AddGrantScopes(a) => a.api.run(|ctx| {
                change_members(ctx, Add, GrantScopes, &a.id, a.version, &a.grant_scope_ids)
            }),
            Self::SetGrantScopes(a) => a.api.run(|ctx| {
                change_members(ctx, Set, GrantScopes, &a.id, a.version, &a.grant_scope_ids)
            }),
            Self::RemoveGrantScopes(a) => a.api.run(|ctx| {
                change_members(
                    ctx,
                    Remove,
                    GrantScopes,
                    &a.id,
                    a.version,
                    &a.grant_scope_ids,
                )
            }),
        }
    }
}

/// `roles add-principals | set-grants | remove-grant-scopes ... -id [-version]` with the
/// values of `-principal`, `-grant` or `-grant-scope-id`: the version is read first unless
/// given.
pub fn change_members(
    ctx: &Context,
    change: MemberChange,
    members: RoleMembers,
    id: &str,
    version: Option<u32>,
    values: &[String],
) -> Result<String, ClientError> {
    let values = values_to_send(change, values, members.missing())?;
    let action = change.action(members.noun());
    match members {
        RoleMembers::Principals => {
            ROLES.change_members::<PrincipalIds>(ctx, id, &action, version, &values)
        }
        RoleMembers::Grants => {
            ROLES.change_members::<GrantStrings>(ctx, id, &action, version, &values)
        }
        RoleMembers::GrantScopes => {
            ROLES.change_members::<GrantScopeIds>(ctx, id, &action, version, &values)
        }
    }
}

/// Boundary's `roles list` table; `recursive` adds each role's scope.
pub fn list_table(items: &[Value], recursive: bool, width: usize) -> String {
    render_list(
        "Role information:",
        "No roles found",
        items,
        width,
        |item| {
            entry_lines(
                item,
                recursive,
                &[("Name", "name"), ("Description", "description")],
            )
        },
    )
}

/// Boundary's `roles read` table: the role's fields, its scope, authorized actions, then
/// its principals, canonical grants and grant scopes.
pub fn item_table(item: &Value, width: usize) -> String {
    let rows = common_rows(item);
    let max = max_attributes_length(rows.keys());
    let mut lines = vec![String::new(), "Role information:".to_owned()];
    lines.extend(wrap_map(2, max + 2, &rows.0));
    lines.extend(scope_block("Scope", item, max));
    lines.extend(actions_block(item));
    lines.extend(principals_block(item));
    let grants: Vec<String> = item
        .get("grants")
        .and_then(Value::as_array)
        .map(|grants| {
            grants
                .iter()
                .map(|g| text_or_empty(g, "canonical"))
                .collect()
        })
        .unwrap_or_default();
    if !grants.is_empty() {
        lines.extend([String::new(), "  Canonical Grants:".to_owned()]);
        lines.extend(grants.iter().map(|grant| format!("    {grant}")));
    }
    let grant_scopes = strings(item, "grant_scope_ids");
    if !grant_scopes.is_empty() {
        lines.extend([String::new(), "  Grant Scope IDs:".to_owned()]);
        lines.extend(
            grant_scopes
                .iter()
                .map(|id| format!("    ID:             {id}")),
        );
    }
    finish(&lines, width)
}

/// `""`, `  Principals:`, then each principal's ID, Type and Scope ID at Boundary's fixed
/// columns; the bare `principal_ids` when the controller gives no `principals`.
fn principals_block(item: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(principals) = item.get("principals").and_then(Value::as_array) {
        for principal in principals {
            lines.push(format!(
                "    ID:             {}",
                text_or_empty(principal, "id")
            ));
            lines.push(format!(
                "      Type:         {}",
                text_or_empty(principal, "type")
            ));
            lines.push(format!(
                "      Scope ID:     {}",
                text_or_empty(principal, "scope_id")
            ));
        }
    } else {
        lines.extend(
            strings(item, "principal_ids")
                .iter()
                .map(|id| format!("    ID:             {id}")),
        );
    }
    if lines.is_empty() {
        return lines;
    }
    [String::new(), "  Principals:".to_owned()]
        .into_iter()
        .chain(lines)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(list: &[&str]) -> Vec<String> {
        list.iter().map(|v| (*v).to_owned()).collect()
    }

    #[test]
    fn a_lone_null_clears_only_for_set() {
        let null = values(&["null"]);
        assert_eq!(
            values_to_send(MemberChange::Set, &null, "none").unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            values_to_send(MemberChange::Add, &null, "none").unwrap(),
            null
        );
        let two = values(&["null", "u_1234567890"]);
        assert_eq!(
            values_to_send(MemberChange::Set, &two, "none").unwrap(),
            two
        );
    }

    #[test]
    fn no_values_is_refused_with_boundarys_message() {
        for change in [MemberChange::Add, MemberChange::Set, MemberChange::Remove] {
            let error = values_to_send(change, &[], RoleMembers::Grants.missing()).unwrap_err();
            assert_eq!(error.to_string(), "No grants supplied via -grant");
            assert_eq!(error.exit_code(), 64);
        }
    }
}
