//! Wire types of postern's data plane, the bytes both ends agree on.
//!
//! - [`pb`]: the protobuf messages (generated from `proto/` at build time by protox).
//! - [`token`]: the authorization token, `base58(protobuf(SessionAuthorizationData))`.
//! - [`tofu`]: the trust-on-first-use token a client process pins its session with.
//! - [`ws`]: the WebSocket transport (RFC 6455) the client proxy and worker speak inside TLS,
//!   with the HTTP/1.1 upgrade and Boundary's close codes.
//! - [`io`]: byte counting and the half-close-preserving splice both ends use.
#![forbid(unsafe_code)]

pub mod io;
pub mod tofu;
pub mod token;
pub mod ws;

pub mod pb {
    //! Generated protobuf types; field numbers are Boundary's.
    #![allow(missing_debug_implementations, clippy::all)]
    pub mod targets {
        include!(concat!(
            env!("OUT_DIR"),
            "/controller.api.resources.targets.v1.rs"
        ));
    }
    pub mod proxy {
        include!(concat!(env!("OUT_DIR"), "/worker.proxy.v1.rs"));
    }
}

pub use tofu::TofuToken;
pub use token::TokenError;
