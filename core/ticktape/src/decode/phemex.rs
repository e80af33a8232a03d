//! Phemex contract and spot WebSocket frames: book snapshots and increments, trades
//! (scaled and the USDT-M perpetual's real-value `trades_p`), klines, index ticks.
//!
//! The port of `state/decode/phemex.py`'s frame path, event for event. A frame is read by
//! which of `book`, `trades`, `trades_p`, `kline`, `tick` it has, in that order; a JSON-RPC reply
//! (`id`, `result` or `error`) is no events, anything else a decode error. Prices and sizes
//! are scaled integers of any size, printed exactly as Python prints them (`scaled`) at
//! the symbol's scales: 10^8 both for spot (`s`-prefixed symbols), 10^4 prices and whole
//! contracts otherwise. A trades snapshot lists the newest first: it is folded oldest
//! first, each trade numbered `<sequence>:<i>` in that order. A tick is the value of an
//! index series (`.BTC`, `.MBTC`, ...) at the message's own `scale` (0 to 18): a ticker of
//! that symbol with its `index` set.

use std::cmp::Ordering;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::json::Slot;
use super::msgspec::{self, int_text, ns, small, Obj};
use super::scaled::scaled;
use super::DecodeError;
use crate::event::{BookDelta, Event, Kline, Level, Side, Str, Ticker, Trade};

/// One stream's decoder: Phemex's frames name everything they need.
#[derive(Debug, Clone, Default)]
pub struct PhemexDecoder;

/// The largest `scale` a tick may carry (`state.decode.phemex.MAX_SCALE`).
const MAX_SCALE: u32 = 18;

/// A book level: `[priceEp, size]`, exactly two integers.
#[derive(Deserialize)]
struct Pair<'a>(#[serde(borrow)] &'a RawValue, #[serde(borrow)] &'a RawValue);

/// A trade row: `[ts ns, side, price, size]`, exactly four values.
#[derive(Deserialize)]
struct Row<'a>(
    #[serde(borrow)] &'a RawValue,
    #[serde(borrow)] &'a RawValue,
    #[serde(borrow)] &'a RawValue,
    #[serde(borrow)] &'a RawValue,
);

/// (price scale, size scale) of a symbol, Phemex's documented scales.
fn scales(symbol: &str) -> (u32, u32) {
    if symbol.starts_with('s') {
        (8, 8)
    } else {
        (4, 0)
    }
}

/// An integer of an array, as its text.
fn int_at<'a>(raw: &'a RawValue, name: &str) -> Result<&'a str, DecodeError> {
    int_text(Slot(Some(raw)), name)
}

/// An integer of any size, ordered by its value (Python sorts the kline rows' ints).
#[derive(PartialEq, Eq)]
struct Num<'a>(&'a str);

impl Ord for Num<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.0, other.0);
        match (a.strip_prefix('-'), b.strip_prefix('-')) {
            (None, None) => a.len().cmp(&b.len()).then_with(|| a.cmp(b)),
            (Some(x), Some(y)) => y.len().cmp(&x.len()).then_with(|| y.cmp(x)),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
        }
    }
}

impl PartialOrd for Num<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PhemexDecoder {
    /// The events of one WebSocket frame; `Err` quarantines it (a decode error).
    pub fn frame<'a>(&self, payload: &'a [u8]) -> Result<Vec<Event<'a>>, DecodeError> {
        let m = Obj::parse(msgspec::utf8(payload)?)?;
        let reply = m.opt_int("id")?.is_some();
        if m.get("book").is_present() {
            return book(&m);
        }
        if m.get("trades").is_present() {
            return trades(&m, "trades");
        }
        if m.get("trades_p").is_present() {
            return trades(&m, "trades_p");
        }
        if m.get("kline").is_present() {
            return klines(&m);
        }
        if m.get("tick").is_present() {
            return m.read("tick", |s| tick(&Obj::parse(s.raw("tick")?)?));
        }
        if reply || m.get("result").is_present() || m.get("error").is_present() {
            return Ok(vec![]); // subscribe / ping replies
        }
        Err(DecodeError("unknown Phemex message".to_owned()))
    }
}

fn book<'a>(m: &Obj<'a>) -> Result<Vec<Event<'a>>, DecodeError> {
    let symbol = m.string("symbol")?;
    let (ps, qs) = scales(&symbol);
    let side = |b: &Obj<'a>, name: &str| {
        b.read(name, |s| {
            let v: Vec<Pair<'a>> = serde_json::from_str(s.raw(name)?)?;
            v.iter()
                .map(|Pair(p, q)| {
                    let p = scaled(int_at(p, name)?, ps);
                    Ok(Level::new(
                        Str::Owned(p),
                        Str::Owned(scaled(int_at(q, name)?, qs)),
                    ))
                })
                .collect::<Result<Vec<_>, DecodeError>>()
        })
    };
    let (bids, asks) = m.read("book", |s| {
        let b = Obj::parse(s.raw("book")?)?;
        Ok((side(&b, "bids")?, side(&b, "asks")?))
    })?;
    m.int("depth")?; // read, not carried
    let sequence = m.id("sequence")?;
    let exch_ts_ns = m.ns("timestamp", 1)?;
    let delta = BookDelta {
        symbol,
        exch_ts_ns,
        bids,
        asks,
        first_id: None,
        last_id: Some(sequence),
        prev_id: None,
        checksum: None,
    };
    Ok(vec![if m.string("type")? == "snapshot" {
        Event::BookSnapshot(delta.into_ws_snapshot(None))
    } else {
        Event::BookDelta(delta)
    }])
}

/// `trades` (scaled integers) or `trades_p` (real-value strings).
fn trades<'a>(m: &Obj<'a>, name: &str) -> Result<Vec<Event<'a>>, DecodeError> {
    let symbol = m.string("symbol")?;
    let (ps, qs) = scales(&symbol);
    let sequence = m.int("sequence")?;
    let snapshot = m.string("type")? == "snapshot";
    let mut rows = m.read(name, |s| {
        let v: Vec<Row<'a>> = serde_json::from_str(s.raw(name)?)?;
        v.iter()
            .map(|Row(ts, side, price, size)| {
                let side = if string_at(side, name)? == "Buy" {
                    Side::Buy
                } else {
                    Side::Sell
                };
                let (price, size) = if name == "trades" {
                    let p = scaled(int_at(price, name)?, ps);
                    (Str::Owned(p), Str::Owned(scaled(int_at(size, name)?, qs)))
                } else {
                    (string_at(price, name)?, string_at(size, name)?)
                };
                Ok((small(int_at(ts, name)?), side, price, size))
            })
            .collect::<Result<Vec<_>, DecodeError>>()
    })?;
    if snapshot {
        rows.reverse();
    }
    rows.into_iter()
        .enumerate()
        .map(|(i, (ts, side, price, size))| {
            Ok(Event::Trade(Trade {
                symbol: symbol.clone(),
                exch_ts_ns: ns(ts, 1, name)?,
                price,
                size,
                side,
                trade_id: format!("{sequence}:{i}"),
                ordinal: None,
            }))
        })
        .collect()
}

/// A string of an array.
fn string_at<'a>(raw: &'a RawValue, name: &str) -> Result<Str<'a>, DecodeError> {
    Slot(Some(raw)).string(name)
}

/// An index tick: `{"last": priceEp, "scale": s, "symbol": ".BTC", "timestamp": ns}`.
fn tick<'a>(t: &Obj<'a>) -> Result<Vec<Event<'a>>, DecodeError> {
    let last = t.int("last")?;
    let scale = t.int("scale")?;
    let scale = match small(scale) {
        Some(s) if (0..=i128::from(MAX_SCALE)).contains(&s) => s as u32,
        _ => {
            return Err(DecodeError(format!(
                "tick scale {scale} is not 0 to {MAX_SCALE}"
            )))
        }
    };
    Ok(vec![Event::Ticker(Ticker {
        symbol: t.string("symbol")?,
        exch_ts_ns: t.ns("timestamp", 1)?,
        index: Some(Str::Owned(scaled(last, scale))),
        ..Ticker::default()
    })])
}

/// Klines in the order Python's `sorted` gives their rows (by value, element by element):
/// `[ts s, interval s, lastCloseEp, openEp, highEp, lowEp, closeEp, volume, ...]`.
fn klines<'a>(m: &Obj<'a>) -> Result<Vec<Event<'a>>, DecodeError> {
    let mut rows = m.read("kline", |s| {
        let v: Vec<Vec<&'a RawValue>> = serde_json::from_str(s.raw("kline")?)?;
        v.iter()
            .map(|r| r.iter().map(|x| int_at(x, "kline").map(Num)).collect())
            .collect::<Result<Vec<Vec<Num<'a>>>, DecodeError>>()
    })?;
    m.int("sequence")?; // read, not carried
    let symbol = m.string("symbol")?;
    m.string("type")?;
    let (ps, qs) = scales(&symbol);
    rows.sort();
    rows.iter()
        .map(|k| match k.as_slice() {
            [Num(t), Num(i), _, Num(o), Num(h), Num(l), Num(c), Num(v), ..] => {
                let start = ns(small(t), 1_000_000_000, "kline")?;
                Ok(Event::Kline(Kline {
                    symbol: symbol.clone(),
                    exch_ts_ns: start,
                    interval: Str::Owned(format!("{i}s")),
                    start_ns: start,
                    open: Str::Owned(scaled(o, ps)),
                    high: Str::Owned(scaled(h, ps)),
                    low: Str::Owned(scaled(l, ps)),
                    close: Str::Owned(scaled(c, ps)),
                    volume: Str::Owned(scaled(v, qs)),
                    quote_volume: None,
                    closed: None,
                }))
            }
            _ => Err(DecodeError("a kline row of fewer than 8 values".to_owned())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BOOK: &[u8] = br#"{"book":{"asks":[[30170,42007]],"bids":[[30160,0]]},"depth":30,"sequence":4899654234,"symbol":"XTZUSD","timestamp":1625342241732802237,"type":"incremental"}"#;
    const SPOT_BOOK: &[u8] = br#"{"book":{"asks":[],"bids":[[67114000,539639000000]]},"depth":30,"sequence":175933275,"symbol":"sGRTUSDT","timestamp":1625342272354825117,"type":"snapshot"}"#;
    const TRADES: &[u8] = br#"{"sequence":17650891983,"symbol":"YFIUSD","trades":[[1625342240710279103,"Buy",329915000,40],[1625342238817548561,"Sell",329910000,50]],"type":"snapshot"}"#;
    const TRADES_P: &[u8] = br#"{"sequence":5,"symbol":"BTCUSDT","trades_p":[[1625342240710279103,"Sell","34000.5","0.01"]],"type":"incremental"}"#;
    const KLINE: &[u8] = br#"{"kline":[[1625342220,60,329365000,329915000,329915000,329915000,329915000,133,4387869],[1625342160,60,330270000,329985000,330075000,329365000,329365000,346,11417594]],"sequence":17652788205,"symbol":"YFIUSD","type":"snapshot"}"#;
    const TICK: &[u8] =
        br#"{"tick":{"last":93385362,"scale":4,"symbol":".BTC","timestamp":1580635719408000000}}"#;
    const REAL: [&[u8]; 6] = [BOOK, SPOT_BOOK, TRADES, TRADES_P, KLINE, TICK];

    fn events(frame: &[u8]) -> Vec<Event<'_>> {
        PhemexDecoder.frame(frame).unwrap()
    }

    #[test]
    fn books_are_scaled_deltas_or_snapshots_by_type() {
        let [Event::BookDelta(d)] = &events(BOOK)[..] else {
            panic!()
        };
        assert_eq!(d.asks, vec![Level::new("3.0170".into(), "42007".into())]);
        assert_eq!((d.first_id, d.last_id), (None, Some(4_899_654_234)));
        let [Event::BookSnapshot(s)] = &events(SPOT_BOOK)[..] else {
            panic!()
        };
        let lv = Level::new("0.67114000".into(), "5396.39000000".into());
        assert_eq!((&s.bids, s.update_id), (&vec![lv], Some(175_933_275)));
    }

    #[test]
    fn a_trades_snapshot_is_folded_oldest_first() {
        let got = events(TRADES);
        let [Event::Trade(a), Event::Trade(b)] = &got[..] else {
            panic!()
        };
        assert_eq!((a.trade_id.as_str(), a.side), ("17650891983:0", Side::Sell));
        assert_eq!((b.price.as_ref(), b.size.as_ref()), ("32991.5000", "40"));
        let [Event::Trade(p)] = &events(TRADES_P)[..] else {
            panic!()
        };
        assert_eq!((p.price.as_ref(), p.trade_id.as_str()), ("34000.5", "5:0"));
    }

    #[test]
    fn klines_come_in_order_of_their_rows() {
        let got = events(KLINE);
        let [Event::Kline(a), Event::Kline(_)] = &got[..] else {
            panic!()
        };
        assert_eq!(
            (a.start_ns, a.interval.as_ref()),
            (1_625_342_160_000_000_000, "60s")
        );
        assert_eq!((a.open.as_ref(), a.volume.as_ref()), ("32998.5000", "346"));
    }

    #[test]
    fn a_tick_is_its_index_series_value_at_its_own_scale() {
        let [Event::Ticker(t)] = &events(TICK)[..] else {
            panic!()
        };
        assert_eq!(
            (t.symbol.as_ref(), t.exch_ts_ns),
            (".BTC", 1_580_635_719_408_000_000)
        );
        assert_eq!(
            (t.index.as_deref(), t.mark.as_deref(), t.last.as_deref()),
            (Some("9338.5362"), None, None)
        );
        let f = br#"{"tick":{"last":-12,"scale":8,"symbol":".BTCFR8H","timestamp":1}}"#;
        let [Event::Ticker(t)] = &events(f)[..] else {
            panic!()
        };
        assert_eq!(t.index.as_deref(), Some("-0.00000012"));
        for f in [
            &br#"{"tick":{"last":1,"scale":19,"symbol":".BTC","timestamp":1}}"#[..],
            br#"{"tick":{"last":1,"scale":-1,"symbol":".BTC","timestamp":1}}"#,
            br#"{"tick":{"last":"1","scale":4,"symbol":".BTC","timestamp":1}}"#,
            br#"{"tick":{"last":1,"scale":4,"timestamp":1}}"#,
            br#"{"tick":{"last":1,"scale":4,"symbol":".BTC","timestamp":-1}}"#,
            br#"{"tick":null}"#,
        ] {
            assert!(PhemexDecoder.frame(f).is_err(), "{f:?}");
        }
    }

    #[test]
    fn replies_are_no_events_and_bad_shapes_errors() {
        for f in [
            &br#"{"error":null,"id":1,"result":{"status":"success"}}"#[..],
            br#"{"id":123456789012345678901234567890,"result":"pong"}"#,
        ] {
            assert_eq!(PhemexDecoder.frame(f).unwrap(), vec![], "{f:?}");
        }
        for f in [
            &br#"{"id":null}"#[..],
            br#"{"id":"1","result":{}}"#,
            br#"{"kline":[[1,60,1,2,3,4,5]],"sequence":1,"symbol":"X","type":"snapshot"}"#,
            br#"{"book":null,"depth":1,"sequence":1,"symbol":"X","timestamp":1,"type":"x"}"#,
        ] {
            assert!(PhemexDecoder.frame(f).is_err(), "{f:?}");
        }
    }

    #[test]
    fn integers_order_by_value() {
        let mut v = [Num("10"), Num("-3"), Num("9"), Num("-20"), Num("0")];
        v.sort();
        let got: Vec<&str> = v.iter().map(|n| n.0).collect();
        assert_eq!(got, ["-20", "-3", "0", "9", "10"]);
    }

    proptest! {
        // Any bytes, and any cut or change of a real frame: a result, never a panic.
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400),
                        which in 0usize..6, cut in 0usize..400, at in 0usize..400,
                        byte in any::<u8>()) {
            let _ = PhemexDecoder.frame(&bytes);
            let real = REAL[which];
            let mut f = real.to_vec();
            f.truncate(cut.min(f.len()));
            let _ = PhemexDecoder.frame(&f);
            let mut g = real.to_vec();
            if let Some(b) = g.get_mut(at) { *b = byte; }
            let _ = PhemexDecoder.frame(&g);
        }
    }
}
