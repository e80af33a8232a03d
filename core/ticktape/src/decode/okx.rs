//! OKX v5 public channels: books (snapshot and update, with their CRC32 checksum and
//! sequence ids), trades and tickers.
//!
//! The port of `state/decode/okx.py`'s frame path, event for event. A frame is read first
//! for its head (`event`, `arg`, whether it has `data`): an event (subscribe, error,
//! notice) or a frame without data is no events, one with neither event nor arg an error.
//! Then its channel says how to read its data, one event per element. Channels not
//! projected (candles, instruments) are no events.

use std::borrow::Cow;
use std::fmt;

use serde::de::{SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::json::Slot;
use super::number::{any_int, digit_id, opt_int, py_int};
use super::shape::{escapes, object, objects};
use super::{ms_to_ns, DecodeError};
use crate::event::{BookDelta, BookSnapshot, Event, Level, Side, Source, Str, Ticker, Trade};

/// The book channels, each read as `books` is.
const BOOKS: [&str; 5] = [
    "books",
    "books5",
    "bbo-tbt",
    "books-l2-tbt",
    "books50-l2-tbt",
];

/// OKX's decoder holds no state: every frame names its instrument.
#[derive(Debug, Clone, Default)]
pub struct OkxDecoder;

#[derive(Deserialize)]
struct Top<'a> {
    #[serde(default, borrow)]
    arg: Slot<'a>,
    #[serde(default, borrow)]
    event: Slot<'a>,
    #[serde(default, borrow)]
    data: Slot<'a>,
    #[serde(default, borrow)]
    action: Slot<'a>,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct Arg<'a> {
    #[serde(default, borrow)]
    channel: Slot<'a>,
    #[serde(default, borrow)]
    instId: Slot<'a>,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct BookData<'a> {
    #[serde(default, borrow)]
    asks: Slot<'a>,
    #[serde(default, borrow)]
    bids: Slot<'a>,
    #[serde(default, borrow)]
    ts: Slot<'a>,
    #[serde(default, borrow)]
    checksum: Slot<'a>,
    #[serde(default, borrow)]
    seqId: Slot<'a>,
    #[serde(default, borrow)]
    prevSeqId: Slot<'a>,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct TradeData<'a> {
    #[serde(default, borrow)]
    instId: Slot<'a>,
    #[serde(default, borrow)]
    tradeId: Slot<'a>,
    #[serde(default, borrow)]
    px: Slot<'a>,
    #[serde(default, borrow)]
    sz: Slot<'a>,
    #[serde(default, borrow)]
    side: Slot<'a>,
    #[serde(default, borrow)]
    ts: Slot<'a>,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct TickerData<'a> {
    #[serde(default, borrow)]
    instId: Slot<'a>,
    #[serde(default, borrow)]
    last: Slot<'a>,
    #[serde(default, borrow)]
    askPx: Slot<'a>,
    #[serde(default, borrow)]
    bidPx: Slot<'a>,
    #[serde(default, borrow)]
    open24h: Slot<'a>,
    #[serde(default, borrow)]
    high24h: Slot<'a>,
    #[serde(default, borrow)]
    low24h: Slot<'a>,
    #[serde(default, borrow)]
    vol24h: Slot<'a>,
    #[serde(default, borrow)]
    volCcy24h: Slot<'a>,
    #[serde(default, borrow)]
    ts: Slot<'a>,
}

/// A level `[price, size, "0", orders]`: any number of strings, the first two kept (the
/// book takes price and size); fewer than two is an error, as Python's `lv[1]` is.
struct Lv<'a>(Level<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for Lv<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Lv<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of at least two strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Lv<'de>, A::Error> {
                let price = seq.next_element::<Text<'de>>()?;
                let size = seq.next_element::<Text<'de>>()?;
                while seq.next_element::<Text<'de>>()?.is_some() {}
                match (price, size) {
                    (Some(Text(p)), Some(Text(s))) => Ok(Lv(Level::new(p, s))),
                    _ => Err(serde::de::Error::custom(
                        "a level of fewer than two strings",
                    )),
                }
            }
        }
        d.deserialize_seq(V)
    }
}

/// A string borrowed from the frame where it has no escapes (serde's own `Cow<str>`
/// always copies).
struct Text<'a>(Str<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

fn levels<'a>(slot: &Slot<'a>, name: &str) -> Result<Vec<Level<'a>>, DecodeError> {
    let v: Vec<Lv<'a>> =
        serde_json::from_str(slot.raw(name)?).map_err(|e| DecodeError(format!("`{name}`: {e}")))?;
    Ok(v.into_iter().map(|Lv(l)| l).collect())
}

/// A time in ms sent as a string (`"1652459223003"`), as ns.
fn ms_text(slot: &Slot<'_>, name: &str) -> Result<i64, DecodeError> {
    ms_to_ns(py_int(&slot.string(name)?, name)?, name)
}

/// The taker side as OKX spells it; Python keeps any string, the core only these.
fn side(text: &str) -> Result<Side, DecodeError> {
    match text {
        "buy" => Ok(Side::Buy),
        "sell" => Ok(Side::Sell),
        "" => Ok(Side::Unknown),
        _ => Err(DecodeError(format!("trade side {text:?}"))),
    }
}

impl OkxDecoder {
    /// The events of one WebSocket frame; `Err` quarantines it (a decode error).
    pub fn frame<'a>(&self, payload: &'a [u8]) -> Result<Vec<Event<'a>>, DecodeError> {
        if payload == b"pong" {
            return Ok(vec![]);
        }
        let text =
            std::str::from_utf8(payload).map_err(|e| DecodeError(format!("not UTF-8: {e}")))?;
        escapes(text)?;
        let top: Top<'a> = object(text, "frame")?;
        let event = top.event.opt_string("event")?;
        let arg: Option<Arg<'a>> = match top.arg.0.map(|r| r.get()) {
            None | Some("null") => None,
            Some(raw) => Some(object(raw, "arg")?),
        };
        let channel = match &arg {
            Some(a) => {
                if a.instId.is_present() {
                    a.instId.string("instId")?; // `instId: str = ""`: a string when present
                }
                Some(a.channel.string("channel")?)
            }
            None => None,
        };
        let (Some(arg), Some(channel), None, true) = (arg, channel, &event, top.data.is_present())
        else {
            if event.is_none() && top.arg.0.is_none_or(|r| r.get() == "null") {
                return Err(DecodeError("neither event nor arg".to_owned()));
            }
            return Ok(vec![]); // subscribe / error / notice acks
        };
        let inst = || -> Result<Str<'a>, DecodeError> {
            match arg.instId.0 {
                None => Ok(Cow::Borrowed("")),
                Some(_) => arg.instId.string("instId"),
            }
        };
        let data = top.data.raw("data")?;
        if BOOKS.contains(&channel.as_ref()) {
            let update = match top.action.0 {
                None => false, // snapshot (books5 and bbo-tbt send no action)
                Some(_) => top.action.string("action")? == "update",
            };
            let symbol = inst()?;
            let mut out = Vec::new();
            for d in objects::<BookData<'a>>(data, "data")? {
                let exch_ts_ns = ms_text(&d.ts, "ts")?;
                let bids = levels(&d.bids, "bids")?;
                let asks = levels(&d.asks, "asks")?;
                let checksum = opt_int(&d.checksum, "checksum")?;
                let seq = opt_int(&d.seqId, "seqId")?;
                out.push(if update {
                    Event::BookDelta(BookDelta {
                        symbol: symbol.clone(),
                        exch_ts_ns,
                        bids,
                        asks,
                        first_id: None,
                        last_id: seq,
                        prev_id: opt_int(&d.prevSeqId, "prevSeqId")?,
                        checksum,
                    })
                } else {
                    // a snapshot keeps no prevSeqId: any integer (or null) will do
                    if d.prevSeqId.0.is_some_and(|r| r.get() != "null") {
                        any_int(&d.prevSeqId, "prevSeqId")?;
                    }
                    Event::BookSnapshot(BookSnapshot {
                        symbol: symbol.clone(),
                        exch_ts_ns,
                        bids,
                        asks,
                        update_id: seq,
                        depth: None,
                        checksum,
                        totals: None,
                        source: Source::Ws,
                    })
                });
            }
            return Ok(out);
        }
        match channel.as_ref() {
            "trades" | "trades-all" => objects::<TradeData<'a>>(data, "data")?
                .into_iter()
                .map(|t| {
                    let id = t.tradeId.string("tradeId")?;
                    Ok(Event::Trade(Trade {
                        symbol: t.instId.string("instId")?,
                        exch_ts_ns: ms_text(&t.ts, "ts")?,
                        price: t.px.string("px")?,
                        size: t.sz.string("sz")?,
                        side: side(&t.side.string("side")?)?,
                        ordinal: digit_id(&id)?,
                        trade_id: id.into_owned(),
                    }))
                })
                .collect(),
            "tickers" => objects::<TickerData<'a>>(data, "data")?
                .into_iter()
                .map(|t| {
                    Ok(Event::Ticker(Ticker {
                        symbol: t.instId.string("instId")?,
                        exch_ts_ns: match t.ts.0 {
                            None => 0,
                            Some(_) => ms_text(&t.ts, "ts")?,
                        },
                        last: t.last.opt_string("last")?,
                        bid: t.bidPx.opt_string("bidPx")?,
                        ask: t.askPx.opt_string("askPx")?,
                        open: t.open24h.opt_string("open24h")?,
                        high: t.high24h.opt_string("high24h")?,
                        low: t.low24h.opt_string("low24h")?,
                        volume: t.vol24h.opt_string("vol24h")?,
                        quote_volume: t.volCcy24h.opt_string("volCcy24h")?,
                        ..Ticker::default()
                    }))
                })
                .collect(),
            _ => Ok(vec![]), // candles, instruments ...
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const UPDATE: &[u8] = br#"{"arg":{"channel":"books","instId":"BTC-USD-220527"},"action":"update","data":[{"asks":[["30249.4","0","0","0"],["30261","4","0","1"]],"bids":[["30182.6","452","0","1"]],"ts":"1652459225464","checksum":-914047754,"seqId":12,"prevSeqId":11}]}"#;
    const TRADE: &[u8] = br#"{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"338476307","px":"30236","sz":"0.0002","side":"buy","ts":"1652459224818"}]}"#;

    #[test]
    fn a_book_update_is_a_delta_with_its_checksum_and_ids() {
        let got = OkxDecoder.frame(UPDATE).unwrap();
        let Event::BookDelta(d) = &got[0] else {
            panic!("{got:?}")
        };
        assert_eq!(
            (d.first_id, d.last_id, d.prev_id, d.checksum),
            (None, Some(12), Some(11), Some(-914047754))
        );
        assert_eq!(d.asks[1], Level::new("30261".into(), "4".into()));
        assert!(matches!(d.symbol, Cow::Borrowed("BTC-USD-220527")));
        let snap = br#"{"arg":{"channel":"books5","instId":"X"},"data":[{"asks":[],"bids":[["1","2"]],"ts":"1","seqId":5,"prevSeqId":-1}]}"#;
        let got = OkxDecoder.frame(snap).unwrap();
        assert!(matches!(&got[0], Event::BookSnapshot(s) if s.update_id == Some(5)));
    }

    #[test]
    fn a_trade_keeps_its_id_and_a_numeric_one_is_its_ordinal() {
        let got = OkxDecoder.frame(TRADE).unwrap();
        assert!(matches!(&got[0], Event::Trade(t)
            if t.ordinal == Some(338476307) && t.side == Side::Buy && t.trade_id == "338476307"));
    }

    #[test]
    fn acks_pongs_and_other_channels_are_no_events_and_bad_shapes_errors() {
        let dec = OkxDecoder;
        assert_eq!(dec.frame(b"pong").unwrap(), vec![]);
        let ack = br#"{"event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"}}"#;
        assert_eq!(dec.frame(ack).unwrap(), vec![]);
        let candle = br#"{"arg":{"channel":"candle1m","instId":"X"},"data":[["1"]]}"#;
        assert_eq!(dec.frame(candle).unwrap(), vec![]);
        assert!(dec.frame(br#"{"data":[]}"#).is_err());
        assert!(dec.frame(br#"{"event":"x","arg":5}"#).is_err());
        assert!(dec
            .frame(br#"{"arg":{"channel":"books"},"data":[{"asks":[["1"]],"bids":[],"ts":"1"}]}"#)
            .is_err());
        assert!(dec.frame(br#"[{"arg":{"channel":"trades"}}]"#).is_err());
    }

    proptest! {
        // Any bytes, and any cut or change of a real frame: a result, never a panic.
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400),
                        cut in 0usize..400, at in 0usize..400, byte in any::<u8>()) {
            let _ = OkxDecoder.frame(&bytes);
            for frame in [UPDATE, TRADE] {
                let mut f = frame.to_vec();
                f.truncate(cut.min(f.len()));
                let _ = OkxDecoder.frame(&f);
                let mut g = frame.to_vec();
                if at < g.len() { g[at] = byte; }
                let _ = OkxDecoder.frame(&g);
            }
        }
    }
}
