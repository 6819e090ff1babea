//! `postern proxy -authz TOKEN` (alias `connect -authz-token`): redeem an authorization token
//! by running a local client proxy for its session.
//!
//! Order matters: decode and validate the token (an expired session is refused before any
//! socket is bound), bind ([`start`]), print where the proxy listens, then run until the
//! session ends ([`Redemption::serve`]), printing connections-left changes and finally the
//! termination reason. [`run`] does all of it; `connect -exec` uses the pieces to run a
//! command beside the proxy.

use std::io::Read;
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

    /// Serves until the proxy ends. Connections-left changes are printed when
    /// `show_connections_left` (not while `-exec` owns the terminal); tunnel failures always
    /// go to standard error.
    pub async fn serve(self, shutdown: CancellationToken, show_connections_left: bool) -> ProxyEnd {
        let (events, mut received) = mpsc::unbounded_channel();
        let format = self.format;
        let printer = tokio::spawn(async move {
            while let Some(event) = received.recv().await {
                match event {
                    ProxyEvent::ConnectionsLeft(left) if show_connections_left => print(
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
