//! The systemd units in `dist/systemd/`: `systemd-analyze verify` accepts each without a
//! word about it, each keeps what `postern server` relies on (`Type=notify`, the hardening,
//! restarts, a descriptor limit for 10,000+ connections) and runs the matching example
//! config, and the three differ only in their description and command line.

#![allow(clippy::unwrap_used)] // a test says "this must hold" with unwrap

use std::path::{Path, PathBuf};
use std::process::Command;

/// Each unit with the example config (in `dist/`) its ExecStart names.
const UNITS: [(&str, &str); 3] = [
    ("postern-controller.service", "controller.toml"),
    ("postern-worker.service", "worker.toml"),
    ("postern-server.service", "server.toml"),
];

/// Where the units expect the binary.
const INSTALLED_BINARY: &str = "/usr/local/bin/postern";

/// `data_dir` when a config leaves it out.
const DEFAULT_DATA_DIR: &str = "/var/lib/postern";

fn dist() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dist")
}

/// A unit file's settings, `(section, key, value)` in file order.
struct Unit {
    name: &'static str,
    text: String,
    settings: Vec<(String, String, String)>,
}

impl Unit {
    fn read(name: &'static str) -> Unit {
        let text = std::fs::read_to_string(dist().join("systemd").join(name)).unwrap();
        let mut settings = Vec::new();
        let mut section = String::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            assert!(
                !line.ends_with('\\'),
                "{name}:{}: continued lines are not read here",
                number + 1
            );
            if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = header.to_owned();
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("{name}:{}: not KEY=VALUE: {line}", number + 1));
            settings.push((section.clone(), key.trim().into(), value.trim().into()));
        }
        Unit {
            name,
            text,
            settings,
        }
    }

    /// The value of `key` in [Service], which must be set exactly once (a second line would
    /// override or extend the first, and a reader would miss it).
    fn service(&self, key: &str) -> &str {
        let values: Vec<&str> = self
            .settings
            .iter()
            .filter(|(section, k, _)| section == "Service" && k == key)
            .map(|(_, _, value)| value.as_str())
            .collect();
        assert_eq!(
            values.len(),
            1,
            "{}: [Service] {key}= must be set exactly once, found {values:?}",
            self.name
        );
        values[0]
    }

    fn has(&self, key: &str) -> bool {
        self.settings.iter().any(|(_, k, _)| k == key)
    }
}

/// What `systemd-analyze verify` says about `unit` (a path to a unit file), and whether it
/// exited 0. A line that starts with another unit's name and does not name `unit` is about a
/// host unit pulled in through After=/Wants= (network-online.target, say), the host's
/// business; every other line counts.
fn verify(unit: &Path) -> (bool, Vec<String>) {
    let output = match Command::new("systemd-analyze")
        .arg("verify")
        .arg(unit)
        .output()
    {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "systemd-analyze is not installed: install Debian's `systemd` package \
             (apt-get install --no-install-recommends systemd; tests/run does it)"
        ),
        Err(e) => panic!("cannot run systemd-analyze: {e}"),
    };
    let name = unit.file_name().unwrap().to_str().unwrap();
    let lines = String::from_utf8_lossy(&output.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&output.stderr).lines())
        .filter(|line| {
            let before_colon = line.split(':').next().unwrap_or_default();
            !is_unit_name(before_colon) || line.contains(name)
        })
        .map(str::to_owned)
        .collect();
    (output.status.success(), lines)
}

fn is_unit_name(text: &str) -> bool {
    [
        ".service",
        ".socket",
        ".target",
        ".mount",
        ".automount",
        ".swap",
        ".path",
        ".timer",
        ".slice",
        ".scope",
        ".device",
    ]
    .iter()
    .any(|suffix| text.ends_with(suffix))
}

/// `unit` copied into `dir` under its own name, with ExecStart running the binary this build
/// made instead of /usr/local/bin/postern. verify refuses an ExecStart whose program does not
/// exist ("Command ... is not executable"); pointing it at the built binary keeps that check
/// meaningful and the rest of the command line as written, where installing a binary in
/// /usr/local/bin would change the machine, and `verify --root` would hide the host's units
/// (network-online.target, multi-user.target) the unit refers to.
fn with_built_binary(unit: &Unit, dir: &Path) -> PathBuf {
    let built = env!("CARGO_BIN_EXE_postern");
    // A '%' would be a specifier, a '"' would end the quoting.
    assert!(
        !built.contains(['%', '"']),
        "cannot put {built} in a unit file"
    );
    let prefix = format!("ExecStart={INSTALLED_BINARY} ");
    let text: String = unit
        .text
        .lines()
        .map(|line| match line.strip_prefix(&prefix) {
            Some(arguments) => format!("ExecStart=\"{built}\" {arguments}\n"),
            None => format!("{line}\n"),
        })
        .collect();
    assert_ne!(text, unit.text, "{}: no ExecStart to rewrite", unit.name);
    let path = dir.join(unit.name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn systemd_analyze_verify_accepts_each_unit() {
    let dir = tempfile::tempdir().unwrap();
    for (name, _) in UNITS {
        let unit = with_built_binary(&Unit::read(name), dir.path());
        let (success, lines) = verify(&unit);
        assert!(
            success && lines.is_empty(),
            "systemd-analyze verify {name}: exit {}, said:\n{}",
            if success { "0" } else { "non-zero" },
            lines.join("\n")
        );
    }
}

/// The check above can fail: verify exits 0 on a misspelled key or a bad value and only says
/// so, which is why the check reads what it says.
#[test]
fn systemd_analyze_verify_reports_a_broken_unit() {
    let dir = tempfile::tempdir().unwrap();
    let unit = Unit::read("postern-server.service");
    let path = with_built_binary(&unit, dir.path());
    let good = std::fs::read_to_string(&path).unwrap();
    for (from, to, said) in [
        (
            "NoNewPrivileges=yes",
            "NoNewPrivilege=yes",
            "Unknown key 'NoNewPrivilege'",
        ),
        ("Type=notify", "Type=notfy", "notfy"),
    ] {
        assert!(good.contains(&format!("\n{from}\n")));
        std::fs::write(
            &path,
            good.replace(&format!("\n{from}\n"), &format!("\n{to}\n")),
        )
        .unwrap();
        let (_, lines) = verify(&path);
        assert!(
            lines.iter().any(|line| line.contains(said)),
            "{to}: systemd-analyze verify did not say {said:?}, it said: {lines:?}"
        );
    }
}

#[test]
fn each_unit_keeps_what_the_service_relies_on() {
    for (name, config) in UNITS {
        let unit = Unit::read(name);
        let required = [
            // postern sends READY=1 and STOPPING=1 itself.
            ("Type", "notify"),
            ("User", "postern"),
            ("Group", "postern"),
            ("StateDirectory", "postern"),
            ("Restart", "on-failure"),
            ("UMask", "0077"),
            ("NoNewPrivileges", "yes"),
            ("ProtectSystem", "strict"),
            ("PrivateTmp", "yes"),
            ("ProtectHome", "yes"),
            ("CapabilityBoundingSet", ""),
            ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
        ];
        for (key, value) in required {
            assert_eq!(unit.service(key), value, "{name}: [Service] {key}=");
        }
        // Two descriptors per proxied connection, for 10,000 connections and more.
        let files: u64 = unit.service("LimitNOFILE").parse().unwrap();
        assert!(files >= 20_000, "{name}: LimitNOFILE={files} is too low");
        // Files in data_dir must keep one owner across restarts.
        assert!(!unit.has("DynamicUser"), "{name}: DynamicUser=");
        // `systemctl reload` is SIGHUP, which postern server handles (re-reads its file).
        assert_eq!(
            unit.service("ExecReload"),
            "/bin/kill -HUP $MAINPID",
            "{name}: ExecReload="
        );
        // postern sends WATCHDOG=1 at half the interval when the unit asks for it.
        let watchdog: u64 = unit.service("WatchdogSec").parse().unwrap();
        assert!(
            watchdog >= 10,
            "{name}: WatchdogSec={watchdog} leaves too little slack"
        );

        let command = format!("{INSTALLED_BINARY} server -config /etc/postern/{config}");
        assert_eq!(unit.service("ExecStart"), command, "{name}: ExecStart=");
        // Under ProtectSystem=strict only the state directory is writable: the example config
        // must keep its data there.
        let example: toml::Table = std::fs::read_to_string(dist().join(config))
            .unwrap()
            .parse()
            .unwrap();
        let data_dir = example
            .get("data_dir")
            .map_or(DEFAULT_DATA_DIR, |dir| dir.as_str().unwrap());
        assert_eq!(
            data_dir,
            format!("/var/lib/{}", unit.service("StateDirectory")),
            "dist/{config}: data_dir is not {name}'s StateDirectory"
        );
    }
}

#[test]
fn the_units_differ_only_in_description_and_command() {
    let differing = ["Description", "ExecStart"];
    // Order within a unit aside: each key the test cares about is set once (see `service`).
    let shared = |name| {
        let mut settings: Vec<_> = Unit::read(name)
            .settings
            .into_iter()
            .filter(|(_, key, _)| !differing.contains(&key.as_str()))
            .collect();
        settings.sort();
        settings
    };
    let (first, _) = UNITS[0];
    let expected = shared(first);
    for (name, _) in &UNITS[1..] {
        let found = shared(name);
        let missing = |a: &[(String, String, String)], b: &[(String, String, String)]| {
            a.iter()
                .filter(|s| !b.contains(s))
                .cloned()
                .collect::<Vec<_>>()
        };
        assert!(
            found == expected,
            "{name} and {first} differ: only in {name}: {:?}; only in {first}: {:?}",
            missing(&found, &expected),
            missing(&expected, &found)
        );
    }
}

/// `postern tunnels` as a systemd user unit: `verify --user` accepts it without a word, and it
/// keeps what the daemon relies on (READY=1/RELOADING=1/STOPPING=1 from the process, SIGHUP
/// for a reload, 64 for a bad file).
#[test]
fn the_tunnels_user_unit_verifies_and_keeps_what_the_daemon_relies_on() {
    let unit = Unit::read("postern-tunnels.service");
    for (key, value) in [
        ("Type", "notify"),
        ("ExecStart", "/usr/local/bin/postern tunnels run"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ("Restart", "on-failure"),
        ("RestartPreventExitStatus", "64"),
    ] {
        assert_eq!(
            unit.service(key),
            value,
            "postern-tunnels.service: [Service] {key}="
        );
    }
    // A user unit: it runs as the user who enabled it.
    assert!(!unit.has("User"), "a user unit names no User=");
    let dir = tempfile::tempdir().unwrap();
    let path = with_built_binary(&unit, dir.path());
    // The user manager's verify wants a runtime directory, as a login session has.
    let runtime = tempfile::tempdir().unwrap();
    let output = Command::new("systemd-analyze")
        .args(["verify", "--user"])
        .arg(&path)
        .env("XDG_RUNTIME_DIR", runtime.path())
        .output()
        .expect("systemd-analyze is installed (see systemd_analyze_verify_accepts_each_unit)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let about_it: Vec<&str> = said
        .lines()
        .filter(|line| {
            let before_colon = line.split(':').next().unwrap_or_default();
            !is_unit_name(before_colon) || line.contains("postern-tunnels.service")
        })
        .collect();
    assert!(
        output.status.success() && about_it.is_empty(),
        "systemd-analyze verify --user postern-tunnels.service: {about_it:?}"
    );
}
