//! The authorization token: `base58(protobuf(SessionAuthorizationData))`.
//!
//! A controller mints the token with [`encode`]; a client proxy reads it back with [`decode`],
//! which also accepts the whole authorize-session JSON a user may paste, and checks that the
//! token holds what a client needs to connect (session id, certificate, 64-byte key, a worker)
//! before anything dials. Base58 uses the Bitcoin alphabet, one leading `1` per leading zero
//! byte, no prefix and no checksum, as Boundary does.
//!
//! The token carries the session's private key, so the hand-written `Debug` impls here mask it
//! (and the client's TOFU token), and no error quotes the token text.

use std::borrow::Cow;
use std::fmt;

use prost::Message;

use crate::pb::proxy::{ClientHandshake, Handshakecommand};
use crate::pb::targets::SessionAuthorizationData;

/// Bitcoin's base58 alphabet, the one Boundary's tokens use.
const BASE58_ALPHABET: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Every session id starts with this.
pub const SESSION_ID_PREFIX: &str = "s_";

/// An Ed25519 private key in a token: 32-byte seed then 32-byte public key.
pub const PRIVATE_KEY_LEN: usize = 64;

/// Why a token could not be read. No variant holds the token text or key bytes.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("authorization token is empty")]
    Empty,
    /// `position` counts characters of the token from 1.
    #[error(
        "authorization token is not valid base58: character {character:?} at position {position}"
    )]
    InvalidBase58 { character: char, position: usize },
    #[error("authorization token is not valid base58: {detail}")]
    Base58Decoder { detail: bs58::decode::Error },
    #[error("authorize-session JSON does not parse: {detail}")]
    JsonSyntax { detail: serde_json::Error },
    #[error(
        "authorize-session JSON has no authorization_token string \
         (looked for item.authorization_token and authorization_token)"
    )]
    JsonMissingToken,
    #[error("authorization token does not hold a session authorization: {detail}")]
    NotProtobuf { detail: prost::DecodeError },
    #[error("authorization token has no session id")]
    MissingSessionId,
    #[error("authorization token's session id {session_id:?} does not start with \"s_\"")]
    BadSessionId { session_id: String },
    #[error("authorization token has no session certificate")]
    MissingCertificate,
    #[error("authorization token has no private key")]
    MissingPrivateKey,
    #[error("authorization token's private key is {len} bytes, expected 64")]
    PrivateKeyLength { len: usize },
    #[error("authorization token names no worker")]
    NoWorker,
    #[error("authorization token's first worker has an empty address")]
    EmptyWorkerAddress,
}

/// Encodes `data` as a token: base58 of its protobuf bytes.
pub fn encode(data: &SessionAuthorizationData) -> String {
    bs58::encode(data.encode_to_vec()).into_string()
}

/// Reads a token, or the authorize-session JSON holding one, and checks that it is usable.
///
/// Accepts a bare token, or the authorize-session JSON (input starting with `{`; its
/// `item.authorization_token` or top-level `authorization_token`). Surrounding whitespace is
/// ignored. (`-` meaning stdin is the CLI's business, not this function's.)
pub fn decode(input: &str) -> Result<SessionAuthorizationData, TokenError> {
    let text = token_text(input.trim())?;
    let bytes = base58_decode(text.trim())?;
    let data = SessionAuthorizationData::decode(bytes.as_slice())
        .map_err(|detail| TokenError::NotProtobuf { detail })?;
    validate(&data)?;
    Ok(data)
}

/// The token itself: the input, or the `authorization_token` of authorize-session JSON.
fn token_text(input: &str) -> Result<Cow<'_, str>, TokenError> {
    if !input.starts_with('{') {
        return Ok(Cow::Borrowed(input));
    }
    let json: serde_json::Value =
        serde_json::from_str(input).map_err(|detail| TokenError::JsonSyntax { detail })?;
    json.pointer("/item/authorization_token")
        .or_else(|| json.get("authorization_token"))
        .and_then(serde_json::Value::as_str)
        .map(|token| Cow::Owned(token.to_owned()))
        .ok_or(TokenError::JsonMissingToken)
}

fn base58_decode(text: &str) -> Result<Vec<u8>, TokenError> {
    if text.is_empty() {
        return Err(TokenError::Empty);
    }
    // Scanned here rather than taken from bs58's error, which counts bytes, not characters,
    // and does not name a non-ASCII character.
    if let Some((index, character)) = text
        .chars()
        .enumerate()
        .find(|(_, c)| !BASE58_ALPHABET.contains(*c))
    {
        return Err(TokenError::InvalidBase58 {
            character,
            position: index + 1,
        });
    }
    let bytes = bs58::decode(text)
        .with_alphabet(bs58::Alphabet::BITCOIN)
        .into_vec()
        // Only reachable if bs58 grows a new failure: the scan above caught every bad character.
        .map_err(|detail| TokenError::Base58Decoder { detail })?;
    if bytes.is_empty() {
        return Err(TokenError::Empty);
    }
    Ok(bytes)
}

/// What a client needs before it can dial: refuse the token early with a precise reason.
fn validate(data: &SessionAuthorizationData) -> Result<(), TokenError> {
    if data.session_id.is_empty() {
        return Err(TokenError::MissingSessionId);
    }
    if !data.session_id.starts_with(SESSION_ID_PREFIX) {
        return Err(TokenError::BadSessionId {
            session_id: data.session_id.clone(),
        });
    }
    if data.certificate.is_empty() {
        return Err(TokenError::MissingCertificate);
    }
    match data.private_key.len() {
        0 => return Err(TokenError::MissingPrivateKey),
        PRIVATE_KEY_LEN => {}
        len => return Err(TokenError::PrivateKeyLength { len }),
    }
    match data.worker_info.first() {
        None => Err(TokenError::NoWorker),
        Some(worker) if worker.address.is_empty() => Err(TokenError::EmptyWorkerAddress),
        Some(_) => Ok(()),
    }
}

const MASK: &str = "***";

impl fmt::Debug for SessionAuthorizationData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionAuthorizationData")
            .field("session_id", &self.session_id)
            .field("target_id", &self.target_id)
            .field("scope", &self.scope)
            .field("created_time", &self.created_time)
            .field("type", &self.r#type)
            .field("connection_limit", &self.connection_limit)
            .field("endpoint_port", &self.endpoint_port)
            .field("expiration", &self.expiration)
            .field(
                "certificate",
                &format_args!("<{} bytes>", self.certificate.len()),
            )
            .field("private_key", &format_args!("{MASK}"))
            .field("host_id", &self.host_id)
            .field("endpoint", &self.endpoint)
            .field("worker_info", &self.worker_info)
            .field("default_client_port", &self.default_client_port)
            .finish()
    }
}

impl fmt::Debug for ClientHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("ClientHandshake");
        debug.field("tofu_token", &format_args!("{MASK}"));
        match Handshakecommand::try_from(self.command) {
            Ok(command) => debug.field("command", &command),
            Err(_) => debug.field("command", &self.command),
        };
        debug.finish()
    }
}
