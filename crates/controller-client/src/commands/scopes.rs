//! `scopes list | read | create | delete`.

use clap::{Args, Subcommand};
use postern_api::bodies::ScopedCreate;
use serde_json::Value;

use super::args::{ApiArgs, IdArgs, ScopedListArgs};
use super::kind::Kind;
use super::render::{
    actions_block, common_rows, finish, list_line, list_table as render_list, number, scope_block,
    text,
};
use super::{Context, Failure};
use crate::output::{max_attributes_length, wrap_map};
use crate::ClientError;

const SCOPES: Kind = Kind {
    noun: "scope",
    collection: "scopes",
    item_table,
};

/// `postern scopes`: orgs and projects.
#[derive(Debug, Subcommand)]
pub enum ScopesCommand {
    /// List the scopes in a scope.
    List(ScopedListArgs),
    /// Show one scope.
    Read(IdArgs),
    /// Create an org (in global) or a project (in an org).
    Create(ScopeCreateArgs),
    /// Delete a scope and everything in it.
    Delete(IdArgs),
}

#[derive(Debug, Args)]
pub struct ScopeCreateArgs {
    /// The parent scope.
    #[arg(long)]
    pub scope_id: String,
    #[arg(long)]
    pub name: String,
    #[arg(long)]
    pub description: Option<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

impl ScopesCommand {
    /// Calls the controller; the text to print.
    pub fn run(self) -> Result<String, Failure> {
        match self {
            Self::List(a) => a.api.run(|ctx| SCOPES.list_in_scope(ctx, &a, list_table)),
            Self::Read(a) => a.api.run(|ctx| SCOPES.read(ctx, &a.id)),
            Self::Create(a) => a.api.run(|ctx| create(ctx, &a)),
            Self::Delete(a) => a.api.run(|ctx| SCOPES.delete(ctx, &a.id)),
        }
    }
}

/// Boundary's `scopes list` table: the scope's children; `recursive` adds each one's parent.
pub fn list_table(items: &[Value], recursive: bool, width: usize) -> String {
    render_list(
        "Scope information:",
        "No child scopes found",
        items,
        width,
        |item| {
            let mut lines = Vec::new();
            if recursive {
                let parent = item
                    .pointer("/scope/id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                lines.push(list_line("Scope ID", parent));
            }
            lines.extend(number(item, "version").map(|v| list_line("Version", v)));
            lines.extend(text(item, "name").map(|v| list_line("Name", v)));
            lines.extend(text(item, "description").map(|v| list_line("Description", v)));
            lines.extend(
                text(item, "primary_auth_method_id")
                    .map(|v| format!("    PrimaryAuthMethodId: {v}")),
            );
            lines
        },
    )
}

/// `scopes create -scope-id PARENT -name NAME [-description D]`: an org under global, a
/// project under an org.
fn create(ctx: &Context, args: &ScopeCreateArgs) -> Result<String, ClientError> {
    SCOPES.create(
        ctx,
        &ScopedCreate {
            scope_id: Some(args.scope_id.clone()),
            name: Some(args.name.clone()),
            description: args.description.clone(),
            kind: None,
        },
    )
}

/// Boundary's `scopes read` table.
pub fn item_table(item: &Value, width: usize) -> String {
    let mut rows = common_rows(item);
    // Boundary's scope block leaves out the scope's own type.
    rows.0.retain(|(key, _)| key != "Type");
    rows.opt(
        "Primary Auth Method ID",
        text(item, "primary_auth_method_id"),
    );
    let max = max_attributes_length(rows.keys());
    let mut lines = vec![String::new(), "Scope information:".to_owned()];
    lines.extend(wrap_map(2, max + 2, &rows.0));
    lines.extend(scope_block("Scope (parent)", item, max));
    let actions = actions_block(item);
    if !actions.is_empty() {
        lines.extend(actions);
        lines.push(String::new());
    }
    finish(&lines, width)
}
