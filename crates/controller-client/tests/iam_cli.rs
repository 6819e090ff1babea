//! `postern users`, `postern accounts` and `postern auth-methods`: their tables laid out as
//! Boundary's CLI prints them, and, against a scripted HTTP server on 127.0.0.1:0, the
//! requests they send (the version read first, `null` clearing a list, the password taken
//! from `env://` and never printed, Boundary's refusals before any request).
//!
//! One test sets an environment variable; every test here takes [`serial`] first, so none
//! reads the environment (`COLUMNS`, `TZ`) while it changes.

// Test helpers outside #[test] fns: unwrap() is how a test says "this must hold" (clippy.toml).
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};

use clap::Parser;
use common::{assert_no_request, at, next, scripted_server, silent_listener, TOKEN};
use postern_controller_client::commands::accounts::{self, AccountsCommand};
use postern_controller_client::commands::auth_methods::{self, AuthMethodsCommand};
use postern_controller_client::commands::users::{self, UsersCommand};
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery staple";
const PASSWORD_VAR: &str = "POSTERN_TEST_IAM_CLI_PASSWORD_9C1E";

static ENVIRONMENT: Mutex<()> = Mutex::new(());

/// Held for a whole test: the tests of this binary run one at a time.
fn serial() -> MutexGuard<'static, ()> {
    ENVIRONMENT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn global() -> Value {
    json!({"id": "global", "type": "global", "name": "global", "description": "Global Scope"})
}

/// Postern's dev admin user, as `GET /v1/users/{id}` returns it.
fn user() -> Value {
    json!({
        "id": "u_1234567890", "scope_id": "global", "scope": global(), "name": "admin",
        "description": "Initial admin user within the \"global\" scope", "login_name": "admin",
        "primary_account_id": "acctpw_1234567890", "account_ids": ["acctpw_1234567890"],
        "created_time": "2024-01-02T03:04:05Z", "updated_time": "2024-01-02T03:04:06Z",
        "version": 2,
        "authorized_actions": ["no-op", "read", "update", "delete", "add-accounts"]
    })
}

fn account() -> Value {
    json!({
        "id": "acctpw_1234567890", "auth_method_id": "ampw_1234567890", "scope": global(),
        "type": "password", "name": "admin account", "attributes": {"login_name": "admin"},
        "created_time": "2024-01-02T03:04:05Z", "updated_time": "2024-01-02T03:04:06Z",
        "version": 1,
        "authorized_actions": ["no-op", "read", "update", "delete"]
    })
}

fn auth_method() -> Value {
    json!({
        "id": "ampw_1234567890", "scope_id": "global", "scope": global(),
        "name": "Generated global scope initial password auth method",
        "description": "Provides initial authentication into Boundary",
        "created_time": "2024-01-02T03:04:05Z", "updated_time": "2024-01-02T03:04:06Z",
        "version": 1, "type": "password", "is_primary": true,
        "attributes": {"min_login_name_length": 3, "min_password_length": 8},
        "authorized_actions": ["no-op", "read", "authenticate"],
        "authorized_collection_actions": {"accounts": ["create", "list"]}
    })
}

#[test]
fn user_read_table_is_boundarys() {
    let _serial = serial();
    let out = users::item_table(&user(), 80);
    // "Primary Account Id" (18) is the longest key: values start 20 columns past the indent.
    let expected = format!(
        "
User information:
  Created Time:         {created}
  Description:          Initial admin user within the \"global\" scope
  ID:                   u_1234567890
  Login Name:           admin
  Name:                 admin
  Primary Account Id:   acctpw_1234567890
  Updated Time:         {updated}
  Version:              2

  Scope:
    ID:                 global
    Name:               global
    Type:               global

  Authorized Actions:
    no-op
    read
    update
    delete
    add-accounts

  Accounts:
    ID:                 acctpw_1234567890

",
        created = at("2024-01-02T03:04:05Z"),
        updated = at("2024-01-02T03:04:06Z"),
    );
    assert_eq!(out, expected);
}

#[test]
fn user_list_table_is_boundarys() {
    let _serial = serial();
    let mut other = user();
    other["id"] = json!("u_0987654321");
    other["scope_id"] = json!("o_1234567890");
    for key in [
        "description",
        "login_name",
        "primary_account_id",
        "authorized_actions",
    ] {
        other.as_object_mut().unwrap().remove(key);
    }
    let out = users::list_table(&[user(), other.clone()], false, 80);
    let expected = "
User information:
  ID:                    u_1234567890
    Version:             2
    Name:                admin
    Description:         Initial admin user within the \"global\" scope
    Primary Account ID:  acctpw_1234567890
    Login Name:          admin
    Authorized Actions:
      no-op
      read
      update
      delete
      add-accounts

  ID:                    u_0987654321
    Version:             2
    Name:                admin
";
    assert_eq!(out, expected);
    let recursive = users::list_table(&[other], true, 80);
    assert!(
        recursive.contains(
            "\n  ID:                    u_0987654321\n    Scope ID:            o_1234567890\n    Version:"
        ),
        "{recursive}"
    );
    assert_eq!(users::list_table(&[], false, 80), "No users found\n");
}

#[test]
fn account_read_and_list_tables_are_boundarys() {
    let _serial = serial();
    let out = accounts::item_table(&account(), 80);
    // No key passes "Parent Scope ID" + 2: values start 19 columns past the indent, and
    // the login name sits under Attributes with Boundary's label.
    let expected = format!(
        "
Account information:
  Auth Method ID:      ampw_1234567890
  Created Time:        {created}
  ID:                  acctpw_1234567890
  Name:                admin account
  Type:                password
  Updated Time:        {updated}
  Version:             1

  Scope:
    ID:                global
    Name:              global
    Type:              global

  Authorized Actions:
    no-op
    read
    update
    delete

  Attributes:
    Login Name:        admin
",
        created = at("2024-01-02T03:04:05Z"),
        updated = at("2024-01-02T03:04:06Z"),
    );
    assert_eq!(out, expected);
    let list = accounts::list_table(&[account()], 80);
    let expected = "
Account information:
  ID:                    acctpw_1234567890
    Version:             1
    Type:                password
    Name:                admin account
    Authorized Actions:
      no-op
      read
      update
      delete
";
    assert_eq!(list, expected);
    assert_eq!(accounts::list_table(&[], 80), "No accounts found\n");
}

#[test]
fn auth_method_read_table_is_boundarys() {
    let _serial = serial();
    // 100 columns: at 80 the dev auth method's name wraps, as Boundary wraps it.
    let out = auth_methods::item_table(&auth_method(), 100);
    // The attribute "Minimum Login Name Length" (25) sets the column for every block.
    let expected = format!(
        "
Auth Method information:
  Created Time:                {created}
  Description:                 Provides initial authentication into Boundary
  ID:                          ampw_1234567890
  Is Primary For Scope:        true
  Name:                        Generated global scope initial password auth method
  Type:                        password
  Updated Time:                {updated}
  Version:                     1

  Scope:
    ID:                        global
    Name:                      global
    Type:                      global

  Authorized Actions:
    no-op
    read
    authenticate

  Authorized Actions on Auth Method's Collections:
    accounts:
      create
      list

  Attributes:
    Minimum Login Name Length: 3
    Minimum Password Length:   8
",
        created = at("2024-01-02T03:04:05Z"),
        updated = at("2024-01-02T03:04:06Z"),
    );
    assert_eq!(out, expected);
    // A controller that says "not primary" gets the row too, as Boundary prints it.
    let mut other = auth_method();
    other["is_primary"] = json!(false);
    let out = auth_methods::item_table(&other, 100);
    assert!(
        out.contains("\n  Is Primary For Scope:        false\n"),
        "{out}"
    );
}

#[test]
fn auth_method_list_table_is_one_column_wider_as_boundarys() {
    let _serial = serial();
    let mut other = auth_method();
    other["id"] = json!("ampw_0987654321");
    other["scope_id"] = json!("o_1234567890");
    other["is_primary"] = json!(false);
    other.as_object_mut().unwrap().remove("description");
    other.as_object_mut().unwrap().remove("authorized_actions");
    let out = auth_methods::list_table(&[auth_method(), other], true, 80);
    let expected = "
Auth Method information:
  ID:                     ampw_1234567890
    Scope ID:             global
    Version:              1
    Type:                 password
    Name:                 Generated global scope initial password auth method
    Description:          Provides initial authentication into Boundary
    Is Primary For Scope: true
    Authorized Actions:
      no-op
      read
      authenticate

  ID:                     ampw_0987654321
    Scope ID:             o_1234567890
    Version:              1
    Type:                 password
    Name:                 Generated global scope initial password auth method
";
    assert_eq!(out, expected);
    assert_eq!(
        auth_methods::list_table(&[], false, 80),
        "No auth methods found\n"
    );
}

/// `postern users ...` / `accounts ...` / `auth-methods ...` as clap reads them (the binary
/// turns Boundary's `-flag` into `--flag` first).
#[derive(Debug, Parser)]
enum Cli {
    #[command(subcommand)]
    Users(UsersCommand),
    #[command(subcommand)]
    Accounts(AccountsCommand),
    #[command(subcommand)]
    AuthMethods(AuthMethodsCommand),
}

fn parse(addr: SocketAddr, args: &[&str], format: &str) -> Cli {
    let address = format!("http://{addr}");
    let mut line = vec!["postern"];
    line.extend(args);
    line.extend(["--addr", &address, "--token", TOKEN, "--format", format]);
    Cli::try_parse_from(line).unwrap()
}

/// Runs the command line against the controller at `addr` in `format`; stdout's text, or
/// the error's.
fn run_as(addr: SocketAddr, args: &[&str], format: &str) -> Result<String, String> {
    let result = match parse(addr, args, format) {
        Cli::Users(command) => command.run(),
        Cli::Accounts(command) => command.run(),
        Cli::AuthMethods(command) => command.run(),
    };
    result.map_err(|failure| failure.error.to_string())
}

/// Runs the command line with `-format json`; the printed JSON.
fn run(addr: SocketAddr, args: &[&str]) -> Result<Value, String> {
    run_as(addr, args, "json").map(|out| serde_json::from_str(&out).unwrap())
}

#[test]
fn add_accounts_reads_the_version_then_sends_the_accounts() {
    let _serial = serial();
    let mut linked = user();
    linked["version"] = json!(3);
    linked["account_ids"] = json!(["acctpw_1234567890", "acctpw_0987654321"]);
    let (addr, requests) = scripted_server(vec![user(), linked]);
    let printed = run(
        addr,
        &[
            "users",
            "add-accounts",
            "--id",
            "u_1234567890",
            "--account",
            "acctpw_0987654321",
        ],
    )
    .unwrap();
    assert_eq!(printed["status_code"], 200);
    assert_eq!(printed["item"]["version"], 3);
    let read = next(&requests);
    assert_eq!(
        (read.method.as_str(), read.target.as_str()),
        ("GET", "/v1/users/u_1234567890")
    );
    let add = next(&requests);
    assert_eq!(
        (add.method.as_str(), add.target.as_str()),
        ("POST", "/v1/users/u_1234567890:add-accounts")
    );
    assert_eq!(
        add.body,
        json!({"version": 2, "account_ids": ["acctpw_0987654321"]})
    );
}

#[test]
fn set_accounts_null_clears_and_remove_accounts_takes_the_given_version() {
    let _serial = serial();
    let (addr, requests) = scripted_server(vec![user(), user()]);
    run(
        addr,
        &[
            "users",
            "set-accounts",
            "--id",
            "u_1234567890",
            "--account",
            "null",
            "--version",
            "2",
        ],
    )
    .unwrap();
    let set = next(&requests);
    assert_eq!(set.target, "/v1/users/u_1234567890:set-accounts");
    assert_eq!(set.body, json!({"version": 2, "account_ids": []}));
    run(
        addr,
        &[
            "users",
            "remove-accounts",
            "--id",
            "u_1234567890",
            "--account",
            "acctpw_1234567890",
            "--account",
            "acctpw_0987654321",
            "--version",
            "5",
        ],
    )
    .unwrap();
    let remove = next(&requests);
    assert_eq!(
        (remove.method.as_str(), remove.target.as_str()),
        ("POST", "/v1/users/u_1234567890:remove-accounts")
    );
    assert_eq!(
        remove.body,
        json!({"version": 5, "account_ids": ["acctpw_1234567890", "acctpw_0987654321"]})
    );
}

#[test]
fn refusals_come_before_any_request() {
    let _serial = serial();
    let (listener, addr) = silent_listener();
    let cases = [
        (
            &["users", "add-accounts", "--id", "u_1234567890"][..],
            "No accounts supplied via -account",
        ),
        (
            &["users", "set-accounts", "--id", "u_1234567890"],
            "No accounts supplied via -account",
        ),
        (
            &[
                "accounts",
                "create",
                "password",
                "--auth-method-id",
                "ampw_1234567890",
                "--password",
                "env://UNUSED",
            ],
            "Login Name must be passed in via -login-name",
        ),
        (
            &[
                "accounts",
                "create",
                "password",
                "--auth-method-id",
                "ampw_1234567890",
                "--login-name",
                "alice",
                "--password",
                "hunter22",
            ],
            "Password flag must be used with env:// or file:// syntax or left empty for an interactive prompt",
        ),
    ];
    for (args, message) in cases {
        assert_eq!(run(addr, args).unwrap_err(), message, "{args:?}");
    }
    assert_no_request(&listener);
}

#[test]
fn create_password_account_reads_env_and_never_prints_the_password() {
    let _serial = serial();
    std::env::set_var(PASSWORD_VAR, PASSWORD);
    let mut created = account();
    created["id"] = json!("acctpw_0987654321");
    created["attributes"] = json!({"login_name": "alice"});
    let (addr, requests) = scripted_server(vec![created]);
    let source = format!("env://{PASSWORD_VAR}");
    let args = [
        "accounts",
        "create",
        "password",
        "--auth-method-id",
        "ampw_1234567890",
        "--login-name",
        "alice",
        "--password",
        &source,
        "--name",
        "Alice",
    ];
    let printed = run_as(addr, &args, "table");
    std::env::remove_var(PASSWORD_VAR);
    let printed = printed.unwrap();
    assert!(
        printed.contains("\n    Login Name:        alice\n"),
        "{printed}"
    );
    assert!(!printed.contains(PASSWORD), "{printed}");
    let create = next(&requests);
    assert_eq!(
        (create.method.as_str(), create.target.as_str()),
        ("POST", "/v1/accounts")
    );
    assert_eq!(
        create.body,
        json!({
            "auth_method_id": "ampw_1234567890", "name": "Alice", "type": "password",
            "attributes": {"login_name": "alice", "password": PASSWORD}
        })
    );
}

#[test]
fn debug_of_account_flags_masks_a_literal_password() {
    let _serial = serial();
    let (_listener, addr) = silent_listener();
    let args = [
        "accounts",
        "create",
        "password",
        "--auth-method-id",
        "ampw_1234567890",
        "--login-name",
        "alice",
        "--password",
        PASSWORD,
    ];
    let debug = format!("{:?}", parse(addr, &args, "table"));
    assert!(!debug.contains(PASSWORD), "{debug}");
    assert!(!debug.contains(TOKEN), "{debug}");
    assert!(debug.contains("Literal(***)"), "{debug}");
    assert!(debug.contains("alice"), "{debug}");
}

#[test]
fn account_update_and_list_send_boundarys_requests() {
    let _serial = serial();
    let mut renamed = account();
    renamed["attributes"] = json!({"login_name": "root"});
    renamed["version"] = json!(2);
    let list = json!({"items": [account()]});
    let (addr, requests) = scripted_server(vec![account(), renamed, list]);
    let printed = run(
        addr,
        &[
            "accounts",
            "update",
            "password",
            "--id",
            "acctpw_1234567890",
            "--login-name",
            "root",
        ],
    )
    .unwrap();
    assert_eq!(printed["item"]["attributes"]["login_name"], "root");
    assert_eq!(next(&requests).target, "/v1/accounts/acctpw_1234567890");
    let patch = next(&requests);
    assert_eq!(
        (patch.method.as_str(), patch.target.as_str()),
        ("PATCH", "/v1/accounts/acctpw_1234567890")
    );
    assert_eq!(
        patch.body,
        json!({"version": 1, "attributes": {"login_name": "root"}})
    );
    run(
        addr,
        &["accounts", "list", "--auth-method-id", "ampw_1234567890"],
    )
    .unwrap();
    assert_eq!(
        next(&requests).target,
        "/v1/accounts?auth_method_id=ampw_1234567890"
    );
}

#[test]
fn auth_methods_list_recursive_and_create_password() {
    let _serial = serial();
    let list = json!({"items": [auth_method()]});
    let (addr, requests) = scripted_server(vec![list, auth_method()]);
    let printed = run_as(
        addr,
        &[
            "auth-methods",
            "list",
            "--scope-id",
            "global",
            "--recursive",
        ],
        "table",
    )
    .unwrap();
    assert!(
        printed.contains(
            "\n  ID:                     ampw_1234567890\n    Scope ID:             global\n"
        ),
        "{printed}"
    );
    let list = next(&requests);
    assert_eq!(
        (list.method.as_str(), list.target.as_str()),
        ("GET", "/v1/auth-methods?scope_id=global&recursive=true")
    );
    run(
        addr,
        &[
            "auth-methods",
            "create",
            "password",
            "--scope-id",
            "o_1234567890",
            "--name",
            "corp",
        ],
    )
    .unwrap();
    let create = next(&requests);
    assert_eq!(
        (create.method.as_str(), create.target.as_str()),
        ("POST", "/v1/auth-methods")
    );
    assert_eq!(
        create.body,
        json!({"scope_id": "o_1234567890", "name": "corp", "type": "password"})
    );
}
