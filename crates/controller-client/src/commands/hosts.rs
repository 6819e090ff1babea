//! `hosts list | read | create static | delete`.

use clap::{Args, Subcommand};
use postern_api::bodies::{HostAddress, HostCreate};
use serde_json::Value;

use super::args::{ApiArgs, CatalogListArgs, IdArgs};
use super::kind::Kind;
use super::render::{
    actions_block, attribute_rows, attributes_block, common_rows, entry_lines, finish, list_block,
    list_table as render_list, scope_block, strings, text, TYPE_NAME_DESCRIPTION,
};
use super::{Context, Failure};
use crate::output::{max_attributes_length, wrap_map};
use crate::ClientError;

const HOSTS: Kind = Kind {
    noun: "host",
    collection: "hosts",
    item_table,
};

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
            Self::List(a) => a.api.run(|ctx| HOSTS.list_in_catalog(ctx, &a, list_table)),
            Self::Read(a) => a.api.run(|ctx| HOSTS.read(ctx, &a.id)),
            Self::Create(HostCreateKind::Static(a)) => a.api.run(|ctx| create_static(ctx, &a)),
            Self::Delete(a) => a.api.run(|ctx| HOSTS.delete(ctx, &a.id)),
        }
    }
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
    HOSTS.create(ctx, &body)
}

/// Boundary's `hosts list` table.
pub fn list_table(items: &[Value], width: usize) -> String {
    render_list(
        "Host information:",
        "No hosts found",
        items,
        width,
        |item| entry_lines(item, false, TYPE_NAME_DESCRIPTION),
    )
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
