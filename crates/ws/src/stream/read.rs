//! The read side of [`WsStream`]: frame headers and control frames through `rbuf`, data
//! payload straight into the caller's buffer, unmasked there.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{ReadEvent, ReadState, WsStream, READ_BUF};
use crate::frame::{self, FrameHeader, OpCode, MAX_CONTROL_PAYLOAD};
use crate::WsError;

impl<S: AsyncRead + AsyncWrite + Unpin> WsStream<S> {
    /// Marks the read side dead and, for errors caused by the peer's bytes, sends a Close.
    fn fail(&mut self, cx: &mut Context<'_>, err: WsError) -> WsError {
        self.read = ReadState::Failed;
        if let Some(code) = err.close_code() {
            self.queue_close(code, "");
            self.push_pending(cx);
        }
        err
    }

    /// Reads more bytes from the inner stream into `rbuf`, keeping the unparsed ones.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.rstart == self.rend {
            self.rstart = 0;
            self.rend = 0;
            if self.rbuf.len() > READ_BUF {
                self.rbuf = vec![0; READ_BUF].into_boxed_slice();
            }
        } else if self.rstart > 0 {
            // What is left is part of one header or control frame: a short move.
            self.rbuf.copy_within(self.rstart..self.rend, 0);
            self.rend -= self.rstart;
            self.rstart = 0;
        }
        let mut dst = ReadBuf::new(&mut self.rbuf[self.rend..]);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut dst))?;
        let n = dst.filled().len();
        self.rend += n;
        Poll::Ready(Ok(n))
    }

    fn unexpected_eof(&mut self) -> WsError {
        self.read = ReadState::Failed;
        let what = if self.rstart == self.rend && !self.in_message {
            "connection closed without a websocket Close frame"
        } else {
            "connection closed in the middle of a websocket frame"
        };
        WsError::Io(io::Error::new(io::ErrorKind::UnexpectedEof, what))
    }

    /// The read state machine. Fills `out` with data payload; returns once some bytes are
    /// there and more would need an inner read, at the end of a message when
    /// `whole_messages`, or when the peer's Close arrives. `limit` bounds each message.
    pub(crate) fn poll_read_frames(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
        limit: u64,
        whole_messages: bool,
    ) -> Poll<Result<ReadEvent, WsError>> {
        let start = out.filled().len();
        let data = ReadEvent::Data { message_end: false };
        loop {
            let progress = out.filled().len() > start;
            match self.read {
                ReadState::Closed if progress => return Poll::Ready(Ok(data)),
                ReadState::Closed => return Poll::Ready(Ok(ReadEvent::Closed)),
                ReadState::Failed => {
                    let err = io::Error::other("websocket read side failed earlier");
                    return Poll::Ready(Err(WsError::Io(err)));
                }
                ReadState::Payload {
                    remaining,
                    mask,
                    offset,
                    fin,
                } => {
                    if out.remaining() == 0 {
                        return Poll::Ready(Ok(data));
                    }
                    let want = remaining.min(out.remaining() as u64) as usize;
                    let before = out.filled().len();
                    if self.rstart < self.rend {
                        let n = want.min(self.rend - self.rstart);
                        out.put_slice(&self.rbuf[self.rstart..self.rstart + n]);
                        self.rstart += n;
                    } else {
                        if progress {
                            return Poll::Ready(Ok(data));
                        }
                        let mut dst = ReadBuf::new(out.initialize_unfilled_to(want));
                        ready!(Pin::new(&mut self.io).poll_read(cx, &mut dst))?;
                        let n = dst.filled().len();
                        if n == 0 {
                            return Poll::Ready(Err(self.unexpected_eof()));
                        }
                        out.advance(n);
                    }
                    let got = &mut out.filled_mut()[before..];
                    if let Some(key) = mask {
                        frame::apply_mask(got, key, offset);
                    }
                    let remaining = remaining - got.len() as u64;
                    let offset = (offset + got.len()) % 4;
                    if remaining > 0 {
                        self.read = ReadState::Payload {
                            remaining,
                            mask,
                            offset,
                            fin,
                        };
                    } else {
                        self.read = ReadState::Header;
                        if fin {
                            self.in_message = false;
                            if whole_messages {
                                return Poll::Ready(Ok(ReadEvent::Data { message_end: true }));
                            }
                        }
                    }
                }
                ReadState::Header => {
                    let parsed = frame::parse_header(&self.rbuf[self.rstart..self.rend], self.role);
                    let (header, header_len) = match parsed {
                        // Deliver what was read first; the error comes with the next read.
                        Err(_) if progress => return Poll::Ready(Ok(data)),
                        Err(e) => return Poll::Ready(Err(self.fail(cx, e))),
                        Ok(Some(parsed)) => parsed,
                        Ok(None) => {
                            if progress {
                                return Poll::Ready(Ok(data));
                            }
                            if ready!(self.poll_fill(cx))? == 0 {
                                return Poll::Ready(Err(self.unexpected_eof()));
                            }
                            continue;
                        }
                    };
                    if header.opcode.is_control() {
                        if progress {
                            return Poll::Ready(Ok(data));
                        }
                        ready!(self.poll_control_frame(cx, header, header_len))?;
                        continue;
                    }
                    match self.check_data_frame(header.opcode, header.payload_len, limit) {
                        Ok(message_len) => {
                            self.in_message = true;
                            self.message_len = message_len;
                        }
                        Err(_) if progress => return Poll::Ready(Ok(data)),
                        Err(e) => return Poll::Ready(Err(self.fail(cx, e))),
                    }
                    self.rstart += header_len;
                    if header.payload_len > 0 {
                        self.read = ReadState::Payload {
                            remaining: header.payload_len,
                            mask: header.mask,
                            offset: 0,
                            fin: header.fin,
                        };
                    } else if header.fin {
                        self.in_message = false;
                        if whole_messages {
                            return Poll::Ready(Ok(ReadEvent::Data { message_end: true }));
                        }
                    }
                }
            }
        }
    }

    /// Reads the rest of a control frame into `rbuf` and acts on it: a Ping queues a Pong
    /// (sent now if the inner stream takes it), a Close ends the read side, a Pong is ignored.
    fn poll_control_frame(
        &mut self,
        cx: &mut Context<'_>,
        header: FrameHeader,
        header_len: usize,
    ) -> Poll<Result<(), WsError>> {
        let total = header_len + header.payload_len as usize;
        while self.rend - self.rstart < total {
            if ready!(self.poll_fill(cx))? == 0 {
                return Poll::Ready(Err(self.unexpected_eof()));
            }
        }
        let payload_start = self.rstart + header_len;
        self.rstart += total;
        let payload = &mut self.rbuf[payload_start..self.rstart];
        if let Some(key) = header.mask {
            frame::apply_mask(payload, key, 0);
        }
        match header.opcode {
            OpCode::Ping => {
                let mut copy = [0u8; MAX_CONTROL_PAYLOAD];
                let len = payload.len();
                copy[..len].copy_from_slice(payload);
                self.queue_pong(&copy[..len]);
                self.push_pending(cx);
            }
            OpCode::Close => match frame::parse_close(payload) {
                Ok(close) => {
                    self.peer_close = Some(close);
                    self.read = ReadState::Closed;
                }
                Err(e) => return Poll::Ready(Err(self.fail(cx, e))),
            },
            _ => {} // Pong: nothing asked for it, nothing to do.
        }
        Poll::Ready(Ok(()))
    }

    /// Checks a data frame against the message state and the message limit; returns the
    /// length of its message so far, this frame included.
    fn check_data_frame(&self, opcode: OpCode, len: u64, limit: u64) -> Result<u64, WsError> {
        let before = match (opcode, self.in_message) {
            (OpCode::Text, _) => return Err(WsError::Protocol("text frame in a binary stream")),
            (OpCode::Continuation, false) => {
                return Err(WsError::Protocol("continuation frame outside a message"))
            }
            (OpCode::Binary, true) => {
                return Err(WsError::Protocol(
                    "new message before the previous one ended",
                ))
            }
            (OpCode::Binary, false) => 0,
            _ => self.message_len,
        };
        let message_len = before.saturating_add(len);
        if message_len > limit {
            return Err(WsError::MessageTooLarge { limit });
        }
        Ok(message_len)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsStream<S> {
    /// Payload of binary and continuation frames; EOF once the peer's Close arrived.
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let limit = this.message_limit;
        match ready!(this.poll_read_frames(cx, buf, limit, false)) {
            Ok(_) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(e.into())),
        }
    }
}
