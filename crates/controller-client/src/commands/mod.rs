//! The CLI's commands against the controller, one module per command group, cargo-style:
//! each module holds its clap definition (a `Subcommand` enum and its `Args` structs) beside
//! the code that runs it; [`args`] holds the flag groups several share.
//!
//! An API command builds its request, calls the API through a [`Context`] (the controller's
//! address, the caller's token, the output format), and returns its stdout text: Boundary's
//! table layout or `{"status_code", "item"|"items"}` JSON. Failures come back as a
//! [`Failure`]; [`error_text`] renders them as Boundary does (`Error from controller when
//! performing ...` plus the error's kind and message), for stderr. [`report`] prints either.
//! The item commands every kind runs alike (read, delete, create, update, list) live once in
//! `kind`, named by each module's `Kind` const.
//! `proxy` and `connect` prepare a [`proxy::ReadyProxy`] without a runtime and run it on one.

pub mod accounts;
pub mod args;
pub mod auth_methods;
pub mod authenticate;
pub mod connect;
pub mod groups;
pub mod host_catalogs;
pub mod host_sets;
pub mod hosts;
pub mod proxy;
pub mod roles;
pub mod scopes;
pub mod sessions;
pub mod targets;
pub mod users;
pub mod workers;

mod kind;
mod render;

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use postern_api::bodies::{Members, Version};
use serde_json::{json, Value};

pub use render::{item_json, items_json};

use crate::api::{ApiClient, ApiResponse, ControllerError};
use crate::config::{self, DEFAULT_ADDR};
use crate::output::{self, max_attributes_length, wrap_for_help_text, wrap_map, Format};
use crate::ClientError;

/// Where the controller is and who is asking: `-addr`/`POSTERN_ADDR`,
/// `-token`/`POSTERN_TOKEN` (`None`: the stored token).
#[derive(Clone, Default, Args)]
pub struct ControllerOptions {
    /// The controller's API address.
    #[arg(long, env = "POSTERN_ADDR", default_value = DEFAULT_ADDR)]
    pub addr: String,
    /// An auth token (or env://NAME, file://PATH); default: the one `authenticate` stored.
    #[arg(long, env = "POSTERN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl std::fmt::Debug for ControllerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerOptions")
            .field("addr", &self.addr)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Where and as whom a command talks to the controller, and how it prints.
#[derive(Debug)]
pub struct Context {
    pub api: ApiClient,
    pub format: Format,
    /// Table output wraps at this width.
    pub width: usize,
}

impl Context {
    /// A context with the caller's token (the given one, else the stored one).
    pub fn new(controller: &ControllerOptions, format: Format) -> Result<Self, ClientError> {
        let token = config::resolve_token(controller.token.as_deref())?;
        Self::with_api(ApiClient::new(address(controller), token)?, format)
    }

    /// A context without a token (authenticate).
    pub fn anonymous(controller: &ControllerOptions, format: Format) -> Result<Self, ClientError> {
        Self::with_api(ApiClient::new(address(controller), None)?, format)
    }

    pub fn with_api(api: ApiClient, format: Format) -> Result<Self, ClientError> {
        Ok(Self {
            api,
            format,
            width: output::term_width(),
        })
    }

    /// An item reply in the user's format; `table` renders the item.
    pub(crate) fn item_output(
        &self,
        response: &ApiResponse,
        table: impl FnOnce(&Value, usize) -> String,
    ) -> String {
        match self.format {
            Format::Table => table(response.item(), self.width),
            Format::Json => item_json(response.status, response.item()),
        }
    }

    /// A delete's reply in the user's format.
    pub(crate) fn deleted(&self, response: &ApiResponse) -> String {
        match self.format {
            Format::Table => "The delete operation completed successfully.\n".to_owned(),
            Format::Json => format!("{}\n", json!({ "status_code": response.status })),
        }
    }

    /// The item's current version: what an update or an action must name.
    pub(crate) fn current_version(&self, action: &str, path: &str) -> Result<u32, ClientError> {
        let item: Version = self.api.get(action, path, &[])?.parse(action)?;
        item.version.ok_or_else(|| ClientError::BadResponse {
            action: action.to_owned(),
            detail: "the item has no version".into(),
        })
    }

    /// `version`, or the item's current one when not given.
    pub(crate) fn version_or_current(
        &self,
        version: Option<u32>,
        action: &str,
        path: &str,
    ) -> Result<u32, ClientError> {
        match version {
            Some(version) => Ok(version),
            None => self.current_version(action, path),
        }
    }

    /// A membership action (`add-hosts`, `set-host-sources`, ...) on the item at `path`
    /// (`host-sets/hsst_...`) of kind `kind` ("host set"): names the version, read first
    /// unless given.
    pub(crate) fn change_members<M: Members>(
        &self,
        kind: &str,
        path: &str,
        action: &str,
        version: Option<u32>,
        ids: &[String],
    ) -> Result<ApiResponse, ClientError> {
        let version = self.version_or_current(version, &format!("read on {kind}"), path)?;
        self.api.post(
            &format!("{action} on {kind}"),
            &format!("{path}:{action}"),
            &M::new(version, ids.to_vec()),
        )
    }
}

fn address(controller: &ControllerOptions) -> &str {
    match controller.addr.trim() {
        "" => DEFAULT_ADDR,
        addr => addr,
    }
}

/// Which membership action to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberChange {
    Add,
    Set,
    Remove,
}

impl MemberChange {
    /// The action for `members`: `add-hosts`, `set-host-sources`, ...
    pub fn action(self, members: &str) -> String {
        let verb = match self {
            Self::Add => "add",
            Self::Set => "set",
            Self::Remove => "remove",
        };
        format!("{verb}-{members}")
    }
}

/// What a membership action sends, as Boundary's CLI decides it: none given is refused with
/// `missing`; for `set-*` a lone `null` is the empty list.
pub(crate) fn values_to_send(
    change: MemberChange,
    values: &[String],
    missing: &str,
) -> Result<Vec<String>, ClientError> {
    match values {
        [] => Err(ClientError::Usage(missing.to_owned())),
        [only] if change == MemberChange::Set && only == "null" => Ok(Vec::new()),
        values => Ok(values.to_vec()),
    }
}

/// A failed command: what went wrong and the format the user asked for, to print it in.
#[derive(Debug)]
pub struct Failure {
    pub error: ClientError,
    pub format: Format,
}

impl Failure {
    pub fn new(error: ClientError, format: Format) -> Self {
        Self { error, format }
    }

    /// Prints the error on stderr ([`error_text`]); the exit code to end with.
    pub fn report(&self) -> ExitCode {
        eprint!("{}", error_text(&self.error, self.format));
        ExitCode::from(self.error.exit_code())
    }
}

/// Prints an API command's output on stdout, or its failure on stderr; the exit code.
pub fn report(result: Result<String, Failure>) -> ExitCode {
    match result {
        Ok(output) => {
            emit(&output);
            ExitCode::SUCCESS
        }
        Err(failure) => failure.report(),
    }
}

/// Writes a command's output; a closed stdout (`| head`) is not an error worth a panic.
fn emit(output: &str) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(output.as_bytes())
        .and_then(|()| stdout.flush())
    {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("Error: writing output: {e}");
        }
    }
}

/// `recursive=true|false` and the rest of a list's query.
pub(crate) fn list_query(
    scope_key: &'static str,
    scope_id: &str,
    recursive: bool,
    filter: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut query = vec![(scope_key, scope_id.to_owned())];
    if recursive {
        query.push(("recursive", "true".to_owned()));
    }
    if let Some(filter) = filter.filter(|f| !f.trim().is_empty()) {
        query.push(("filter", filter.to_owned()));
    }
    query
}

/// A failed command's message for stderr, in the user's format. Controller errors read as
/// Boundary's (`Error from controller when performing ...` and an `Error information:` block
/// naming the refused fields as flags); others as `Error: ...`.
pub fn error_text(error: &ClientError, format: Format) -> String {
    match (error, format) {
        (ClientError::Controller(e), Format::Table) => controller_error_table(e),
        (ClientError::Controller(e), Format::Json) => format!(
            "{}\n",
            json!({
                "context": format!("Error from controller when performing {}", e.action),
                "status_code": e.status,
                "status": e.status,
                "api_error": e.body,
            })
        ),
        (other, Format::Table) => format!("Error: {other}\n"),
        (other, Format::Json) => format!("{}\n", json!({ "error": other.to_string() })),
    }
}

fn controller_error_table(e: &ControllerError) -> String {
    let rows = vec![
        ("Kind".to_owned(), e.kind.clone()),
        ("Message".to_owned(), e.message.clone()),
        ("Status".to_owned(), e.status.to_string()),
    ];
    let width = max_attributes_length(rows.iter().map(|(k, _)| k.as_str()));
    let mut lines = vec![
        format!("Error from controller when performing {}", e.action),
        String::new(),
        "Error information:".to_owned(),
    ];
    lines.extend(wrap_map(2, width + 2, &rows));
    let fields = e.request_fields();
    if !fields.is_empty() {
        lines.extend([String::new(), "  Field-specific Errors:".to_owned()]);
        for (name, description) in fields {
            let flag = name.trim_start_matches("attributes.").replace('_', "-");
            lines.push(format!("    Name:              -{flag}"));
            lines.push(format!("      Error:           {description}"));
        }
    }
    if e.status == 401 {
        lines.extend([
            String::new(),
            "Authenticate first: postern authenticate password -login-name <name>".to_owned(),
        ]);
    }
    format!("{}\n", wrap_for_help_text(&lines, output::term_width()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_errors_read_like_boundarys() {
        let error = ClientError::Controller(Box::new(ControllerError {
            action: "read on session".into(),
            status: 404,
            kind: "NotFound".into(),
            message: "session s_nope not found".into(),
            body: json!({"kind": "NotFound", "message": "session s_nope not found"}),
            fields: Vec::new(),
        }));
        let table = error_text(&error, Format::Table);
        assert!(
            table.starts_with(
                "Error from controller when performing read on session\n\nError information:\n"
            ),
            "{table}"
        );
        assert!(
            table.contains("\n  Kind:                NotFound\n"),
            "{table}"
        );
        assert!(table.contains("\n  Status:              404\n"), "{table}");
        let json: Value = serde_json::from_str(&error_text(&error, Format::Json)).unwrap();
        assert_eq!(json["status_code"], 404);
        assert_eq!(json["api_error"]["kind"], "NotFound");
    }
}
