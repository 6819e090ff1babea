//! Grant parsing against Boundary's own examples (docs/boundary-grants.md 1.2-1.4): what
//! parses and to which canonical form; stored grants; templates. Refusals: refusals.rs.

use postern_grants::{Grant, GrantError, ResourceType};
use serde_json::json;

#[track_caller]
fn canonical(input: &str) -> String {
    match Grant::parse(input) {
        Ok(g) => g.canonical(),
        Err(e) => panic!("{input:?} refused: {e}"),
    }
}

#[track_caller]
fn refused(input: &str) -> GrantError {
    match Grant::parse(input) {
        Ok(g) => panic!("{input:?} parsed as {:?}", g.canonical()),
        Err(e) => e,
    }
}

#[test]
fn boundarys_valid_grants_and_their_canonical_forms() {
    let cases = [
        ("ids=*;type=*;actions=*", "ids=*;type=*;actions=*"),
        (
            "ids=*;type=*;actions=read,list",
            "ids=*;type=*;actions=list,read",
        ),
        (
            "id=*;type=*;actions=read,list",
            "id=*;type=*;actions=list,read",
        ),
        (
            "id=*;type=*;actions=read,list;output_fields=",
            "id=*;type=*;actions=list,read;output_fields=",
        ),
        (
            r#"{"id": "*", "type": "*", "actions": ["read", "list"], "output_fields": []}"#,
            "id=*;type=*;actions=list,read;output_fields=",
        ),
        (
            "type=host-catalog;actions=create",
            "type=host-catalog;actions=create",
        ),
        (
            r#"{"type":"host-catalog","actions":["create"]}"#,
            "type=host-catalog;actions=create",
        ),
        (
            r#"{"id":"u_foobar","actions":["read"]}"#,
            "id=u_foobar;actions=read",
        ),
        (
            r#"{"ids":["hcst_foobar","hcst_foobaz"],"actions":["read"]}"#,
            "ids=hcst_foobar,hcst_foobaz;actions=read",
        ),
        (
            "ids=hcst_foobar,hcst_foobaz;actions=read;output_fields=version,ids,name",
            "ids=hcst_foobar,hcst_foobaz;actions=read;output_fields=ids,name,version",
        ),
        (
            r#"{"id":"u_foobar","output_fields":["version","id","name"]}"#,
            "id=u_foobar;output_fields=id,name,version",
        ),
        (
            "id={{    user.id}};actions=read,update",
            "id={{    user.id}};actions=read,update",
        ),
        (
            "ids={{    user.id}},{{    account.id}};actions=read,update",
            "ids={{    user.id}},{{    account.id}};actions=read,update",
        ),
        (
            "ids=ampw_bop;actions=read:self,update",
            "ids=ampw_bop;actions=read:self,update",
        ),
        (
            "ids=*;type=host-set;actions=list,create",
            "ids=*;type=host-set;actions=create,list",
        ),
        (
            "ids=hcst_mypin;type=host;actions=*;output_fields=name,description",
            "ids=hcst_mypin;type=host;actions=*;output_fields=description,name",
        ),
        (
            "ids=*;type=*;actions=authenticate",
            "ids=*;type=*;actions=authenticate",
        ),
        (
            "ids=*;type=*;output_fields=id",
            "ids=*;type=*;output_fields=id",
        ),
        (
            "type=worker;actions=create:worker-led",
            "type=worker;actions=create:worker-led",
        ),
        ("type=target;actions=list", "type=target;actions=list"),
        (
            "ids={{.User.Id}};type=user;actions=list-resolvable-aliases",
            "ids={{.User.Id}};type=user;actions=list-resolvable-aliases",
        ),
        (
            "ids=u_1;type=user;actions=read",
            "ids=u_1;type=user;actions=read",
        ),
        // The default roles' grants (docs 5.1).
        (
            "ids=*;type=scope;actions=list,no-op",
            "ids=*;type=scope;actions=list,no-op",
        ),
        (
            "ids=*;type=auth-method;actions=list,authenticate",
            "ids=*;type=auth-method;actions=authenticate,list",
        ),
        (
            "ids=*;type=auth-token;actions=read:self,delete:self",
            "ids=*;type=auth-token;actions=delete:self,read:self",
        ),
        (
            "ids={{.Account.Id}};actions=read,change-password",
            "ids={{.Account.Id}};actions=change-password,read",
        ),
        (
            "ids=*;type=session;actions=list,read:self,cancel:self",
            "ids=*;type=session;actions=cancel:self,list,read:self",
        ),
        (
            "ids=*;type=target;actions=list,read,authorize-session",
            "ids=*;type=target;actions=authorize-session,list,read",
        ),
        // Case: type and actions are lower-cased in the text form; ids are not.
        (
            "ids=*;type=TARGET;actions=READ",
            "ids=*;type=target;actions=read",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(canonical(input), want, "{input}");
    }
}

#[test]
fn canonical_and_json_forms() {
    // Boundary's Test_MarshalingAndCloning example; `baz` has no known prefix, so only a
    // stored grant can hold it.
    let g =
        Grant::parse_stored("output_fields=version,name,id;actions=read,create;id=baz;type=group")
            .unwrap();
    assert_eq!(
        g.canonical(),
        "id=baz;type=group;actions=create,read;output_fields=id,name,version"
    );
    assert_eq!(
        g.json(),
        json!({"id": "baz", "type": "group", "actions": ["create", "read"]})
    );
    assert!(g.uses_id_field());
    assert_eq!(
        g.raw(),
        "output_fields=version,name,id;actions=read,create;id=baz;type=group"
    );
    assert_eq!(g.output_fields(), Some(vec!["id", "name", "version"]));

    let g = Grant::parse("ids=hcst_a,hcst_b;actions=read,update").unwrap();
    // An untyped grant shows type "unknown", as Boundary's role JSON does.
    assert_eq!(
        g.json(),
        json!({"ids": ["hcst_a", "hcst_b"], "type": "unknown", "actions": ["read", "update"]})
    );
    assert!(!g.uses_id_field());
    assert_eq!(g.ids(), ["hcst_a", "hcst_b"]);
    assert_eq!(g.kind(), ResourceType::Unknown);
    assert_eq!(g.to_string(), g.canonical());

    let g = Grant::parse("ids=*;type=*;output_fields=id").unwrap();
    assert_eq!(g.json(), json!({"ids": ["*"], "type": "*"}));

    // `*` among output fields stands for all of them.
    assert_eq!(
        canonical("ids=*;type=*;actions=read;output_fields=name,*,id"),
        "ids=*;type=*;actions=read;output_fields=*"
    );
    assert_eq!(
        canonical("ids=*;type=*;actions=read;output_fields=*;output_fields=id"),
        "ids=*;type=*;actions=read;output_fields=*"
    );
}

#[test]
fn duplicate_keys_and_unknown_keys() {
    // A later id/ids/type/actions overwrites; output fields accumulate; actions are a set;
    // ids are kept as given; unknown keys (case-sensitive) are ignored.
    assert_eq!(
        canonical("ids=u_1;ids=u_2;actions=read"),
        "ids=u_2;actions=read"
    );
    assert_eq!(
        canonical("actions=read;ids=u_1;actions=update"),
        "ids=u_1;actions=update"
    );
    assert_eq!(
        canonical("ids=*;type=user;type=target;actions=read"),
        "ids=*;type=target;actions=read"
    );
    assert_eq!(
        canonical("ids=u_1;actions=read;output_fields=b;output_fields=a"),
        "ids=u_1;actions=read;output_fields=a,b"
    );
    assert_eq!(
        canonical("ids=u_1;actions=read,READ,read"),
        "ids=u_1;actions=read"
    );
    assert_eq!(
        canonical("ids=u_1,u_1;actions=read"),
        "ids=u_1,u_1;actions=read"
    );
    assert_eq!(
        canonical("ids=u_1;actions=read;tpye=target;IDS=x"),
        "ids=u_1;actions=read"
    );
    assert_eq!(
        canonical(r#"{"ids":["u_1"],"ids":["u_2"],"actions":["read"],"x":1}"#),
        "ids=u_2;actions=read"
    );
    // A leading space sends `{` to the text parser, and ` ids` is an unknown key.
    assert_eq!(
        refused(" ids=*;type=*;actions=*").message,
        r#"parsed grant string "type=*;actions=*" contains wildcard type with no id value"#
    );
}

#[test]
fn deprecated_actions_are_reported() {
    let g = Grant::parse("ids=*;type=target;actions=add-host-sets,read").unwrap();
    assert_eq!(
        g.deprecated_actions(),
        [("add-host-sets", "add-host-sources")]
    );
    assert!(Grant::parse("ids=*;type=target;actions=read")
        .unwrap()
        .deprecated_actions()
        .is_empty());
}

#[test]
fn stored_grants_skip_only_the_final_validation() {
    // Final validation refuses these; a stored grant is taken as it is.
    for input in [
        "ids=*;actions=read",
        "type=host-set;actions=create",
        "actions=create",
        "id=foobar;actions=read",
    ] {
        assert!(Grant::parse(input).is_err(), "{input}");
        assert!(Grant::parse_stored(input).is_ok(), "{input}");
    }
    // Everything before it still applies.
    for input in [
        "",
        "ids=,",
        "ids=u_1;actions=raed",
        "ids={{bogus}};actions=read",
        "ids=u_1,g_1;actions=read",
        "ids=*;type=controller;actions=read",
    ] {
        assert!(Grant::parse_stored(input).is_err(), "{input}");
    }
}

#[test]
fn templates_are_kept_as_written() {
    let g = Grant::parse("ids={{ .User.Id }},{{account.id}};actions=read").unwrap();
    assert_eq!(g.ids(), ["{{ .User.Id }}", "{{account.id}}"]);
    // A missing closing brace still names the template, as in Boundary.
    assert!(Grant::parse("ids={{user.id;actions=read").is_ok());
    assert_eq!(
        refused("ids={{user.name}};actions=read").message,
        r#"unknown template "{{user.name}}" in grant "ids" value"#
    );
}
