//! The authorization token codec: round trips, accepted input forms, and every refusal.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test

use postern_wire::pb::proxy::{ClientHandshake, Handshakecommand};
use postern_wire::pb::targets::{ScopeInfo, SessionAuthorizationData, WorkerInfo};
use postern_wire::token::{self, TokenError};
use proptest::prelude::*;
use prost::Message;

const KEY_BYTE: u8 = 0xA7;

fn full() -> SessionAuthorizationData {
    SessionAuthorizationData {
        session_id: "s_1234567890".into(),
        target_id: "ttcp_1234567890".into(),
        scope: Some(ScopeInfo {
            id: "p_1234567890".into(),
            r#type: "project".into(),
            name: "Generated project scope".into(),
            description: "Provides an initial project scope in Boundary".into(),
            parent_scope_id: "o_1234567890".into(),
        }),
        created_time: Some(prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 123_456_789,
        }),
        r#type: "tcp".into(),
        connection_limit: -1,
        endpoint_port: 22,
        expiration: Some(prost_types::Timestamp {
            seconds: 1_700_028_800,
            nanos: 0,
        }),
        certificate: vec![0x30, 0x82, 0x01, 0x0a, 0x02, 0x01, 0x00],
        private_key: vec![KEY_BYTE; 64],
        host_id: "hst_1234567890".into(),
        endpoint: "tcp://127.0.0.1:22".into(),
        worker_info: vec![
            WorkerInfo {
                address: "127.0.0.1:9202".into(),
            },
            WorkerInfo {
                address: "worker2.example:9202".into(),
            },
        ],
        default_client_port: 2222,
    }
}

fn err(input: &str) -> TokenError {
    match token::decode(input) {
        Ok(data) => panic!("expected an error, decoded {data:?}"),
        Err(error) => error,
    }
}

fn with(change: impl FnOnce(&mut SessionAuthorizationData)) -> String {
    let mut data = full();
    change(&mut data);
    token::encode(&data)
}

#[test]
fn full_message_round_trips() {
    let data = full();
    let text = token::encode(&data);
    assert_eq!(token::decode(&text).unwrap(), data);
    // -1 travels as a 10-byte varint, as Boundary's Go encoder writes it.
    let bytes = bs58::decode(&text).into_vec().unwrap();
    assert_eq!(bytes, data.encode_to_vec());
    let limit_field = [
        0xd0, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ];
    assert!(bytes.windows(limit_field.len()).any(|w| w == limit_field));
}

#[test]
fn leading_zero_bytes_are_leading_ones() {
    assert_eq!(bs58::encode([0u8, 0, 0, 1]).into_string(), "1112");
    assert_eq!(bs58::decode("1112").into_vec().unwrap(), vec![0, 0, 0, 1]);
    assert_eq!(bs58::decode("1").into_vec().unwrap(), vec![0]);
    // A token's first byte is a field tag, never zero; a leading '1' is therefore a zero byte,
    // which protobuf refuses as field number 0.
    let text = token::encode(&full());
    assert!(!text.starts_with('1'));
    assert!(matches!(
        err(&format!("1{text}")),
        TokenError::NotProtobuf { .. }
    ));
}

#[test]
fn accepts_authorize_session_json() {
    let text = token::encode(&full());
    let nested = format!(
        r#"{{"item":{{"session_id":"s_1234567890","authorization_token":"{text}","endpoint_port":22}}}}"#
    );
    assert_eq!(token::decode(&nested).unwrap(), full());
    let flat = format!(r#"{{"session_id":"s_1234567890","authorization_token":"{text}"}}"#);
    assert_eq!(token::decode(&flat).unwrap(), full());
    let pretty =
        format!("\n  {{\n  \"item\": {{\n    \"authorization_token\": \" {text}\\n\"\n  }}\n}}\n");
    assert_eq!(token::decode(&pretty).unwrap(), full());
}

#[test]
fn trims_whitespace_and_newlines() {
    let text = token::encode(&full());
    assert_eq!(token::decode(&format!("  {text}\n")).unwrap(), full());
    assert_eq!(token::decode(&format!("\t{text}\r\n")).unwrap(), full());
}

#[test]
fn refuses_empty_input() {
    assert!(matches!(err(""), TokenError::Empty));
    assert!(matches!(err(" \n\t"), TokenError::Empty));
    assert!(matches!(
        err(r#"{"authorization_token":"  "}"#),
        TokenError::Empty
    ));
    assert_eq!(
        TokenError::Empty.to_string(),
        "authorization token is empty"
    );
}

#[test]
fn names_a_bad_base58_character_and_its_position() {
    let mut text = token::encode(&full());
    text.replace_range(11..12, "0");
    let error = err(&text);
    assert!(matches!(
        error,
        TokenError::InvalidBase58 {
            character: '0',
            position: 12
        }
    ));
    assert_eq!(
        error.to_string(),
        "authorization token is not valid base58: character '0' at position 12"
    );
    assert!(!error.to_string().contains(&text[..11]));
    for (input, character, position) in [("Il", 'I', 1), ("2O", 'O', 2), ("ab-c", '-', 3)] {
        let error = err(input);
        assert!(
            matches!(error, TokenError::InvalidBase58 { character: c, position: p } if c == character && p == position),
            "{input}: {error:?}"
        );
    }
    // Positions count characters, not bytes.
    assert!(matches!(
        err("2é"),
        TokenError::InvalidBase58 {
            character: 'é',
            position: 2
        }
    ));
    assert!(matches!(
        err("23 45"),
        TokenError::InvalidBase58 {
            character: ' ',
            position: 3
        }
    ));
}

#[test]
fn refuses_bad_json() {
    let error = err(r#"{"item": {"authorization_token": "#);
    assert!(matches!(error, TokenError::JsonSyntax { .. }), "{error:?}");
    assert!(error
        .to_string()
        .starts_with("authorize-session JSON does not parse: "));
    for json in [
        r#"{}"#,
        r#"{"item":{}}"#,
        r#"{"item":{"authorization_token":42}}"#,
        r#"{"authorization_token":null}"#,
        r#"{"items":[{"authorization_token":"2"}]}"#,
    ] {
        assert!(matches!(err(json), TokenError::JsonMissingToken), "{json}");
    }
}

#[test]
fn refuses_bytes_that_are_not_the_message() {
    // Field 10 as a varint: wrong wire type for a string.
    let error = err(&bs58::encode([0x50, 0x01]).into_string());
    assert!(matches!(error, TokenError::NotProtobuf { .. }), "{error:?}");
    assert!(error
        .to_string()
        .starts_with("authorization token does not hold a session authorization: "));
    // Truncated: a length prefix longer than what follows.
    let error = err(&bs58::encode([0x52, 0x20, b's']).into_string());
    assert!(matches!(error, TokenError::NotProtobuf { .. }), "{error:?}");
}

#[test]
fn refuses_incomplete_sessions() {
    let cases: [(String, &str); 8] = [
        (
            with(|d| d.session_id.clear()),
            "authorization token has no session id",
        ),
        (
            with(|d| d.session_id = "x_1234567890".into()),
            "authorization token's session id \"x_1234567890\" does not start with \"s_\"",
        ),
        (
            with(|d| d.certificate.clear()),
            "authorization token has no session certificate",
        ),
        (
            with(|d| d.private_key.clear()),
            "authorization token has no private key",
        ),
        (
            with(|d| d.private_key.truncate(32)),
            "authorization token's private key is 32 bytes, expected 64",
        ),
        (
            with(|d| d.private_key.push(0)),
            "authorization token's private key is 65 bytes, expected 64",
        ),
        (
            with(|d| d.worker_info.clear()),
            "authorization token names no worker",
        ),
        (
            with(|d| d.worker_info[0].address.clear()),
            "authorization token's first worker has an empty address",
        ),
    ];
    for (text, message) in &cases {
        let error = err(text);
        assert_eq!(&error.to_string(), message);
        assert!(!format!("{error:?}").contains(text.as_str()));
    }
    assert!(matches!(err(&cases[0].0), TokenError::MissingSessionId));
    assert!(matches!(err(&cases[1].0), TokenError::BadSessionId { .. }));
    assert!(matches!(err(&cases[2].0), TokenError::MissingCertificate));
    assert!(matches!(err(&cases[3].0), TokenError::MissingPrivateKey));
    assert!(matches!(
        err(&cases[4].0),
        TokenError::PrivateKeyLength { len: 32 }
    ));
    assert!(matches!(err(&cases[6].0), TokenError::NoWorker));
    assert!(matches!(err(&cases[7].0), TokenError::EmptyWorkerAddress));
    // Only the first worker is the one a client dials.
    let second_empty = with(|d| d.worker_info[1].address.clear());
    assert!(token::decode(&second_empty).is_ok());
}

#[test]
fn debug_masks_the_private_key() {
    let data = full();
    let debug = format!("{data:?}");
    assert!(debug.contains("private_key: ***"), "{debug}");
    assert!(debug.contains("certificate: <7 bytes>"), "{debug}");
    assert!(
        debug.contains("s_1234567890") && debug.contains("127.0.0.1:9202"),
        "{debug}"
    );
    assert!(debug.contains("connection_limit: -1"), "{debug}");
    assert!(!debug.contains(&KEY_BYTE.to_string()), "{debug}");
    assert!(!debug.contains(&format!("{:?}", data.private_key)));
    let pretty = format!("{data:#?}");
    assert!(!pretty.contains(&KEY_BYTE.to_string()), "{pretty}");
}

#[test]
fn debug_masks_the_tofu_token() {
    let handshake = ClientHandshake {
        tofu_token: "Zq3TofuSecretAbc7890".into(),
        command: Handshakecommand::SessionCancel as i32,
    };
    let debug = format!("{handshake:?}");
    assert_eq!(
        debug,
        "ClientHandshake { tofu_token: ***, command: SessionCancel }"
    );
    let unknown = ClientHandshake {
        tofu_token: "Zq3TofuSecretAbc7890".into(),
        command: 7,
    };
    assert_eq!(
        format!("{unknown:?}"),
        "ClientHandshake { tofu_token: ***, command: 7 }"
    );
}

fn timestamp() -> impl Strategy<Value = Option<prost_types::Timestamp>> {
    proptest::option::of(
        (any::<i64>(), any::<i32>())
            .prop_map(|(seconds, nanos)| prost_types::Timestamp { seconds, nanos }),
    )
}

fn valid_message() -> impl Strategy<Value = SessionAuthorizationData> {
    let scope = proptest::option::of((".*", ".*", ".*", ".*", ".*").prop_map(
        |(id, r#type, name, description, parent)| ScopeInfo {
            id,
            r#type,
            name,
            description,
            parent_scope_id: parent,
        },
    ));
    let workers = (".+", proptest::collection::vec(".*", 0..3)).prop_map(|(first, rest)| {
        std::iter::once(first)
            .chain(rest)
            .map(|address| WorkerInfo { address })
            .collect()
    });
    (
        (
            "s_[0-9A-Za-z]{10}",
            ".*",
            scope,
            timestamp(),
            ".*",
            any::<i32>(),
            any::<u32>(),
        ),
        (timestamp(), proptest::collection::vec(any::<u8>(), 1..600)),
        (
            proptest::collection::vec(any::<u8>(), 64),
            ".*",
            ".*",
            workers,
            any::<u32>(),
        ),
    )
        .prop_map(|(head, (expiration, certificate), tail)| {
            let (session_id, target_id, scope, created_time, r#type, connection_limit, port) = head;
            let (private_key, host_id, endpoint, worker_info, default_client_port) = tail;
            SessionAuthorizationData {
                session_id,
                target_id,
                scope,
                created_time,
                r#type,
                connection_limit,
                endpoint_port: port,
                expiration,
                certificate,
                private_key,
                host_id,
                endpoint,
                worker_info,
                default_client_port,
            }
        })
}

proptest! {
    #[test]
    fn arbitrary_strings_never_panic(input in any::<String>()) {
        let _ = token::decode(&input);
    }

    #[test]
    fn arbitrary_base58_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = bs58::encode(&bytes).into_string();
        let _ = token::decode(&text);
        let _ = token::decode(&format!(r#"{{"item":{{"authorization_token":"{text}"}}}}"#));
    }

    #[test]
    fn valid_messages_round_trip(data in valid_message()) {
        let text = token::encode(&data);
        prop_assert_eq!(token::decode(&text).unwrap(), data);
    }
}
