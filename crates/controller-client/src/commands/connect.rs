//! `connect -target-id`, `connect -exec CMD -- ARGS` and `connect ssh`.
//!
//! `connect -target-id` authorizes a session through the API and then runs the proxy exactly
//! as `proxy -authz` does: [`ConnectArgs::prepare`] makes the [`ReadyProxy`] either way. With
//! a command ([`run_with_exec`]) the proxy and the command run side by side: the command gets
//! the proxy's address substituted into its arguments (`{{boundary.port}}`, `{{boundary.ip}}`,
//! `{{boundary.addr}}`) and in `BOUNDARY_PROXIED_PORT`/`_IP`/`_ADDR`; when it exits the proxy
//! stops (cancelling the session) and its exit code becomes ours; when the proxy ends first
//! (expiry, cancel, Ctrl-C) the command gets SIGTERM, then SIGKILL after a grace period.

use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use clap::{Args, Subcommand};
use postern_wire::pb::targets::SessionAuthorizationData;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use super::args::ListenArgs;
use super::proxy::{Beside, ReadyProxy};
use super::{targets, Context, ControllerOptions, Failure};
use crate::output::Format;
use crate::redeem::{self, RedeemOptions};
use crate::ClientError;

/// How long a command has to exit after SIGTERM before it is killed.
const TERMINATE_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Args)]
#[command(subcommand_negates_reqs = true, args_conflicts_with_subcommands = true)]
pub struct ConnectArgs {
    #[command(subcommand)]
    pub kind: Option<ConnectKind>,
    #[command(flatten)]
    pub target: ConnectTarget,
    /// Run this command once the proxy listens; `{{boundary.port}}`, `{{boundary.ip}}` and
    /// `{{boundary.addr}}` in the arguments after `--` become the proxy's.
    #[arg(long)]
    pub exec: Option<String>,
    #[command(flatten)]
    pub listen: ListenArgs,
    #[command(flatten)]
    pub controller: ControllerOptions,
    /// Arguments for the -exec command.
    #[arg(last = true)]
    pub args: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum ConnectKind {
    /// Run the system ssh through the proxy.
    Ssh(SshArgs),
}

#[derive(Debug, Args)]
pub struct SshArgs {
    #[command(flatten)]
    pub target: ConnectTarget,
    /// The remote user name (ssh -l).
    #[arg(long)]
    pub username: Option<String>,
    #[command(flatten)]
    pub listen: ListenArgs,
    #[command(flatten)]
    pub controller: ControllerOptions,
    /// Extra arguments for ssh.
    #[arg(last = true)]
    pub args: Vec<String>,
}

/// Which session `connect` runs the proxy for.
#[derive(Debug, Args)]
pub struct ConnectTarget {
    /// The authorization token (as `proxy -authz`).
    #[arg(
        long,
        allow_hyphen_values = true,
        required_unless_present = "target_id",
        conflicts_with = "target_id"
    )]
    pub authz_token: Option<String>,
    /// Authorize a session for this target first.
    #[arg(long)]
    pub target_id: Option<String>,
    /// The host to connect to among the target's hosts (default: one at random).
    #[arg(long, requires = "target_id")]
    pub host_id: Option<String>,
}

/// A command to run beside the proxy; its arguments may hold `{{boundary.*}}` placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecCommand {
    pub program: String,
    pub args: Vec<String>,
}

impl ConnectArgs {
    /// The session's token, and the command to run beside the proxy (`-exec`, `ssh`). For
    /// `-target-id` this authorizes the session now, over the blocking API.
    pub fn prepare(self) -> Result<ReadyProxy, Failure> {
        match self.kind {
            Some(ConnectKind::Ssh(ssh)) => ssh.prepare(),
            None => {
                let token = self.target.token(&self.controller, self.listen.format);
                let beside = self.exec.map(|program| Beside {
                    command: ExecCommand {
                        program,
                        args: self.args,
                    },
                    announce: true,
                });
                ReadyProxy::new(token, &self.listen, beside)
            }
        }
    }
}

impl SshArgs {
    fn prepare(self) -> Result<ReadyProxy, Failure> {
        let token = self.target.token(&self.controller, self.listen.format);
        let beside = token.as_ref().ok().map(|token| Beside {
            command: ssh_command(token, self.username.as_deref(), &self.args),
            announce: false,
        });
        ReadyProxy::new(token, &self.listen, beside)
    }
}

impl ConnectTarget {
    /// The session's token: redeemed from -authz-token, or authorized now for -target-id.
    fn token(
        &self,
        controller: &ControllerOptions,
        format: Format,
    ) -> Result<SessionAuthorizationData, ClientError> {
        match (&self.authz_token, &self.target_id) {
            (Some(authz), _) => redeem::load_token(authz),
            (None, Some(target_id)) => {
                let ctx = Context::new(controller, format)?;
                authorize_token(&ctx, target_id, self.host_id.as_deref())
            }
            (None, None) => Err(ClientError::Usage(
                "connect needs -target-id or -authz-token".into(),
            )),
        }
    }
}

/// Authorizes a session for the target and decodes its token, ready for the proxy.
fn authorize_token(
    ctx: &Context,
    target_id: &str,
    host_id: Option<&str>,
) -> Result<SessionAuthorizationData, ClientError> {
    const ACTION: &str = "authorize-session action against given target";
    let response = targets::authorize(ctx, ACTION, target_id, host_id, None)?;
    targets::session_token(&response, ACTION)
}

/// `connect ssh`: the system `ssh` to the proxy, with the host id as the host key alias (the
/// proxy's port changes every time; the host does not): `-p PORT -o HostKeyAlias=ID
/// [-l USER] IP`, then the user's extra arguments. OpenSSH reads options after the host too,
/// so extra options work there, and a remote command can follow them.
pub fn ssh_command(
    token: &SessionAuthorizationData,
    username: Option<&str>,
    extra: &[String],
) -> ExecCommand {
    let alias = if token.host_id.is_empty() {
        &token.target_id
    } else {
        &token.host_id
    };
    let mut args = vec![
        "-p".to_owned(),
        "{{boundary.port}}".to_owned(),
        "-o".to_owned(),
        format!("HostKeyAlias={alias}"),
    ];
    if let Some(user) = username.filter(|u| !u.is_empty()) {
        args.extend(["-l".to_owned(), user.to_owned()]);
    }
    args.push("{{boundary.ip}}".to_owned());
    args.extend_from_slice(extra);
    ExecCommand {
        program: "ssh".into(),
        args,
    }
}

/// Replaces `{{boundary.port}}`, `{{boundary.ip}}` and `{{boundary.addr}}` (spaces inside the
/// braces allowed) with the proxy's port, IP and `ip:port`. Other `{{...}}` stay as they are.
pub fn substitute(arg: &str, proxy: SocketAddr) -> String {
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let inside = &rest[open + 2..];
        let value = inside.find("}}").and_then(|close| {
            let value = match inside[..close].trim() {
                "boundary.port" => proxy.port().to_string(),
                "boundary.ip" => proxy.ip().to_string(),
                "boundary.addr" => proxy.to_string(),
                _ => return None,
            };
            Some((value, close))
        });
        match value {
            Some((value, close)) => {
                out.push_str(&value);
                rest = &inside[close + 2..];
            }
            None => {
                out.push_str("{{");
                rest = inside;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The environment a command gets: where the proxy listens.
pub fn proxied_env(proxy: SocketAddr) -> [(&'static str, String); 3] {
    [
        ("BOUNDARY_PROXIED_PORT", proxy.port().to_string()),
        ("BOUNDARY_PROXIED_IP", proxy.ip().to_string()),
        ("BOUNDARY_PROXIED_ADDR", proxy.to_string()),
    ]
}

/// Runs the proxy and `command` side by side (see the module doc); `announce` prints the
/// proxy's listening block first (`connect -exec` does, `connect ssh` does not). Returns the
/// exit code to end with: the command's.
pub async fn run_with_exec(
    token: &SessionAuthorizationData,
    options: &RedeemOptions,
    command: &ExecCommand,
    announce: bool,
    shutdown: CancellationToken,
) -> Result<u8, ClientError> {
    let redemption = redeem::start(token, options).await?;
    let format = redemption.format();
    let local = redemption.local_addr();
    if announce {
        redemption.print_listening();
    }
    let stop = shutdown.child_token();
    let mut child = match spawn(command, local) {
        Ok(child) => child,
        Err(e) => {
            // Nothing will use the session: stopping at once makes the proxy cancel it.
            stop.cancel();
            redemption.serve(stop, false).await;
            return Err(e);
        }
    };
    let mut serving = tokio::spawn(redemption.serve(stop.clone(), false));
    let status = tokio::select! {
        exited = child.wait() => {
            stop.cancel();
            if let Err(e) = serving.await {
                eprintln!("Error: the proxy task failed: {e}");
            }
            exited
        }
        ended = &mut serving => {
            let status = terminate(&mut child).await;
            match ended {
                Ok(end) => redeem::print_termination(format, &end),
                Err(e) => eprintln!("Error: the proxy task failed: {e}"),
            }
            status
        }
    };
    let status = status.map_err(|source| ClientError::Exec {
        program: command.program.clone(),
        source,
    })?;
    Ok(exit_code(status))
}

fn spawn(command: &ExecCommand, proxy: SocketAddr) -> Result<Child, ClientError> {
    Command::new(&command.program)
        .args(command.args.iter().map(|arg| substitute(arg, proxy)))
        .envs(proxied_env(proxy))
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        // Whatever happens to us, the command does not outlive the proxy.
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| ClientError::Exec {
            program: command.program.clone(),
            source,
        })
}

/// SIGTERM (by `kill`, since this crate forbids the unsafe a direct signal would take), then
/// SIGKILL once the grace period is over.
async fn terminate(child: &mut Child) -> std::io::Result<ExitStatus> {
    if let Some(status) = child.try_wait()? {
        return Ok(status);
    }
    // The child is not reaped until we wait for it, so its pid cannot name another process.
    if let Some(pid) = child.id() {
        let sent = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
        if sent.is_ok_and(|s| s.success()) {
            if let Ok(status) = tokio::time::timeout(TERMINATE_GRACE, child.wait()).await {
                return status;
            }
        }
    }
    child.start_kill()?;
    child.wait().await
}

/// The command's exit code; for a command ended by a signal, 128 + the signal, as shells
/// report it.
fn exit_code(status: ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(1),
        (None, Some(signal)) => u8::try_from((128 + signal) & 0xff).unwrap_or(1),
        (None, None) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(exit_code(ExitStatus::from_raw(0)), 0);
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(ExitStatus::from_raw(15)), 143);
    }
}
