//! `accounts list | read | create password | update password | delete`.
//!
//! `create password` takes the password as Boundary does: `-password env://NAME` or
//! `-password file://PATH`, or, without the flag, typed twice at a hidden prompt. A literal
//! `-password` value is refused (it would sit in the shell history and in `ps`), and so is a
//! missing one when standard input is no terminal to prompt on. The password goes into the
//! request body only: never into output, and Debug of the flags masks it.

use std::io::IsTerminal;

use clap::{Args, Subcommand};
use postern_api::bodies::{AccountCreate, AccountUpdate, Credentials, LoginName};
use serde_json::Value;

use super::args::{ApiArgs, IdArgs};
use super::authenticate::{prompt_hidden, PASSWORD_PROMPT};
use super::kind::Kind;
use super::render::{
    actions_block, attribute_rows, attributes_block, common_rows, entry_lines, finish, list_block,
    list_table as render_list, scope_block, strings, text, TYPE_NAME_DESCRIPTION,
};
use super::{list_query, Context, Failure};
use crate::config::SecretSource;
use crate::output::{max_attributes_length, wrap_map};
use crate::ClientError;

const ACCOUNTS: Kind = Kind {
    noun: "account",
    collection: "accounts",
    item_table,
};

/// Boundary's names for a password account's attributes in tables.
const ATTRIBUTE_NAMES: &[(&str, &str)] = &[("login_name", "Login Name")];

/// Boundary's prompt for the password's second entry, word for word.
const CONFIRM_PROMPT: &str = "Please enter it one more time for confirmation: ";

/// Boundary's errors, word for word.
const NO_LOGIN_NAME: &str = "Login Name must be passed in via -login-name";
const LITERAL_PASSWORD: &str = "Password flag must be used with env:// or file:// syntax or left empty for an interactive prompt";
const MISMATCH: &str = "Entered password and confirmation value did not match.";
const NO_TERMINAL: &str = "No -password given and standard input is not a terminal to prompt on; pass -password env://NAME or -password file://PATH";

/// `postern accounts`: the login names and passwords users authenticate with.
#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// List the accounts of an auth method.
    List(AuthMethodListArgs),
    /// Show one account.
    Read(IdArgs),
    #[command(subcommand)]
    /// Create an account.
    Create(AccountCreateKind),
    #[command(subcommand)]
    /// Change an account's login name, name or description.
    Update(AccountUpdateKind),
    /// Delete an account.
    Delete(IdArgs),
}

#[derive(Debug, Subcommand)]
pub enum AccountCreateKind {
    /// A password account.
    Password(AccountCreateArgs),
}

#[derive(Debug, Subcommand)]
pub enum AccountUpdateKind {
    /// A password account.
    Password(AccountUpdateArgs),
}

/// A list within an auth method.
#[derive(Debug, Args)]
pub struct AuthMethodListArgs {
    #[arg(long)]
    pub auth_method_id: String,
    /// Only items matching this expression over /item/... fields.
    #[arg(long)]
    pub filter: Option<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Args)]
pub struct AccountCreateArgs {
    #[arg(long)]
    pub auth_method_id: String,
    /// Not clap-required: a missing one gets Boundary's message.
    #[arg(long)]
    pub login_name: Option<String>,
    /// env://NAME or file://PATH (default: asked twice at a hidden prompt).
    #[arg(long)]
    pub password: Option<String>,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

impl std::fmt::Debug for AccountCreateArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountCreateArgs")
            .field("auth_method_id", &self.auth_method_id)
            .field("login_name", &self.login_name)
            // A source's Debug names a variable or a file, and masks a literal value.
            .field(
                "password",
                &self.password.as_deref().map(SecretSource::parse),
            )
            .field("name", &self.name)
            .field("description", &self.description)
            .field("api", &self.api)
            .finish()
    }
}

#[derive(Debug, Args)]
pub struct AccountUpdateArgs {
    #[arg(long)]
    pub id: String,
    #[arg(long)]
    pub login_name: Option<String>,
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

impl AccountsCommand {
    /// Calls the controller; the text to print.
    pub fn run(self) -> Result<String, Failure> {
        match self {
            Self::List(a) => a.api.run(|ctx| list(ctx, &a)),
            Self::Read(a) => a.api.run(|ctx| ACCOUNTS.read(ctx, &a.id)),
            Self::Create(AccountCreateKind::Password(a)) => {
                a.api.run(|ctx| create_password(ctx, &a))
            }
            Self::Update(AccountUpdateKind::Password(a)) => {
                a.api.run(|ctx| update_password(ctx, &a))
            }
            Self::Delete(a) => a.api.run(|ctx| ACCOUNTS.delete(ctx, &a.id)),
        }
    }
}

/// `accounts list -auth-method-id [-filter]`.
fn list(ctx: &Context, args: &AuthMethodListArgs) -> Result<String, ClientError> {
    let filter = args.filter.as_deref();
    let query = list_query("auth_method_id", &args.auth_method_id, false, filter);
    ACCOUNTS.list(ctx, &query, list_table)
}

/// `accounts create password -auth-method-id -login-name [-password] [-name]
/// [-description]`: the login name is checked and the password read before any request.
fn create_password(ctx: &Context, args: &AccountCreateArgs) -> Result<String, ClientError> {
    let login_name = args
        .login_name
        .clone()
        .filter(|name| !name.is_empty())
        .ok_or_else(|| ClientError::Usage(NO_LOGIN_NAME.to_owned()))?;
    let password = password(args.password.as_deref(), std::io::stdin().is_terminal())?;
    let body = AccountCreate {
        auth_method_id: Some(args.auth_method_id.clone()),
        name: args.name.clone(),
        description: args.description.clone(),
        kind: Some("password".into()),
        attributes: Some(Credentials {
            login_name: Some(login_name),
            password: Some(password),
        }),
    };
    ACCOUNTS.create(ctx, &body)
}

/// The password to send: read from `-password`'s `env://` or `file://` source, else typed
/// twice at a hidden prompt when `terminal` says there is one to type on.
fn password(flag: Option<&str>, terminal: bool) -> Result<String, ClientError> {
    match flag.map(SecretSource::parse) {
        Some(SecretSource::Literal(_)) => Err(ClientError::Usage(LITERAL_PASSWORD.to_owned())),
        Some(source) => source.read("password"),
        None if !terminal => Err(ClientError::Usage(NO_TERMINAL.to_owned())),
        None => {
            let password = prompt_hidden(PASSWORD_PROMPT)?;
            let confirmation = prompt_hidden(CONFIRM_PROMPT)?;
            if password.trim() != confirmation.trim() {
                return Err(ClientError::Usage(MISMATCH.to_owned()));
            }
            Ok(password.trim().to_owned())
        }
    }
}

/// `accounts update password -id [-login-name] [-name] [-description] [-version]`: only the
/// given fields change.
fn update_password(ctx: &Context, args: &AccountUpdateArgs) -> Result<String, ClientError> {
    ACCOUNTS.update(ctx, &args.id, args.version, |version| AccountUpdate {
        version: Some(version),
        name: args.name.clone(),
        description: args.description.clone(),
        attributes: args.login_name.clone().map(|login_name| LoginName {
            login_name: Some(login_name),
        }),
    })
}

/// Boundary's `accounts list` table.
pub fn list_table(items: &[Value], width: usize) -> String {
    render_list(
        "Account information:",
        "No accounts found",
        items,
        width,
        |item| entry_lines(item, false, TYPE_NAME_DESCRIPTION),
    )
}

/// Boundary's `accounts read` table: the account's fields, its scope, managed groups,
/// authorized actions, then its attributes (the login name).
pub fn item_table(item: &Value, width: usize) -> String {
    let mut rows = common_rows(item);
    rows.opt("Auth Method ID", text(item, "auth_method_id"));
    let attributes = attribute_rows(item, ATTRIBUTE_NAMES);
    let max = max_attributes_length(rows.keys().chain(attributes.keys()));
    let mut lines = vec![String::new(), "Account information:".to_owned()];
    lines.extend(wrap_map(2, max + 2, &rows.0));
    lines.extend(scope_block("Scope", item, max));
    lines.extend(list_block(
        "Managed Group IDs",
        &strings(item, "managed_group_ids"),
    ));
    lines.extend(actions_block(item));
    lines.extend(attributes_block(&attributes, max));
    finish(&lines, width)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_literal_password_is_refused_with_boundarys_message() {
        let error = password(Some("hunter22"), true).unwrap_err();
        assert_eq!(error.to_string(), LITERAL_PASSWORD);
        assert_eq!(error.exit_code(), 64);
        assert!(!format!("{error:?}").contains("hunter22"));
    }

    #[test]
    fn no_password_and_no_terminal_is_a_usage_error() {
        let error = password(None, false).unwrap_err();
        assert_eq!(error.to_string(), NO_TERMINAL);
        assert_eq!(error.exit_code(), 64);
    }

    #[test]
    fn a_file_password_is_read_trimmed() {
        let file =
            std::env::temp_dir().join(format!("postern-accounts-password-{}", std::process::id()));
        std::fs::write(&file, "s3cret pass\n").unwrap();
        let read = password(Some(&format!("file://{}", file.display())), false);
        std::fs::remove_file(&file).unwrap();
        assert_eq!(read.unwrap(), "s3cret pass");
        let missing = password(Some("file:///nonexistent/postern/pw"), false).unwrap_err();
        assert_eq!(missing.exit_code(), 64);
        assert!(missing.to_string().starts_with("cannot read the password"));
    }
}
