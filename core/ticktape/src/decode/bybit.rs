//! Bybit v5 public streams: orderbook snapshot and delta, publicTrade, tickers, kline.
//!
//! The port of `state/decode/bybit.py`'s frame path, event for event. A frame's `topic`
//! says how to read it; one without a topic is an ack or a pong (it has `op` or `success`)
//! or an error. A book message with `u == 1` is a snapshot after a service restart,
//! whatever its type. Events carry the symbol as the frame spells it: the market prefix
//! of a derivative's symbol key (`linear:BTCUSDT`, `state.symbols.symbol_key`) is the
//! fold's, which knows the stream's market.

use serde::Deserialize;

use super::json::Slot;
use super::number::{any_int, digit_id, int};
use super::shape::{escapes, object, objects, untyped};
use super::{ms_to_ns, DecodeError};
use crate::event::{BookDelta, Event, Kline, Side, Str, Ticker, Trade};

/// Bybit's decoder holds no state: every frame names its symbol.
#[derive(Debug, Clone, Default)]
pub struct BybitDecoder;

/// The fields of every message's top level, each read as its topic's schema says.
#[derive(Deserialize)]
struct Top<'a> {
    #[serde(default, borrow)]
    topic: Slot<'a>,
    #[serde(default, borrow)]
    op: Slot<'a>,
    #[serde(default, borrow, rename = "type")]
    kind: Slot<'a>,
    #[serde(default, borrow)]
    ts: Slot<'a>,
    #[serde(default, borrow)]
    cts: Slot<'a>,
    #[serde(default, borrow)]
    data: Slot<'a>,
}

#[derive(Deserialize)]
struct BookData<'a> {
    #[serde(default, borrow)]
    s: Slot<'a>,
    #[serde(default, borrow)]
    b: Slot<'a>,
    #[serde(default, borrow)]
    a: Slot<'a>,
    #[serde(default, borrow)]
    u: Slot<'a>,
    #[serde(default, borrow)]
    seq: Slot<'a>,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct TradeData<'a> {
    #[serde(default, borrow)]
    T: Slot<'a>,
    #[serde(default, borrow)]
    s: Slot<'a>,
    #[serde(default, borrow)]
    S: Slot<'a>,
    #[serde(default, borrow)]
    v: Slot<'a>,
    #[serde(default, borrow)]
    p: Slot<'a>,
    #[serde(default, borrow)]
    i: Slot<'a>,
    #[serde(default, borrow)]
    seq: Slot<'a>,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct TickerData<'a> {
    #[serde(default, borrow)]
    symbol: Slot<'a>,
    #[serde(default, borrow)]
    lastPrice: Slot<'a>,
    #[serde(default, borrow)]
    bid1Price: Slot<'a>,
    #[serde(default, borrow)]
    ask1Price: Slot<'a>,
    #[serde(default, borrow)]
    prevPrice24h: Slot<'a>,
    #[serde(default, borrow)]
    highPrice24h: Slot<'a>,
    #[serde(default, borrow)]
    lowPrice24h: Slot<'a>,
    #[serde(default, borrow)]
    volume24h: Slot<'a>,
    #[serde(default, borrow)]
    turnover24h: Slot<'a>,
    #[serde(default, borrow)]
    markPrice: Slot<'a>,
    #[serde(default, borrow)]
    indexPrice: Slot<'a>,
    #[serde(default, borrow)]
    fundingRate: Slot<'a>,
}

#[derive(Deserialize)]
struct KlineData<'a> {
    #[serde(default, borrow)]
    start: Slot<'a>,
    #[serde(default, borrow)]
    interval: Slot<'a>,
    #[serde(default, borrow)]
    open: Slot<'a>,
    #[serde(default, borrow)]
    close: Slot<'a>,
    #[serde(default, borrow)]
    high: Slot<'a>,
    #[serde(default, borrow)]
    low: Slot<'a>,
    #[serde(default, borrow)]
    volume: Slot<'a>,
    #[serde(default, borrow)]
    turnover: Slot<'a>,
    #[serde(default, borrow)]
    confirm: Slot<'a>,
    #[serde(default, borrow)]
    timestamp: Slot<'a>,
}

/// An int field Python reads whatever its size (`seq: int = 0`, a `ts` not used):
/// present, it must be a JSON integer; `required` when its schema has no default.
fn int_field(slot: &Slot<'_>, name: &str, required: bool) -> Result<(), DecodeError> {
    if required && !slot.is_present() {
        return Err(DecodeError(format!(
            "Object missing required field `{name}`"
        )));
    }
    any_int(slot, name).map(|_| ())
}

/// Python's `(first or then) * MS`: `first` (an int defaulting to 0) when it is not 0,
/// else the required `then`, each an integer of any size that must fit once used.
fn first_or(first: &Slot<'_>, f: &str, then: &Slot<'_>, t: &str) -> Result<i64, DecodeError> {
    int_field(then, t, true)?;
    if first.is_present() {
        int_field(first, f, false)?;
        let v = int(first, f)?; // a nonzero int too large for i64 is out of range: an error
        if v != 0 {
            return ms_to_ns(v, f);
        }
    }
    ms_to_ns(int(then, t)?, t)
}

/// The symbol a kline topic ends with: `kline.1.BTCUSDT` -> `BTCUSDT`.
fn after_last_dot(topic: Str<'_>) -> Str<'_> {
    match topic {
        Str::Borrowed(s) => Str::Borrowed(s.rsplit_once('.').map_or(s, |(_, r)| r)),
        Str::Owned(s) => Str::Owned(s.rsplit_once('.').map_or(s.as_str(), |(_, r)| r).to_owned()),
    }
}

impl BybitDecoder {
    /// The events of one WebSocket frame; `Err` quarantines it (a decode error).
    pub fn frame<'a>(&self, payload: &'a [u8]) -> Result<Vec<Event<'a>>, DecodeError> {
        let text =
            std::str::from_utf8(payload).map_err(|e| DecodeError(format!("not UTF-8: {e}")))?;
        escapes(text)?;
        let top: Top<'a> = object(text, "frame")?;
        let op = top.op.opt_string("op")?;
        let Some(topic) = top.topic.opt_string("topic")? else {
            if op.is_some() {
                return Ok(vec![]); // subscribe ack, pong
            }
            let v = untyped(payload)?;
            return match v.get("success") {
                Some(s) if !s.is_null() => Ok(vec![]),
                _ => Err(DecodeError("no topic".to_owned())),
            };
        };
        if topic.starts_with("orderbook.") {
            top.kind.string("type")?;
            let d: BookData<'a> = object(top.data.raw("data")?, "data")?;
            let symbol = d.s.string("s")?;
            let (bids, asks) = (d.b.levels("b")?, d.a.levels("a")?);
            let u = int(&d.u, "u")?;
            int_field(&d.seq, "seq", false)?;
            let exch_ts_ns = first_or(&top.cts, "cts", &top.ts, "ts")?;
            let delta = BookDelta {
                symbol,
                exch_ts_ns,
                bids,
                asks,
                first_id: Some(u),
                last_id: Some(u),
                prev_id: None,
                checksum: None,
            };
            return Ok(vec![if top.kind.string("type")? == "snapshot" || u == 1 {
                Event::BookSnapshot(delta.into_ws_snapshot(None))
            } else {
                Event::BookDelta(delta)
            }]);
        }
        if topic.starts_with("publicTrade.") {
            int_field(&top.ts, "ts", true)?;
            return objects::<TradeData<'a>>(top.data.raw("data")?, "data")?
                .into_iter()
                .map(|t| {
                    int_field(&t.seq, "seq", false)?;
                    let id = t.i.string("i")?;
                    Ok(Event::Trade(Trade {
                        symbol: t.s.string("s")?,
                        exch_ts_ns: ms_to_ns(int(&t.T, "T")?, "T")?,
                        price: t.p.string("p")?,
                        size: t.v.string("v")?,
                        side: if t.S.string("S")? == "Buy" {
                            Side::Buy
                        } else {
                            Side::Sell
                        },
                        ordinal: digit_id(&id)?,
                        trade_id: id.into_owned(),
                    }))
                })
                .collect();
        }
        if topic.starts_with("tickers.") {
            let exch_ts_ns = ms_to_ns(int(&top.ts, "ts")?, "ts")?;
            let d: TickerData<'a> = object(top.data.raw("data")?, "data")?;
            return Ok(vec![Event::Ticker(Ticker {
                symbol: d.symbol.string("symbol")?,
                exch_ts_ns,
                last: d.lastPrice.opt_string("lastPrice")?,
                bid: d.bid1Price.opt_string("bid1Price")?,
                ask: d.ask1Price.opt_string("ask1Price")?,
                open: d.prevPrice24h.opt_string("prevPrice24h")?,
                high: d.highPrice24h.opt_string("highPrice24h")?,
                low: d.lowPrice24h.opt_string("lowPrice24h")?,
                volume: d.volume24h.opt_string("volume24h")?,
                quote_volume: d.turnover24h.opt_string("turnover24h")?,
                mark: d.markPrice.opt_string("markPrice")?,
                index: d.indexPrice.opt_string("indexPrice")?,
                funding_rate: d.fundingRate.opt_string("fundingRate")?,
                ..Ticker::default()
            })]);
        }
        if topic.starts_with("kline.") {
            int_field(&top.ts, "ts", true)?;
            let klines = objects::<KlineData<'a>>(top.data.raw("data")?, "data")?;
            let symbol = after_last_dot(topic);
            return klines
                .into_iter()
                .map(|k| {
                    Ok(Event::Kline(Kline {
                        symbol: symbol.clone(),
                        exch_ts_ns: first_or(&k.timestamp, "timestamp", &top.ts, "ts")?,
                        interval: k.interval.string("interval")?,
                        start_ns: ms_to_ns(int(&k.start, "start")?, "start")?,
                        open: k.open.string("open")?,
                        high: k.high.string("high")?,
                        low: k.low.string("low")?,
                        close: k.close.string("close")?,
                        volume: k.volume.string("volume")?,
                        quote_volume: Some(k.turnover.string("turnover")?),
                        closed: Some(k.confirm.boolean("confirm")?),
                    }))
                })
                .collect();
        }
        Ok(vec![]) // allLiquidation, orderbook.full ... not projected
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Level;
    use proptest::prelude::*;

    const DELTA: &[u8] = br#"{"topic":"orderbook.200.ETHUSDT","type":"delta","ts":1786310817731,"data":{"s":"ETHUSDT","b":[["1922.27","5.91"]],"a":[["1922.43","2.17"]],"u":14768461,"seq":430879399832},"cts":1786310817727}"#;
    const TRADE: &[u8] = br#"{"topic":"publicTrade.BTCUSDT","ts":1786310822606,"type":"snapshot","data":[{"i":"2290000001189048101","T":1786310822605,"p":"65140.5","v":"0.002705","S":"Buy","seq":112488547164,"s":"BTCUSDT","BT":false}]}"#;

    #[test]
    fn a_book_delta_has_its_update_id_and_matching_engine_time() {
        let got = BybitDecoder.frame(DELTA).unwrap();
        let Event::BookDelta(d) = &got[0] else {
            panic!("{got:?}")
        };
        assert_eq!((d.first_id, d.last_id), (Some(14768461), Some(14768461)));
        assert_eq!(d.exch_ts_ns, 1_786_310_817_727 * super::super::MS);
        assert_eq!(d.bids, vec![Level::new("1922.27".into(), "5.91".into())]);
        let restart = br#"{"topic":"orderbook.1.X","type":"delta","ts":5,"data":{"s":"X","b":[],"a":[],"u":1}}"#;
        let got = BybitDecoder.frame(restart).unwrap();
        assert!(matches!(&got[0], Event::BookSnapshot(s)
            if s.update_id == Some(1) && s.exch_ts_ns == 5 * super::super::MS));
    }

    #[test]
    fn a_trade_and_a_kline_read_as_python_reads_them() {
        let got = BybitDecoder.frame(TRADE).unwrap();
        assert!(matches!(&got[0], Event::Trade(t)
            if t.ordinal == Some(2290000001189048101) && t.side == Side::Buy));
        let k = br#"{"topic":"kline.1.BTCUSDT","data":[{"start":1,"interval":"1","open":"1","close":"2","high":"3","low":"0","volume":"1","turnover":"2","confirm":true}],"ts":9}"#;
        let got = BybitDecoder.frame(k).unwrap();
        assert!(matches!(&got[0], Event::Kline(k)
            if k.symbol == "BTCUSDT" && k.exch_ts_ns == 9 * super::super::MS && k.closed == Some(true)));
    }

    #[test]
    fn acks_and_pongs_are_no_events_and_bad_shapes_errors() {
        let dec = BybitDecoder;
        assert_eq!(
            dec.frame(br#"{"success":true,"op":"subscribe"}"#).unwrap(),
            vec![]
        );
        assert_eq!(dec.frame(br#"{"success":false}"#).unwrap(), vec![]);
        assert_eq!(
            dec.frame(br#"{"topic":"allLiquidation.X"}"#).unwrap(),
            vec![]
        );
        assert!(dec.frame(br#"{"success":null}"#).is_err());
        assert!(dec.frame(br#"{"op":1}"#).is_err());
        assert!(dec.frame(br#"["topic"]"#).is_err());
        let big_cts = br#"{"topic":"orderbook.1.X","type":"delta","ts":5,"cts":99999999999999999999,"data":{"s":"X","b":[],"a":[],"u":2}}"#;
        assert!(dec.frame(big_cts).is_err());
        let big_ts = br#"{"topic":"orderbook.1.X","type":"delta","ts":99999999999999999999,"cts":5,"data":{"s":"X","b":[],"a":[],"u":2}}"#;
        assert!(dec.frame(big_ts).is_ok());
    }

    proptest! {
        // Any bytes, and any cut or change of a real frame: a result, never a panic.
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400),
                        cut in 0usize..400, at in 0usize..400, byte in any::<u8>()) {
            let _ = BybitDecoder.frame(&bytes);
            for frame in [DELTA, TRADE] {
                let mut f = frame.to_vec();
                f.truncate(cut.min(f.len()));
                let _ = BybitDecoder.frame(&f);
                let mut g = frame.to_vec();
                if at < g.len() { g[at] = byte; }
                let _ = BybitDecoder.frame(&g);
            }
        }
    }
}
