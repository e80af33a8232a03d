//! The projection's fold: what `state.projector.Projector` does with each decoded event,
//! over plain Rust state (`state.market.SymbolState` less its book and tape, which are the
//! caller's [`Book`] and [`TradeTape`]), and the per-stream counters (`state.validation`).
//!
//! Each `on_*` function is one of the projector's `_on_*` methods, check for check: it
//! pushes what it derives onto `out` ([`Derived`]: Gaps and Anomalies, in the order the
//! Python fold appended them) and never panics; where Python's fold raised (a book input
//! its rule cannot compare), the function returns the [`FoldError`] after the findings
//! made before it, and the caller counts a `fold_error`. Names (venue, symbol key,
//! normalized) and the event's stamp are the caller's: the events here are the decoders'.

use std::collections::{BTreeMap, VecDeque};

use crate::book::{Book, DeltaEvent, Finding, FoldError, LevelIn, OwnedDelta, Snapshot, Stamp};
use crate::event::{BookTicker, Kline, Level, Ticker};
use crate::price::decimal::{self, Decimal};
use crate::price::unicode;
use crate::price::Price;
use crate::sync::Ids;
use crate::tape::TradeTape;

/// Trade ids remembered per symbol when the venue's ids have no order (`RECENT_IDS`).
pub const RECENT_IDS: usize = 64;

/// The text of an Anomaly, made only when the caller keeps events.
#[derive(Clone, Debug, PartialEq)]
pub enum Detail {
    Text(String),
    /// `prefix` then Python's `repr()` of the string (the caller makes it).
    Repr(&'static str, String),
    /// Upbit totals: `levels {bids}/{asks} totals {repr((tb, ta))}`.
    Totals(String, String, String, String),
    /// What Python's fold raised: `{event type}: {exception type}: {message}`.
    Fold(&'static str, FoldError),
}

/// What folding an event derived, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Derived {
    Gap(crate::book::Gap),
    /// A finding about the event folded (its names, seq and receive time); `fold_error`'s
    /// event carries no normalized name (Python's `_anomaly` left it "").
    Anomaly {
        kind: &'static str,
        detail: Detail,
    },
}

/// Python's `float(s)` of a string: surrounding whitespace stripped, non-ASCII digits read
/// as theirs, underscores only between digits; None where Python raises `ValueError`.
pub fn py_float(s: &str) -> Option<f64> {
    // the usual spelling: ASCII digits, sign, dot, exponent; no allocation
    if !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'-' | b'+' | b'e' | b'E'))
    {
        return s.parse::<f64>().ok();
    }
    let t = s.trim_matches(unicode::is_space);
    let mut b: Vec<u8> = Vec::with_capacity(t.len());
    let mut simple = true;
    for c in t.chars() {
        if c.is_ascii() {
            if c == '_' {
                simple = false;
            }
            b.push(c as u8);
        } else if let Some(d) = unicode::digit(c) {
            b.push(b'0' + d);
        } else {
            return None;
        }
    }
    if !simple {
        let mut out = Vec::with_capacity(b.len());
        for (i, &c) in b.iter().enumerate() {
            if c == b'_' {
                let before = i > 0 && b[i - 1].is_ascii_digit();
                let after = b.get(i + 1).is_some_and(u8::is_ascii_digit);
                if !(before && after) {
                    return None;
                }
            } else {
                out.push(c);
            }
        }
        b = out;
    }
    // Rust's grammar is Python's for what is left (sign, digits, dot, exponent, inf/nan words)
    let text = std::str::from_utf8(&b).ok()?;
    if text.is_empty() || !text.bytes().all(|c| c.is_ascii_graphic()) {
        return None;
    }
    text.parse::<f64>().ok()
}

/// `state.validation.classify`: None for a positive finite number, else the price's kind.
pub fn classify(value: &str) -> Option<&'static str> {
    match decimal::parse(value) {
        None => Some("unparseable"),
        Some(Decimal::Finite(f)) => {
            if f.coeff.is_empty() || f.neg {
                Some("nonpositive_price")
            } else {
                None
            }
        }
        Some(_) => Some("nan"),
    }
}

/// `state.validation.classify_size(value, strict=True)`.
pub fn classify_size_strict(value: &str) -> Option<&'static str> {
    match decimal::parse(value) {
        None => Some("unparseable"),
        Some(Decimal::Finite(f)) => {
            if f.coeff.is_empty() || f.neg {
                Some("bad_size")
            } else {
                None
            }
        }
        Some(_) => Some("nan"),
    }
}

fn set(dst: &mut String, src: &str) {
    dst.clear();
    dst.push_str(src);
}

/// The last book ticker, as decoded (its names are the symbol's).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Quote {
    pub stamp: Stamp,
    pub bid_px: String,
    pub bid_sz: String,
    pub ask_px: String,
    pub ask_sz: String,
    pub update_id: Option<i64>,
}

/// The last trade, as decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LastTrade {
    pub stamp: Stamp,
    pub price: String,
    pub size: String,
    pub side: String,
    pub trade_id: String,
    pub ordinal: Option<i64>,
}

/// A trade as the fold reads it (a side other than buy/sell is kept as sent).
pub struct TradeIn<'a> {
    pub exch_ts_ns: i64,
    pub price: &'a str,
    pub size: &'a str,
    pub side: &'a str,
    pub trade_id: &'a str,
    pub ordinal: Option<i64>,
}

/// A kline row: `[start_ns, open, high, low, close, volume, quote_volume, closed, seq]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KlineRow {
    pub start_ns: i64,
    pub open: String,
    pub high: String,
    pub low: String,
    pub close: String,
    pub volume: String,
    pub quote_volume: Option<String>,
    pub closed: Option<bool>,
    pub seq: i64,
}

/// The names of `Ticker`'s fields, in the order the fold merges them.
pub const TICKER_FIELDS: [&str; 14] = [
    "last",
    "bid",
    "ask",
    "open",
    "high",
    "low",
    "volume",
    "quote_volume",
    "mark",
    "index",
    "funding_rate",
    "prev_close",
    "change",
    "change_rate",
];

/// A symbol's folded state, but its book and tape (`SymbolState`).
#[derive(Clone, Debug, Default)]
pub struct Sym {
    pub quote: Option<Quote>,
    /// The last quote's prices parsed positive with bid < ask: a cache of a check.
    pub quote_ok: bool,
    /// Merged ticker fields, in the order first seen (a dict's order).
    pub ticker: Vec<(&'static str, String)>,
    /// interval -> row, in the order first seen.
    pub klines: Vec<(String, KlineRow)>,
    pub last_trade: Option<LastTrade>,
    pub last_large: bool,
    pub last_ordinal: Option<i64>,
    pub recent_ids: VecDeque<String>,
    pub seq: i64,
    pub ts_ns: i64,
    pub large_threshold: f64,
}

impl Sym {
    pub fn new(large_threshold: f64) -> Sym {
        Sym {
            large_threshold,
            ..Sym::default()
        }
    }

    /// Stamped with the event folded (`Projector._state`).
    pub fn stamp(&mut self, at: Stamp) {
        self.seq = at.seq;
        self.ts_ns = at.recv_ts_ns;
    }

    /// Set a ticker field (a restored state's), keeping the first-seen order.
    pub fn set_ticker(&mut self, name: &str, v: &str) -> bool {
        let Some(&n) = TICKER_FIELDS.iter().find(|f| **f == name) else {
            return false;
        };
        match self.ticker.iter_mut().find(|(k, _)| *k == n) {
            Some((_, old)) => set(old, v),
            None => self.ticker.push((n, v.to_owned())),
        }
        true
    }
}

fn bad(out: &mut Vec<Derived>, kind: &'static str, detail: Detail) {
    out.push(Derived::Anomaly { kind, detail });
}

fn findings(
    found: &mut Vec<Finding>,
    totals: Option<(&str, &str)>,
    out: &mut Vec<Derived>,
) -> usize {
    let mut gaps = 0;
    for f in found.drain(..) {
        let kind = f.kind();
        let detail = match f {
            Finding::Gap(g) => {
                out.push(Derived::Gap(g));
                gaps += 1;
                continue;
            }
            Finding::Rejected(n) => Detail::Text(format!("{n} book levels rejected")),
            Finding::TotalMismatch { bids, asks } => {
                let (tb, ta) = totals.unwrap_or_default();
                Detail::Totals(bids, asks, tb.to_owned(), ta.to_owned())
            }
            Finding::Crossed { bid, ask } => Detail::Text(format!("bid {bid} >= ask {ask}")),
            Finding::TickerMismatch { detail } => Detail::Text(detail),
        };
        bad(out, kind, detail);
    }
    gaps
}

/// `_on_book_ticker`: validity, time order and crossing of a quote; the book checks it
/// against its levels at the quote's update id.
pub fn on_book_ticker(
    st: &mut Sym,
    book: Option<&mut Book>,
    t: &BookTicker<'_>,
    at: Stamp,
    found: &mut Vec<Finding>,
    out: &mut Vec<Derived>,
) -> Result<(), FoldError> {
    let mut crossed = false;
    let same = st.quote_ok
        && st
            .quote
            .as_ref()
            .is_some_and(|q| q.bid_px == t.bid_px && q.ask_px == t.ask_px);
    if !same {
        let bid = Price::parse(&t.bid_px);
        let ask = Price::parse(&t.ask_px);
        let (Some(bid), Some(ask)) = (bid, ask) else {
            let badp: &str = if Price::parse(&t.bid_px).is_none() {
                &t.bid_px
            } else {
                &t.ask_px
            };
            let kind = classify(badp).unwrap_or("unparseable");
            bad(
                out,
                kind,
                Detail::Repr("book ticker price ", badp.to_owned()),
            );
            return Ok(());
        };
        crossed = bid >= ask;
        st.quote_ok = !crossed;
    }
    if let Some(last) = &st.quote {
        if t.exch_ts_ns < last.stamp.exch_ts_ns && t.exch_ts_ns != 0 {
            let d = format!(
                "book ticker time {} < {}",
                t.exch_ts_ns, last.stamp.exch_ts_ns
            );
            bad(out, "exch_ts_backwards", Detail::Text(d));
        }
    }
    if crossed {
        let d = format!("{} >= {}", t.bid_px, t.ask_px);
        bad(out, "crossed_quote", Detail::Text(d));
    }
    let q = st.quote.get_or_insert_with(Quote::default);
    q.stamp = Stamp {
        exch_ts_ns: t.exch_ts_ns,
        ..at
    };
    set(&mut q.bid_px, &t.bid_px);
    set(&mut q.bid_sz, &t.bid_sz);
    set(&mut q.ask_px, &t.ask_px);
    set(&mut q.ask_sz, &t.ask_sz);
    q.update_id = t.update_id;
    if let Some(b) = book {
        if t.update_id.is_some() {
            let tk = crate::book::Ticker {
                seq: at.seq,
                bid_px: t.bid_px.as_ref(),
                bid_sz: t.bid_sz.as_ref(),
                ask_px: t.ask_px.as_ref(),
                ask_sz: t.ask_sz.as_ref(),
                update_id: t.update_id,
            };
            found.clear();
            let res = b.apply_ticker(&tk, found);
            findings(found, None, out);
            res?;
        }
    }
    Ok(())
}

/// `_on_trade`: price and size, ids, time order; the tape takes the trade.
pub fn on_trade(
    st: &mut Sym,
    tape: &mut TradeTape,
    t: &TradeIn<'_>,
    at: Stamp,
    out: &mut Vec<Derived>,
) {
    let price = py_float(t.price).unwrap_or(-1.0);
    if !(0.0 < price && price < f64::INFINITY) && Price::parse(t.price).is_none() {
        let kind = classify(t.price).unwrap_or("unparseable");
        bad(out, kind, Detail::Repr("trade price ", t.price.to_owned()));
        return;
    }
    let size = py_float(t.size).unwrap_or(f64::NAN);
    if !(0.0 < size && size < f64::INFINITY) {
        let kind = classify_size_strict(t.size).unwrap_or("bad_size");
        bad(out, kind, Detail::Repr("trade size ", t.size.to_owned()));
        return;
    }
    match t.ordinal {
        Some(o) => {
            if let Some(last) = st.last_ordinal {
                if o <= last {
                    let kind = if o == last {
                        "duplicate_trade"
                    } else {
                        "out_of_order_trade"
                    };
                    bad(
                        out,
                        kind,
                        Detail::Text(format!("trade id {o} after {last}")),
                    );
                }
            }
            st.last_ordinal = Some(o);
        }
        None => {
            if st.recent_ids.iter().any(|i| i == t.trade_id) {
                let d = format!("trade id {} seen", t.trade_id);
                bad(out, "duplicate_trade", Detail::Text(d));
            }
            let mut slot = if st.recent_ids.len() >= RECENT_IDS {
                st.recent_ids.pop_front().unwrap_or_default()
            } else {
                String::new()
            };
            set(&mut slot, t.trade_id);
            st.recent_ids.push_back(slot);
        }
    }
    if let Some(lt) = &st.last_trade {
        if t.exch_ts_ns < lt.stamp.exch_ts_ns && t.exch_ts_ns != 0 {
            let d = format!("trade time {} < {}", t.exch_ts_ns, lt.stamp.exch_ts_ns);
            bad(out, "exch_ts_backwards", Detail::Text(d));
        }
    }
    let large = price * size >= st.large_threshold;
    tape.add(at.recv_ts_ns, price, size, t.side == "buy", large);
    let lt = st.last_trade.get_or_insert_with(LastTrade::default);
    lt.stamp = Stamp {
        exch_ts_ns: t.exch_ts_ns,
        ..at
    };
    set(&mut lt.price, t.price);
    set(&mut lt.size, t.size);
    set(&mut lt.side, t.side);
    set(&mut lt.trade_id, t.trade_id);
    lt.ordinal = t.ordinal;
    st.last_large = large;
}

/// A delta as the book reads it: its levels and the names a buffered copy keeps.
pub struct Delta<'a, L: LevelIn> {
    pub names: [&'a str; 3],
    pub stamp: Stamp,
    pub bids: &'a [L],
    pub asks: &'a [L],
    pub ids: Ids,
    pub checksum: Option<i64>,
}

fn owned<L: LevelIn>(ls: &[L]) -> Vec<crate::book::OwnedLevel> {
    ls.iter()
        .map(|l| crate::book::OwnedLevel {
            price: l.price().to_owned(),
            size: l.size().to_owned(),
            id: l.id().map(str::to_owned),
        })
        .collect()
}

impl<L: LevelIn> DeltaEvent for Delta<'_, L> {
    type Level = L;
    fn stamp(&self) -> Stamp {
        self.stamp
    }
    fn bids(&self) -> &[L] {
        self.bids
    }
    fn asks(&self) -> &[L] {
        self.asks
    }
    fn ids(&self) -> Ids {
        self.ids
    }
    fn checksum(&self) -> Option<i64> {
        self.checksum
    }
    fn to_owned_delta(&self) -> OwnedDelta {
        OwnedDelta {
            venue: self.names[0].to_owned(),
            symbol: self.names[1].to_owned(),
            norm: self.names[2].to_owned(),
            stamp: self.stamp,
            bids: owned(self.bids),
            asks: owned(self.asks),
            ids: self.ids,
            checksum: self.checksum,
        }
    }
}

impl LevelIn for Level<'_> {
    fn price(&self) -> &str {
        &self.price
    }
    fn size(&self) -> &str {
        &self.size
    }
    fn id(&self) -> Option<&str> {
        self.seq.as_deref()
    }
}

/// `_on_delta`: the book folds it through its rule. Returns the Gaps to count (none when
/// the fold stopped at an error: Python's count came after the call that raised).
pub fn on_delta<L: LevelIn>(
    book: &mut Book,
    d: &Delta<'_, L>,
    found: &mut Vec<Finding>,
    out: &mut Vec<Derived>,
) -> Result<usize, FoldError> {
    found.clear();
    let res = book.apply_delta(d, found);
    let gaps = findings(found, None, out);
    res.map(|()| gaps)
}

/// `_on_snapshot`, as `on_delta`.
pub fn on_snapshot<L: LevelIn>(
    book: &mut Book,
    s: &Snapshot<'_, L>,
    found: &mut Vec<Finding>,
    out: &mut Vec<Derived>,
) -> Result<usize, FoldError> {
    found.clear();
    let res = book.apply_snapshot(s, found);
    let gaps = findings(found, s.totals, out);
    res.map(|()| gaps)
}

/// `_on_ticker`: merge the fields sent, check last and mark, and bid against ask.
pub fn on_ticker(st: &mut Sym, t: &Ticker<'_>, out: &mut Vec<Derived>) {
    let fields = [
        &t.last,
        &t.bid,
        &t.ask,
        &t.open,
        &t.high,
        &t.low,
        &t.volume,
        &t.quote_volume,
        &t.mark,
        &t.index,
        &t.funding_rate,
        &t.prev_close,
        &t.change,
        &t.change_rate,
    ];
    for (name, v) in TICKER_FIELDS.iter().zip(fields) {
        if let Some(v) = v {
            st.set_ticker(name, v);
        }
    }
    for (name, v) in [("last", &t.last), ("mark", &t.mark)] {
        if let Some(v) = v {
            if !v.is_empty() && Price::parse(v).is_none() {
                let kind = classify(v).unwrap_or("unparseable");
                let prefix = if name == "last" {
                    "ticker last "
                } else {
                    "ticker mark "
                };
                bad(out, kind, Detail::Repr(prefix, v.to_string()));
            }
        }
    }
    if let (Some(b), Some(a)) = (&t.bid, &t.ask) {
        if !b.is_empty() && !a.is_empty() {
            if let (Some(kb), Some(ka)) = (Price::parse(b), Price::parse(a)) {
                if kb >= ka {
                    bad(
                        out,
                        "crossed_quote",
                        Detail::Text(format!("ticker {b} >= {a}")),
                    );
                }
            }
        }
    }
}

/// `_on_kline`: the candle replaces its interval's row when its close is a price.
pub fn on_kline(st: &mut Sym, k: &Kline<'_>, at: Stamp, out: &mut Vec<Derived>) {
    if Price::parse(&k.close).is_none() {
        let kind = classify(&k.close).unwrap_or("unparseable");
        bad(out, kind, Detail::Repr("kline close ", k.close.to_string()));
        return;
    }
    let row = KlineRow {
        start_ns: k.start_ns,
        open: k.open.to_string(),
        high: k.high.to_string(),
        low: k.low.to_string(),
        close: k.close.to_string(),
        volume: k.volume.to_string(),
        quote_volume: k.quote_volume.as_ref().map(|s| s.to_string()),
        closed: k.closed,
        seq: at.seq,
    };
    match st.klines.iter_mut().find(|(i, _)| *i == k.interval) {
        Some((_, r)) => *r = row,
        None => st.klines.push((k.interval.to_string(), row)),
    }
}

/// stream id -> counter name -> count (`state.validation.Counters`), sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub by_stream: BTreeMap<i64, BTreeMap<String, i64>>,
}

impl Counters {
    pub fn add(&mut self, stream: i64, name: &str, n: i64) {
        let c = self.by_stream.entry(stream).or_default();
        match c.get_mut(name) {
            Some(v) => *v += n,
            None => {
                c.insert(name.to_owned(), n);
            }
        }
    }

    pub fn get(&self, stream: i64, name: &str) -> i64 {
        self.by_stream
            .get(&stream)
            .and_then(|c| c.get(name))
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::rule_of;
    use std::borrow::Cow;

    #[test]
    fn py_float_reads_as_python() {
        assert_eq!(py_float(" 1_000.5\n"), Some(1000.5));
        assert_eq!(py_float("1e400"), Some(f64::INFINITY));
        assert_eq!(py_float("\u{661}\u{662}"), Some(12.0));
        assert!(py_float("nan").unwrap().is_nan());
        assert_eq!(py_float("-Infinity"), Some(f64::NEG_INFINITY));
        for bad in [
            "", " ", "1__0", "_1", "1_", "1_.5", "abc", "1e", "0x10", "1 2", "\u{0}1",
        ] {
            assert_eq!(py_float(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn classify_as_decimal() {
        assert_eq!(classify("1.5"), None);
        assert_eq!(classify("0"), Some("nonpositive_price"));
        assert_eq!(classify("-0"), Some("nonpositive_price"));
        assert_eq!(classify("NaN"), Some("nan"));
        assert_eq!(classify("x"), Some("unparseable"));
        assert_eq!(classify_size_strict("0.0"), Some("bad_size"));
        assert_eq!(classify_size_strict("-inf"), Some("nan"));
    }

    fn quote<'a>(b: &'a str, a: &'a str, ts: i64) -> BookTicker<'a> {
        BookTicker {
            symbol: Cow::Borrowed("X"),
            exch_ts_ns: ts,
            bid_px: Cow::Borrowed(b),
            bid_sz: Cow::Borrowed("1"),
            ask_px: Cow::Borrowed(a),
            ask_sz: Cow::Borrowed("1"),
            update_id: None,
        }
    }

    #[test]
    fn quotes_are_checked_as_the_projector_does() {
        let mut st = Sym::new(f64::INFINITY);
        let (mut found, mut out) = (Vec::new(), Vec::new());
        let at = Stamp::default();
        on_book_ticker(&mut st, None, &quote("1", "2", 5), at, &mut found, &mut out).unwrap();
        assert!(out.is_empty() && st.quote_ok);
        on_book_ticker(&mut st, None, &quote("2", "2", 4), at, &mut found, &mut out).unwrap();
        let kinds: Vec<_> = out
            .iter()
            .map(|d| match d {
                Derived::Anomaly { kind, .. } => *kind,
                Derived::Gap(_) => "gap",
            })
            .collect();
        assert_eq!(kinds, ["exch_ts_backwards", "crossed_quote"]);
        out.clear();
        on_book_ticker(&mut st, None, &quote("x", "2", 6), at, &mut found, &mut out).unwrap();
        assert_eq!(
            out,
            [Derived::Anomaly {
                kind: "unparseable",
                detail: Detail::Repr("book ticker price ", "x".into())
            }]
        );
        assert_eq!(st.quote.as_ref().unwrap().bid_px, "2"); // a bad quote is not kept
        let mut book = Book::new(rule_of("binance-usdm"), false);
        on_book_ticker(
            &mut st,
            Some(&mut book),
            &quote("1", "3", 7),
            at,
            &mut found,
            &mut out,
        )
        .unwrap();
    }

    #[test]
    fn trades_ids_and_the_tape() {
        let mut st = Sym::new(100.0);
        let mut tape = TradeTape::new(1_000);
        let mut out = Vec::new();
        let t = |id: &'static str, o: Option<i64>, px: &'static str| TradeIn {
            exch_ts_ns: 1,
            price: px,
            size: "2",
            side: "buy",
            trade_id: id,
            ordinal: o,
        };
        let at = Stamp::default();
        on_trade(&mut st, &mut tape, &t("1", Some(1), "60"), at, &mut out);
        on_trade(&mut st, &mut tape, &t("1", Some(1), "1"), at, &mut out);
        on_trade(&mut st, &mut tape, &t("a", None, "1e-400"), at, &mut out);
        on_trade(&mut st, &mut tape, &t("a", None, "0"), at, &mut out);
        assert_eq!(out.len(), 2); // the duplicate id, the price 0
        assert_eq!(tape.len(), 3);
        assert!(!st.last_large && st.recent_ids.len() == 1);
        for i in 0..100 {
            let id = format!("{i}");
            let tr = TradeIn {
                trade_id: &id,
                ..t("", None, "1")
            };
            on_trade(&mut st, &mut tape, &tr, at, &mut out);
        }
        assert_eq!(st.recent_ids.len(), RECENT_IDS);
    }

    #[test]
    fn counters_count_per_stream() {
        let mut c = Counters::default();
        c.add(2, "gap", 3);
        c.add(2, "gap", 1);
        c.add(1, "nan", 1);
        assert_eq!(c.get(2, "gap"), 4);
        assert_eq!(c.by_stream.keys().copied().collect::<Vec<_>>(), [1, 2]);
    }
}
