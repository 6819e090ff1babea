//! The controller: the authority over sessions, and the HTTP API users and the CLI call.
//!
//! Requests enter through [`api`] (JSON over HTTP, Boundary's paths, bearer tokens); it asks
//! [`resources`] who the caller is and what a target resolves to, mints sessions in
//! [`sessions`], and narrows lists with [`filter`]. Workers reach the same [`sessions`] store
//! through `postern_authority::SessionAuthority`, which it implements: activation, connection
//! admission, byte counts, closes, and pushed cancellations. The `postern` binary runs all
//! of it plus a worker in one process (`postern dev`).
//!
//! State lives in memory behind the async [`resources::ResourceStore`] trait and the session
//! store; a durable store is a separate piece of work.
#![forbid(unsafe_code)]

pub mod api;
pub mod filter;
pub mod resources;
pub mod sessions;
pub mod workers;
