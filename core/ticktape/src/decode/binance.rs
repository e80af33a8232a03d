//! Binance USD-M futures and spot: combined or raw WebSocket streams, REST depth.
//!
//! The port of `state/decode/binance.py`, event for event: a combined-stream frame
//! (`{"stream": ..., "data": {...}}`) or a bare event (a raw `/ws/<stream>` connection,
//! whose one stream is named only in its URL) is read by its `e` into a depth diff (a
//! top-N picture on a partial-depth stream), book ticker, trade, aggregate trade, kline or
//! mark price. Spot frames without `e` (book ticker, partial depth) and control frames
//! (subscribe acks, streams not projected) take the slow path, as in Python.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::json::Slot;
use super::shape::escapes;
use super::{ms_to_ns, DecodeError};
use crate::event::{
    BookDelta, BookSnapshot, BookTicker, Event, Kline, Side, Source, Str, Ticker, Trade,
};

/// The event types a Binance frame may carry that the projection folds.
const KNOWN_E: [&str; 6] = [
    "depthUpdate",
    "bookTicker",
    "trade",
    "aggTrade",
    "kline",
    "markPriceUpdate",
];

/// One stream's decoder: only the stream named in a raw connection's URL is its state.
#[derive(Debug, Clone, Default)]
pub struct BinanceDecoder {
    url_stream: String,
}

#[derive(Deserialize)]
struct Combined<'a> {
    #[serde(borrow)]
    stream: Str<'a>,
    #[serde(borrow)]
    data: &'a RawValue,
}

/// Every field any of the events has, each left raw until the event type says how to read
/// it (`b` is the bids of a depth diff but the best bid of a book ticker).
#[derive(Deserialize, Default)]
#[allow(non_snake_case)]
struct Fields<'a> {
    #[serde(default, borrow)]
    e: Slot<'a>,
    #[serde(default, borrow)]
    E: Slot<'a>,
    #[serde(default, borrow)]
    T: Slot<'a>,
    #[serde(default, borrow)]
    s: Slot<'a>,
    #[serde(default, borrow)]
    U: Slot<'a>,
    #[serde(default, borrow)]
    u: Slot<'a>,
    #[serde(default, borrow)]
    pu: Slot<'a>,
    #[serde(default, borrow)]
    b: Slot<'a>,
    #[serde(default, borrow)]
    a: Slot<'a>,
    #[serde(default, borrow)]
    B: Slot<'a>,
    #[serde(default, borrow)]
    A: Slot<'a>,
    #[serde(default, borrow)]
    t: Slot<'a>,
    #[serde(default, borrow)]
    p: Slot<'a>,
    #[serde(default, borrow)]
    q: Slot<'a>,
    #[serde(default, borrow)]
    m: Slot<'a>,
    #[serde(default, borrow)]
    k: Slot<'a>,
    #[serde(default, borrow)]
    i: Slot<'a>,
    #[serde(default, borrow)]
    r: Slot<'a>,
    #[serde(default, borrow)]
    lastUpdateId: Slot<'a>,
    #[serde(default, borrow)]
    bids: Slot<'a>,
    #[serde(default, borrow)]
    asks: Slot<'a>,
    #[serde(default, borrow)]
    result: Slot<'a>,
    #[serde(default, borrow)]
    id: Slot<'a>,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct KlineBody<'a> {
    #[serde(default, borrow)]
    t: Slot<'a>,
    #[serde(default, borrow)]
    i: Slot<'a>,
    #[serde(default, borrow)]
    o: Slot<'a>,
    #[serde(default, borrow)]
    c: Slot<'a>,
    #[serde(default, borrow)]
    h: Slot<'a>,
    #[serde(default, borrow)]
    l: Slot<'a>,
    #[serde(default, borrow)]
    v: Slot<'a>,
    #[serde(default, borrow)]
    x: Slot<'a>,
    #[serde(default, borrow)]
    q: Slot<'a>,
}

/// A book ticker, trade or aggregate trade as Binance writes them (`"e"` first), read in
/// one typed pass; every field is as strict as `Fields`' reading of it, so anything this
/// refuses is read again by the general path, which takes it or says why not.
#[derive(Deserialize)]
#[allow(non_snake_case)]
struct Hot<'a> {
    #[serde(borrow)]
    s: &'a str,
    #[serde(default)]
    E: Option<i64>,
    #[serde(default)]
    T: Option<i64>,
    #[serde(default)]
    u: Option<i64>,
    #[serde(default)]
    t: Option<i64>,
    #[serde(default, borrow)]
    b: Option<&'a str>,
    #[serde(default, borrow)]
    B: Option<&'a str>,
    #[serde(default, borrow)]
    a: Option<HotA<'a>>,
    #[serde(default, borrow)]
    A: Option<&'a str>,
    #[serde(default, borrow)]
    p: Option<&'a str>,
    #[serde(default, borrow)]
    q: Option<&'a str>,
    #[serde(default)]
    m: Option<bool>,
}

/// `a`: the best ask of a book ticker, the id of an aggregate trade.
#[derive(Deserialize)]
#[serde(untagged)]
enum HotA<'a> {
    Str(&'a str),
    Id(i64),
}

fn ms(v: Option<i64>) -> Option<i64> {
    match v {
        None => Some(0),
        Some(ms) => ms_to_ns(ms, "").ok(),
    }
}

/// The hot frame kinds by their leading `{"e":"<kind>"`, or None for the general path.
fn hot<'a>(data: &'a str, stream: &str) -> Option<Event<'a>> {
    let kind = data.strip_prefix(r#"{"e":""#)?;
    let kind = &kind[..kind.find('"')?];
    if !matches!(kind, "bookTicker" | "trade" | "aggTrade") || stream.contains("@depth") {
        return None;
    }
    let h: Hot<'a> = serde_json::from_str(data).ok()?;
    // A JSON null where a value must be is refused by the general path: not taken here.
    let exch = |required_e: bool| -> Option<i64> {
        if required_e && h.E.is_none() {
            return None;
        }
        let (t, e) = (ms(h.T)?, ms(h.E)?);
        Some(if t != 0 { t } else { e })
    };
    let symbol = Str::Borrowed(h.s);
    if data.contains("null") {
        return None;
    }
    Some(match (kind, &h.a) {
        ("bookTicker", Some(HotA::Str(a))) => Event::BookTicker(BookTicker {
            exch_ts_ns: exch(false)?,
            update_id: Some(h.u?),
            bid_px: Str::Borrowed(h.b?),
            bid_sz: Str::Borrowed(h.B?),
            ask_px: Str::Borrowed(a),
            ask_sz: Str::Borrowed(h.A?),
            symbol,
        }),
        ("trade", _) | ("aggTrade", Some(HotA::Id(_))) => {
            let id = match (kind, &h.a) {
                ("trade", _) => h.t?,
                (_, Some(HotA::Id(id))) => *id,
                _ => return None,
            };
            Event::Trade(Trade {
                exch_ts_ns: exch(true)?,
                price: Str::Borrowed(h.p?),
                size: Str::Borrowed(h.q?),
                side: if h.m? { Side::Sell } else { Side::Buy },
                trade_id: id.to_string(),
                ordinal: Some(id),
                symbol,
            })
        }
        _ => return None,
    })
}

/// `btcusdt@depth20@100ms` -> 20; a diff stream (`@depth`, `@depth@0ms`) -> None.
pub fn partial_depth(stream: &str) -> Option<i64> {
    let at = stream.find("@depth")?;
    let digits: &str = {
        let rest = &stream[at + 6..];
        let end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        &rest[..end]
    };
    if digits.is_empty() || digits.len() > 6 {
        return None;
    }
    digits.parse().ok()
}

/// The exchange time of an event: its transaction time `T`, else its event time `E`.
fn exch_time(f: &Fields<'_>) -> Result<i64, DecodeError> {
    let t = f.T.int_or("T", 0)?;
    let e = f.E.int("E")?;
    let t_ns = ms_to_ns(t, "T")?;
    let e_ns = ms_to_ns(e, "E")?;
    Ok(if t != 0 { t_ns } else { e_ns })
}

impl BinanceDecoder {
    /// The decoder of a stream connected to `url` (a raw `/ws/<stream>` URL names its stream).
    pub fn new(url: &str) -> Self {
        let path = url.split(['?', '#']).next().unwrap_or("");
        let url_stream = match path.rsplit_once("/ws/") {
            Some((_, s)) => s.to_owned(),
            None => String::new(),
        };
        BinanceDecoder { url_stream }
    }

    /// The events of one WebSocket frame; `Err` quarantines it (a decode error).
    pub fn frame<'a>(&'a self, payload: &'a [u8]) -> Result<Vec<Event<'a>>, DecodeError> {
        let text =
            std::str::from_utf8(payload).map_err(|e| DecodeError(format!("not UTF-8: {e}")))?;
        escapes(text)?; // a lone surrogate anywhere is an error, as msgspec makes it
                        // The slow path reads a combined frame's stream only when the frame begins as
                        // Binance writes it, as the Python decoder did; otherwise the URL's.
        let (stream, data, slow_stream): (Str<'a>, &'a str, bool) = if payload.get(2) == Some(&b's')
        {
            let w: Combined<'a> = serde_json::from_slice(payload)?;
            let prefixed = payload.starts_with(b"{\"stream\":");
            (w.stream, w.data.get(), prefixed)
        } else {
            (Str::Borrowed(self.url_stream.as_str()), text, false)
        };
        if let Some(ev) = hot(data, &stream) {
            return Ok(vec![ev]);
        }
        let f: Fields<'a> = serde_json::from_str(data)?;
        let kind = if f.e.is_present() {
            f.e.string("e").ok()
        } else {
            None
        };
        let why = match kind.as_deref() {
            Some(k) if KNOWN_E.contains(&k) => match self.event(k, &f, &stream) {
                Ok(ev) => return Ok(vec![ev]),
                Err(why) => why,
            },
            _ => DecodeError("not an event the stream's schema knows".to_owned()),
        };
        if slow_stream || payload.get(2) != Some(&b's') {
            self.slow(&f, &stream, data, kind.as_deref(), why)
        } else {
            let f: Fields<'a> = serde_json::from_str(text)?;
            let kind = if f.e.is_present() {
                f.e.string("e").ok()
            } else {
                None
            };
            self.slow(&f, &self.url_stream, text, kind.as_deref(), why)
        }
    }

    fn event<'a>(
        &self,
        kind: &str,
        f: &Fields<'a>,
        stream: &str,
    ) -> Result<Event<'a>, DecodeError> {
        let symbol = f.s.string("s")?;
        Ok(match kind {
            "bookTicker" => Event::BookTicker(BookTicker {
                update_id: Some(f.u.int("u")?),
                bid_px: f.b.string("b")?,
                bid_sz: f.B.string("B")?,
                ask_px: f.a.string("a")?,
                ask_sz: f.A.string("A")?,
                exch_ts_ns: {
                    let t = f.T.int_or("T", 0)?;
                    let e = f.E.int_or("E", 0)?;
                    let (t_ns, e_ns) = (ms_to_ns(t, "T")?, ms_to_ns(e, "E")?);
                    if t != 0 {
                        t_ns
                    } else {
                        e_ns
                    }
                },
                symbol,
            }),
            "trade" | "aggTrade" => {
                let id = if kind == "trade" {
                    f.t.int("t")?
                } else {
                    f.a.int("a")?
                };
                Event::Trade(Trade {
                    exch_ts_ns: exch_time(f)?,
                    price: f.p.string("p")?,
                    size: f.q.string("q")?,
                    side: if f.m.boolean("m")? {
                        Side::Sell
                    } else {
                        Side::Buy
                    },
                    trade_id: id.to_string(),
                    ordinal: Some(id),
                    symbol,
                })
            }
            "depthUpdate" => {
                let exch_ts_ns = exch_time(f)?;
                let first = f.U.int("U")?;
                let last = f.u.int("u")?;
                let prev = f.pu.opt_int("pu")?;
                let (bids, asks) = (f.b.levels("b")?, f.a.levels("a")?);
                match partial_depth(stream) {
                    Some(depth) => Event::BookSnapshot(BookSnapshot {
                        symbol,
                        exch_ts_ns,
                        bids,
                        asks,
                        update_id: Some(last),
                        depth: Some(depth),
                        checksum: None,
                        totals: None,
                        source: Source::Ws,
                    }),
                    None => Event::BookDelta(BookDelta {
                        symbol,
                        exch_ts_ns,
                        bids,
                        asks,
                        first_id: Some(first),
                        last_id: Some(last),
                        prev_id: prev,
                        checksum: None,
                    }),
                }
            }
            "kline" => {
                let exch_ts_ns = ms_to_ns(f.E.int("E")?, "E")?;
                let k: KlineBody<'a> = serde_json::from_str(f.k.raw("k")?)?;
                Event::Kline(Kline {
                    symbol,
                    exch_ts_ns,
                    interval: k.i.string("i")?,
                    start_ns: ms_to_ns(k.t.int("t")?, "t")?,
                    open: k.o.string("o")?,
                    high: k.h.string("h")?,
                    low: k.l.string("l")?,
                    close: k.c.string("c")?,
                    volume: k.v.string("v")?,
                    quote_volume: k.q.opt_string("q")?,
                    closed: Some(k.x.boolean("x")?),
                })
            }
            _ => Event::Ticker(Ticker {
                // markPriceUpdate
                exch_ts_ns: ms_to_ns(f.E.int("E")?, "E")?,
                mark: Some(f.p.string("p")?),
                index: f.i.opt_string("i")?,
                funding_rate: f.r.opt_string("r")?,
                symbol,
                ..Ticker::default()
            }),
        })
    }

    /// Frames the event schemas do not take: spot book tickers and partial depth (no `e`),
    /// acks, streams not projected, and known events of the wrong shape (`why`).
    fn slow<'a>(
        &self,
        f: &Fields<'a>,
        stream: &str,
        data: &'a str,
        kind: Option<&str>,
        why: DecodeError,
    ) -> Result<Vec<Event<'a>>, DecodeError> {
        if stream.ends_with("@bookTicker") && !data.contains("\"e\":") {
            return Ok(vec![Event::BookTicker(BookTicker {
                update_id: Some(f.u.int("u")?),
                symbol: f.s.string("s")?,
                exch_ts_ns: 0,
                bid_px: f.b.string("b")?,
                bid_sz: f.B.string("B")?,
                ask_px: f.a.string("a")?,
                ask_sz: f.A.string("A")?,
            })]);
        }
        if let Some(depth) = partial_depth(stream) {
            if data.contains("\"lastUpdateId\"") {
                let native = stream.split('@').next().unwrap_or("").to_uppercase();
                let update_id = f.lastUpdateId.int("lastUpdateId")?;
                let (bids, asks) = (f.bids.levels("bids")?, f.asks.levels("asks")?);
                ms_to_ns(f.E.int_or("E", 0)?, "E")?;
                return Ok(vec![Event::BookSnapshot(BookSnapshot {
                    symbol: Str::Owned(native),
                    exch_ts_ns: ms_to_ns(f.T.int_or("T", 0)?, "T")?,
                    bids,
                    asks,
                    update_id: Some(update_id),
                    depth: Some(depth),
                    checksum: None,
                    totals: None,
                    source: Source::Ws,
                })]);
            }
        }
        if f.result.is_present() || f.id.is_present() {
            return Ok(vec![]); // SUBSCRIBE / LIST_SUBSCRIPTIONS ack
        }
        match kind {
            Some(k) if !KNOWN_E.contains(&k) => Ok(vec![]), // a stream we do not project
            _ => Err(DecodeError(format!(
                "unexpected shape for event {kind:?}: {why}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Level;
    use proptest::prelude::*;

    const DEPTH: &[u8] = br#"{"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":1723161600123,"T":1723161600120,"s":"BTCUSDT","U":10,"u":12,"pu":9,"b":[["61000.10","1.5"]],"a":[["61000.20","0"]]}}"#;

    #[test]
    fn a_depth_diff_is_a_delta_with_its_ids_and_transaction_time() {
        let dec = BinanceDecoder::new("wss://fstream.binance.com/stream?streams=btcusdt@depth@0ms");
        let got = dec.frame(DEPTH).unwrap();
        let Event::BookDelta(d) = &got[0] else {
            panic!("{got:?}")
        };
        assert_eq!(
            (d.first_id, d.last_id, d.prev_id),
            (Some(10), Some(12), Some(9))
        );
        assert_eq!(d.exch_ts_ns, 1_723_161_600_120 * MS_NS);
        assert_eq!(d.bids, vec![Level::new("61000.10".into(), "1.5".into())]);
        assert!(matches!(d.symbol, Str::Borrowed("BTCUSDT")));
    }

    #[test]
    fn a_partial_depth_stream_is_a_top_n_snapshot() {
        let frame = br#"{"stream":"btcusdt@depth20@100ms","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[],"a":[]}}"#;
        let dec = BinanceDecoder::new("wss://fstream.binance.com/stream");
        let got = dec.frame(frame).unwrap();
        assert!(
            matches!(&got[0], Event::BookSnapshot(s) if s.depth == Some(20) && s.update_id == Some(2))
        );
    }

    #[test]
    fn acks_and_unprojected_streams_are_no_events_and_bad_shapes_errors() {
        let dec = BinanceDecoder::new("wss://stream.binance.com/ws/btcusdt@trade");
        assert_eq!(dec.frame(br#"{"result":null,"id":1}"#).unwrap(), vec![]);
        assert_eq!(dec.frame(br#"{"e":"forceOrder","E":1}"#).unwrap(), vec![]);
        assert!(dec
            .frame(br#"{"e":"trade","E":-1,"s":"X","t":1,"p":"1","q":"1","m":true}"#)
            .is_err());
        assert!(dec
            .frame(br#"{"e":"trade","E":1,"s":"X","t":1,"p":1,"q":"1","m":true}"#)
            .is_err());
        assert!(dec.frame(b"[1,2]").is_err());
    }

    const MS_NS: i64 = super::super::MS;

    proptest! {
        // Any bytes, and any cut or change of a real frame: a result, never a panic.
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400),
                        cut in 0usize..400, at in 0usize..400, byte in any::<u8>()) {
            let dec = BinanceDecoder::new("wss://fstream.binance.com/ws/btcusdt@depth20");
            let _ = dec.frame(&bytes);
            let mut f = DEPTH.to_vec();
            f.truncate(cut.min(f.len()));
            let _ = dec.frame(&f);
            let mut g = DEPTH.to_vec();
            if at < g.len() { g[at] = byte; }
            let _ = dec.frame(&g);
        }
    }
}
