//! KuCoin spot (classic API) WebSocket frames: level2 updates, matches, tickers, candles.
//!
//! The port of `state/decode/kucoin.py`'s frame path, event for event. A frame is an
//! envelope (`type`, `topic`, `subject`, `data`); only a `message` with data is read, by
//! its subject. A level2 change is `[price, size, sequence]`: the sequence travels as the
//! level's third string, and a change whose price is "0" (a sequence-only change) is
//! dropped. Matches and tickers send their times and sequences as strings, which Python
//! reads with `int()` (`msgspec::py_int`). REST snapshots stay in Python.

use std::borrow::Cow;

use serde::Deserialize;

use super::msgspec::{self, after_last, id, ns, py_int, small, Obj};
use super::{DecodeError, MS};
use crate::event::{BookDelta, BookTicker, Event, Kline, Level, Str, Trade};

/// One stream's decoder: KuCoin's frames name everything they need.
#[derive(Debug, Clone, Default)]
pub struct KucoinDecoder;

/// A level2 change: exactly three strings.
#[derive(Deserialize)]
struct Change<'a>(
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
);

/// A candle: start (s), open, close, high, low, volume, turnover; exactly seven strings.
#[derive(Deserialize)]
struct Candle<'a>(
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
);

/// The changes of one side, less the sequence-only ones (price "0").
fn changes<'a>(o: &Obj<'a>, name: &str) -> Result<Vec<Level<'a>>, DecodeError> {
    o.read(name, |s| {
        let v: Vec<Change<'a>> = serde_json::from_str(s.raw(name)?)?;
        Ok(v.into_iter()
            .filter(|c| c.0 != "0")
            .map(|Change(price, size, seq)| Level {
                price,
                size,
                seq: Some(seq),
            })
            .collect())
    })
}

/// A string Python reads with `int()`.
fn py_int_of(o: &Obj<'_>, name: &str) -> Result<Option<i128>, DecodeError> {
    py_int(&o.string(name)?, name)
}

impl KucoinDecoder {
    /// The events of one WebSocket frame; `Err` quarantines it (a decode error).
    pub fn frame<'a>(&self, payload: &'a [u8]) -> Result<Vec<Event<'a>>, DecodeError> {
        let m = Obj::parse(msgspec::utf8(payload)?)?;
        let kind = m.string("type")?;
        let topic = m.str_or("topic", "")?;
        let subject = m.str_or("subject", "")?;
        let data = m.get("data");
        if kind != "message" || !data.is_present() {
            return Ok(vec![]); // welcome, ack, pong
        }
        let s = subject.as_ref();
        if !matches!(s, "trade.l2update" | "trade.l3match" | "trade.ticker")
            && !s.starts_with("trade.candles")
        {
            return Ok(vec![]); // a subject not projected: its data is not read
        }
        let d = Obj::parse(data.raw("data")?)?;
        let event = match s {
            "trade.l2update" => l2update(&d)?,
            "trade.l3match" => Event::Trade(Trade {
                symbol: d.string("symbol")?,
                price: d.string("price")?,
                size: d.string("size")?,
                side: msgspec::side(&d.string("side")?)?,
                trade_id: d.string("tradeId")?.into_owned(),
                ordinal: Some(id(py_int_of(&d, "sequence")?, "sequence")?),
                exch_ts_ns: ns(py_int_of(&d, "time")?, 1, "time")?,
            }),
            "trade.ticker" => {
                d.opt_string("price")?; // the last trade: read, not carried
                let symbol = after_last(&topic, ':')
                    .ok_or_else(|| DecodeError("a ticker topic without ':'".to_owned()))?;
                Event::BookTicker(BookTicker {
                    update_id: Some(id(py_int_of(&d, "sequence")?, "sequence")?),
                    bid_px: d.string("bestBid")?,
                    bid_sz: d.string("bestBidSize")?,
                    ask_px: d.string("bestAsk")?,
                    ask_sz: d.string("bestAskSize")?,
                    exch_ts_ns: d.ns("time", MS.into())?,
                    symbol,
                })
            }
            _ => candle(&d, &topic)?, // trade.candles.*
        };
        Ok(vec![event])
    }
}

fn l2update<'a>(d: &Obj<'a>) -> Result<Event<'a>, DecodeError> {
    let (bids, asks) = d.read("changes", |s| {
        let ch = Obj::parse(s.raw("changes")?)?;
        Ok((changes(&ch, "bids")?, changes(&ch, "asks")?))
    })?;
    Ok(Event::BookDelta(BookDelta {
        symbol: d.string("symbol")?,
        exch_ts_ns: ns(small(d.int_or("time", "0")?), MS.into(), "time")?,
        bids,
        asks,
        first_id: Some(d.id("sequenceStart")?),
        last_id: Some(d.id("sequenceEnd")?),
        prev_id: None,
        checksum: None,
    }))
}

/// A candle; its interval is the topic's tail after the last `_` (`...:BTC-USDT_1min`).
fn candle<'a>(d: &Obj<'a>, topic: &Str<'a>) -> Result<Event<'a>, DecodeError> {
    let Candle(start, open, close, high, low, volume, turnover) =
        d.read("candles", |s| Ok(serde_json::from_str(s.raw("candles")?)?))?;
    Ok(Event::Kline(Kline {
        symbol: d.string("symbol")?,
        exch_ts_ns: d.ns("time", 1)?,
        interval: after_last(topic, '_').unwrap_or(Cow::Borrowed("")),
        start_ns: ns(py_int(&start, "candles[0]")?, 1_000_000_000, "candles[0]")?,
        open,
        high,
        low,
        close,
        volume,
        quote_volume: Some(turnover),
        closed: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Side;
    use proptest::prelude::*;

    const L2: &[u8] = br#"{"data":{"sequenceStart":10,"symbol":"BTC-USDT","changes":{"asks":[["0","0","10"],["61000.2","1.5","11"]],"bids":[]},"sequenceEnd":11,"time":1619378326323},"subject":"trade.l2update","topic":"/market/level2:BTC-USDT","type":"message"}"#;
    const MATCH: &[u8] = br#"{"data":{"symbol":"DAPPT-BTC","sequence":"1612701563869","side":"buy","size":"81.8814","price":"0.0000001117","time":"1619378327739050725","tradeId":"6085c09769bc506996295e36"},"subject":"trade.l3match","topic":"/market/match:DAPPT-BTC","type":"message"}"#;
    const TICKER: &[u8] = br#"{"data":{"sequence":"1612844051653","bestAsk":"0.00028717","bestBidSize":"3.7","price":"0.00028676","time":1619378326323,"bestAskSize":"14.04","bestBid":"0.00028678"},"subject":"trade.ticker","topic":"/market/ticker:SNX-BTC","type":"message"}"#;
    const CANDLE: &[u8] = br#"{"data":{"symbol":"DAPPT-BTC","candles":["1619378220","1","2","3","4","5","6"],"time":1619378328806000034},"subject":"trade.candles.add","topic":"/market/candles:DAPPT-BTC_1min","type":"message"}"#;

    fn one(frame: &[u8]) -> Event<'_> {
        let mut got = KucoinDecoder.frame(frame).unwrap();
        assert_eq!(got.len(), 1, "{got:?}");
        got.remove(0)
    }

    #[test]
    fn a_level2_update_is_a_delta_whose_levels_carry_their_sequence() {
        let Event::BookDelta(d) = one(L2) else {
            panic!()
        };
        assert_eq!((d.first_id, d.last_id), (Some(10), Some(11)));
        assert_eq!(d.exch_ts_ns, 1_619_378_326_323 * MS);
        assert_eq!(d.bids, vec![]);
        let lv = Level {
            price: "61000.2".into(),
            size: "1.5".into(),
            seq: Some("11".into()),
        };
        assert_eq!(d.asks, vec![lv]);
    }

    #[test]
    fn a_match_is_a_trade_with_its_string_time_and_sequence() {
        let Event::Trade(t) = one(MATCH) else {
            panic!()
        };
        assert_eq!(t.exch_ts_ns, 1_619_378_327_739_050_725);
        assert_eq!((t.ordinal, t.side), (Some(1_612_701_563_869), Side::Buy));
        assert_eq!(t.trade_id, "6085c09769bc506996295e36");
    }

    #[test]
    fn a_ticker_is_a_book_ticker_named_by_its_topic() {
        let Event::BookTicker(t) = one(TICKER) else {
            panic!()
        };
        assert_eq!(t.symbol, "SNX-BTC");
        assert_eq!(t.update_id, Some(1_612_844_051_653));
    }

    #[test]
    fn a_candle_is_a_kline_with_the_topics_interval() {
        let Event::Kline(k) = one(CANDLE) else {
            panic!()
        };
        assert_eq!(k.interval, "1min");
        assert_eq!(k.start_ns, 1_619_378_220_000_000_000);
        assert_eq!(
            (k.open, k.close, k.high, k.low),
            ("1".into(), "2".into(), "3".into(), "4".into())
        );
    }

    #[test]
    fn control_frames_are_no_events_and_bad_shapes_errors() {
        let dec = KucoinDecoder;
        for f in [
            &br#"{"id":"1","type":"ack"}"#[..],
            br#"{"id":"1","type":"welcome"}"#,
            br#"{"type":"message","subject":"trade.l2update"}"#,
            br#"{"type":"message","subject":"trade.snapshot","data":1}"#,
        ] {
            assert_eq!(dec.frame(f).unwrap(), vec![], "{f:?}");
        }
        for f in [
            &br#"{"id":"1"}"#[..],
            br#"{"type":"ack","topic":null}"#,
            br#"{"type":"message","subject":"trade.l2update","data":null}"#,
            br#"{"type":"message","subject":"trade.ticker","topic":"x","data":{}}"#,
        ] {
            assert!(dec.frame(f).is_err(), "{f:?}");
        }
        let far = String::from_utf8_lossy(MATCH).replace("1619378327739050725", "-1");
        assert!(dec.frame(far.as_bytes()).is_err());
    }

    proptest! {
        // Any bytes, and any cut or change of a real frame: a result, never a panic.
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400),
                        which in 0usize..4, cut in 0usize..400, at in 0usize..400,
                        byte in any::<u8>()) {
            let dec = KucoinDecoder;
            let _ = dec.frame(&bytes);
            let real = [L2, MATCH, TICKER, CANDLE][which];
            let mut f = real.to_vec();
            f.truncate(cut.min(f.len()));
            let _ = dec.frame(&f);
            let mut g = real.to_vec();
            if let Some(b) = g.get_mut(at) { *b = byte; }
            let _ = dec.frame(&g);
        }
    }
}
