//! The one session both targets use: credentials minted once, and its two TLS configs.
#![allow(dead_code)] // tls_handshake needs only the worker's config

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

pub struct Session {
    pub client: Arc<rustls::ClientConfig>,
    pub worker: Arc<rustls::ServerConfig>,
}

pub fn session() -> &'static Session {
    static SESSION: OnceLock<Session> = OnceLock::new();
    SESSION.get_or_init(|| {
        let not_after = SystemTime::now() + Duration::from_secs(365 * 24 * 3600);
        let creds = postern_tls::SessionCredentials::issue(
            "s_1234567890",
            &["127.0.0.1".to_owned()],
            not_after,
        )
        .expect("credentials");
        Session {
            client: postern_tls::client_config(&creds).expect("client config"),
            worker: postern_tls::worker_config(&creds).expect("worker config"),
        }
    })
}
