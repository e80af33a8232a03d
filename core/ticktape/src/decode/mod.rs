//! Frame decoders, one module per venue: the bytes of a record in, typed events out.
//!
//! Typed and single pass over the frame (serde into structs of borrowed strings, never a
//! generic JSON tree first), and never a panic: anything a venue or a damaged journal can
//! send is an `Ok` (possibly no events: acks, streams not projected) or a `DecodeError`
//! with the reason, which the fold counts and quarantines as `state.events.DecodeError`.

pub mod binance;
pub mod bybit;
pub mod gate;
pub mod json;
pub mod kucoin;
pub mod msgspec;
pub mod number;
pub mod okx;
pub mod phemex;
pub mod scaled;
pub mod scan;
pub mod shape;
pub mod upbit;
pub mod utc;

use std::fmt;

use crate::event::Event;

/// Nanoseconds per millisecond.
pub const MS: i64 = 1_000_000;
/// The largest time in ms whose ns still fit an i64 (`state.decode.common.Ms`).
pub const MAX_MS: i64 = i64::MAX / MS;

/// Why a frame is no events: it is quarantined, counted as a decode error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

impl From<serde_json::Error> for DecodeError {
    fn from(e: serde_json::Error) -> Self {
        DecodeError(format!("JSON: {e}"))
    }
}

/// A time in ms from the venue as ns, refused when it does not fit.
pub fn ms_to_ns(ms: i64, field: &str) -> Result<i64, DecodeError> {
    if (0..=MAX_MS).contains(&ms) {
        Ok(ms * MS)
    } else {
        Err(DecodeError(format!("{field} = {ms} ms is out of range")))
    }
}

/// One stream's decoder, by its venue (`state.decode.DECODERS` has the same rows).
#[derive(Debug, Clone)]
pub enum Decoder {
    Binance(binance::BinanceDecoder),
    Upbit(upbit::UpbitDecoder),
    Okx(okx::OkxDecoder),
    Bybit(bybit::BybitDecoder),
    Kucoin(kucoin::KucoinDecoder),
    Gate(gate::GateDecoder),
    Phemex(phemex::PhemexDecoder),
}

impl Decoder {
    /// The decoder of a stream of `venue` (its `market` and connection `url` as the
    /// streams table holds them), or None where the core has no decoder for the venue yet.
    pub fn for_stream(venue: &str, _market: &str, url: &str) -> Option<Decoder> {
        match venue {
            "binance-usdm" | "binance-spot" => {
                Some(Decoder::Binance(binance::BinanceDecoder::new(url)))
            }
            "upbit" => Some(Decoder::Upbit(upbit::UpbitDecoder)),
            "okx" => Some(Decoder::Okx(okx::OkxDecoder)),
            "bybit" => Some(Decoder::Bybit(bybit::BybitDecoder)),
            "kucoin" => Some(Decoder::Kucoin(kucoin::KucoinDecoder)),
            "gate" => Some(Decoder::Gate(gate::GateDecoder)),
            "phemex" => Some(Decoder::Phemex(phemex::PhemexDecoder)),
            _ => None,
        }
    }

    /// The events of one WebSocket frame; `Err` quarantines it (a decode error).
    pub fn frame<'a>(&'a self, payload: &'a [u8]) -> Result<Vec<Event<'a>>, DecodeError> {
        match self {
            Decoder::Binance(d) => d.frame(payload),
            Decoder::Upbit(d) => d.frame(payload),
            Decoder::Okx(d) => d.frame(payload),
            Decoder::Bybit(d) => d.frame(payload),
            Decoder::Kucoin(d) => d.frame(payload),
            Decoder::Gate(d) => d.frame(payload),
            Decoder::Phemex(d) => d.frame(payload),
        }
    }
}
