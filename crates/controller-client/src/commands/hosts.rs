//! `hosts list | read | create static | delete`.

use serde_json::{json, Value};

use super::render::{
    actions_block, attribute_rows, attributes_block, common_rows, finish, items_json, list_block,
    list_line, list_table, number, scope_block, strings, text,
};
use super::{list_query, Context};
use crate::api::segment;
use crate::output::{max_attributes_length, wrap_map, Format};
use crate::ClientError;

/// `hosts list -host-catalog-id`.
pub fn list(
    ctx: &Context,
    host_catalog_id: &str,
    filter: Option<&str>,
) -> Result<String, ClientError> {
    let query = list_query("host_catalog_id", host_catalog_id, false, filter);
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
pub fn read(ctx: &Context, id: &str) -> Result<String, ClientError> {
    let response = ctx.api.get("read on host", &path(id), &[])?;
    Ok(ctx.item_output(&response, item_table))
}

/// `hosts create static -host-catalog-id -address [-name] [-description]`.
pub fn create_static(
    ctx: &Context,
    host_catalog_id: &str,
    address: &str,
    name: Option<&str>,
    description: Option<&str>,
) -> Result<String, ClientError> {
    let mut body = json!({
        "host_catalog_id": host_catalog_id,
        "type": "static",
        "attributes": { "address": address },
    });
    if let Some(name) = name {
        body["name"] = json!(name);
    }
    if let Some(description) = description {
        body["description"] = json!(description);
    }
    let response = ctx.api.post("create on host", "hosts", &body)?;
    Ok(ctx.item_output(&response, item_table))
}

/// `hosts delete -id`.
pub fn delete(ctx: &Context, id: &str) -> Result<String, ClientError> {
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
