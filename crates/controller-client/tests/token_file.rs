//! The stored auth token: mode 0600 in a 0700 directory, read back as written.

// Test helpers outside #[test] fns: unwrap() is how a test says "this must hold" (clippy.toml).
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use postern_controller_client::config::{TokenFile, TokenSecret};

/// A fresh directory under the system temp dir, removed on drop.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        Self(std::env::temp_dir().join(format!("postern-{name}-{}-{nanos}", std::process::id())))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_token_is_stored_private_and_read_back() {
    let scratch = ScratchDir::new("token");
    let dir = scratch.0.join("config").join("postern");
    let store = TokenFile::in_dir(&dir);
    assert_eq!(store.load().unwrap(), None, "no file yet: no token");

    let token = TokenSecret::new("at_1234567890_s3cr3tValue").unwrap();
    store.save(&token).unwrap();
    assert_eq!(store.path(), dir.join("token"));
    assert_eq!(mode(store.path()), 0o600);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(store.load().unwrap(), Some(token));
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers,
        vec![std::ffi::OsString::from("token")],
        "no temporary file is left behind"
    );
}

#[test]
fn a_new_token_replaces_the_old_and_keeps_the_mode() {
    let scratch = ScratchDir::new("replace");
    let store = TokenFile::in_dir(&scratch.0);
    store.save(&TokenSecret::new("at_1_old").unwrap()).unwrap();
    // Someone loosened the file; saving again makes it private again.
    std::fs::set_permissions(store.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    store
        .save(&TokenSecret::new("at_2_new\n").unwrap())
        .unwrap();
    assert_eq!(store.load().unwrap().unwrap().expose(), "at_2_new");
    assert_eq!(mode(store.path()), 0o600);
}

#[test]
fn an_unwritable_location_is_a_clear_error() {
    let scratch = ScratchDir::new("blocked");
    std::fs::create_dir_all(&scratch.0).unwrap();
    // A file where the directory should be.
    let blocker = scratch.0.join("postern");
    std::fs::write(&blocker, "").unwrap();
    let error = TokenFile::in_dir(&blocker)
        .save(&TokenSecret::new("at_1_x").unwrap())
        .unwrap_err();
    assert!(error.to_string().contains("auth token file"), "{error}");
    assert!(
        !error.to_string().contains("at_1_x"),
        "the token is never in an error: {error}"
    );
}

#[test]
fn empty_tokens_are_refused() {
    assert!(TokenSecret::new(" \n").is_err());
}
