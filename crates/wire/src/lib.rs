//! Wire types of postern's data plane, the bytes both ends agree on.
//!
//! - [`pb`]: the protobuf messages (generated from `proto/` at build time by protox).
//! - [`token`]: the authorization token, `base58(protobuf(SessionAuthorizationData))`.
//! - [`tofu`]: the trust-on-first-use token a client process pins its session with.
//!
//! The WebSocket transport that carries them is `postern-ws`; the byte plumbing both ends
//! share is `postern-io`.
#![forbid(unsafe_code)]

pub mod tofu;
pub mod token;

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
