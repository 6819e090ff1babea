//! Arbitrary bytes as a grant string (made UTF-8 lossily, as Boundary replaces invalid
//! UTF-8): both parsers must end every input with a grant or an error, never a panic; an
//! error must point inside the string at the token it names; a grant's canonical form must
//! parse back to itself; and an ACL built from the grant must answer without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postern_grants::{Acl, Caller, Grant, GrantError, Resource, ResourceType, RoleGrants};

fn check_error(text: &str, e: &GrantError) {
    let chars = text.chars().count();
    assert!(e.position >= 1 && e.position <= chars + 1, "{text:?}: {e}");
    let at: String = text.chars().skip(e.position - 1).collect();
    assert!(at.starts_with(&e.token), "{text:?}: {e}");
    let _ = e.boundary_text();
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let parsers: [(fn(&str) -> Result<Grant, GrantError>, &str); 2] = [
        (Grant::parse, "parse"),
        (Grant::parse_stored, "parse_stored"),
    ];
    for (parse, name) in parsers {
        let grant = match parse(&text) {
            Ok(grant) => grant,
            Err(e) => {
                check_error(&text, &e);
                continue;
            }
        };
        let canonical = grant.canonical();
        let again = parse(&canonical)
            .unwrap_or_else(|e| panic!("{name}: canonical {canonical:?} of {text:?} refused: {e}"));
        assert_eq!(again.canonical(), canonical, "{name}: {text:?}");
        let _ = grant.json();

        let grants = [grant];
        let scopes = [
            "this".to_owned(),
            "children".to_owned(),
            "descendants".to_owned(),
        ];
        let acl = Acl::new(
            Caller {
                user_id: "u_1",
                account_id: "acctpw_1",
            },
            [RoleGrants {
                role_scope_id: "global",
                grant_scope_ids: &scopes,
                grants: &grants,
            }],
        );
        for id in grants[0]
            .ids()
            .iter()
            .map(String::as_str)
            .chain(["", "u_1"])
        {
            for kind in [
                ResourceType::Target,
                ResourceType::HostSet,
                ResourceType::from_id(id).unwrap_or(ResourceType::Unknown),
            ] {
                let r = Resource {
                    id,
                    kind,
                    scope_id: "o_1",
                    parent_scope_id: "global",
                    pin: id,
                };
                let _ =
                    acl.allowed_actions(&r, &["read", "list", "create", "read:self", "*", "bogus"]);
            }
        }
    }
});
