//! Line framing for the socket: newline-delimited frames with a maximum length.
//!
//! Kept apart from JSON decoding so that garbage, oversized lines and invalid UTF-8 are dealt
//! with here, byte-wise, before any parser sees them. An oversized line is reported once as
//! [`Frame::TooLong`] and its remaining bytes are skipped up to the next newline, so the
//! connection keeps working.

use bytes::BytesMut;
use tokio_util::codec::Decoder;

/// One decoded frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A complete line without its newline (and without a trailing `\r`).
    Line(BytesMut),
    /// A line longer than the maximum was skipped.
    TooLong,
}

/// Decoder of newline-delimited frames of at most `max` bytes.
#[derive(Debug)]
pub struct LineFrames {
    /// Largest accepted line, newline excluded.
    max: usize,
    /// True while skipping the rest of an oversized line.
    discarding: bool,
    /// How far into the buffer we already looked for a newline.
    scanned: usize,
}

impl LineFrames {
    /// A decoder accepting lines of at most `max` bytes.
    pub fn new(max: usize) -> Self {
        LineFrames {
            max,
            discarding: false,
            scanned: 0,
        }
    }
}

impl Decoder for LineFrames {
    type Item = Frame;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, std::io::Error> {
        loop {
            let newline = buf[self.scanned..].iter().position(|&b| b == b'\n');
            match (self.discarding, newline) {
                (true, Some(i)) => {
                    let _ = buf.split_to(self.scanned + i + 1);
                    self.discarding = false;
                    self.scanned = 0;
                    // Already reported as TooLong when discarding began; go on with the next line.
                }
                (true, None) => {
                    buf.clear();
                    self.scanned = 0;
                    return Ok(None);
                }
                (false, Some(i)) => {
                    let end = self.scanned + i;
                    self.scanned = 0;
                    if end > self.max {
                        let _ = buf.split_to(end + 1);
                        return Ok(Some(Frame::TooLong));
                    }
                    let mut line = buf.split_to(end + 1);
                    line.truncate(end);
                    if line.last() == Some(&b'\r') {
                        line.truncate(end - 1);
                    }
                    return Ok(Some(Frame::Line(line)));
                }
                (false, None) => {
                    if buf.len() > self.max {
                        buf.clear();
                        self.discarding = true;
                        self.scanned = 0;
                        return Ok(Some(Frame::TooLong));
                    }
                    self.scanned = buf.len();
                    return Ok(None);
                }
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, std::io::Error> {
        match self.decode(buf)? {
            Some(frame) => Ok(Some(frame)),
            None if self.discarding || buf.is_empty() => Ok(None),
            // A last line without a newline still counts.
            None => {
                self.scanned = 0;
                Ok(Some(Frame::Line(buf.split())))
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn frames(max: usize, chunks: &[&[u8]]) -> Vec<Frame> {
        let mut d = LineFrames::new(max);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for c in chunks {
            buf.extend_from_slice(c);
            while let Some(f) = d.decode(&mut buf).unwrap() {
                out.push(f);
            }
        }
        while let Some(f) = d.decode_eof(&mut buf).unwrap() {
            out.push(f);
        }
        out
    }

    fn line(s: &[u8]) -> Frame {
        Frame::Line(BytesMut::from(s))
    }

    #[test]
    fn splits_lines_across_chunk_boundaries() {
        assert_eq!(
            frames(100, &[b"ab", b"c\nde", b"f\r\n", b"g"]),
            vec![line(b"abc"), line(b"def"), line(b"g")]
        );
    }

    #[test]
    fn oversized_line_is_reported_once_and_the_next_line_survives() {
        let long = vec![b'x'; 50];
        assert_eq!(
            frames(10, &[&long, &long, b"\nok\n"]),
            vec![Frame::TooLong, line(b"ok")]
        );
        assert_eq!(
            frames(3, &[b"abcd\nxy\n"]),
            vec![Frame::TooLong, line(b"xy")]
        );
    }

    #[test]
    fn line_of_exactly_max_bytes_is_accepted() {
        assert_eq!(frames(3, &[b"abc\n"]), vec![line(b"abc")]);
    }

    #[test]
    fn invalid_utf8_and_binary_garbage_pass_through_as_bytes() {
        assert_eq!(
            frames(10, &[b"\xff\x00\xfe\n"]),
            vec![line(b"\xff\x00\xfe")]
        );
    }
}
