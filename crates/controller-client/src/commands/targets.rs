//! `targets list | read | create tcp | update tcp | delete | add-host-sources |
//! set-host-sources | remove-host-sources | authorize-session`.
//!
//! Updates and host-source changes name the target's version, read first unless `-version`
//! is given. `authorize-session` prints Boundary's `Target information:` block with the
//! authorization token `connect -authz-token`/`proxy -authz` redeems.

use serde_json::{json, Map, Value};

use super::render::{
    actions_block, attribute_rows, common_rows, finish, items_json, list_line, list_table,
    scope_block, text, text_or_empty, time, Rows,
};
use super::{list_query, Context};
use crate::api::{segment, ApiResponse};
use crate::output::{max_attributes_length, wrap_map, Format};
use crate::ClientError;

/// Boundary's names for a tcp target's attributes in tables.
const ATTRIBUTE_NAMES: &[(&str, &str)] = &[
    ("default_port", "Default Port"),
    ("default_client_port", "Default Client Port"),
];

/// A tcp target's settable fields; `None` leaves a field as it is (update) or to the
/// controller's default (create).
#[derive(Debug, Clone, Default)]
pub struct TcpTarget {
    pub name: Option<String>,
    pub description: Option<String>,
    pub default_port: Option<u16>,
    pub default_client_port: Option<u16>,
    /// A direct address instead of host sources.
    pub address: Option<String>,
    pub session_max_seconds: Option<u32>,
    /// -1 = unlimited.
    pub session_connection_limit: Option<i32>,
}

impl TcpTarget {
    fn fields(&self) -> Map<String, Value> {
        let mut body = Map::new();
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                body.insert(key.to_owned(), value);
            }
        };
        put("name", self.name.as_ref().map(|v| json!(v)));
        put("description", self.description.as_ref().map(|v| json!(v)));
        put("address", self.address.as_ref().map(|v| json!(v)));
        put(
            "session_max_seconds",
            self.session_max_seconds.map(|v| json!(v)),
        );
        put(
            "session_connection_limit",
            self.session_connection_limit.map(|v| json!(v)),
        );
        let mut attributes = Map::new();
        if let Some(port) = self.default_port {
            attributes.insert("default_port".into(), json!(port));
        }
        if let Some(port) = self.default_client_port {
            attributes.insert("default_client_port".into(), json!(port));
        }
        if !attributes.is_empty() {
            body.insert("attributes".into(), Value::Object(attributes));
        }
        body
    }
}

/// `targets list -scope-id [-recursive]`.
pub fn list(
    ctx: &Context,
    scope_id: &str,
    recursive: bool,
    filter: Option<&str>,
) -> Result<String, ClientError> {
    let response = ctx.api.get(
        "list on targets",
        "targets",
        &list_query("scope_id", scope_id, recursive, filter),
    )?;
    Ok(match ctx.format {
        Format::Table => list_table(
            "Target information:",
            "No targets found",
            response.items(),
            ctx.width,
            |item| {
                let mut lines = Vec::new();
                if recursive {
                    lines.extend(text(item, "scope_id").map(|v| list_line("Scope ID", v)));
                }
                lines.extend(
                    super::render::number(item, "version").map(|v| list_line("Version", v)),
                );
                for (label, key) in [
                    ("Type", "type"),
                    ("Name", "name"),
                    ("Description", "description"),
                    ("Address", "address"),
                ] {
                    lines.extend(text(item, key).map(|v| list_line(label, v)));
                }
                lines
            },
        ),
        Format::Json => items_json(response.status, response.items()),
    })
}

/// `targets read -id`.
pub fn read(ctx: &Context, id: &str) -> Result<String, ClientError> {
    let response = ctx.api.get("read on target", &path(id), &[])?;
    Ok(ctx.item_output(&response, item_table))
}

/// `targets create tcp -scope-id -name -default-port ...`.
pub fn create_tcp(
    ctx: &Context,
    scope_id: &str,
    target: &TcpTarget,
) -> Result<String, ClientError> {
    let mut body = target.fields();
    body.insert("scope_id".into(), json!(scope_id));
    body.insert("type".into(), json!("tcp"));
    let response = ctx
        .api
        .post("create on target", "targets", &Value::Object(body))?;
    Ok(ctx.item_output(&response, item_table))
}

/// `targets update tcp -id [-version] ...`: only the given fields change.
pub fn update_tcp(
    ctx: &Context,
    id: &str,
    version: Option<u64>,
    target: &TcpTarget,
) -> Result<String, ClientError> {
    let version = version_or_current(ctx, id, version)?;
    let mut body = target.fields();
    body.insert("version".into(), json!(version));
    let response = ctx
        .api
        .patch("update on target", &path(id), &Value::Object(body))?;
    Ok(ctx.item_output(&response, item_table))
}

/// `targets delete -id`.
pub fn delete(ctx: &Context, id: &str) -> Result<String, ClientError> {
    let response = ctx.api.delete("delete on target", &path(id))?;
    Ok(ctx.deleted(&response))
}

/// Which host-source action to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostSourceChange {
    Add,
    Set,
    Remove,
}

impl HostSourceChange {
    fn action(self) -> &'static str {
        match self {
            Self::Add => "add-host-sources",
            Self::Set => "set-host-sources",
            Self::Remove => "remove-host-sources",
        }
    }
}

/// `targets add-host-sources | set-host-sources | remove-host-sources -id -host-source ...`.
pub fn change_host_sources(
    ctx: &Context,
    change: HostSourceChange,
    id: &str,
    version: Option<u64>,
    host_source_ids: &[String],
) -> Result<String, ClientError> {
    let version = version_or_current(ctx, id, version)?;
    let body = json!({ "version": version, "host_source_ids": host_source_ids });
    let action = change.action();
    let response = ctx.api.post(
        &format!("{action} on target"),
        &format!("{}:{action}", path(id)),
        &body,
    )?;
    Ok(ctx.item_output(&response, item_table))
}

/// `POST /v1/targets/{id}:authorize-session`: the reply's item is the session
/// authorization.
pub fn authorize(
    ctx: &Context,
    action: &str,
    id: &str,
    host_id: Option<&str>,
) -> Result<ApiResponse, ClientError> {
    let body = match host_id {
        Some(host) => json!({ "host_id": host }),
        None => json!({}),
    };
    ctx.api
        .post(action, &format!("{}:authorize-session", path(id)), &body)
}

/// `targets authorize-session -id [-host-id]`.
pub fn authorize_session(
    ctx: &Context,
    id: &str,
    host_id: Option<&str>,
) -> Result<String, ClientError> {
    let response = authorize(ctx, "authorize-session on target", id, host_id)?;
    Ok(ctx.item_output(&response, authorization_table))
}

fn path(id: &str) -> String {
    format!("targets/{}", segment(id))
}

fn version_or_current(ctx: &Context, id: &str, version: Option<u64>) -> Result<u64, ClientError> {
    match version {
        Some(version) => Ok(version),
        None => ctx.current_version("read on target", &path(id)),
    }
}

/// Boundary's `targets read` table.
pub fn item_table(item: &Value, width: usize) -> String {
    let mut rows = common_rows(item);
    rows.opt("Address", text(item, "address"));
    for (label, key) in [
        ("Session Connection Limit", "session_connection_limit"),
        ("Session Max Seconds", "session_max_seconds"),
    ] {
        if let Some(value) = item.get(key).filter(|v| !v.is_null()) {
            rows.add(label, super::render::go_value(value));
        }
    }
    let attributes = attribute_rows(item, ATTRIBUTE_NAMES);
    let sources = host_sources(item);
    let mut max = max_attributes_length(rows.keys().chain(attributes.keys()));
    if !sources.is_empty() {
        max = max.max("Host Catalog ID".len());
    }
    let mut lines = vec![String::new(), "Target information:".to_owned()];
    lines.extend(wrap_map(2, max + 2, &rows.0));
    lines.extend(scope_block("Scope", item, max));
    lines.extend(actions_block(item));
    lines.push(String::new());
    if !sources.is_empty() {
        lines.push("  Host Sources:".to_owned());
        for source in &sources {
            lines.extend(wrap_map(4, max, &source.0));
            lines.push(String::new());
        }
    }
    if !attributes.0.is_empty() {
        lines.push("  Attributes:".to_owned());
        lines.extend(wrap_map(4, max, &attributes.0));
    }
    finish(&lines, width)
}

/// `host_sources` (`{id, host_catalog_id}`) when the controller gives them, else the bare
/// `host_source_ids`.
fn host_sources(item: &Value) -> Vec<Rows> {
    if let Some(sources) = item.get("host_sources").and_then(Value::as_array) {
        return sources
            .iter()
            .map(|s| {
                let mut rows = Rows::default();
                rows.add("ID", text_or_empty(s, "id"))
                    .add("Host Catalog ID", text_or_empty(s, "host_catalog_id"));
                rows
            })
            .collect();
    }
    super::render::strings(item, "host_source_ids")
        .into_iter()
        .map(|id| {
            let mut rows = Rows::default();
            rows.add("ID", id);
            rows
        })
        .collect()
}

/// Boundary's `targets authorize-session` table. The token is one long word: wrapping puts
/// it alone on its own line, ready to copy.
pub fn authorization_table(item: &Value, width: usize) -> String {
    let mut rows = Rows::default();
    rows.add("Session ID", text_or_empty(item, "session_id"))
        .add("Target ID", text_or_empty(item, "target_id"))
        .add(
            "Scope ID",
            item.pointer("/scope/id")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        )
        .add("User ID", text_or_empty(item, "user_id"))
        .add("Host ID", text_or_empty(item, "host_id"))
        .add("Endpoint", text_or_empty(item, "endpoint"))
        .add(
            "Created Time",
            time(item, "created_time").unwrap_or_default(),
        )
        .add("Type", text_or_empty(item, "type"))
        .add(
            "Authorization Token",
            text_or_empty(item, "authorization_token"),
        );
    let max = rows.keys().map(str::len).max().unwrap_or(0);
    let mut lines = vec![String::new(), "Target information:".to_owned()];
    lines.extend(wrap_map(2, max + 2, &rows.0));
    lines.push(String::new());
    finish(&lines, width)
}
