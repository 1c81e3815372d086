//! MLLP (HL7's Minimal Lower Layer Protocol): each message between a start byte (0x0B) and an
//! end pair (0x1C 0x0D). The decoder takes bytes as they arrive and hands out whole messages;
//! bytes outside a frame are counted and dropped, and a frame that outgrows the limit is an
//! error (the connection is then closed: nothing after it can be trusted to be framed).

pub const START: u8 = 0x0b;
pub const END: [u8; 2] = [0x1c, 0x0d];

/// A message framed for the wire.
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 3);
    out.push(START);
    out.extend_from_slice(message);
    out.extend_from_slice(&END);
    out
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MllpError {
    #[error("a message is longer than the limit of {limit} bytes")]
    TooLarge { limit: usize },
}

/// Collects bytes into messages.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    in_frame: bool,
    limit: usize,
    /// Bytes received outside any frame (dropped).
    pub junk: u64,
}

impl Decoder {
    /// A decoder that refuses messages longer than `limit` bytes.
    pub fn new(limit: usize) -> Decoder {
        Decoder {
            buf: Vec::new(),
            in_frame: false,
            limit,
            junk: 0,
        }
    }

    /// Takes `bytes` and returns the messages they complete, in order; an error when a message
    /// grows past the limit (what was buffered is dropped).
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, MllpError> {
        let mut out = Vec::new();
        for &b in bytes {
            if !self.in_frame {
                if b == START {
                    self.in_frame = true;
                    self.buf.clear();
                } else if !(b == b'\r' || b == b'\n') {
                    // Line ends between frames are common and harmless.
                    self.junk += 1;
                }
                continue;
            }
            if b == START {
                // A new start inside a frame: the sender gave up on the last one.
                self.junk += self.buf.len() as u64;
                self.buf.clear();
                continue;
            }
            self.buf.push(b);
            if self.buf.ends_with(&END) {
                self.buf.truncate(self.buf.len() - 2);
                out.push(std::mem::take(&mut self.buf));
                self.in_frame = false;
            } else if self.buf.len() > self.limit + 1 {
                self.buf = Vec::new();
                self.in_frame = false;
                return Err(MllpError::TooLarge { limit: self.limit });
            }
        }
        Ok(out)
    }

    /// Whether part of a message is waiting for the rest.
    pub fn partial(&self) -> bool {
        self.in_frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_split_anywhere_are_put_back_together() {
        let wire = [frame(b"MSH|one"), frame(b"MSH|two")].concat();
        for cut in 0..wire.len() {
            let mut d = Decoder::new(1024);
            let mut got = d.push(&wire[..cut]).unwrap();
            got.extend(d.push(&wire[cut..]).unwrap());
            assert_eq!(
                got,
                [b"MSH|one".to_vec(), b"MSH|two".to_vec()],
                "cut at {cut}"
            );
            assert!(!d.partial());
        }
    }

    #[test]
    fn junk_outside_frames_is_counted_and_an_oversized_frame_is_refused() {
        let mut d = Decoder::new(10);
        let got = d
            .push(&[b"garbage".as_slice(), &frame(b"MSH|ok")].concat())
            .unwrap();
        assert_eq!(got, [b"MSH|ok".to_vec()]);
        assert_eq!(d.junk, 7);
        assert_eq!(
            d.push(&frame(b"MSH|this is far too long")),
            Err(MllpError::TooLarge { limit: 10 })
        );
        // A message of exactly the limit passes.
        assert_eq!(
            d.push(&frame(b"0123456789")).unwrap(),
            [b"0123456789".to_vec()]
        );
    }
}
