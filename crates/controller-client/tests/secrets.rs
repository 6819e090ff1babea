//! Secret flags (`-password`, `-token`): `env://NAME`, `file://PATH` or the value itself.
//!
//! One test in its own binary: it sets an environment variable, which must not race with
//! other tests reading the environment.

// Test helpers outside #[test] fns: unwrap() is how a test says "this must hold" (clippy.toml).
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use postern_controller_client::config::SecretSource;
use postern_controller_client::ClientError;

fn scratch_file(name: &str, contents: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("postern-secrets-{}-{name}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn passwords_come_from_the_environment_a_file_or_the_flag() {
    std::env::set_var("POSTERN_TEST_PASSWORD_7F3A", "from the environment");
    let env = SecretSource::parse("env://POSTERN_TEST_PASSWORD_7F3A");
    assert_eq!(env.read("password").unwrap(), "from the environment");

    let file = scratch_file("pw", "  from a file\n");
    let source = SecretSource::parse(&format!("file://{}", file.display()));
    assert_eq!(source, SecretSource::File(file.clone()));
    assert_eq!(
        source.read("password").unwrap(),
        "from a file",
        "surrounding whitespace is trimmed"
    );
    std::fs::remove_file(&file).unwrap();

    assert_eq!(
        SecretSource::parse("hunter2 2").read("password").unwrap(),
        "hunter2 2"
    );

    let missing = SecretSource::parse("env://POSTERN_TEST_UNSET_VARIABLE_7F3A")
        .read("password")
        .unwrap_err();
    assert!(
        matches!(missing, ClientError::SecretSource { .. }),
        "{missing}"
    );
    assert!(
        missing
            .to_string()
            .contains("POSTERN_TEST_UNSET_VARIABLE_7F3A"),
        "{missing}"
    );
    assert_eq!(missing.exit_code(), 64);

    let gone = SecretSource::parse("file:///nonexistent/postern/pw")
        .read("password")
        .unwrap_err();
    assert!(
        gone.to_string().contains("/nonexistent/postern/pw"),
        "{gone}"
    );
}
