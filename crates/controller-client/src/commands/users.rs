//! `users list | read | create | update | delete | add-accounts | set-accounts |
//! remove-accounts`.
//!
//! Updates and account changes name the user's version, read first unless `-version` is
//! given. An account change needs at least one `-account` (Boundary's `No accounts supplied
//! via -account`); for `set-accounts` a lone `null` clears the list.

use clap::{Args, Subcommand};
use postern_api::bodies::AccountIds;
use serde_json::Value;

use super::args::{ApiArgs, IdArgs, NameUpdateArgs, ScopedCreateArgs, ScopedListArgs};
use super::kind::Kind;
use super::render::{
    actions_block, common_rows, entry_lines, finish, list_table as render_list, scope_block,
    strings, text, text_or_empty, Rows,
};
use super::{values_to_send, Context, Failure, MemberChange};
use crate::output::{max_attributes_length, wrap_map};
use crate::ClientError;

const USERS: Kind = Kind {
    noun: "user",
    collection: "users",
    item_table,
};

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
    #[command(mut_arg("scope_id", |a| a.help("Global or an org")))]
    Create(ScopedCreateArgs),
    /// Change a user's name or description.
    Update(NameUpdateArgs),
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
            Self::List(a) => a.api.run(|ctx| USERS.list_in_scope(ctx, &a, list_table)),
            Self::Read(a) => a.api.run(|ctx| USERS.read(ctx, &a.id)),
            Self::Create(a) => a.api.run(|ctx| USERS.create_in_scope(ctx, &a, None)),
            Self::Update(a) => a.api.run(|ctx| USERS.update_name(ctx, &a)),
            Self::Delete(a) => a.api.run(|ctx| USERS.delete(ctx, &a.id)),
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
    USERS.change_members::<AccountIds>(ctx, id, &change.action("accounts"), version, &accounts)
}

/// Boundary's `users list` table; `recursive` adds each user's scope.
pub fn list_table(items: &[Value], recursive: bool, width: usize) -> String {
    render_list(
        "User information:",
        "No users found",
        items,
        width,
        |item| {
            let fields = [
                ("Name", "name"),
                ("Description", "description"),
                ("Primary Account ID", "primary_account_id"),
                ("Login Name", "login_name"),
                ("Full Name", "full_name"),
                ("Email", "email"),
            ];
            entry_lines(item, recursive, &fields)
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
