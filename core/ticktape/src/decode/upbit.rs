//! Upbit: WebSocket orderbook, trade, ticker and candle frames, DEFAULT or SIMPLE keys.
//!
//! The port of `state/decode/upbit.py`'s frame path, event for event. A frame's type is
//! found as Python finds it, by the first `"ty":"<letters>` or `"type":"<letters>` in its
//! bytes (so a type not projected, `myOrder`, is no events before any parse); then the
//! frame is read with the keys of its format. Numbers are bare JSON numbers, some in
//! exponent form, written as exact plain decimals (`number::plain`). Each orderbook frame
//! is a full snapshot of its units. A frame without a type is a control frame (`status`,
//! `error`) or an error. REST bodies stay in Python.

use std::borrow::Cow;

use serde::Deserialize;

use super::json::Slot;
use super::number::{any_int, int, int_or, opt_plain, plain};
use super::shape::{escapes, object, objects, untyped};
use super::utc::utc_ns;
use super::{ms_to_ns, DecodeError};
use crate::event::{BookSnapshot, Event, Kline, Level, Side, Source, Str, Ticker, Trade};

/// Upbit's decoder holds no state: every frame names its market.
#[derive(Debug, Clone, Default)]
pub struct UpbitDecoder;

/// Python's `re.search(rb'"(ty|type)"\s*:\s*"([a-z]+)', payload)`: (SIMPLE?, the type).
fn type_field(p: &[u8]) -> Option<(bool, &[u8])> {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    (0..p.len()).find_map(|i| {
        let at = p.get(i..)?;
        let (simple, rest) = if let Some(r) = at.strip_prefix(b"\"ty\"") {
            (true, r)
        } else {
            (false, at.strip_prefix(b"\"type\"")?)
        };
        let rest = &rest[rest.iter().take_while(|b| ws(b)).count()..];
        let rest = rest.strip_prefix(b":")?;
        let rest = &rest[rest.iter().take_while(|b| ws(b)).count()..];
        let rest = rest.strip_prefix(b"\"")?;
        let n = rest.iter().take_while(|b| b.is_ascii_lowercase()).count();
        (n > 0).then(|| (simple, &rest[..n]))
    })
}

/// The fields of every frame type, by what they mean; `keys!` reads them under each
/// format's names. Left raw until the frame's type says which its schema has.
struct Fields<'a> {
    kind: Slot<'a>,
    code: Slot<'a>,
    tms: Slot<'a>,
    ttms: Slot<'a>,
    tp: Slot<'a>,
    tv: Slot<'a>,
    ab: Slot<'a>,
    sid: Slot<'a>,
    tas: Slot<'a>,
    tbs: Slot<'a>,
    obu: Slot<'a>,
    op: Slot<'a>,
    hp: Slot<'a>,
    lp: Slot<'a>,
    atv: Slot<'a>,
    atp: Slot<'a>,
    pcp: Slot<'a>,
    scp: Slot<'a>,
    scr: Slot<'a>,
    cdt: Slot<'a>,
    catv: Slot<'a>,
    catp: Slot<'a>,
}

/// A struct reading some of `Fields` (or of `Unit`) under one format's key names.
macro_rules! keys {
    ($name:ident => $into:ident { $($f:ident: $k:literal),* $(,)? }) => {
        #[derive(Deserialize)]
        struct $name<'a> {
            $( #[serde(default, borrow, rename = $k)] $f: Slot<'a>, )*
        }
        impl<'a> From<$name<'a>> for $into<'a> {
            fn from(k: $name<'a>) -> Self {
                $into { $( $f: k.$f, )* }
            }
        }
    };
}

keys!(SimpleKeys => Fields {
    kind: "ty", code: "cd", tms: "tms", ttms: "ttms", tp: "tp", tv: "tv", ab: "ab",
    sid: "sid", tas: "tas", tbs: "tbs", obu: "obu", op: "op", hp: "hp", lp: "lp",
    atv: "atv24h", atp: "atp24h", pcp: "pcp", scp: "scp", scr: "scr", cdt: "cdttmu",
    catv: "catv", catp: "catp",
});

keys!(DefaultKeys => Fields {
    kind: "type", code: "code", tms: "timestamp", ttms: "trade_timestamp",
    tp: "trade_price", tv: "trade_volume", ab: "ask_bid", sid: "sequential_id",
    tas: "total_ask_size", tbs: "total_bid_size", obu: "orderbook_units",
    op: "opening_price", hp: "high_price", lp: "low_price", atv: "acc_trade_volume_24h",
    atp: "acc_trade_price_24h", pcp: "prev_closing_price", scp: "signed_change_price",
    scr: "signed_change_rate", cdt: "candle_date_time_utc",
    catv: "candle_acc_trade_volume", catp: "candle_acc_trade_price",
});

/// One orderbook unit: the best ask and bid at one depth.
struct Unit<'a> {
    ap: Slot<'a>,
    bp: Slot<'a>,
    asz: Slot<'a>,
    bsz: Slot<'a>,
}

keys!(SimpleUnit => Unit { ap: "ap", bp: "bp", asz: "as", bsz: "bs" });
keys!(DefaultUnit => Unit {
    ap: "ask_price", bp: "bid_price", asz: "ask_size", bsz: "bid_size",
});

/// `candle.1m` -> `1m` (Python's `split(".", 1)[-1]`: no dot, the whole type).
fn interval(kind: Str<'_>) -> Str<'_> {
    match kind {
        Cow::Borrowed(s) => Cow::Borrowed(s.split_once('.').map_or(s, |(_, r)| r)),
        Cow::Owned(s) => Cow::Owned(s.split_once('.').map_or(s.as_str(), |(_, r)| r).to_owned()),
    }
}

/// A time in ms (an int field, 0 when absent) as ns.
fn ms(slot: &Slot<'_>, name: &str) -> Result<i64, DecodeError> {
    ms_to_ns(int_or(slot, name, 0)?, name)
}

impl UpbitDecoder {
    /// The events of one WebSocket frame; `Err` quarantines it (a decode error).
    pub fn frame<'a>(&self, payload: &'a [u8]) -> Result<Vec<Event<'a>>, DecodeError> {
        let Some((simple, kind)) = type_field(payload) else {
            // {"status":"UP"}, {"error":{...}}: control frames; anything else is an error
            let v = untyped(payload)?;
            return match v.as_object() {
                Some(o) if o.contains_key("status") || o.contains_key("error") => Ok(vec![]),
                _ => Err(DecodeError("no type field".to_owned())),
            };
        };
        if !matches!(kind, b"orderbook" | b"trade" | b"ticker" | b"candle") {
            return Ok(vec![]); // a type not projected (myOrder, announcement ...)
        }
        let text =
            std::str::from_utf8(payload).map_err(|e| DecodeError(format!("not UTF-8: {e}")))?;
        escapes(text)?;
        let f: Fields<'a> = if simple {
            object::<SimpleKeys<'a>>(text, "frame")?.into()
        } else {
            object::<DefaultKeys<'a>>(text, "frame")?.into()
        };
        let code = f.code.string("code")?;
        Ok(vec![match kind {
            b"trade" => {
                any_int(&f.tms, "timestamp")?; // read, not used
                let sid = int(&f.sid, "sequential_id")?;
                Event::Trade(Trade {
                    symbol: code,
                    exch_ts_ns: ms_to_ns(int(&f.ttms, "trade_timestamp")?, "trade_timestamp")?,
                    price: plain(&f.tp, "trade_price")?,
                    size: plain(&f.tv, "trade_volume")?,
                    side: if f.ab.string("ask_bid")? == "ASK" {
                        Side::Sell
                    } else {
                        Side::Buy
                    },
                    trade_id: sid.to_string(),
                    ordinal: Some(sid),
                })
            }
            b"orderbook" => {
                let exch_ts_ns = ms_to_ns(int(&f.tms, "timestamp")?, "timestamp")?;
                let totals = (
                    plain(&f.tbs, "total_bid_size")?,
                    plain(&f.tas, "total_ask_size")?,
                );
                let units: Vec<Unit<'a>> = if simple {
                    let u = objects::<SimpleUnit<'a>>(f.obu.raw("orderbook_units")?, "unit")?;
                    u.into_iter().map(Unit::from).collect()
                } else {
                    let u = objects::<DefaultUnit<'a>>(f.obu.raw("orderbook_units")?, "unit")?;
                    u.into_iter().map(Unit::from).collect()
                };
                let (mut bids, mut asks) = (
                    Vec::with_capacity(units.len()),
                    Vec::with_capacity(units.len()),
                );
                for u in &units {
                    // SIMPLE's bid size defaults to 0 (`SUnit.bs = 0`); DEFAULT's is required
                    let bsz = if simple && !u.bsz.is_present() {
                        Cow::Borrowed("0")
                    } else {
                        plain(&u.bsz, "bid_size")?
                    };
                    bids.push(Level::new(plain(&u.bp, "bid_price")?, bsz));
                    asks.push(Level::new(
                        plain(&u.ap, "ask_price")?,
                        plain(&u.asz, "ask_size")?,
                    ));
                }
                Event::BookSnapshot(BookSnapshot {
                    symbol: code,
                    exch_ts_ns,
                    bids,
                    asks,
                    update_id: None,
                    depth: None,
                    checksum: None,
                    totals: Some(totals),
                    source: Source::Ws,
                })
            }
            b"ticker" => Event::Ticker(Ticker {
                symbol: code,
                exch_ts_ns: ms(&f.tms, "timestamp")?,
                last: Some(plain(&f.tp, "trade_price")?),
                open: opt_plain(&f.op, "opening_price")?,
                high: opt_plain(&f.hp, "high_price")?,
                low: opt_plain(&f.lp, "low_price")?,
                volume: opt_plain(&f.atv, "acc_trade_volume_24h")?,
                quote_volume: opt_plain(&f.atp, "acc_trade_price_24h")?,
                prev_close: opt_plain(&f.pcp, "prev_closing_price")?,
                change: opt_plain(&f.scp, "signed_change_price")?,
                change_rate: opt_plain(&f.scr, "signed_change_rate")?,
                ..Ticker::default()
            }),
            _ => Event::Kline(Kline {
                // candle
                symbol: code,
                exch_ts_ns: ms(&f.tms, "timestamp")?,
                interval: interval(f.kind.string("type")?),
                start_ns: utc_ns(&f.cdt.string("candle_date_time_utc")?)?,
                open: plain(&f.op, "opening_price")?,
                high: plain(&f.hp, "high_price")?,
                low: plain(&f.lp, "low_price")?,
                close: plain(&f.tp, "trade_price")?,
                volume: plain(&f.catv, "candle_acc_trade_volume")?,
                quote_volume: Some(plain(&f.catp, "candle_acc_trade_price")?),
                closed: None,
            }),
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TRADE: &[u8] = br#"{"ty":"trade","cd":"BTC-ITAM","tms":1618678272375,"td":"2021-04-17","ttm":"16:51:12","ttms":1618678272000,"tp":0.00000113,"tv":3416.89061628,"ab":"ASK","pcp":0.00000119,"c":"FALL","cp":6E-8,"sid":16186782720000000,"st":"REALTIME"}"#;
    const BOOK: &[u8] = br#"{"ty":"orderbook","cd":"KRW-BTC","tms":9,"tas":0.87,"tbs":2.47e0,"obu":[{"ap":114850000,"bp":114833000,"as":0.11621747,"bs":0.00173353},{"ap":1E+8,"bp":1,"as":1}],"st":"REALTIME"}"#;

    #[test]
    fn a_simple_trade_keeps_its_exact_numbers() {
        let got = UpbitDecoder.frame(TRADE).unwrap();
        let Event::Trade(t) = &got[0] else {
            panic!("{got:?}")
        };
        assert_eq!(
            (t.price.as_ref(), t.size.as_ref()),
            ("0.00000113", "3416.89061628")
        );
        assert_eq!((t.side, t.ordinal), (Side::Sell, Some(16186782720000000)));
        assert_eq!(t.exch_ts_ns, 1_618_678_272_000 * super::super::MS);
    }

    #[test]
    fn an_orderbook_is_a_snapshot_with_totals_in_either_format() {
        let got = UpbitDecoder.frame(BOOK).unwrap();
        let Event::BookSnapshot(s) = &got[0] else {
            panic!("{got:?}")
        };
        assert_eq!(s.bids[1], Level::new("1".into(), "0".into()));
        assert_eq!(s.asks[1], Level::new("100000000".into(), "1".into()));
        assert_eq!(s.totals, Some(("2.47".into(), "0.87".into())));
        let default = br#"{"type":"orderbook","code":"KRW-BTC","timestamp":9,"total_ask_size":0.87,"total_bid_size":2.47,"orderbook_units":[{"ask_price":114850000,"bid_price":114833000,"ask_size":0.11621747,"bid_size":0.00173353}]}"#;
        let got = UpbitDecoder.frame(default).unwrap();
        assert!(matches!(&got[0], Event::BookSnapshot(d) if d.bids[0] == s.bids[0]));
    }

    #[test]
    fn control_frames_and_types_not_projected_are_no_events() {
        let dec = UpbitDecoder;
        assert_eq!(dec.frame(br#"{"status":"UP"}"#).unwrap(), vec![]);
        assert_eq!(dec.frame(br#"{"error":{"name":"X"}}"#).unwrap(), vec![]);
        assert_eq!(dec.frame(br#"{"type":"myOrder","x":"#).unwrap(), vec![]);
        assert!(dec.frame(br#"{"statusx":"UP"}"#).is_err());
        assert!(dec.frame(br#"{"status":1e999}"#).is_err());
        assert!(dec.frame(br#"[{"ty":"trade"}]"#).is_err());
        assert!(dec.frame(br#"{"ty":"ticker","cd":"X","tp":true}"#).is_err());
    }

    const TICKER: &[u8] = br#"{"ty":"ticker","cd":"KRW-BTC","op":8450000.00000000,"hp":8679000,"lp":8445000,"tp":8629000.0,"pcp":8450000.00000000,"c":"RISE","cp":179000,"scp":-1.79E+5,"cr":0.0211834320,"scr":-0.0211834320,"tv":0.0105675,"atv24h":6448.96200341,"atp24h":55330325803.78210000,"tms":1524046049766,"st":"REALTIME"}"#;

    #[test]
    fn a_ticker_keeps_prev_close_change_and_rate_in_either_format() {
        let got = UpbitDecoder.frame(TICKER).unwrap();
        let Event::Ticker(t) = &got[0] else {
            panic!("{got:?}")
        };
        let f = |v: &Option<Str<'_>>| v.as_deref().map(str::to_owned);
        assert_eq!(
            [&t.prev_close, &t.change, &t.change_rate].map(f),
            ["8450000.00000000", "-179000", "-0.0211834320"].map(|s| Some(s.to_owned()))
        );
        let default = br#"{"type":"ticker","code":"KRW-BTC","trade_price":8629000.0,"prev_closing_price":8450000.00000000,"signed_change_price":179000,"signed_change_rate":0.0211834320,"timestamp":1}"#;
        let got = UpbitDecoder.frame(default).unwrap();
        assert!(matches!(&got[0], Event::Ticker(d)
            if d.prev_close == t.prev_close && d.change.as_deref() == Some("179000")
                && d.change_rate.as_deref() == Some("0.0211834320")));
        // Absent or null: None; a boolean where a number belongs: an error, as in Python.
        let bare = br#"{"ty":"ticker","cd":"KRW-BTC","tp":1,"pcp":null}"#;
        let got = UpbitDecoder.frame(bare).unwrap();
        assert!(matches!(&got[0], Event::Ticker(d)
            if d.prev_close.is_none() && d.change.is_none() && d.change_rate.is_none()));
        assert!(UpbitDecoder
            .frame(br#"{"ty":"ticker","cd":"KRW-BTC","tp":1,"scr":true}"#)
            .is_err());
    }

    #[test]
    fn a_candle_starts_at_its_utc_time() {
        let c = br#"{"ty":"candle.1m","cd":"KRW-BTC","cdttmu":"2021-04-17T16:51:00","op":1,"hp":2,"lp":0.5,"tp":1.5,"catv":10,"catp":15,"tms":1}"#;
        let got = UpbitDecoder.frame(c).unwrap();
        assert!(matches!(&got[0], Event::Kline(k)
            if k.interval == "1m" && k.start_ns == 1_618_678_260_000_000_000 && k.close == "1.5"));
    }

    proptest! {
        // Any bytes, and any cut or change of a real frame: a result, never a panic.
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400),
                        cut in 0usize..400, at in 0usize..400, byte in any::<u8>()) {
            let _ = UpbitDecoder.frame(&bytes);
            for frame in [TRADE, BOOK, TICKER] {
                let mut f = frame.to_vec();
                f.truncate(cut.min(f.len()));
                let _ = UpbitDecoder.frame(&f);
                let mut g = frame.to_vec();
                if at < g.len() { g[at] = byte; }
                let _ = UpbitDecoder.frame(&g);
            }
        }
    }
}
