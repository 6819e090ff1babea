//! Properties of the parser over arbitrary input: it never panics, and a grant's canonical
//! form parses back to itself (the store keys roles' grants by it).

use postern_grants::Grant;
use proptest::prelude::*;

/// Strings made of grant syntax, so that a good share of them parse: well-formed grants
/// from a small vocabulary, and loose segments of keys and values.
fn grant_like() -> impl Strategy<Value = String> {
    let opt = |values: Vec<&'static str>| prop::option::weighted(0.7, prop::sample::select(values));
    let formed = (
        opt(vec![
            "*",
            "u_1",
            "u_1,u_2",
            "hcst_1",
            "ttcp_1",
            "{{user.id}}",
            "{{ account.id }}",
            "p_1",
            "global",
            "foo",
        ]),
        prop::bool::weighted(0.1),
        opt(vec![
            "*",
            "target",
            "host-set",
            "HOST",
            "user",
            "scope",
            "host-catalog",
            "account",
        ]),
        prop::sample::subsequence(
            vec![
                "read",
                "list",
                "create",
                "read:self",
                "no-op",
                "*",
                "create:worker-led",
                "update",
                "LIST",
            ],
            0..3,
        ),
        opt(vec!["", "id", "name,id", "*,name"]),
        any::<bool>(),
    )
        .prop_map(|(ids, deprecated, kind, actions, fields, reverse)| {
            let mut parts = Vec::new();
            if let Some(ids) = ids {
                parts.push(format!("{}={ids}", if deprecated { "id" } else { "ids" }));
            }
            if let Some(kind) = kind {
                parts.push(format!("type={kind}"));
            }
            if !actions.is_empty() {
                parts.push(format!("actions={}", actions.join(",")));
            }
            if let Some(fields) = fields {
                parts.push(format!("output_fields={fields}"));
            }
            if reverse {
                parts.reverse();
            }
            parts.join(";")
        });
    let key = prop::sample::select(vec![
        "ids",
        "id",
        "type",
        "actions",
        "output_fields",
        "IDS",
        " ids",
        "x",
        "",
    ]);
    let word = prop::sample::select(vec![
        "*",
        "u_1",
        "hcst_1",
        "ttcp_1",
        "ampw_1",
        "p_1",
        "global",
        "foo",
        "{{user.id}}",
        "{{ account.id }}",
        "{{bad}}",
        "target",
        "host-set",
        "HOST",
        "read",
        "list",
        "create",
        "read:self",
        "no-op",
        "create:worker-led",
        "name",
        "é",
        "",
        " ",
        "=",
        "\u{0}",
    ]);
    let value = prop::collection::vec(word, 0..4).prop_map(|w| w.join(","));
    let segment = (key, value).prop_map(|(k, v)| format!("{k}={v}"));
    let loose = prop::collection::vec(segment, 1..5).prop_map(|s| s.join(";"));
    prop_oneof![formed, loose]
}

/// JSON objects made of the grant keys, with values of every JSON kind.
fn json_like() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec!["ids", "id", "type", "actions", "output_fields", "x"]);
    let scalar = prop::sample::select(vec![
        r#""*""#,
        r#""u_1""#,
        r#""target""#,
        r#""read""#,
        r#""list""#,
        r#""a,b""#,
        r#""""#,
        "1",
        "2.5e7",
        "true",
        "null",
        r#""\u0041""#,
        r#""\ud800""#,
    ]);
    let value = prop_oneof![
        scalar.clone().prop_map(String::from),
        prop::collection::vec(scalar, 0..3).prop_map(|v| format!("[{}]", v.join(","))),
    ];
    prop::collection::vec((key, value), 0..5).prop_map(|kv| {
        let members: Vec<String> = kv
            .into_iter()
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect();
        format!("{{{}}}", members.join(","))
    })
}

fn check_round_trip(input: &str) -> Result<(), TestCaseError> {
    if let Ok(g) = Grant::parse(input) {
        let canonical = g.canonical();
        match Grant::parse(&canonical) {
            Ok(again) => prop_assert_eq!(again.canonical(), canonical),
            Err(e) => prop_assert!(false, "{input:?} -> {canonical:?} refused: {e}"),
        }
        let _ = g.json();
    }
    // As Boundary's own fuzz test: stored grants round-trip too.
    if let Ok(g) = Grant::parse_stored(input) {
        let canonical = g.canonical();
        match Grant::parse_stored(&canonical) {
            Ok(again) => prop_assert_eq!(again.canonical(), canonical),
            Err(e) => prop_assert!(false, "{input:?} -> {canonical:?} refused: {e}"),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn arbitrary_strings(input in ".*") {
        check_round_trip(&input)?;
    }

    #[test]
    fn arbitrary_json_like_strings(input in "\\{.*") {
        check_round_trip(&input)?;
    }

    #[test]
    fn grant_syntax(input in grant_like()) {
        check_round_trip(&input)?;
    }

    #[test]
    fn json_grants(input in json_like()) {
        check_round_trip(&input)?;
    }

    #[test]
    fn error_positions_are_inside_the_string(input in prop_oneof![grant_like(), json_like(), ".*"]) {
        if let Err(e) = Grant::parse(&input) {
            let chars = input.chars().count();
            prop_assert!(e.position >= 1 && e.position <= chars + 1, "{e}");
            // The token is the text at the position, as written (JSON syntax errors name one
            // character, which may be a byte Go would name differently).
            let at: String = input.chars().skip(e.position - 1).collect();
            prop_assert!(at.starts_with(&e.token), "{input:?}: {e}");
        }
    }
}

#[test]
fn the_generators_reach_valid_grants() {
    // Guards the properties above against testing only refusals.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut parsed = 0;
    let mut parsed_json = 0;
    for _ in 0..2000 {
        let s = grant_like().new_tree(&mut runner).unwrap().current();
        parsed += usize::from(Grant::parse(&s).is_ok());
        let s = json_like().new_tree(&mut runner).unwrap().current();
        parsed_json += usize::from(Grant::parse_stored(&s).is_ok());
    }
    assert!(parsed > 150, "{parsed}");
    assert!(parsed_json > 30, "{parsed_json}");
}
