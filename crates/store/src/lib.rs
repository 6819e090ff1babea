//! The controller's durable state. One database URL picks the backend: SQLite
//! (`sqlite://PATH`, embedded, one controller) or PostgreSQL (`postgres://...`, several
//! controllers on one database). [`Db`] opens it and runs the schema's migrations;
//! [`SqlSessions`] keeps session records in it, their secrets sealed under a [`SealingKey`]
//! that is never stored in the database; [`SqlResources`] keeps resources and auth tokens
//! (passwords and token secrets only as digests).
//!
//! Both pass the controller's conformance suites on SQLite and on PostgreSQL, where two
//! stores on one database (two controllers) admit exactly a session's connection limit
//! between them and never both take one name or version.

#[cfg(feature = "cluster")]
pub mod cluster;
mod db;
mod keyfile;
mod resources;
mod seal;
mod sessions;
mod sqlite;

pub use db::{check_url, redact, Announcement, Backend, Db, DbError, SCHEMA_VERSION};
pub use keyfile::{create_key, read_key, read_or_create_key, KeyFileError};
pub use resources::SqlResources;
pub use seal::{SealError, SealingKey, KEY_LEN};
pub use sessions::SqlSessions;
