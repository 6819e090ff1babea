//! `hosts list | read | create static | delete`.

use clap::{Args, Subcommand};
use postern_api::bodies::{HostAddress, HostCreate};
use serde_json::Value;

use super::args::{ApiArgs, CatalogListArgs, IdArgs};
use super::render::{
    actions_block, attribute_rows, attributes_block, common_rows, finish, items_json, list_block,
    list_line, list_table, number, scope_block, strings, text,
};
use super::{list_query, Context, Failure};
use crate::api::segment;
use crate::output::{max_attributes_length, wrap_map, Format};
use crate::ClientError;

/// `postern hosts`.
#[derive(Debug, Subcommand)]
pub enum HostsCommand {
    /// List the hosts of a host catalog.
    List(CatalogListArgs),
    /// Show one host.
    Read(IdArgs),
    #[command(subcommand)]
    /// Create a host.
    Create(HostCreateKind),
    /// Delete a host.
    Delete(IdArgs),
}

#[derive(Debug, Subcommand)]
pub enum HostCreateKind {
    /// A static host.
    Static(HostCreateArgs),
}

#[derive(Debug, Args)]
pub struct HostCreateArgs {
    #[arg(long)]
    pub host_catalog_id: String,
    /// The host's address (name or IP).
    #[arg(long)]
    pub address: String,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

impl HostsCommand {
    /// Calls the controller; the text to print.
    pub fn run(self) -> Result<String, Failure> {
        match self {
            Self::List(a) => a.api.run(|ctx| list(ctx, &a)),
            Self::Read(a) => a.api.run(|ctx| read(ctx, &a.id)),
            Self::Create(HostCreateKind::Static(a)) => a.api.run(|ctx| create_static(ctx, &a)),
            Self::Delete(a) => a.api.run(|ctx| delete(ctx, &a.id)),
        }
    }
}

/// `hosts list -host-catalog-id`.
fn list(ctx: &Context, args: &CatalogListArgs) -> Result<String, ClientError> {
    let filter = args.filter.as_deref();
    let query = list_query("host_catalog_id", &args.host_catalog_id, false, filter);
    let response = ctx.api.get("list on hosts", "hosts", &query)?;
    Ok(match ctx.format {
        Format::Table => list_table(
            "Host information:",
            "No hosts found",
            response.items(),
            ctx.width,
            |item| {
                let mut lines: Vec<String> = number(item, "version")
                    .map(|v| list_line("Version", v))
                    .into_iter()
                    .collect();
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

/// `hosts read -id`.
fn read(ctx: &Context, id: &str) -> Result<String, ClientError> {
    let response = ctx.api.get("read on host", &path(id), &[])?;
    Ok(ctx.item_output(&response, item_table))
}

/// `hosts create static -host-catalog-id -address [-name] [-description]`.
fn create_static(ctx: &Context, args: &HostCreateArgs) -> Result<String, ClientError> {
    let body = HostCreate {
        host_catalog_id: Some(args.host_catalog_id.clone()),
        name: args.name.clone(),
        description: args.description.clone(),
        kind: Some("static".into()),
        attributes: Some(HostAddress {
            address: Some(args.address.clone()),
        }),
    };
    let response = ctx.api.post("create on host", "hosts", &body)?;
    Ok(ctx.item_output(&response, item_table))
}

/// `hosts delete -id`.
fn delete(ctx: &Context, id: &str) -> Result<String, ClientError> {
    let response = ctx.api.delete("delete on host", &path(id))?;
    Ok(ctx.deleted(&response))
}

fn path(id: &str) -> String {
    format!("hosts/{}", segment(id))
}

/// Boundary's `hosts read` table.
pub fn item_table(item: &Value, width: usize) -> String {
    let mut rows = common_rows(item);
    rows.opt("Host Catalog ID", text(item, "host_catalog_id"));
    let attributes = attribute_rows(item, &[]);
    let max = max_attributes_length(rows.keys().chain(attributes.keys()));
    let mut lines = vec![String::new(), "Host information:".to_owned()];
    lines.extend(wrap_map(2, max + 2, &rows.0));
    lines.extend(scope_block("Scope", item, max));
    lines.extend(actions_block(item));
    lines.extend(list_block("Host Set IDs", &strings(item, "host_set_ids")));
    lines.extend(attributes_block(&attributes, max));
    finish(&lines, width)
}
