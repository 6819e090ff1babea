//! `cargo bench --bench authz`: what the one authorization check costs a request when a
//! caller holds 1,000 roles with 10,000 grants between them (the dev resources plus 100
//! projects in 20 orgs; the roles spread over global, the orgs and the projects with every
//! kind of grant scope; the unprivileged dev user a principal of all of them).
//!
//! Measured in the controller's memory store, per call (µs, p50 and p99):
//! - caller: `ResourceStore::principal` with the ACL cached (the token looked up and its
//!   secret compared, the compiled grants taken from the cache): what every request pays;
//! - caller, cold: the same right after a role changed (the grants compiled again);
//! - decision: one `Acl::allowed` (may this caller authorize-session on this target);
//! - item actions: a target's `authorized_actions` (its 8 actions decided one by one).

use std::time::Instant;

use anyhow::{Context, Result};
use postern_controller::resources::{
    DevSeed, Item, KindId, NewItem, NewRole, NewScope, ResourceStore, Resources, RolePatch,
    SeedStep, DEV_AUTH_METHOD_ID, DEV_USER_ID, GLOBAL_SCOPE_ID,
};
use postern_controller::sessions::system_clock;
use postern_grants::{Resource, ResourceType};

const ORGS: usize = 20;
const PROJECTS_PER_ORG: usize = 5;
const ROLES: usize = 1_000;
const GRANTS_PER_ROLE: usize = 10;

fn percentiles(mut us: Vec<f64>) -> (f64, f64) {
    us.sort_by(f64::total_cmp);
    let at = |q: f64| us[((us.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

fn set(kind: KindId, id: &str, field: &'static str, members: Vec<String>) -> SeedStep {
    SeedStep::SetMembers {
        kind,
        id: id.to_owned(),
        field,
        members,
    }
}

/// The orgs, projects and roles, as seed steps.
fn policy() -> Vec<SeedStep> {
    let mut steps = Vec::new();
    let mut projects = Vec::new();
    for o in 0..ORGS {
        let org = format!("o_bench{o:05}");
        steps.push(SeedStep::Create {
            id: org.clone(),
            new: NewItem::Scope(NewScope {
                scope_id: GLOBAL_SCOPE_ID.into(),
                name: format!("org {o}"),
                description: String::new(),
            }),
        });
        for p in 0..PROJECTS_PER_ORG {
            let project = format!("p_bench{o:02}{p:03}");
            steps.push(SeedStep::Create {
                id: project.clone(),
                new: NewItem::Scope(NewScope {
                    scope_id: org.clone(),
                    name: format!("project {o}.{p}"),
                    description: String::new(),
                }),
            });
            projects.push((org.clone(), project));
        }
    }
    for r in 0..ROLES {
        let (org, project) = &projects[r % projects.len()];
        let (scope, grant_scopes) = match r % 4 {
            0 => (GLOBAL_SCOPE_ID.to_owned(), vec!["this", "descendants"]),
            1 => (org.clone(), vec!["this", "children"]),
            2 => (project.clone(), vec!["this"]),
            _ => (GLOBAL_SCOPE_ID.to_owned(), vec!["children"]),
        };
        let id = format!("r_bench{r:05}");
        steps.push(SeedStep::Create {
            id: id.clone(),
            new: NewItem::Role(NewRole {
                scope_id: scope,
                name: format!("role {r}"),
                description: String::new(),
            }),
        });
        let grants = (0..GRANTS_PER_ROLE)
            .map(|g| match g {
                0 | 5 => format!("ids=ttcp_b{r:04}{g:04};actions=read,authorize-session"),
                1 | 6 => format!("ids=hcst_b{r:04}{g:04};type=host-set;actions=create,list,read"),
                2 => "ids=*;type=target;actions=list".to_owned(),
                3 | 8 => format!("ids=u_b{r:04}{g:04};type=user;actions=read,update"),
                4 => "ids=*;type=session;actions=list,read:self,cancel:self".to_owned(),
                7 => format!("ids=hst_b{r:04}{g:04};actions=read"),
                _ => format!("ids=s_b{r:04}{g:04};actions=read,cancel"),
            })
            .collect();
        steps.push(set(KindId::Role, &id, "grant_strings", grants));
        steps.push(set(
            KindId::Role,
            &id,
            "principal_ids",
            vec![DEV_USER_ID.into()],
        ));
        let grant_scopes = grant_scopes.into_iter().map(str::to_owned).collect();
        steps.push(set(KindId::Role, &id, "grant_scope_ids", grant_scopes));
    }
    steps
}

async fn run() -> Result<()> {
    let resources = Resources::memory_dev(&DevSeed::default(), system_clock()).await?;
    let started = Instant::now();
    resources.apply_steps(policy()).await?;
    let roles = resources.list(KindId::Role, GLOBAL_SCOPE_ID, true).await?;
    let grants: usize = roles
        .iter()
        .map(|role| match role {
            Item::Role(role) => role.grant_strings.len(),
            _ => 0,
        })
        .sum();
    eprintln!(
        "{} roles with {grants} grants stored in {:.1} s",
        roles.len(),
        started.elapsed().as_secs_f64()
    );
    let token = resources
        .authenticate(DEV_AUTH_METHOD_ID, "user", "password")
        .await?
        .token;

    // Cold: every sample right after a role changed.
    let mut cold = Vec::new();
    for n in 0..20u32 {
        let role = resources.get(KindId::Role, "r_bench00000").await?;
        let patch = RolePatch {
            description: Some(format!("change {n}")),
            ..RolePatch::default()
        };
        let patch = postern_controller::resources::ItemPatch::Role(patch);
        resources.update(role.id(), role.version(), patch).await?;
        let call = Instant::now();
        resources.principal(&token).await?;
        cold.push(call.elapsed().as_secs_f64() * 1e6);
    }
    let mut warm = Vec::new();
    for _ in 0..5_000 {
        let call = Instant::now();
        resources.principal(&token).await?;
        warm.push(call.elapsed().as_secs_f64() * 1e6);
    }
    let principal = resources.principal(&token).await?;
    let target = Resource {
        id: "ttcp_b00040000",
        kind: ResourceType::Target,
        scope_id: "p_bench00004",
        parent_scope_id: "o_bench00000",
        pin: "",
    };
    let mut decision = Vec::new();
    let mut allowed = 0usize;
    for _ in 0..100_000 {
        let call = Instant::now();
        allowed += usize::from(principal.acl.allowed(&target, "authorize-session"));
        decision.push(call.elapsed().as_secs_f64() * 1e6);
    }
    let actions = KindId::Target.actions();
    let mut item = Vec::new();
    for _ in 0..100_000 {
        let call = Instant::now();
        let granted = principal.acl.allowed_actions(&target, actions);
        std::hint::black_box(granted);
        item.push(call.elapsed().as_secs_f64() * 1e6);
    }
    println!(
        "one caller, {} roles, {grants} grants; times in µs",
        roles.len()
    );
    println!("{:<22} {:>9} {:>9}", "", "p50", "p99");
    for (name, samples) in [
        ("caller (cached)", warm),
        ("caller (cold)", cold),
        ("decision", decision),
        ("item actions (8)", item),
    ] {
        let (p50, p99) = percentiles(samples);
        println!("{name:<22} {p50:>9.2} {p99:>9.2}");
    }
    std::hint::black_box(allowed);
    Ok(())
}

fn main() -> Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("a runtime")?
        .block_on(run())
}
