//! `scopes list | read | create | delete`.

use clap::{Args, Subcommand};
use postern_api::bodies::ScopedCreate;
use serde_json::Value;

use super::args::{ApiArgs, IdArgs, ScopedListArgs};
use super::render::{
    actions_block, common_rows, finish, items_json, list_line, list_table, number, scope_block,
    text,
};
use super::{list_query, Context, Failure};
use crate::api::segment;
use crate::output::{max_attributes_length, wrap_map, Format};
use crate::ClientError;

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
            Self::List(a) => a.api.run(|ctx| list(ctx, &a)),
            Self::Read(a) => a.api.run(|ctx| read(ctx, &a.id)),
            Self::Create(a) => a.api.run(|ctx| create(ctx, &a)),
            Self::Delete(a) => a.api.run(|ctx| delete(ctx, &a.id)),
        }
    }
}

/// `scopes list [-scope-id global] [-recursive]`: the scope's children.
fn list(ctx: &Context, args: &ScopedListArgs) -> Result<String, ClientError> {
    let recursive = args.recursive;
    let query = list_query(
        "scope_id",
        &args.scope_id,
        recursive,
        args.filter.as_deref(),
    );
    let response = ctx.api.get("list on scopes", "scopes", &query)?;
    Ok(match ctx.format {
        Format::Table => list_table(
            "Scope information:",
            "No child scopes found",
            response.items(),
            ctx.width,
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
        ),
        Format::Json => items_json(response.status, response.items()),
    })
}

/// `scopes read -id`.
fn read(ctx: &Context, id: &str) -> Result<String, ClientError> {
    let response = ctx
        .api
        .get("read on scope", &format!("scopes/{}", segment(id)), &[])?;
    Ok(ctx.item_output(&response, item_table))
}

/// `scopes create -scope-id PARENT -name NAME [-description D]`: an org under global, a
/// project under an org.
fn create(ctx: &Context, args: &ScopeCreateArgs) -> Result<String, ClientError> {
    let body = ScopedCreate {
        scope_id: Some(args.scope_id.clone()),
        name: Some(args.name.clone()),
        description: args.description.clone(),
        kind: None,
    };
    let response = ctx.api.post("create on scope", "scopes", &body)?;
    Ok(ctx.item_output(&response, item_table))
}

/// `scopes delete -id`.
fn delete(ctx: &Context, id: &str) -> Result<String, ClientError> {
    let response = ctx
        .api
        .delete("delete on scope", &format!("scopes/{}", segment(id)))?;
    Ok(ctx.deleted(&response))
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
