//! Per-frame inspection on the recorder's receive path: which frames are keep-alive
//! answers and which are the venue's error replies, for a whole batch of frames at once.
//!
//! The recorder journals every frame as it came; this only tells it what to do besides:
//! a keep-alive answer does not prove the feed alive, an error reply is journaled as an
//! `error` record and may close the connection. Each venue's rules live in its module and
//! answer exactly what the venue's Python module (`recorder.venues.<venue>`, its
//! `keepalive()` and `frame_error()`) answers; `Rules` picks them. Garbage is never an
//! error here: a frame that is not a well-formed reply is data.

pub mod binance;
pub mod bybit;
pub mod gate;
mod json;
pub mod kucoin;
pub mod okx;
pub mod phemex;
pub mod upbit;

/// Which venue's rules a connection's frames are read by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rules {
    BinanceUsdm,
    /// Spot's replies are USD-M's JSON: the same rules under spot's name.
    BinanceSpot,
    Upbit,
    Bybit,
    Okx,
    Gate,
    Kucoin,
    Phemex,
}

impl Rules {
    /// Every venue with rules, for tests that run them all.
    pub const ALL: [Rules; 8] = [
        Rules::BinanceUsdm,
        Rules::BinanceSpot,
        Rules::Upbit,
        Rules::Bybit,
        Rules::Okx,
        Rules::Gate,
        Rules::Kucoin,
        Rules::Phemex,
    ];

    /// The rules of a venue by its name (`recorder.venues`), `None` for one without any.
    pub fn named(venue: &str) -> Option<Rules> {
        match venue {
            "binance-usdm" => Some(Rules::BinanceUsdm),
            "binance-spot" => Some(Rules::BinanceSpot),
            "upbit" => Some(Rules::Upbit),
            "bybit" => Some(Rules::Bybit),
            "okx" => Some(Rules::Okx),
            "gate" => Some(Rules::Gate),
            "kucoin" => Some(Rules::Kucoin),
            "phemex" => Some(Rules::Phemex),
            _ => None,
        }
    }

    /// True for a keep-alive answer (it does not prove the feed alive).
    pub fn is_keepalive(self, payload: &[u8]) -> bool {
        match self {
            // Binance pings us: no answer frames to tell apart
            Rules::BinanceUsdm | Rules::BinanceSpot => false,
            Rules::Upbit => upbit::is_keepalive(payload),
            Rules::Bybit => bybit::is_pong(payload),
            Rules::Okx => okx::is_pong(payload),
            Rules::Gate => gate::is_pong(payload),
            Rules::Kucoin => kucoin::is_keepalive(payload),
            Rules::Phemex => phemex::is_pong(payload),
        }
    }

    /// The venue's error text when `payload` is an error reply.
    pub fn frame_error(self, payload: &[u8]) -> Option<String> {
        match self {
            // Replies are JSON objects; a data frame of these venues never needs more than
            // this (the Python parsers also take a reply after leading whitespace).
            Rules::BinanceUsdm | Rules::BinanceSpot | Rules::Upbit
                if !payload.starts_with(b"{\"") =>
            {
                None
            }
            Rules::BinanceUsdm | Rules::BinanceSpot => binance::frame_error(payload),
            Rules::Upbit => upbit::frame_error(payload),
            Rules::Bybit => bybit::frame_error(payload),
            Rules::Okx => okx::frame_error(payload),
            Rules::Gate => gate::frame_error(payload),
            Rules::Kucoin => kucoin::frame_error(payload),
            Rules::Phemex => phemex::frame_error(payload),
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

/// `p` without what Python's `bytes.strip()` removes.
fn strip(p: &[u8]) -> &[u8] {
    let start = p.iter().position(|&b| !is_space(b)).unwrap_or(p.len());
    let end = p
        .iter()
        .rposition(|&b| !is_space(b))
        .map_or(start, |i| i + 1);
    p.get(start..end).unwrap_or_default()
}

/// Python's `needle in hay` for bytes: a plain scan, nothing allocated.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// Python's `hay[:n]`.
fn head(hay: &[u8], n: usize) -> &[u8] {
    hay.get(..n).unwrap_or(hay)
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
        assert_eq!(
            Rules::BinanceSpot.frame_error(b"{\"code\":2,\"msg\":\"Invalid request\",\"id\":1}"),
            Some("2: Invalid request".into())
        );
        // the other venues read what their Python parsers read, whitespace first or not
        assert_eq!(
            Rules::Okx.frame_error(b" {\"event\":\"error\",\"code\":\"1\",\"msg\":\"x\"}"),
            Some("1: x".into())
        );
        for (name, rules) in [
            ("binance-usdm", Rules::BinanceUsdm),
            ("binance-spot", Rules::BinanceSpot),
            ("upbit", Rules::Upbit),
            ("bybit", Rules::Bybit),
            ("okx", Rules::Okx),
            ("gate", Rules::Gate),
            ("kucoin", Rules::Kucoin),
            ("phemex", Rules::Phemex),
        ] {
            assert_eq!(Rules::named(name), Some(rules));
        }
    }

    proptest! {
        #[test]
        fn never_panics(frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16)) {
            for rules in Rules::ALL {
                let got = inspect(rules, frames.iter().map(Vec::as_slice));
                prop_assert!(got.data_frames <= frames.len());
                prop_assert!(got.errors.windows(2).all(|w| w[0].0 < w[1].0));
            }
        }
    }
}
