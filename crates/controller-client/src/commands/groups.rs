//! `groups list | read | create | update | delete | add-members | set-members |
//! remove-members`.
//!
//! Updates and member changes name the group's version, read first unless `-version` is
//! given. A member change needs at least one `-member` (Boundary's `No members supplied via
//! -member`); for `set-members` a lone `null` clears the list.

use clap::{Args, Subcommand};
use postern_api::bodies::{MemberIds, NameUpdate, ScopedCreate};
use serde_json::Value;

use super::args::{ApiArgs, IdArgs, ScopedListArgs};
use super::render::{
    actions_block, common_rows, finish, items_json, list_line, list_table as render_list, number,
    scope_block, strings, text, text_or_empty, Rows,
};
use super::{list_query, values_to_send, Context, Failure, MemberChange};
use crate::api::segment;
use crate::output::{max_attributes_length, wrap_map, Format};
use crate::ClientError;

/// Boundary's error when `-member` is not given.
const NO_MEMBERS: &str = "No members supplied via -member";

/// `postern groups`: users who share roles.
#[derive(Debug, Subcommand)]
pub enum GroupsCommand {
    /// List the groups in a scope.
    List(ScopedListArgs),
    /// Show one group.
    Read(IdArgs),
    /// Create a group.
    Create(GroupCreateArgs),
    /// Change a group's name or description.
    Update(GroupUpdateArgs),
    /// Delete a group.
    Delete(IdArgs),
    /// Add users to the group.
    AddMembers(MembersArgs),
    /// Replace the group's users; `-member null` clears them.
    SetMembers(MembersArgs),
    /// Remove users from the group.
    RemoveMembers(MembersArgs),
}

#[derive(Debug, Args)]
pub struct GroupCreateArgs {
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
pub struct GroupUpdateArgs {
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

#[derive(Debug, Args)]
pub struct MembersArgs {
    #[arg(long)]
    pub id: String,
    /// A user id; repeat for several. Not clap-required: a missing one gets Boundary's message.
    #[arg(long = "member")]
    pub members: Vec<String>,
    #[arg(long)]
    pub version: Option<u32>,
    #[command(flatten)]
    pub api: ApiArgs,
}

impl GroupsCommand {
    /// Calls the controller; the text to print.
    pub fn run(self) -> Result<String, Failure> {
        use MemberChange::{Add, Remove, Set};
        match self {
            Self::List(a) => a.api.run(|ctx| list(ctx, &a)),
            Self::Read(a) => a.api.run(|ctx| read(ctx, &a.id)),
            Self::Create(a) => a.api.run(|ctx| create(ctx, &a)),
            Self::Update(a) => a.api.run(|ctx| update(ctx, &a)),
            Self::Delete(a) => a.api.run(|ctx| delete(ctx, &a.id)),
            Self::AddMembers(a) => a
                .api
                .run(|ctx| change_members(ctx, Add, &a.id, a.version, &a.members)),
            Self::SetMembers(a) => a
                .api
                .run(|ctx| change_members(ctx, Set, &a.id, a.version, &a.members)),
            Self::RemoveMembers(a) => a
                .api
                .run(|ctx| change_members(ctx, Remove, &a.id, a.version, &a.members)),
        }
    }
}

/// `groups list [-scope-id global] [-recursive] [-filter]`.
fn list(ctx: &Context, args: &ScopedListArgs) -> Result<String, ClientError> {
    let query = list_query(
        "scope_id",
        &args.scope_id,
        args.recursive,
        args.filter.as_deref(),
    );
    let response = ctx.api.get("list on groups", "groups", &query)?;
    Ok(match ctx.format {
        Format::Table => list_table(response.items(), args.recursive, ctx.width),
        Format::Json => items_json(response.status, response.items()),
    })
}

/// `groups read -id`.
fn read(ctx: &Context, id: &str) -> Result<String, ClientError> {
    let response = ctx.api.get("read on group", &path(id), &[])?;
    Ok(ctx.item_output(&response, item_table))
}

/// `groups create -scope-id [-name] [-description]`.
fn create(ctx: &Context, args: &GroupCreateArgs) -> Result<String, ClientError> {
    let body = ScopedCreate {
        scope_id: Some(args.scope_id.clone()),
        name: args.name.clone(),
        description: args.description.clone(),
        kind: None,
    };
    let response = ctx.api.post("create on group", "groups", &body)?;
    Ok(ctx.item_output(&response, item_table))
}

/// `groups update -id [-name] [-description] [-version]`: only the given fields change.
fn update(ctx: &Context, args: &GroupUpdateArgs) -> Result<String, ClientError> {
    let path = path(&args.id);
    let body = NameUpdate {
        version: Some(ctx.version_or_current(args.version, "read on group", &path)?),
        name: args.name.clone(),
        description: args.description.clone(),
    };
    let response = ctx.api.patch("update on group", &path, &body)?;
    Ok(ctx.item_output(&response, item_table))
}

/// `groups delete -id`.
fn delete(ctx: &Context, id: &str) -> Result<String, ClientError> {
    let response = ctx.api.delete("delete on group", &path(id))?;
    Ok(ctx.deleted(&response))
}

/// `groups add-members | set-members | remove-members -id -member ... [-version]`: the
/// version is read first unless given.
pub fn change_members(
    ctx: &Context,
    change: MemberChange,
    id: &str,
    version: Option<u32>,
    members: &[String],
) -> Result<String, ClientError> {
    let members = values_to_send(change, members, NO_MEMBERS)?;
    let response = ctx.change_members::<MemberIds>(
        "group",
        &path(id),
        &change.action("members"),
        version,
        &members,
    )?;
    Ok(ctx.item_output(&response, item_table))
}

fn path(id: &str) -> String {
    format!("groups/{}", segment(id))
}

/// Boundary's `groups list` table; `recursive` adds each group's scope.
pub fn list_table(items: &[Value], recursive: bool, width: usize) -> String {
    render_list(
        "Group information:",
        "No groups found",
        items,
        width,
        |item| {
            let mut lines = Vec::new();
            if recursive {
                let scope = item
                    .pointer("/scope/id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                lines.push(list_line("Scope ID", scope));
            }
            // Boundary prints the version even when it is zero.
            let version = number(item, "version").unwrap_or_else(|| "0".to_owned());
            lines.push(list_line("Version", version));
            lines.extend(text(item, "name").map(|v| list_line("Name", v)));
            lines.extend(text(item, "description").map(|v| list_line("Description", v)));
            lines
        },
    )
}

/// Boundary's `groups read` table: the group's fields, its scope, authorized actions, then
/// its members (ID and Scope ID each).
pub fn item_table(item: &Value, width: usize) -> String {
    let rows = common_rows(item);
    let max = max_attributes_length(rows.keys());
    let mut lines = vec![String::new(), "Group information:".to_owned()];
    lines.extend(wrap_map(2, max + 2, &rows.0));
    lines.extend(scope_block("Scope", item, max));
    lines.extend(actions_block(item));
    let members = members(item);
    if !members.is_empty() {
        lines.extend([String::new(), "  Members:".to_owned()]);
        for member in &members {
            lines.extend(wrap_map(4, max, &member.0));
            lines.push(String::new());
        }
    }
    finish(&lines, width)
}

/// `members` (`{id, scope_id}`) when the controller gives them, else the bare `member_ids`.
fn members(item: &Value) -> Vec<Rows> {
    if let Some(members) = item.get("members").and_then(Value::as_array) {
        return members
            .iter()
            .map(|m| {
                let mut rows = Rows::default();
                rows.add("ID", text_or_empty(m, "id"))
                    .add("Scope ID", text_or_empty(m, "scope_id"));
                rows
            })
            .collect();
    }
    strings(item, "member_ids")
        .into_iter()
        .map(|id| {
            let mut rows = Rows::default();
            rows.add("ID", id);
            rows
        })
        .collect()
}
