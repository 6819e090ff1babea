//! `host-sets list | read | create static | delete | add-hosts | set-hosts | remove-hosts`.

use clap::{Args, Subcommand};
use postern_api::bodies::{HostIds, HostSetCreate};
use serde_json::Value;

use super::args::{ApiArgs, CatalogListArgs, IdArgs};
use super::render::{
    actions_block, attribute_rows, attributes_block, common_rows, finish, items_json, list_block,
    list_line, list_table, number, scope_block, strings, text,
};
use super::{list_query, Context, Failure, MemberChange};
use crate::api::segment;
use crate::output::{max_attributes_length, wrap_map, Format};
use crate::ClientError;

/// `postern host-sets`: the hosts a target draws on.
#[derive(Debug, Subcommand)]
pub enum HostSetsCommand {
    /// List the host sets of a host catalog.
    List(CatalogListArgs),
    /// Show one host set.
    Read(IdArgs),
    #[command(subcommand)]
    /// Create a host set.
    Create(HostSetCreateKind),
    /// Delete a host set.
    Delete(IdArgs),
    /// Add hosts to the set.
    AddHosts(HostsChangeArgs),
    /// Replace the set's hosts.
    SetHosts(HostsChangeArgs),
    /// Remove hosts from the set.
    RemoveHosts(HostsChangeArgs),
}

#[derive(Debug, Subcommand)]
pub enum HostSetCreateKind {
    /// A static host set.
    Static(HostSetCreateArgs),
}

#[derive(Debug, Args)]
pub struct HostSetCreateArgs {
    #[arg(long)]
    pub host_catalog_id: String,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Args)]
pub struct HostsChangeArgs {
    #[arg(long)]
    pub id: String,
    /// A host id; repeat for several.
    #[arg(long = "host", required = true)]
    pub hosts: Vec<String>,
    #[arg(long)]
    pub version: Option<u32>,
    #[command(flatten)]
    pub api: ApiArgs,
}

impl HostSetsCommand {
    /// Calls the controller; the text to print.
    pub fn run(self) -> Result<String, Failure> {
        use MemberChange::{Add, Remove, Set};
        match self {
            Self::List(a) => a.api.run(|ctx| list(ctx, &a)),
            Self::Read(a) => a.api.run(|ctx| read(ctx, &a.id)),
            Self::Create(HostSetCreateKind::Static(a)) => a.api.run(|ctx| create_static(ctx, &a)),
            Self::Delete(a) => a.api.run(|ctx| delete(ctx, &a.id)),
            Self::AddHosts(a) => a.api.run(|ctx| change_hosts(ctx, Add, &a)),
            Self::SetHosts(a) => a.api.run(|ctx| change_hosts(ctx, Set, &a)),
            Self::RemoveHosts(a) => a.api.run(|ctx| change_hosts(ctx, Remove, &a)),
        }
    }
}

/// `host-sets list -host-catalog-id`.
fn list(ctx: &Context, args: &CatalogListArgs) -> Result<String, ClientError> {
    let filter = args.filter.as_deref();
    let query = list_query("host_catalog_id", &args.host_catalog_id, false, filter);
    let response = ctx.api.get("list on host sets", "host-sets", &query)?;
    Ok(match ctx.format {
        Format::Table => list_table(
            "Host Set information:",
            "No host sets found",
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

/// `host-sets read -id`.
fn read(ctx: &Context, id: &str) -> Result<String, ClientError> {
    let response = ctx.api.get("read on host set", &path(id), &[])?;
    Ok(ctx.item_output(&response, item_table))
}

/// `host-sets create static -host-catalog-id [-name] [-description]`.
fn create_static(ctx: &Context, args: &HostSetCreateArgs) -> Result<String, ClientError> {
    let body = HostSetCreate {
        host_catalog_id: Some(args.host_catalog_id.clone()),
        name: args.name.clone(),
        description: args.description.clone(),
        kind: Some("static".into()),
    };
    let response = ctx.api.post("create on host set", "host-sets", &body)?;
    Ok(ctx.item_output(&response, item_table))
}

/// `host-sets delete -id`.
fn delete(ctx: &Context, id: &str) -> Result<String, ClientError> {
    let response = ctx.api.delete("delete on host set", &path(id))?;
    Ok(ctx.deleted(&response))
}

/// `host-sets add-hosts | set-hosts | remove-hosts -id -host ... [-version]`: the version is
/// read first unless given.
fn change_hosts(
    ctx: &Context,
    change: MemberChange,
    args: &HostsChangeArgs,
) -> Result<String, ClientError> {
    let response = ctx.change_members::<HostIds>(
        "host set",
        &path(&args.id),
        &change.action("hosts"),
        args.version,
        &args.hosts,
    )?;
    Ok(ctx.item_output(&response, item_table))
}

fn path(id: &str) -> String {
    format!("host-sets/{}", segment(id))
}

/// Boundary's `host-sets read` table.
pub fn item_table(item: &Value, width: usize) -> String {
    let mut rows = common_rows(item);
    rows.opt("Host Catalog ID", text(item, "host_catalog_id"));
    let attributes = attribute_rows(item, &[]);
    let max = max_attributes_length(rows.keys().chain(attributes.keys()));
    let mut lines = vec![String::new(), "Host Set information:".to_owned()];
    lines.extend(wrap_map(2, max + 2, &rows.0));
    lines.extend(scope_block("Scope", item, max));
    lines.extend(attributes_block(&attributes, max));
    lines.extend(actions_block(item));
    lines.extend(list_block("Host IDs", &strings(item, "host_ids")));
    finish(&lines, width)
}
