//! The Firecracker-style "hybrid vsock" handshake, for both executors (the shim's hooks and
//! the seccomp supervisor): connect to the VMM's Unix socket, send `CONNECT <port>\n`, read
//! one line; `OK …` means the stream now reaches the guest's port. The answer is read with
//! MSG_PEEK first and consumed exactly up to its newline, so nothing of the guest's stream is
//! taken. No syscalls here: the executors peek, receive and send; this says what to do.

/// Longest answer line accepted (`OK <port>\n` is short).
pub const LINE_MAX: usize = 64;

/// `CONNECT <port>\n` into `buf`; returns its length.
pub fn connect_line(port: u32, buf: &mut [u8; 24]) -> usize {
    let mut w = crate::template::SliceWriter { buf, len: 0 };
    // 8 + 10 digits + 1 always fits in 24.
    let _ = core::fmt::Write::write_fmt(&mut w, format_args!("CONNECT {port}\n"));
    w.len
}

/// What a program sees when connecting or sending to the VMM's socket fails: the errors of a
/// TCP connect (no VMM socket, or nobody answering, is a refused connection).
pub fn tcp_errno(e: i32) -> i32 {
    match e {
        libc::ENOENT
        | libc::ENOTDIR
        | libc::EPROTOTYPE
        | libc::ENOTSOCK
        | libc::EAGAIN
        | libc::EPIPE => libc::ECONNREFUSED,
        e => e,
    }
}

/// The answer line read so far.
#[derive(Clone, Copy)]
pub struct AnswerLine {
    buf: [u8; LINE_MAX],
    len: usize,
}

impl Default for AnswerLine {
    fn default() -> Self {
        Self::new()
    }
}

impl AnswerLine {
    pub const fn new() -> AnswerLine {
        AnswerLine {
            buf: [0; LINE_MAX],
            len: 0,
        }
    }

    /// How many bytes to peek at most (the room left for the line).
    pub fn room(&self) -> usize {
        LINE_MAX - self.len
    }

    /// Of the bytes `peeked` at the head of the stream, how many belong to the line (up to
    /// and including its newline): receive exactly those, then pass them to `consumed`.
    pub fn wanted(&self, peeked: &[u8]) -> usize {
        let peeked = &peeked[..peeked.len().min(self.room())];
        match peeked.iter().position(|&b| b == b'\n') {
            Some(p) => p + 1,
            None => peeked.len(),
        }
    }

    /// Takes the bytes received; Some(result) once the line is complete (or too long).
    pub fn consumed(&mut self, bytes: &[u8]) -> Option<Result<(), i32>> {
        let take = bytes.len().min(self.room());
        self.buf[self.len..self.len + take].copy_from_slice(&bytes[..take]);
        self.len += take;
        if self.len > 0 && self.buf[self.len - 1] == b'\n' {
            return Some(if self.buf[..self.len - 1].starts_with(b"OK ") {
                Ok(())
            } else {
                Err(libc::ECONNREFUSED)
            });
        }
        (self.len == LINE_MAX).then_some(Err(libc::ECONNREFUSED))
    }

    /// The VMM closed the stream before a complete line: nobody listens on that guest port (or
    /// it refused), or the connection was lost mid-answer.
    pub fn closed(&self) -> i32 {
        if self.len == 0 {
            libc::ECONNREFUSED
        } else {
            libc::ECONNRESET
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(line: &mut AnswerLine, stream: &[u8]) -> (usize, Option<Result<(), i32>>) {
        let n = line.wanted(stream);
        (n, line.consumed(&stream[..n]))
    }

    #[test]
    fn the_connect_line() {
        let mut b = [0u8; 24];
        let n = connect_line(u32::MAX, &mut b);
        assert_eq!(&b[..n], b"CONNECT 4294967295\n");
    }

    #[test]
    fn ok_is_consumed_up_to_the_newline_and_no_further() {
        let mut l = AnswerLine::new();
        assert_eq!(
            feed(&mut l, b"OK 1073741824\nguest data"),
            (14, Some(Ok(())))
        );
    }

    #[test]
    fn a_line_in_pieces() {
        let mut l = AnswerLine::new();
        assert_eq!(feed(&mut l, b"OK"), (2, None));
        assert_eq!(feed(&mut l, b" 5\nx"), (3, Some(Ok(()))));
    }

    #[test]
    fn anything_but_ok_is_refused() {
        for answer in [&b"NO\n"[..], b"OK\n", b"ok 5\n", b"\n"] {
            let mut l = AnswerLine::new();
            assert_eq!(
                feed(&mut l, answer).1,
                Some(Err(libc::ECONNREFUSED)),
                "{answer:?}"
            );
        }
    }

    #[test]
    fn an_endless_line_is_refused_at_the_limit() {
        let mut l = AnswerLine::new();
        let long = [b'O'; 200];
        assert_eq!(
            feed(&mut l, &long),
            (LINE_MAX, Some(Err(libc::ECONNREFUSED)))
        );
    }

    #[test]
    fn closing_before_or_during_the_answer() {
        let mut l = AnswerLine::new();
        assert_eq!(l.closed(), libc::ECONNREFUSED);
        feed(&mut l, b"OK");
        assert_eq!(l.closed(), libc::ECONNRESET);
    }
}
