//! `roles list | read | create | update | delete`, and the membership actions
//! `add-|set-|remove-principals`, `add-|set-|remove-grants` and
//! `add-|set-|remove-grant-scopes`.
//!
//! Updates and membership actions name the role's version, read first unless `-version` is
//! given. A membership action needs at least one value (Boundary's `No principals supplied
//! via -principal`, ...); for a `set-*` action a lone `null` clears the list.

use clap::{Args, Subcommand};
use postern_api::bodies::{GrantScopeIds, GrantStrings, NameUpdate, PrincipalIds, ScopedCreate};
use serde_json::Value;

use super::args::{ApiArgs, IdArgs, ScopedListArgs};
use super::render::{
    actions_block, common_rows, finish, items_json, list_line, list_table as render_list, number,
    scope_block, strings, text, text_or_empty,
};
use super::{list_query, values_to_send, Context, Failure, MemberChange};
use crate::api::segment;
use crate::output::{max_attributes_length, wrap_map, Format};
use crate::ClientError;

/// `postern roles`: grants, the scopes they apply to, and who holds them.
#[derive(Debug, Subcommand)]
pub enum RolesCommand {
    /// List the roles in a scope.
    List(ScopedListArgs),
    /// Show one role.
    Read(IdArgs),
    /// Create a role.
    Create(RoleCreateArgs),
    /// Change a role's name or description.
    Update(RoleUpdateArgs),
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

#[derive(Debug, Args)]
pub struct RoleCreateArgs {
    /// Global, an org or a project.
    #[arg(long)]
    pub scope_id: String,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Args)]
pub struct RoleUpdateArgs {
    #[arg(long)]
    pub id: String,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    /// The version to update (default: the current one).
    #[arg(long)]
    pub version: Option<u32>,
    #[command(flatten)]
    pub api: ApiArgs,
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
            Self::List(a) => a.api.run(|ctx| list(ctx, &a)),
            Self::Read(a) => a.api.run(|ctx| read(ctx, &a.id)),
            Self::Create(a) => a.api.run(|ctx| create(ctx, &a)),
            Self::Update(a) => a.api.run(|ctx| update(ctx, &a)),
            Self::Delete(a) => a.api.run(|ctx| delete(ctx, &a.id)),
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

/// `roles list [-scope-id global] [-recursive] [-filter]`.
fn list(ctx: &Context, args: &ScopedListArgs) -> Result<String, ClientError> {
    let query = list_query(
        "scope_id",
        &args.scope_id,
        args.recursive,
        args.filter.as_deref(),
    );
    let response = ctx.api.get("list on roles", "roles", &query)?;
    Ok(match ctx.format {
        Format::Table => list_table(response.items(), args.recursive, ctx.width),
        Format::Json => items_json(response.status, response.items()),
    })
}

/// `roles read -id`.
fn read(ctx: &Context, id: &str) -> Result<String, ClientError> {
    let response = ctx.api.get("read on role", &path(id), &[])?;
    Ok(ctx.item_output(&response, item_table))
}

/// `roles create -scope-id [-name] [-description]`.
fn create(ctx: &Context, args: &RoleCreateArgs) -> Result<String, ClientError> {
    let body = ScopedCreate {
        scope_id: Some(args.scope_id.clone()),
        name: args.name.clone(),
        description: args.description.clone(),
        kind: None,
    };
    let response = ctx.api.post("create on role", "roles", &body)?;
    Ok(ctx.item_output(&response, item_table))
}

/// `roles update -id [-name] [-description] [-version]`: only the given fields change.
fn update(ctx: &Context, args: &RoleUpdateArgs) -> Result<String, ClientError> {
    let path = path(&args.id);
    let body = NameUpdate {
        version: Some(ctx.version_or_current(args.version, "read on role", &path)?),
        name: args.name.clone(),
        description: args.description.clone(),
    };
    let response = ctx.api.patch("update on role", &path, &body)?;
    Ok(ctx.item_output(&response, item_table))
}

/// `roles delete -id`.
fn delete(ctx: &Context, id: &str) -> Result<String, ClientError> {
    let response = ctx.api.delete("delete on role", &path(id))?;
    Ok(ctx.deleted(&response))
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
    let (path, action) = (path(id), change.action(members.noun()));
    let response = match members {
        RoleMembers::Principals => {
            ctx.change_members::<PrincipalIds>("role", &path, &action, version, &values)
        }
        RoleMembers::Grants => {
            ctx.change_members::<GrantStrings>("role", &path, &action, version, &values)
        }
        RoleMembers::GrantScopes => {
            ctx.change_members::<GrantScopeIds>("role", &path, &action, version, &values)
        }
    }?;
    Ok(ctx.item_output(&response, item_table))
}

fn path(id: &str) -> String {
    format!("roles/{}", segment(id))
}

/// Boundary's `roles list` table; `recursive` adds each role's scope.
pub fn list_table(items: &[Value], recursive: bool, width: usize) -> String {
    render_list(
        "Role information:",
        "No roles found",
        items,
        width,
        |item| {
            let mut lines = Vec::new();
            if recursive {
                lines.extend(text(item, "scope_id").map(|v| list_line("Scope ID", v)));
            }
            lines.extend(number(item, "version").map(|v| list_line("Version", v)));
            lines.extend(text(item, "name").map(|v| list_line("Name", v)));
            lines.extend(text(item, "description").map(|v| list_line("Description", v)));
            lines
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
