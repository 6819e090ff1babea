//! `groups list | read | create | update | delete | add-members | set-members |
//! remove-members`.
//!
//! Updates and member changes name the group's version, read first unless `-version` is
//! given. A member change needs at least one `-member` (Boundary's `No members supplied via
//! -member`); for `set-members` a lone `null` clears the list.

use clap::{Args, Subcommand};
use postern_api::bodies::MemberIds;
use serde_json::Value;

use super::args::{ApiArgs, IdArgs, NameUpdateArgs, ScopedCreateArgs, ScopedListArgs};
use super::kind::Kind;
use super::render::{
    actions_block, common_rows, finish, list_line, list_table as render_list, number, scope_block,
    strings, text, text_or_empty, Rows,
};
use super::{values_to_send, Context, Failure, MemberChange};
use crate::output::{max_attributes_length, wrap_map};
use crate::ClientError;

const GROUPS: Kind = Kind {
    noun: "group",
    collection: "groups",
    item_table,
};

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
    #[command(mut_arg("scope_id", |a| a.help("Global, an org or a project")))]
    Create(ScopedCreateArgs),
    /// Change a group's name or description.
    Update(NameUpdateArgs),
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
            Self::List(a) => a.api.run(|ctx| GROUPS.list_in_scope(ctx, &a, list_table)),
            Self::Read(a) => a.api.run(|ctx| GROUPS.read(ctx, &a.id)),
            Self::Create(a) => a.api.run(|ctx| GROUPS.create_in_scope(ctx, &a, None)),
            Self::Update(a) => a.api.run(|ctx| GROUPS.update_name(ctx, &a)),
            Self::Delete(a) => a.api.run(|ctx| GROUPS.delete(ctx, &a.id)),
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
    GROUPS.change_members::<MemberIds>(ctx, id, &change.action("members"), version, &members)
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
