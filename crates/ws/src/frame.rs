//! Frame headers, masking and Close payloads (RFC 6455 section 5), as pure functions.

use super::{CloseFrame, Role, WsError};

/// Longest frame header: 2 bytes, an 8-byte length, a 4-byte mask.
pub const MAX_HEADER: usize = 14;
/// Largest payload of a control frame.
pub const MAX_CONTROL_PAYLOAD: usize = 125;
/// Largest close reason that fits a control frame after the 2-byte code.
pub const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;

/// The frame types this transport knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpCode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl OpCode {
    fn from_bits(bits: u8) -> Option<Self> {
        Some(match bits {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Close, Ping and Pong.
    pub fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// A parsed and validated frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub fin: bool,
    pub opcode: OpCode,
    pub mask: Option<[u8; 4]>,
    pub payload_len: u64,
}

/// Parses the frame header at the start of `bytes`, as received by `role`.
///
/// Returns `Ok(None)` while `bytes` holds only part of the header, else the header and its
/// length in bytes. Rejects what RFC 6455 forbids: reserved bits (no extension is ever
/// negotiated), unknown opcodes, fragmented or oversized control frames, lengths of 2^63 or
/// more, and frames masked the wrong way for `role` (clients mask, servers do not).
pub fn parse_header(bytes: &[u8], role: Role) -> Result<Option<(FrameHeader, usize)>, WsError> {
    let [b0, b1, rest @ ..] = bytes else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(WsError::Protocol(
            "reserved bits set without a negotiated extension",
        ));
    }
    let fin = b0 & 0x80 != 0;
    let opcode = OpCode::from_bits(b0 & 0x0F).ok_or(WsError::Protocol("unknown opcode"))?;
    let masked = b1 & 0x80 != 0;
    match (role, masked) {
        (Role::Server, false) => return Err(WsError::Protocol("unmasked frame from a client")),
        (Role::Client, true) => return Err(WsError::Protocol("masked frame from a server")),
        _ => {}
    }
    let (payload_len, len_bytes) = match b1 & 0x7F {
        126 => match rest {
            [a, b, ..] => (u64::from(u16::from_be_bytes([*a, *b])), 2),
            _ => return Ok(None),
        },
        127 => match rest.get(..8) {
            Some(ext) => {
                let mut be = [0u8; 8];
                be.copy_from_slice(ext);
                (u64::from_be_bytes(be), 8)
            }
            None => return Ok(None),
        },
        short => (u64::from(short), 0),
    };
    if payload_len >> 63 != 0 {
        return Err(WsError::Protocol("frame length of 2^63 or more"));
    }
    if opcode.is_control() {
        if !fin {
            return Err(WsError::Protocol("fragmented control frame"));
        }
        if payload_len > MAX_CONTROL_PAYLOAD as u64 {
            return Err(WsError::Protocol("control frame payload over 125 bytes"));
        }
    }
    let mut header_len = 2 + len_bytes;
    let mask = if masked {
        let Some(key) = rest.get(len_bytes..len_bytes + 4) else {
            return Ok(None);
        };
        header_len += 4;
        Some([key[0], key[1], key[2], key[3]])
    } else {
        None
    };
    let header = FrameHeader {
        fin,
        opcode,
        mask,
        payload_len,
    };
    Ok(Some((header, header_len)))
}

/// Appends a frame header to `out`, with the minimal length encoding.
pub fn encode_header(
    out: &mut Vec<u8>,
    fin: bool,
    opcode: OpCode,
    payload_len: usize,
    mask: Option<[u8; 4]>,
) {
    out.push(if fin { 0x80 } else { 0 } | opcode.bits());
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload_len {
        0..=125 => out.push(mask_bit | payload_len as u8),
        126..=0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(payload_len as u16).to_be_bytes());
        }
        _ => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(payload_len as u64).to_be_bytes());
        }
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
}

/// Appends a whole frame (header and `payload`, masked if `mask` is set) to `out`.
pub fn encode_frame(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8], mask: Option<[u8; 4]>) {
    out.reserve(MAX_HEADER + payload.len());
    encode_header(out, true, opcode, payload.len(), mask);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
}

/// XORs `buf` with the 4-byte `mask`, where `buf` starts `offset` bytes into the payload.
///
/// Masking is its own inverse. Works 8 bytes at a time with the mask rotated to `offset`.
pub fn apply_mask(buf: &mut [u8], mask: [u8; 4], offset: usize) {
    let mut key = mask;
    key.rotate_left(offset % 4);
    let word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
    }
    // The tail starts at a multiple of 8 bytes, so the rotated key still lines up.
    for (byte, k) in chunks.into_remainder().iter_mut().zip(key.iter().cycle()) {
        *byte ^= k;
    }
}

/// Whether `code` may appear in a Close frame on the wire (RFC 6455 section 7.4).
fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Parses the (unmasked) payload of a Close frame.
pub fn parse_close(payload: &[u8]) -> Result<CloseFrame, WsError> {
    match payload {
        [] => Ok(CloseFrame {
            code: super::close::NO_STATUS,
            reason: String::new(),
        }),
        [_] => Err(WsError::Protocol("close payload of one byte")),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_valid_close_code(code) {
                return Err(WsError::Protocol("invalid close code"));
            }
            let reason = std::str::from_utf8(reason)
                .map_err(|_| WsError::Protocol("close reason is not UTF-8"))?;
            Ok(CloseFrame {
                code,
                reason: reason.to_owned(),
            })
        }
    }
}

/// Cuts `reason` to at most [`MAX_CLOSE_REASON`] bytes, on a character boundary.
pub fn truncate_reason(reason: &str) -> &str {
    if reason.len() <= MAX_CLOSE_REASON {
        return reason;
    }
    let mut end = MAX_CLOSE_REASON;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

/// Appends a Close frame carrying `code` and `reason` (cut to fit) to `out`.
pub fn encode_close(out: &mut Vec<u8>, code: u16, reason: &str, mask: Option<[u8; 4]>) {
    let reason = truncate_reason(reason);
    let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
    payload[..2].copy_from_slice(&code.to_be_bytes());
    payload[2..2 + reason.len()].copy_from_slice(reason.as_bytes());
    encode_frame(out, OpCode::Close, &payload[..2 + reason.len()], mask);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn masked_slow(buf: &[u8], mask: [u8; 4], offset: usize) -> Vec<u8> {
        buf.iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[(offset + i) % 4])
            .collect()
    }

    #[test]
    fn rfc_examples_parse() {
        // RFC 6455 section 5.7: a single-frame unmasked text message "Hello".
        let (h, n) = parse_header(&[0x81, 0x05, 0x48], Role::Client)
            .unwrap()
            .unwrap();
        assert_eq!(
            (h.fin, h.opcode, h.mask, h.payload_len, n),
            (true, OpCode::Text, None, 5, 2)
        );
        // A masked "Hello".
        let mut frame = vec![
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let (h, n) = parse_header(&frame, Role::Server).unwrap().unwrap();
        assert_eq!((h.payload_len, n), (5, 6));
        apply_mask(&mut frame[n..], h.mask.unwrap(), 0);
        assert_eq!(&frame[n..], b"Hello");
        // 256 bytes binary in one unmasked frame; 64 KiB.
        let (h, n) = parse_header(&[0x82, 0x7E, 0x01, 0x00], Role::Client)
            .unwrap()
            .unwrap();
        assert_eq!((h.payload_len, n), (256, 4));
        let big = [0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0];
        let (h, n) = parse_header(&big, Role::Client).unwrap().unwrap();
        assert_eq!((h.payload_len, n), (65536, 10));
    }

    #[test]
    fn violations_are_rejected() {
        let cases: [(&[u8], Role); 7] = [
            (&[0xC2, 0x80, 0, 0, 0, 0], Role::Server), // RSV1
            (&[0x83, 0x80, 0, 0, 0, 0], Role::Server), // opcode 3
            (&[0x02, 0x00], Role::Server),             // unmasked at server
            (&[0x82, 0x80, 0, 0, 0, 0], Role::Client), // masked at client
            (&[0x09, 0x00], Role::Client),             // fragmented ping
            (&[0x89, 0x7E, 0x00, 0x7E], Role::Client), // ping of 126 bytes
            (&[0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0], Role::Client), // 2^63
        ];
        for (bytes, role) in cases {
            assert!(
                matches!(parse_header(bytes, role), Err(WsError::Protocol(_))),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn close_payloads() {
        assert_eq!(parse_close(&[]).unwrap().code, 1005);
        assert!(parse_close(&[3]).is_err());
        assert!(parse_close(&[0x03, 0xE5]).is_err()); // 997
        assert!(parse_close(&[0x03, 0xE8, 0xFF]).is_err()); // bad UTF-8
        let mut out = Vec::new();
        encode_close(&mut out, 1008, &"é".repeat(100), None);
        let (h, n) = parse_header(&out, Role::Client).unwrap().unwrap();
        assert_eq!(h.payload_len as usize, out.len() - n);
        let frame = parse_close(&out[n..]).unwrap();
        assert_eq!((frame.code, frame.reason.len()), (1008, 122)); // 61 two-byte chars
    }

    proptest! {
        #[test]
        fn mask_matches_bytewise(buf in proptest::collection::vec(any::<u8>(), 0..100),
                                 mask in any::<[u8; 4]>(), offset in 0usize..9) {
            let mut fast = buf.clone();
            apply_mask(&mut fast, mask, offset);
            prop_assert_eq!(fast, masked_slow(&buf, mask, offset));
        }

        #[test]
        fn header_round_trips(fin in any::<bool>(), len in 0usize..200_000,
                              mask in proptest::option::of(any::<[u8; 4]>())) {
            let mut out = Vec::new();
            encode_header(&mut out, fin, OpCode::Binary, len, mask);
            let role = if mask.is_some() { Role::Server } else { Role::Client };
            let (h, n) = parse_header(&out, role).unwrap().unwrap();
            prop_assert_eq!(h, FrameHeader { fin, opcode: OpCode::Binary, mask, payload_len: len as u64 });
            prop_assert_eq!(n, out.len());
            for cut in 0..out.len() {
                prop_assert!(parse_header(&out[..cut], role).unwrap().is_none());
            }
        }

        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..32)) {
            for role in [Role::Client, Role::Server] {
                if let Ok(Some((h, n))) = parse_header(&bytes, role) {
                    prop_assert!(n <= MAX_HEADER && n <= bytes.len());
                    prop_assert!(!h.opcode.is_control() || h.payload_len <= 125);
                }
            }
            let _ = parse_close(&bytes);
        }
    }
}
