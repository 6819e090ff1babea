//! `auth-methods list | read | create password | update password | delete`.
//!
//! Updates name the auth method's version, read first unless `-version` is given.

use clap::{Args, Subcommand};
use postern_api::bodies::{NameUpdate, ScopedCreate};
use serde_json::Value;

use super::args::{ApiArgs, IdArgs, ScopedListArgs};
use super::render::{
    actions_block, attribute_rows, attributes_block, common_rows, finish, items_json, number,
    scope_block, strings, text,
};
use super::{list_query, Context, Failure};
use crate::api::segment;
use crate::output::{max_attributes_length, wrap_map, wrap_slice, Format};
use crate::ClientError;

/// Boundary's names for a password auth method's attributes in tables.
const ATTRIBUTE_NAMES: &[(&str, &str)] = &[
    ("min_login_name_length", "Minimum Login Name Length"),
    ("min_password_length", "Minimum Password Length"),
];

/// `postern auth-methods`: how users log in to a scope.
#[derive(Debug, Subcommand)]
pub enum AuthMethodsCommand {
    /// List the auth methods in a scope.
    List(ScopedListArgs),
    /// Show one auth method.
    Read(IdArgs),
    #[command(subcommand)]
    /// Create an auth method.
    Create(AuthMethodCreateKind),
    #[command(subcommand)]
    /// Change an auth method's name or description.
    Update(AuthMethodUpdateKind),
    /// Delete an auth method and its accounts.
    Delete(IdArgs),
}

#[derive(Debug, Subcommand)]
pub enum AuthMethodCreateKind {
    /// A password auth method.
    Password(AuthMethodCreateArgs),
}

#[derive(Debug, Subcommand)]
pub enum AuthMethodUpdateKind {
    /// A password auth method.
    Password(AuthMethodUpdateArgs),
}

#[derive(Debug, Args)]
pub struct AuthMethodCreateArgs {
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
pub struct AuthMethodUpdateArgs {
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

impl AuthMethodsCommand {
    /// Calls the controller; the text to print.
    pub fn run(self) -> Result<String, Failure> {
        match self {
            Self::List(a) => a.api.run(|ctx| list(ctx, &a)),
            Self::Read(a) => a.api.run(|ctx| read(ctx, &a.id)),
            Self::Create(AuthMethodCreateKind::Password(a)) => {
                a.api.run(|ctx| create_password(ctx, &a))
            }
            Self::Update(AuthMethodUpdateKind::Password(a)) => {
                a.api.run(|ctx| update_password(ctx, &a))
            }
            Self::Delete(a) => a.api.run(|ctx| delete(ctx, &a.id)),
        }
    }
}

/// `auth-methods list [-scope-id global] [-recursive] [-filter]`.
fn list(ctx: &Context, args: &ScopedListArgs) -> Result<String, ClientError> {
    let query = list_query(
        "scope_id",
        &args.scope_id,
        args.recursive,
        args.filter.as_deref(),
    );
    let response = ctx
        .api
        .get("list on auth methods", "auth-methods", &query)?;
    Ok(match ctx.format {
        Format::Table => list_table(response.items(), args.recursive, ctx.width),
        Format::Json => items_json(response.status, response.items()),
    })
}

/// `auth-methods read -id`.
fn read(ctx: &Context, id: &str) -> Result<String, ClientError> {
    let response = ctx.api.get("read on auth method", &path(id), &[])?;
    Ok(ctx.item_output(&response, item_table))
}

/// `auth-methods create password -scope-id [-name] [-description]`.
fn create_password(ctx: &Context, args: &AuthMethodCreateArgs) -> Result<String, ClientError> {
    let body = ScopedCreate {
        scope_id: Some(args.scope_id.clone()),
        name: args.name.clone(),
        description: args.description.clone(),
        kind: Some("password".into()),
    };
    let response = ctx
        .api
        .post("create on auth method", "auth-methods", &body)?;
    Ok(ctx.item_output(&response, item_table))
}

/// `auth-methods update password -id [-name] [-description] [-version]`: only the given
/// fields change.
fn update_password(ctx: &Context, args: &AuthMethodUpdateArgs) -> Result<String, ClientError> {
    let path = path(&args.id);
    let body = NameUpdate {
        version: Some(ctx.version_or_current(args.version, "read on auth method", &path)?),
        name: args.name.clone(),
        description: args.description.clone(),
    };
    let response = ctx.api.patch("update on auth method", &path, &body)?;
    Ok(ctx.item_output(&response, item_table))
}

/// `auth-methods delete -id`.
fn delete(ctx: &Context, id: &str) -> Result<String, ClientError> {
    let response = ctx.api.delete("delete on auth method", &path(id))?;
    Ok(ctx.deleted(&response))
}

fn path(id: &str) -> String {
    format!("auth-methods/{}", segment(id))
}

/// One field line of an auth-method list entry. Boundary sets this list one column wider
/// than the others (room for `Is Primary For Scope:`), so the shared list layout in
/// `render` does not fit it.
fn list_line(label: &str, value: impl std::fmt::Display) -> String {
    format!("    {:<22}{value}", format!("{label}:"))
}

/// Boundary's `auth-methods list` table; `recursive` adds each auth method's scope.
pub fn list_table(items: &[Value], recursive: bool, width: usize) -> String {
    if items.is_empty() {
        return "No auth methods found\n".to_owned();
    }
    let mut lines = vec![String::new(), "Auth Method information:".to_owned()];
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            lines.push(String::new());
        }
        let id = text(item, "id").unwrap_or("(not available)");
        lines.push(format!("  {:<24}{id}", "ID:"));
        if recursive {
            lines.extend(text(item, "scope_id").map(|v| list_line("Scope ID", v)));
        }
        lines.extend(number(item, "version").map(|v| list_line("Version", v)));
        for (label, key) in [
            ("Type", "type"),
            ("Name", "name"),
            ("Description", "description"),
        ] {
            lines.extend(text(item, key).map(|v| list_line(label, v)));
        }
        if is_primary(item) == Some(true) {
            lines.push(list_line("Is Primary For Scope", true));
        }
        let actions = strings(item, "authorized_actions");
        if !actions.is_empty() {
            lines.push("    Authorized Actions:".to_owned());
            lines.extend(wrap_slice(6, &actions));
        }
    }
    finish(&lines, width)
}

/// Boundary's `auth-methods read` table: the auth method's fields (`Is Primary For Scope`
/// whenever the controller says either way), its scope, authorized actions, the actions on
/// its collections, then its attributes.
pub fn item_table(item: &Value, width: usize) -> String {
    let mut rows = common_rows(item);
    rows.opt(
        "Is Primary For Scope",
        is_primary(item).map(|p| p.to_string()),
    );
    let attributes = attribute_rows(item, ATTRIBUTE_NAMES);
    let max = max_attributes_length(rows.keys().chain(attributes.keys()));
    let mut lines = vec![String::new(), "Auth Method information:".to_owned()];
    lines.extend(wrap_map(2, max + 2, &rows.0));
    lines.extend(scope_block("Scope", item, max));
    lines.extend(actions_block(item));
    lines.extend(collection_actions_block(item));
    lines.extend(attributes_block(&attributes, max));
    finish(&lines, width)
}

fn is_primary(item: &Value) -> Option<bool> {
    item.get("is_primary").and_then(Value::as_bool)
}

/// `""`, `  Authorized Actions on Auth Method's Collections:`, then each collection (sorted)
/// and its actions.
fn collection_actions_block(item: &Value) -> Vec<String> {
    let Some(collections) = item.get("authorized_collection_actions") else {
        return Vec::new();
    };
    let mut names: Vec<&String> = collections
        .as_object()
        .map(|c| c.keys().collect())
        .unwrap_or_default();
    if names.is_empty() {
        return Vec::new();
    }
    names.sort();
    let mut lines = vec![
        String::new(),
        "  Authorized Actions on Auth Method's Collections:".to_owned(),
    ];
    for name in names {
        lines.push(format!("    {name}:"));
        lines.extend(wrap_slice(6, &strings(collections, name)));
    }
    lines
}
