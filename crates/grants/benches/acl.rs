//! Decision time of a large ACL: one caller with 1,000 roles and 10,000 grants (the target is
//! at most 10 µs per decision), and the time to build it. Run with
//! `cargo bench -p postern-grants --bench acl`.

use std::hint::black_box;
use std::time::Instant;

use postern_grants::{Acl, Caller, Grant, Resource, ResourceType, RoleGrants};

fn main() {
    let orgs = 20;
    let projects_per_org = 10;
    let mut roles: Vec<(String, Vec<String>, Vec<Grant>)> = Vec::new();
    for r in 0..1000 {
        let org = r % orgs;
        let project = (r / orgs) % projects_per_org;
        let (scope, grant_scopes) = match r % 4 {
            0 => (
                "global".to_owned(),
                vec!["this".to_owned(), "descendants".to_owned()],
            ),
            1 => (
                format!("o_{org}"),
                vec!["this".to_owned(), "children".to_owned()],
            ),
            2 => (format!("p_{org}x{project}"), vec!["this".to_owned()]),
            _ => (
                "global".to_owned(),
                vec!["children".to_owned(), format!("p_{org}x{project}")],
            ),
        };
        let grants = (0..10)
            .map(|g| {
                let n = r * 10 + g;
                let text = match g % 5 {
                    0 => format!("ids=ttcp_{n},ttcp_{};actions=read,authorize-session", n + 1),
                    1 => format!("ids=hcst_{n};type=host-set;actions=create,list,read"),
                    2 => "type=target;actions=list".to_owned(),
                    3 => format!("ids=u_{n};type=user;actions=read,update"),
                    _ => "ids=*;type=session;actions=list,read:self,cancel:self".to_owned(),
                };
                Grant::parse(&text).expect("grant")
            })
            .collect();
        roles.push((scope, grant_scopes, grants));
    }
    let caller = Caller {
        user_id: "u_42",
        account_id: "acctpw_42",
    };
    let build = Instant::now();
    let acl = Acl::new(
        caller,
        roles.iter().map(|(scope, gs, grants)| RoleGrants {
            role_scope_id: scope,
            grant_scope_ids: gs,
            grants,
        }),
    );
    let build = build.elapsed();

    let ids: Vec<String> = (0..10_000).map(|n| format!("ttcp_{n}")).collect();
    let pins: Vec<String> = (0..10_000).map(|n| format!("hcst_{n}")).collect();
    let scopes: Vec<(String, String)> = (0..orgs)
        .flat_map(|o| (0..projects_per_org).map(move |p| (format!("p_{o}x{p}"), format!("o_{o}"))))
        .collect();
    let resources: Vec<Resource<'_>> = (0..4096)
        .map(|i| {
            let (scope_id, parent) = &scopes[(i * 7) % scopes.len()];
            match i % 3 {
                0 => Resource {
                    id: &ids[(i * 31) % ids.len()],
                    kind: ResourceType::Target,
                    scope_id,
                    parent_scope_id: parent,
                    pin: "",
                },
                1 => Resource {
                    id: "",
                    kind: ResourceType::HostSet,
                    scope_id,
                    parent_scope_id: parent,
                    pin: &pins[(i * 17) % pins.len()],
                },
                _ => Resource {
                    id: "s_1",
                    kind: ResourceType::Session,
                    scope_id,
                    parent_scope_id: parent,
                    pin: "",
                },
            }
        })
        .collect();
    let actions = [
        "read",
        "authorize-session",
        "create",
        "cancel",
        "read:self",
        "update",
    ];

    let rounds = 200;
    let start = Instant::now();
    let mut allowed = 0usize;
    for round in 0..rounds {
        for (i, r) in resources.iter().enumerate() {
            allowed += usize::from(acl.allowed(black_box(r), actions[(i + round) % actions.len()]));
        }
    }
    let elapsed = start.elapsed();
    let decisions = rounds * resources.len();
    println!(
        "acl: 1000 roles, 10000 grants: build {:?}; {} decisions ({} allowed), {:.0} ns per decision (target <= 10000 ns)",
        build,
        decisions,
        allowed,
        elapsed.as_nanos() as f64 / decisions as f64
    );
}
