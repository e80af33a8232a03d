//! Per-frame inspection on the recorder's receive path: which frames are keep-alive
//! answers and which are the venue's error replies, for a whole batch of frames at once.
//!
//! The recorder journals every frame as it came; this only tells it what to do besides:
//! a keep-alive answer does not prove the feed alive, an error reply is journaled as an
//! `error` record and may close the connection. Each venue's rules live in its module;
//! `Rules` picks them. Garbage is never an error here: a frame that is not a well-formed
//! reply is data.

pub mod binance;
mod json;
pub mod upbit;

/// Which venue's rules a connection's frames are read by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rules {
    BinanceUsdm,
    Upbit,
}

impl Rules {
    /// The rules of a venue by its name (`recorder.venues`), `None` for one without any.
    pub fn named(venue: &str) -> Option<Rules> {
        match venue {
            "binance-usdm" => Some(Rules::BinanceUsdm),
            "upbit" => Some(Rules::Upbit),
            _ => None,
        }
    }

    /// True for a keep-alive answer (it does not prove the feed alive).
    pub fn is_keepalive(self, payload: &[u8]) -> bool {
        match self {
            Rules::BinanceUsdm => false, // Binance pings us: no answer frames to tell apart
            Rules::Upbit => upbit::is_keepalive(payload),
        }
    }

    /// The venue's error text when `payload` is an error reply.
    pub fn frame_error(self, payload: &[u8]) -> Option<String> {
        // Replies are JSON objects; a data frame of either venue never needs more than this.
        if !payload.starts_with(b"{\"") {
            return None;
        }
        match self {
            Rules::BinanceUsdm => binance::frame_error(payload),
            Rules::Upbit => upbit::frame_error(payload),
        }
    }
}

/// What a batch of frames holds besides data.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// Frames that prove the feed alive: all but the keep-alive answers.
    pub data_frames: usize,
    /// Payload bytes of the whole batch.
    pub bytes: usize,
    /// Error replies: the frame's index in the batch and the venue's error text, in order.
    pub errors: Vec<(usize, String)>,
}

/// Inspects `frames` in order (one pass each).
pub fn inspect<'f, I>(rules: Rules, frames: I) -> Inspection
where
    I: IntoIterator<Item = &'f [u8]>,
{
    let mut out = Inspection::default();
    for (i, payload) in frames.into_iter().enumerate() {
        out.bytes += payload.len();
        if !rules.is_keepalive(payload) {
            out.data_frames += 1;
        }
        if let Some(text) = rules.frame_error(payload) {
            out.errors.push((i, text));
        }
    }
    out
}

/// What Python's `bytes.strip()` removes: ASCII whitespace, vertical tab and form feed included.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_batch() {
        let frames: [&[u8]; 4] = [
            b"{\"stream\":\"btcusdt@bookTicker\",\"data\":{}}",
            b"{\"status\":\"UP\"}",
            b"{\"error\":{\"name\":\"NO_TICKET\",\"message\":\"x\"}}",
            b"\x00\xff",
        ];
        let got = inspect(Rules::Upbit, frames);
        assert_eq!(got.data_frames, 3);
        assert_eq!(got.bytes, frames.iter().map(|f| f.len()).sum::<usize>());
        assert_eq!(got.errors, vec![(2, "NO_TICKET: x".to_string())]);
        // Binance reads any object starting with "error" as its reply
        let got = inspect(Rules::BinanceUsdm, frames);
        assert_eq!(got.data_frames, 4);
        assert_eq!(got.errors, vec![(2, "None: ".to_string())]);
        let got = inspect(
            Rules::BinanceUsdm,
            [&b"{\"code\":-1121,\"msg\":\"Invalid symbol.\"}"[..]],
        );
        assert_eq!(got.errors, vec![(0, "-1121: Invalid symbol.".to_string())]);
    }

    #[test]
    fn the_reply_gate() {
        // Only a frame that starts as an object with a key is read as a reply.
        assert_eq!(
            Rules::BinanceUsdm.frame_error(b" {\"code\":1,\"msg\":\"x\"}"),
            None
        );
        assert_eq!(Rules::Upbit.frame_error(b"\n{\"error\":{}}"), None);
        assert_eq!(Rules::named("kraken"), None);
    }

    proptest! {
        #[test]
        fn never_panics(frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16)) {
            for rules in [Rules::BinanceUsdm, Rules::Upbit] {
                let got = inspect(rules, frames.iter().map(Vec::as_slice));
                prop_assert!(got.data_frames <= frames.len());
                prop_assert!(got.errors.windows(2).all(|w| w[0].0 < w[1].0));
            }
        }
    }
}
