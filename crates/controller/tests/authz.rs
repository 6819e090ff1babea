//! Who may do what, over the real API: every route against every kind of caller (a table
//! built from the kinds' own data, so that a new kind or action without an expectation fails
//! here), and the grants that change it at run time: roles in other orgs, `ids=` grants,
//! grant scopes, groups, `:self` actions, malformed grants.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::*;
use postern_controller::resources::{KindId, Parent};
use serde_json::{json, Value};

/// What a caller gets from a route: through the check (any 2xx, or a 400 for the
/// deliberately wrong body or version the table sends), or refused with this status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Through,
    Refused(u16),
}

use Outcome::{Refused, Through};

/// Expectations for the anonymous user, a logged-in user with only the default roles, and
/// the dev `user` (who also holds the "Generated target access" role). The admin gets
/// through everywhere. A new kind does not compile here until it has its row; a new action
/// falls under its kind's last row, which no caller but the admin gets through.
fn expected(kind: KindId, action: &str) -> [Outcome; 3] {
    let r401 = Refused(401);
    let hidden = [r401, Refused(404), Refused(404)];
    let forbidden = [r401, Refused(403), Refused(403)];
    match (kind, action) {
        // Everyone lists and sees scopes; logged-in users read them.
        (KindId::Scope, "list") => [Through, Through, Through],
        (KindId::Scope, "read") => [r401, Through, Through],
        (KindId::Scope, _) => forbidden,
        // Everyone lists auth methods and authenticates.
        (KindId::AuthMethod, "list" | "authenticate") => [Through, Through, Through],
        (KindId::AuthMethod, _) => forbidden,
        // Users and accounts: listing is forbidden in scopes one sees; items are hidden.
        (KindId::User | KindId::Account, "list" | "create") => forbidden,
        (KindId::User | KindId::Account, _) => hidden,
        // The project is visible (scope read), its catalogs are not.
        (KindId::HostCatalog, "list" | "create") => forbidden,
        (KindId::HostCatalog | KindId::HostSet | KindId::Host, _) => hidden,
        // Targets: the project's default role lists them; the dev user's role reaches one.
        (KindId::Target, "list") => [r401, Through, Through],
        (KindId::Target, "create") => forbidden,
        (KindId::Target, "read" | "authorize-session") => [r401, Refused(404), Through],
        (KindId::Target, _) => [r401, Refused(404), Refused(403)],
        (KindId::Group | KindId::Role, "list" | "create") => forbidden,
        (KindId::Group | KindId::Role, _) => hidden,
        // Workers live in global, where no default role reaches them.
        (KindId::Worker, "list" | "create") => forbidden,
        (KindId::Worker, _) => hidden,
    }
}

/// One request of the table.
struct Route {
    kind: KindId,
    action: String,
    method: &'static str,
    path: String,
    body: Option<Value>,
}

/// Every route of every kind: list and create on its collection, read, update, delete and
/// each other action on one item. Updates and membership changes name version 0 and deletes
/// come last, so that callers who get through change nothing the later rows need.
fn routes(items: &[(KindId, String, String)]) -> Vec<Route> {
    let mut routes = Vec::new();
    let mut deletes = Vec::new();
    for (kind, id, container) in items {
        let kind = *kind;
        let collection = kind.collection();
        let parent_field = kind.parent().field();
        let list_path = match kind.parent() {
            Parent::Scope => format!("/v1/{collection}?scope_id={container}"),
            Parent::Item(_) => format!("/v1/{collection}?{parent_field}={container}"),
        };
        let route = |action: &str, method, path: String, body| Route {
            kind,
            action: action.to_owned(),
            method,
            path,
            body,
        };
        routes.push(route("list", "GET", list_path, None));
        routes.push(route(
            "create",
            "POST",
            format!("/v1/{collection}"),
            Some(json!({ parent_field: container })),
        ));
        let item = format!("/v1/{collection}/{id}");
        routes.push(route("read", "GET", item.clone(), None));
        routes.push(route(
            "update",
            "PATCH",
            item.clone(),
            Some(json!({"version": 0})),
        ));
        for action in kind.actions() {
            if matches!(*action, "no-op" | "read" | "update" | "delete") {
                continue;
            }
            // Membership changes with version 0, kinds' own actions with an empty body.
            routes.push(route(
                action,
                "POST",
                format!("{item}:{action}"),
                Some(json!({"version": 0})),
            ));
        }
        deletes.push(route("delete", "DELETE", item, None));
    }
    // Leaves before what holds them.
    deletes.reverse();
    routes.extend(deletes);
    routes
}

fn outcome(status: u16) -> Outcome {
    match status {
        200..=299 | 400 => Through,
        refused => Refused(refused),
    }
}

/// A user with a password account in the dev auth method (made by the admin): the user's id
/// and the account's.
async fn new_user_with_account(admin: &Client, login: &str) -> (String, String) {
    let account = admin
        .post(
            "/v1/accounts",
            json!({"auth_method_id": AUTH_METHOD, "type": "password",
                   "attributes": {"login_name": login, "password": "a-good-password"}}),
        )
        .await
        .expect(200);
    let user = admin
        .post("/v1/users", json!({"scope_id": "global", "name": login}))
        .await
        .expect(200);
    let id = user["id"].as_str().unwrap().to_owned();
    admin
        .post(
            &format!("/v1/users/{id}:add-accounts"),
            json!({"version": 1, "account_ids": [account["id"]]}),
        )
        .await
        .expect(200);
    (id, account["id"].as_str().unwrap().to_owned())
}

/// A user with a password account in the dev auth method; the user's id.
async fn new_user(admin: &Client, login: &str) -> String {
    new_user_with_account(admin, login).await.0
}

#[tokio::test]
async fn every_route_checks_its_caller() {
    let anon = start().await;
    let admin = anon.login("admin", "password").await;
    let user = anon.login("user", "password").await;
    new_user(&admin, "stranger").await;
    let stranger = anon.login("stranger", "a-good-password").await;
    // Users and accounts of the table belong to someone else: the admin deletes them last.
    let (victim, victims_account) = new_user_with_account(&admin, "victim").await;
    let method = admin
        .post(
            "/v1/auth-methods",
            json!({"scope_id": "global", "type": "password", "name": "spare"}),
        )
        .await
        .expect(200);

    // One existing item of each kind, and where its collection is.
    let group = admin
        .post("/v1/groups", json!({"scope_id": PROJECT, "name": "g"}))
        .await
        .expect(200);
    let roles = admin
        .get(&format!("/v1/roles?scope_id={PROJECT}"))
        .await
        .expect(200);
    let role = roles["items"][0]["id"].as_str().unwrap().to_owned();
    let worker = admin
        .post("/v1/workers", json!({"scope_id": "global", "name": "w"}))
        .await
        .expect(200);
    let items: Vec<(KindId, String, String)> = KindId::ALL
        .iter()
        .map(|&kind| {
            let (id, container) = match kind {
                KindId::Scope => ("o_1234567890".to_owned(), "global"),
                KindId::AuthMethod => (method["id"].as_str().unwrap().to_owned(), "global"),
                KindId::User => (victim.clone(), "global"),
                KindId::Account => (victims_account.clone(), AUTH_METHOD),
                KindId::HostCatalog => ("hcst_1234567890".to_owned(), PROJECT),
                KindId::HostSet => ("hsst_1234567890".to_owned(), "hcst_1234567890"),
                KindId::Host => ("hst_1234567890".to_owned(), "hcst_1234567890"),
                KindId::Target => (TARGET.to_owned(), PROJECT),
                KindId::Group => (group["id"].as_str().unwrap().to_owned(), PROJECT),
                KindId::Role => (role.clone(), PROJECT),
                KindId::Worker => (worker["id"].as_str().unwrap().to_owned(), "global"),
            };
            (kind, id, container.to_owned())
        })
        .collect();

    let callers = [&anon, &stranger, &user];
    let mut failures = Vec::new();
    let routes = routes(&items);
    assert!(routes.len() > 60, "{} routes", routes.len());
    for route in &routes {
        let expected = expected(route.kind, &route.action);
        for (who, caller) in callers.iter().enumerate() {
            let reply = caller
                .call(route.method, &route.path, route.body.clone())
                .await;
            let got = outcome(reply.status);
            if got != expected[who] {
                failures.push(format!(
                    "{} {} as {}: expected {:?}, got {} {}",
                    route.method,
                    route.path,
                    ["anonymous", "stranger", "user"][who],
                    expected[who],
                    reply.status,
                    reply.body
                ));
            }
        }
    }
    // Sessions and auth tokens: the admin's are hidden from everyone else.
    let session = admin.authorize(TARGET).await;
    let session_id = session["item"]["session_id"].as_str().unwrap().to_owned();
    let admin_token = admin.token.clone().unwrap();
    let admin_token_id = admin_token.rsplit_once('_').unwrap().0.to_owned();
    let session_routes = [
        (
            "GET",
            format!("/v1/sessions?scope_id={PROJECT}"),
            None,
            [Refused(401), Through, Through],
        ),
        (
            "GET",
            format!("/v1/sessions/{session_id}"),
            None,
            [Refused(401), Refused(404), Refused(404)],
        ),
        (
            "POST",
            format!("/v1/sessions/{session_id}:cancel"),
            Some(json!({"version": 1})),
            [Refused(401), Refused(404), Refused(404)],
        ),
        (
            "DELETE",
            format!("/v1/auth-tokens/{admin_token_id}"),
            None,
            [Refused(401), Refused(404), Refused(404)],
        ),
    ];
    for (method, path, body, expected) in session_routes {
        for (who, caller) in callers.iter().enumerate() {
            let got = outcome(caller.call(method, &path, body.clone()).await.status);
            if got != expected[who] {
                failures.push(format!("{method} {path} as caller {who}: {got:?}"));
            }
        }
    }
    // The admin last: its deletes take the items away.
    for route in &routes {
        let reply = admin
            .call(route.method, &route.path, route.body.clone())
            .await;
        if outcome(reply.status) != Through {
            failures.push(format!(
                "{} {} as admin: {} {}",
                route.method, route.path, reply.status, reply.body
            ));
        }
    }

    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// An org with one project and an address target in it, made by the admin.
async fn org_with_target(admin: &Client, name: &str) -> (String, String, String) {
    let org = admin
        .post("/v1/scopes", json!({"scope_id": "global", "name": name}))
        .await
        .expect(200);
    let org = org["id"].as_str().unwrap().to_owned();
    let project = admin
        .post(
            "/v1/scopes",
            json!({"scope_id": org, "name": format!("{name} project")}),
        )
        .await
        .expect(200);
    let project = project["id"].as_str().unwrap().to_owned();
    let target = admin
        .post(
            "/v1/targets",
            json!({"scope_id": project, "name": "db", "type": "tcp", "address": "127.0.0.1",
                   "attributes": {"default_port": 5432}}),
        )
        .await
        .expect(200);
    (org, project, target["id"].as_str().unwrap().to_owned())
}

/// A role in `scope` with these principals, grants and grant scopes; its id.
async fn role(
    admin: &Client,
    scope: &str,
    principals: &[&str],
    grants: &[&str],
    grant_scopes: &[&str],
) -> String {
    let role = admin
        .post("/v1/roles", json!({"scope_id": scope}))
        .await
        .expect(200);
    let id = role["id"].as_str().unwrap().to_owned();
    let mut version = 1;
    for (action, field, values) in [
        ("set-principals", "principal_ids", principals),
        ("set-grants", "grant_strings", grants),
        ("set-grant-scopes", "grant_scope_ids", grant_scopes),
    ] {
        let changed = admin
            .post(
                &format!("/v1/roles/{id}:{action}"),
                json!({"version": version, field: values}),
            )
            .await
            .expect(200);
        version = changed["version"].as_u64().unwrap();
    }
    id
}

async fn status(caller: &Client, method: &'static str, path: &str) -> u16 {
    let body = (method == "POST").then(|| json!({}));
    caller.call(method, path, body).await.status
}

/// Reads and authorize-session of a target: the two statuses.
async fn reach(caller: &Client, target: &str) -> (u16, u16) {
    let read = status(caller, "GET", &format!("/v1/targets/{target}")).await;
    let authorize = status(
        caller,
        "POST",
        &format!("/v1/targets/{target}:authorize-session"),
    )
    .await;
    (read, authorize)
}

#[tokio::test]
async fn roles_grant_and_revoke_targets_at_run_time() {
    let anon = start().await;
    let admin = anon.login("admin", "password").await;
    let alice_id = new_user(&admin, "alice").await;
    let alice = anon.login("alice", "a-good-password").await;
    let (_org_a, project_a, target_a) = org_with_target(&admin, "A").await;
    let (org_b, project_b, target_b) = org_with_target(&admin, "B").await;

    // A role in A's project: alice reaches A's target, and nothing in B.
    role(
        &admin,
        &project_a,
        &[&alice_id],
        &["ids=*;type=target;actions=read,authorize-session"],
        &["this"],
    )
    .await;
    assert_eq!(reach(&alice, &target_a).await, (200, 200));
    assert_eq!(reach(&alice, &target_b).await, (404, 404));
    let listed = alice
        .get(&format!("/v1/targets?scope_id={project_b}"))
        .await
        .expect(200);
    assert_eq!(ids(&listed), Vec::<String>::new(), "{listed}");

    // A role in B grants it; deleting the role takes it away, with no restart.
    let grant_b = role(
        &admin,
        &project_b,
        &[&alice_id],
        &["ids=*;type=target;actions=read,authorize-session,list"],
        &["this"],
    )
    .await;
    assert_eq!(reach(&alice, &target_b).await, (200, 200));
    let listed = alice
        .get(&format!("/v1/targets?scope_id={project_b}"))
        .await
        .expect(200);
    assert_eq!(ids(&listed), vec![target_b.clone()]);
    assert_eq!(
        admin.delete(&format!("/v1/roles/{grant_b}")).await.status,
        204
    );
    assert_eq!(reach(&alice, &target_b).await, (404, 404));

    // `ids=` reaches exactly that target.
    let second_b = admin
        .post(
            "/v1/targets",
            json!({"scope_id": project_b, "name": "db2", "type": "tcp", "address": "127.0.0.1",
                   "attributes": {"default_port": 5433}}),
        )
        .await
        .expect(200);
    let second_b = second_b["id"].as_str().unwrap().to_owned();
    let one = format!("ids={target_b};actions=read,authorize-session");
    let only_one = role(&admin, &project_b, &[&alice_id], &[&one], &["this"]).await;
    assert_eq!(reach(&alice, &target_b).await, (200, 200));
    assert_eq!(reach(&alice, &second_b).await, (404, 404));
    admin
        .delete(&format!("/v1/roles/{only_one}"))
        .await
        .expect(204);

    // Grant scopes: a global role with `children` reaches orgs, not the projects' targets;
    // `descendants` reaches every project; an org role with `children` its own projects.
    let grant = "ids=*;type=target;actions=read";
    let children = role(&admin, "global", &[&alice_id], &[grant], &["children"]).await;
    assert_eq!(reach(&alice, &target_b).await.0, 404);
    admin
        .delete(&format!("/v1/roles/{children}"))
        .await
        .expect(204);
    let descendants = role(&admin, "global", &[&alice_id], &[grant], &["descendants"]).await;
    assert_eq!(reach(&alice, &target_b).await.0, 200);
    assert_eq!(reach(&alice, TARGET).await.0, 200);
    admin
        .delete(&format!("/v1/roles/{descendants}"))
        .await
        .expect(204);
    let org_children = role(&admin, &org_b, &[&alice_id], &[grant], &["children"]).await;
    assert_eq!(reach(&alice, &target_b).await.0, 200);
    assert_eq!(reach(&alice, &second_b).await.0, 200);
    assert_eq!(reach(&alice, TARGET).await.0, 404, "another org's project");
    admin
        .delete(&format!("/v1/roles/{org_children}"))
        .await
        .expect(204);
    assert_eq!(reach(&alice, &target_b).await.0, 404);

    // A group's members hold its roles while they are members.
    let group = admin
        .post("/v1/groups", json!({"scope_id": "global", "name": "dbas"}))
        .await
        .expect(200);
    let group_id = group["id"].as_str().unwrap().to_owned();
    let group = admin
        .post(
            &format!("/v1/groups/{group_id}:add-members"),
            json!({"version": 1, "member_ids": [alice_id]}),
        )
        .await
        .expect(200);
    assert_eq!(group["members"][0]["id"], alice_id.as_str());
    role(
        &admin,
        &project_b,
        &[&group_id],
        &["ids=*;type=target;actions=read,authorize-session"],
        &["this"],
    )
    .await;
    assert_eq!(reach(&alice, &target_b).await, (200, 200));
    admin
        .post(
            &format!("/v1/groups/{group_id}:remove-members"),
            json!({"version": group["version"], "member_ids": [alice_id]}),
        )
        .await
        .expect(200);
    assert_eq!(reach(&alice, &target_b).await, (404, 404));
}

#[tokio::test]
async fn self_actions_reach_only_ones_own_sessions() {
    let anon = start().await;
    let admin = anon.login("admin", "password").await;
    let bob_id = new_user(&admin, "bob").await;
    let bob = anon.login("bob", "a-good-password").await;
    let user = anon.login("user", "password").await;
    let users_session = user.authorize(TARGET).await["item"]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    role(
        &admin,
        PROJECT,
        &[&bob_id],
        &[&format!("ids={TARGET};actions=authorize-session")],
        &["this"],
    )
    .await;
    let bobs_session = bob.authorize(TARGET).await["item"]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The default grants: list, read:self, cancel:self.
    let listed = bob
        .get(&format!("/v1/sessions?scope_id={PROJECT}"))
        .await
        .expect(200);
    assert_eq!(ids(&listed), vec![bobs_session.clone()]);
    let read = bob
        .get(&format!("/v1/sessions/{bobs_session}"))
        .await
        .expect(200);
    assert_eq!(
        read["authorized_actions"],
        json!(["read:self", "cancel:self"])
    );
    bob.get(&format!("/v1/sessions/{users_session}"))
        .await
        .error(404, "NotFound");

    // `read` (without `cancel`) reaches everyone's sessions in the project.
    let readers = role(
        &admin,
        PROJECT,
        &[&bob_id],
        &["ids=*;type=session;actions=read"],
        &["this"],
    )
    .await;
    let listed = bob
        .get(&format!("/v1/sessions?scope_id={PROJECT}"))
        .await
        .expect(200);
    assert_eq!(ids(&listed).len(), 2, "{listed}");
    let theirs = bob
        .get(&format!("/v1/sessions/{users_session}"))
        .await
        .expect(200);
    assert_eq!(theirs["authorized_actions"], json!(["read"]));
    bob.post(
        &format!("/v1/sessions/{users_session}:cancel"),
        json!({"version": 1}),
    )
    .await
    .error(403, "PermissionDenied");
    admin
        .delete(&format!("/v1/roles/{readers}"))
        .await
        .expect(204);
    bob.get(&format!("/v1/sessions/{users_session}"))
        .await
        .error(404, "NotFound");
    let canceled = bob
        .post(
            &format!("/v1/sessions/{bobs_session}:cancel"),
            json!({"version": 1}),
        )
        .await
        .expect(200);
    // Canceling, or already terminated (it has no connections).
    let status = canceled["status"].as_str().unwrap();
    assert!(["canceling", "terminated"].contains(&status), "{canceled}");
}

#[tokio::test]
async fn malformed_grants_are_refused_naming_the_position() {
    let anon = start().await;
    let admin = anon.login("admin", "password").await;
    let role = admin
        .post("/v1/roles", json!({"scope_id": PROJECT, "name": "r"}))
        .await
        .expect(200);
    let id = role["id"].as_str().unwrap();
    assert_eq!(role["grant_scope_ids"], json!(["this"]));
    for (grant, position, token) in [
        ("ids=*;type=target;actions=raed", 27, "raed"),
        ("ids=*;type=tarjet;actions=read", 12, "tarjet"),
        ("ids=*;actions=read", 5, "*"),
    ] {
        let refused = admin
            .post(
                &format!("/v1/roles/{id}:add-grants"),
                json!({"version": 1, "grant_strings": [grant]}),
            )
            .await
            .error(400, "InvalidArgument");
        assert_eq!(field_name(&refused), "grant_strings");
        let message = refused["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("at character {position}, \"{token}\"")),
            "{grant}: {message}"
        );
    }
    // A good one is shown in every form.
    let added = admin
        .post(
            &format!("/v1/roles/{id}:add-grants"),
            json!({"version": 1, "grant_strings": ["ids=*;type=target;actions=read,list"]}),
        )
        .await
        .expect(200);
    assert_eq!(
        added["grants"][0]["canonical"],
        "ids=*;type=target;actions=list,read"
    );
    assert_eq!(added["grants"][0]["json"]["type"], "target");
    // Grant scopes: a project role reaches only its own project.
    let refused = admin
        .post(
            &format!("/v1/roles/{id}:add-grant-scopes"),
            json!({"version": 2, "grant_scope_ids": ["children"]}),
        )
        .await
        .error(400, "InvalidArgument");
    assert_eq!(field_name(&refused), "grant_scope_ids");
}
