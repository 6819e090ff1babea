//! Table and JSON output of sessions and targets, from the JSON the API returns, laid out
//! as Boundary's CLI prints them (the "Manage Sessions" tutorial's blocks).

// Test helpers outside #[test] fns: unwrap() is how a test says "this must hold" (clippy.toml).
#![allow(clippy::unwrap_used)]

use postern_controller_client::commands::{item_json, items_json, sessions, targets};
use postern_controller_client::output::local_time;
use serde_json::{json, Value};

/// A canceled session with one closed connection, as `GET /v1/sessions/{id}` returns it.
const SESSION: &str = r#"{
  "id": "s_nUho4KvZcL",
  "target_id": "ttcp_1234567890",
  "scope": {"id": "p_1234567890", "type": "project", "name": "Generated project scope",
            "description": "Provides an initial project scope in Boundary", "parent_scope_id": "o_1234567890"},
  "created_time": "2022-05-27T17:41:41.123Z",
  "updated_time": "2022-05-27T17:52:26Z",
  "version": 5,
  "type": "tcp",
  "expiration_time": "2022-05-28T01:41:41Z",
  "auth_token_id": "at_uKM9MXIzSg",
  "user_id": "u_1234567890",
  "host_set_id": "hsst_1234567890",
  "host_id": "hst_1234567890",
  "scope_id": "p_1234567890",
  "endpoint": "tcp://127.0.0.1:22",
  "status": "terminated",
  "states": [
    {"status": "terminated", "start_time": "2022-05-27T17:52:26Z"},
    {"status": "canceling", "start_time": "2022-05-27T17:52:24Z", "end_time": "2022-05-27T17:52:26Z"},
    {"status": "active", "start_time": "2022-05-27T17:41:45Z", "end_time": "2022-05-27T17:52:24Z"},
    {"status": "pending", "start_time": "2022-05-27T17:41:41.123Z", "end_time": "2022-05-27T17:41:45Z"}
  ],
  "worker_info": [{"address": "127.0.0.1:9202"}],
  "certificate": "MIIB",
  "termination_reason": "canceled",
  "authorized_actions": ["no-op", "read", "read:self", "cancel", "cancel:self"],
  "connections": [
    {"client_tcp_address": "127.0.0.1", "client_tcp_port": 51234, "endpoint_tcp_address": "127.0.0.1",
     "endpoint_tcp_port": 22, "bytes_up": "1024", "bytes_down": "4096", "closed_reason": "canceled"},
    {"client_tcp_address": "127.0.0.1", "client_tcp_port": 51240, "endpoint_tcp_address": "127.0.0.1",
     "endpoint_tcp_port": 22}
  ]
}"#;

fn session() -> Value {
    serde_json::from_str(SESSION).unwrap()
}

fn at(rfc3339: &str) -> String {
    local_time(rfc3339).unwrap()
}

#[test]
fn session_read_table_is_boundarys() {
    let out = sessions::item_table(&session(), 80);
    // "Termination Reason" (18) is the longest key: values start 20 columns past the indent.
    let expected = format!(
        "
Session information:
  Auth Token ID:        at_uKM9MXIzSg
  Created Time:         {created}
  Endpoint:             tcp://127.0.0.1:22
  Expiration Time:      {expires}
  Host ID:              hst_1234567890
  Host Set ID:          hsst_1234567890
  ID:                   s_nUho4KvZcL
  Status:               terminated
  Target ID:            ttcp_1234567890
  Termination Reason:   canceled
  Type:                 tcp
  Updated Time:         {updated}
  User ID:              u_1234567890
  Version:              5

  Scope:
    ID:                 p_1234567890
    Name:               Generated project scope
    Parent Scope ID:    o_1234567890
    Type:               project

  Authorized Actions:
    no-op
    read
    read:self
    cancel
    cancel:self

  States:
    Start Time:         {t4}
    Status:             terminated

    End Time:           {t4}
    Start Time:         {t3}
    Status:             canceling

    End Time:           {t3}
    Start Time:         {t2}
    Status:             active

    End Time:           {t2}
    Start Time:         {created}
    Status:             pending


  Connections:
    Bytes Down:         4096
    Bytes Up:           1024
    Client Address:     127.0.0.1
    Client Port:        51234
    Closed Reason:      canceled
    Endpoint Address:   127.0.0.1
    Endpoint Port:      22

    Bytes Down:         0
    Bytes Up:           0
    Client Address:     127.0.0.1
    Client Port:        51240
    Endpoint Address:   127.0.0.1
    Endpoint Port:      22

",
        created = at("2022-05-27T17:41:41.123Z"),
        expires = at("2022-05-28T01:41:41Z"),
        updated = at("2022-05-27T17:52:26Z"),
        t2 = at("2022-05-27T17:41:45Z"),
        t3 = at("2022-05-27T17:52:24Z"),
        t4 = at("2022-05-27T17:52:26Z"),
    );
    assert_eq!(out, expected);
}

#[test]
fn an_active_session_aligns_on_parent_scope_id_like_the_tutorial() {
    let mut item = session();
    item["status"] = json!("active");
    item.as_object_mut().unwrap().remove("termination_reason");
    item.as_object_mut().unwrap().remove("connections");
    let out = sessions::item_table(&item, 80);
    // Without Termination Reason the baseline is "Parent Scope ID" + 2 = 17 columns.
    assert!(
        out.contains("\n  Auth Token ID:       at_uKM9MXIzSg\n"),
        "{out}"
    );
    assert!(out.contains("\n  Status:              active\n"), "{out}");
    assert!(
        out.contains("\n    ID:                p_1234567890\n"),
        "{out}"
    );
    assert!(out.contains("\n    Status:            pending\n"), "{out}");
    assert!(!out.contains("Connections:"), "{out}");
}

#[test]
fn session_list_table_shows_each_session_as_the_tutorial_does() {
    let out = sessions::list_table(&[session()], false, 80);
    let expected = format!(
        "
Session information:
  ID:                    s_nUho4KvZcL
    Status:              terminated
    Created Time:        {}
    Expiration Time:     {}
    Updated Time:        {}
    User ID:             u_1234567890
    Target ID:           ttcp_1234567890
    Authorized Actions:
      no-op
      read
      read:self
      cancel
      cancel:self
",
        at("2022-05-27T17:41:41.123Z"),
        at("2022-05-28T01:41:41Z"),
        at("2022-05-27T17:52:26Z"),
    );
    assert_eq!(out, expected);
    let recursive = sessions::list_table(&[session(), session()], true, 80);
    assert!(
        recursive.contains("\n    Scope ID:            p_1234567890\n"),
        "{recursive}"
    );
    assert!(
        recursive.contains("cancel:self\n\n  ID:                    s_nUho4KvZcL\n"),
        "{recursive}"
    );
    assert_eq!(sessions::list_table(&[], false, 80), "No sessions found\n");
}

#[test]
fn json_output_wraps_the_api_object_with_the_status_code() {
    let item: Value = serde_json::from_str(&item_json(200, &session())).unwrap();
    assert_eq!(item["status_code"], 200);
    assert_eq!(item["item"], session());
    let list: Value = serde_json::from_str(&items_json(200, &[session()])).unwrap();
    assert_eq!(list["items"][0]["id"], "s_nUho4KvZcL");
    assert!(item_json(200, &session()).ends_with("}\n"));
}

#[test]
fn authorize_session_table_puts_the_token_on_its_own_line() {
    let token = "3".repeat(400);
    let authorization = json!({
        "session_id": "s_fQAyYxqvfF", "target_id": "ttcp_1234567890",
        "scope": {"id": "p_1234567890", "type": "project"}, "created_time": "2022-05-27T18:12:19Z",
        "user_id": "u_1234567890", "host_set_id": "hsst_1234567890", "host_id": "hst_1234567890",
        "type": "tcp", "authorization_token": token, "endpoint": "tcp://127.0.0.1:22",
    });
    let out = targets::authorization_table(&authorization, 80);
    let expected = format!(
        "
Target information:
  Authorization Token:
  {token}
  Created Time:          {}
  Endpoint:              tcp://127.0.0.1:22
  Host ID:               hst_1234567890
  Scope ID:              p_1234567890
  Session ID:            s_fQAyYxqvfF
  Target ID:             ttcp_1234567890
  Type:                  tcp
  User ID:               u_1234567890

",
        at("2022-05-27T18:12:19Z")
    );
    assert_eq!(out, expected);
}

#[test]
fn target_read_table_shows_attributes_and_host_sources() {
    let target = json!({
        "id": "ttcp_1234567890", "scope_id": "p_1234567890",
        "scope": {"id": "p_1234567890", "type": "project", "name": "Generated project scope", "parent_scope_id": "o_1234567890"},
        "name": "Generated target", "type": "tcp", "attributes": {"default_port": 22},
        "host_source_ids": ["hsst_1234567890"], "session_max_seconds": 28800, "session_connection_limit": -1,
        "created_time": "2022-05-27T17:00:00Z", "updated_time": "2022-05-27T17:00:00Z", "version": 2,
        "authorized_actions": ["no-op", "read", "authorize-session"],
    });
    let out = targets::item_table(&target, 80);
    assert!(
        out.contains("\n  Session Connection Limit:   -1\n"),
        "{out}"
    );
    assert!(
        out.contains("\n  Session Max Seconds:        28800\n"),
        "{out}"
    );
    assert!(
        out.contains("\n  Host Sources:\n    ID:                       hsst_1234567890\n"),
        "{out}"
    );
    assert!(
        out.contains("\n  Attributes:\n    Default Port:             22\n"),
        "{out}"
    );
    assert!(
        out.contains("\n  Scope:\n    ID:                       p_1234567890\n"),
        "{out}"
    );
}
