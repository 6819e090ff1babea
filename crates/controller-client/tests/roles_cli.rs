//! `postern roles` and `postern groups`: their tables laid out as Boundary's CLI prints them,
//! and, against a scripted HTTP server on 127.0.0.1:0, the requests the membership actions
//! and updates send (the version read first, `null` clearing a list, Boundary's refusal of a
//! missing flag before any request).

// Test helpers outside #[test] fns: unwrap() is how a test says "this must hold" (clippy.toml).
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;

use clap::Parser;
use common::{assert_no_request, at, next, scripted_server, silent_listener, TOKEN};
use postern_controller_client::commands::groups::{self, GroupsCommand};
use postern_controller_client::commands::roles::{self, RolesCommand};
use serde_json::{json, Value};

/// A role with two principals, two grants and two grant scopes, as `GET /v1/roles/{id}`
/// returns it.
fn role() -> Value {
    json!({
        "id": "r_1234567890", "scope_id": "global",
        "scope": {"id": "global", "type": "global", "name": "global", "description": "Global Scope"},
        "name": "Administration", "description": "Provides admin grants",
        "created_time": "2024-01-02T03:04:05Z", "updated_time": "2024-01-02T03:04:06.5Z",
        "version": 4,
        "grant_scope_ids": ["this", "descendants"],
        "principal_ids": ["u_1234567890", "g_1234567890"],
        "principals": [
            {"id": "u_1234567890", "type": "user", "scope_id": "global"},
            {"id": "g_1234567890", "type": "group", "scope_id": "o_1234567890"}
        ],
        "grant_strings": ["ids=*;type=*;actions=*", "type=target;ids=*;actions=read,list"],
        "grants": [
            {"raw": "ids=*;type=*;actions=*", "canonical": "ids=*;type=*;actions=*",
             "json": {"ids": ["*"], "type": "*", "actions": ["*"]}},
            {"raw": "type=target;ids=*;actions=read,list", "canonical": "ids=*;type=target;actions=list,read",
             "json": {"ids": ["*"], "type": "target", "actions": ["read", "list"]}}
        ],
        "authorized_actions": ["no-op", "read", "update", "add-principals"]
    })
}

/// A group of two users from different scopes.
fn group() -> Value {
    json!({
        "id": "g_1234567890", "scope_id": "o_1234567890",
        "scope": {"id": "o_1234567890", "type": "org", "name": "Generated org scope", "parent_scope_id": "global"},
        "name": "ops",
        "created_time": "2024-01-02T03:04:05Z", "updated_time": "2024-01-02T03:04:06Z",
        "version": 2,
        "member_ids": ["u_1234567890", "u_0987654321"],
        "members": [
            {"id": "u_1234567890", "scope_id": "global"},
            {"id": "u_0987654321", "scope_id": "o_1234567890"}
        ],
        "authorized_actions": ["no-op", "read", "add-members"]
    })
}

#[test]
fn role_read_table_is_boundarys() {
    let out = roles::item_table(&role(), 80);
    // Rows align on "Parent Scope ID" + 2; principals and grant scopes sit at Boundary's
    // fixed column 20.
    let expected = format!(
        "
Role information:
  Created Time:        {created}
  Description:         Provides admin grants
  ID:                  r_1234567890
  Name:                Administration
  Updated Time:        {updated}
  Version:             4

  Scope:
    ID:                global
    Name:              global
    Type:              global

  Authorized Actions:
    no-op
    read
    update
    add-principals

  Principals:
    ID:             u_1234567890
      Type:         user
      Scope ID:     global
    ID:             g_1234567890
      Type:         group
      Scope ID:     o_1234567890

  Canonical Grants:
    ids=*;type=*;actions=*
    ids=*;type=target;actions=list,read

  Grant Scope IDs:
    ID:             this
    ID:             descendants
",
        created = at("2024-01-02T03:04:05Z"),
        updated = at("2024-01-02T03:04:06.5Z"),
    );
    assert_eq!(out, expected);
}

#[test]
fn a_new_role_shows_no_empty_blocks() {
    let role = json!({
        "id": "r_1234567890", "scope_id": "o_1234567890", "version": 1,
        "scope": {"id": "o_1234567890", "type": "org", "name": "", "parent_scope_id": "global"},
        "created_time": "2024-01-02T03:04:05Z", "updated_time": "2024-01-02T03:04:05Z",
    });
    let out = roles::item_table(&role, 80);
    for block in [
        "Principals:",
        "Canonical Grants:",
        "Grant Scope IDs:",
        "Authorized",
    ] {
        assert!(!out.contains(block), "{block} in {out}");
    }
    assert!(out.ends_with("\n    Type:              org\n"), "{out}");
}

#[test]
fn role_list_table_is_boundarys() {
    let mut second = role();
    second["id"] = json!("r_0987654321");
    second["scope_id"] = json!("o_1234567890");
    second.as_object_mut().unwrap().remove("description");
    second.as_object_mut().unwrap().remove("authorized_actions");
    let out = roles::list_table(&[role(), second.clone()], false, 80);
    let expected = "
Role information:
  ID:                    r_1234567890
    Version:             4
    Name:                Administration
    Description:         Provides admin grants
    Authorized Actions:
      no-op
      read
      update
      add-principals

  ID:                    r_0987654321
    Version:             4
    Name:                Administration
";
    assert_eq!(out, expected);
    let recursive = roles::list_table(&[second], true, 80);
    assert!(
        recursive.contains(
            "\n  ID:                    r_0987654321\n    Scope ID:            o_1234567890\n    Version:"
        ),
        "{recursive}"
    );
    assert_eq!(roles::list_table(&[], false, 80), "No roles found\n");
}

#[test]
fn group_read_table_is_boundarys() {
    let out = groups::item_table(&group(), 80);
    let expected = format!(
        "
Group information:
  Created Time:        {created}
  ID:                  g_1234567890
  Name:                ops
  Updated Time:        {updated}
  Version:             2

  Scope:
    ID:                o_1234567890
    Name:              Generated org scope
    Parent Scope ID:   global
    Type:              org

  Authorized Actions:
    no-op
    read
    add-members

  Members:
    ID:                u_1234567890
    Scope ID:          global

    ID:                u_0987654321
    Scope ID:          o_1234567890

",
        created = at("2024-01-02T03:04:05Z"),
        updated = at("2024-01-02T03:04:06Z"),
    );
    assert_eq!(out, expected);
}

#[test]
fn group_list_table_is_boundarys() {
    let out = groups::list_table(&[group()], true, 80);
    let expected = "
Group information:
  ID:                    g_1234567890
    Scope ID:            o_1234567890
    Version:             2
    Name:                ops
    Authorized Actions:
      no-op
      read
      add-members
";
    assert_eq!(out, expected);
    assert_eq!(groups::list_table(&[], false, 80), "No groups found\n");
}

/// `postern roles ...` / `postern groups ...` as clap reads them (the binary turns
/// Boundary's `-flag` into `--flag` first).
#[derive(Debug, Parser)]
enum Cli {
    #[command(subcommand)]
    Roles(RolesCommand),
    #[command(subcommand)]
    Groups(GroupsCommand),
}

/// Runs the command line against the controller at `addr` with `-format json`.
fn run(addr: SocketAddr, args: &[&str]) -> Result<Value, String> {
    let address = format!("http://{addr}");
    let mut line = vec!["postern"];
    line.extend(args);
    line.extend(["--addr", &address, "--token", TOKEN, "--format", "json"]);
    let result = match Cli::try_parse_from(line).unwrap() {
        Cli::Roles(command) => command.run(),
        Cli::Groups(command) => command.run(),
    };
    result
        .map(|out| serde_json::from_str(&out).unwrap())
        .map_err(|failure| failure.error.to_string())
}

#[test]
fn set_principals_null_reads_the_version_then_sends_an_empty_list() {
    let mut cleared = role();
    cleared["version"] = json!(5);
    cleared.as_object_mut().unwrap().remove("principals");
    cleared.as_object_mut().unwrap().remove("principal_ids");
    let (addr, requests) = scripted_server(vec![role(), cleared]);
    let printed = run(
        addr,
        &[
            "roles",
            "set-principals",
            "--id",
            "r_1234567890",
            "--principal",
            "null",
        ],
    )
    .unwrap();
    assert_eq!(printed["status_code"], 200);
    assert_eq!(printed["item"]["version"], 5);
    let read = next(&requests);
    assert_eq!(
        (read.method.as_str(), read.target.as_str()),
        ("GET", "/v1/roles/r_1234567890")
    );
    let set = next(&requests);
    assert_eq!(
        (set.method.as_str(), set.target.as_str()),
        ("POST", "/v1/roles/r_1234567890:set-principals")
    );
    assert_eq!(set.body, json!({"version": 4, "principal_ids": []}));
}

#[test]
fn add_grants_with_a_version_sends_each_grant_whole() {
    let (addr, requests) = scripted_server(vec![role()]);
    run(
        addr,
        &[
            "roles",
            "add-grants",
            "--id",
            "r_1234567890",
            "--grant",
            "ids=*;type=target;actions=read,list",
            "--grant",
            r#"{"ids":["*"],"type":"session","actions":["cancel:self"]}"#,
            "--version",
            "7",
        ],
    )
    .unwrap();
    let add = next(&requests);
    assert_eq!(
        (add.method.as_str(), add.target.as_str()),
        ("POST", "/v1/roles/r_1234567890:add-grants")
    );
    assert_eq!(
        add.body,
        json!({"version": 7, "grant_strings": [
            "ids=*;type=target;actions=read,list",
            r#"{"ids":["*"],"type":"session","actions":["cancel:self"]}"#
        ]})
    );
}

#[test]
fn remove_grant_scopes_and_set_members_name_their_actions() {
    let (addr, requests) = scripted_server(vec![role(), group()]);
    run(
        addr,
        &[
            "roles",
            "remove-grant-scopes",
            "--id",
            "r_1234567890",
            "--grant-scope-id",
            "descendants",
            "--version",
            "4",
        ],
    )
    .unwrap();
    let remove = next(&requests);
    assert_eq!(remove.target, "/v1/roles/r_1234567890:remove-grant-scopes");
    assert_eq!(
        remove.body,
        json!({"version": 4, "grant_scope_ids": ["descendants"]})
    );
    run(
        addr,
        &[
            "groups",
            "set-members",
            "--id",
            "g_1234567890",
            "--member",
            "u_1234567890",
            "--version",
            "2",
        ],
    )
    .unwrap();
    let set = next(&requests);
    assert_eq!(set.target, "/v1/groups/g_1234567890:set-members");
    assert_eq!(
        set.body,
        json!({"version": 2, "member_ids": ["u_1234567890"]})
    );
}

#[test]
fn group_update_reads_the_version_and_sends_only_what_changes() {
    let mut renamed = group();
    renamed["name"] = json!("operators");
    renamed["version"] = json!(3);
    let (addr, requests) = scripted_server(vec![group(), renamed]);
    let printed = run(
        addr,
        &[
            "groups",
            "update",
            "--id",
            "g_1234567890",
            "--name",
            "operators",
        ],
    )
    .unwrap();
    assert_eq!(printed["item"]["name"], "operators");
    assert_eq!(next(&requests).target, "/v1/groups/g_1234567890");
    let patch = next(&requests);
    assert_eq!(
        (patch.method.as_str(), patch.target.as_str()),
        ("PATCH", "/v1/groups/g_1234567890")
    );
    assert_eq!(patch.body, json!({"version": 2, "name": "operators"}));
}

#[test]
fn role_create_and_list_send_boundarys_requests() {
    let list = json!({"items": [role()]});
    let (addr, requests) = scripted_server(vec![role(), list]);
    run(
        addr,
        &[
            "roles",
            "create",
            "--scope-id",
            "global",
            "--name",
            "Administration",
        ],
    )
    .unwrap();
    let create = next(&requests);
    assert_eq!(
        (create.method.as_str(), create.target.as_str()),
        ("POST", "/v1/roles")
    );
    assert_eq!(
        create.body,
        json!({"scope_id": "global", "name": "Administration"})
    );
    let printed = run(addr, &["roles", "list", "--recursive"]).unwrap();
    assert_eq!(printed["items"][0]["id"], "r_1234567890");
    assert_eq!(
        next(&requests).target,
        "/v1/roles?scope_id=global&recursive=true"
    );
}

#[test]
fn a_missing_value_flag_is_refused_with_boundarys_message_before_any_request() {
    let (listener, addr) = silent_listener();
    let cases = [
        (
            &["roles", "add-principals", "--id", "r_1234567890"][..],
            "No principals supplied via -principal",
        ),
        (
            &["roles", "set-grants", "--id", "r_1234567890"],
            "No grants supplied via -grant",
        ),
        (
            &["roles", "remove-grant-scopes", "--id", "r_1234567890"],
            "No grant scope IDs supplied via -grant-scope-id",
        ),
        (
            &["groups", "set-members", "--id", "g_1234567890"],
            "No members supplied via -member",
        ),
    ];
    for (args, message) in cases {
        assert_eq!(run(addr, args).unwrap_err(), message, "{args:?}");
    }
    assert_no_request(&listener);
}
