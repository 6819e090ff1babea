//! `host-catalogs list | read | create static | delete`.

use clap::{Args, Subcommand};
use postern_api::bodies::ScopedCreate;
use serde_json::Value;

use super::args::{ApiArgs, IdArgs, ScopedListArgs};
use super::render::{
    actions_block, attribute_rows, attributes_block, common_rows, finish, items_json, list_line,
    list_table, number, scope_block, text,
};
use super::{list_query, Context, Failure};
use crate::api::segment;
use crate::output::{max_attributes_length, wrap_map, Format};
use crate::ClientError;

/// `postern host-catalogs`.
#[derive(Debug, Subcommand)]
pub enum HostCatalogsCommand {
    /// List the host catalogs of a project.
    List(ScopedListArgs),
    /// Show one host catalog.
    Read(IdArgs),
    #[command(subcommand)]
    /// Create a host catalog.
    Create(HostCatalogCreateKind),
    /// Delete a host catalog, with its hosts and host sets.
    Delete(IdArgs),
}

#[derive(Debug, Subcommand)]
pub enum HostCatalogCreateKind {
    /// A static host catalog.
    Static(HostCatalogCreateArgs),
}

#[derive(Debug, Args)]
pub struct HostCatalogCreateArgs {
    #[arg(long)]
    pub scope_id: String,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

impl HostCatalogsCommand {
    /// Calls the controller; the text to print.
    pub fn run(self) -> Result<String, Failure> {
        match self {
            Self::List(a) => a.api.run(|ctx| list(ctx, &a)),
            Self::Read(a) => a.api.run(|ctx| read(ctx, &a.id)),
            Self::Create(HostCatalogCreateKind::Static(a)) => {
                a.api.run(|ctx| create_static(ctx, &a))
            }
            Self::Delete(a) => a.api.run(|ctx| delete(ctx, &a.id)),
        }
    }
}

/// `host-catalogs list -scope-id [-recursive]`.
fn list(ctx: &Context, args: &ScopedListArgs) -> Result<String, ClientError> {
    let recursive = args.recursive;
    let query = list_query(
        "scope_id",
        &args.scope_id,
        recursive,
        args.filter.as_deref(),
    );
    let response = ctx
        .api
        .get("list on host catalogs", "host-catalogs", &query)?;
    Ok(match ctx.format {
        Format::Table => list_table(
            "Host Catalog information:",
            "No host catalogs found",
            response.items(),
            ctx.width,
            |item| {
                let mut lines = Vec::new();
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
                lines
            },
        ),
        Format::Json => items_json(response.status, response.items()),
    })
}

/// `host-catalogs read -id`.
fn read(ctx: &Context, id: &str) -> Result<String, ClientError> {
    let response = ctx.api.get("read on host catalog", &path(id), &[])?;
    Ok(ctx.item_output(&response, item_table))
}

/// `host-catalogs create static -scope-id [-name] [-description]`.
fn create_static(ctx: &Context, args: &HostCatalogCreateArgs) -> Result<String, ClientError> {
    let body = ScopedCreate {
        scope_id: Some(args.scope_id.clone()),
        name: args.name.clone(),
        description: args.description.clone(),
        kind: Some("static".into()),
    };
    let response = ctx
        .api
        .post("create on host catalog", "host-catalogs", &body)?;
    Ok(ctx.item_output(&response, item_table))
}

/// `host-catalogs delete -id`.
fn delete(ctx: &Context, id: &str) -> Result<String, ClientError> {
    let response = ctx.api.delete("delete on host catalog", &path(id))?;
    Ok(ctx.deleted(&response))
}

fn path(id: &str) -> String {
    format!("host-catalogs/{}", segment(id))
}

/// Boundary's `host-catalogs read` table.
pub fn item_table(item: &Value, width: usize) -> String {
    let rows = common_rows(item);
    let attributes = attribute_rows(item, &[]);
    let max = max_attributes_length(rows.keys().chain(attributes.keys()));
    let mut lines = vec![String::new(), "Host Catalog information:".to_owned()];
    lines.extend(wrap_map(2, max + 2, &rows.0));
    lines.extend(scope_block("Scope", item, max));
    lines.extend(attributes_block(&attributes, max));
    lines.extend(actions_block(item));
    finish(&lines, width)
}
