//! The `filter=` language: the tutorial's filters against session JSON, precedence, the
//! semantics of each operator, every error text, and property tests of the parser.

use postern_controller::filter::{Filter, FilterError, MAX_DEPTH};
use proptest::prelude::*;
use serde_json::{json, Value};

fn session(status: &str, user_id: &str) -> Value {
    json!({
        "id": "s_h7vBIhH5SZ",
        "target_id": "ttcp_1234567890",
        "scope": {"id": "p_1234567890", "type": "project", "name": "Generated project scope",
                  "parent_scope_id": "o_1234567890"},
        "created_time": "2020-09-30T22:18:14Z",
        "version": 3,
        "type": "tcp",
        "user_id": user_id,
        "host_id": "hst_1234567890",
        "status": status,
        "states": [{"status": status, "start_time": "2020-09-30T22:18:35Z"},
                   {"status": "pending", "start_time": "2020-09-30T22:18:14Z",
                    "end_time": "2020-09-30T22:18:35Z"}],
        "worker_info": [{"address": "127.0.0.1:9202"}],
        "termination_reason": "",
        "certificate": null,
        "authorized_actions": ["no-op", "read", "read:self", "cancel", "cancel:self"],
        "connections": [{"client_tcp_address": "127.0.0.1", "client_tcp_port": 61991,
                         "bytes_up": 5, "bytes_down": 1234, "closed_reason": ""}],
    })
}

fn filter(expression: &str) -> Filter {
    Filter::parse(expression).unwrap_or_else(|e| panic!("{expression}: {e}"))
}

fn error(expression: &str) -> String {
    match Filter::parse(expression) {
        Ok(parsed) => panic!("{expression} parsed as {parsed}"),
        Err(e) => e.to_string(),
    }
}

/// Which of the tutorial's three sessions the filter keeps, by status.
fn kept(expression: &str) -> Vec<&'static str> {
    let parsed = filter(expression);
    [
        ("active", "u_1234567890"),
        ("pending", "u_1234567890"),
        ("terminated", "u_0987654321"),
    ]
    .into_iter()
    .filter(|(status, user)| parsed.matches(&session(status, user)))
    .map(|(status, _)| status)
    .collect()
}

#[test]
fn tutorial_filters() {
    assert_eq!(kept(r#""/item/status" == "active""#), ["active"]);
    assert_eq!(
        kept(r#""/item/user_id" == "u_1234567890" and "/item/status" != "terminated""#),
        ["active", "pending"]
    );
    assert_eq!(kept(r#""cancel" in "/item/authorized_actions""#).len(), 3);
    assert_eq!(kept(r#""/item/target_id" matches "^ttcp_""#).len(), 3);
    assert_eq!(
        kept(r#"not ("/item/status" == "pending")"#),
        ["active", "terminated"]
    );
}

#[test]
fn selector_forms_name_the_same_field() {
    for expression in [
        r#""/item/status" == "active""#,
        r#"/item/status == "active""#,
        r#"item.status == "active""#,
        r#"item.status=="active""#,
        "item.status == active",
        "item.status == `active`",
    ] {
        assert_eq!(kept(expression), ["active"], "{expression}");
    }
    assert_eq!(kept(r#""/item/scope/id" == "p_1234567890""#).len(), 3);
    assert_eq!(kept("item.scope.type == project").len(), 3);
    assert_eq!(kept(r#""/item/connections/0/bytes_up" == 5"#).len(), 3);
    assert_eq!(kept("item.connections.0.bytes_down == 1234").len(), 3);
    assert_eq!(kept(r#""/item/states/1/status" == "pending""#).len(), 3);
    // Only `item` is defined, as in Boundary.
    assert!(kept(r#""/status" == "active""#).is_empty());
}

#[test]
fn values_compare_by_string_form() {
    let item = session("active", "u_1234567890");
    for expression in [
        r#""/item/version" == 3"#,
        r#""/item/version" == "3""#,
        r#""/item/version" == 3.0"#,
        r#""/item/version" != 4"#,
        r#""/item/version" matches "^3$""#,
        r#""/item/connections/0/client_tcp_port" == "61991""#,
        r#""3" in "/item/version_list" or "/item/version" == "+3""#,
    ] {
        assert!(filter(expression).matches(&item), "{expression}");
    }
    let flags = json!({"enabled": true, "numbers": [1, 2.5, "x"], "big": 9007199254740993u64});
    assert!(filter(r#""/item/enabled" == true"#).matches(&flags));
    assert!(filter(r#""/item/enabled" == "true""#).matches(&flags));
    assert!(!filter(r#""/item/enabled" == "false""#).matches(&flags));
    assert!(filter(r#""2.5" in "/item/numbers""#).matches(&flags));
    assert!(filter(r#""/item/numbers" contains 1"#).matches(&flags));
    assert!(filter(r#""/item/numbers" contains x"#).matches(&flags));
    // Integers compare exactly, not through f64.
    assert!(filter(r#""/item/big" == 9007199254740993"#).matches(&flags));
    assert!(!filter(r#""/item/big" == 9007199254740992"#).matches(&flags));
    // Objects and arrays have no string form.
    assert!(!filter(r#""/item/numbers" == "[1,2.5,\"x\"]""#).matches(&flags));
}

#[test]
fn strings_take_escapes() {
    let item = json!({"name": "say \"hi\"\\now", "tab": "a\tb", "id": "s_123"});
    assert!(filter(r#""/item/name" == "say \"hi\"\\now""#).matches(&item));
    assert!(filter(r#""/item/tab" == "a\tb""#).matches(&item));
    assert!(filter(r#""/item/tab" == "a\u0009b""#).matches(&item));
    // An escape Go does not know is kept, so regular expressions read naturally.
    assert!(filter(r#""/item/id" matches "^s_\d+$""#).matches(&item));
    assert!(filter(r#""/item/id" matches "^s_\\d+$""#).matches(&item));
    assert!(filter(r#""/item/id" matches `^s_\d+$`"#).matches(&item));
    // JSON pointer escapes: ~1 is "/", ~0 is "~".
    let odd = json!({"a/b": {"c~d": "yes"}});
    assert!(filter(r#""/item/a~1b/c~0d" == yes"#).matches(&odd));
}

#[test]
fn in_and_contains() {
    let item = session("active", "u_1234567890");
    let keeps = |expression: &str| filter(expression).matches(&item);
    // Membership of an array.
    assert!(keeps(r#""cancel:self" in "/item/authorized_actions""#));
    assert!(!keeps(r#""cancel:other" in "/item/authorized_actions""#));
    assert!(keeps(r#""/item/authorized_actions" contains "cancel""#));
    assert!(keeps(r#""/item/authorized_actions" not contains "delete""#));
    assert!(keeps(r#""delete" not in "/item/authorized_actions""#));
    assert!(keeps(r#""no-op" in item.authorized_actions"#));
    // Substring of a string.
    assert!(keeps(r#""1234" in "/item/target_id""#));
    assert!(keeps(r#""/item/target_id" contains "ttcp""#));
    // Key of an object.
    assert!(keeps(r#""parent_scope_id" in "/item/scope""#));
    assert!(!keeps(r#""p_1234567890" in "/item/scope""#));
    // A number holds nothing.
    assert!(!keeps(r#""3" in "/item/version""#));
}

#[test]
fn matches_searches_unanchored() {
    let item = session("active", "u_1234567890");
    let keeps = |expression: &str| filter(expression).matches(&item);
    assert!(keeps(r#""/item/target_id" matches "1234""#));
    assert!(!keeps(r#""/item/target_id" matches "^1234""#));
    assert!(keeps(
        r#""/item/status" not matches "^(pending|canceling)$""#
    ));
    assert!(!keeps(r#""/item/scope" matches ".""#));
}

#[test]
fn emptiness() {
    let item = session("active", "u_1234567890");
    let keeps = |expression: &str| filter(expression).matches(&item);
    assert!(keeps(r#""/item/termination_reason" is empty"#));
    assert!(keeps(r#""/item/connections" is not empty"#));
    assert!(keeps(r#""/item/certificate" is empty"#));
    assert!(!keeps(r#""/item/version" is empty"#));
    assert!(keeps(r#"item.scope is not empty"#));
    let hollow = json!({"list": [], "map": {}});
    assert!(filter(r#""/item/list" is empty and "/item/map" is empty"#).matches(&hollow));
}

#[test]
fn missing_paths_are_absent() {
    let item = session("active", "u_1234567890");
    let keeps = |expression: &str| filter(expression).matches(&item);
    assert!(!keeps(r#""/item/nope" == "x""#));
    assert!(keeps(r#""/item/nope" != "x""#));
    assert!(keeps(r#""/item/nope" is empty"#));
    assert!(!keeps(r#""/item/nope" is not empty"#));
    assert!(!keeps(r#""/item/nope" matches ".*""#));
    assert!(keeps(r#""/item/nope" not matches ".*""#));
    assert!(!keeps(r#""x" in "/item/nope""#));
    assert!(keeps(r#""x" not in "/item/nope""#));
    // Through arrays and scalars too.
    assert!(!keeps(r#""/item/connections/7/bytes_up" == 5"#));
    assert!(!keeps(r#""/item/connections/first/bytes_up" == 5"#));
    assert!(!keeps(r#""/item/status/inner" == "active""#));
    // JSON null equals nothing, not even the text "null".
    assert!(!keeps(r#""/item/certificate" == "null""#));
}

#[test]
fn precedence_is_not_then_and_then_or() {
    let item = json!({"a": "1", "b": "1", "c": "0"});
    let keeps = |expression: &str| filter(expression).matches(&item);
    // and binds tighter than or: a or (b and c), not (a or b) and c.
    assert!(keeps(r#"item.a == 1 or item.b == 1 and item.c == 1"#));
    assert!(!keeps(r#"(item.a == 1 or item.b == 1) and item.c == 1"#));
    assert!(keeps(r#"item.c == 1 and item.a == 1 or item.b == 1"#));
    // not binds tighter than and.
    assert!(!keeps(r#"not item.a == 1 and item.c == 0"#));
    assert!(keeps(r#"not (item.a == 1 and item.c == 1)"#));
    assert!(keeps(r#"not not item.a == 1"#));
    assert_eq!(
        filter(r#"item.a == 1 or item.b == 1 and not item.c == 1"#).to_string(),
        r#""/item/a" == "1" or "/item/b" == "1" and not "/item/c" == "1""#
    );
    assert_eq!(
        filter(r#"((item.a == 1 or item.b == 1)) and (item.c == 1)"#).to_string(),
        r#"("/item/a" == "1" or "/item/b" == "1") and "/item/c" == "1""#
    );
    // Keywords are case-sensitive: AND is an operand, not a conjunction.
    assert!(Filter::parse(r#"item.a == 1 AND item.b == 1"#).is_err());
}

#[test]
fn display_is_canonical() {
    let cases = [
        (
            r#"/item/authorized_actions contains cancel"#,
            r#""/item/authorized_actions" contains "cancel""#,
        ),
        (
            r#"not ("/item/status" == "pending" or "/item/status" == "canceling")"#,
            r#"not ("/item/status" == "pending" or "/item/status" == "canceling")"#,
        ),
        (
            r#"item.x is not empty and "a" not in item.y and item.z not matches `\d`"#,
            r#""/item/x" is not empty and "a" not in "/item/y" and "/item/z" not matches "\\d""#,
        ),
        (r#"item.a/b.c~d == "q\"""#, r#""/item/a~1b/c~0d" == "q\"""#),
    ];
    for (input, canonical) in cases {
        assert_eq!(filter(input).to_string(), canonical);
        assert_eq!(filter(canonical).to_string(), canonical);
    }
    let parsed: Filter = r#""/item/status" == active"#.parse().unwrap();
    assert_eq!(parsed.to_string(), r#""/item/status" == "active""#);
}

#[test]
fn every_error_names_the_problem_and_position() {
    let cases = [
        ("", "filter: the filter is empty"),
        ("  \t ", "filter: the filter is empty"),
        (
            r#""/item/status" == "active"#,
            "filter: unterminated string starting at position 18",
        ),
        (
            r#""/item/status" == `active"#,
            "filter: unterminated string starting at position 18",
        ),
        (
            r#""/item/status" == "a\u12""#,
            r#"filter: invalid escape "\u12" at position 20"#,
        ),
        (
            r#""/item/status" == "\xff""#,
            r#"filter: invalid escape "\xff" at position 19"#,
        ),
        (
            r#""/item/a" == 1 and"#,
            r#"filter: expected an expression after "and" at position 18"#,
        ),
        (
            "()",
            r#"filter: expected an expression after "(" at position 1"#,
        ),
        (")", "filter: expected an expression at position 0"),
        (
            r#""/item/status""#,
            r#"filter: expected an operator (==, !=, matches, in, contains, is empty) after "/item/status" at position 14"#,
        ),
        (
            r#"item.status "active""#,
            r#"filter: expected an operator (==, !=, matches, in, contains, is empty) after "item.status" at position 12"#,
        ),
        (
            r#"/item/id =~ "x""#,
            r#"filter: unknown operator "=~" at position 9"#,
        ),
        (
            r#""/item/id" equals "x""#,
            r#"filter: unknown operator "equals" at position 11"#,
        ),
        (
            r#""/item/id" is full"#,
            r#"filter: expected "empty" or "not empty" after "is" at position 14"#,
        ),
        (
            r#""/item/id" is not"#,
            r#"filter: expected "empty" after "is not" at position 17"#,
        ),
        (
            r#""/item/id" not equals "x""#,
            r#"filter: expected "in", "contains" or "matches" after "not" at position 15"#,
        ),
        (
            r#""/item/status" =="#,
            r#"filter: expected a value after "==" at position 17"#,
        ),
        (
            r#""/item/status" != and"#,
            r#"filter: expected a value after "!=" at position 18"#,
        ),
        (
            r#""cancel" in )"#,
            r#"filter: expected a selector such as "/item/status" after "in" at position 12"#,
        ),
        (
            r#""active" == "/item/status""#,
            r#"filter: "active" at position 0 is not a selector; write a JSON pointer such as "/item/status" or a dotted path such as item.status"#,
        ),
        (
            r#""cancel" in 5"#,
            r#"filter: "5" at position 12 is not a selector; write a JSON pointer such as "/item/status" or a dotted path such as item.status"#,
        ),
        (
            r#""/item/~2" == "x""#,
            r#"filter: invalid selector "/item/~2" at position 0: "~" must be followed by 0 or 1"#,
        ),
        (
            r#"item..status == "x""#,
            r#"filter: invalid selector "item..status" at position 0: a dotted selector cannot have an empty part"#,
        ),
        (
            r#""/item/id" matches "(""#,
            r#"filter: invalid regular expression "(": unclosed group"#,
        ),
        (
            r#"(("/item/a" == "x")"#,
            "filter: unbalanced parenthesis at position 0",
        ),
        (
            r#""/item/a" == "x")"#,
            "filter: unbalanced parenthesis at position 16",
        ),
        (
            r#""/item/a" == "x" "/item/b" == "y""#,
            r#"filter: unexpected "/item/b" at position 17; expected "and", "or", ")" or the end"#,
        ),
        (
            r#"("/item/a" == "x" junk)"#,
            r#"filter: unexpected "junk" at position 18; expected "and", "or", ")" or the end"#,
        ),
    ];
    for (input, message) in cases {
        assert_eq!(error(input), message, "{input}");
    }
    let deep = format!(
        "{}item.a == 1{}",
        "(".repeat(MAX_DEPTH + 1),
        ")".repeat(MAX_DEPTH + 1)
    );
    assert_eq!(
        Filter::parse(&deep).unwrap_err(),
        FilterError::TooDeep {
            limit: MAX_DEPTH,
            position: MAX_DEPTH
        }
    );
    assert_eq!(
        error(&deep),
        "filter: parentheses and \"not\" nest deeper than 64 levels at position 64"
    );
    let nots = format!("{}item.a == 1", "not ".repeat(MAX_DEPTH));
    assert!(Filter::parse(&nots).is_ok());
    let hostile = "(".repeat(100_000);
    assert!(matches!(
        Filter::parse(&hostile),
        Err(FilterError::TooDeep { .. })
    ));
}

#[test]
fn positions_count_characters_not_bytes() {
    assert_eq!(
        error(r#""/item/é" == "x" )"#),
        "filter: unbalanced parenthesis at position 17"
    );
}

#[test]
fn huge_regex_is_refused() {
    let message = error(r#""/item/a" matches "\w{1000}\w{1000}\w{1000}""#);
    assert!(
        message.starts_with(r#"filter: invalid regular expression "\\w{1000}"#),
        "{message}"
    );
}

/// A filter built from the grammar, with values drawn from awkward strings.
fn arbitrary_filter() -> impl Strategy<Value = String> {
    let selector = prop::sample::select(vec![
        r#""/item/status""#,
        "/item/status",
        "item.status",
        r#""/item/authorized_actions""#,
        "item.connections.0.bytes_up",
        r#""/item/scope/id""#,
        "item.version",
        r#""/item/a~1b""#,
    ]);
    let value = prop_oneof![
        "v[a-z_:0-9-]{0,7}",
        r#"\PC{0,8}"#.prop_map(|s| format!("`{}`", s.replace('`', ""))),
        any::<String>().prop_map(|s| {
            let escaped: String = s
                .chars()
                .flat_map(|c| match c {
                    '"' => vec!['\\', '"'],
                    '\\' => vec!['\\', '\\'],
                    c => vec![c],
                })
                .collect();
            format!("\"{escaped}\"")
        }),
        (-1000i64..1000).prop_map(|n| n.to_string()),
    ];
    let leaf = (selector, value, 0usize..9).prop_map(|(selector, value, op)| match op {
        0 => format!("{selector} == {value}"),
        1 => format!("{selector} != {value}"),
        2 => format!("{value} in {selector}"),
        3 => format!("{value} not in {selector}"),
        4 => format!("{selector} contains {value}"),
        5 => format!("{selector} not contains {value}"),
        6 => format!("{selector} is empty"),
        7 => format!("{selector} is not empty"),
        _ => format!("{selector} matches \"^a.*b\""),
    });
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} or {b}")),
            inner.clone().prop_map(|a| format!("not {a}")),
            inner.prop_map(|a| format!("({a})")),
        ]
    })
}

fn sample_items() -> Vec<Value> {
    vec![
        session("active", "u_1234567890"),
        session("", "u_1"),
        json!({"status": "a\"b", "a/b": 1, "authorized_actions": [], "version": -5}),
        json!(null),
    ]
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(input in any::<String>()) {
        if let Ok(parsed) = Filter::parse(&input) {
            for item in sample_items() {
                parsed.matches(&item);
            }
        }
    }

    #[test]
    fn filter_shaped_text_never_panics_and_round_trips(
        input in r#"[()"`\\ a-z/.~0-9=!<>_é]{0,40}"#
    ) {
        if let Ok(parsed) = Filter::parse(&input) {
            let written = parsed.to_string();
            let reparsed = Filter::parse(&written).map_err(|e| TestCaseError::fail(format!("{written}: {e}")))?;
            prop_assert_eq!(reparsed.to_string(), written);
        }
    }

    #[test]
    fn generated_filters_round_trip(input in arbitrary_filter()) {
        let parsed = Filter::parse(&input).map_err(|e| TestCaseError::fail(format!("{input}: {e}")))?;
        let written = parsed.to_string();
        let reparsed = Filter::parse(&written).map_err(|e| TestCaseError::fail(format!("{written}: {e}")))?;
        prop_assert_eq!(reparsed.to_string(), written.clone());
        for item in sample_items() {
            prop_assert_eq!(parsed.matches(&item), reparsed.matches(&item), "{} on {}", written, item);
        }
    }
}

/// A target's worker filter: selectors start at the document (`{"name", "tags"}`), as
/// Boundary evaluates `egress_worker_filter`.
#[test]
fn worker_filters_select_from_the_document_root() {
    let worker =
        serde_json::json!({"name": "w1", "tags": {"region": ["eu-west"], "type": ["db", "prod"]}});
    for (expression, expected) in [
        (r#""eu-west" in "/tags/region""#, true),
        (r#""/name" == "w1" and "prod" in "/tags/type""#, true),
        (r#""us-east" in "/tags/region""#, false),
        (r#""/item/name" == "w1""#, false),
        (r#""/tags/missing" is empty"#, true),
    ] {
        let filter = Filter::parse(expression).unwrap();
        assert_eq!(filter.matches_document(&worker), expected, "{expression}");
    }
    // The same filter over a list item starts at `item`.
    let filter = Filter::parse(r#""/name" == "w1""#).unwrap();
    assert!(!filter.matches(&worker));
}
