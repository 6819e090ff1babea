//! The cluster link between workers and controllers: gRPC over mutual TLS 1.3.
//!
//! A worker runs apart from its controllers and reaches its session authority through this
//! link (`proto/cluster/v1/cluster.proto`):
//!
//! - [`client`]: the worker's side. [`RemoteAuthority`] implements `postern-authority`'s
//!   `SessionAuthority` over the link: every call has a deadline, the link moves to the next
//!   upstream controller with backoff and jitter when one fails, closes that could not be
//!   reported wait for the link to come back, and losing every controller for longer than the
//!   grace period tells the worker to cut its connections.
//! - [`server`]: the controller's side. [`ClusterService`] answers over any
//!   `SessionAuthority` (the controller's session store) and a [`WorkerDirectory`] (which
//!   workers exist and which certificate each holds); [`serve`] runs it on a TLS listener.
//! - [`activation`]: the one-time token a worker trades for its certificate.
//!
//! Trust comes from one cluster CA the controllers share (`postern_tls::cluster`): a worker
//! presents a certificate with its id as subject, a controller one with a fixed name. A worker
//! knows nothing at first but its activation token, which carries the CA's fingerprint.
#![forbid(unsafe_code)]

pub mod activation;
pub mod client;
mod convert;
mod route;
pub mod server;

pub use client::{LinkConfig, RemoteAuthority, WorkerIdentityFiles};
pub use server::{
    serve, ClusterService, DirectoryError, LinkedWorker, LinkedWorkers, WorkerDirectory,
};

pub mod pb {
    //! Generated protobuf types and gRPC stubs of `cluster.v1`.
    #![allow(missing_debug_implementations, clippy::all)]
    include!(concat!(env!("OUT_DIR"), "/cluster.v1.rs"));

    use std::fmt;

    // Hand-written Debug for the messages that carry secrets (build.rs skips theirs).
    impl fmt::Debug for ActivateRequest {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("ActivateRequest")
                .field("activation_token", &"***")
                .field("public_key", &self.public_key.len())
                .finish()
        }
    }

    impl fmt::Debug for WorkerSession {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("WorkerSession")
                .field("id", &self.id)
                .field("status", &self.status)
                .field("private_key", &"***")
                .field("endpoint", &self.endpoint)
                .field("expiration_unix_nanos", &self.expiration_unix_nanos)
                .field("connection_limit", &self.connection_limit)
                .field("tofu_token", &"***")
                .finish_non_exhaustive()
        }
    }

    impl fmt::Debug for ActivateSessionRequest {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("ActivateSessionRequest")
                .field("session_id", &self.session_id)
                .field("tofu_token", &"***")
                .finish()
        }
    }
}
