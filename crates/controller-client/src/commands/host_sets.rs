//! `host-sets list | read | create static | delete | add-hosts | set-hosts | remove-hosts`.

use serde_json::{json, Value};

use super::render::{
    actions_block, attribute_rows, attributes_block, common_rows, finish, items_json, list_block,
    list_line, list_table, number, scope_block, strings, text,
};
use super::{list_query, Context};
use crate::api::segment;
use crate::output::{max_attributes_length, wrap_map, Format};
use crate::ClientError;

/// `host-sets list -host-catalog-id`.
pub fn list(
    ctx: &Context,
    host_catalog_id: &str,
    filter: Option<&str>,
) -> Result<String, ClientError> {
    let query = list_query("host_catalog_id", host_catalog_id, false, filter);
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
pub fn read(ctx: &Context, id: &str) -> Result<String, ClientError> {
    let response = ctx.api.get("read on host set", &path(id), &[])?;
    Ok(ctx.item_output(&response, item_table))
}

/// `host-sets create static -host-catalog-id [-name] [-description]`.
pub fn create_static(
    ctx: &Context,
    host_catalog_id: &str,
    name: Option<&str>,
    description: Option<&str>,
) -> Result<String, ClientError> {
    let mut body = json!({ "host_catalog_id": host_catalog_id, "type": "static" });
    if let Some(name) = name {
        body["name"] = json!(name);
    }
    if let Some(description) = description {
        body["description"] = json!(description);
    }
    let response = ctx.api.post("create on host set", "host-sets", &body)?;
    Ok(ctx.item_output(&response, item_table))
}

/// `host-sets delete -id`.
pub fn delete(ctx: &Context, id: &str) -> Result<String, ClientError> {
    let response = ctx.api.delete("delete on host set", &path(id))?;
    Ok(ctx.deleted(&response))
}

/// Which membership action to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostChange {
    Add,
    Set,
    Remove,
}

impl HostChange {
    fn action(self) -> &'static str {
        match self {
            Self::Add => "add-hosts",
            Self::Set => "set-hosts",
            Self::Remove => "remove-hosts",
        }
    }
}

/// `host-sets add-hosts | set-hosts | remove-hosts -id -host ... [-version]`: the version is
/// read first unless given.
pub fn change_hosts(
    ctx: &Context,
    change: HostChange,
    id: &str,
    version: Option<u64>,
    host_ids: &[String],
) -> Result<String, ClientError> {
    let version = match version {
        Some(version) => version,
        None => ctx.current_version("read on host set", &path(id))?,
    };
    let action = change.action();
    let body = json!({ "version": version, "host_ids": host_ids });
    let response = ctx.api.post(
        &format!("{action} on host set"),
        &format!("{}:{action}", path(id)),
        &body,
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
