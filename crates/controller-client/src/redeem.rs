//! `postern proxy -authz TOKEN` (alias `connect -authz-token`): redeem an authorization token
//! by running a local client proxy for its session.
//!
//! Order matters: decode and validate the token (an expired session is refused before any
//! socket is bound), bind ([`start`]), print where the proxy listens, then run until the
//! session ends ([`Redemption::serve`]), printing connections-left changes and finally the
//! termination reason. [`run`] does all of it; `connect -exec` uses the pieces to run a
//! command beside the proxy.

use std::io::{IsTerminal, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use postern_proxy::{ClientProxy, ProxyEnd, ProxyEvent, ProxySettings};
use postern_wire::pb::targets::SessionAuthorizationData;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::output::{rfc1123_local, rfc3339, table, Format};
use crate::ClientError;

/// How the user wants the local proxy run.
#[derive(Debug, Clone)]
pub struct RedeemOptions {
    pub listen_addr: IpAddr,
    pub listen_port: u16,
    pub format: Format,
    /// Negative or absent: never.
    pub inactive_timeout: Option<Duration>,
}

/// Reads the token text: `-` means standard input.
fn token_text(authz: &str) -> Result<String, ClientError> {
    if authz != "-" {
        return Ok(authz.to_owned());
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(ClientError::Stdin)?;
    Ok(text)
}

/// Decodes the token and refuses a session that has already expired.
pub fn load_token(authz: &str) -> Result<SessionAuthorizationData, ClientError> {
    let token = postern_wire::token::decode(&token_text(authz)?)?;
    if let Some(expiration) = token.expiration.and_then(|t| SystemTime::try_from(t).ok()) {
        if expiration <= SystemTime::now() {
            return Err(ClientError::SessionExpired {
                session_id: token.session_id,
                at: rfc3339(expiration),
            });
        }
    }
    Ok(token)
}

/// Runs the proxy for `token` to its end, printing where it listens, connections-left
/// changes and finally the termination reason; the returned reason is what the user is told
/// last.
pub async fn run(
    token: &SessionAuthorizationData,
    options: &RedeemOptions,
    shutdown: CancellationToken,
) -> Result<ProxyEnd, ClientError> {
    let redemption = start(token, options).await?;
    redemption.print_listening();
    let format = redemption.format;
    let end = redemption.serve(shutdown, true).await;
    print_termination(format, &end);
    Ok(end)
}

/// A session's proxy, bound and not yet serving.
#[derive(Debug)]
pub struct Redemption {
    proxy: Arc<ClientProxy>,
    listener: TcpListener,
    settings: ProxySettings,
    local: SocketAddr,
    protocol: String,
    format: Format,
}

/// Refuses an expired session, then binds the local listener. Nothing is printed yet.
pub async fn start(
    token: &SessionAuthorizationData,
    options: &RedeemOptions,
) -> Result<Redemption, ClientError> {
    let settings = ProxySettings {
        listen_addr: options.listen_addr,
        listen_port: options.listen_port,
        inactive_timeout: options.inactive_timeout,
        ..ProxySettings::default()
    };
    let proxy = Arc::new(ClientProxy::new(token, &settings)?);
    // Tokens without an expiration field rely on the certificate's NotAfter.
    if proxy.expiration() <= SystemTime::now() {
        return Err(ClientError::SessionExpired {
            session_id: token.session_id.clone(),
            at: rfc3339(proxy.expiration()),
        });
    }
    let listener = proxy.bind(&settings).await?;
    let local = listener.local_addr().map_err(ClientError::Stdout)?;
    let protocol = if token.r#type.is_empty() {
        "tcp"
    } else {
        token.r#type.as_str()
    };
    Ok(Redemption {
        proxy,
        listener,
        settings,
        local,
        protocol: protocol.to_owned(),
        format: options.format,
    })
}

impl Redemption {
    /// Where the local listener is bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn session_id(&self) -> &str {
        self.proxy.session_id()
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// Boundary's `Proxy listening information:` block (or its JSON).
    pub fn print_listening(&self) {
        let proxy = &self.proxy;
        print(
            self.format,
            &table(
                "Proxy listening information:",
                &[
                    ("Address", self.local.ip().to_string()),
                    ("Connection Limit", proxy.connection_limit().to_string()),
                    ("Expiration", rfc1123_local(proxy.expiration())),
                    ("Port", self.local.port().to_string()),
                    ("Protocol", self.protocol.clone()),
                    ("Session ID", proxy.session_id().to_owned()),
                ],
            ),
            json!({
                "address": self.local.ip().to_string(),
                "port": self.local.port(),
                "protocol": self.protocol,
                "expiration": rfc3339(proxy.expiration()),
                "connection_limit": proxy.connection_limit(),
                "session_id": proxy.session_id(),
            }),
        );
    }

    /// Serves until the proxy ends. Connections-left changes are printed when `own_terminal`
    /// (not while `-exec` owns the terminal), and so is a live status line when standard
    /// output is a terminal and the format is a table; tunnel failures always go to standard
    /// error.
    pub async fn serve(self, shutdown: CancellationToken, own_terminal: bool) -> ProxyEnd {
        let (events, mut received) = mpsc::unbounded_channel();
        let format = self.format;
        let mut status =
            (own_terminal && format == Format::Table && std::io::stdout().is_terminal())
                .then(|| StatusLine(self.proxy.clone()));
        let printer = tokio::spawn(async move {
            let mut tick = tokio::time::interval(STATUS_EVERY);
            loop {
                let event = tokio::select! {
                    event = received.recv() => event,
                    _ = tick.tick(), if status.is_some() => {
                        if let Some(status) = &status {
                            status.show();
                        }
                        continue;
                    }
                };
                if let Some(status) = &status {
                    status.clear();
                }
                let Some(event) = event else {
                    // The proxy ended: whatever follows starts on a clean line.
                    status = None;
                    break;
                };
                match event {
                    ProxyEvent::ConnectionsLeft(left) if own_terminal => print(
                        format,
                        &table(
                            "Connection information:",
                            &[("Connections Left", left.to_string())],
                        ),
                        json!({ "connections_left": left }),
                    ),
                    ProxyEvent::ConnectionsLeft(_) => {}
                    ProxyEvent::ConnectionFailed(error) => eprintln!("Error: {error}"),
                }
            }
            drop(status);
        });
        let end = self
            .proxy
            .run(self.listener, &self.settings, shutdown, events)
            .await;
        // The proxy dropped its sender: the printer drains what is left and stops.
        if let Err(e) = printer.await {
            eprintln!("Error: event printer failed: {e}");
        }
        end
    }
}

/// How often the live status line is redrawn.
const STATUS_EVERY: Duration = Duration::from_secs(1);

/// The one line a proxy on a terminal keeps redrawing: connections, bytes, time left.
struct StatusLine(Arc<ClientProxy>);

impl StatusLine {
    fn show(&self) {
        let proxy = &self.0;
        let (open, total) = proxy.connections();
        let left = proxy
            .expiration()
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        let line = format!(
            "{open} open, {total} in all | up {} down {} | {} left",
            bytes_text(proxy.bytes().up()),
            bytes_text(proxy.bytes().down()),
            duration_text(left),
        );
        let mut out = std::io::stdout().lock();
        // Carriage return, then erase the line: the status stays on one line.
        // A terminal that went away is no reason to stop proxying.
        let _ = write!(out, "\r\x1b[2K{line}");
        let _ = out.flush();
    }

    fn clear(&self) {
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "\r\x1b[2K");
        let _ = out.flush();
    }
}

impl Drop for StatusLine {
    fn drop(&mut self) {
        self.clear();
    }
}

/// `1.5 MiB`, `200 B`: bytes in binary units, one decimal.
pub fn bytes_text(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `7h59m`, `4m05s`, `12s`: a time left, to the second.
pub fn duration_text(left: Duration) -> String {
    let secs = left.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s:02}s"),
        _ => format!("{h}h{m:02}m"),
    }
}

/// Boundary's `Termination information:` block (or its JSON).
pub fn print_termination(format: Format, end: &ProxyEnd) {
    print(
        format,
        &table("Termination information:", &[("Reason", end.to_string())]),
        json!({ "termination_reason": end.to_string() }),
    );
}

fn print(format: Format, table: &str, json: serde_json::Value) {
    match format {
        Format::Table => print!("{table}"),
        Format::Json => println!("{json}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_numbers_read_short() {
        assert_eq!(bytes_text(0), "0 B");
        assert_eq!(bytes_text(1023), "1023 B");
        assert_eq!(bytes_text(1536), "1.5 KiB");
        assert_eq!(bytes_text(5 << 30), "5.0 GiB");
        assert_eq!(duration_text(Duration::from_secs(12)), "12s");
        assert_eq!(duration_text(Duration::from_secs(245)), "4m05s");
        assert_eq!(duration_text(Duration::from_secs(28_799)), "7h59m");
    }
}
