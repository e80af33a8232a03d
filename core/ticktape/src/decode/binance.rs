//! Binance USD-M futures and spot: combined or raw WebSocket streams, REST depth.
//!
//! The port of `state/decode/binance.py`, event for event: a combined-stream frame
//! (`{"stream": ..., "data": {...}}`) or a bare event (a raw `/ws/<stream>` connection,
//! whose one stream is named only in its URL) is read by its `e` into a depth diff (a
//! top-N picture on a partial-depth stream), book ticker, trade, aggregate trade, kline,
//! mark price or 24 h ticker. Spot frames without `e` (book ticker, partial depth) and control frames
//! (subscribe acks, streams not projected) take the slow path, as in Python.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::json::Slot;
use super::scan::Cursor;
use super::shape::escapes;
use super::{ms_to_ns, DecodeError};
use crate::event::{
    BookDelta, BookSnapshot, BookTicker, Event, Kline, Level, Side, Source, Str, Ticker, Trade,
};

/// The event types a Binance frame may carry that the projection folds.
const KNOWN_E: [&str; 7] = [
    "depthUpdate",
    "bookTicker",
    "trade",
    "aggTrade",
    "kline",
    "markPriceUpdate",
    "24hrTicker",
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

/// A `24hrTicker` event's own fields (`<symbol>@ticker`, about once a second), read from the
/// event again once its `e` says so: `c`, `o`, `h`, `l`, `v`, `P`, `x` are no other
/// event's, so `Fields` (and the single pass's list of its keys) stays as it was.
#[derive(Deserialize)]
#[allow(non_snake_case)]
struct TickerBody<'a> {
    /// Last price.
    #[serde(default, borrow)]
    c: Slot<'a>,
    /// Open price, 24 h ago.
    #[serde(default, borrow)]
    o: Slot<'a>,
    #[serde(default, borrow)]
    h: Slot<'a>,
    #[serde(default, borrow)]
    l: Slot<'a>,
    /// Base asset volume.
    #[serde(default, borrow)]
    v: Slot<'a>,
    /// Price change per cent.
    #[serde(default, borrow)]
    P: Slot<'a>,
    /// Spot only: the last price before the window (the previous close).
    #[serde(default, borrow)]
    x: Slot<'a>,
}

/// The fields of a book ticker, trade, aggregate trade or depth diff, as the single pass
/// reads them.
#[derive(Default)]
#[allow(non_snake_case)]
struct Hot<'a> {
    s: Option<&'a str>,
    E: Option<i64>,
    T: Option<i64>,
    U: Option<i64>,
    u: Option<i64>,
    /// `pu`: Some(None) when it is `null`.
    pu: Option<Option<i64>>,
    t: Option<i64>,
    /// `a` of an aggregate trade: its id.
    a_id: Option<i64>,
    b: Option<&'a str>,
    B: Option<&'a str>,
    a: Option<&'a str>,
    A: Option<&'a str>,
    p: Option<&'a str>,
    q: Option<&'a str>,
    m: Option<bool>,
    bids: Option<Vec<Level<'a>>>,
    asks: Option<Vec<Level<'a>>>,
}

#[derive(Clone, Copy, PartialEq)]
enum HotKind {
    Ticker,
    Trade,
    AggTrade,
    Depth,
}

/// Sets a field read once: a key repeated is left to the general path (serde refuses it).
fn once<T>(slot: &mut Option<T>, v: Option<T>) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(v?);
    Some(())
}

/// Reads a field the kind's event takes into `h`; None leaves the frame to the general
/// path: a value not in its plainest spelling, a key repeated, or a key of the general
/// path's schema the kind does not read (so its value needs no check here).
fn hot_field<'a>(c: &mut Cursor<'a>, h: &mut Hot<'a>, kind: HotKind, key: &str) -> Option<()> {
    use HotKind::{AggTrade as Agg, Depth, Ticker as Book, Trade};
    // By the key's bytes: a one-byte key is one comparison, not a chain of string ones.
    match (key.as_bytes(), kind) {
        (b"s", _) => once(&mut h.s, c.string()),
        (b"E", _) => once(&mut h.E, c.int()),
        (b"T", _) => once(&mut h.T, c.int()),
        (b"u", Book | Depth) => once(&mut h.u, c.int()),
        (b"U", Depth) => once(&mut h.U, c.int()),
        (b"pu", Depth) => {
            let v = if c.null() {
                Some(None)
            } else {
                c.int().map(Some)
            };
            once(&mut h.pu, v)
        }
        (b"b", Depth) => {
            let cap = c.rest_len() / 20; // the asks follow: room to spare, no regrowth
            once(&mut h.bids, c.levels(cap))
        }
        (b"a", Depth) => {
            let cap = c.rest_len() / 20;
            once(&mut h.asks, c.levels(cap))
        }
        (b"b", Book) => once(&mut h.b, c.string()),
        (b"B", Book) => once(&mut h.B, c.string()),
        (b"a", Book) => once(&mut h.a, c.string()),
        (b"A", Book) => once(&mut h.A, c.string()),
        (b"a", Agg) => once(&mut h.a_id, c.int()),
        (b"t", Trade) => once(&mut h.t, c.int()),
        (b"p", Trade | Agg) => once(&mut h.p, c.string()),
        (b"q", Trade | Agg) => once(&mut h.q, c.string()),
        (b"m", Trade | Agg) => once(&mut h.m, c.boolean()),
        // The rest of `Fields`: not read for this kind, and a repeat would be an error.
        ([b'e' | b'U' | b'u' | b'b' | b'a' | b'B' | b'A' | b't' | b'p' | b'q' | b'm'], _)
        | ([b'k' | b'i' | b'r'], _)
        | (b"pu" | b"lastUpdateId" | b"bids" | b"asks" | b"result" | b"id", _) => None,
        _ => c.skip_scalar(), // a field no schema reads (`X`, `M`, `f`, ...)
    }
}

/// `ms_to_ns` of a present time, 0 for an absent one; None when out of range.
fn ns(ms: Option<i64>) -> Option<i64> {
    match ms {
        None => Some(0),
        Some(ms) => ms_to_ns(ms, "").ok(),
    }
}

/// The single typed pass over Binance's usual frames: a combined-stream frame beginning
/// `{"stream":"...","data":{"e":"<kind>"` or a bare event beginning `{"e":"<kind>"`, of a
/// book ticker, trade, aggregate trade or depth diff, read straight into its event with
/// the levels borrowed in place. None on any deviation (another kind, a value not in its
/// plainest spelling, a key repeated, a time out of range, ...): the general path then
/// reads the frame, and gives the event or error it always did; where this answers, the
/// general path answers the same (the tests and the differential test hold it to that).
fn hot<'a>(text: &'a str, url_stream: &'a str) -> Option<Event<'a>> {
    let b = text.as_bytes();
    let mut c = Cursor::new(text);
    let combined = b.get(2) == Some(&b's');
    let stream = if combined {
        if !c.lit(r#"{"stream":"#) {
            return None;
        }
        let stream = c.string()?;
        if !(c.eat(b',') && c.eat(b'"') && c.lit(r#"data""#) && c.eat(b':') && c.eat(b'{')) {
            return None;
        }
        stream
    } else {
        if !c.eat(b'{') {
            return None;
        }
        url_stream
    };
    if !(c.eat(b'"') && c.lit(r#"e""#) && c.eat(b':')) {
        return None;
    }
    let kind = match c.string()? {
        "depthUpdate" => HotKind::Depth,
        "bookTicker" => HotKind::Ticker,
        "trade" => HotKind::Trade,
        "aggTrade" => HotKind::AggTrade,
        _ => return None,
    };
    let mut h = Hot::default();
    loop {
        match c.peek()? {
            b',' => c.eat(b','),
            b'}' => {
                c.eat(b'}');
                break;
            }
            _ => return None,
        };
        let key = c.string()?;
        if !c.eat(b':') {
            return None;
        }
        hot_field(&mut c, &mut h, kind, key)?;
    }
    if (combined && !c.eat(b'}')) || !c.at_end() {
        return None;
    }
    let symbol = Str::Borrowed(h.s?);
    let (t_ns, e_ns) = (ns(h.T)?, ns(h.E)?);
    // The transaction time `T`, else the event time `E` (required but by a book ticker).
    let exch_ts_ns = if h.T.unwrap_or(0) != 0 { t_ns } else { e_ns };
    if kind != HotKind::Ticker {
        h.E?;
    }
    Some(match kind {
        HotKind::Ticker => Event::BookTicker(BookTicker {
            exch_ts_ns,
            update_id: Some(h.u?),
            bid_px: Str::Borrowed(h.b?),
            bid_sz: Str::Borrowed(h.B?),
            ask_px: Str::Borrowed(h.a?),
            ask_sz: Str::Borrowed(h.A?),
            symbol,
        }),
        HotKind::Trade | HotKind::AggTrade => {
            let id = if kind == HotKind::Trade {
                h.t?
            } else {
                h.a_id?
            };
            Event::Trade(Trade {
                exch_ts_ns,
                price: Str::Borrowed(h.p?),
                size: Str::Borrowed(h.q?),
                side: if h.m? { Side::Sell } else { Side::Buy },
                trade_id: id.to_string(),
                ordinal: Some(id),
                symbol,
            })
        }
        HotKind::Depth => {
            let (first, last, prev) = (h.U?, h.u?, h.pu.flatten());
            let (bids, asks) = (h.bids?, h.asks?);
            depth_event(
                stream,
                BookDelta {
                    symbol,
                    exch_ts_ns,
                    bids,
                    asks,
                    first_id: Some(first),
                    last_id: Some(last),
                    prev_id: prev,
                    checksum: None,
                },
            )
        }
    })
}

/// A `depthUpdate` of `stream` as Python projects it: the delta itself on a diff stream, a
/// top-N snapshot (update id `u`) on a partial-depth stream. The hot and the general path
/// both end here.
fn depth_event<'a>(stream: &str, d: BookDelta<'a>) -> Event<'a> {
    match partial_depth(stream) {
        Some(depth) => Event::BookSnapshot(d.into_ws_snapshot(Some(depth))),
        None => Event::BookDelta(d),
    }
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
        if let Some(ev) = hot(text, &self.url_stream) {
            return Ok(vec![ev]); // no escapes read, so no lone surrogate to refuse
        }
        self.general(payload, text)
    }

    /// Any frame, read as serde reads it: raw fields first, each then typed by the kind.
    fn general<'a>(
        &'a self,
        payload: &'a [u8],
        text: &'a str,
    ) -> Result<Vec<Event<'a>>, DecodeError> {
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
        let f: Fields<'a> = serde_json::from_str(data)?;
        let kind = if f.e.is_present() {
            f.e.string("e").ok()
        } else {
            None
        };
        let why = match kind.as_deref() {
            Some(k) if KNOWN_E.contains(&k) => match self.event(k, &f, &stream, data) {
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
        data: &'a str,
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
                depth_event(
                    stream,
                    BookDelta {
                        symbol,
                        exch_ts_ns,
                        bids,
                        asks,
                        first_id: Some(first),
                        last_id: Some(last),
                        prev_id: prev,
                        checksum: None,
                    },
                )
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
            "24hrTicker" => {
                let exch_ts_ns = ms_to_ns(f.E.int("E")?, "E")?;
                let change = f.p.string("p")?;
                let d: TickerBody<'a> = serde_json::from_str(data)?;
                Event::Ticker(Ticker {
                    symbol,
                    exch_ts_ns,
                    change_rate: Some(d.P.string("P")?),
                    last: Some(d.c.string("c")?),
                    open: Some(d.o.string("o")?),
                    high: Some(d.h.string("h")?),
                    low: Some(d.l.string("l")?),
                    volume: Some(d.v.string("v")?),
                    quote_volume: Some(f.q.string("q")?),
                    prev_close: d.x.opt_string("x")?,
                    change: Some(change),
                    ..Ticker::default()
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

    /// A USD-M `<symbol>@ticker` event as documented (no `x`, no best bid/ask).
    const TICKER: &[u8] = br#"{"stream":"btcusdt@ticker","data":{"e":"24hrTicker","E":1723161256000,"s":"BTCUSDT","p":"-412.30","P":"-0.662","w":"61950.11","c":"61800.30","Q":"0.006","o":"62212.60","h":"62700.00","l":"61010.10","v":"203144.512","q":"12584431122.73","O":1723074840000,"C":1723161255999,"F":5261000000,"L":5266583935,"n":5583936}}"#;

    #[test]
    fn a_24h_ticker_carries_its_stats_change_and_rate_as_sent() {
        let dec = BinanceDecoder::new("wss://fstream.binance.com/market/stream");
        let got = dec.frame(TICKER).unwrap();
        let Event::Ticker(t) = &got[0] else {
            panic!("{got:?}")
        };
        let f = |v: &Option<Str<'_>>| v.as_deref().map(str::to_owned);
        assert_eq!(t.exch_ts_ns, 1_723_161_256_000 * MS_NS);
        assert_eq!(
            [
                &t.last,
                &t.open,
                &t.high,
                &t.low,
                &t.volume,
                &t.quote_volume
            ]
            .map(f),
            [
                "61800.30",
                "62212.60",
                "62700.00",
                "61010.10",
                "203144.512",
                "12584431122.73"
            ]
            .map(|s| Some(s.to_owned()))
        );
        assert_eq!(
            [&t.change, &t.change_rate, &t.prev_close].map(f),
            [Some("-412.30".to_owned()), Some("-0.662".to_owned()), None]
        );
        assert_eq!((t.mark.as_ref(), t.bid.as_ref()), (None, None));
        // Spot sends the previous close as `x`; a field missing or of the wrong type fails.
        let spot = br#"{"e":"24hrTicker","E":1,"s":"BTCUSDT","p":"1","P":"2","x":"3","c":"4","o":"3","h":"5","l":"2","v":"6","q":"7"}"#;
        let raw = BinanceDecoder::new("wss://stream.binance.com/ws/btcusdt@ticker");
        let got = raw.frame(spot);
        assert!(
            matches!(&got.unwrap()[0], Event::Ticker(t) if t.prev_close.as_deref() == Some("3"))
        );
        let short = br#"{"e":"24hrTicker","E":1,"s":"BTCUSDT","p":"1","P":"2","c":"4","o":"3","h":"5","l":"2","v":"6"}"#;
        assert!(dec.frame(short).is_err());
        let number = br#"{"e":"24hrTicker","E":1,"s":"BTCUSDT","p":"1","P":2,"c":"4","o":"3","h":"5","l":"2","v":"6","q":"7"}"#;
        assert!(dec.frame(number).is_err());
    }

    const BOOK: &[u8] = br#"{"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":5123107839020,"s":"BTCUSDT","b":"61800.20","B":"2.507","a":"61800.30","A":"2.510","T":1723161256313,"E":1723161256313}}"#;
    const TRADE: &[u8] = br#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161256322,"T":1723161256322,"s":"BTCUSDT","t":5266583935,"p":"61800.30","q":"0.006","X":"MARKET","m":false}}"#;
    const AGG: &[u8] = br#"{"e":"aggTrade","E":1723161256322,"a":26129,"s":"BTCUSDT","p":"0.01633102","q":"4.70443515","f":27781,"l":27781,"T":1723161256322,"m":true,"M":true}"#;
    const PARTIAL: &[u8] = br#"{"stream":"btcusdt@depth5@100ms","data":{"e":"depthUpdate","E":1,"T":0,"s":"BTCUSDT","U":1,"u":2,"pu":null,"b":[["1","2"]],"a":[]}}"#;
    const FRAMES: [&[u8]; 5] = [DEPTH, BOOK, TRADE, AGG, PARTIAL];

    fn decoder() -> BinanceDecoder {
        BinanceDecoder::new("wss://fstream.binance.com/ws/btcusdt@aggTrade")
    }

    /// The single pass's answer where it gives one, checked against the general path's.
    fn hot_agrees(dec: &BinanceDecoder, frame: &[u8]) -> Result<bool, TestCaseError> {
        let Ok(text) = std::str::from_utf8(frame) else {
            return Ok(false);
        };
        let Some(ev) = hot(text, &dec.url_stream) else {
            return Ok(false);
        };
        prop_assert_eq!(Ok(vec![ev]), dec.general(frame, text), "{}", text);
        Ok(true)
    }

    #[test]
    fn the_usual_frames_are_read_in_one_pass_as_the_general_path_reads_them() {
        let dec = decoder();
        for frame in FRAMES {
            assert!(
                hot_agrees(&dec, frame).unwrap(),
                "{:?}",
                std::str::from_utf8(frame)
            );
        }
        // Spaced out, still one pass; repeated keys, escapes, floats: the general path's.
        let spaced = br#" { "e" : "trade" , "E" : 1 , "s" : "X" , "t" : -0 , "p" : "1" , "q" : "2" , "m" : true } "#;
        assert!(hot_agrees(&dec, spaced).unwrap());
        for other in [
            &br#"{"e":"trade","E":1,"s":"X","t":1,"p":"1","q":"2","m":true,"p":"3"}"#[..],
            br#"{"e":"trade","E":1,"s":"X","t":1,"p":"1","q":"\u0032","m":true}"#,
            br#"{"e":"trade","E":1.0,"s":"X","t":1,"p":"1","q":"2","m":true}"#,
            br#"{"e":"trade","E":1,"s":"X","t":1,"p":"1","q":"2","m":true,"a":1}"#,
            br#"{"e":"trade","E":1,"s":"X","t":1,"p":"1","q":"2","m":true,"X":[1]}"#,
            br#"{"e":"trade","E":1,"s":"X","t":1,"p":"1","q":"2"}"#,
            br#"{"e":"trade","E":-1,"s":"X","t":1,"p":"1","q":"2","m":true}"#,
            br#"{"s":"X","e":"trade","E":1,"t":1,"p":"1","q":"2","m":true}"#,
            br#"{"e":"kline","E":1,"s":"X"}"#,
        ] {
            assert!(
                !hot_agrees(&dec, other).unwrap(),
                "{:?}",
                std::str::from_utf8(other)
            );
        }
    }

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
            let mut h = TICKER.to_vec();
            h.truncate(cut.min(h.len()));
            let _ = dec.frame(&h);
            let mut k = TICKER.to_vec();
            if at < k.len() { k[at] = byte; }
            let _ = dec.frame(&k);
        }

        // Any change of a usual frame (a byte replaced, a cut, whitespace or a byte put in):
        // where the single pass reads it, the general path reads the same events.
        #[test]
        fn the_single_pass_agrees_with_the_general_path(
            which in 0usize..5, at in 0usize..400, byte in any::<u8>(),
            edit in 0u8..4, raw in any::<bool>()) {
            let dec = if raw { decoder() } else {
                BinanceDecoder::new("wss://fstream.binance.com/stream")
            };
            let mut f = FRAMES[which].to_vec();
            let at = at % (f.len() + 1);
            match edit {
                0 => if at < f.len() { f[at] = byte },
                1 => f.truncate(at),
                2 => f.insert(at, b" \n\t\r"[usize::from(byte) % 4]),
                _ => f.insert(at, byte),
            }
            hot_agrees(&dec, &f)?;
        }
    }
}
