//! Grant refusals against Boundary's own (docs/boundary-grants.md 1.3-1.4): its words, the
//! whole error text its API shows, and where in the grant the fault is.

use postern_grants::{Grant, GrantError, Stage};

#[track_caller]
fn refused(input: &str) -> GrantError {
    match Grant::parse(input) {
        Ok(g) => panic!("{input:?} parsed as {:?}", g.canonical()),
        Err(e) => e,
    }
}

/// (input, message, stage) for every refusal docs 1.3/1.4 lists, and a few more.
const REFUSALS: &[(&str, &str, Stage)] = &[
    ("", "missing grant string", Stage::Parse),
    (
        "{2:193}",
        // Boundary (Go): invalid character '2' looking for beginning of object key string
        "key must be a string",
        Stage::JsonSyntax,
    ),
    (
        "id=foo=bar",
        r#"segment "id=foo=bar" not formatted correctly, wrong number of equal signs"#,
        Stage::Text,
    ),
    (
        "ids=s_foobar;type=barfoo;actions=read",
        r#"unknown type specifier "barfoo""#,
        Stage::Text,
    ),
    (
        "ids=hcst_foobar;type=host-catalog;actions=createread",
        r#"unknown action "createread""#,
        Stage::Actions,
    ),
    (
        "id=foobar;actions=read",
        r#"parsed grant string "id=foobar;actions=read" contains an id "foobar" of an unknown resource type"#,
        Stage::Parse,
    ),
    (
        "ids=foobar,hcst_foobar;actions=read",
        r#"input grant string "ids=foobar,hcst_foobar;actions=read" contains ids of differently-typed resources"#,
        Stage::Parse,
    ),
    (
        "ids=hcst_foobar,foobar;actions=read",
        r#"input grant string "ids=hcst_foobar,foobar;actions=read" contains ids of differently-typed resources"#,
        Stage::Parse,
    ),
    (
        "ids=u_foobar;actions=create",
        r#"parsed grant string "ids=u_foobar;actions=create" contains create or list action in a format that does not allow these"#,
        Stage::Parse,
    ),
    (
        "ids=u_foobar;actions=read,create",
        r#"parsed grant string "ids=u_foobar;actions=create,read" contains create or list action in a format that does not allow these"#,
        Stage::Parse,
    ),
    (
        "id=u_foobar;actions=list",
        r#"parsed grant string "id=u_foobar;actions=list" contains create or list action in a format that does not allow these"#,
        Stage::Parse,
    ),
    (
        "type=host-catalog;actions=list,read",
        r#"parsed grant string "type=host-catalog;actions=list,read" contains non-create or non-list action in a format that only allows these"#,
        Stage::Parse,
    ),
    (
        "type=host-set;actions=read",
        r#"parsed grant string "type=host-set;actions=read" contains non-create or non-list action in a format that only allows these"#,
        Stage::Parse,
    ),
    (
        "type=host-set;actions=read,create",
        r#"parsed grant string "type=host-set;actions=create,read" contains non-create or non-list action in a format that only allows these"#,
        Stage::Parse,
    ),
    (
        "type=host-set;actions=list,read,create",
        r#"parsed grant string "type=host-set;actions=create,list,read" contains non-create or non-list action in a format that only allows these"#,
        Stage::Parse,
    ),
    (
        "id=*;actions=read",
        r#"parsed grant string "id=*;actions=read" contains wildcard id and no specified type"#,
        Stage::Parse,
    ),
    (
        "ids=*;actions=read",
        r#"parsed grant string "ids=*;actions=read" contains wildcard id and no specified type"#,
        Stage::Parse,
    ),
    (
        "id=*;actions=read,list",
        r#"parsed grant string "id=*;actions=list,read" contains wildcard id and no specified type"#,
        Stage::Parse,
    ),
    (
        "ids=*;actions=read,list",
        r#"parsed grant string "ids=*;actions=list,read" contains wildcard id and no specified type"#,
        Stage::Parse,
    ),
    (
        "type=*;actions=read,list",
        r#"parsed grant string "type=*;actions=list,read" contains wildcard type with no id value"#,
        Stage::Parse,
    ),
    (
        "ids=*,u_foobar;actions=read,list",
        r#"input grant string "ids=*,u_foobar;actions=read,list" contains both wildcard and non-wildcard values in "ids" field"#,
        Stage::Parse,
    ),
    (
        "ids=u_foobar,*;actions=read,list",
        r#"input grant string "ids=u_foobar,*;actions=read,list" contains both wildcard and non-wildcard values in "ids" field"#,
        Stage::Parse,
    ),
    (
        "actions=create",
        r#"parsed grant string "actions=create" contains no id or type"#,
        Stage::Parse,
    ),
    (
        "id=ttcp_1234567890;type=*;actions=create",
        r#"parsed grant string "id=ttcp_1234567890;type=*;actions=create" contains an id that does not support child types"#,
        Stage::Parse,
    ),
    (
        "ids=ttcp_1234567890,ttcp_1234567890;type=*;actions=create",
        r#"parsed grant string "ids=ttcp_1234567890,ttcp_1234567890;type=*;actions=create" contains an id that does not support child types"#,
        Stage::Parse,
    ),
    (
        "id=hcst_1234567890;type=account;actions=read",
        r#"parsed grant string "id=hcst_1234567890;type=account;actions=read" contains type account that is not a child type of the type (auth-method) of the specified id"#,
        Stage::Parse,
    ),
    (
        "id={{superman}};actions=create,read",
        r#"unknown template "{{superman}}" in grant "id" value"#,
        Stage::Parse,
    ),
    (
        "ids={{superman}};actions=create,read",
        r#"unknown template "{{superman}}" in grant "ids" value"#,
        Stage::Parse,
    ),
    (
        "type=host-set;actions=create",
        r#"parsed grant string "type=host-set;actions=create" would not result in any action being authorized"#,
        Stage::Parse,
    ),
    (
        "ids=u_1;type=user;actions=create",
        r#"parsed grant string "ids=u_1;type=user;actions=create" would not result in any action being authorized"#,
        Stage::Parse,
    ),
    (
        "ids=*;type=*;actions=*,read",
        r#""*" cannot be specified with other actions"#,
        Stage::Actions,
    ),
    ("ids=u_1", "missing actions", Stage::Actions),
    (
        r#"{"ids":["u_1"],"actions":[]}"#,
        "missing actions",
        Stage::Actions,
    ),
    (
        "ids=*;type=controller;actions=read",
        r#"unknown type specifier "controller""#,
        Stage::Type,
    ),
    (
        "ids=*;type=unknown;actions=read",
        r#"unknown type specifier "unknown""#,
        Stage::Text,
    ),
    (
        "ids=u_1,u_2;id=u_3;actions=read",
        r#"input grant string "ids=u_1,u_2;id=u_3;actions=read" contains both "id" and "ids" fields"#,
        Stage::Parse,
    ),
    (
        "ids=u_1, u_2;actions=read",
        r#"input grant string "ids=u_1, u_2;actions=read" contains ids of differently-typed resources"#,
        Stage::Parse,
    ),
    (
        "ids={{user.id}},u_1;actions=read",
        r#"input grant string "ids={{user.id}},u_1;actions=read" contains ids of differently-typed resources"#,
        Stage::Parse,
    ),
    (
        "ids=u_1;actions= read",
        r#"unknown action " read""#,
        Stage::Actions,
    ),
    // Unmarshal level (Test_Unmarshaling).
    (
        "id=",
        r#"segment "id=" not formatted correctly, missing value"#,
        Stage::Text,
    ),
    (
        "=id",
        r#"segment "=id" not formatted correctly, missing key"#,
        Stage::Text,
    ),
    ("ids=,", "empty ID provided", Stage::Text),
    ("id=some,thing", "ID cannot contain a comma", Stage::Text),
    ("actions=,", "empty action found", Stage::Text),
    (
        "output_fields=id=version,name",
        r#"segment "output_fields=id=version,name" not formatted correctly, wrong number of equal signs"#,
        Stage::Text,
    ),
    (
        "ids=*;type=*;actions=*;",
        r#"segment "" not formatted correctly, wrong number of equal signs"#,
        Stage::Text,
    ),
    // The JSON form.
    (
        r#"{"actions":[1, true]}"#,
        "unable to interpret 1 in actions array as string",
        Stage::Json,
    ),
    (
        r#"{"ids":["some;thing"]}"#,
        "ID cannot contain a comma, semicolon or equals sign",
        Stage::Json,
    ),
    (
        r#"{"id":true}"#,
        r#"unable to interpret "id" as string"#,
        Stage::Json,
    ),
    (r#"{"id":""}"#, "empty ID provided", Stage::Json),
    (
        r#"{"ids":"u_1"}"#,
        r#"unable to interpret "ids" as array"#,
        Stage::Json,
    ),
    (
        r#"{"ids":[1]}"#,
        // Boundary (Go's %q): unable to interpret "ids" element %!q(float64=1) as string
        r#"unable to interpret "ids" element 1 as string"#,
        Stage::Json,
    ),
    (
        r#"{"type":7}"#,
        r#"unable to interpret "type" as string"#,
        Stage::Json,
    ),
    (
        r#"{"type":"Host-Catalog","actions":["create"]}"#,
        r#"unknown type specifier "Host-Catalog""#,
        Stage::Json,
    ),
    (
        r#"{"actions":"read"}"#,
        r#"unable to interpret "actions" as array"#,
        Stage::Json,
    ),
    (
        r#"{"actions":["re,ad"]}"#,
        "action cannot contain a comma, semicolon or equals sign",
        Stage::Json,
    ),
    (
        r#"{"output_fields":true}"#,
        r#"unable to interpret "output_fields" as array"#,
        Stage::Json,
    ),
    (
        r#"{"output_fields":[null]}"#,
        // Boundary (Go's %v): unable to interpret <nil> in output_fields array as string
        "unable to interpret null in output_fields array as string",
        Stage::Json,
    ),
    (
        r#"{"output_fields":["a=b"]}"#,
        "output fields cannot contain a comma, semicolon or equals sign",
        Stage::Json,
    ),
    (
        r#"{"actions":["read"]"#,
        // Boundary (Go): unexpected end of JSON input
        "EOF while parsing an object",
        Stage::JsonSyntax,
    ),
    (
        "{w329uf",
        // Boundary (Go): invalid character 'w' looking for beginning of object key string
        "key must be a string",
        Stage::JsonSyntax,
    ),
];

#[test]
fn boundarys_refusals_with_its_messages() {
    for &(input, message, stage) in REFUSALS {
        let e = refused(input);
        assert_eq!(e.message, message, "{input}");
        assert_eq!(e.stage, stage, "{input}");
    }
}

#[test]
fn boundary_text_is_boundarys_whole_error() {
    let cases = [
        // Boundary's decoration around serde_json's message (Go's would read "invalid
        // character '2' looking for beginning of object key string").
        ("{2:193}", "perms.Parse: unable to parse JSON grant string: perms.(Grant).unmarshalJSON: error occurred during decode, encoding issue: error #303: key must be a string"),
        ("id=foo=bar", r#"perms.Parse: unable to parse grant string: perms.(Grant).unmarshalText: segment "id=foo=bar" not formatted correctly, wrong number of equal signs: parameter violation: error #100"#),
        ("ids=hcst_foobar;type=host-catalog;actions=createread", r#"perms.Parse: perms.(Grant).parseAndValidateActions: unknown action "createread": parameter violation: error #100"#),
        ("id={{superman}};actions=create,read", r#"perms.Parse: unknown template "{{superman}}" in grant "id" value: parameter violation: error #100"#),
        ("", "perms.Parse: missing grant string: parameter violation: error #100"),
        (r#"{"actions":[1, true]}"#, "perms.Parse: unable to parse JSON grant string: perms.(Grant).unmarshalJSON: unable to interpret 1 in actions array as string: parameter violation: error #100"),
    ];
    for (input, want) in cases {
        assert_eq!(refused(input).boundary_text(), want, "{input}");
    }
}

#[test]
fn errors_point_at_the_offending_token() {
    // (input, position, token): position is 1-based, in characters.
    let cases: &[(&str, usize, &str)] = &[
        ("ids=*;type=target;actions=raed", 27, "raed"),
        ("ids=*;type=target;actions=RAED", 27, "RAED"),
        ("ids=é;type=target;actions=raed", 27, "raed"),
        ("ids=*;type=target;actions=read,,list", 32, ""),
        ("ids=*;type=tagret;actions=read", 12, "tagret"),
        ("ids=*;type=target;actions=read;", 32, ""),
        ("ids=*;type=target;actions=read;;", 32, ""),
        ("ids=*;type=target;actions=read=x", 19, "actions=read=x"),
        ("ids=*;=target;actions=read", 7, "=target"),
        ("ids=*;type=;actions=read", 7, "type="),
        ("ids=*;type=target;actions=*,read", 27, "*"),
        ("ids=*;type=target;actions=read,*", 32, "*"),
        ("ids=u_1,*;actions=read", 9, "*"),
        ("ids=u_1,g_1;actions=read", 9, "g_1"),
        ("ids=u_1,,u_2;actions=read", 9, ""),
        ("id=u_1;ids=u_2;actions=read", 4, "u_1"),
        ("id=u_1,u_2;actions=read", 4, "u_1,u_2"),
        ("ids=hcst_1;type=account;actions=read", 17, "account"),
        ("ids=ttcp_1;type=*;actions=read", 5, "ttcp_1"),
        ("ids=*;actions=read", 5, "*"),
        ("type=*;actions=read", 6, "*"),
        ("ids=x_1;actions=read", 5, "x_1"),
        ("ids=u_1;actions=read,create", 22, "create"),
        ("type=target;actions=list,read", 26, "read"),
        ("type=host-set;actions=create", 6, "host-set"),
        ("ids=u_1;actions=read;ids={{bogus}}", 26, "{{bogus}}"),
        ("ids=*;type=controller;actions=read", 12, "controller"),
        ("actions=create", 1, "actions=create"),
        ("ids=u_1", 1, "ids=u_1"),
        ("", 1, ""),
        (r#"{"ids":["*"],"actions":["read"]}"#, 9, r#""*""#),
        (r#"{"actions":["raed"],"ids":["u_1"]}"#, 13, r#""raed""#),
        (r#"{"ids":["u_1"] "actions":[]}"#, 16, "\""),
        (r#"{"ids":["u_1"],"actions":[]}"#, 26, "[]"),
        (r#"{"ids":[1]}"#, 9, "1"),
        (r#"{"actions":["read"]"#, 20, ""),
        ("{2:193}", 2, "2"),
    ];
    for &(input, position, token) in cases {
        let e = refused(input);
        assert_eq!(
            (e.position, e.token.as_str()),
            (position, token),
            "{input}: {e}"
        );
    }
}

#[test]
fn display_names_position_token_and_reason() {
    assert_eq!(
        refused("ids=*;type=target;actions=raed").to_string(),
        r#"at character 27, "raed": unknown action "raed""#
    );
    assert_eq!(
        refused("ids=*;actions=read").to_string(),
        r#"at character 5, "*": parsed grant string "ids=*;actions=read" contains wildcard id and no specified type"#
    );
    assert_eq!(
        refused("{2:193}").to_string(),
        r#"at character 2, "2": key must be a string"#
    );
}

/// The JSON form as serde_json reads it (see `unmarshal::json` for where this differs from
/// Boundary): syntax errors carry serde_json's message at the character it names, across
/// lines and after multi-byte characters; values named in messages are shown as written.
#[test]
fn json_form_errors_as_serde_json_reads_it() {
    // (input, position, token, message, stage)
    let cases: &[(&str, usize, &str, &str, Stage)] = &[
        (
            "{\"ids\":[\"u_1\"],\n  \"actions\": [\"read\"] x}",
            39,
            "x",
            "expected `,` or `}`",
            Stage::JsonSyntax,
        ),
        (
            "{\"é\":1 2}",
            8,
            "2",
            "expected `,` or `}`",
            Stage::JsonSyntax,
        ),
        ("{} x", 4, "x", "trailing characters", Stage::JsonSyntax),
        (
            "{\n\n",
            4,
            "",
            "EOF while parsing an object",
            Stage::JsonSyntax,
        ),
        (
            "{\"a\"\n:\n\n\n}",
            10,
            "}",
            "expected value",
            Stage::JsonSyntax,
        ),
        ("{\"a\":1.}", 8, "}", "invalid number", Stage::JsonSyntax),
        (
            r#"{"a":"é\é"}"#,
            9,
            "é",
            "invalid escape",
            Stage::JsonSyntax,
        ),
        (
            "{\"a\":\"\u{1}\"}",
            7,
            "\u{1}",
            "control character (\\u0000-\\u001F) found while parsing a string",
            Stage::JsonSyntax,
        ),
        (
            "{\"a\u{1}\":1}",
            4,
            "\u{1}",
            "control character (\\u0000-\\u001F) found while parsing a string",
            Stage::JsonSyntax,
        ),
        (
            "{\"ids\":[\"u_1\n",
            13,
            "\n",
            "control character (\\u0000-\\u001F) found while parsing a string",
            Stage::JsonSyntax,
        ),
        // A lone surrogate in a member we read: Go would decode it to U+FFFD.
        (
            r#"{"ids":["u_1", "\ud800x"],"actions":["read"]}"#,
            23,
            "x",
            "unexpected end of hex escape",
            Stage::JsonSyntax,
        ),
        (
            r#"{"id":"\udc00","actions":["read"]}"#,
            13,
            "0",
            "lone leading surrogate in hex escape",
            Stage::JsonSyntax,
        ),
        // Non-string values in messages are shown as written.
        (
            r#"{"actions":[{"k": [2]}, 1]}"#,
            13,
            r#"{"k": [2]}"#,
            r#"unable to interpret {"k": [2]} in actions array as string"#,
            Stage::Json,
        ),
        (
            r#"{"actions":["read", 2.5e7]}"#,
            21,
            "2.5e7",
            "unable to interpret 2.5e7 in actions array as string",
            Stage::Json,
        ),
        (
            "{\"ids\" :\n [\"u_1\", false]}",
            19,
            "false",
            r#"unable to interpret "ids" element false as string"#,
            Stage::Json,
        ),
        (
            r#"{"type": {"a": 1}}"#,
            10,
            r#"{"a": 1}"#,
            r#"unable to interpret "type" as string"#,
            Stage::Json,
        ),
    ];
    for &(input, position, token, message, stage) in cases {
        let e = refused(input);
        assert_eq!(
            (e.position, e.token.as_str(), e.message.as_str(), e.stage),
            (position, token, message, stage),
            "{input:?}: {e}"
        );
    }
}

#[test]
fn json_form_reads_members_as_go_does() {
    let canonical = |input: &str| match Grant::parse(input) {
        Ok(g) => g.canonical(),
        Err(e) => panic!("{input:?} refused: {e}"),
    };
    // The last of repeated members counts; keys are decoded; unknown members are skipped
    // whatever they hold (a lone surrogate, deep nesting).
    assert_eq!(
        canonical(r#"{"ids":["u_1"],"actions":["read"],"ids":["g_1"]}"#),
        "ids=g_1;actions=read"
    );
    assert_eq!(
        canonical(r#"{"\u0069ds":["u_1"],"actions":["read"]}"#),
        "ids=u_1;actions=read"
    );
    assert_eq!(
        canonical(r#"{"x":"\ud800","ids":["u_1"],"actions":["read"]}"#),
        "ids=u_1;actions=read"
    );
    let deep = format!(
        r#"{{"x":{}1{}, "ids":["u_1"], "actions":["read"]}}"#,
        "[".repeat(20_000),
        "]".repeat(20_000)
    );
    assert_eq!(canonical(&deep), "ids=u_1;actions=read");
    assert_eq!(
        canonical(" {\"ids\":[\"u_\\u0031\"],\r\n\t\"actions\":[\"READ\"]} ".trim_start()),
        "ids=u_1;actions=read"
    );
}
