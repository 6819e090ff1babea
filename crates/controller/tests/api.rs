//! The controller's HTTP API over a real socket: the dev resources, a session store, and the
//! router served on 127.0.0.1:0, driven through the client crate's `ApiClient` as the CLI
//! drives it; requests no client would make (bad JSON, a wrong method, no token header at
//! all) go out as hand-written HTTP/1.1.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::*;
use postern_authority::ManualClock;
use postern_controller::api::{ApiState, LoginThrottle, ThrottlePolicy};
use serde_json::json;

/// Failed logins are throttled per login name and per address, the same way whether the name
/// exists or not; while throttled even the right password waits, and gets in once the wait
/// is over.
#[tokio::test]
async fn failed_logins_are_throttled_alike_for_known_and_unknown_names() {
    let clock = ManualClock::starting_at(SystemTime::now());
    let policy = ThrottlePolicy {
        free_failures_per_login: 2,
        free_failures_per_source: 5,
        ..ThrottlePolicy::default()
    };
    let state = ApiState {
        login_throttle: Arc::new(LoginThrottle::new(policy, clock.clock())),
        ..dev_state().await
    };
    let anon = start_with(state).await;
    let path = format!("/v1/auth-methods/{AUTH_METHOD}:authenticate");
    let login = |name: &str, password: &str| {
        anon.post(
            &path,
            json!({"attributes": {"login_name": name, "password": password}}),
        )
    };

    let mut throttled = Vec::new();
    for name in ["admin", "nobody-by-this-name"] {
        for _ in 0..3 {
            login(name, "wrong").await.error(401, "Unauthenticated");
        }
        let refused = login(name, "password")
            .await
            .error(429, "ResourceExhausted");
        throttled.push(refused);
    }
    assert_eq!(
        throttled[0], throttled[1],
        "a throttled login tells nothing of the name"
    );
    let message = throttled[0]["message"].as_str().unwrap();
    assert!(message.contains("try again in 1 seconds."), "{message}");

    clock.advance(Duration::from_secs(1));
    login("admin", "password").await.expect(200);
    // Six failures came from this address, one over its five free ones: one more failure,
    // under any name, makes every name from here wait.
    login("user", "wrong").await.error(401, "Unauthenticated");
    login("user", "password")
        .await
        .error(429, "ResourceExhausted");
    clock.advance(Duration::from_secs(2));
    login("user", "password").await.expect(200);
}

#[tokio::test]
async fn authenticate_and_token_checks() {
    let anon = start().await;
    let path = format!("/v1/auth-methods/{AUTH_METHOD}:authenticate");

    let ok = anon
        .post(
            &path,
            json!({"attributes": {"login_name": "admin", "password": "password"}}),
        )
        .await
        .expect(200);
    assert_eq!(ok["command"], "login");
    let token = ok["attributes"]["token"].as_str().unwrap();
    let id = ok["attributes"]["id"].as_str().unwrap();
    assert!(id.starts_with("at_"), "{ok}");
    assert!(token.starts_with(&format!("{id}_")), "{ok}");
    assert_eq!(ok["attributes"]["user_id"], "u_1234567890");
    assert_eq!(ok["attributes"]["auth_method_id"], AUTH_METHOD);

    // Older clients send "credentials".
    anon.post(
        &path,
        json!({"credentials": {"login_name": "user", "password": "password"}}),
    )
    .await
    .expect(200);

    let wrong = anon
        .post(
            &path,
            json!({"attributes": {"login_name": "admin", "password": "wrong-password"}}),
        )
        .await;
    wrong.error(401, "Unauthenticated");
    let missing = anon
        .post(&path, json!({"attributes": {"login_name": "admin"}}))
        .await
        .error(400, "InvalidArgument");
    assert_eq!(field_name(&missing), "attributes.password");

    // No token, a malformed header, an unknown token: 401 where anonymity is not enough
    // (the anonymous user may list scopes and auth methods, and log in).
    let targets = format!("/v1/targets?scope_id={PROJECT}");
    anon.get(&targets).await.error(401, "Unauthenticated");
    anon.get("/v1/scopes?scope_id=global").await.expect(200);
    let bogus = Client {
        token: Some("at_0000000000_nope".into()),
        ..anon.clone()
    };
    let refused = bogus.get(&targets).await.error(401, "Unauthenticated");
    assert!(
        refused["message"].as_str().unwrap().contains("auth token"),
        "{refused}"
    );
    let raw = anon.send("GET", &targets, None).await;
    raw.error(401, "Unauthenticated");

    // Global's auth methods are public.
    let methods = anon
        .get("/v1/auth-methods?scope_id=global")
        .await
        .expect(200);
    assert_eq!(ids(&methods), vec![AUTH_METHOD]);
    let none = anon
        .get(&format!("/v1/auth-methods?scope_id={PROJECT}"))
        .await
        .expect(200);
    assert_eq!(ids(&none), Vec::<String>::new());

    // Logout revokes the token.
    let admin = anon.login("admin", "password").await;
    let me = admin.get("/v1/scopes?scope_id=global").await.expect(200);
    assert!(ids(&me).contains(&"o_1234567890".to_owned()));
    let token = admin.token.clone().unwrap();
    let token_id = token.rsplit_once('_').unwrap().0;
    let out = admin.delete(&format!("/v1/auth-tokens/{token_id}")).await;
    assert_eq!(out.status, 204, "{:?}", out.body);
    admin.get(&targets).await.error(401, "Unauthenticated");
}

#[tokio::test]
async fn scopes_and_resources() {
    let anon = start().await;
    let admin = anon.login("admin", "password").await;
    let user = anon.login("user", "password").await;

    let orgs = user.get("/v1/scopes?scope_id=global").await.expect(200);
    assert_eq!(ids(&orgs), vec!["o_1234567890"]);
    assert_eq!(orgs["response_type"], "complete");
    assert_eq!(
        orgs["items"][0]["authorized_actions"],
        json!(["no-op", "read"])
    );
    let all = admin
        .get("/v1/scopes?scope_id=global&recursive=true")
        .await
        .expect(200);
    assert!(ids(&all).contains(&PROJECT.to_owned()), "{all}");
    let project = user.get(&format!("/v1/scopes/{PROJECT}")).await.expect(200);
    assert_eq!(project["type"], "project");
    assert_eq!(project["scope_id"], "o_1234567890");
    let filtered = admin
        .get("/v1/scopes?scope_id=global&recursive=true&filter=%22%2Fitem%2Ftype%22%3D%3D%22project%22")
        .await
        .expect(200);
    assert_eq!(ids(&filtered), vec![PROJECT]);

    // Admin-only kinds.
    user.get("/v1/host-catalogs?scope_id=p_1234567890")
        .await
        .error(403, "PermissionDenied");
    user.post(
        "/v1/targets",
        json!({"scope_id": PROJECT, "name": "x", "attributes": {"default_port": 22}}),
    )
    .await
    .error(403, "PermissionDenied");
    let catalogs = admin
        .get(&format!("/v1/host-catalogs?scope_id={PROJECT}"))
        .await
        .expect(200);
    assert_eq!(ids(&catalogs), vec!["hcst_1234567890"]);
    let hosts = admin
        .get("/v1/hosts?host_catalog_id=hcst_1234567890")
        .await
        .expect(200);
    assert_eq!(hosts["items"][0]["attributes"]["address"], "127.0.0.1");
    let missing = admin.get("/v1/hosts").await.error(400, "InvalidArgument");
    assert_eq!(field_name(&missing), "host_catalog_id");

    // A new host in a new set.
    let host = admin
        .post("/v1/hosts", json!({"host_catalog_id": "hcst_1234567890", "name": "db", "attributes": {"address": "10.0.0.9"}}))
        .await
        .expect(200);
    let host_id = host["id"].as_str().unwrap();
    let set = admin
        .post(
            "/v1/host-sets",
            json!({"host_catalog_id": "hcst_1234567890", "name": "dbs"}),
        )
        .await
        .expect(200);
    let set_id = set["id"].as_str().unwrap();
    let set = admin
        .post(
            &format!("/v1/host-sets/{set_id}:add-hosts"),
            json!({"version": set["version"], "host_ids": [host_id]}),
        )
        .await
        .expect(200);
    assert_eq!(set["host_ids"], json!([host_id]));
    let stale = admin
        .post(
            &format!("/v1/host-sets/{set_id}:add-hosts"),
            json!({"version": 1, "host_ids": [host_id]}),
        )
        .await
        .error(400, "InvalidArgument");
    assert!(
        stale["message"].as_str().unwrap().contains("version"),
        "{stale}"
    );

    // A target with a direct address, and one with host sources.
    let direct = admin
        .post(
            "/v1/targets",
            json!({"scope_id": PROJECT, "name": "direct", "type": "tcp", "address": "10.1.2.3",
                   "attributes": {"default_port": 5432}, "session_connection_limit": 2}),
        )
        .await
        .expect(200);
    assert_eq!(direct["address"], "10.1.2.3");
    assert_eq!(direct["session_connection_limit"], 2);
    let sourced = admin
        .post(
            "/v1/targets",
            json!({"scope_id": PROJECT, "name": "db", "attributes": {"default_port": 5432}}),
        )
        .await
        .expect(200);
    let sourced_id = sourced["id"].as_str().unwrap();
    let sourced = admin
        .post(
            &format!("/v1/targets/{sourced_id}:add-host-sources"),
            json!({"version": sourced["version"], "host_source_ids": [set_id]}),
        )
        .await
        .expect(200);
    assert_eq!(sourced["host_source_ids"], json!([set_id]));
    let renamed = admin
        .patch(
            &format!("/v1/targets/{sourced_id}"),
            json!({"version": sourced["version"], "description": "the db"}),
        )
        .await
        .expect(200);
    assert_eq!(renamed["description"], "the db");

    let auth = admin.authorize(direct["id"].as_str().unwrap()).await;
    assert_eq!(auth["item"]["endpoint"], "tcp://10.1.2.3:5432");
    assert_eq!(auth["item"]["connection_limit"], 2);
    let auth = admin.authorize(sourced_id).await;
    assert_eq!(auth["item"]["endpoint"], "tcp://10.0.0.9:5432");
    assert_eq!(auth["item"]["host_id"], host_id);
    assert_eq!(auth["item"]["host_set_id"], set_id);
    // The unprivileged user's role reaches the generated target only.
    user.post(
        &format!("/v1/targets/{sourced_id}:authorize-session"),
        json!({}),
    )
    .await
    .error(404, "NotFound");
    let bad_host = admin
        .post(
            &format!("/v1/targets/{sourced_id}:authorize-session"),
            json!({"host_id": "hst_1234567890"}),
        )
        .await
        .error(400, "InvalidArgument");
    assert_eq!(field_name(&bad_host), "host_id");

    let targets = user
        .get(&format!("/v1/targets?scope_id={PROJECT}"))
        .await
        .expect(200);
    assert_eq!(ids(&targets), vec![TARGET], "{targets}");
    assert_eq!(
        targets["items"][0]["authorized_actions"],
        json!(["read", "authorize-session"])
    );
    let all = admin
        .get(&format!("/v1/targets?scope_id={PROJECT}"))
        .await
        .expect(200);
    assert_eq!(all["items"].as_array().unwrap().len(), 3, "{all}");

    let gone = admin.delete(&format!("/v1/targets/{sourced_id}")).await;
    assert_eq!(gone.status, 204);
    admin
        .get(&format!("/v1/targets/{sourced_id}"))
        .await
        .error(404, "NotFound");
}

#[tokio::test]
async fn authorize_session_returns_a_usable_token() {
    let anon = start().await;
    let admin = anon.login("admin", "password").await;
    let auth = admin.authorize(TARGET).await;
    let item = &auth["item"];
    for field in [
        "session_id",
        "target_id",
        "scope",
        "created_time",
        "user_id",
        "host_set_id",
        "host_id",
        "type",
        "authorization_token",
        "connection_limit",
        "endpoint",
        "endpoint_port",
        "expiration",
    ] {
        assert!(!item[field].is_null(), "{field} missing from {auth}");
    }
    assert_eq!(item["target_id"], TARGET);
    assert_eq!(item["user_id"], "u_1234567890");
    assert_eq!(item["host_id"], "hst_1234567890");
    assert_eq!(item["host_set_id"], "hsst_1234567890");
    assert_eq!(item["endpoint"], "tcp://127.0.0.1:22");
    assert_eq!(item["endpoint_port"], 22);
    assert_eq!(item["connection_limit"], -1);
    assert_eq!(item["type"], "tcp");
    assert_eq!(item["scope"]["id"], PROJECT);

    let data = postern_wire::token::decode(&auth.to_string()).unwrap();
    assert_eq!(data.session_id, item["session_id"].as_str().unwrap());
    assert_eq!(data.target_id, TARGET);
    assert_eq!(data.endpoint, "tcp://127.0.0.1:22");
    assert_eq!(data.worker_info[0].address, WORKER);
    assert_eq!(data.host_id, "hst_1234567890");

    // By name, with the scope in the body (Boundary's -target-name/-target-scope-id).
    let by_name = admin
        .post(
            "/v1/targets/Generated%20target:authorize-session",
            json!({"scope_id": PROJECT}),
        )
        .await
        .expect(200);
    assert_eq!(by_name["item"]["target_id"], TARGET);

    admin
        .post("/v1/targets/ttcp_0000000000:authorize-session", json!({}))
        .await
        .error(404, "NotFound");
}

#[tokio::test]
async fn sessions_list_filter_and_paging() {
    let anon = start().await;
    let admin = anon.login("admin", "password").await;
    let user = anon.login("user", "password").await;
    let mut created = Vec::new();
    for _ in 0..3 {
        created.push(
            admin.authorize(TARGET).await["item"]["session_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let mine = user.authorize(TARGET).await["item"]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    created.push(mine.clone());
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();

    let list = admin
        .get(&format!("/v1/sessions?scope_id={PROJECT}"))
        .await
        .expect(200);
    assert_eq!(ids(&list), newest_first);
    assert_eq!(list["response_type"], "complete");
    assert_eq!(list["est_item_count"], 4);
    assert!(list["list_token"].as_str().is_some_and(|t| !t.is_empty()));
    // `:self` actions show on one's own sessions only.
    assert_eq!(
        list["items"][0]["authorized_actions"],
        json!(["no-op", "read", "cancel"])
    );
    assert_eq!(
        list["items"][1]["authorized_actions"],
        json!(["no-op", "read", "read:self", "cancel", "cancel:self"])
    );

    // A user sees only their own.
    let theirs = user
        .get("/v1/sessions?scope_id=global&recursive=true")
        .await
        .expect(200);
    assert_eq!(ids(&theirs), vec![mine.clone()]);
    assert_eq!(
        theirs["items"][0]["authorized_actions"],
        json!(["read:self", "cancel:self"])
    );

    // Without recursive, scope_id must be a project.
    let err = admin
        .get("/v1/sessions?scope_id=global")
        .await
        .error(400, "InvalidArgument");
    assert!(
        err["message"].as_str().unwrap().contains("project"),
        "{err}"
    );
    let err = admin
        .get("/v1/sessions")
        .await
        .error(400, "InvalidArgument");
    assert_eq!(field_name(&err), "scope_id");

    // Filter.
    let by_user = admin
        .get(&format!("/v1/sessions?scope_id={PROJECT}&filter=%22%2Fitem%2Fuser_id%22%20%3D%3D%20%22u_0987654321%22"))
        .await
        .expect(200);
    assert_eq!(ids(&by_user), vec![mine.clone()]);
    let bad = admin
        .get(&format!(
            "/v1/sessions?scope_id={PROJECT}&filter=%22%2Fitem%2Fstatus%22%20%3D%3D"
        ))
        .await
        .error(400, "InvalidArgument");
    assert_eq!(field_name(&bad), "filter");
    assert!(bad["message"].as_str().unwrap().contains("filter"), "{bad}");

    // Terminated sessions only with include_terminated.
    let old = &created[0];
    admin
        .post(&format!("/v1/sessions/{old}:cancel"), json!({"version": 1}))
        .await
        .expect(200);
    let read = admin.get(&format!("/v1/sessions/{old}")).await.expect(200);
    assert_eq!(read["status"], "terminated", "{read}");
    let live = admin
        .get(&format!("/v1/sessions?scope_id={PROJECT}"))
        .await
        .expect(200);
    assert_eq!(ids(&live), newest_first[..3].to_vec());
    let everything = admin
        .get(&format!(
            "/v1/sessions?scope_id={PROJECT}&include_terminated=true"
        ))
        .await
        .expect(200);
    assert_eq!(ids(&everything), newest_first);

    // page_size=1 walks every item with list_token.
    let mut walked = Vec::new();
    let mut path = format!("/v1/sessions?scope_id={PROJECT}&include_terminated=true&page_size=1");
    for round in 0.. {
        assert!(round < 10, "paging does not end");
        let page = admin.get(&path).await.expect(200);
        assert_eq!(page["est_item_count"], 4);
        assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
        walked.extend(ids(&page));
        if page["response_type"] == "complete" {
            break;
        }
        assert_eq!(page["response_type"], "delta");
        let token = page["list_token"].as_str().unwrap();
        path = format!("/v1/sessions?scope_id={PROJECT}&include_terminated=true&page_size=1&list_token={token}");
    }
    assert_eq!(walked, newest_first);

    let err = admin
        .get(&format!(
            "/v1/sessions?scope_id={PROJECT}&list_token=not-a-token"
        ))
        .await
        .error(400, "InvalidArgument");
    assert_eq!(field_name(&err), "list_token");
    let err = admin
        .get(&format!("/v1/sessions?scope_id={PROJECT}&page_size=0"))
        .await
        .error(400, "InvalidArgument");
    assert_eq!(field_name(&err), "page_size");
    admin
        .get(&format!("/v1/sessions?scope_id={PROJECT}&page_size=lots"))
        .await
        .error(400, "InvalidArgument");
}

#[tokio::test]
async fn sessions_read_and_cancel() {
    let anon = start().await;
    let admin = anon.login("admin", "password").await;
    let user = anon.login("user", "password").await;
    let admins = admin.authorize(TARGET).await["item"]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let users = user.authorize(TARGET).await["item"]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let read = admin
        .get(&format!("/v1/sessions/{admins}"))
        .await
        .expect(200);
    assert_eq!(read["id"], admins.as_str());
    assert_eq!(read["status"], "pending");
    assert_eq!(read["version"], 1);
    assert_eq!(read["worker_info"][0]["address"], WORKER);
    assert_eq!(read["user_id"], "u_1234567890");
    admin
        .get("/v1/sessions/s_0000000000")
        .await
        .error(404, "NotFound");

    // Another user's session does not exist for them (404, read and cancel alike); their
    // own: fine.
    user.get(&format!("/v1/sessions/{admins}"))
        .await
        .error(404, "NotFound");
    user.post(
        &format!("/v1/sessions/{admins}:cancel"),
        json!({"version": 1}),
    )
    .await
    .error(404, "NotFound");
    let own = user.get(&format!("/v1/sessions/{users}")).await.expect(200);
    assert_eq!(
        own["authorized_actions"],
        json!(["read:self", "cancel:self"])
    );
    let canceled = user
        .post(
            &format!("/v1/sessions/{users}:cancel"),
            json!({"version": 1}),
        )
        .await
        .expect(200);
    assert!(
        matches!(
            canceled["status"].as_str(),
            Some("canceling" | "terminated")
        ),
        "{canceled}"
    );

    // Cancel: missing version, stale version, right version, again.
    let path = format!("/v1/sessions/{admins}:cancel");
    let err = admin
        .post(&path, json!({}))
        .await
        .error(400, "InvalidArgument");
    assert_eq!(field_name(&err), "version");
    let err = admin
        .post(&path, json!({"version": 7}))
        .await
        .error(400, "InvalidArgument");
    assert!(
        err["message"].as_str().unwrap().contains("version 1"),
        "{err}"
    );
    let done = admin.post(&path, json!({"version": 1})).await.expect(200);
    assert!(
        matches!(done["status"].as_str(), Some("canceling" | "terminated")),
        "{done}"
    );
    assert_eq!(done["id"], admins.as_str());
    let again = admin.post(&path, json!({"version": 1})).await.expect(200);
    assert_eq!(again["status"], done["status"]);
    assert_eq!(again["version"], done["version"]);
    assert_eq!(again["states"], done["states"]);

    admin
        .post("/v1/sessions/s_0000000000:cancel", json!({"version": 1}))
        .await
        .error(404, "NotFound");
    admin
        .post(&format!("/v1/sessions/{admins}:explode"), json!({}))
        .await
        .error(404, "NotFound");
}

#[tokio::test]
async fn malformed_requests_get_our_error_shape() {
    let anon = start().await;
    let admin = anon.login("admin", "password").await;

    let bad = admin
        .send(
            "POST",
            "/v1/targets",
            Some("{\"scope_id\": \"p_1234567890\","),
        )
        .await
        .error(400, "InvalidArgument");
    assert!(bad["message"].as_str().unwrap().contains("JSON"), "{bad}");
    admin
        .send("POST", "/v1/targets", Some("[1, 2]"))
        .await
        .error(400, "InvalidArgument");
    let wrong_type = admin
        .post(
            "/v1/targets",
            json!({"scope_id": PROJECT, "name": "t", "attributes": {"default_port": "ssh"}}),
        )
        .await
        .error(400, "InvalidArgument");
    assert_eq!(field_name(&wrong_type), "attributes.default_port");
    let missing = admin
        .post(
            "/v1/targets",
            json!({"scope_id": PROJECT, "attributes": {"default_port": 22}, "unknown": 1}),
        )
        .await
        .error(400, "InvalidArgument");
    assert_eq!(field_name(&missing), "name");
    assert_eq!(
        missing["details"]["request_fields"][0]["description"],
        "Required field."
    );

    admin
        .get("/v1/targets/ttcp_0000000000")
        .await
        .error(404, "NotFound");
    admin.get("/v1/nothing-here").await.error(404, "NotFound");
    admin
        .send("PUT", "/v1/targets", None)
        .await
        .error(405, "Unimplemented");
    admin
        .get("/v1/scopes?recursive=maybe")
        .await
        .error(400, "InvalidArgument");
}
