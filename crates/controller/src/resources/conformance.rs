//! The rules every [`ResourceStore`] keeps, as one suite any store runs against itself: the
//! dev seed, logging in and bearer tokens, CRUD with version checks for every kind,
//! membership actions, cascading deletes, session plans, and the JSON each kind serialises
//! to. Each case is a public async function over an [`Open`] (how to make a store holding
//! `postern dev`'s seed); [`resource_store_conformance!`](crate::resource_store_conformance)
//! makes one test of each for a store:
//!
//! ```ignore
//! postern_controller::resource_store_conformance!(MemoryOpen);
//! ```
//!
//! Built with the `conformance` feature (the crate's own tests turn it on).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed case
#![allow(missing_docs)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use postern_api::ConnectionLimit;
use serde::Serialize;
use serde_json::{json, Value};

use super::*;
use postern_authority::{Clock, ManualClock};

/// How a suite gets a store to test: holding `postern dev`'s resources under Boundary's
/// well-known ids, made from `seed`, reading the time from `clock`.
#[async_trait::async_trait]
pub trait Open: Sync {
    async fn open(
        &self,
        seed: &DevSeed,
        clock: Clock,
    ) -> Result<Arc<dyn ResourceStore>, ResourceError>;
}

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

/// A clock tests move by hand, at [`start`].
fn hand_clock() -> ManualClock {
    ManualClock::starting_at(start())
}

async fn dev(o: &dyn Open) -> Arc<dyn ResourceStore> {
    o.open(&DevSeed::default(), hand_clock().clock())
        .await
        .unwrap()
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

fn new_scope(parent_id: &str, name: &str, description: &str) -> NewScope {
    NewScope {
        scope_id: parent_id.into(),
        name: name.into(),
        description: description.into(),
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

pub async fn dev_seed_has_boundarys_ids(o: &dyn Open) {
    let d = dev(o).await;
    assert_eq!(
        ids(d.list_as::<Scope>("global", true).await),
        ["o_1234567890", PROJECT]
    );
    assert_eq!(
        ids(d.list_as::<Scope>("global", false).await),
        ["o_1234567890"]
    );
    assert_eq!(
        d.scope_tree("global", true).await.unwrap(),
        ["global", "o_1234567890", PROJECT]
    );
    assert_eq!(
        d.scope_tree("o_1234567890", false).await.unwrap(),
        ["o_1234567890"]
    );
    assert_eq!(ids(d.list_as::<AuthMethod>("global", true).await), [METHOD]);
    assert_eq!(
        ids(d.list_as::<User>("global", false).await),
        ["u_0987654321", "u_1234567890"]
    );
    let accounts = ids(d.list_as::<Account>(METHOD, false).await);
    assert_eq!(accounts, ["acctpw_0987654321", "acctpw_1234567890"]);
    assert_eq!(
        d.get_as::<User>("u_0987654321").await.unwrap().login_name,
        "user"
    );
    assert_eq!(
        ids(d.list_as::<HostCatalog>("global", true).await),
        [CATALOG]
    );
    assert_eq!(ids(d.list_as::<Host>(CATALOG, false).await), [HOST]);
    assert_eq!(ids(d.list_as::<HostSet>(CATALOG, false).await), [SET]);
    assert_eq!(ids(d.list_as::<Target>("global", true).await), [TARGET]);
    assert!(d
        .list_as::<Target>("global", false)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(DEV_TARGET_ID, TARGET);
}

pub async fn dev_seed_takes_its_flags_and_checks_them(o: &dyn Open) {
    let seed = DevSeed {
        login_name: "root".into(),
        password: "hunter2hunter2".into(),
        host_address: "10.0.0.5".into(),
        target_default_port: 2222,
        target_session_connection_limit: ConnectionLimit::new(3).unwrap(),
        target_session_max_seconds: 60,
        ..DevSeed::default()
    };
    assert!(!format!("{seed:?}").contains("hunter2"));
    let d = o.open(&seed, hand_clock().clock()).await.unwrap();
    let got = outcome(d.authenticate(METHOD, "root", "hunter2hunter2").await);
    assert_eq!(got, "ok");
    let plan = d.plan_session(TARGET, None).await.unwrap();
    assert_eq!(plan.endpoint, "tcp://10.0.0.5:2222");
    let got = (plan.connection_limit, plan.max_duration);
    assert_eq!(got, (3, Duration::from_secs(60)));

    let bad_address = DevSeed {
        host_address: "tcp://10.0.0.5".into(),
        ..DevSeed::default()
    };
    let got = outcome(o.open(&bad_address, hand_clock().clock()).await);
    assert_eq!(got, "invalid attributes.address");
    let same_login = DevSeed {
        login_name: "user".into(),
        ..DevSeed::default()
    };
    assert_eq!(
        outcome(o.open(&same_login, hand_clock().clock()).await),
        "conflict"
    );
    let short = DevSeed {
        password: "short".into(),
        ..DevSeed::default()
    };
    let got = outcome(o.open(&short, hand_clock().clock()).await);
    assert_eq!(got, "invalid attributes.password");
}

pub async fn authenticate_issues_a_token_that_resolves_to_the_user(o: &dyn Open) {
    let d = dev(o).await;
    let token = d.authenticate(METHOD, "admin", "password").await.unwrap();
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

    let principal = d.principal(&token.token).await.unwrap();
    let got = (principal.user_id.as_str(), principal.auth_token_id.as_str());
    assert_eq!(got, ("u_1234567890", token.id.as_str()));
    assert_eq!(principal.account_id, "acctpw_1234567890");
    assert!(
        may_delete_dev_target(&principal),
        "the admin holds every grant"
    );
    let unprivileged = d.authenticate(METHOD, "user", "password").await.unwrap();
    let principal = d.principal(&unprivileged.token).await.unwrap();
    assert_eq!(principal.user_id, "u_0987654321");
    assert!(!may_delete_dev_target(&principal));
    let anonymous = d.anonymous().await.unwrap();
    assert!(anonymous.is_anonymous() && !may_delete_dev_target(&anonymous));

    d.logout(&token.id).await.unwrap();
    assert_eq!(outcome(d.principal(&token.token).await), INVALID_TOKEN);
    assert_eq!(outcome(d.logout(&token.id).await), "not found auth token");
}

pub async fn failed_logins_all_say_authentication_failed(o: &dyn Open) {
    let d = dev(o).await;
    let failed = "unauthenticated: authentication failed";
    let got = outcome(d.authenticate(METHOD, "admin", "passwordx").await);
    assert_eq!(got, failed);
    assert_eq!(outcome(d.authenticate(METHOD, "admin", "").await), failed);
    let got = outcome(d.authenticate(METHOD, "nobody", "password").await);
    assert_eq!(got, failed);
    let got = outcome(d.authenticate("ampw_0000000000", "admin", "password").await);
    assert_eq!(got, "not found auth method");
}

pub async fn bad_tokens_are_unauthenticated(o: &dyn Open) {
    let d = dev(o).await;
    let token = d
        .authenticate(METHOD, "admin", "password")
        .await
        .unwrap()
        .token;
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
        assert_eq!(
            outcome(d.principal(garbage).await),
            malformed,
            "{garbage:?}"
        );
    }
    // The same id with one secret character changed (within base58), and an unknown id.
    let mut tampered = token.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'2' { b'3' } else { b'2' };
    let tampered = String::from_utf8(tampered).unwrap();
    let invalid = INVALID_TOKEN;
    assert_eq!(outcome(d.principal(&tampered).await), invalid);
    let got = outcome(d.principal(&format!("at_0000000000{}", &token[13..])).await);
    assert_eq!(got, invalid);
    assert_eq!(outcome(d.principal(&token).await), "ok");
}

pub async fn tokens_expire_after_seven_days(o: &dyn Open) {
    let now = hand_clock();
    let d = o.open(&DevSeed::default(), now.clock()).await.unwrap();
    let token = d
        .authenticate(METHOD, "admin", "password")
        .await
        .unwrap()
        .token;
    now.set(start() + Duration::from_secs(7 * 24 * 3600 - 1));
    assert_eq!(outcome(d.principal(&token).await), "ok");
    now.set(start() + Duration::from_secs(7 * 24 * 3600));
    let got = outcome(d.principal(&token).await);
    assert_eq!(got, "unauthenticated: auth token expired");
}

pub async fn a_new_account_logs_in_as_a_new_unprivileged_user(o: &dyn Open) {
    let d = dev(o).await;
    let short = d
        .create_as::<Account>(account(METHOD, "jo", "1234567"))
        .await;
    assert_eq!(outcome(short), "invalid attributes.password");
    let jo = d
        .create_as::<Account>(account(METHOD, "jo", "12345678"))
        .await
        .unwrap();
    assert_eq!((jo.kind.as_str(), jo.version), ("password", 1));
    let got = outcome(
        d.create_as::<Account>(account(METHOD, "jo", "abcdefgh"))
            .await,
    );
    assert_eq!(got, "conflict");

    let token = d.authenticate(METHOD, "jo", "12345678").await.unwrap();
    let user = d.get_as::<User>(&token.user_id).await.unwrap();
    assert!(user.id.starts_with("u_"));
    let got = (user.account_ids.clone(), user.login_name.as_str());
    assert_eq!(got, (vec![jo.id], "jo"));
    assert!(!may_delete_dev_target(
        &d.principal(&token.token).await.unwrap()
    ));
}

/// Whether the caller's grants let them delete the dev target (only the admin's do).
pub fn may_delete_dev_target(principal: &Principal) -> bool {
    let target = postern_grants::Resource {
        id: "ttcp_1234567890",
        kind: postern_grants::ResourceType::Target,
        scope_id: "p_1234567890",
        parent_scope_id: "o_1234567890",
        pin: "",
    };
    principal.acl.allowed(&target, "delete")
}

pub async fn scopes_crud_with_versions(o: &dyn Open) {
    let d = dev(o).await;
    let org = d
        .create_as::<Scope>(new_scope("global", "Eng", "engineering"))
        .await
        .unwrap();
    assert!(org.id.starts_with("o_") && org.id.len() == 12, "{}", org.id);
    let got = (org.scope_type.as_str(), org.version, org.scope.id.as_str());
    assert_eq!(got, ("org", 1, "global"));
    let project = d
        .create_as::<Scope>(new_scope(&org.id, "Web", ""))
        .await
        .unwrap();
    assert!(project.id.starts_with("p_"));
    let got = (project.scope_type.as_str(), project.scope.name.as_str());
    assert_eq!(got, ("project", "Eng"));
    let got = outcome(
        d.create_as::<Scope>(new_scope(&project.id, "Deeper", ""))
            .await,
    );
    assert_eq!(got, "invalid scope_id");
    assert_eq!(
        outcome(d.create_as::<Scope>(new_scope("global", "Eng", "")).await),
        "conflict"
    );
    let got = outcome(d.create_as::<Scope>(new_scope("o_nope", "x", "")).await);
    assert_eq!(got, "not found scope");

    let name = Some("Engineering".to_owned());
    let renamed = d
        .update_as::<Scope>(
            &org.id,
            1,
            ScopePatch {
                name,
                description: None,
            },
        )
        .await
        .unwrap();
    let got = (renamed.name.as_str(), renamed.description.as_str());
    assert_eq!(got, ("Engineering", "engineering"));
    assert_eq!(renamed.version, 2);
    let got = outcome(
        d.update_as::<Scope>(
            &org.id,
            1,
            ScopePatch {
                name: None,
                description: Some("x".into()),
            },
        )
        .await,
    );
    assert_eq!(got, stale(&org.id, 1, 2));
    assert_eq!(
        d.get_as::<Scope>(&project.id).await.unwrap().scope.name,
        "Engineering"
    );
    let taken = Some("Generated org scope".to_owned());
    assert_eq!(
        outcome(
            d.update_as::<Scope>(
                &org.id,
                2,
                ScopePatch {
                    name: taken,
                    description: None
                }
            )
            .await
        ),
        "conflict"
    );

    assert_eq!(outcome(d.delete_as::<Scope>("global").await), "invalid id");
    d.delete_as::<Scope>(&org.id).await.unwrap();
    assert_eq!(
        outcome(d.get_as::<Scope>(&project.id).await),
        "not found scope"
    );
    assert_eq!(
        outcome(d.delete_as::<Scope>(&org.id).await),
        "not found scope"
    );
}

pub async fn auth_methods_crud(o: &dyn Open) {
    let d = dev(o).await;
    let org = d
        .create_as::<Scope>(new_scope("global", "Eng", ""))
        .await
        .unwrap();
    let got = outcome(d.create_as::<AuthMethod>(auth_method(PROJECT, "")).await);
    assert_eq!(got, "invalid scope_id");
    let method = d
        .create_as::<AuthMethod>(auth_method(&org.id, "pw"))
        .await
        .unwrap();
    assert!(method.id.starts_with("ampw_") && method.is_primary);
    assert_eq!(
        d.get_as::<Scope>(&org.id)
            .await
            .unwrap()
            .primary_auth_method_id,
        method.id
    );
    let second = d
        .create_as::<AuthMethod>(auth_method(&org.id, "pw2"))
        .await
        .unwrap();
    assert!(!second.is_primary);
    let got = outcome(d.create_as::<AuthMethod>(auth_method(&org.id, "pw")).await);
    assert_eq!(got, "conflict");
    let patch = AuthMethodPatch {
        description: Some("d".into()),
        ..Default::default()
    };
    let method = d
        .update_as::<AuthMethod>(&method.id, 1, patch)
        .await
        .unwrap();
    assert_eq!((method.description.as_str(), method.version), ("d", 2));
    let again = d
        .update_as::<AuthMethod>(&method.id, 1, AuthMethodPatch::default())
        .await;
    assert_eq!(outcome(again), stale(&method.id, 1, 2));
    assert_eq!(
        d.list_as::<AuthMethod>("global", true).await.unwrap().len(),
        3
    );
    assert_eq!(
        d.list_as::<AuthMethod>(&org.id, false).await.unwrap().len(),
        2
    );
    d.delete_as::<AuthMethod>(&method.id).await.unwrap();
    assert_eq!(
        outcome(d.get_as::<AuthMethod>(&method.id).await),
        "not found auth method"
    );
}

pub async fn users_and_accounts_crud(o: &dyn Open) {
    let d = dev(o).await;
    let org = d
        .create_as::<Scope>(new_scope("global", "Eng", ""))
        .await
        .unwrap();
    let method = d
        .create_as::<AuthMethod>(auth_method(&org.id, "pw"))
        .await
        .unwrap()
        .id;
    let pw = "password1";
    let alice = d
        .create_as::<Account>(account(&method, "alice", pw))
        .await
        .unwrap();
    assert!(alice.id.starts_with("acctpw_"));
    assert_eq!(alice.scope.id, org.id);
    let bob = d
        .create_as::<Account>(account(&method, "bob", pw))
        .await
        .unwrap();
    let spaced = d.create_as::<Account>(account(&method, "a b", pw)).await;
    assert_eq!(outcome(spaced), "invalid attributes.login_name");
    let login = |name: &str| AccountPatch {
        login_name: Some(name.into()),
        ..Default::default()
    };
    let got = outcome(d.update_as::<Account>(&alice.id, 1, login("bob")).await);
    assert_eq!(got, "conflict");
    let alice = d
        .update_as::<Account>(&alice.id, 1, login("alice2"))
        .await
        .unwrap();
    let got = (alice.attributes.login_name.as_str(), alice.version);
    assert_eq!(got, ("alice2", 2));
    let got = outcome(d.update_as::<Account>(&alice.id, 1, login("x")).await);
    assert_eq!(got, stale(&alice.id, 1, 2));
    assert_eq!(d.list_as::<Account>(&method, false).await.unwrap().len(), 2);

    let u = d
        .create_as::<User>(user(&org.id, "Alice"))
        .await
        .unwrap()
        .id;
    assert!(u.starts_with("u_"));
    let got = outcome(d.create_as::<User>(user(PROJECT, "")).await);
    assert_eq!(got, "invalid scope_id");
    assert_eq!(
        outcome(d.create_as::<User>(user(&org.id, "Alice")).await),
        "conflict"
    );
    let set = d
        .change_members_as::<User>(&u, 1, Change::Set, &v(&[&alice.id]))
        .await
        .unwrap();
    assert_eq!((set.version, set.login_name.as_str()), (2, "alice2"));
    let got = outcome(
        d.change_members_as::<User>(&u, 1, Change::Add, &v(&[&bob.id]))
            .await,
    );
    assert_eq!(got, stale(&u, 1, 2));
    let both = v(&[&bob.id, &alice.id]);
    let added = d
        .change_members_as::<User>(&u, 2, Change::Add, &both)
        .await
        .unwrap();
    assert_eq!(added.account_ids, [alice.id.clone(), bob.id.clone()]);
    let removed = d
        .change_members_as::<User>(&u, 3, Change::Remove, &v(&[&alice.id]))
        .await
        .unwrap();
    let got = (removed.account_ids, removed.primary_account_id);
    assert_eq!(got, (v(&[&bob.id]), bob.id.clone()));
    let not_member = d
        .change_members_as::<User>(&u, 4, Change::Remove, &v(&[&alice.id]))
        .await;
    assert_eq!(outcome(not_member), "invalid account_ids");
    // Accounts of another scope's auth method, and accounts of another user, are refused.
    let elsewhere = d
        .change_members_as::<User>(&u, 4, Change::Add, &v(&["acctpw_0987654321"]))
        .await;
    assert_eq!(outcome(elsewhere), "invalid account_ids");
    let got = outcome(
        d.change_members_as::<User>(&u, 4, Change::Add, &v(&["acctpw_nope"]))
            .await,
    );
    assert_eq!(got, "invalid account_ids");
    let other = d.create_as::<User>(user(&org.id, "")).await.unwrap().id;
    let got = outcome(
        d.change_members_as::<User>(&other, 1, Change::Add, &v(&[&bob.id]))
            .await,
    );
    assert_eq!(got, "conflict");
    let patch = UserPatch {
        name: Some("Bob".into()),
        ..Default::default()
    };
    let renamed = d.update_as::<User>(&u, 4, patch).await.unwrap();
    assert_eq!((renamed.name.as_str(), renamed.version), ("Bob", 5));
    assert_eq!(d.list_as::<User>("global", true).await.unwrap().len(), 4);
    assert_eq!(d.list_as::<User>(&org.id, false).await.unwrap().len(), 2);

    // Deleting an account drops it from its user and revokes its tokens.
    let token = d.authenticate(&method, "bob", "password1").await.unwrap();
    assert_eq!(token.user_id, u);
    d.delete_as::<Account>(&bob.id).await.unwrap();
    assert!(d.get_as::<User>(&u).await.unwrap().account_ids.is_empty());
    assert_eq!(outcome(d.principal(&token.token).await), INVALID_TOKEN);
    // Alice's account has no user any more: logging in makes one.
    let token = d.authenticate(&method, "alice2", pw).await.unwrap();
    assert_ne!(token.user_id, u);
    d.delete_as::<User>(&token.user_id).await.unwrap();
    assert_eq!(
        outcome(d.get_as::<User>(&token.user_id).await),
        "not found user"
    );
    // Deleting a user revokes its tokens; its accounts stay, unassociated.
    assert_eq!(outcome(d.principal(&token.token).await), INVALID_TOKEN);
    assert_eq!(outcome(d.get_as::<Account>(&alice.id).await), "ok");
    // Deleting the auth method takes its accounts.
    d.delete_as::<AuthMethod>(&method).await.unwrap();
    assert_eq!(
        outcome(d.get_as::<Account>(&alice.id).await),
        "not found account"
    );
}

pub async fn host_catalogs_hosts_and_host_sets_crud(o: &dyn Open) {
    let d = dev(o).await;
    let got = outcome(d.create_as::<HostCatalog>(catalog("o_1234567890")).await);
    assert_eq!(got, "invalid scope_id");
    let created = d.create_as::<HostCatalog>(catalog(PROJECT)).await.unwrap();
    assert!(created.id.starts_with("hcst_"));
    let got = (created.kind.as_str(), created.scope.id.as_str());
    assert_eq!(got, ("static", PROJECT));
    let c = created.id;
    let patch = HostCatalogPatch {
        name: Some("c2".into()),
        ..Default::default()
    };
    let renamed = d.update_as::<HostCatalog>(&c, 1, patch).await.unwrap();
    assert_eq!((renamed.name.as_str(), renamed.version), ("c2", 2));
    let got = outcome(d.update_as::<HostCatalog>(&c, 1, Default::default()).await);
    assert_eq!(got, stale(&c, 1, 2));
    let taken = HostCatalogPatch {
        name: Some("Generated host catalog".into()),
        ..Default::default()
    };
    assert_eq!(
        outcome(d.update_as::<HostCatalog>(&c, 2, taken).await),
        "conflict"
    );

    for bad in ["", "10.0.0.1:22", "ssh://10.0.0.1", "[::1]"] {
        let refused = outcome(d.create_as::<Host>(host(&c, "h", bad)).await);
        assert_eq!(refused, "invalid attributes.address", "{bad:?}");
    }
    let web = d
        .create_as::<Host>(host(&c, "web", "10.0.0.1"))
        .await
        .unwrap()
        .id;
    assert!(web.starts_with("hst_"));
    let got = outcome(d.create_as::<Host>(host(&c, "web", "10.0.0.2")).await);
    assert_eq!(got, "conflict");
    let db = d.create_as::<Host>(host(&c, "db", "::1")).await.unwrap().id;
    let address = |a: &str| HostPatch {
        address: Some(a.into()),
        ..Default::default()
    };
    let moved = d
        .update_as::<Host>(&web, 1, address("web.internal"))
        .await
        .unwrap();
    let got = (moved.attributes.address.as_str(), moved.version);
    assert_eq!(got, ("web.internal", 2));
    let got = outcome(d.update_as::<Host>(&web, 2, address("web:80")).await);
    assert_eq!(got, "invalid attributes.address");
    let got = outcome(d.update_as::<Host>(&web, 1, address("web")).await);
    assert_eq!(got, stale(&web, 1, 2));
    assert_eq!(d.list_as::<Host>(&c, false).await.unwrap().len(), 2);

    let s = d.create_as::<HostSet>(host_set(&c, "s")).await.unwrap();
    assert!(s.id.starts_with("hsst_") && s.host_ids.is_empty());
    let s = s.id;
    let added = d
        .change_members_as::<HostSet>(&s, 1, Change::Add, &v(&[&web, &db, &web]))
        .await
        .unwrap();
    assert_eq!((added.host_ids, added.version), (v(&[&web, &db]), 2));
    assert_eq!(
        d.get_as::<Host>(&db).await.unwrap().host_set_ids,
        std::slice::from_ref(&s)
    );
    assert_eq!(
        outcome(
            d.change_members_as::<HostSet>(&s, 1, Change::Set, &[])
                .await
        ),
        stale(&s, 1, 2)
    );
    let other_catalog = d
        .change_members_as::<HostSet>(&s, 2, Change::Add, &v(&[HOST]))
        .await;
    assert_eq!(outcome(other_catalog), "invalid host_ids");
    let got = outcome(
        d.change_members_as::<HostSet>(&s, 2, Change::Add, &v(&["hst_nope"]))
            .await,
    );
    assert_eq!(got, "invalid host_ids");
    let removed = d
        .change_members_as::<HostSet>(&s, 2, Change::Remove, &v(&[&web]))
        .await
        .unwrap();
    assert_eq!(removed.host_ids, std::slice::from_ref(&db));
    let replaced = d
        .change_members_as::<HostSet>(&s, 3, Change::Set, &v(&[&web]))
        .await
        .unwrap();
    assert_eq!((replaced.host_ids, replaced.version), (v(&[&web]), 4));
    let patch = HostSetPatch {
        description: Some("d".into()),
        ..Default::default()
    };
    assert_eq!(
        d.update_as::<HostSet>(&s, 4, patch).await.unwrap().version,
        5
    );
    assert_eq!(d.list_as::<HostSet>(&c, false).await.unwrap().len(), 1);

    // Deleting a host drops it from its sets; deleting the catalog takes its hosts and sets.
    d.delete_as::<Host>(&web).await.unwrap();
    assert!(d.get_as::<HostSet>(&s).await.unwrap().host_ids.is_empty());
    d.delete_as::<HostCatalog>(&c).await.unwrap();
    assert_eq!(outcome(d.get_as::<Host>(&db).await), "not found host");
    assert_eq!(outcome(d.get_as::<HostSet>(&s).await), "not found host set");
    assert_eq!(
        outcome(d.list_as::<Host>(&c, false).await),
        "not found host catalog"
    );
}

pub async fn targets_are_validated(o: &dyn Open) {
    let d = dev(o).await;
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
        let refused = outcome(d.create_as::<Target>(target.clone()).await);
        assert_eq!(refused, format!("invalid {field}"), "{target:?}");
    }
    let got = outcome(d.create_as::<Target>(tcp("Generated target", 22)).await);
    assert_eq!(got, "conflict");
}

pub async fn targets_crud_with_versions(o: &dyn Open) {
    let d = dev(o).await;
    let target = d.create_as::<Target>(tcp("db", 5432)).await.unwrap();
    assert!(target.id.starts_with("ttcp_"));
    let got = (
        target.session_max_seconds,
        target.session_connection_limit.wire(),
    );
    assert_eq!(got, (28_800, -1));
    assert_eq!((target.version, target.address), (1, None));
    let t = target.id;
    let patch = TargetPatch {
        session_connection_limit: Some(2),
        default_client_port: Some(5433),
        ..Default::default()
    };
    let updated = d.update_as::<Target>(&t, 1, patch).await.unwrap();
    assert_eq!(
        (updated.session_connection_limit.wire(), updated.version),
        (2, 2)
    );
    assert_eq!(updated.attributes.default_client_port, 5433);
    let got = outcome(d.update_as::<Target>(&t, 1, Default::default()).await);
    assert_eq!(got, stale(&t, 1, 2));
    let zero = TargetPatch {
        session_max_seconds: Some(0),
        ..Default::default()
    };
    let got = outcome(d.update_as::<Target>(&t, 2, zero).await);
    assert_eq!(got, "invalid session_max_seconds");
    let version = d.get_as::<Target>(&t).await.unwrap().version;
    assert_eq!(version, 2, "a refused update changes nothing");

    let sources = d
        .change_members_as::<Target>(&t, 2, Change::Add, &v(&[SET]))
        .await
        .unwrap();
    assert_eq!((sources.host_source_ids, sources.version), (v(&[SET]), 3));
    let address = TargetPatch {
        address: Some("db.internal".into()),
        ..Default::default()
    };
    let got = outcome(d.update_as::<Target>(&t, 3, address.clone()).await);
    assert_eq!(got, "invalid address");
    let unknown = d
        .change_members_as::<Target>(&t, 3, Change::Add, &v(&["hsst_nope"]))
        .await;
    assert_eq!(outcome(unknown), "invalid host_source_ids");
    let got = outcome(d.change_members_as::<Target>(&t, 2, Change::Set, &[]).await);
    assert_eq!(got, stale(&t, 2, 3));
    d.change_members_as::<Target>(&t, 3, Change::Remove, &v(&[SET]))
        .await
        .unwrap();
    let direct = d.update_as::<Target>(&t, 4, address).await.unwrap();
    let got = (direct.address.as_deref(), direct.version);
    assert_eq!(got, (Some("db.internal"), 5));
    let both = d
        .change_members_as::<Target>(&t, 5, Change::Set, &v(&[SET]))
        .await;
    assert_eq!(outcome(both), "invalid host_source_ids");
    assert_eq!(d.list_as::<Target>(PROJECT, false).await.unwrap().len(), 2);
    d.delete_as::<Target>(&t).await.unwrap();
    assert_eq!(outcome(d.get_as::<Target>(&t).await), "not found target");
    assert_eq!(outcome(d.delete_as::<Target>(&t).await), "not found target");
}

pub async fn plan_session_for_the_dev_target(o: &dyn Open) {
    let d = dev(o).await;
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
    assert_eq!(d.plan_session(TARGET, None).await.unwrap(), expected);
    assert_eq!(d.plan_session(TARGET, Some(HOST)).await.unwrap(), expected);
    let got = outcome(d.plan_session("ttcp_nope", None).await);
    assert_eq!(got, "not found target");

    // A host of the same catalog that is in none of the target's sets.
    let outsider = d
        .create_as::<Host>(host(CATALOG, "", "10.0.0.9"))
        .await
        .unwrap()
        .id;
    let refused = d.plan_session(TARGET, Some(&outsider)).await;
    assert_eq!(outcome(refused), "invalid host_id");
    let scope = expected.scope;
    let got = (scope.id.as_str(), scope.parent_scope_id.as_str());
    assert_eq!(got, (PROJECT, "o_1234567890"));
}

pub async fn plan_session_picks_among_all_hosts_or_uses_the_address(o: &dyn Open) {
    let d = dev(o).await;
    let second = d
        .create_as::<Host>(host(CATALOG, "", "::1"))
        .await
        .unwrap()
        .id;
    d.change_members_as::<HostSet>(SET, 2, Change::Add, &v(&[&second]))
        .await
        .unwrap();
    let plan = d.plan_session(TARGET, Some(&second)).await.unwrap();
    let got = (plan.endpoint.as_str(), plan.host_set_id.as_str());
    assert_eq!(got, ("tcp://[::1]:22", SET));
    // Both hosts come up: the chance of missing one in 200 picks is 2^-199.
    let mut picked = BTreeSet::new();
    for _ in 0..200 {
        picked.insert(d.plan_session(TARGET, None).await.unwrap().host_id);
    }
    assert_eq!(picked, BTreeSet::from([second, HOST.to_owned()]));

    let direct = NewTarget {
        address: Some("example.internal".into()),
        default_client_port: Some(18080),
        session_connection_limit: Some(1),
        ..tcp("direct", 8080)
    };
    let direct = d.create_as::<Target>(direct).await.unwrap().id;
    let plan = d.plan_session(&direct, None).await.unwrap();
    assert_eq!((plan.host_id.as_str(), plan.host_set_id.as_str()), ("", ""));
    let got = (plan.endpoint.as_str(), plan.endpoint_port);
    assert_eq!(got, ("tcp://example.internal:8080", 8080));
    let got = (plan.connection_limit, plan.default_client_port);
    assert_eq!(got, (1, 18080));
    let got = outcome(d.plan_session(&direct, Some(HOST)).await);
    assert_eq!(got, "invalid host_id");

    let empty = d.create_as::<Target>(tcp("empty", 22)).await.unwrap().id;
    let got = outcome(d.plan_session(&empty, None).await);
    assert_eq!(got, "invalid host_source_ids");
}

pub async fn deletes_cascade(o: &dyn Open) {
    let d = dev(o).await;
    // A deleted host set is no longer a host source.
    d.delete_as::<HostSet>(SET).await.unwrap();
    assert!(d
        .get_as::<Target>(TARGET)
        .await
        .unwrap()
        .host_source_ids
        .is_empty());
    assert!(d
        .get_as::<Host>(HOST)
        .await
        .unwrap()
        .host_set_ids
        .is_empty());
    let got = outcome(d.plan_session(TARGET, None).await);
    assert_eq!(got, "invalid host_source_ids");

    // Deleting the org takes the project and everything in it.
    let d = dev(o).await;
    d.delete_as::<Scope>("o_1234567890").await.unwrap();
    assert_eq!(outcome(d.get_as::<Scope>(PROJECT).await), "not found scope");
    assert_eq!(
        outcome(d.get_as::<Target>(TARGET).await),
        "not found target"
    );
    assert_eq!(
        outcome(d.get_as::<HostCatalog>(CATALOG).await),
        "not found host catalog"
    );
    assert_eq!(
        outcome(d.get_as::<HostSet>(SET).await),
        "not found host set"
    );
    assert_eq!(outcome(d.get_as::<Host>(HOST).await), "not found host");
    assert_eq!(d.scope_tree("global", true).await.unwrap(), ["global"]);
    // Users in global stay; deleting their auth method revokes its tokens and accounts.
    let token = d.authenticate(METHOD, "admin", "password").await.unwrap();
    d.delete_as::<AuthMethod>(METHOD).await.unwrap();
    assert_eq!(outcome(d.principal(&token.token).await), INVALID_TOKEN);
    assert!(d
        .get_as::<User>("u_1234567890")
        .await
        .unwrap()
        .account_ids
        .is_empty());
}

const T0: &str = "2024-05-01T12:00:00Z";

fn project_info() -> Value {
    json!({"id": "p_1234567890", "type": "project", "name": "Generated project scope",
           "description": "Provides an initial project scope in Boundary", "parent_scope_id": "o_1234567890"})
}

fn global_info() -> Value {
    json!({"id": "global", "type": "global", "name": "global", "description": "Global Scope"})
}

pub async fn json_of_each_kind(o: &dyn Open) {
    let d = dev(o).await;
    assert_eq!(
        to_json(d.get_as::<Scope>("p_1234567890").await.unwrap()),
        json!({"id": "p_1234567890", "scope_id": "o_1234567890",
               "scope": {"id": "o_1234567890", "type": "org", "name": "Generated org scope",
                         "description": "Provides an initial org scope in Boundary", "parent_scope_id": "global"},
               "name": "Generated project scope", "description": "Provides an initial project scope in Boundary",
               "created_time": T0, "updated_time": T0, "version": 1, "type": "project"})
    );
    assert_eq!(
        to_json(d.get_as::<Scope>("global").await.unwrap()),
        json!({"id": "global", "scope": global_info(), "name": "global", "description": "Global Scope",
               "created_time": T0, "updated_time": T0, "version": 1, "type": "global",
               "primary_auth_method_id": "ampw_1234567890"})
    );
    assert_eq!(
        to_json(d.get_as::<AuthMethod>("ampw_1234567890").await.unwrap()),
        json!({"id": "ampw_1234567890", "scope_id": "global", "scope": global_info(),
               "name": "Generated global scope initial password auth method",
               "description": "Provides initial administrative and unprivileged authentication into Boundary",
               "created_time": T0, "updated_time": T0, "version": 1, "type": "password", "is_primary": true})
    );
    assert_eq!(
        to_json(d.get_as::<User>("u_1234567890").await.unwrap()),
        json!({"id": "u_1234567890", "scope_id": "global", "scope": global_info(), "name": "admin",
               "description": "Initial admin user within the \"global\" scope", "login_name": "admin",
               "primary_account_id": "acctpw_1234567890", "account_ids": ["acctpw_1234567890"],
               "created_time": T0, "updated_time": T0, "version": 2})
    );
    assert_eq!(
        to_json(d.get_as::<Account>("acctpw_1234567890").await.unwrap()),
        json!({"id": "acctpw_1234567890", "auth_method_id": "ampw_1234567890", "scope": global_info(),
               "type": "password", "attributes": {"login_name": "admin"},
               "created_time": T0, "updated_time": T0, "version": 1})
    );
    assert_eq!(
        to_json(d.get_as::<HostCatalog>("hcst_1234567890").await.unwrap()),
        json!({"id": "hcst_1234567890", "scope_id": "p_1234567890", "scope": project_info(),
               "name": "Generated host catalog", "description": "Provides an initial host catalog in Boundary",
               "type": "static", "created_time": T0, "updated_time": T0, "version": 1})
    );
    assert_eq!(
        to_json(d.get_as::<HostSet>("hsst_1234567890").await.unwrap()),
        json!({"id": "hsst_1234567890", "host_catalog_id": "hcst_1234567890", "scope": project_info(),
               "name": "Generated host set", "description": "Provides an initial host set in Boundary",
               "type": "static", "host_ids": ["hst_1234567890"], "created_time": T0, "updated_time": T0, "version": 2})
    );
    assert_eq!(
        to_json(d.get_as::<Host>("hst_1234567890").await.unwrap()),
        json!({"id": "hst_1234567890", "host_catalog_id": "hcst_1234567890", "scope": project_info(),
               "name": "Generated host", "description": "Provides an initial host in Boundary", "type": "static",
               "attributes": {"address": "127.0.0.1"}, "host_set_ids": ["hsst_1234567890"],
               "created_time": T0, "updated_time": T0, "version": 1})
    );
    assert_eq!(
        to_json(d.get_as::<Target>("ttcp_1234567890").await.unwrap()),
        json!({"id": "ttcp_1234567890", "scope_id": "p_1234567890", "scope": project_info(),
               "name": "Generated target", "description": "Provides an initial target in Boundary", "type": "tcp",
               "attributes": {"default_port": 22}, "host_source_ids": ["hsst_1234567890"],
               "session_max_seconds": 28800, "session_connection_limit": -1,
               "created_time": T0, "updated_time": T0, "version": 2})
    );

    let mut token = d.authenticate(METHOD, "admin", "password").await.unwrap();
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

pub async fn store_is_shared_behind_a_trait_object(o: &dyn Open) {
    let d = dev(o).await;
    let token = d
        .authenticate(METHOD, "user", "password")
        .await
        .unwrap()
        .token;
    let user = tokio::spawn(async move { d.principal(&token).await.unwrap().user_id });
    assert_eq!(user.await.unwrap(), "u_0987654321");
}

/// One test per case of the suite for the store `$open` makes (an expression of a type that
/// implements [`Open`](crate::resources::conformance::Open)).
#[macro_export]
macro_rules! resource_store_conformance {
    ($open:expr) => {
        $crate::resource_store_conformance!(@cases $open; dev_seed_has_boundarys_ids, dev_seed_takes_its_flags_and_checks_them, authenticate_issues_a_token_that_resolves_to_the_user, failed_logins_all_say_authentication_failed, bad_tokens_are_unauthenticated, tokens_expire_after_seven_days, a_new_account_logs_in_as_a_new_unprivileged_user, scopes_crud_with_versions, auth_methods_crud, users_and_accounts_crud, host_catalogs_hosts_and_host_sets_crud, targets_are_validated, targets_crud_with_versions, plan_session_for_the_dev_target, plan_session_picks_among_all_hosts_or_uses_the_address, deletes_cascade, json_of_each_kind, store_is_shared_behind_a_trait_object);
    };
    (@cases $open:expr; $($case:ident),*) => {
        $(
            #[tokio::test]
            async fn $case() {
                $crate::resources::conformance::$case(&$open).await;
            }
        )*
    };
}
