//! The sealing key's file: the key in base64 on one line, mode 0600, created once by
//! `postern database init` (or `postern dev` with a database) and never written again. A file
//! others may read is refused, as ssh refuses such a private key.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::seal::{SealError, SealingKey};

/// Why the key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read the key file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create the key file {path}: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the key file {path} may be read by others (mode {mode:o}): run chmod 600 {path}")]
    Exposed { path: PathBuf, mode: u32 },
    #[error("the key file {path} does not hold a key (one line of base64, 32 bytes): {why}")]
    Malformed { path: PathBuf, why: String },
    #[error("cannot make a key: {0}")]
    Generate(#[source] SealError),
}

/// Reads the key in `path`.
pub fn read_key(path: &Path) -> Result<SealingKey, KeyFileError> {
    let read = |source| KeyFileError::Read {
        path: path.to_owned(),
        source,
    };
    let mode = std::fs::metadata(path).map_err(read)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Exposed {
            path: path.to_owned(),
            mode,
        });
    }
    let text = std::fs::read_to_string(path).map_err(read)?;
    let malformed = |why: String| KeyFileError::Malformed {
        path: path.to_owned(),
        why,
    };
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|e| malformed(e.to_string()))?;
    SealingKey::from_bytes(&bytes).map_err(|e| malformed(e.to_string()))
}

/// Creates `path` (mode 0600, refusing to replace a file) holding a fresh key.
pub fn create_key(path: &Path) -> Result<SealingKey, KeyFileError> {
    let (key, bytes) = SealingKey::generate().map_err(KeyFileError::Generate)?;
    let create = |source| KeyFileError::Create {
        path: path.to_owned(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(create)?;
    writeln!(file, "{}", STANDARD.encode(bytes)).map_err(create)?;
    file.sync_all().map_err(create)?;
    Ok(key)
}

/// The key in `path`, created there first when there is no file; whether it was created.
pub fn read_or_create_key(path: &Path) -> Result<(SealingKey, bool), KeyFileError> {
    match create_key(path) {
        Ok(key) => Ok((key, true)),
        Err(KeyFileError::Create { source, .. })
            if source.kind() == std::io::ErrorKind::AlreadyExists =>
        {
            Ok((read_key(path)?, false))
        }
        Err(other) => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_created_private_read_back_and_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("postern.key");
        let (key, created) = read_or_create_key(&path).unwrap();
        assert!(created);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let sealed = key.seal("row", b"secret").unwrap();
        let (again, created) = read_or_create_key(&path).unwrap();
        assert!(!created);
        assert_eq!(again.open("row", &sealed).unwrap(), b"secret");
        assert!(
            create_key(&path).is_err(),
            "an existing key is never replaced"
        );

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let exposed = read_key(&path).unwrap_err().to_string();
        assert!(exposed.contains("chmod 600"), "{exposed}");

        let bad = dir.path().join("bad.key");
        std::fs::write(&bad, "not base64!\n").unwrap();
        std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(
            read_key(&bad),
            Err(KeyFileError::Malformed { .. })
        ));
        std::fs::write(&bad, format!("{}\n", STANDARD.encode([1u8; 16]))).unwrap();
        assert!(matches!(
            read_key(&bad),
            Err(KeyFileError::Malformed { .. })
        ));
        let missing = read_key(&dir.path().join("missing.key")).unwrap_err();
        assert!(missing.to_string().contains("missing.key"), "{missing}");
    }
}
