//! `cargo bench --bench store`: the controller's state at scale, through its HTTP API, for
//! each backend in one run (memory, SQLite, PostgreSQL).
//!
//! Each backend starts with `--sessions` sessions stored (default 100,000; 90% terminated;
//! 1% of them, all live, the unprivileged dev user's), then measures, as the admin over HTTP:
//! - list: `GET /v1/sessions?scope_id=<project>&page_size=100` (the first page), p50/p99;
//! - filtered: the same with `filter="/item/user_id" == "u_0987654321"`, p50/p99;
//! - own: the same page as the unprivileged dev user, whose grants (`read:self`) let them see
//!   only their own 1% of the sessions, p50/p99;
//! - authorize: `POST /v1/targets/ttcp_1234567890:authorize-session` (certificate minted and
//!   the session stored), one client after another (p50, p99) and four clients at once
//!   (per second).
//!
//! After storing the history, SQL backends get `Db::optimize` (ANALYZE; on SQLite the WAL
//! checkpointed), as a database in service would have been.
//!
//! PostgreSQL runs in a throwaway cluster (Debian's `initdb`/`pg_ctl`); without them its row
//! says so. `-- --help` lists the options.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, bail, Context, Result};
use postern_authority::SessionStatus;
use postern_controller::api::{router, ApiState};
use postern_controller::resources::{
    dev_seed, DevSeed, ResourceStore, Resources, DEV_AUTH_METHOD_ID, DEV_PROJECT_ID, DEV_TARGET_ID,
    DEV_USER_ID,
};
use postern_controller::sessions::conformance::dev_target_session;
use postern_controller::sessions::{
    system_clock, MemorySessions, SessionRecord, SessionRecords, SessionState, SessionStore,
    TerminationReason, DEFAULT_MAX_DURATION,
};
use postern_controller_client::api::ApiClient;
use postern_controller_client::config::TokenSecret;
use postern_store::cluster::Cluster;
use postern_store::{Db, SealingKey, SqlResources, SqlSessions};

const PAGE: &str = "100";
const FILTER: &str = r#""/item/user_id" == "u_0987654321""#;
const SEED_BATCH: usize = 5_000;

struct Options {
    sessions: usize,
    seconds: f64,
    samples: usize,
    backends: Vec<String>,
}

fn options() -> Result<Options> {
    let mut options = Options {
        sessions: 100_000,
        seconds: 3.0,
        samples: 50,
        backends: vec!["memory".into(), "sqlite".into(), "postgres".into()],
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| anyhow!("{arg} needs a value"));
        match arg.as_str() {
            "--sessions" => options.sessions = value()?.parse()?,
            "--seconds" => options.seconds = value()?.parse()?,
            "--samples" => options.samples = value()?.parse()?,
            "--backends" => options.backends = value()?.split(',').map(String::from).collect(),
            "--bench" => {}
            "--help" | "-h" => {
                println!(
                    "cargo bench --bench store -- [--sessions N (100000)] [--seconds S (3)] \
                     [--samples N (50)] [--backends memory,sqlite,postgres]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown option {other} (try --help)"),
        }
    }
    Ok(options)
}

/// A backend ready to serve: its stores, and what must live as long as they do.
struct Backend {
    resources: Arc<dyn ResourceStore>,
    sessions: SessionStore,
    sql: Option<(SqlSessions, Db)>,
    memory: Option<Arc<MemorySessions>>,
    _keep: Vec<Box<dyn std::any::Any + Send>>,
}

async fn backend(name: &str) -> Result<Backend> {
    let clock = system_clock();
    let seed = dev_seed(&DevSeed::default());
    match name {
        "memory" => {
            let records = Arc::new(MemorySessions::new());
            let resources = Resources::memory(clock.clone()).await?;
            resources.apply_seed(seed).await?;
            Ok(Backend {
                resources: Arc::new(resources),
                sessions: SessionStore::with_records(records.clone(), clock),
                sql: None,
                memory: Some(records),
                _keep: Vec::new(),
            })
        }
        "sqlite" | "postgres" => {
            let mut keep: Vec<Box<dyn std::any::Any + Send>> = Vec::new();
            let url = if name == "sqlite" {
                let dir = tempfile::tempdir()?;
                let url = format!("sqlite://{}", dir.path().join("bench.db").display());
                keep.push(Box::new(dir));
                url
            } else {
                let cluster = tokio::task::spawn_blocking(Cluster::start)
                    .await?
                    .map_err(|e| anyhow!("no PostgreSQL: {e}"))?;
                let url = cluster.url();
                keep.push(Box::new(cluster));
                url
            };
            let db = Db::connect(&url).await?;
            db.migrate().await?;
            let (key, bytes) = SealingKey::generate()?;
            db.check_key(&key).await?;
            let resources =
                Resources::open(Arc::new(SqlResources::new(db.clone())), clock.clone()).await?;
            resources.apply_seed(seed).await?;
            let sessions = (SqlSessions::new(db.clone(), key), db.clone());
            let store = SessionStore::with_records(
                Arc::new(SqlSessions::new(db, SealingKey::from_bytes(&bytes)?)),
                clock,
            );
            Ok(Backend {
                resources: Arc::new(resources),
                sessions: store,
                sql: Some(sessions),
                memory: None,
                _keep: keep,
            })
        }
        other => bail!("unknown backend {other}"),
    }
}

/// `count` real sessions (each with its own certificate, minted by a scratch store), 90%
/// terminated, 1% the dev user's (live ones), created a millisecond apart (the newest last).
async fn history(count: usize) -> Result<Vec<SessionRecord>> {
    let scratch = Arc::new(MemorySessions::new());
    let store = SessionStore::with_records(scratch.clone(), system_clock());
    let start = SystemTime::now() - Duration::from_millis(count as u64 + 1_000);
    let mut records = Vec::with_capacity(count);
    for n in 0..count {
        let new = dev_target_session(
            "tcp://127.0.0.1:22",
            22,
            vec!["127.0.0.1:9202".into()],
            1,
            DEFAULT_MAX_DURATION,
        );
        let id = store.authorize_session(new).await?.session.id;
        let mut record = None;
        scratch
            .read(&id, &mut |stored| record = Some(stored.clone()))
            .await?;
        let mut record = record.context("the scratch store lost a session")?;
        let session = &mut record.session;
        session.created_time = start + Duration::from_millis(n as u64);
        session.updated_time = session.created_time;
        session.states[0].start_time = session.created_time;
        // Live ones (every tenth is live).
        if n % 100 == 50 {
            session.user_id = DEV_USER_ID.into();
        }
        if n % 10 != 0 {
            session.status = SessionStatus::Terminated;
            session.termination_reason = Some(TerminationReason::ClosedByEndUser);
            session.states[0].end_time = Some(session.created_time);
            session.states.insert(
                0,
                SessionState {
                    status: SessionStatus::Terminated,
                    start_time: session.created_time,
                    end_time: None,
                },
            );
        }
        records.push(record);
    }
    Ok(records)
}

async fn store_history(backend: &Backend, history: &[SessionRecord]) -> Result<()> {
    for batch in history.chunks(SEED_BATCH) {
        if let Some((sql, _)) = &backend.sql {
            sql.insert_batch(batch).await?;
        } else if let Some(memory) = &backend.memory {
            for record in batch {
                memory.insert(record.clone()).await?;
            }
        }
    }
    // As a database in service would be: statistics fresh, the write-ahead log folded in.
    if let Some((_, db)) = &backend.sql {
        db.optimize().await?;
    }
    Ok(())
}

struct Row {
    list: (f64, f64),
    filtered: (f64, f64),
    own: (f64, f64),
    authorize: (f64, f64),
    authorize_rate_one: f64,
    authorize_rate_four: f64,
}

fn percentiles(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

fn timed(samples: usize, mut call: impl FnMut() -> Result<()>) -> Result<(f64, f64)> {
    let mut ms = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        call()?;
        ms.push(started.elapsed().as_secs_f64() * 1e3);
    }
    Ok(percentiles(ms))
}

/// Authorizations by `clients` threads for `seconds`: latencies and the rate.
fn authorize_for(addr: &str, token: &str, clients: usize, seconds: f64) -> Result<(Vec<f64>, f64)> {
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(seconds);
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let client = ApiClient::new(addr, Some(TokenSecret::new(token)?))?;
            Ok(std::thread::spawn(move || -> Result<Vec<f64>> {
                let mut ms = Vec::new();
                let path = format!("targets/{DEV_TARGET_ID}:authorize-session");
                while Instant::now() < until {
                    let call = Instant::now();
                    client.post("authorize-session", &path, &serde_json::json!({}))?;
                    ms.push(call.elapsed().as_secs_f64() * 1e3);
                }
                Ok(ms)
            }))
        })
        .collect::<Result<_>>()?;
    let mut all = Vec::new();
    for thread in threads {
        all.extend(thread.join().map_err(|_| anyhow!("a client panicked"))??);
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    Ok((all, rate))
}

/// Logs in with the dev auth method; the token.
fn log_in(addr: &str, login_name: &str) -> Result<String> {
    let anon = ApiClient::new(addr, None)?;
    let login = anon.post(
        "authenticate",
        &format!("auth-methods/{DEV_AUTH_METHOD_ID}:authenticate"),
        &serde_json::json!({"attributes": {"login_name": login_name, "password": "password"}}),
    )?;
    let token = login.body["attributes"]["token"]
        .as_str()
        .context("no token in the login reply")?;
    Ok(token.to_owned())
}

fn measure(addr: &str, options: &Options) -> Result<Row> {
    let token = log_in(addr, "admin")?;
    let admin = ApiClient::new(addr, Some(TokenSecret::new(&token)?))?;
    let user = ApiClient::new(addr, Some(TokenSecret::new(&log_in(addr, "user")?)?))?;
    let list = |client: &ApiClient, filter: Option<&str>| {
        let mut query = vec![
            ("scope_id", DEV_PROJECT_ID.to_owned()),
            ("page_size", PAGE.to_owned()),
        ];
        if let Some(filter) = filter {
            query.push(("filter", filter.to_owned()));
        }
        let page = client.get("list", "sessions", &query)?;
        let items = page.body["items"].as_array().map_or(0, Vec::len);
        if items == 0 {
            bail!("an empty page: {}", page.body);
        }
        Ok(())
    };
    let list_ms = timed(options.samples, || list(&admin, None))?;
    let filtered_ms = timed(options.samples, || list(&admin, Some(FILTER)))?;
    let own_ms = timed(options.samples, || list(&user, None))?;
    let (one, rate_one) = authorize_for(addr, &token, 1, options.seconds)?;
    let (_, rate_four) = authorize_for(addr, &token, 4, options.seconds)?;
    Ok(Row {
        list: list_ms,
        filtered: filtered_ms,
        own: own_ms,
        authorize: percentiles(one),
        authorize_rate_one: rate_one,
        authorize_rate_four: rate_four,
    })
}

fn run(name: &str, options: &Options, history: &[SessionRecord]) -> Result<Row> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (backend, addr) = runtime.block_on(async {
        let backend = backend(name).await?;
        let started = Instant::now();
        store_history(&backend, history).await?;
        eprintln!(
            "{name}: {} sessions stored in {:.1} s",
            options.sessions,
            started.elapsed().as_secs_f64()
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = ApiState::new(
            backend.resources.clone(),
            backend.sessions.clone(),
            postern_controller::workers::WorkerPool::fixed(vec!["127.0.0.1:9202".into()]),
        );
        let api = router(state).into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, api).await });
        anyhow::Ok((backend, addr))
    })?;
    let row = measure(&format!("http://{addr}"), options);
    drop(backend);
    runtime.shutdown_timeout(Duration::from_secs(5));
    row
}

fn main() -> Result<()> {
    let options = options()?;
    let started = Instant::now();
    let history = tokio::runtime::Runtime::new()?.block_on(history(options.sessions))?;
    eprintln!(
        "{} sessions minted in {:.1} s",
        options.sessions,
        started.elapsed().as_secs_f64()
    );
    println!(
        "{} sessions stored (90% terminated); list = first page of {PAGE}; times in ms\n",
        options.sessions
    );
    println!(
        "{:<9} {:>9} {:>9} {:>13} {:>13} {:>8} {:>8} {:>14} {:>14} {:>13} {:>15}",
        "backend",
        "list p50",
        "list p99",
        "filtered p50",
        "filtered p99",
        "own p50",
        "own p99",
        "authorize p50",
        "authorize p99",
        "authorize/s",
        "authorize/s x4"
    );
    for name in &options.backends {
        match run(name, &options, &history) {
            Ok(row) => println!(
                "{name:<9} {:>9.2} {:>9.2} {:>13.2} {:>13.2} {:>8.2} {:>8.2} {:>14.2} {:>14.2} {:>13.0} {:>15.0}",
                row.list.0,
                row.list.1,
                row.filtered.0,
                row.filtered.1,
                row.own.0,
                row.own.1,
                row.authorize.0,
                row.authorize.1,
                row.authorize_rate_one,
                row.authorize_rate_four
            ),
            Err(e) => println!("{name:<9} not measured: {e:#}"),
        }
    }
    Ok(())
}
