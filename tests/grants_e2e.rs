//! Roles and grants with the real binary: the README's worked example (a team that may reach
//! only its project's databases), driven through `postern roles` / `postern groups` against
//! a real `postern dev`, with bytes through a real `postern proxy`.

#![allow(clippy::unwrap_used)] // a test says "this must hold" with unwrap
mod common;

use common::dev::*;
use common::*;

const DEV_USER_ID: &str = "u_0987654321";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_reaches_only_its_projects_databases() {
    let echo = echo_endpoint().await;
    let dev = Dev::start(echo.port()).await;
    let eng = dev.create_scope("global", "Eng").await;
    let dbs = dev.create_scope(&eng, "Databases").await;
    let web = dev.create_scope(&eng, "Web").await;
    let orders = dev.create_target_in(&dbs, "orders-db", echo).await;
    let assets = dev.create_target_in(&web, "assets-db", echo).await;
    let user = CliUser::log_in(&dev, "user", "password").await;

    // Nothing granted yet: the team's target does not exist for the user.
    let refused = authorize(&user, &orders).await.unwrap_err();
    assert_eq!(refused["status_code"], 404, "{refused}");

    // The team: a group with the user, and a role in the project for the group.
    let group = dev
        .json(&["groups", "create", "-scope-id", "global", "-name", "dbas"])
        .await;
    let group = group["item"]["id"].as_str().unwrap().to_owned();
    dev.json(&[
        "groups",
        "add-members",
        "-id",
        &group,
        "-member",
        DEV_USER_ID,
    ])
    .await;
    let role = dev
        .json(&["roles", "create", "-scope-id", &dbs, "-name", "dba access"])
        .await;
    let role = role["item"]["id"].as_str().unwrap().to_owned();
    let grant = "ids=*;type=target;actions=list,read,authorize-session";
    dev.json(&["roles", "add-grants", "-id", &role, "-grant", grant])
        .await;
    let shown = dev
        .json(&[
            "roles",
            "add-principals",
            "-id",
            &role,
            "-principal",
            &group,
        ])
        .await;
    assert_eq!(shown["item"]["principals"][0]["type"], "group", "{shown}");
    assert_eq!(
        shown["item"]["grant_scope_ids"],
        serde_json::json!(["this"])
    );
    let table = dev.cli(&["roles", "read", "-id", &role]).await;
    let canonical = "ids=*;type=target;actions=authorize-session,list,read";
    assert!(table.contains(canonical), "{table}");

    // The user lists and reaches the project's database, bytes and all; not the other one.
    let (code, listed) = user.json(&["targets", "list", "-scope-id", &dbs]).await;
    assert_eq!(code, Some(0));
    assert_eq!(listed["items"][0]["id"], orders.as_str(), "{listed}");
    let token = authorize(&user, &orders).await.unwrap();
    let mut proxy = PosternProcess::spawn(&["proxy", "-authz", &token, "-format", "json"]);
    let port = proxy.next_json().await["port"].as_u64().unwrap() as u16;
    let local = format!("127.0.0.1:{port}").parse().unwrap();
    let (len, _) = exchange(local, b"select 1;").await;
    assert_eq!(len, b"select 1;".len());
    proxy.interrupt();
    proxy.wait().await;
    let refused = authorize(&user, &assets).await.unwrap_err();
    assert_eq!(refused["status_code"], 404, "{refused}");

    // Out of the group, out of the project: at once, no restart.
    dev.json(&[
        "groups",
        "remove-members",
        "-id",
        &group,
        "-member",
        DEV_USER_ID,
    ])
    .await;
    let refused = authorize(&user, &orders).await.unwrap_err();
    assert_eq!(refused["status_code"], 404, "{refused}");

    // A malformed grant is refused with its position and token.
    let out = dev
        .command(&[
            "roles",
            "add-grants",
            "-id",
            &role,
            "-grant",
            "ids=*;type=target;actions=raed",
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("at character 27, \"raed\""), "{text}");
}

/// `targets authorize-session` as `user`: the session's token, or the error JSON.
async fn authorize(user: &CliUser, target: &str) -> Result<String, serde_json::Value> {
    let (code, out) = user
        .json(&["targets", "authorize-session", "-id", target])
        .await;
    if code != Some(0) {
        return Err(out);
    }
    Ok(out["item"]["authorization_token"]
        .as_str()
        .unwrap()
        .to_owned())
}
