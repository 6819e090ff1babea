//! `host-catalogs list | read | create static | delete`.

use clap::Subcommand;
use serde_json::Value;

use super::args::{IdArgs, ScopedCreateArgs, ScopedListArgs};
use super::kind::Kind;
use super::render::{
    actions_block, attribute_rows, attributes_block, common_rows, entry_lines, finish,
    list_table as render_list, scope_block, TYPE_NAME_DESCRIPTION,
};
use super::Failure;
use crate::output::{max_attributes_length, wrap_map};

const HOST_CATALOGS: Kind = Kind {
    noun: "host catalog",
    collection: "host-catalogs",
    item_table,
};

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
    Static(ScopedCreateArgs),
}

impl HostCatalogsCommand {
    /// Calls the controller; the text to print.
    pub fn run(self) -> Result<String, Failure> {
        match self {
            Self::List(a) => a
                .api
                .run(|ctx| HOST_CATALOGS.list_in_scope(ctx, &a, list_table)),
            Self::Read(a) => a.api.run(|ctx| HOST_CATALOGS.read(ctx, &a.id)),
            Self::Create(HostCatalogCreateKind::Static(a)) => a
                .api
                .run(|ctx| HOST_CATALOGS.create_in_scope(ctx, &a, Some("static"))),
            Self::Delete(a) => a.api.run(|ctx| HOST_CATALOGS.delete(ctx, &a.id)),
        }
    }
}

/// Boundary's `host-catalogs list` table; `recursive` adds each catalog's scope.
pub fn list_table(items: &[Value], recursive: bool, width: usize) -> String {
    render_list(
        "Host Catalog information:",
        "No host catalogs found",
        items,
        width,
        |item| entry_lines(item, recursive, TYPE_NAME_DESCRIPTION),
    )
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
