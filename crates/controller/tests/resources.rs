//! The resource directory through its trait, on `MemoryDirectory`: the dev seed, logging in
//! and bearer tokens, CRUD with version checks for every kind, membership actions, cascading
//! deletes, session plans, and the JSON each kind serialises to.

#![allow(clippy::unwrap_used)] // helpers unwrap too; a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use postern_controller::resources::*;
use postern_controller::sessions::Clock;
use serde::Serialize;
use serde_json::{json, Value};

const PROJECT: &str = "p_1234567890";
const METHOD: &str = "ampw_1234567890";
const CATALOG: &str = "hcst_1234567890";
const SET: &str = "hsst_1234567890";
const HOST: &str = "hst_1234567890";
const TARGET: &str = "ttcp_1234567890";
const INVALID_TOKEN: &str = "unauthenticated: invalid auth token";

/// 2024-05-01T12:00:00Z.
fn start() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_564_800)
}

/// A clock tests move by hand.
fn hand_clock() -> (Clock, Arc<Mutex<SystemTime>>) {
    let now = Arc::new(Mutex::new(start()));
    let read = Arc::clone(&now);
    (Arc::new(move || *read.lock().unwrap()), now)
}

fn dev() -> MemoryDirectory {
    MemoryDirectory::dev_with_clock(&DevSeed::default(), hand_clock().0).unwrap()
}

/// What a call came to, in a few words a test can compare: `ok`, `invalid <field>`,
/// `stale <id> <expected>/<current>`, `conflict`, `not found <kind>`, `unauthenticated: <why>`.
fn outcome<T>(result: Result<T, ResourceError>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(ResourceError::InvalidArgument { field, .. }) => format!("invalid {field}"),
        Err(ResourceError::StaleVersion {
            id,
            expected,
            current,
        }) => {
            format!("stale {id} {expected}/{current}")
        }
        Err(ResourceError::Conflict(_)) => "conflict".into(),
        Err(ResourceError::NotFound { kind, .. }) => format!("not found {kind}"),
        Err(ResourceError::Unauthenticated(why)) => format!("unauthenticated: {why}"),
        Err(other) => format!("{other:?}"),
    }
}

fn stale(id: &str, expected: u32, current: u32) -> String {
    format!("stale {id} {expected}/{current}")
}

/// The ids of listed items, sorted.
fn ids<T: Serialize>(items: Result<Vec<T>, ResourceError>) -> Vec<String> {
    let ids = items
        .unwrap()
        .into_iter()
        .map(|item| to_json(item)["id"].as_str().unwrap().into());
    ids.collect::<BTreeSet<String>>().into_iter().collect()
}

fn v(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| id.to_string()).collect()
}

fn to_json(value: impl Serialize) -> Value {
    serde_json::to_value(value).unwrap()
}

fn auth_method(scope_id: &str, name: &str) -> NewAuthMethod {
    let mut new = NewAuthMethod::default();
    (new.scope_id, new.name) = (scope_id.into(), name.into());
    new
}

fn account(auth_method_id: &str, login_name: &str, password: &str) -> NewAccount {
    let mut new = NewAccount::default();
    (new.auth_method_id, new.login_name) = (auth_method_id.into(), login_name.into());
    new.password = password.into();
    new
}

fn user(scope_id: &str, name: &str) -> NewUser {
    let mut new = NewUser::default();
    (new.scope_id, new.name) = (scope_id.into(), name.into());
    new
}

fn catalog(scope_id: &str) -> NewHostCatalog {
    let scope_id = scope_id.into();
    NewHostCatalog {
        scope_id,
        ..Default::default()
    }
}

fn host(catalog: &str, name: &str, address: &str) -> NewHost {
    let mut new = NewHost::default();
    (new.host_catalog_id, new.name) = (catalog.into(), name.into());
    new.address = address.into();
    new
}

fn host_set(catalog: &str, name: &str) -> NewHostSet {
    let mut new = NewHostSet::default();
    (new.host_catalog_id, new.name) = (catalog.into(), name.into());
    new
}

/// A tcp target in the dev project.
fn tcp(name: &str, port: u32) -> NewTarget {
    let mut new = NewTarget::default();
    (new.scope_id, new.name) = (PROJECT.into(), name.into());
    new.default_port = Some(port);
    new
}

#[test]
fn dev_seed_has_boundarys_ids() {
    let d = dev();
    assert_eq!(
        ids(d.list_scopes("global", true)),
        ["o_1234567890", PROJECT]
    );
    assert_eq!(ids(d.list_scopes("global", false)), ["o_1234567890"]);
    assert_eq!(
        d.scope_tree("global", true).unwrap(),
        ["global", "o_1234567890", PROJECT]
    );
    assert_eq!(
        d.scope_tree("o_1234567890", false).unwrap(),
        ["o_1234567890"]
    );
    assert_eq!(ids(d.list_auth_methods("global", true)), [METHOD]);
    assert_eq!(
        ids(d.list_users("global", false)),
        ["u_0987654321", "u_1234567890"]
    );
    let accounts = ids(d.list_accounts(METHOD, false));
    assert_eq!(accounts, ["acctpw_0987654321", "acctpw_1234567890"]);
    assert_eq!(d.user("u_0987654321").unwrap().login_name, "user");
    assert_eq!(ids(d.list_host_catalogs("global", true)), [CATALOG]);
    assert_eq!(ids(d.list_hosts(CATALOG, false)), [HOST]);
    assert_eq!(ids(d.list_host_sets(CATALOG, false)), [SET]);
    assert_eq!(ids(d.list_targets("global", true)), [TARGET]);
    assert!(d.list_targets("global", false).unwrap().is_empty());
    assert_eq!(DEV_TARGET_ID, TARGET);
}

#[test]
fn dev_seed_takes_its_flags_and_checks_them() {
    let seed = DevSeed {
        login_name: "root".into(),
        password: "hunter2hunter2".into(),
        host_address: "10.0.0.5".into(),
        target_default_port: 2222,
        target_session_connection_limit: 3,
        target_session_max_seconds: 60,
        ..DevSeed::default()
    };
    assert!(!format!("{seed:?}").contains("hunter2"));
    let d = MemoryDirectory::dev(&seed).unwrap();
    let got = outcome(d.authenticate(METHOD, "root", "hunter2hunter2"));
    assert_eq!(got, "ok");
    let plan = d.plan_session(TARGET, None).unwrap();
    assert_eq!(plan.endpoint, "tcp://10.0.0.5:2222");
    let got = (plan.connection_limit, plan.max_duration);
    assert_eq!(got, (3, Duration::from_secs(60)));

    let bad_address = DevSeed {
        host_address: "tcp://10.0.0.5".into(),
        ..DevSeed::default()
    };
    let got = outcome(MemoryDirectory::dev(&bad_address));
    assert_eq!(got, "invalid attributes.address");
    let same_login = DevSeed {
        login_name: "user".into(),
        ..DevSeed::default()
    };
    assert_eq!(outcome(MemoryDirectory::dev(&same_login)), "conflict");
    let short = DevSeed {
        password: "short".into(),
        ..DevSeed::default()
    };
    let got = outcome(MemoryDirectory::dev(&short));
    assert_eq!(got, "invalid attributes.password");
}

#[test]
fn authenticate_issues_a_token_that_resolves_to_the_user() {
    let d = dev();
    let token = d.authenticate(METHOD, "admin", "password").unwrap();
    assert_eq!(token.user_id, "u_1234567890");
    let got = (token.auth_method_id.as_str(), token.account_id.as_str());
    assert_eq!(got, (METHOD, "acctpw_1234567890"));
    let suffix = token.id.strip_prefix("at_").unwrap();
    assert!(suffix.len() == 10 && suffix.bytes().all(|b| b.is_ascii_alphanumeric()));
    let secret = token.token.strip_prefix(&format!("{}_", token.id)).unwrap();
    assert!(secret.len() >= 32, "{secret}");
    let base58 = |b: u8| b.is_ascii_alphanumeric() && !b"0OIl".contains(&b);
    assert!(secret.bytes().all(base58), "{secret}");
    let got = token.expiration_time - token.created_time;
    assert_eq!(got, chrono::Duration::days(7));
    assert!(!format!("{token:?}").contains(secret));

    let principal = d.principal(&token.token).unwrap();
    let auth_token_id = token.id.clone();
    let admin = Principal {
        user_id: "u_1234567890".into(),
        auth_token_id,
        admin: true,
    };
    assert_eq!(principal, admin);
    let unprivileged = d.authenticate(METHOD, "user", "password").unwrap();
    let principal = d.principal(&unprivileged.token).unwrap();
    let got = (principal.user_id.as_str(), principal.admin);
    assert_eq!(got, ("u_0987654321", false));

    d.logout(&token.id).unwrap();
    assert_eq!(outcome(d.principal(&token.token)), INVALID_TOKEN);
    assert_eq!(outcome(d.logout(&token.id)), "not found auth token");
}

#[test]
fn failed_logins_all_say_authentication_failed() {
    let d = dev();
    let failed = "unauthenticated: authentication failed";
    let got = outcome(d.authenticate(METHOD, "admin", "passwordx"));
    assert_eq!(got, failed);
    assert_eq!(outcome(d.authenticate(METHOD, "admin", "")), failed);
    let got = outcome(d.authenticate(METHOD, "nobody", "password"));
    assert_eq!(got, failed);
    let got = outcome(d.authenticate("ampw_0000000000", "admin", "password"));
    assert_eq!(got, "not found auth method");
}

#[test]
fn bad_tokens_are_unauthenticated() {
    let d = dev();
    let token = d.authenticate(METHOD, "admin", "password").unwrap().token;
    let dashed = token.replace('_', "-");
    for garbage in [
        "",
        "garbage",
        "Bearer x",
        "at_1234567890",
        &token[..40],
        &dashed,
    ] {
        let malformed = "unauthenticated: malformed auth token";
        assert_eq!(outcome(d.principal(garbage)), malformed, "{garbage:?}");
    }
    // The same id with one secret character changed (within base58), and an unknown id.
    let mut tampered = token.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'2' { b'3' } else { b'2' };
    let tampered = String::from_utf8(tampered).unwrap();
    let invalid = INVALID_TOKEN;
    assert_eq!(outcome(d.principal(&tampered)), invalid);
    let got = outcome(d.principal(&format!("at_0000000000{}", &token[13..])));
    assert_eq!(got, invalid);
    assert_eq!(outcome(d.principal(&token)), "ok");
}

#[test]
fn tokens_expire_after_seven_days() {
    let (clock, now) = hand_clock();
    let d = MemoryDirectory::dev_with_clock(&DevSeed::default(), clock).unwrap();
    let token = d.authenticate(METHOD, "admin", "password").unwrap().token;
    *now.lock().unwrap() = start() + Duration::from_secs(7 * 24 * 3600 - 1);
    assert_eq!(outcome(d.principal(&token)), "ok");
    *now.lock().unwrap() = start() + Duration::from_secs(7 * 24 * 3600);
    let got = outcome(d.principal(&token));
    assert_eq!(got, "unauthenticated: auth token expired");
}

#[test]
fn a_new_account_logs_in_as_a_new_unprivileged_user() {
    let d = dev();
    let short = d.create_account(account(METHOD, "jo", "1234567"));
    assert_eq!(outcome(short), "invalid attributes.password");
    let jo = d.create_account(account(METHOD, "jo", "12345678")).unwrap();
    assert_eq!((jo.kind.as_str(), jo.version), ("password", 1));
    let got = outcome(d.create_account(account(METHOD, "jo", "abcdefgh")));
    assert_eq!(got, "conflict");

    let token = d.authenticate(METHOD, "jo", "12345678").unwrap();
    let user = d.user(&token.user_id).unwrap();
    assert!(user.id.starts_with("u_"));
    let got = (user.account_ids.clone(), user.login_name.as_str());
    assert_eq!(got, (vec![jo.id], "jo"));
    assert!(!d.principal(&token.token).unwrap().admin);
}

#[test]
fn scopes_crud_with_versions() {
    let d = dev();
    let org = d.create_scope("global", "Eng", "engineering").unwrap();
    assert!(org.id.starts_with("o_") && org.id.len() == 12, "{}", org.id);
    let got = (org.scope_type.as_str(), org.version, org.scope.id.as_str());
    assert_eq!(got, ("org", 1, "global"));
    let project = d.create_scope(&org.id, "Web", "").unwrap();
    assert!(project.id.starts_with("p_"));
    let got = (project.scope_type.as_str(), project.scope.name.as_str());
    assert_eq!(got, ("project", "Eng"));
    let got = outcome(d.create_scope(&project.id, "Deeper", ""));
    assert_eq!(got, "invalid scope_id");
    assert_eq!(outcome(d.create_scope("global", "Eng", "")), "conflict");
    let got = outcome(d.create_scope("o_nope", "x", ""));
    assert_eq!(got, "not found scope");

    let name = Some("Engineering".to_owned());
    let renamed = d.update_scope(&org.id, 1, name, None).unwrap();
    let got = (renamed.name.as_str(), renamed.description.as_str());
    assert_eq!(got, ("Engineering", "engineering"));
    assert_eq!(renamed.version, 2);
    let got = outcome(d.update_scope(&org.id, 1, None, Some("x".into())));
    assert_eq!(got, stale(&org.id, 1, 2));
    assert_eq!(d.scope(&project.id).unwrap().scope.name, "Engineering");
    let taken = Some("Generated org scope".to_owned());
    assert_eq!(outcome(d.update_scope(&org.id, 2, taken, None)), "conflict");

    assert_eq!(outcome(d.delete_scope("global")), "invalid id");
    d.delete_scope(&org.id).unwrap();
    assert_eq!(outcome(d.scope(&project.id)), "not found scope");
    assert_eq!(outcome(d.delete_scope(&org.id)), "not found scope");
}

#[test]
fn auth_methods_crud() {
    let d = dev();
    let org = d.create_scope("global", "Eng", "").unwrap();
    let got = outcome(d.create_auth_method(auth_method(PROJECT, "")));
    assert_eq!(got, "invalid scope_id");
    let method = d.create_auth_method(auth_method(&org.id, "pw")).unwrap();
    assert!(method.id.starts_with("ampw_") && method.is_primary);
    assert_eq!(d.scope(&org.id).unwrap().primary_auth_method_id, method.id);
    let second = d.create_auth_method(auth_method(&org.id, "pw2")).unwrap();
    assert!(!second.is_primary);
    let got = outcome(d.create_auth_method(auth_method(&org.id, "pw")));
    assert_eq!(got, "conflict");
    let patch = AuthMethodPatch {
        description: Some("d".into()),
        ..Default::default()
    };
    let method = d.update_auth_method(&method.id, 1, patch).unwrap();
    assert_eq!((method.description.as_str(), method.version), ("d", 2));
    let again = d.update_auth_method(&method.id, 1, AuthMethodPatch::default());
    assert_eq!(outcome(again), stale(&method.id, 1, 2));
    assert_eq!(d.list_auth_methods("global", true).unwrap().len(), 3);
    assert_eq!(d.list_auth_methods(&org.id, false).unwrap().len(), 2);
    d.delete_auth_method(&method.id).unwrap();
    assert_eq!(outcome(d.auth_method(&method.id)), "not found auth method");
}

#[test]
fn users_and_accounts_crud() {
    let d = dev();
    let org = d.create_scope("global", "Eng", "").unwrap();
    let method = d.create_auth_method(auth_method(&org.id, "pw")).unwrap().id;
    let pw = "password1";
    let alice = d.create_account(account(&method, "alice", pw)).unwrap();
    assert!(alice.id.starts_with("acctpw_"));
    assert_eq!(alice.scope.id, org.id);
    let bob = d.create_account(account(&method, "bob", pw)).unwrap();
    let spaced = d.create_account(account(&method, "a b", pw));
    assert_eq!(outcome(spaced), "invalid attributes.login_name");
    let login = |name: &str| AccountPatch {
        login_name: Some(name.into()),
        ..Default::default()
    };
    let got = outcome(d.update_account(&alice.id, 1, login("bob")));
    assert_eq!(got, "conflict");
    let alice = d.update_account(&alice.id, 1, login("alice2")).unwrap();
    let got = (alice.attributes.login_name.as_str(), alice.version);
    assert_eq!(got, ("alice2", 2));
    let got = outcome(d.update_account(&alice.id, 1, login("x")));
    assert_eq!(got, stale(&alice.id, 1, 2));
    assert_eq!(d.list_accounts(&method, false).unwrap().len(), 2);

    let u = d.create_user(user(&org.id, "Alice")).unwrap().id;
    assert!(u.starts_with("u_"));
    let got = outcome(d.create_user(user(PROJECT, "")));
    assert_eq!(got, "invalid scope_id");
    assert_eq!(outcome(d.create_user(user(&org.id, "Alice"))), "conflict");
    let set = d
        .change_user_accounts(&u, 1, Change::Set, &v(&[&alice.id]))
        .unwrap();
    assert_eq!((set.version, set.login_name.as_str()), (2, "alice2"));
    let got = outcome(d.change_user_accounts(&u, 1, Change::Add, &v(&[&bob.id])));
    assert_eq!(got, stale(&u, 1, 2));
    let both = v(&[&bob.id, &alice.id]);
    let added = d.change_user_accounts(&u, 2, Change::Add, &both).unwrap();
    assert_eq!(added.account_ids, [alice.id.clone(), bob.id.clone()]);
    let removed = d
        .change_user_accounts(&u, 3, Change::Remove, &v(&[&alice.id]))
        .unwrap();
    let got = (removed.account_ids, removed.primary_account_id);
    assert_eq!(got, (v(&[&bob.id]), bob.id.clone()));
    let not_member = d.change_user_accounts(&u, 4, Change::Remove, &v(&[&alice.id]));
    assert_eq!(outcome(not_member), "invalid account_ids");
    // Accounts of another scope's auth method, and accounts of another user, are refused.
    let elsewhere = d.change_user_accounts(&u, 4, Change::Add, &v(&["acctpw_0987654321"]));
    assert_eq!(outcome(elsewhere), "invalid account_ids");
    let got = outcome(d.change_user_accounts(&u, 4, Change::Add, &v(&["acctpw_nope"])));
    assert_eq!(got, "invalid account_ids");
    let other = d.create_user(user(&org.id, "")).unwrap().id;
    let got = outcome(d.change_user_accounts(&other, 1, Change::Add, &v(&[&bob.id])));
    assert_eq!(got, "conflict");
    let patch = UserPatch {
        name: Some("Bob".into()),
        ..Default::default()
    };
    let renamed = d.update_user(&u, 4, patch).unwrap();
    assert_eq!((renamed.name.as_str(), renamed.version), ("Bob", 5));
    assert_eq!(d.list_users("global", true).unwrap().len(), 4);
    assert_eq!(d.list_users(&org.id, false).unwrap().len(), 2);

    // Deleting an account drops it from its user and revokes its tokens.
    let token = d.authenticate(&method, "bob", "password1").unwrap();
    assert_eq!(token.user_id, u);
    d.delete_account(&bob.id).unwrap();
    assert!(d.user(&u).unwrap().account_ids.is_empty());
    assert_eq!(outcome(d.principal(&token.token)), INVALID_TOKEN);
    // Alice's account has no user any more: logging in makes one.
    let token = d.authenticate(&method, "alice2", pw).unwrap();
    assert_ne!(token.user_id, u);
    d.delete_user(&token.user_id).unwrap();
    assert_eq!(outcome(d.user(&token.user_id)), "not found user");
    // Deleting a user revokes its tokens; its accounts stay, unassociated.
    assert_eq!(outcome(d.principal(&token.token)), INVALID_TOKEN);
    assert_eq!(outcome(d.account(&alice.id)), "ok");
    // Deleting the auth method takes its accounts.
    d.delete_auth_method(&method).unwrap();
    assert_eq!(outcome(d.account(&alice.id)), "not found account");
}

#[test]
fn host_catalogs_hosts_and_host_sets_crud() {
    let d = dev();
    let got = outcome(d.create_host_catalog(catalog("o_1234567890")));
    assert_eq!(got, "invalid scope_id");
    let created = d.create_host_catalog(catalog(PROJECT)).unwrap();
    assert!(created.id.starts_with("hcst_"));
    let got = (created.kind.as_str(), created.scope.id.as_str());
    assert_eq!(got, ("static", PROJECT));
    let c = created.id;
    let patch = HostCatalogPatch {
        name: Some("c2".into()),
        ..Default::default()
    };
    let renamed = d.update_host_catalog(&c, 1, patch).unwrap();
    assert_eq!((renamed.name.as_str(), renamed.version), ("c2", 2));
    let got = outcome(d.update_host_catalog(&c, 1, Default::default()));
    assert_eq!(got, stale(&c, 1, 2));
    let taken = HostCatalogPatch {
        name: Some("Generated host catalog".into()),
        ..Default::default()
    };
    assert_eq!(outcome(d.update_host_catalog(&c, 2, taken)), "conflict");

    for bad in ["", "10.0.0.1:22", "ssh://10.0.0.1", "[::1]"] {
        let refused = outcome(d.create_host(host(&c, "h", bad)));
        assert_eq!(refused, "invalid attributes.address", "{bad:?}");
    }
    let web = d.create_host(host(&c, "web", "10.0.0.1")).unwrap().id;
    assert!(web.starts_with("hst_"));
    let got = outcome(d.create_host(host(&c, "web", "10.0.0.2")));
    assert_eq!(got, "conflict");
    let db = d.create_host(host(&c, "db", "::1")).unwrap().id;
    let address = |a: &str| HostPatch {
        address: Some(a.into()),
        ..Default::default()
    };
    let moved = d.update_host(&web, 1, address("web.internal")).unwrap();
    let got = (moved.attributes.address.as_str(), moved.version);
    assert_eq!(got, ("web.internal", 2));
    let got = outcome(d.update_host(&web, 2, address("web:80")));
    assert_eq!(got, "invalid attributes.address");
    let got = outcome(d.update_host(&web, 1, address("web")));
    assert_eq!(got, stale(&web, 1, 2));
    assert_eq!(d.list_hosts(&c, false).unwrap().len(), 2);

    let s = d.create_host_set(host_set(&c, "s")).unwrap();
    assert!(s.id.starts_with("hsst_") && s.host_ids.is_empty());
    let s = s.id;
    let added = d
        .change_host_set_hosts(&s, 1, Change::Add, &v(&[&web, &db, &web]))
        .unwrap();
    assert_eq!((added.host_ids, added.version), (v(&[&web, &db]), 2));
    assert_eq!(d.host(&db).unwrap().host_set_ids, std::slice::from_ref(&s));
    assert_eq!(
        outcome(d.change_host_set_hosts(&s, 1, Change::Set, &[])),
        stale(&s, 1, 2)
    );
    let other_catalog = d.change_host_set_hosts(&s, 2, Change::Add, &v(&[HOST]));
    assert_eq!(outcome(other_catalog), "invalid host_ids");
    let got = outcome(d.change_host_set_hosts(&s, 2, Change::Add, &v(&["hst_nope"])));
    assert_eq!(got, "invalid host_ids");
    let removed = d
        .change_host_set_hosts(&s, 2, Change::Remove, &v(&[&web]))
        .unwrap();
    assert_eq!(removed.host_ids, std::slice::from_ref(&db));
    let replaced = d
        .change_host_set_hosts(&s, 3, Change::Set, &v(&[&web]))
        .unwrap();
    assert_eq!((replaced.host_ids, replaced.version), (v(&[&web]), 4));
    let patch = HostSetPatch {
        description: Some("d".into()),
        ..Default::default()
    };
    assert_eq!(d.update_host_set(&s, 4, patch).unwrap().version, 5);
    assert_eq!(d.list_host_sets(&c, false).unwrap().len(), 1);

    // Deleting a host drops it from its sets; deleting the catalog takes its hosts and sets.
    d.delete_host(&web).unwrap();
    assert!(d.host_set(&s).unwrap().host_ids.is_empty());
    d.delete_host_catalog(&c).unwrap();
    assert_eq!(outcome(d.host(&db)), "not found host");
    assert_eq!(outcome(d.host_set(&s)), "not found host set");
    assert_eq!(outcome(d.list_hosts(&c, false)), "not found host catalog");
}

#[test]
fn targets_are_validated() {
    let d = dev();
    type Edit = fn(&mut NewTarget);
    let cases: [(&str, Edit); 10] = [
        ("attributes.default_port", |t| t.default_port = None),
        ("attributes.default_port", |t| t.default_port = Some(0)),
        ("attributes.default_port", |t| t.default_port = Some(70_000)),
        ("attributes.default_client_port", |t| {
            t.default_client_port = Some(70_000)
        }),
        ("session_max_seconds", |t| t.session_max_seconds = Some(0)),
        ("session_connection_limit", |t| {
            t.session_connection_limit = Some(0)
        }),
        ("session_connection_limit", |t| {
            t.session_connection_limit = Some(-2)
        }),
        ("address", |t| t.address = Some("db:5432".into())),
        ("name", |t| t.name.clear()),
        ("scope_id", |t| t.scope_id = "o_1234567890".into()),
    ];
    for (field, edit) in cases {
        let mut target = tcp("db", 5432);
        edit(&mut target);
        let refused = outcome(d.create_target(target.clone()));
        assert_eq!(refused, format!("invalid {field}"), "{target:?}");
    }
    let got = outcome(d.create_target(tcp("Generated target", 22)));
    assert_eq!(got, "conflict");
}

#[test]
fn targets_crud_with_versions() {
    let d = dev();
    let target = d.create_target(tcp("db", 5432)).unwrap();
    assert!(target.id.starts_with("ttcp_"));
    let got = (target.session_max_seconds, target.session_connection_limit);
    assert_eq!(got, (28_800, -1));
    assert_eq!((target.version, target.address), (1, None));
    let t = target.id;
    let patch = TargetPatch {
        session_connection_limit: Some(2),
        default_client_port: Some(5433),
        ..Default::default()
    };
    let updated = d.update_target(&t, 1, patch).unwrap();
    assert_eq!((updated.session_connection_limit, updated.version), (2, 2));
    assert_eq!(updated.attributes.default_client_port, 5433);
    let got = outcome(d.update_target(&t, 1, Default::default()));
    assert_eq!(got, stale(&t, 1, 2));
    let zero = TargetPatch {
        session_max_seconds: Some(0),
        ..Default::default()
    };
    let got = outcome(d.update_target(&t, 2, zero));
    assert_eq!(got, "invalid session_max_seconds");
    let version = d.target(&t).unwrap().version;
    assert_eq!(version, 2, "a refused update changes nothing");

    let sources = d
        .change_target_host_sources(&t, 2, Change::Add, &v(&[SET]))
        .unwrap();
    assert_eq!((sources.host_source_ids, sources.version), (v(&[SET]), 3));
    let address = TargetPatch {
        address: Some("db.internal".into()),
        ..Default::default()
    };
    let got = outcome(d.update_target(&t, 3, address.clone()));
    assert_eq!(got, "invalid address");
    let unknown = d.change_target_host_sources(&t, 3, Change::Add, &v(&["hsst_nope"]));
    assert_eq!(outcome(unknown), "invalid host_source_ids");
    let got = outcome(d.change_target_host_sources(&t, 2, Change::Set, &[]));
    assert_eq!(got, stale(&t, 2, 3));
    d.change_target_host_sources(&t, 3, Change::Remove, &v(&[SET]))
        .unwrap();
    let direct = d.update_target(&t, 4, address).unwrap();
    let got = (direct.address.as_deref(), direct.version);
    assert_eq!(got, (Some("db.internal"), 5));
    let both = d.change_target_host_sources(&t, 5, Change::Set, &v(&[SET]));
    assert_eq!(outcome(both), "invalid host_source_ids");
    assert_eq!(d.list_targets(PROJECT, false).unwrap().len(), 2);
    d.delete_target(&t).unwrap();
    assert_eq!(outcome(d.target(&t)), "not found target");
    assert_eq!(outcome(d.delete_target(&t)), "not found target");
}

#[test]
fn plan_session_for_the_dev_target() {
    let d = dev();
    let expected = SessionPlan {
        target_id: TARGET.into(),
        scope: ScopeInfo {
            id: PROJECT.into(),
            scope_type: "project".into(),
            name: "Generated project scope".into(),
            description: "Provides an initial project scope in Boundary".into(),
            parent_scope_id: "o_1234567890".into(),
        },
        host_id: HOST.into(),
        host_set_id: SET.into(),
        endpoint: "tcp://127.0.0.1:22".into(),
        endpoint_port: 22,
        connection_limit: -1,
        max_duration: Duration::from_secs(28_800),
        default_client_port: 0,
    };
    assert_eq!(d.plan_session(TARGET, None).unwrap(), expected);
    assert_eq!(d.plan_session(TARGET, Some(HOST)).unwrap(), expected);
    let got = outcome(d.plan_session("ttcp_nope", None));
    assert_eq!(got, "not found target");

    // A host of the same catalog that is in none of the target's sets.
    let outsider = d.create_host(host(CATALOG, "", "10.0.0.9")).unwrap().id;
    let refused = d.plan_session(TARGET, Some(&outsider));
    assert_eq!(outcome(refused), "invalid host_id");
    let scope: postern_controller::sessions::Scope = expected.scope.into();
    let got = (scope.id.as_str(), scope.parent_scope_id.as_str());
    assert_eq!(got, (PROJECT, "o_1234567890"));
}

#[test]
fn plan_session_picks_among_all_hosts_or_uses_the_address() {
    let d = dev();
    let second = d.create_host(host(CATALOG, "", "::1")).unwrap().id;
    d.change_host_set_hosts(SET, 2, Change::Add, &v(&[&second]))
        .unwrap();
    let plan = d.plan_session(TARGET, Some(&second)).unwrap();
    let got = (plan.endpoint.as_str(), plan.host_set_id.as_str());
    assert_eq!(got, ("tcp://[::1]:22", SET));
    // Both hosts come up: the chance of missing one in 200 picks is 2^-199.
    let picked: BTreeSet<String> = (0..200)
        .map(|_| d.plan_session(TARGET, None).unwrap().host_id)
        .collect();
    assert_eq!(picked, BTreeSet::from([second, HOST.to_owned()]));

    let direct = NewTarget {
        address: Some("example.internal".into()),
        default_client_port: Some(18080),
        session_connection_limit: Some(1),
        ..tcp("direct", 8080)
    };
    let direct = d.create_target(direct).unwrap().id;
    let plan = d.plan_session(&direct, None).unwrap();
    assert_eq!((plan.host_id.as_str(), plan.host_set_id.as_str()), ("", ""));
    let got = (plan.endpoint.as_str(), plan.endpoint_port);
    assert_eq!(got, ("tcp://example.internal:8080", 8080));
    let got = (plan.connection_limit, plan.default_client_port);
    assert_eq!(got, (1, 18080));
    let got = outcome(d.plan_session(&direct, Some(HOST)));
    assert_eq!(got, "invalid host_id");

    let empty = d.create_target(tcp("empty", 22)).unwrap().id;
    let got = outcome(d.plan_session(&empty, None));
    assert_eq!(got, "invalid host_source_ids");
}

#[test]
fn deletes_cascade() {
    let d = dev();
    // A deleted host set is no longer a host source.
    d.delete_host_set(SET).unwrap();
    assert!(d.target(TARGET).unwrap().host_source_ids.is_empty());
    assert!(d.host(HOST).unwrap().host_set_ids.is_empty());
    let got = outcome(d.plan_session(TARGET, None));
    assert_eq!(got, "invalid host_source_ids");

    // Deleting the org takes the project and everything in it.
    let d = dev();
    d.delete_scope("o_1234567890").unwrap();
    assert_eq!(outcome(d.scope(PROJECT)), "not found scope");
    assert_eq!(outcome(d.target(TARGET)), "not found target");
    assert_eq!(outcome(d.host_catalog(CATALOG)), "not found host catalog");
    assert_eq!(outcome(d.host_set(SET)), "not found host set");
    assert_eq!(outcome(d.host(HOST)), "not found host");
    assert_eq!(d.scope_tree("global", true).unwrap(), ["global"]);
    // Users in global stay; deleting their auth method revokes its tokens and accounts.
    let token = d.authenticate(METHOD, "admin", "password").unwrap();
    d.delete_auth_method(METHOD).unwrap();
    assert_eq!(outcome(d.principal(&token.token)), INVALID_TOKEN);
    assert!(d.user("u_1234567890").unwrap().account_ids.is_empty());
}

const T0: &str = "2024-05-01T12:00:00Z";

fn project_info() -> Value {
    json!({"id": "p_1234567890", "type": "project", "name": "Generated project scope",
           "description": "Provides an initial project scope in Boundary", "parent_scope_id": "o_1234567890"})
}

fn global_info() -> Value {
    json!({"id": "global", "type": "global", "name": "global", "description": "Global Scope"})
}

#[test]
fn json_of_each_kind() {
    let d = dev();
    assert_eq!(
        to_json(d.scope("p_1234567890").unwrap()),
        json!({"id": "p_1234567890", "scope_id": "o_1234567890",
               "scope": {"id": "o_1234567890", "type": "org", "name": "Generated org scope",
                         "description": "Provides an initial org scope in Boundary", "parent_scope_id": "global"},
               "name": "Generated project scope", "description": "Provides an initial project scope in Boundary",
               "created_time": T0, "updated_time": T0, "version": 1, "type": "project"})
    );
    assert_eq!(
        to_json(d.scope("global").unwrap()),
        json!({"id": "global", "scope": global_info(), "name": "global", "description": "Global Scope",
               "created_time": T0, "updated_time": T0, "version": 1, "type": "global",
               "primary_auth_method_id": "ampw_1234567890"})
    );
    assert_eq!(
        to_json(d.auth_method("ampw_1234567890").unwrap()),
        json!({"id": "ampw_1234567890", "scope_id": "global", "scope": global_info(),
               "name": "Generated global scope initial password auth method",
               "description": "Provides initial administrative and unprivileged authentication into Boundary",
               "created_time": T0, "updated_time": T0, "version": 1, "type": "password", "is_primary": true})
    );
    assert_eq!(
        to_json(d.user("u_1234567890").unwrap()),
        json!({"id": "u_1234567890", "scope_id": "global", "scope": global_info(), "name": "admin",
               "description": "Initial admin user within the \"global\" scope", "login_name": "admin",
               "primary_account_id": "acctpw_1234567890", "account_ids": ["acctpw_1234567890"],
               "created_time": T0, "updated_time": T0, "version": 2})
    );
    assert_eq!(
        to_json(d.account("acctpw_1234567890").unwrap()),
        json!({"id": "acctpw_1234567890", "auth_method_id": "ampw_1234567890", "scope": global_info(),
               "type": "password", "attributes": {"login_name": "admin"},
               "created_time": T0, "updated_time": T0, "version": 1})
    );
    assert_eq!(
        to_json(d.host_catalog("hcst_1234567890").unwrap()),
        json!({"id": "hcst_1234567890", "scope_id": "p_1234567890", "scope": project_info(),
               "name": "Generated host catalog", "description": "Provides an initial host catalog in Boundary",
               "type": "static", "created_time": T0, "updated_time": T0, "version": 1})
    );
    assert_eq!(
        to_json(d.host_set("hsst_1234567890").unwrap()),
        json!({"id": "hsst_1234567890", "host_catalog_id": "hcst_1234567890", "scope": project_info(),
               "name": "Generated host set", "description": "Provides an initial host set in Boundary",
               "type": "static", "host_ids": ["hst_1234567890"], "created_time": T0, "updated_time": T0, "version": 2})
    );
    assert_eq!(
        to_json(d.host("hst_1234567890").unwrap()),
        json!({"id": "hst_1234567890", "host_catalog_id": "hcst_1234567890", "scope": project_info(),
               "name": "Generated host", "description": "Provides an initial host in Boundary", "type": "static",
               "attributes": {"address": "127.0.0.1"}, "host_set_ids": ["hsst_1234567890"],
               "created_time": T0, "updated_time": T0, "version": 1})
    );
    assert_eq!(
        to_json(d.target("ttcp_1234567890").unwrap()),
        json!({"id": "ttcp_1234567890", "scope_id": "p_1234567890", "scope": project_info(),
               "name": "Generated target", "description": "Provides an initial target in Boundary", "type": "tcp",
               "attributes": {"default_port": 22}, "host_source_ids": ["hsst_1234567890"],
               "session_max_seconds": 28800, "session_connection_limit": -1,
               "created_time": T0, "updated_time": T0, "version": 2})
    );

    let mut token = d.authenticate(METHOD, "admin", "password").unwrap();
    let secret = token.token.clone();
    token.authorized_actions = vec!["read:self".into(), "delete:self".into()];
    let mut value = to_json(&token);
    assert_eq!(value["token"], json!(secret));
    value["id"] = json!("at_x");
    value["token"] = json!("at_x_secret");
    assert_eq!(
        value,
        json!({"id": "at_x", "scope_id": "global", "scope": global_info(), "token": "at_x_secret",
               "user_id": "u_1234567890", "auth_method_id": "ampw_1234567890", "account_id": "acctpw_1234567890",
               "created_time": T0, "updated_time": T0, "approximate_last_used_time": T0,
               "expiration_time": "2024-05-08T12:00:00Z", "authorized_actions": ["read:self", "delete:self"]})
    );
}

#[test]
fn directory_is_shared_behind_a_trait_object() {
    let d: Arc<dyn Directory> = Arc::new(dev());
    let token = d.authenticate(METHOD, "user", "password").unwrap().token;
    let user = std::thread::spawn(move || d.principal(&token).unwrap().user_id);
    assert_eq!(user.join().unwrap(), "u_0987654321");
}
