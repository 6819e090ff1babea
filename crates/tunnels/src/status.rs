//! What `tunnels status` shows of each tunnel: a table block per tunnel, or one JSON object
//! (`{"tunnels": [...]}`, the field names below).

use postern_controller_client::output::{table, Format};
use serde::{Deserialize, Serialize};

/// One tunnel's status; the JSON field names are stable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelStatus {
    pub name: String,
    /// `idle`, `authorizing`, `ready`, `refusing: <reason>` or `retrying: <reason>`.
    pub state: String,
    /// Why the tunnel refuses connections, when it does.
    pub reason: Option<String>,
    pub target: String,
    /// The local address, with the port actually bound.
    pub listen: String,
    pub session_id: Option<String>,
    /// RFC 3339.
    pub expiration: Option<String>,
    pub seconds_left: Option<u64>,
    pub connections_open: u64,
    pub connections_total: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
}

/// Every tunnel's status, as `format` prints it.
pub fn render(tunnels: &[TunnelStatus], format: Format) -> String {
    match format {
        Format::Json => format!("{}\n", serde_json::json!({ "tunnels": tunnels })),
        Format::Table if tunnels.is_empty() => "No tunnels are configured.\n".to_owned(),
        Format::Table => tunnels.iter().map(block).collect(),
    }
}

fn block(tunnel: &TunnelStatus) -> String {
    let or_none = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".to_owned());
    let rows = [
        ("State", tunnel.state.clone()),
        ("Target", tunnel.target.clone()),
        ("Address", tunnel.listen.clone()),
        ("Session ID", or_none(&tunnel.session_id)),
        (
            "Time Left",
            tunnel
                .seconds_left
                .map_or_else(|| "-".to_owned(), |s| format!("{s}s")),
        ),
        (
            "Connections",
            format!(
                "{} open, {} total",
                tunnel.connections_open, tunnel.connections_total
            ),
        ),
        (
            "Bytes",
            format!("{} up, {} down", tunnel.bytes_up, tunnel.bytes_down),
        ),
    ];
    table(&format!("Tunnel {}:", tunnel.name), &rows)
}
