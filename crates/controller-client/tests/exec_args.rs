//! `connect -exec` and `connect ssh`: the proxy's address substituted into the command.

// Test helpers outside #[test] fns: unwrap() is how a test says "this must hold" (clippy.toml).
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;

use postern_controller_client::commands::connect::{proxied_env, ssh_command, substitute};
use postern_wire::pb::targets::SessionAuthorizationData;

fn proxy() -> SocketAddr {
    "127.0.0.1:61991".parse().unwrap()
}

#[test]
fn placeholders_become_the_proxys_port_ip_and_address() {
    assert_eq!(substitute("{{boundary.port}}", proxy()), "61991");
    assert_eq!(substitute("{{boundary.ip}}", proxy()), "127.0.0.1");
    assert_eq!(substitute("{{boundary.addr}}", proxy()), "127.0.0.1:61991");
    assert_eq!(
        substitute("http://{{boundary.addr}}/x?p={{boundary.port}}", proxy()),
        "http://127.0.0.1:61991/x?p=61991"
    );
}

#[test]
fn spaces_inside_the_braces_are_allowed() {
    for arg in [
        "{{ boundary.port}}",
        "{{boundary.port }}",
        "{{ boundary.port }}",
        "{{  boundary.port\t}}",
    ] {
        assert_eq!(substitute(arg, proxy()), "61991", "{arg}");
    }
}

#[test]
fn other_text_and_unknown_placeholders_stay() {
    assert_eq!(substitute("-p", proxy()), "-p");
    assert_eq!(
        substitute("{{boundary.user}}", proxy()),
        "{{boundary.user}}"
    );
    assert_eq!(substitute("{{ unclosed", proxy()), "{{ unclosed");
    assert_eq!(substitute("a}}b{{", proxy()), "a}}b{{");
    assert_eq!(substitute("{{{{boundary.ip}}}}", proxy()), "{{127.0.0.1}}");
}

#[test]
fn ipv6_addresses_are_bracketed_only_in_addr() {
    let v6: SocketAddr = "[::1]:4000".parse().unwrap();
    assert_eq!(
        substitute("{{boundary.ip}} {{boundary.addr}}", v6),
        "::1 [::1]:4000"
    );
    let env = proxied_env(v6);
    assert_eq!(env[0], ("BOUNDARY_PROXIED_PORT", "4000".to_owned()));
    assert_eq!(env[1], ("BOUNDARY_PROXIED_IP", "::1".to_owned()));
    assert_eq!(env[2], ("BOUNDARY_PROXIED_ADDR", "[::1]:4000".to_owned()));
}

#[test]
fn ssh_gets_the_port_the_host_key_alias_the_user_then_the_extra_args() {
    let token = SessionAuthorizationData {
        target_id: "ttcp_1234567890".into(),
        host_id: "hst_1234567890".into(),
        ..Default::default()
    };
    let extra = [
        "-o".to_owned(),
        "BatchMode=yes".to_owned(),
        "uptime".to_owned(),
    ];
    let command = ssh_command(&token, Some("ubuntu"), &extra);
    assert_eq!(command.program, "ssh");
    let args: Vec<String> = command
        .args
        .iter()
        .map(|a| substitute(a, proxy()))
        .collect();
    assert_eq!(
        args,
        [
            "-p",
            "61991",
            "-o",
            "HostKeyAlias=hst_1234567890",
            "-l",
            "ubuntu",
            "127.0.0.1",
            "-o",
            "BatchMode=yes",
            "uptime"
        ]
    );

    // An address-only target has no host: the target id is the alias.
    let direct = SessionAuthorizationData {
        target_id: "ttcp_1".into(),
        ..Default::default()
    };
    let args = ssh_command(&direct, None, &[]).args;
    assert_eq!(
        args,
        [
            "-p",
            "{{boundary.port}}",
            "-o",
            "HostKeyAlias=ttcp_1",
            "{{boundary.ip}}"
        ]
    );
}

/// Every sequence of up to three fragments (placeholders, braces, plain text): known
/// placeholders are replaced, everything else is kept byte for byte.
#[test]
fn fragments_combine_without_surprises() {
    let fragments = [
        ("{{boundary.port}}", "61991"),
        ("{{ boundary.ip }}", "127.0.0.1"),
        ("{{boundary.addr}}", "127.0.0.1:61991"),
        ("{{", "{{"),
        ("}}", "}}"),
        ("x", "x"),
        ("", ""),
        ("é", "é"),
    ];
    for a in &fragments {
        for b in &fragments {
            for c in &fragments {
                let arg = format!("{}{}{}", a.0, b.0, c.0);
                let expected = format!("{}{}{}", a.1, b.1, c.1);
                assert_eq!(substitute(&arg, proxy()), expected, "{arg:?}");
            }
        }
    }
}
