//! Whole messages (the protobuf handshake before the data phase) and the closing handshake.

use std::future::poll_fn;
use std::io;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::stream::{ReadEvent, WsStream};
use super::{WsError, MAX_SEND_MESSAGE};

/// How much `recv_message` grows its buffer by per read.
const RECV_STEP: usize = 4096;

impl<S: AsyncRead + AsyncWrite + Unpin> WsStream<S> {
    /// Sends `payload` as one binary message and flushes it.
    pub async fn send_message(&mut self, payload: &[u8]) -> Result<(), WsError> {
        if payload.len() > MAX_SEND_MESSAGE {
            return Err(WsError::MessageTooLarge {
                limit: MAX_SEND_MESSAGE as u64,
            });
        }
        if self.close_sent() {
            let err = io::Error::new(io::ErrorKind::BrokenPipe, "websocket Close already sent");
            return Err(WsError::Io(err));
        }
        poll_fn(|cx| self.poll_drain(cx)).await?;
        self.queue_data(payload);
        poll_fn(|cx| self.poll_flush_all(cx)).await?;
        Ok(())
    }

    /// Receives the next whole binary message (fragments reassembled), at most `limit` bytes.
    ///
    /// Pings are answered. When the peer's Close arrives, this replies with a Close (its code
    /// echoed), shuts the inner stream down and returns [`WsError::Closed`] with the peer's
    /// code and reason.
    pub async fn recv_message(&mut self, limit: usize) -> Result<Vec<u8>, WsError> {
        let mut msg = Vec::new();
        loop {
            let filled = msg.len();
            msg.resize(filled + RECV_STEP, 0);
            let mut dst = ReadBuf::new(&mut msg[filled..]);
            let event = poll_fn(|cx| self.poll_read_frames(cx, &mut dst, limit as u64, true)).await;
            let n = dst.filled().len();
            msg.truncate(filled + n);
            match event? {
                ReadEvent::Data { message_end: true } => {
                    msg.shrink_to_fit();
                    return Ok(msg);
                }
                ReadEvent::Data { message_end: false } => {}
                ReadEvent::Closed => {
                    let frame = self
                        .peer_close()
                        .cloned()
                        .unwrap_or_else(|| super::CloseFrame {
                            code: super::close::NO_STATUS,
                            reason: String::new(),
                        });
                    self.queue_close_reply();
                    // The peer is gone either way: its Close is the news, not our reply's fate.
                    if let Err(_e) = poll_fn(|cx| self.poll_shutdown_inner(cx)).await {}
                    return Err(WsError::Closed(frame));
                }
            }
        }
    }

    /// Closes the WebSocket: sends Close(`code`, `reason`) unless a Close was already sent
    /// (the reason is cut to 123 bytes), reads and discards until the peer's Close or EOF,
    /// then shuts the inner stream down. Bound it with a timeout: a peer may never answer.
    pub async fn close(&mut self, code: u16, reason: &str) -> Result<(), WsError> {
        self.queue_close(code, reason);
        poll_fn(|cx| self.poll_flush_all(cx)).await?;
        let mut scratch = [0u8; 256];
        while !self.read_finished() {
            let mut dst = ReadBuf::new(&mut scratch);
            match poll_fn(|cx| self.poll_read_frames(cx, &mut dst, u64::MAX, false)).await {
                Ok(_) => {}
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                Err(e) => {
                    if let Err(_e) = poll_fn(|cx| self.poll_shutdown_inner(cx)).await {}
                    return Err(e);
                }
            }
        }
        poll_fn(|cx| self.poll_shutdown_inner(cx)).await?;
        Ok(())
    }
}
