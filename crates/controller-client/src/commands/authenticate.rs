//! `authenticate password`: log in with a login name and password, store the auth token.
//!
//! Without `-auth-method-id` the scope's primary password auth method is used. Without
//! `-password` the password is read at a prompt with echo off (`stty -echo` on `/dev/tty`),
//! or as a line from standard input when there is no terminal. The token goes to the token
//! file (mode 0600, see [`crate::config`]) and is never printed in table output; `-format json`
//! prints the controller's reply, token included, as Boundary does.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use clap::{Args, Subcommand};
use postern_api::bodies::Authenticate;
use serde_json::Value;

use super::render::{item_json, time};
use super::{Context, ControllerOptions, Failure};
use crate::api::segment;
use crate::config::{SecretSource, TokenFile, TokenSecret, DEFAULT_ADDR};
use crate::output::{wrap_for_help_text, Format};
use crate::ClientError;

/// The prompt Boundary shows, word for word.
pub const PASSWORD_PROMPT: &str = "Please enter the password (it will be hidden): ";
const LOGIN_NAME_PROMPT: &str = "Please enter the login name (it will be hidden): ";
const PASSWORD_PREFIX: &str = "ampw_";

/// `postern authenticate`: log in, store the auth token.
#[derive(Debug, Subcommand)]
pub enum AuthenticateCommand {
    /// Log in with a login name and password.
    Password(PasswordArgs),
}

/// `authenticate password`'s flags.
#[derive(Args)]
pub struct PasswordArgs {
    /// The password auth method (default: the scope's primary one).
    #[arg(long)]
    pub auth_method_id: Option<String>,
    /// Where to look for the primary auth method.
    #[arg(long)]
    pub scope_id: Option<String>,
    /// The login name (default: asked at a prompt).
    #[arg(long)]
    pub login_name: Option<String>,
    /// env://NAME, file://PATH or the password (default: asked at a hidden prompt).
    #[arg(long)]
    pub password: Option<String>,
    /// The controller's API address.
    #[arg(long, env = "POSTERN_ADDR", default_value = DEFAULT_ADDR)]
    pub addr: String,
    /// Output format: table or json.
    #[arg(long, env = "POSTERN_FORMAT", default_value = "table")]
    pub format: Format,
}

impl std::fmt::Debug for PasswordArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordArgs")
            .field("auth_method_id", &self.auth_method_id)
            .field("scope_id", &self.scope_id)
            .field("login_name", &self.login_name)
            .field(
                "password",
                &self.password.as_ref().map(|p| SecretSource::parse(p)),
            )
            .field("addr", &self.addr)
            .field("format", &self.format)
            .finish()
    }
}

impl AuthenticateCommand {
    /// Logs in and stores the token in the token file; the text to print.
    pub fn run(self) -> Result<String, Failure> {
        let Self::Password(args) = self;
        TokenFile::default_location()
            .and_then(|store| password(&args, &store))
            .map_err(|error| Failure::new(error, args.format))
    }
}

/// Authenticates, stores the token in `store`, and returns what to print.
pub fn password(args: &PasswordArgs, store: &TokenFile) -> Result<String, ClientError> {
    let controller = ControllerOptions {
        addr: args.addr.clone(),
        token: None,
    };
    let format = args.format;
    let ctx = Context::anonymous(&controller, format)?;
    let auth_method_id = match &args.auth_method_id {
        Some(id) => id.clone(),
        None => primary_auth_method(&ctx, args.scope_id.as_deref().unwrap_or("global"))?,
    };
    let login_name = match &args.login_name {
        Some(name) => name.clone(),
        None => prompt_hidden(LOGIN_NAME_PROMPT)?.trim().to_owned(),
    };
    let password = match &args.password {
        Some(source) => SecretSource::parse(source).read("password")?,
        None => prompt_hidden(PASSWORD_PROMPT)?.trim().to_owned(),
    };
    let body = Authenticate::login(&login_name, &password);
    let path = format!("auth-methods/{}:authenticate", segment(&auth_method_id));
    let response = ctx.api.post("authentication", &path, &body)?;
    let token = response.body.get("attributes").unwrap_or(&response.body);
    let secret = token
        .get("token")
        .and_then(Value::as_str)
        .ok_or_else(|| ClientError::BadResponse {
            action: "authentication".into(),
            detail: "the reply carries no token".into(),
        })
        .and_then(TokenSecret::new)?;
    store.save(&secret)?;
    Ok(match format {
        Format::Json => item_json(response.status, &response.body),
        Format::Table => authentication_table(token, store, ctx.width),
    })
}

/// Boundary's `Authentication information:` block and where the token went.
pub fn authentication_table(token: &Value, store: &TokenFile, width: usize) -> String {
    let field = |key| {
        token
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let lines = [
        String::new(),
        "Authentication information:".to_owned(),
        format!("  Account ID:      {}", field("account_id")),
        format!("  Auth Method ID:  {}", field("auth_method_id")),
        format!(
            "  Expiration Time: {}",
            time(token, "expiration_time").unwrap_or_default()
        ),
        format!("  User ID:         {}", field("user_id")),
    ];
    format!(
        "{}\n\nThe token was successfully stored in {} and is not displayed here.\n",
        wrap_for_help_text(&lines, width),
        store.path().display()
    )
}

/// The scope's primary password auth method (anyone may list global's auth methods).
fn primary_auth_method(ctx: &Context, scope_id: &str) -> Result<String, ClientError> {
    let response = ctx.api.get(
        "list on auth methods",
        "auth-methods",
        &[("scope_id", scope_id.to_owned())],
    )?;
    let items = response.items();
    let id = |m: &Value| m.get("id").and_then(Value::as_str).map(str::to_owned);
    let primary = items
        .iter()
        .find(|m| m.get("is_primary").and_then(Value::as_bool) == Some(true));
    let passwords: Vec<_> = items
        .iter()
        .filter_map(id)
        .filter(|i| i.starts_with(PASSWORD_PREFIX))
        .collect();
    match (primary.and_then(id), passwords.as_slice()) {
        (Some(primary), _) if primary.starts_with(PASSWORD_PREFIX) => Ok(primary),
        (Some(primary), _) => Err(ClientError::Usage(format!(
            "the primary auth method of scope {scope_id} is {primary}, not a password one ({PASSWORD_PREFIX}...); pass -auth-method-id"
        ))),
        (None, [only]) => Ok(only.clone()),
        _ => Err(ClientError::Usage(format!(
            "scope {scope_id} has no primary password auth method; pass -auth-method-id"
        ))),
    }
}

/// Reads a line without echo: on the terminal when there is one, else from standard input
/// (the prompt then goes to standard error, keeping standard output for the result).
pub fn prompt_hidden(prompt: &str) -> Result<String, ClientError> {
    match OpenOptions::new().read(true).write(true).open("/dev/tty") {
        Ok(tty) => prompt_on_tty(tty, prompt).map_err(ClientError::Prompt),
        Err(_) => {
            eprint!("{prompt}");
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(ClientError::Prompt)?;
            eprintln!();
            Ok(line)
        }
    }
}

fn prompt_on_tty(mut tty: File, prompt: &str) -> std::io::Result<String> {
    let saved = stty(&tty, &["-g"]).ok();
    let restore = EchoRestore {
        tty: tty.try_clone()?,
        saved: saved.clone(),
    };
    restore_echo_on_interrupt(tty.try_clone()?, saved);
    stty(&tty, &["-echo"])?;
    tty.write_all(prompt.as_bytes())?;
    tty.flush()?;
    let mut line = String::new();
    BufReader::new(tty.try_clone()?).read_line(&mut line)?;
    drop(restore);
    tty.write_all(b"\n")?;
    Ok(line)
}

/// Runs `stty` on the terminal; its output (for `-g`: the saved settings).
fn stty(tty: &File, args: &[&str]) -> std::io::Result<String> {
    let output = Command::new("stty")
        .args(args)
        .stdin(tty.try_clone()?)
        .stderr(Stdio::null())
        .output()?;
    if !output.status.success() {
        return Err(std::io::Error::other(format!(
            "stty {} failed: {}",
            args.join(" "),
            output.status
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Puts echo back however the prompt ends.
struct EchoRestore {
    tty: File,
    saved: Option<String>,
}

impl Drop for EchoRestore {
    fn drop(&mut self) {
        restore_echo(&self.tty, self.saved.as_deref());
    }
}

fn restore_echo(tty: &File, saved: Option<&str>) {
    let restored = match saved {
        Some(settings) => stty(tty, &[settings]),
        None => stty(tty, &["echo"]),
    };
    if let Err(e) = restored {
        eprintln!("Error: could not turn terminal echo back on ({e}); run `stty echo`");
    }
}

/// Ctrl-C at the prompt would otherwise leave the terminal without echo: a watcher thread
/// restores it and exits with 130, as a shell reports SIGINT.
fn restore_echo_on_interrupt(tty: File, saved: Option<String>) {
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        if runtime.block_on(tokio::signal::ctrl_c()).is_ok() {
            restore_echo(&tty, saved.as_deref());
            eprintln!();
            std::process::exit(130);
        }
    });
}
