//! `targets list | read | create tcp | update tcp | delete | add-host-sources |
//! set-host-sources | remove-host-sources | authorize-session`.
//!
//! Updates and host-source changes name the target's version, read first unless `-version`
//! is given. `authorize-session` prints Boundary's `Target information:` block with the
//! authorization token `connect -authz-token`/`proxy -authz` redeems.

use clap::{Args, Subcommand};
use postern_api::bodies::{AuthorizeSession, HostSourceIds, TargetCreate, TargetUpdate, TcpPorts};
use postern_api::ConnectionLimit;
use postern_wire::pb::targets::SessionAuthorizationData;
use serde_json::Value;

use super::args::{ApiArgs, IdArgs, ScopedListArgs};
use super::render::{
    actions_block, attribute_rows, common_rows, finish, items_json, list_line, list_table,
    scope_block, text, text_or_empty, time, Rows,
};
use super::{list_query, Context, Failure, MemberChange};
use crate::api::{segment, ApiResponse};
use crate::output::{max_attributes_length, wrap_map, Format};
use crate::ClientError;

/// Boundary's names for a tcp target's attributes in tables.
const ATTRIBUTE_NAMES: &[(&str, &str)] = &[
    ("default_port", "Default Port"),
    ("default_client_port", "Default Client Port"),
];

/// `postern targets`: what sessions connect to.
#[derive(Debug, Subcommand)]
pub enum TargetsCommand {
    /// List the targets in a scope.
    List(ScopedListArgs),
    /// Show one target.
    Read(IdArgs),
    #[command(subcommand)]
    /// Create a target.
    Create(TargetCreateKind),
    #[command(subcommand)]
    /// Change a target.
    Update(TargetUpdateKind),
    /// Delete a target.
    Delete(IdArgs),
    /// Add host sets to the target.
    AddHostSources(HostSourcesArgs),
    /// Replace the target's host sets.
    SetHostSources(HostSourcesArgs),
    /// Remove host sets from the target.
    RemoveHostSources(HostSourcesArgs),
    /// Authorize a session: prints the token `connect -authz-token` redeems.
    AuthorizeSession(AuthorizeArgs),
}

#[derive(Debug, Subcommand)]
pub enum TargetCreateKind {
    /// A tcp target.
    Tcp(TcpCreateArgs),
}

#[derive(Debug, Subcommand)]
pub enum TargetUpdateKind {
    /// A tcp target.
    Tcp(TcpUpdateArgs),
}

/// A tcp target's settable fields.
// Absent ones stay as they are (update) or take the controller's default (create).
#[derive(Debug, Args)]
pub struct TcpFields {
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    /// A direct address (instead of host sources).
    #[arg(long)]
    pub address: Option<String>,
    /// The port the proxy listens on by default.
    #[arg(long)]
    pub default_client_port: Option<u16>,
    #[arg(long)]
    pub session_max_seconds: Option<u32>,
    /// -1 = unlimited.
    #[arg(long, allow_negative_numbers = true)]
    pub session_connection_limit: Option<ConnectionLimit>,
    /// Which workers may carry its sessions: a filter over each worker's name and tags,
    /// e.g. '"eu-west" in "/tags/region"'; "" clears it (update).
    #[arg(long)]
    pub egress_worker_filter: Option<String>,
}

#[derive(Debug, Args)]
pub struct TcpCreateArgs {
    #[arg(long)]
    pub scope_id: String,
    /// The endpoint's port.
    #[arg(long)]
    pub default_port: u16,
    #[command(flatten)]
    pub fields: TcpFields,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Args)]
pub struct TcpUpdateArgs {
    #[arg(long)]
    pub id: String,
    /// The version to update (default: the current one).
    #[arg(long)]
    pub version: Option<u32>,
    #[arg(long)]
    pub default_port: Option<u16>,
    #[command(flatten)]
    pub fields: TcpFields,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Args)]
pub struct HostSourcesArgs {
    #[arg(long)]
    pub id: String,
    /// A host set id; repeat for several.
    #[arg(long = "host-source", required = true)]
    pub host_sources: Vec<String>,
    #[arg(long)]
    pub version: Option<u32>,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Args)]
pub struct AuthorizeArgs {
    #[arg(long)]
    pub id: String,
    #[arg(long)]
    pub host_id: Option<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

impl TargetsCommand {
    /// Calls the controller; the text to print.
    pub fn run(self) -> Result<String, Failure> {
        use MemberChange::{Add, Remove, Set};
        match self {
            Self::List(a) => a.api.run(|ctx| list(ctx, &a)),
            Self::Read(a) => a.api.run(|ctx| read(ctx, &a.id)),
            Self::Create(TargetCreateKind::Tcp(a)) => a.api.run(|ctx| create_tcp(ctx, &a)),
            Self::Update(TargetUpdateKind::Tcp(a)) => a.api.run(|ctx| update_tcp(ctx, &a)),
            Self::Delete(a) => a.api.run(|ctx| delete(ctx, &a.id)),
            Self::AddHostSources(a) => a.api.run(|ctx| change_host_sources(ctx, Add, &a)),
            Self::SetHostSources(a) => a.api.run(|ctx| change_host_sources(ctx, Set, &a)),
            Self::RemoveHostSources(a) => a.api.run(|ctx| change_host_sources(ctx, Remove, &a)),
            Self::AuthorizeSession(a) => a.api.run(|ctx| authorize_session(ctx, &a)),
        }
    }
}

impl TcpFields {
    /// The `attributes` to send: the ports given, if any.
    fn ports(&self, default_port: Option<u16>) -> Option<TcpPorts> {
        let ports = TcpPorts {
            default_port: default_port.map(u32::from),
            default_client_port: self.default_client_port.map(u32::from),
        };
        (ports != TcpPorts::default()).then_some(ports)
    }
}

/// `targets list -scope-id [-recursive]`.
fn list(ctx: &Context, args: &ScopedListArgs) -> Result<String, ClientError> {
    let recursive = args.recursive;
    let query = list_query(
        "scope_id",
        &args.scope_id,
        recursive,
        args.filter.as_deref(),
    );
    let response = ctx.api.get("list on targets", "targets", &query)?;
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
fn read(ctx: &Context, id: &str) -> Result<String, ClientError> {
    let response = ctx.api.get("read on target", &path(id), &[])?;
    Ok(ctx.item_output(&response, item_table))
}

/// `targets create tcp -scope-id -name -default-port ...`.
fn create_tcp(ctx: &Context, args: &TcpCreateArgs) -> Result<String, ClientError> {
    let fields = &args.fields;
    let body = TargetCreate {
        scope_id: Some(args.scope_id.clone()),
        name: fields.name.clone(),
        description: fields.description.clone(),
        kind: Some("tcp".into()),
        address: fields.address.clone(),
        session_max_seconds: fields.session_max_seconds,
        session_connection_limit: fields.session_connection_limit,
        egress_worker_filter: fields.egress_worker_filter.clone(),
        attributes: fields.ports(Some(args.default_port)),
    };
    let response = ctx.api.post("create on target", "targets", &body)?;
    Ok(ctx.item_output(&response, item_table))
}

/// `targets update tcp -id [-version] ...`: only the given fields change.
fn update_tcp(ctx: &Context, args: &TcpUpdateArgs) -> Result<String, ClientError> {
    let fields = &args.fields;
    let body = TargetUpdate {
        version: Some(ctx.version_or_current(args.version, "read on target", &path(&args.id))?),
        name: fields.name.clone(),
        description: fields.description.clone(),
        address: fields.address.clone(),
        session_max_seconds: fields.session_max_seconds,
        session_connection_limit: fields.session_connection_limit,
        egress_worker_filter: fields.egress_worker_filter.clone(),
        attributes: fields.ports(args.default_port),
    };
    let response = ctx.api.patch("update on target", &path(&args.id), &body)?;
    Ok(ctx.item_output(&response, item_table))
}

/// `targets delete -id`.
fn delete(ctx: &Context, id: &str) -> Result<String, ClientError> {
    let response = ctx.api.delete("delete on target", &path(id))?;
    Ok(ctx.deleted(&response))
}

/// `targets add-host-sources | set-host-sources | remove-host-sources -id -host-source ...`.
fn change_host_sources(
    ctx: &Context,
    change: MemberChange,
    args: &HostSourcesArgs,
) -> Result<String, ClientError> {
    let response = ctx.change_members::<HostSourceIds>(
        "target",
        &path(&args.id),
        &change.action("host-sources"),
        args.version,
        &args.host_sources,
    )?;
    Ok(ctx.item_output(&response, item_table))
}

/// `POST /v1/targets/{id}:authorize-session`: the reply's item is the session
/// authorization. `id` may be a target's name when `scope_id` names its scope.
pub fn authorize(
    ctx: &Context,
    action: &str,
    id: &str,
    host_id: Option<&str>,
    scope_id: Option<&str>,
) -> Result<ApiResponse, ClientError> {
    let body = AuthorizeSession {
        host_id: host_id.map(str::to_owned),
        scope_id: scope_id.map(str::to_owned),
    };
    ctx.api
        .post(action, &format!("{}:authorize-session", path(id)), &body)
}

/// The session token in an authorize-session reply, decoded.
pub fn session_token(
    response: &ApiResponse,
    action: &str,
) -> Result<SessionAuthorizationData, ClientError> {
    let token = response
        .item()
        .get("authorization_token")
        .and_then(Value::as_str)
        .ok_or_else(|| ClientError::BadResponse {
            action: action.into(),
            detail: "the session authorization has no authorization_token".into(),
        })?;
    Ok(postern_wire::token::decode(token)?)
}

/// `targets authorize-session -id [-host-id]`.
fn authorize_session(ctx: &Context, args: &AuthorizeArgs) -> Result<String, ClientError> {
    let host_id = args.host_id.as_deref();
    let response = authorize(ctx, "authorize-session on target", &args.id, host_id, None)?;
    Ok(ctx.item_output(&response, authorization_table))
}

fn path(id: &str) -> String {
    format!("targets/{}", segment(id))
}

/// Boundary's `targets read` table.
pub fn item_table(item: &Value, width: usize) -> String {
    let mut rows = common_rows(item);
    rows.opt("Address", text(item, "address"))
        .opt("Egress Worker Filter", text(item, "egress_worker_filter"));
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
