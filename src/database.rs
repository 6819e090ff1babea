//! A controller's database: `postern database init` and `postern database migrate`, and
//! [`open`], how `postern dev -database-url` (and later `postern server`) gets its stores.
//!
//! The database holds resources, auth tokens and sessions; the key that seals sessions'
//! private keys and TOFU tokens lives in a file beside it (mode 0600), never in it. For
//! `sqlite://PATH` the file is `PATH.key` unless `-key-file` says otherwise; PostgreSQL needs
//! `-key-file`, and every controller on the database the same file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use postern_controller::resources::{
    generate_password, init_seed, ResourceError, Resources, MIN_PASSWORD_LENGTH,
};
use postern_controller::sessions::{system_clock, SessionStore};
use postern_controller_client::output::Format;
use postern_store::{
    Backend, Db, DbError, KeyFileError, SealingKey, SqlResources, SqlSessions, SCHEMA_VERSION,
};

/// Where a controller keeps its state.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// `sqlite://PATH` (created when missing) or `postgres://USER:PASSWORD@HOST:PORT/DB`.
    #[arg(long)]
    pub database_url: String,
    /// The file holding the key that seals session secrets (mode 0600). Default: PATH.key
    /// beside an SQLite database; required for PostgreSQL.
    #[arg(long)]
    pub key_file: Option<PathBuf>,
}

/// `postern database ...`.
#[derive(Debug, clap::Subcommand)]
pub enum DatabaseCommand {
    /// Create the schema, the key file and the first admin in a new database; prints the
    /// admin's password once.
    Init {
        #[command(flatten)]
        database: DatabaseArgs,
        /// The first admin's login name.
        #[arg(long, default_value = "admin")]
        login_name: String,
        /// Output format: table or json.
        #[arg(long, env = "POSTERN_FORMAT", default_value = "table")]
        format: Format,
    },
    /// Bring the schema up to this postern's version.
    Migrate {
        #[command(flatten)]
        database: DatabaseArgs,
        /// Output format: table or json.
        #[arg(long, env = "POSTERN_FORMAT", default_value = "table")]
        format: Format,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("invalid -{flag}: {message}")]
    Usage { flag: &'static str, message: String },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    #[error("the database already holds resources: it was initialized before (use it, or point -database-url at a new one)")]
    AlreadyInitialized,
    #[error("the database {0} holds no resources yet: run `postern database init -database-url {0}` first")]
    NotInitialized(String),
    #[error("{0}")]
    Resources(#[from] ResourceError),
}

impl DatabaseError {
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Self::Usage { .. } | Self::Db(DbError::Url(_)) | Self::AlreadyInitialized
        )
    }
}

/// The key file for `url`: the one given, else `PATH.key` beside an SQLite database.
pub fn key_path(url: &str, key_file: Option<&Path>) -> Result<PathBuf, DatabaseError> {
    let backend = postern_store::check_url(url)?;
    if let Some(path) = key_file {
        return Ok(path.to_owned());
    }
    match (backend, url.strip_prefix("sqlite://")) {
        (Backend::Sqlite, Some(path)) => {
            let path = path.split('?').next().unwrap_or(path);
            Ok(PathBuf::from(format!("{path}.key")))
        }
        _ => Err(DatabaseError::Usage {
            flag: "key-file",
            message: "required with a PostgreSQL database: every controller on it needs the same key file".into(),
        }),
    }
}

/// A controller's stores, open on a database.
pub struct Opened {
    pub db: Db,
    pub resources: Resources,
    pub sessions: SessionStore,
    /// Whether the key file was created now.
    pub key_created: bool,
}

/// Opens the stores on `url`, sealing with the key in `key_path`: applies the migrations
/// the database lacks (a schema newer than this build's is refused), creates the key file
/// when there is none, and refuses a key that is not the database's.
pub async fn open(url: &str, key_path: &Path) -> Result<Opened, DatabaseError> {
    let db = Db::connect(url).await?;
    db.migrate().await?;
    let (key, key_created) = postern_store::read_or_create_key(key_path)?;
    stores(db, key, key_created).await
}

/// Opens the stores of a service on a database `postern database init` made: its schema
/// must be this build's (no migration here) and its key file must exist.
pub async fn open_existing(url: &str, key_path: &Path) -> Result<Opened, DatabaseError> {
    let db = Db::connect(url).await?;
    if db.schema_version().await? == 0 {
        return Err(DatabaseError::NotInitialized(postern_store::redact(url)));
    }
    db.check_schema().await?;
    let key = postern_store::read_key(key_path)?;
    let opened = stores(db, key, false).await?;
    if opened.resources.is_blank().await? {
        return Err(DatabaseError::NotInitialized(postern_store::redact(url)));
    }
    Ok(opened)
}

async fn stores(db: Db, key: SealingKey, key_created: bool) -> Result<Opened, DatabaseError> {
    db.check_key(&key).await?;
    let clock = system_clock();
    let resources = Resources::open(Arc::new(SqlResources::new(db.clone())), clock.clone()).await?;
    let sessions = SessionStore::with_records(Arc::new(SqlSessions::new(db.clone(), key)), clock);
    Ok(Opened {
        db,
        resources,
        sessions,
        key_created,
    })
}

/// Every hour, [`Db::optimize`]: planner statistics kept fresh and SQLite's write-ahead log
/// folded back in (a long log slows every read and commit).
pub async fn upkeep(db: Db, shutdown: tokio_util::sync::CancellationToken) {
    let hour = std::time::Duration::from_secs(3600);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + hour, hour);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {
                if let Err(error) = db.optimize().await {
                    tracing::warn!(%error, "database upkeep failed");
                }
            }
        }
    }
}

impl DatabaseCommand {
    pub async fn run(self) -> Result<(), DatabaseError> {
        match self {
            Self::Init {
                database,
                login_name,
                format,
            } => init(&database, &login_name, format).await,
            Self::Migrate { database, format } => {
                let db = Db::connect(&database.database_url).await?;
                let before = db.schema_version().await?;
                let after = db.migrate().await?;
                match format {
                    Format::Json => println!(
                        "{}",
                        serde_json::json!({ "schema_version_before": before, "schema_version": after })
                    ),
                    Format::Table if before == after => {
                        println!("The schema is at version {after} already: nothing to do.")
                    }
                    Format::Table => {
                        println!("Migrated the schema from version {before} to {after}.")
                    }
                }
                Ok(())
            }
        }
    }
}

async fn init(
    database: &DatabaseArgs,
    login_name: &str,
    format: Format,
) -> Result<(), DatabaseError> {
    if login_name.is_empty() {
        return Err(DatabaseError::Usage {
            flag: "login-name",
            message: "must not be empty".into(),
        });
    }
    let url = &database.database_url;
    let key_path = key_path(url, database.key_file.as_deref())?;
    // Refuse a database already in use before creating anything (a key file) for it.
    let db = Db::connect(url).await?;
    db.migrate().await?;
    let resources = Resources::open(Arc::new(SqlResources::new(db)), system_clock()).await?;
    if !resources.is_blank().await? {
        return Err(DatabaseError::AlreadyInitialized);
    }
    let opened = open(url, &key_path).await?;
    let password = generate_password();
    debug_assert!(password.len() >= MIN_PASSWORD_LENGTH);
    let (admin, steps) = init_seed(login_name, &password);
    opened.resources.apply_seed(steps).await?;
    if format == Format::Json {
        let json = serde_json::json!({
            "schema_version": SCHEMA_VERSION,
            "auth_method_id": admin.auth_method_id,
            "login_name": login_name,
            "password": password,
            "user_id": admin.user_id,
            "key_file": key_path,
            "key_created": opened.key_created,
        });
        println!("{json}");
        return Ok(());
    }
    println!("Database initialized (schema version {SCHEMA_VERSION}).");
    println!();
    println!("Initial auth information:");
    println!("  Auth method ID:  {}", admin.auth_method_id);
    println!("  Login name:      {login_name}");
    println!("  Password:        {password}");
    println!("  User ID:         {}", admin.user_id);
    println!();
    println!("The password is shown this once: store it now.");
    let key = key_path.display();
    if opened.key_created {
        println!("Sealing key written to {key} (mode 0600). Back it up with the database: without it, no session secret opens.");
    } else {
        println!("Sealing key read from {key}.");
    }
    Ok(())
}
