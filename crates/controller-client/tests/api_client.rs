//! The API client against a scripted HTTP server on 127.0.0.1:0: the requests commands send
//! (paths, queries, bodies, the bearer token) and how replies and failures come back.

// Test helpers outside #[test] fns: unwrap() is how a test says "this must hold" (clippy.toml).
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{SocketAddr, TcpListener};

use common::{next, scripted_server_with_status as scripted_server};
use postern_controller_client::api::ApiClient;
use postern_controller_client::commands::{error_text, sessions, Context};
use postern_controller_client::config::TokenSecret;
use postern_controller_client::output::Format;
use postern_controller_client::ClientError;
use serde_json::{json, Value};

fn context(addr: SocketAddr, format: Format) -> Context {
    let token = TokenSecret::new("at_1234567890_secret").unwrap();
    Context::with_api(
        ApiClient::new(&format!("http://{addr}"), Some(token)).unwrap(),
        format,
    )
    .unwrap()
}

fn session(id: &str, status: &str) -> Value {
    json!({"id": id, "status": status, "scope_id": "p_1234567890", "version": 2, "user_id": "u_1234567890",
           "target_id": "ttcp_1234567890", "created_time": "2022-05-27T17:41:41Z"})
}

#[test]
fn sessions_list_follows_the_list_token_until_complete() {
    let (addr, requests) = scripted_server(vec![
        (
            200,
            json!({"items": [session("s_1", "active")], "response_type": "delta", "list_token": "page-2", "est_item_count": 2}),
        ),
        (
            200,
            json!({"items": [session("s_2", "pending"), session("s_1", "canceling")], "response_type": "complete", "list_token": "end"}),
        ),
    ]);
    let options = sessions::ListOptions {
        scope_id: "p_1234567890".into(),
        recursive: true,
        filter: Some(r#""/item/status" != "terminated""#.into()),
        include_terminated: false,
    };
    let (status, items) = sessions::list_all(&context(addr, Format::Table), &options).unwrap();
    assert_eq!(status, 200);
    let ids: Vec<_> = items
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        ids,
        [("s_1", "canceling"), ("s_2", "pending")],
        "a later page's copy replaces the earlier one"
    );

    let first = next(&requests);
    assert_eq!(first.method, "GET");
    assert!(
        first
            .target
            .starts_with("/v1/sessions?scope_id=p_1234567890&recursive=true&filter="),
        "{}",
        first.target
    );
    assert!(!first.target.contains("list_token"), "{}", first.target);
    assert_eq!(
        first.authorization.as_deref(),
        Some("Bearer at_1234567890_secret")
    );
    let second = next(&requests);
    assert!(
        second.target.ends_with("&list_token=page-2"),
        "{}",
        second.target
    );
}

#[test]
fn cancel_reads_the_version_then_names_it() {
    let mut canceled = session("s_1", "canceling");
    canceled["version"] = json!(3);
    let (addr, requests) = scripted_server(vec![(200, session("s_1", "active")), (200, canceled)]);
    let out = sessions::cancel(&context(addr, Format::Json), "s_1", None).unwrap();
    let printed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(printed["status_code"], 200);
    assert_eq!(printed["item"]["status"], "canceling");
    let read = next(&requests);
    assert_eq!(
        (read.method.as_str(), read.target.as_str()),
        ("GET", "/v1/sessions/s_1")
    );
    let cancel = next(&requests);
    assert_eq!(
        (cancel.method.as_str(), cancel.target.as_str()),
        ("POST", "/v1/sessions/s_1:cancel")
    );
    assert_eq!(cancel.body, json!({"version": 2}));
}

#[test]
fn controller_errors_name_the_action_kind_and_message() {
    let (addr, _requests) = scripted_server(vec![(
        404,
        json!({"kind": "NotFound", "message": "Resource not found.", "details": {}}),
    )]);
    let error = sessions::read(&context(addr, Format::Table), "s_nope").unwrap_err();
    let ClientError::Controller(details) = &error else {
        panic!("{error:?}")
    };
    assert_eq!((details.status, details.kind.as_str()), (404, "NotFound"));
    assert_eq!(error.exit_code(), 1);
    let text = error_text(&error, Format::Table);
    assert!(
        text.starts_with("Error from controller when performing read on session\n"),
        "{text}"
    );
    assert!(
        text.contains("  Message:             Resource not found.\n"),
        "{text}"
    );
}

#[test]
fn an_unreachable_controller_says_where_it_looked() {
    let addr = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let error = sessions::read(&context(addr, Format::Table), "s_1").unwrap_err();
    assert!(
        matches!(error, ClientError::Unreachable { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains(&addr.to_string()), "{error}");
    assert!(
        !format!("{error:?}").contains("secret"),
        "the token never shows: {error:?}"
    );
}
