//! Gate v4 spot and USDT futures WebSocket frames: book updates, trades, tickers, candles,
//! book tickers.
//!
//! The port of `state/decode/gate.py`'s frame path, event for event. A frame is an envelope
//! (`channel`, `event`, `time`, `time_ms`, `result`); an `update` (or `all`) of a channel
//! the projection folds is read by that channel, anything else (subscribe acks, pongs, the
//! server's `upgrade` notice) is no events, and a frame without a channel or a notice type
//! is a decode error. Futures sizes are integer contract counts, printed as Python prints
//! them; spot sizes (book levels, a book ticker's `B`/`A`) are strings. The event names the symbol as the frame spells it: the market that keys a futures
//! contract (`futures:BTC_USDT`) is the channel's prefix, which the fold knows as the
//! stream's market. REST snapshots stay in Python.

use std::borrow::Cow;

use super::msgspec::{self, id, int_text, ns, partition, py_int, small, Obj};
use super::{DecodeError, MS};
use crate::event::{BookDelta, BookTicker, Event, Kline, Level, Side, Str, Ticker, Trade};

/// One stream's decoder: Gate's frames name everything they need.
#[derive(Debug, Clone, Default)]
pub struct GateDecoder;

const CHANNELS: [&str; 9] = [
    "spot.order_book_update",
    "futures.order_book_update",
    "spot.trades",
    "futures.trades",
    "spot.tickers",
    "spot.candlesticks",
    "futures.candlesticks",
    "spot.book_ticker",
    "futures.book_ticker",
];

const S: i128 = 1_000_000_000;

/// A `str | int` field: the string, or the integer's text.
fn str_or_int<'a>(o: &Obj<'a>, name: &str) -> Result<Str<'a>, DecodeError> {
    o.read(name, |s| {
        if s.raw(name)?.starts_with('"') {
            s.string(name)
        } else {
            int_text(s, name).map(Cow::Borrowed)
        }
    })
}

/// Futures levels: `{"p": price, "s": contracts}` objects; absent is none.
fn contract_levels<'a>(o: &Obj<'a>, name: &str) -> Result<Vec<Level<'a>>, DecodeError> {
    o.read(name, |s| {
        if !s.is_present() {
            return Ok(vec![]);
        }
        let v: Vec<Obj<'a>> = serde_json::from_str(s.raw(name)?)?;
        v.iter()
            .map(|l| Ok(Level::new(l.string("p")?, Cow::Borrowed(l.int("s")?))))
            .collect()
    })
}

/// Spot levels: `[price, amount]` string pairs; absent is none.
fn pair_levels<'a>(o: &Obj<'a>, name: &str) -> Result<Vec<Level<'a>>, DecodeError> {
    o.read(name, |s| {
        if s.is_present() {
            s.levels(name)
        } else {
            Ok(vec![])
        }
    })
}

impl GateDecoder {
    /// The events of one WebSocket frame; `Err` quarantines it (a decode error).
    pub fn frame<'a>(&self, payload: &'a [u8]) -> Result<Vec<Event<'a>>, DecodeError> {
        let m = Obj::parse(msgspec::utf8(payload)?)?;
        let channel = m.str_or("channel", "")?;
        let event = m.str_or("event", "")?;
        let notice = m.str_or("type", "")?;
        let time = m.int_or("time", "0")?;
        let time_ms = m.int_or("time_ms", "0")?;
        let result = m.get("result");
        if channel.is_empty() {
            if notice.is_empty() {
                return Err(DecodeError("no channel".to_owned()));
            }
            return Ok(vec![]); // upgrade notice
        }
        if event != "update" && event != "all" {
            return Ok(vec![]); // subscribe acks, pongs
        }
        if !CHANNELS.contains(&channel.as_ref()) || !result.is_present() {
            return Ok(vec![]);
        }
        let r = result.raw("result")?;
        Ok(match channel.as_ref() {
            "spot.order_book_update" | "futures.order_book_update" => {
                let d = Obj::parse(r)?;
                let (bids, asks) = if channel.starts_with("futures.") {
                    (contract_levels(&d, "b")?, contract_levels(&d, "a")?)
                } else {
                    (pair_levels(&d, "b")?, pair_levels(&d, "a")?)
                };
                vec![Event::BookDelta(BookDelta {
                    symbol: d.string("s")?,
                    exch_ts_ns: d.ns("t", MS.into())?,
                    bids,
                    asks,
                    first_id: Some(d.id("U")?),
                    last_id: Some(d.id("u")?),
                    prev_id: None,
                    checksum: None,
                })]
            }
            "spot.trades" => vec![spot_trade(&Obj::parse(r)?)?],
            "futures.trades" => {
                let v: Vec<Obj<'a>> = serde_json::from_str(r)?;
                v.iter().map(futures_trade).collect::<Result<_, _>>()?
            }
            "spot.tickers" => {
                let exch_ts_ns = if time_ms != "0" {
                    ns(small(time_ms), MS.into(), "time_ms")?
                } else {
                    ns(small(time), S, "time")?
                };
                vec![ticker(&Obj::parse(r)?, exch_ts_ns)?]
            }
            "spot.candlesticks" | "futures.candlesticks" => candles(r)?,
            "spot.book_ticker" => vec![book_ticker(&Obj::parse(r)?, false)?],
            _ => vec![book_ticker(&Obj::parse(r)?, true)?], // futures.book_ticker
        })
    }
}

fn spot_trade<'a>(d: &Obj<'a>) -> Result<Event<'a>, DecodeError> {
    let trade_id = d.int("id")?;
    let ms = d.string("create_time_ms")?;
    let whole = ms.split('.').next().unwrap_or("");
    Ok(Event::Trade(Trade {
        symbol: d.string("currency_pair")?,
        exch_ts_ns: ns(
            py_int(whole, "create_time_ms")?,
            MS.into(),
            "create_time_ms",
        )?,
        price: d.string("price")?,
        size: d.string("amount")?,
        side: msgspec::side(&d.string("side")?)?,
        trade_id: trade_id.to_owned(),
        ordinal: Some(id(small(trade_id), "id")?),
    }))
}

/// A futures trade: the size's sign is the taker's side (+ buy, - sell; 0 is a sell).
fn futures_trade<'a>(t: &Obj<'a>) -> Result<Event<'a>, DecodeError> {
    let trade_id = t.int("id")?;
    let size = t.int("size")?;
    let (side, contracts) = match size.strip_prefix('-') {
        Some(abs) => (Side::Sell, abs),
        None if size == "0" => (Side::Sell, size),
        None => (Side::Buy, size),
    };
    Ok(Event::Trade(Trade {
        symbol: t.string("contract")?,
        exch_ts_ns: t.ns("create_time_ms", MS.into())?,
        price: t.string("price")?,
        size: Cow::Borrowed(contracts),
        side,
        trade_id: trade_id.to_owned(),
        ordinal: Some(id(small(trade_id), "id")?),
    }))
}

fn ticker<'a>(d: &Obj<'a>, exch_ts_ns: i64) -> Result<Event<'a>, DecodeError> {
    Ok(Event::Ticker(Ticker {
        symbol: d.string("currency_pair")?,
        exch_ts_ns,
        last: d.opt_string("last")?,
        bid: d.opt_string("highest_bid")?,
        ask: d.opt_string("lowest_ask")?,
        high: d.opt_string("high_24h")?,
        low: d.opt_string("low_24h")?,
        volume: d.opt_string("base_volume")?,
        quote_volume: d.opt_string("quote_volume")?,
        ..Ticker::default()
    }))
}

/// One candle or a list of them (anything else is a decode error).
fn candles(text: &str) -> Result<Vec<Event<'_>>, DecodeError> {
    let list: Vec<Obj<'_>> = if text.starts_with('[') {
        serde_json::from_str(text)?
    } else {
        vec![Obj::parse(text)?]
    };
    list.iter().map(candle).collect()
}

/// A candle: `n` is `<interval>_<pair>`, `t` its start in seconds (a string or a number).
fn candle<'a>(c: &Obj<'a>) -> Result<Event<'a>, DecodeError> {
    // Python's int() of the last value (a string, or an integer whose text it reads alike)
    let start = py_int(&str_or_int(c, "t")?, "t")?;
    let start = ns(start, S, "t")?;
    let (interval, symbol) = partition(&c.string("n")?, '_');
    Ok(Event::Kline(Kline {
        symbol,
        exch_ts_ns: start,
        interval,
        start_ns: start,
        open: c.string("o")?,
        high: c.string("h")?,
        low: c.string("l")?,
        close: c.string("c")?,
        volume: str_or_int(c, "v")?,
        quote_volume: c.opt_string("a")?,
        closed: c.opt_boolean("w")?,
    }))
}

/// A book ticker: its sizes are contract counts (futures) or amount strings (spot).
fn book_ticker<'a>(d: &Obj<'a>, contracts: bool) -> Result<Event<'a>, DecodeError> {
    let size = |name: &str| {
        if contracts {
            d.int(name).map(Cow::Borrowed)
        } else {
            d.string(name)
        }
    };
    Ok(Event::BookTicker(BookTicker {
        symbol: d.string("s")?,
        exch_ts_ns: d.ns("t", MS.into())?,
        bid_px: d.string("b")?,
        bid_sz: size("B")?,
        ask_px: d.string("a")?,
        ask_sz: size("A")?,
        update_id: Some(d.id("u")?),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SPOT_BOOK: &[u8] = br#"{"time":1619093562,"channel":"spot.order_book_update","event":"update","result":{"t":1619093562998,"e":"depthUpdate","E":1619093562,"s":"DIS_USDT","U":1750488,"u":1750489,"b":[["121.5","0.148"],["73.5","0"]],"a":[]}}"#;
    const FUT_BOOK: &[u8] = br#"{"time":1684930165,"time_ms":1684930165254,"channel":"futures.order_book_update","event":"update","result":{"U":203083177,"a":[{"p":"0.2983","s":0}],"b":[],"s":"RDNT_USDT","t":1684930165217,"u":203083177}}"#;
    const SPOT_TRADE: &[u8] = br#"{"time":1619093543,"channel":"spot.trades","event":"update","result":{"id":816995772,"create_time":1619093543,"create_time_ms":"1619093543708.2642","side":"sell","currency_pair":"DIS_USDT","amount":"0.201","price":"121.58"}}"#;
    const FUT_TRADES: &[u8] = br#"{"time":1,"time_ms":2,"channel":"futures.trades","event":"update","result":[{"id":7,"create_time_ms":1684930165254,"contract":"BTC_USDT","size":-12,"price":"27000.1"},{"id":8,"create_time_ms":1684930165255,"contract":"BTC_USDT","size":3,"price":"27000.2"}]}"#;
    const TICKER: &[u8] = br#"{"time":1619093533,"channel":"spot.tickers","event":"update","result":{"currency_pair":"NEO_BTC","last":"0.0018716","lowest_ask":"0.0018734","highest_bid":"0.0018697","base_volume":"1138.0","quote_volume":"2.04","high_24h":"0.0018754","low_24h":"0.0017148"}}"#;
    const CANDLES: &[u8] = br#"{"time":1684930165,"time_ms":1684930165934,"channel":"futures.candlesticks","event":"update","result":[{"t":1684930140,"v":0,"c":"0.1701","h":"0.1701","l":"0.1701","o":"0.1701","n":"1m_FRONT_USDT"}]}"#;
    const BOOK_TICKER: &[u8] = br#"{"time":1684930165,"time_ms":1684930165631,"channel":"futures.book_ticker","event":"update","result":{"t":1684930165621,"u":6159967,"s":"PHB_USDT","b":"0.7379","B":814,"a":"0.739","A":677}}"#;
    const SPOT_BOOK_TICKER: &[u8] = br#"{"time":1606293275,"time_ms":1606293275723,"channel":"spot.book_ticker","event":"update","result":{"t":1606293275123,"u":48733182,"s":"BTC_USDT","b":"19177.79","B":"0.0003341504","a":"19179.38","A":"0.09"}}"#;
    const REAL: [&[u8]; 8] = [
        SPOT_BOOK,
        FUT_BOOK,
        SPOT_TRADE,
        FUT_TRADES,
        TICKER,
        CANDLES,
        BOOK_TICKER,
        SPOT_BOOK_TICKER,
    ];

    fn events(frame: &[u8]) -> Vec<Event<'_>> {
        GateDecoder.frame(frame).unwrap()
    }

    #[test]
    fn book_updates_are_deltas_with_their_id_range() {
        let [Event::BookDelta(d)] = &events(SPOT_BOOK)[..] else {
            panic!()
        };
        assert_eq!((d.first_id, d.last_id), (Some(1_750_488), Some(1_750_489)));
        assert_eq!(d.bids[1], Level::new("73.5".into(), "0".into()));
        let [Event::BookDelta(d)] = &events(FUT_BOOK)[..] else {
            panic!()
        };
        assert_eq!(d.asks, vec![Level::new("0.2983".into(), "0".into())]);
        assert_eq!(d.exch_ts_ns, 1_684_930_165_217 * MS);
    }

    #[test]
    fn trades_carry_their_id_and_a_futures_sizes_sign_is_its_side() {
        let [Event::Trade(t)] = &events(SPOT_TRADE)[..] else {
            panic!()
        };
        assert_eq!(t.exch_ts_ns, 1_619_093_543_708 * MS);
        assert_eq!((t.ordinal, t.side), (Some(816_995_772), Side::Sell));
        let [Event::Trade(a), Event::Trade(b)] = &events(FUT_TRADES)[..] else {
            panic!()
        };
        assert_eq!((a.size.as_ref(), a.side), ("12", Side::Sell));
        assert_eq!((b.size.as_ref(), b.side), ("3", Side::Buy));
    }

    #[test]
    fn tickers_candles_and_book_tickers() {
        let [Event::Ticker(t)] = &events(TICKER)[..] else {
            panic!()
        };
        assert_eq!(t.exch_ts_ns, 1_619_093_533 * 1_000_000_000);
        assert_eq!(t.bid.as_deref(), Some("0.0018697"));
        let [Event::Kline(k)] = &events(CANDLES)[..] else {
            panic!()
        };
        assert_eq!(
            (k.interval.as_ref(), k.symbol.as_ref()),
            ("1m", "FRONT_USDT")
        );
        assert_eq!(
            (k.start_ns, k.volume.as_ref()),
            (1_684_930_140 * 1_000_000_000, "0")
        );
        let [Event::BookTicker(b)] = &events(BOOK_TICKER)[..] else {
            panic!()
        };
        assert_eq!((b.bid_sz.as_ref(), b.update_id), ("814", Some(6_159_967)));
        let [Event::BookTicker(b)] = &events(SPOT_BOOK_TICKER)[..] else {
            panic!()
        };
        assert_eq!(
            (b.symbol.as_ref(), b.exch_ts_ns, b.update_id),
            ("BTC_USDT", 1_606_293_275_123 * MS, Some(48_733_182))
        );
        assert_eq!(
            (
                b.bid_px.as_ref(),
                b.bid_sz.as_ref(),
                b.ask_px.as_ref(),
                b.ask_sz.as_ref()
            ),
            ("19177.79", "0.0003341504", "19179.38", "0.09")
        );
    }

    #[test]
    fn a_book_tickers_sizes_are_its_markets_type() {
        // spot sizes are strings, futures sizes contract counts: the other type is refused
        for f in [
            &br#"{"channel":"spot.book_ticker","event":"update","result":{"t":1,"u":2,"s":"A_B","b":"1","B":3,"a":"2","A":"4"}}"#[..],
            br#"{"channel":"futures.book_ticker","event":"update","result":{"t":1,"u":2,"s":"A_B","b":"1","B":"3","a":"2","A":4}}"#,
            br#"{"channel":"spot.book_ticker","event":"update","result":{"t":1,"s":"A_B","b":"1","B":"3","a":"2","A":"4"}}"#,
            br#"{"channel":"spot.book_ticker","event":"update","result":1}"#,
        ] {
            assert!(GateDecoder.frame(f).is_err(), "{f:?}");
        }
    }

    #[test]
    fn control_frames_are_no_events_and_bad_shapes_errors() {
        for f in [
            &br#"{"time":1,"channel":"spot.trades","event":"subscribe","result":{"status":"success"}}"#[..],
            br#"{"type":"upgrade","msg":"reconnect"}"#,
            br#"{"channel":"spot.order_book","event":"update","result":1}"#,
            br#"{"channel":"spot.trades","event":"update"}"#,
        ] {
            assert_eq!(GateDecoder.frame(f).unwrap(), vec![], "{f:?}");
        }
        for f in [
            &br#"{"time":1}"#[..],
            br#"{"time":1.5,"channel":"futures.pong","event":""}"#,
            br#"{"channel":null,"type":"upgrade"}"#,
            br#"{"channel":"spot.trades","event":"update","result":null}"#,
            br#"{"channel":"futures.candlesticks","event":"update","result":"x"}"#,
        ] {
            assert!(GateDecoder.frame(f).is_err(), "{f:?}");
        }
    }

    proptest! {
        // Any bytes, and any cut or change of a real frame: a result, never a panic.
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400),
                        which in 0usize..8, cut in 0usize..400, at in 0usize..400,
                        byte in any::<u8>()) {
            let _ = GateDecoder.frame(&bytes);
            let real = REAL[which];
            let mut f = real.to_vec();
            f.truncate(cut.min(f.len()));
            let _ = GateDecoder.frame(&f);
            let mut g = real.to_vec();
            if let Some(b) = g.get_mut(at) { *b = byte; }
            let _ = GateDecoder.frame(&g);
        }
    }
}
