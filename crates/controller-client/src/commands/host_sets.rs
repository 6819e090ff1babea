//! `host-sets list | read | create static | delete | add-hosts | set-hosts | remove-hosts`.

use clap::{Args, Subcommand};
use postern_api::bodies::{HostIds, HostSetCreate};
use serde_json::Value;

use super::args::{ApiArgs, CatalogListArgs, IdArgs};
use super::kind::Kind;
use super::render::{
    actions_block, attribute_rows, attributes_block, common_rows, entry_lines, finish, list_block,
    list_table as render_list, scope_block, strings, text, TYPE_NAME_DESCRIPTION,
};
use super::{Context, Failure, MemberChange};
use crate::output::{max_attributes_length, wrap_map};
use crate::ClientError;

const HOST_SETS: Kind = Kind {
    noun: "host set",
    collection: "host-sets",
    item_table,
};

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
            Self::List(a) => a
                .api
                .run(|ctx| HOST_SETS.list_in_catalog(ctx, &a, list_table)),
            Self::Read(a) => a.api.run(|ctx| HOST_SETS.read(ctx, &a.id)),
            Self::Create(HostSetCreateKind::Static(a)) => a.api.run(|ctx| create_static(ctx, &a)),
            Self::Delete(a) => a.api.run(|ctx| HOST_SETS.delete(ctx, &a.id)),
            Self::AddHosts(a) => a.api.run(|ctx| change_hosts(ctx, Add, &a)),
            Self::SetHosts(a) => a.api.run(|ctx| change_hosts(ctx, Set, &a)),
            Self::RemoveHosts(a) => a.api.run(|ctx| change_hosts(ctx, Remove, &a)),
        }
    }
}

/// `host-sets create static -host-catalog-id [-name] [-description]`.
fn create_static(ctx: &Context, args: &HostSetCreateArgs) -> Result<String, ClientError> {
    let body = HostSetCreate {
        host_catalog_id: Some(args.host_catalog_id.clone()),
        name: args.name.clone(),
        description: args.description.clone(),
        kind: Some("static".into()),
    };
    HOST_SETS.create(ctx, &body)
}

/// `host-sets add-hosts | set-hosts | remove-hosts -id -host ... [-version]`: the version is
/// read first unless given.
fn change_hosts(
    ctx: &Context,
    change: MemberChange,
    args: &HostsChangeArgs,
) -> Result<String, ClientError> {
    let action = change.action("hosts");
    HOST_SETS.change_members::<HostIds>(ctx, &args.id, &action, args.version, &args.hosts)
}

/// Boundary's `host-sets list` table.
pub fn list_table(items: &[Value], width: usize) -> String {
    render_list(
        "Host Set information:",
        "No host sets found",
        items,
        width,
        |item| entry_lines(item, false, TYPE_NAME_DESCRIPTION),
    )
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
