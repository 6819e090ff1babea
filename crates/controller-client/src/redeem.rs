//! `postern proxy -authz TOKEN` (alias `connect -authz-token`): redeem an authorization token
//! by running a local client proxy for its session.
//!
//! Order matters: decode and validate the token (an expired session is refused before any
//! socket is bound), bind, print where the proxy listens, then run until the session ends,
//! printing connections-left changes and finally the termination reason.

use std::io::Read;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use postern_proto::pb::targets::SessionAuthorizationData;
use postern_proxy::{ClientProxy, ProxyEnd, ProxyEvent, ProxySettings};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::output::{rfc1123_local, rfc3339, table, Format};
use crate::ClientError;

/// What the user asked for on the command line.
#[derive(Debug, Clone)]
pub struct RedeemOptions {
    /// The token, `-` for standard input, or the authorize-session JSON.
    pub authz: String,
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
    let token = postern_proto::token::decode(&token_text(authz)?)?;
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

/// Runs the proxy to its end; the returned reason is what the user is told last.
pub async fn run(options: &RedeemOptions, shutdown: CancellationToken) -> Result<ProxyEnd, ClientError> {
    let token = load_token(&options.authz)?;
    let settings = ProxySettings {
        listen_addr: options.listen_addr,
        listen_port: options.listen_port,
        inactive_timeout: options.inactive_timeout,
        ..ProxySettings::default()
    };
    let proxy = std::sync::Arc::new(ClientProxy::new(&token, &settings)?);
    // Tokens without an expiration field rely on the certificate's NotAfter.
    if proxy.expiration() <= SystemTime::now() {
        return Err(ClientError::SessionExpired {
            session_id: token.session_id,
            at: rfc3339(proxy.expiration()),
        });
    }
    let listener = proxy.bind(&settings).await?;
    let local = listener.local_addr().map_err(ClientError::Stdout)?;
    let protocol = if token.r#type.is_empty() { "tcp" } else { token.r#type.as_str() };
    print(
        options.format,
        &table(
            "Proxy listening information:",
            &[
                ("Address", local.ip().to_string()),
                ("Connection Limit", proxy.connection_limit().to_string()),
                ("Expiration", rfc1123_local(proxy.expiration())),
                ("Port", local.port().to_string()),
                ("Protocol", protocol.to_owned()),
                ("Session ID", proxy.session_id().to_owned()),
            ],
        ),
        json!({
            "address": local.ip().to_string(),
            "port": local.port(),
            "protocol": protocol,
            "expiration": rfc3339(proxy.expiration()),
            "connection_limit": proxy.connection_limit(),
            "session_id": proxy.session_id(),
        }),
    );
    let (events, mut received) = mpsc::unbounded_channel();
    let format = options.format;
    let printer = tokio::spawn(async move {
        while let Some(event) = received.recv().await {
            match event {
                ProxyEvent::ConnectionsLeft(left) => print(
                    format,
                    &table("Connection information:", &[("Connections Left", left.to_string())]),
                    json!({ "connections_left": left }),
                ),
                ProxyEvent::ConnectionFailed(error) => eprintln!("Error: {error}"),
            }
        }
    });
    let end = proxy.run(listener, &settings, shutdown, events).await;
    // The proxy dropped its sender: the printer drains what is left and stops.
    if let Err(e) = printer.await {
        eprintln!("Error: event printer failed: {e}");
    }
    print(
        options.format,
        &table("Termination information:", &[("Reason", end.to_string())]),
        json!({ "termination_reason": end.to_string() }),
    );
    Ok(end)
}

fn print(format: Format, table: &str, json: serde_json::Value) {
    match format {
        Format::Table => print!("{table}"),
        Format::Json => println!("{json}"),
    }
}
