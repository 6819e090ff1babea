//! The controller's durable state. One database URL picks the backend: SQLite
//! (`sqlite://PATH`, embedded, one controller) or PostgreSQL (`postgres://...`, several
//! controllers on one database). [`Db`] opens it and runs the schema's migrations;
//! [`SqlSessions`] keeps session records in it, their secrets sealed under a [`SealingKey`]
//! that is never stored in the database.
//!
//! Built so far: session records. They pass the controller's session conformance suite on
//! SQLite and on PostgreSQL, where two stores on one database (two controllers) admit exactly
//! a session's connection limit between them. Not yet: resources, auth tokens, `postern database`, and wiring into `postern dev`
//! and `postern server` (issue 11).

mod db;
mod seal;
mod sessions;

pub use db::{Backend, Db, DbError, SCHEMA_VERSION};
pub use seal::{SealError, SealingKey, KEY_LEN};
pub use sessions::SqlSessions;
