//! The controller's HTTP contract, shared by the server (`postern-controller`) and the client
//! (`postern-controller-client`): what a request body holds ([`bodies`]), what a resource item
//! looks like ([`items`]), what an error reply says ([`error`]), and the values with rules of
//! their own ([`ConnectionLimit`]). The JSON names are Boundary's; a field renamed here fails
//! to compile on both sides.

pub mod bodies;
pub mod error;
pub mod items;
mod limit;

pub use limit::{ConnectionLimit, InvalidConnectionLimit};
