//! Where the CLI finds the controller and the caller's auth token.
//!
//! The controller address comes from `-addr` or `POSTERN_ADDR` (default
//! `http://127.0.0.1:9200`, where `postern dev` listens). The auth token comes from `-token` or
//! `POSTERN_TOKEN`, else from the token file `authenticate` wrote: `$POSTERN_CONFIG_DIR/token`,
//! else `$XDG_CONFIG_HOME/postern/token`, else `~/.config/postern/token`. The file is the
//! token's text alone, mode 0600 in a 0700 directory (the token is a bearer credential).
//!
//! Secret flags (`-password`, `-token`) take `env://NAME`, `file://PATH` or the value itself,
//! as Boundary's do ([`SecretSource`]).

use std::fmt;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::ClientError;

/// Environment variable naming the controller's API address.
pub const ADDR_ENV: &str = "POSTERN_ADDR";
/// Environment variable holding an auth token (overrides the stored one).
pub const TOKEN_ENV: &str = "POSTERN_TOKEN";
/// Environment variable naming the directory the token file lives in.
pub const CONFIG_DIR_ENV: &str = "POSTERN_CONFIG_DIR";
/// Where `postern dev` serves its API.
pub const DEFAULT_ADDR: &str = "http://127.0.0.1:9200";

const TOKEN_FILE_NAME: &str = "token";

/// An auth token (`at_..._...`): a bearer credential, never shown in Debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(String);

impl TokenSecret {
    /// Surrounding whitespace (a file's trailing newline) is not part of the token.
    pub fn new(text: &str) -> Result<Self, ClientError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ClientError::Usage("the auth token is empty".into()));
        }
        Ok(Self(text.to_owned()))
    }

    /// The token's text, for the `Authorization` header and the token file only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(***)")
    }
}

/// Where a secret flag's value comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `env://NAME`: the named environment variable.
    Env(String),
    /// `file://PATH`: the file's contents, surrounding whitespace trimmed.
    File(PathBuf),
    /// Anything else: the value itself.
    Literal(String),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => write!(f, "Env({name})"),
            Self::File(path) => write!(f, "File({})", path.display()),
            Self::Literal(_) => f.write_str("Literal(***)"),
        }
    }
}

impl SecretSource {
    pub fn parse(text: &str) -> Self {
        if let Some(name) = text.strip_prefix("env://") {
            Self::Env(name.to_owned())
        } else if let Some(path) = text.strip_prefix("file://") {
            Self::File(PathBuf::from(path))
        } else {
            Self::Literal(text.to_owned())
        }
    }

    /// Reads the secret; `what` names it in errors ("password", "token").
    pub fn read(&self, what: &str) -> Result<String, ClientError> {
        let unreadable = |detail: String| ClientError::SecretSource {
            what: what.to_owned(),
            detail,
        };
        match self {
            Self::Env(name) if name.is_empty() => {
                Err(unreadable("env:// names no variable".into()))
            }
            Self::Env(name) => std::env::var(name)
                .map_err(|e| unreadable(format!("environment variable {name}: {e}"))),
            Self::File(path) => fs::read_to_string(path)
                .map(|text| text.trim().to_owned())
                .map_err(|e| unreadable(format!("{}: {e}", path.display()))),
            Self::Literal(value) => Ok(value.clone()),
        }
    }
}

/// The directory the token file lives in (see the module doc).
pub fn config_dir() -> Result<PathBuf, ClientError> {
    let from_env = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = from_env(CONFIG_DIR_ENV) {
        return Ok(dir);
    }
    if let Some(base) = from_env("XDG_CONFIG_HOME") {
        return Ok(base.join("postern"));
    }
    from_env("HOME")
        .map(|home| home.join(".config").join("postern"))
        .ok_or_else(|| {
            ClientError::Usage(format!(
                "cannot tell where to keep the auth token: set {CONFIG_DIR_ENV} or HOME"
            ))
        })
}

/// The stored auth token's file.
#[derive(Debug, Clone)]
pub struct TokenFile {
    path: PathBuf,
}

impl TokenFile {
    /// The token file in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            path: dir.join(TOKEN_FILE_NAME),
        }
    }

    /// The token file in [`config_dir`].
    pub fn default_location() -> Result<Self, ClientError> {
        Ok(Self::in_dir(&config_dir()?))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the token with mode 0600, creating its directory with mode 0700. The file is
    /// written beside its final name and renamed over it, so a reader never sees half a token.
    pub fn save(&self, token: &TokenSecret) -> Result<(), ClientError> {
        let failed = |source| ClientError::TokenFile {
            path: self.path.clone(),
            source,
        };
        let dir = self.path.parent().unwrap_or_else(|| Path::new("."));
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(failed)?;
        let temporary = dir.join(format!(".{TOKEN_FILE_NAME}.{}.tmp", std::process::id()));
        // A leftover from a crashed run of this same pid would make create_new fail.
        if let Err(e) = fs::remove_file(&temporary) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(failed(e));
            }
        }
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temporary)?;
            // The umask can only take bits away; this makes the mode exact.
            file.set_permissions(fs::Permissions::from_mode(0o600))?;
            file.write_all(format!("{}\n", token.expose()).as_bytes())?;
            file.sync_all()?;
            fs::rename(&temporary, &self.path)
        })();
        if written.is_err() {
            // Best effort: the error that matters is the one returned below.
            let _ = fs::remove_file(&temporary);
        }
        written.map_err(failed)
    }

    /// The stored token; `None` when there is no token file.
    pub fn load(&self) -> Result<Option<TokenSecret>, ClientError> {
        match fs::read_to_string(&self.path) {
            Ok(text) if text.trim().is_empty() => Ok(None),
            Ok(text) => TokenSecret::new(&text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ClientError::TokenFile {
                path: self.path.clone(),
                source,
            }),
        }
    }
}

/// The token to send: `-token`/`POSTERN_TOKEN` (already resolved by the caller into
/// `explicit`, which may itself be `env://` or `file://`), else the stored one, else none.
pub fn resolve_token(explicit: Option<&str>) -> Result<Option<TokenSecret>, ClientError> {
    match explicit.filter(|t| !t.trim().is_empty()) {
        Some(text) => TokenSecret::new(&SecretSource::parse(text).read("token")?).map(Some),
        None => TokenFile::default_location()?.load(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_sources_parse_by_prefix() {
        assert_eq!(
            SecretSource::parse("env://PW"),
            SecretSource::Env("PW".into())
        );
        assert_eq!(
            SecretSource::parse("file:///tmp/pw"),
            SecretSource::File("/tmp/pw".into())
        );
        assert_eq!(
            SecretSource::parse("hunter22"),
            SecretSource::Literal("hunter22".into())
        );
    }

    #[test]
    fn debug_output_hides_secrets() {
        let token = TokenSecret::new("at_1234567890_secretpart").unwrap();
        assert!(!format!("{token:?}").contains("secretpart"));
        assert!(!format!("{:?}", SecretSource::parse("hunter22")).contains("hunter22"));
    }
}
