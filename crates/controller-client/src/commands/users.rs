//! `users list | read | create | update | delete | add-accounts | set-accounts |
//! remove-accounts`.
//!
//! Updates and account changes name the user's version, read first unless `-version` is
//! given. An account change needs at least one `-account` (Boundary's `No accounts supplied
//! via -account`); for `set-accounts` a lone `null` clears the list.

use clap::{Args, Subcommand};
use postern_api::bodies::{AccountIds, NameUpdate, ScopedCreate};
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

/// Boundary's error when `-account` is not given.
const NO_ACCOUNTS: &str = "No accounts supplied via -account";

/// `postern users`: who may log in, through the accounts linked to them.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// List the users in a scope.
    List(ScopedListArgs),
    /// Show one user.
    Read(IdArgs),
    /// Create a user.
    Create(UserCreateArgs),
    /// Change a user's name or description.
    Update(UserUpdateArgs),
    /// Delete a user.
    Delete(IdArgs),
    /// Link accounts to the user.
    AddAccounts(AccountsArgs),
    /// Replace the user's accounts; `-account null` clears them.
    SetAccounts(AccountsArgs),
    /// Unlink accounts from the user.
    RemoveAccounts(AccountsArgs),
}

#[derive(Debug, Args)]
pub struct UserCreateArgs {
    /// Global or an org.
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
pub struct UserUpdateArgs {
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
pub struct AccountsArgs {
    #[arg(long)]
    pub id: String,
    /// An account id; repeat for several. Not clap-required: a missing one gets Boundary's
    /// message.
    #[arg(long = "account")]
    pub accounts: Vec<String>,
    #[arg(long)]
    pub version: Option<u32>,
    #[command(flatten)]
    pub api: ApiArgs,
}

impl UsersCommand {
    /// Calls the controller; the text to print.
    pub fn run(self) -> Result<String, Failure> {
        use MemberChange::{Add, Remove, Set};
        match self {
            Self::List(a) => a.api.run(|ctx| list(ctx, &a)),
            Self::Read(a) => a.api.run(|ctx| read(ctx, &a.id)),
            Self::Create(a) => a.api.run(|ctx| create(ctx, &a)),
            Self::Update(a) => a.api.run(|ctx| update(ctx, &a)),
            Self::Delete(a) => a.api.run(|ctx| delete(ctx, &a.id)),
            Self::AddAccounts(a) => a
                .api
                .run(|ctx| change_accounts(ctx, Add, &a.id, a.version, &a.accounts)),
            Self::SetAccounts(a) => a
                .api
                .run(|ctx| change_accounts(ctx, Set, &a.id, a.version, &a.accounts)),
            Self::RemoveAccounts(a) => a
                .api
                .run(|ctx| change_accounts(ctx, Remove, &a.id, a.version, &a.accounts)),
        }
    }
}

/// `users list [-scope-id global] [-recursive] [-filter]`.
fn list(ctx: &Context, args: &ScopedListArgs) -> Result<String, ClientError> {
    let query = list_query(
        "scope_id",
        &args.scope_id,
        args.recursive,
        args.filter.as_deref(),
    );
    let response = ctx.api.get("list on users", "users", &query)?;
    Ok(match ctx.format {
        Format::Table => list_table(response.items(), args.recursive, ctx.width),
        Format::Json => items_json(response.status, response.items()),
    })
}

/// `users read -id`.
fn read(ctx: &Context, id: &str) -> Result<String, ClientError> {
    let response = ctx.api.get("read on user", &path(id), &[])?;
    Ok(ctx.item_output(&response, item_table))
}

/// `users create -scope-id [-name] [-description]`.
fn create(ctx: &Context, args: &UserCreateArgs) -> Result<String, ClientError> {
    let body = ScopedCreate {
        scope_id: Some(args.scope_id.clone()),
        name: args.name.clone(),
        description: args.description.clone(),
        kind: None,
    };
    let response = ctx.api.post("create on user", "users", &body)?;
    Ok(ctx.item_output(&response, item_table))
}

/// `users update -id [-name] [-description] [-version]`: only the given fields change.
fn update(ctx: &Context, args: &UserUpdateArgs) -> Result<String, ClientError> {
    let path = path(&args.id);
    let body = NameUpdate {
        version: Some(ctx.version_or_current(args.version, "read on user", &path)?),
        name: args.name.clone(),
        description: args.description.clone(),
    };
    let response = ctx.api.patch("update on user", &path, &body)?;
    Ok(ctx.item_output(&response, item_table))
}

/// `users delete -id`.
fn delete(ctx: &Context, id: &str) -> Result<String, ClientError> {
    let response = ctx.api.delete("delete on user", &path(id))?;
    Ok(ctx.deleted(&response))
}

/// `users add-accounts | set-accounts | remove-accounts -id -account ... [-version]`: the
/// version is read first unless given.
pub fn change_accounts(
    ctx: &Context,
    change: MemberChange,
    id: &str,
    version: Option<u32>,
    accounts: &[String],
) -> Result<String, ClientError> {
    let accounts = values_to_send(change, accounts, NO_ACCOUNTS)?;
    let response = ctx.change_members::<AccountIds>(
        "user",
        &path(id),
        &change.action("accounts"),
        version,
        &accounts,
    )?;
    Ok(ctx.item_output(&response, item_table))
}

fn path(id: &str) -> String {
    format!("users/{}", segment(id))
}

/// Boundary's `users list` table; `recursive` adds each user's scope.
pub fn list_table(items: &[Value], recursive: bool, width: usize) -> String {
    render_list(
        "User information:",
        "No users found",
        items,
        width,
        |item| {
            let mut lines = Vec::new();
            if recursive {
                lines.extend(text(item, "scope_id").map(|v| list_line("Scope ID", v)));
            }
            lines.extend(number(item, "version").map(|v| list_line("Version", v)));
            for (label, key) in [
                ("Name", "name"),
                ("Description", "description"),
                ("Primary Account ID", "primary_account_id"),
                ("Login Name", "login_name"),
                ("Full Name", "full_name"),
                ("Email", "email"),
            ] {
                lines.extend(text(item, key).map(|v| list_line(label, v)));
            }
            lines
        },
    )
}

/// Boundary's `users read` table: the user's fields, its scope, authorized actions, then
/// its accounts (ID and Scope ID each).
pub fn item_table(item: &Value, width: usize) -> String {
    let mut rows = common_rows(item);
    // "Id", not "ID": Boundary's spelling in this block.
    rows.opt("Primary Account Id", text(item, "primary_account_id"))
        .opt("Login Name", text(item, "login_name"))
        .opt("Full Name", text(item, "full_name"))
        .opt("Email", text(item, "email"));
    let max = max_attributes_length(rows.keys());
    let mut lines = vec![String::new(), "User information:".to_owned()];
    lines.extend(wrap_map(2, max + 2, &rows.0));
    lines.extend(scope_block("Scope", item, max));
    lines.extend(actions_block(item));
    let accounts = accounts(item);
    if !accounts.is_empty() {
        lines.extend([String::new(), "  Accounts:".to_owned()]);
        for account in &accounts {
            lines.extend(wrap_map(4, max, &account.0));
            lines.push(String::new());
        }
    }
    finish(&lines, width)
}

/// `accounts` (`{id, scope_id}`) when the controller gives them, else the bare `account_ids`.
fn accounts(item: &Value) -> Vec<Rows> {
    if let Some(accounts) = item.get("accounts").and_then(Value::as_array) {
        return accounts
            .iter()
            .map(|a| {
                let mut rows = Rows::default();
                rows.add("ID", text_or_empty(a, "id"))
                    .add("Scope ID", text_or_empty(a, "scope_id"));
                rows
            })
            .collect();
    }
    strings(item, "account_ids")
        .into_iter()
        .map(|id| {
            let mut rows = Rows::default();
            rows.add("ID", id);
            rows
        })
        .collect()
}
