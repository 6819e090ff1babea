//! `proxy -authz TOKEN`, and the proxy run both it and `connect` end in.
//!
//! A command first prepares a [`ReadyProxy`] without an async runtime: the token is read
//! (standard input for `-`) and decoded, or for `connect -target-id` a session is authorized
//! over the blocking API. Nothing is bound yet. The binary then picks the runtime and runs
//! it ([`ReadyProxy::run`]) until the session ends, the command beside it exits, or a signal
//! cancels the shutdown token.

use std::process::ExitCode;

use clap::Args;
use postern_proxy::ProxyEnd;
use postern_wire::pb::targets::SessionAuthorizationData;
use tokio_util::sync::CancellationToken;

use super::args::ListenArgs;
use super::connect::{self, ExecCommand};
use super::Failure;
use crate::redeem::{self, RedeemOptions};
use crate::ClientError;

/// The exit code of `proxy` and `connect` when the session was canceled or otherwise ended
/// before its expiration (0 is a session that expired, used up its connections, or was left
/// with Ctrl-C).
pub const EXIT_SESSION_ENDED: u8 = 3;

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// The authorization token, `-` to read it from standard input, or the JSON of
    /// `targets authorize-session -format json`.
    #[arg(long, allow_hyphen_values = true)]
    pub authz: String,
    #[command(flatten)]
    pub listen: ListenArgs,
}

impl ProxyArgs {
    /// Reads and checks the token; a failure keeps the format to be printed in.
    pub fn prepare(self) -> Result<ReadyProxy, Failure> {
        ReadyProxy::new(redeem::load_token(&self.authz), &self.listen, None)
    }
}

/// A session's proxy ready to run, and the command to run beside it if any.
pub struct ReadyProxy {
    /// Holds the session's private key: kept out of `Debug`.
    token: SessionAuthorizationData,
    options: RedeemOptions,
    beside: Option<Beside>,
}

/// The command `connect -exec` or `connect ssh` runs beside the proxy.
#[derive(Debug)]
pub(crate) struct Beside {
    pub command: ExecCommand,
    /// Print the proxy's listening block first (`-exec` does, `ssh` does not).
    pub announce: bool,
}

impl std::fmt::Debug for ReadyProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadyProxy")
            .field("session_id", &self.token.session_id)
            .field("options", &self.options)
            .field("beside", &self.beside)
            .finish_non_exhaustive()
    }
}

impl ReadyProxy {
    pub(crate) fn new(
        token: Result<SessionAuthorizationData, ClientError>,
        listen: &ListenArgs,
        beside: Option<Beside>,
    ) -> Result<Self, Failure> {
        match token {
            Ok(token) => Ok(Self {
                token,
                options: listen.redeem_options(),
                beside,
            }),
            Err(error) => Err(Failure::new(error, listen.format)),
        }
    }

    /// Binds, prints where the proxy listens and serves until the session ends or `shutdown`
    /// is cancelled; with a command beside it, until the command exits. Returns the exit
    /// code: the command's, else 0, or 1 when the proxy ended on an error.
    pub async fn run(self, shutdown: CancellationToken) -> ExitCode {
        let format = self.options.format;
        let result = match &self.beside {
            Some(beside) => connect::run_with_exec(
                &self.token,
                &self.options,
                &beside.command,
                beside.announce,
                shutdown,
            )
            .await
            .map(ExitCode::from),
            None => redeem::run(&self.token, &self.options, shutdown)
                .await
                .map(|end| match end {
                    ProxyEnd::Error(_) => ExitCode::FAILURE,
                    end if end.ended_early() => ExitCode::from(EXIT_SESSION_ENDED),
                    _ => ExitCode::SUCCESS,
                }),
        };
        result.unwrap_or_else(|error| Failure::new(error, format).report())
    }
}
