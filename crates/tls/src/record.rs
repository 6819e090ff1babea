//! Sizes of TLS 1.3 records (RFC 8446 section 5), for the buffers the handshake and the
//! stream lend rustls.

/// The content type of a record carrying handshake messages.
pub(crate) const HANDSHAKE: u8 = 22;
/// The header every record starts with: type, legacy version, length.
pub(crate) const HEADER_LEN: usize = 5;
/// Most plaintext one record may carry (section 5.1: 2^14).
pub(crate) const MAX_PLAINTEXT: usize = 1 << 14;
/// The longest record on the wire: header, then at most 2^14 + 256 bytes (section 5.2).
pub(crate) const MAX_RECORD: usize = HEADER_LEN + MAX_PLAINTEXT + 256;
/// Bytes a record adds to its plaintext when sealed without padding: header, content type,
/// AEAD tag.
pub(crate) const OVERHEAD: usize = HEADER_LEN + 1 + 16;

/// The length of the record starting `buf`, header included, once its header is there.
pub(crate) fn record_len(buf: &[u8]) -> Option<usize> {
    let header = buf.get(..HEADER_LEN)?;
    Some(HEADER_LEN + u16::from_be_bytes([header[3], header[4]]) as usize)
}
