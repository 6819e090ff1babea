//! `auth-methods list | read | create password | update password | delete`.
//!
//! Updates name the auth method's version, read first unless `-version` is given.

use clap::Subcommand;
use serde_json::Value;

use super::args::{IdArgs, NameUpdateArgs, ScopedCreateArgs, ScopedListArgs};
use super::kind::Kind;
use super::render::{
    actions_block, attribute_rows, attributes_block, common_rows, finish, number, scope_block,
    strings, text,
};
use super::Failure;
use crate::output::{max_attributes_length, wrap_map, wrap_slice};

const AUTH_METHODS: Kind = Kind {
    noun: "auth method",
    collection: "auth-methods",
    item_table,
};

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
    #[command(mut_arg("scope_id", |a| a.help("Global or an org")))]
    Password(ScopedCreateArgs),
}

#[derive(Debug, Subcommand)]
pub enum AuthMethodUpdateKind {
    /// A password auth method.
    Password(NameUpdateArgs),
}

impl AuthMethodsCommand {
    /// Calls the controller; the text to print.
    pub fn run(self) -> Result<String, Failure> {
        match self {
            Self::List(a) => a
                .api
                .run(|ctx| AUTH_METHODS.list_in_scope(ctx, &a, list_table)),
            Self::Read(a) => a.api.run(|ctx| AUTH_METHODS.read(ctx, &a.id)),
            Self::Create(AuthMethodCreateKind::Password(a)) => a
                .api
                .run(|ctx| AUTH_METHODS.create_in_scope(ctx, &a, Some("password"))),
            Self::Update(AuthMethodUpdateKind::Password(a)) => {
                a.api.run(|ctx| AUTH_METHODS.update_name(ctx, &a))
            }
            Self::Delete(a) => a.api.run(|ctx| AUTH_METHODS.delete(ctx, &a.id)),
        }
    }
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
