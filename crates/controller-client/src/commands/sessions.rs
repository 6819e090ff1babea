//! `sessions list | read | cancel`.
//!
//! `list` follows the controller's pages (`list_token`) until the list is complete. `cancel`
//! names the session's version, read first unless `-version` is given. Table output is
//! Boundary's: `Session information:` blocks; for one session its fields, `Scope:`,
//! `States:` (newest first) and `Connections:`, times in RFC 1123 local time.

use clap::{Args, Subcommand};
use postern_api::bodies::Version;
use serde_json::Value;

use super::args::{ApiArgs, IdArgs};
use super::render::{
    actions_block, finish, items_json, list_line, list_table as render_list, number, scope_block,
    text, time, Rows,
};
use super::{list_query, Context, Failure};
use crate::api::segment;
use crate::output::{max_attributes_length, wrap_map, Format};
use crate::ClientError;

/// Bound on the pages one `sessions list` follows (a controller whose `list_token` never
/// completes must not keep the CLI busy forever).
const MAX_PAGES: usize = 10_000;

/// `postern sessions`: list, read, cancel.
#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List sessions.
    List(SessionListArgs),
    /// Show one session, with its connections.
    Read(IdArgs),
    /// Cancel a session (its connections are closed).
    Cancel(CancelArgs),
}

#[derive(Debug, Args)]
pub struct SessionListArgs {
    #[command(flatten)]
    pub options: ListOptions,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// `sessions list`'s flags.
#[derive(Debug, Clone, Default, Args)]
pub struct ListOptions {
    /// A project (or any scope with -recursive).
    #[arg(long)]
    pub scope_id: String,
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = false, default_missing_value = "true")]
    pub recursive: bool,
    /// Only sessions matching this expression, e.g. '"/item/status" == "active"'.
    // A go-bexpr expression over `/item/...`.
    #[arg(long)]
    pub filter: Option<String>,
    /// Include terminated sessions.
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = false, default_missing_value = "true")]
    pub include_terminated: bool,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    #[arg(long)]
    pub id: String,
    /// The version to cancel (default: the current one).
    #[arg(long)]
    pub version: Option<u32>,
    #[command(flatten)]
    pub api: ApiArgs,
}

impl SessionsCommand {
    /// Calls the controller; the text to print.
    pub fn run(self) -> Result<String, Failure> {
        match self {
            Self::List(a) => a.api.run(|ctx| list(ctx, &a.options)),
            Self::Read(a) => a.api.run(|ctx| read(ctx, &a.id)),
            Self::Cancel(a) => a.api.run(|ctx| cancel(ctx, &a.id, a.version)),
        }
    }
}

/// `sessions list`: every page, in the user's format.
fn list(ctx: &Context, options: &ListOptions) -> Result<String, ClientError> {
    let (status, items) = list_all(ctx, options)?;
    Ok(match ctx.format {
        Format::Table => list_table(&items, options.recursive, ctx.width),
        Format::Json => items_json(status, &items),
    })
}

/// All sessions the list names, following `list_token` until `response_type` is
/// `complete`; a later page's version of a session replaces the earlier one.
pub fn list_all(ctx: &Context, options: &ListOptions) -> Result<(u16, Vec<Value>), ClientError> {
    const ACTION: &str = "list on sessions";
    let mut items: Vec<Value> = Vec::new();
    let mut list_token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut query = list_query(
            "scope_id",
            &options.scope_id,
            options.recursive,
            options.filter.as_deref(),
        );
        if options.include_terminated {
            query.push(("include_terminated", "true".to_owned()));
        }
        if let Some(token) = &list_token {
            query.push(("list_token", token.clone()));
        }
        let response = ctx.api.get(ACTION, "sessions", &query)?;
        for item in response.items() {
            match items
                .iter_mut()
                .find(|known| known.get("id") == item.get("id"))
            {
                Some(known) => *known = item.clone(),
                None => items.push(item.clone()),
            }
        }
        let removed = super::render::strings(&response.body, "removed_ids");
        items.retain(|item| {
            !removed
                .iter()
                .any(|id| item.get("id").and_then(Value::as_str) == Some(id))
        });
        let complete = text(&response.body, "response_type").is_none_or(|t| t == "complete");
        let next = text(&response.body, "list_token").map(str::to_owned);
        if complete || next.is_none() {
            return Ok((response.status, items));
        }
        if next == list_token {
            return Err(ClientError::BadResponse {
                action: ACTION.into(),
                detail: "the list_token did not move on to the next page".into(),
            });
        }
        list_token = next;
    }
    Err(ClientError::BadResponse {
        action: ACTION.into(),
        detail: format!("the list was still incomplete after {MAX_PAGES} pages"),
    })
}

/// `sessions read -id`.
pub fn read(ctx: &Context, id: &str) -> Result<String, ClientError> {
    let response = ctx
        .api
        .get("read on session", &format!("sessions/{}", segment(id)), &[])?;
    Ok(ctx.item_output(&response, item_table))
}

/// `sessions cancel -id [-version]`: the session's version is read first unless given.
pub fn cancel(ctx: &Context, id: &str, version: Option<u32>) -> Result<String, ClientError> {
    let path = format!("sessions/{}", segment(id));
    let body = Version {
        version: Some(ctx.version_or_current(version, "read on session", &path)?),
    };
    let response = ctx
        .api
        .post("cancel on session", &format!("{path}:cancel"), &body)?;
    Ok(ctx.item_output(&response, item_table))
}

/// Boundary's `sessions list` table.
pub fn list_table(items: &[Value], recursive: bool, width: usize) -> String {
    render_list(
        "Session information:",
        "No sessions found",
        items,
        width,
        |item| {
            let mut lines = Vec::new();
            if recursive {
                if let Some(scope) = text(item, "scope_id") {
                    lines.push(list_line("Scope ID", scope));
                }
            }
            let fields = [
                ("Status", text(item, "status").map(str::to_owned)),
                ("Created Time", time(item, "created_time")),
                ("Expiration Time", time(item, "expiration_time")),
                ("Updated Time", time(item, "updated_time")),
                ("User ID", text(item, "user_id").map(str::to_owned)),
                ("Target ID", text(item, "target_id").map(str::to_owned)),
            ];
            lines.extend(
                fields
                    .into_iter()
                    .filter_map(|(label, value)| value.map(|v| list_line(label, v))),
            );
            lines
        },
    )
}

/// Boundary's `sessions read` table: the session's fields, its scope, authorized actions,
/// states (as the API lists them: newest first) and connections.
pub fn item_table(item: &Value, width: usize) -> String {
    let mut rows = Rows::default();
    rows.opt("ID", text(item, "id"))
        .opt("Version", number(item, "version"))
        .opt("Type", text(item, "type"))
        .opt("Created Time", time(item, "created_time"))
        .opt("Updated Time", time(item, "updated_time"))
        .opt("Expiration Time", time(item, "expiration_time"))
        .opt("Target ID", text(item, "target_id"))
        .opt("Auth Token ID", text(item, "auth_token_id"))
        .opt("User ID", text(item, "user_id"))
        .opt("Host Set ID", text(item, "host_set_id"))
        .opt("Host ID", text(item, "host_id"))
        .opt("Endpoint", text(item, "endpoint"))
        .opt("Status", text(item, "status"))
        .opt(
            "Termination Reason",
            text(item, "termination_reason")
                .map(str::trim)
                .filter(|r| !r.is_empty()),
        );
    let max = max_attributes_length(rows.keys());
    let mut lines = vec![String::new(), "Session information:".to_owned()];
    lines.extend(wrap_map(2, max + 2, &rows.0));
    lines.extend(scope_block("Scope", item, max));
    lines.extend(actions_block(item));
    let states = item
        .get("states")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if !states.is_empty() {
        lines.extend([String::new(), "  States:".to_owned()]);
        for state in states {
            let mut rows = Rows::default();
            rows.add("Status", text(state, "status").unwrap_or_default())
                .add("Start Time", time(state, "start_time").unwrap_or_default())
                .opt("End Time", time(state, "end_time"));
            lines.extend(wrap_map(4, max, &rows.0));
            lines.push(String::new());
        }
    }
    let connections = item
        .get("connections")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if !connections.is_empty() {
        lines.extend([String::new(), "  Connections:".to_owned()]);
        for connection in connections {
            lines.extend(wrap_map(4, max, &connection_rows(connection).0));
            lines.push(String::new());
        }
    }
    finish(&lines, width)
}

/// One connection's rows: byte counts (0 when the API leaves them out), both TCP ends, and
/// the closed reason once it is closed.
fn connection_rows(connection: &Value) -> Rows {
    let count = |key| number(connection, key).unwrap_or_else(|| "0".to_owned());
    let port = |key| number(connection, key).unwrap_or_default();
    let mut rows = Rows::default();
    rows.add("Bytes Up", count("bytes_up"))
        .add("Bytes Down", count("bytes_down"))
        .add(
            "Client Address",
            text(connection, "client_tcp_address").unwrap_or_default(),
        )
        .add("Client Port", port("client_tcp_port"))
        .add(
            "Endpoint Address",
            text(connection, "endpoint_tcp_address").unwrap_or_default(),
        )
        .add("Endpoint Port", port("endpoint_tcp_port"))
        .opt("Closed Reason", text(connection, "closed_reason"));
    rows
}
