//! `workers create controller-led | list | read | update | delete`.
//!
//! `create controller-led` prints the worker's one-time activation token: put it in the
//! worker's `activation_token` and start it; it trades the token for its certificate at the
//! first controller it reaches.

use clap::Subcommand;
use postern_api::bodies::ScopedCreate;
use serde_json::Value;

use super::args::{ApiArgs, IdArgs, NameUpdateArgs, ScopedListArgs};
use super::kind::Kind;
use super::render::{
    actions_block, common_rows, finish, list_line, list_table as render_list, number, scope_block,
    text, time,
};
use super::Context;
use crate::output::{max_attributes_length, wrap_map};
use crate::ClientError;

const WORKERS: Kind = Kind {
    noun: "worker",
    collection: "workers",
    item_table,
};

/// `postern workers`: the workers that carry sessions' connections.
#[derive(Debug, Subcommand)]
pub enum WorkersCommand {
    /// Create a worker.
    #[command(subcommand)]
    Create(CreateCommand),
    /// List the workers.
    List(ScopedListArgs),
    /// Show one worker, with its live state when it is linked to this controller.
    Read(IdArgs),
    /// Change a worker's name or description.
    Update(NameUpdateArgs),
    /// Delete a worker: its link is cut and its certificate refused.
    Delete(IdArgs),
}

/// How a worker is registered.
#[derive(Debug, Subcommand)]
pub enum CreateCommand {
    /// The controller makes a one-time activation token for the worker to present.
    ControllerLed(ControllerLedArgs),
}

#[derive(Debug, clap::Args)]
pub struct ControllerLedArgs {
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

impl WorkersCommand {
    /// Calls the controller; the text to print.
    pub fn run(self) -> Result<String, super::Failure> {
        match self {
            Self::Create(CreateCommand::ControllerLed(a)) => {
                a.api.run(|ctx| create_controller_led(ctx, &a))
            }
            Self::List(a) => a.api.run(|ctx| WORKERS.list_in_scope(ctx, &a, list_table)),
            Self::Read(a) => a.api.run(|ctx| WORKERS.read(ctx, &a.id)),
            Self::Update(a) => a.api.run(|ctx| WORKERS.update_name(ctx, &a)),
            Self::Delete(a) => a.api.run(|ctx| WORKERS.delete(ctx, &a.id)),
        }
    }
}

fn create_controller_led(ctx: &Context, args: &ControllerLedArgs) -> Result<String, ClientError> {
    let body = ScopedCreate {
        scope_id: Some("global".to_owned()),
        name: args.name.clone(),
        description: args.description.clone(),
        kind: None,
    };
    let response = ctx
        .api
        .post("create on worker", "workers:create:controller-led", &body)?;
    Ok(ctx.item_output(&response, item_table))
}

/// The rows of a worker's table: its fields, then what its link says.
fn worker_rows(item: &Value) -> super::render::Rows {
    let mut rows = common_rows(item);
    rows.opt("Address", text(item, "address"))
        .opt("Last Status Time", time(item, "last_status_time"))
        .opt(
            "Active Connection Count",
            item.get("active_connection_count")
                .and_then(Value::as_u64)
                .map(|n| n.to_string()),
        )
        .opt("Release Version", text(item, "release_version"))
        .opt(
            "Controller-Generated Activation Token",
            text(item, "controller_generated_activation_token"),
        );
    rows
}

/// `workers list`: each worker's id, version, name, address and last status.
pub fn list_table(items: &[Value], _recursive: bool, width: usize) -> String {
    render_list(
        "Worker information:",
        "No workers found",
        items,
        width,
        |item| {
            let version = number(item, "version").unwrap_or_else(|| "0".to_owned());
            let mut lines = vec![list_line("Version", version)];
            lines.extend(text(item, "type").map(|v| list_line("Type", v)));
            lines.extend(text(item, "name").map(|v| list_line("Name", v)));
            lines.extend(text(item, "description").map(|v| list_line("Description", v)));
            lines.extend(text(item, "address").map(|v| list_line("Address", v)));
            lines.extend(time(item, "last_status_time").map(|v| list_line("Last Status Time", v)));
            lines
        },
    )
}

/// `workers read`: the worker's fields and live state, its scope, its tags and actions.
pub fn item_table(item: &Value, width: usize) -> String {
    let rows = worker_rows(item);
    let max = max_attributes_length(rows.keys());
    let mut lines = vec![String::new(), "Worker information:".to_owned()];
    lines.extend(wrap_map(2, max + 2, &rows.0));
    lines.extend(scope_block("Scope", item, max));
    if let Some(tags) = item.get("config_tags").and_then(Value::as_object) {
        lines.extend([String::new(), "  Configuration Tags:".to_owned()]);
        for (key, values) in tags {
            let values: Vec<&str> = values
                .as_array()
                .map(|v| v.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            lines.push(format!("    {key}: {}", values.join(", ")));
        }
    }
    lines.extend(actions_block(item));
    finish(&lines, width)
}
