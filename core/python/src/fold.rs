//! `ticktape_core.Fold`: the projection's fold (`state.projector`), per batch of records.
//!
//! For each record: the seq order, the stream's receive times, then its events: a FRAME of a
//! stream with a compiled decoder (`ticktape::decode`) is decoded here and folded without a
//! Python object; REST records, streams of a venue without one and unknown streams go to
//! the stream's Python decoder (`state.decode`, handed over by the projector's `resolve`
//! callable) and its events are read into the same fold. The fold itself is
//! `ticktape::fold` (the `_on_*` checks) over state kept here: per (venue, symbol key) a
//! `SymbolState` (its book a `state.book.Book`, its tape a `state.features.TradeTape`,
//! both borrowed mutably per event), the counters, the streams' receive times.
//!
//! Events are made only when the caller keeps them (`apply`): the decoded ones, each
//! followed by the Gaps and Anomalies it derived, as `state.projector` made them. This module
//! imports none of the project's modules: `state.projector` hands it the classes (`fold_types`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use pyo3::{intern, IntoPyObjectExt};

use ticktape::book::{Book as Core, Finding, FoldError, Snapshot, Stamp};
use ticktape::decode::Decoder;
use ticktape::event::{self, Event, Level};
use ticktape::fold::{
    self as f, Counters, Delta, Derived, Detail, KlineRow, LastTrade, Quote, Sym,
};
use ticktape::sync::{rule_of, Ids};

use crate::book::{fold_error, PyBook};
use crate::tape::TradeTape;

/// How `state.listing` marks are told from other marks without parsing them.
const LISTING_MARK: &[u8] = b"\"mark\": \"listing\"";

fn memmem(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The Python classes the fold makes values of, handed over by `state.projector`.
struct Types {
    book_ticker: Py<PyAny>,
    trade: Py<PyAny>,
    book_delta: Py<PyAny>,
    book_snapshot: Py<PyAny>,
    ticker: Py<PyAny>,
    kline: Py<PyAny>,
    gap: Py<PyAny>,
    anomaly: Py<PyAny>,
    decode_error: Py<PyAny>,
    tape: Py<PyAny>,
    listing: Py<PyAny>,
    listing_of: Py<PyAny>,
}

static TYPES: GILOnceCell<Types> = GILOnceCell::new();

fn types(py: Python<'_>) -> PyResult<&Types> {
    TYPES.get(py).ok_or_else(|| {
        PyRuntimeError::new_err("ticktape_core.fold_types was not called (import state.projector)")
    })
}

/// Hand the fold the classes it makes: `state.events`' BookTicker, Trade, BookDelta,
/// BookSnapshot, Ticker, Kline, Gap, Anomaly, DecodeError, `state.features.TradeTape`,
/// and `state.events.Listing` with `state.listing.listing_of` (a listing mark's event).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn fold_types(
    py: Python<'_>,
    book_ticker: Py<PyAny>,
    trade: Py<PyAny>,
    book_delta: Py<PyAny>,
    book_snapshot: Py<PyAny>,
    ticker: Py<PyAny>,
    kline: Py<PyAny>,
    gap: Py<PyAny>,
    anomaly: Py<PyAny>,
    decode_error: Py<PyAny>,
    tape: Py<PyAny>,
    listing: Py<PyAny>,
    listing_of: Py<PyAny>,
) {
    let _ = TYPES.set(
        py,
        Types {
            book_ticker,
            trade,
            book_delta,
            book_snapshot,
            ticker,
            kline,
            gap,
            anomaly,
            decode_error,
            tape,
            listing,
            listing_of,
        },
    );
}

// -- one symbol's state ------------------------------------------------------------------

/// Everything folded for one (venue, symbol key): `state.market.SymbolState`'s attributes,
/// read-only (its book and tape are the live objects the fold changes).
#[pyclass(module = "state.market", name = "FoldedSymbol")]
pub struct PySym {
    venue: Py<PyString>,
    symbol: Py<PyString>,
    norm: Py<PyString>,
    st: Sym,
    book: Option<Py<PyBook>>,
    tape: Py<PyAny>,
    large: Py<PyAny>,
}

fn quote_obj<'py>(py: Python<'py>, s: &PySym, q: &Quote) -> PyResult<Bound<'py, PyAny>> {
    types(py)?.book_ticker.bind(py).call1((
        s.venue.bind(py),
        s.symbol.bind(py),
        s.norm.bind(py),
        q.stamp.exch_ts_ns,
        q.stamp.recv_ts_ns,
        q.stamp.seq,
        q.bid_px.as_str(),
        q.bid_sz.as_str(),
        q.ask_px.as_str(),
        q.ask_sz.as_str(),
        q.update_id,
    ))
}

fn trade_obj<'py>(py: Python<'py>, s: &PySym, t: &LastTrade) -> PyResult<Bound<'py, PyAny>> {
    types(py)?.trade.bind(py).call1((
        s.venue.bind(py),
        s.symbol.bind(py),
        s.norm.bind(py),
        t.stamp.exch_ts_ns,
        t.stamp.recv_ts_ns,
        t.stamp.seq,
        t.price.as_str(),
        t.size.as_str(),
        t.side.as_str(),
        t.trade_id.as_str(),
        t.ordinal,
    ))
}

fn kline_row<'py>(py: Python<'py>, k: &KlineRow) -> PyResult<Bound<'py, PyList>> {
    let items: Vec<Bound<'py, PyAny>> = vec![
        k.start_ns.into_bound_py_any(py)?,
        k.open.as_str().into_bound_py_any(py)?,
        k.high.as_str().into_bound_py_any(py)?,
        k.low.as_str().into_bound_py_any(py)?,
        k.close.as_str().into_bound_py_any(py)?,
        k.volume.as_str().into_bound_py_any(py)?,
        k.quote_volume.as_deref().into_bound_py_any(py)?,
        k.closed.into_bound_py_any(py)?,
        k.seq.into_bound_py_any(py)?,
    ];
    PyList::new(py, items)
}

#[pymethods]
impl PySym {
    #[getter]
    fn venue(&self, py: Python<'_>) -> Py<PyString> {
        self.venue.clone_ref(py)
    }
    #[getter]
    fn symbol(&self, py: Python<'_>) -> Py<PyString> {
        self.symbol.clone_ref(py)
    }
    #[getter]
    fn norm(&self, py: Python<'_>) -> Py<PyString> {
        self.norm.clone_ref(py)
    }
    #[getter]
    fn quote_ccy(&self, py: Python<'_>) -> PyResult<String> {
        let norm = self.norm.bind(py).to_str()?;
        Ok(norm.split('-').nth(1).unwrap_or("").to_owned())
    }
    #[getter]
    fn book(&self, py: Python<'_>) -> Option<Py<PyBook>> {
        self.book.as_ref().map(|b| b.clone_ref(py))
    }
    #[getter]
    fn tape(&self, py: Python<'_>) -> Py<PyAny> {
        self.tape.clone_ref(py)
    }
    /// The last book ticker, as decoded (a `BookTicker` made on each read).
    #[getter]
    fn quote<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.st
            .quote
            .as_ref()
            .map(|q| quote_obj(py, self, q))
            .transpose()
    }
    /// Merged Ticker fields (a copy: changing it changes nothing).
    #[getter]
    fn ticker<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in &self.st.ticker {
            d.set_item(*k, v.as_str())?;
        }
        Ok(d)
    }
    /// interval -> [start_ns, o, h, l, c, v, qv, closed, seq] (a copy).
    #[getter]
    fn klines<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, row) in &self.st.klines {
            d.set_item(k.as_str(), kline_row(py, row)?)?;
        }
        Ok(d)
    }
    #[getter]
    fn last_trade<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.st
            .last_trade
            .as_ref()
            .map(|t| trade_obj(py, self, t))
            .transpose()
    }
    #[getter]
    fn last_large(&self) -> bool {
        self.st.last_large
    }
    #[getter]
    fn last_ordinal(&self) -> Option<i64> {
        self.st.last_ordinal
    }
    #[getter]
    fn recent_ids(&self) -> Vec<String> {
        self.st.recent_ids.iter().cloned().collect()
    }
    #[getter]
    fn seq(&self) -> i64 {
        self.st.seq
    }
    #[getter]
    fn ts_ns(&self) -> i64 {
        self.st.ts_ns
    }
    #[getter]
    fn large_threshold(&self, py: Python<'_>) -> Py<PyAny> {
        self.large.clone_ref(py)
    }
    #[getter]
    fn quote_ok(&self) -> bool {
        self.st.quote_ok
    }

    /// The payload of this symbol's live-table row with `depth` levels a side
    /// (`ticktape::live_row`; `state.live_row.decode_row` reads it): made without a Python
    /// object, for the recorder's publisher after each fold.
    fn live_row<'py>(&self, py: Python<'py>, depth: i64) -> PyResult<Bound<'py, PyBytes>> {
        let n = depth.max(0) as usize;
        let venue = self.venue.bind(py).to_str()?;
        let symbol = self.symbol.bind(py).to_str()?;
        let norm = self.norm.bind(py).to_str()?;
        let book = self.book.as_ref().map(|b| b.bind(py).borrow());
        let core = book.as_ref().map(|b| b.core());
        fn top(s: &ticktape::levels::Side, n: usize) -> Vec<(&str, &str)> {
            s.iter()
                .take(n)
                .map(|lv| (lv.price.as_str(), lv.size.as_str()))
                .collect()
        }
        let (bids, asks, valid) = match core {
            Some(c) => (top(c.bids(), n), top(c.asks(), n), c.position().valid),
            None => (Vec::new(), Vec::new(), false),
        };
        let row = ticktape::live_row::RowRef {
            venue,
            symbol,
            norm,
            seq: self.st.seq,
            ts_ns: self.st.ts_ns,
            valid,
            has_book: core.is_some(),
            bids,
            asks,
            last_trade: self.st.last_trade.as_ref(),
            ticker: &self.st.ticker,
            quote: self.st.quote.as_ref(),
        };
        let mut out = Vec::with_capacity(256 + 64 * n);
        ticktape::live_row::encode(&row, &mut out);
        Ok(PyBytes::new(py, &out))
    }

    /// `SymbolState.state()`: the same layout, value for value (see `state.market`).
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let book = match &self.book {
            None => py.None().into_bound(py),
            Some(b) => b.bind(py).call_method0(intern!(py, "state"))?,
        };
        let tape = self.tape.bind(py).call_method0(intern!(py, "state"))?;
        let names = || {
            [
                self.venue.bind(py).clone().into_any(),
                self.symbol.bind(py).clone().into_any(),
                self.norm.bind(py).clone().into_any(),
            ]
        };
        let quote = match &self.st.quote {
            None => py.None().into_bound(py),
            Some(q) => {
                let mut v: Vec<Bound<'py, PyAny>> = names().into();
                v.extend([
                    q.stamp.exch_ts_ns.into_bound_py_any(py)?,
                    q.stamp.recv_ts_ns.into_bound_py_any(py)?,
                    q.stamp.seq.into_bound_py_any(py)?,
                    q.bid_px.as_str().into_bound_py_any(py)?,
                    q.bid_sz.as_str().into_bound_py_any(py)?,
                    q.ask_px.as_str().into_bound_py_any(py)?,
                    q.ask_sz.as_str().into_bound_py_any(py)?,
                    q.update_id.into_bound_py_any(py)?,
                ]);
                PyList::new(py, v)?.into_any()
            }
        };
        let trade = match &self.st.last_trade {
            None => py.None().into_bound(py),
            Some(t) => {
                let mut v: Vec<Bound<'py, PyAny>> = names().into();
                v.extend([
                    t.stamp.exch_ts_ns.into_bound_py_any(py)?,
                    t.stamp.recv_ts_ns.into_bound_py_any(py)?,
                    t.stamp.seq.into_bound_py_any(py)?,
                    t.price.as_str().into_bound_py_any(py)?,
                    t.size.as_str().into_bound_py_any(py)?,
                    t.side.as_str().into_bound_py_any(py)?,
                    t.trade_id.as_str().into_bound_py_any(py)?,
                    t.ordinal.into_bound_py_any(py)?,
                ]);
                PyList::new(py, v)?.into_any()
            }
        };
        let mut ticker: Vec<(&str, &str)> = self
            .st
            .ticker
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        ticker.sort();
        let ticker = PyList::new(py, ticker)?;
        let mut klines: Vec<&(String, KlineRow)> = self.st.klines.iter().collect();
        klines.sort_by(|a, b| a.0.cmp(&b.0));
        let kl = PyList::empty(py);
        for (k, row) in klines {
            kl.append((k.as_str(), kline_row(py, row)?))?;
        }
        let recent = PyList::new(py, self.st.recent_ids.iter().map(String::as_str))?;
        let [v, s, n] = names();
        let items: Vec<Bound<'py, PyAny>> = vec![
            v,
            s,
            n,
            book,
            tape,
            quote,
            ticker.into_any(),
            kl.into_any(),
            trade,
            self.st.last_large.into_bound_py_any(py)?,
            self.st.last_ordinal.into_bound_py_any(py)?,
            recent.into_any(),
            self.st.seq.into_bound_py_any(py)?,
            self.st.ts_ns.into_bound_py_any(py)?,
            self.large.bind(py).clone(),
        ];
        PyList::new(py, items)
    }
}

// -- streams and names -------------------------------------------------------------------

/// One stream's decoders: the compiled one where the core has it, and the Python one.
struct StreamDec {
    venue: Py<PyString>,
    pydec: Py<PyAny>,
    compiled: Option<Decoder>,
}

/// A native symbol of a stream: its key and normalized name (the Python decoder's `names`).
struct Name {
    key: Py<PyString>,
    norm: Py<PyString>,
    sym: Option<usize>,
}

// -- the fold ----------------------------------------------------------------------------

/// The projection's fold state; see the module docs and `state.projector`.
#[pyclass(module = "ticktape_core", name = "Fold")]
pub struct Fold {
    depth: i64,
    horizon_ns: i64,
    large: Py<PyDict>,
    sync_only: bool,
    /// stream -> (decoder, venue, market, url, compiled) ; called once per stream.
    resolve: Py<PyAny>,
    streams: HashMap<i64, Arc<StreamDec>>,
    names: HashMap<i64, HashMap<String, usize>>,
    name_rows: Vec<Name>,
    /// The last (stream, native symbol) named and its row.
    hot: (i64, String, usize),
    syms: Vec<Py<PySym>>,
    index: HashMap<(String, String), usize>,
    counters: Counters,
    stream_ts: BTreeMap<i64, i64>,
    cur: i64,
    cur_dec: Option<Arc<StreamDec>>,
    prev: i64,
    last_seq: i64,
    ts_ns: i64,
    found: Vec<Finding>,
    derived: Vec<Derived>,
}

/// What the fold is about: a symbol's names for the events it makes.
#[derive(Clone, Copy)]
struct At {
    sym: usize,
    stamp: Stamp,
}

fn type_name(ev: &Event<'_>) -> &'static str {
    match ev {
        Event::Trade(_) => "Trade",
        Event::BookTicker(_) => "BookTicker",
        Event::BookDelta(_) => "BookDelta",
        Event::BookSnapshot(_) => "BookSnapshot",
        Event::Ticker(_) => "Ticker",
        Event::Kline(_) => "Kline",
    }
}

fn levels<'py>(py: Python<'py>, lv: &[Level<'_>]) -> PyResult<Bound<'py, PyTuple>> {
    let mut items: Vec<Bound<'py, PyTuple>> = Vec::with_capacity(lv.len());
    for l in lv {
        items.push(match &l.seq {
            None => PyTuple::new(py, [l.price.as_ref(), l.size.as_ref()])?,
            Some(q) => PyTuple::new(py, [l.price.as_ref(), l.size.as_ref(), q.as_ref()])?,
        });
    }
    PyTuple::new(py, items)
}

/// `cls(venue, symbol, norm, exch_ts_ns, recv_ts_ns, seq, *rest)`: the head every event
/// shares, then its own fields, in one array (no Vec per event).
macro_rules! make {
    ($py:ident, $cls:expr, [$v:ident, $s:ident, $n:ident], $at:ident, $exch:expr; $($arg:expr),* $(,)?) => {
        $cls.bind($py).call1(PyTuple::new(
            $py,
            [
                $v.clone().into_any(),
                $s.clone().into_any(),
                $n.clone().into_any(),
                $exch.into_bound_py_any($py)?,
                $at.recv_ts_ns.into_bound_py_any($py)?,
                $at.seq.into_bound_py_any($py)?,
                $($arg.into_bound_py_any($py)?,)*
            ],
        )?)?
    };
}

/// The `state.events` object of a compiled decoder's event.
fn event_obj<'py>(
    py: Python<'py>,
    ev: &Event<'_>,
    names: [&Bound<'py, PyString>; 3],
    at: Stamp,
) -> PyResult<Bound<'py, PyAny>> {
    let t = types(py)?;
    let [v, s, n] = names;
    Ok(match ev {
        Event::Trade(x) => make!(py, t.trade, [v, s, n], at, x.exch_ts_ns;
            x.price.as_ref(), x.size.as_ref(), x.side.as_str(), x.trade_id.as_str(), x.ordinal),
        Event::BookTicker(x) => make!(py, t.book_ticker, [v, s, n], at, x.exch_ts_ns;
            x.bid_px.as_ref(), x.bid_sz.as_ref(), x.ask_px.as_ref(), x.ask_sz.as_ref(),
            x.update_id),
        Event::BookDelta(x) => make!(py, t.book_delta, [v, s, n], at, x.exch_ts_ns;
            levels(py, &x.bids)?, levels(py, &x.asks)?, x.first_id, x.last_id, x.prev_id,
            x.checksum),
        Event::BookSnapshot(x) => make!(py, t.book_snapshot, [v, s, n], at, x.exch_ts_ns;
            levels(py, &x.bids)?, levels(py, &x.asks)?, x.update_id, x.depth, x.checksum,
            x.totals.as_ref().map(|(b, a)| (b.as_ref(), a.as_ref())), x.source.as_str()),
        Event::Ticker(x) => make!(py, t.ticker, [v, s, n], at, x.exch_ts_ns;
            x.last.as_deref(), x.bid.as_deref(), x.ask.as_deref(), x.open.as_deref(),
            x.high.as_deref(), x.low.as_deref(), x.volume.as_deref(), x.quote_volume.as_deref(),
            x.mark.as_deref(), x.index.as_deref(), x.funding_rate.as_deref(),
            x.prev_close.as_deref(), x.change.as_deref(), x.change_rate.as_deref()),
        Event::Kline(x) => make!(py, t.kline, [v, s, n], at, x.exch_ts_ns;
            x.interval.as_ref(), x.start_ns, x.open.as_ref(), x.high.as_ref(), x.low.as_ref(),
            x.close.as_ref(), x.volume.as_ref(), x.quote_volume.as_deref(), x.closed),
    })
}

fn detail_text(py: Python<'_>, d: &Detail) -> PyResult<String> {
    Ok(match d {
        Detail::Text(s) => s.clone(),
        Detail::Repr(prefix, v) => {
            format!("{prefix}{}", PyString::new(py, v).repr()?.to_str()?)
        }
        Detail::Totals(b, a, tb, ta) => {
            let shown = PyTuple::new(py, [tb.as_str(), ta.as_str()])?.repr()?;
            format!("levels {b}/{a} totals {}", shown.to_str()?)
        }
        Detail::Fold(ev, e) => {
            let err = fold_error(py, e.clone());
            let tname = err.get_type(py).name()?.to_string();
            let msg = err.value(py).str()?.to_string();
            format!("{ev}: {tname}: {msg}")
        }
    })
}

/// Python's `f"{type(exc).__name__}: {exc}"` of an error.
fn err_text(py: Python<'_>, err: &PyErr) -> String {
    let tname = err
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default();
    let msg = err
        .value(py)
        .str()
        .map(|s| s.to_string())
        .unwrap_or_default();
    format!("{tname}: {msg}")
}

fn opt_str(v: Bound<'_, PyAny>) -> PyResult<Option<String>> {
    v.extract()
}

fn py_levels(v: &Bound<'_, PyAny>) -> PyResult<Vec<Level<'static>>> {
    let mut out = Vec::new();
    for lv in v.try_iter()? {
        let parts: Vec<String> = lv?.extract()?;
        if parts.len() < 2 {
            return Err(pyo3::exceptions::PyIndexError::new_err(
                "tuple index out of range",
            ));
        }
        let mut it = parts.into_iter();
        let price = it.next().unwrap_or_default();
        let size = it.next().unwrap_or_default();
        let mut l = Level::new(price.into(), size.into());
        l.seq = it.next().map(Into::into);
        out.push(l);
    }
    Ok(out)
}

/// A Python decoder's event as the core's (its strings copied: the REST path, rare).
fn read_event(ev: &Bound<'_, PyAny>, kind: usize) -> PyResult<Event<'static>> {
    let py = ev.py();
    let g = |n: &str| ev.getattr(n);
    let exch: i64 = ev.getattr(intern!(py, "exch_ts_ns"))?.extract()?;
    let sym = event::Str::Borrowed("");
    let s = |n: &str| -> PyResult<event::Str<'static>> { Ok(g(n)?.extract::<String>()?.into()) };
    let o =
        |n: &str| -> PyResult<Option<event::Str<'static>>> { Ok(opt_str(g(n)?)?.map(Into::into)) };
    Ok(match kind {
        0 => Event::BookTicker(event::BookTicker {
            symbol: sym,
            exch_ts_ns: exch,
            bid_px: s("bid_px")?,
            bid_sz: s("bid_sz")?,
            ask_px: s("ask_px")?,
            ask_sz: s("ask_sz")?,
            update_id: g("update_id")?.extract()?,
        }),
        // A trade's side is kept as sent (the core's Side has buy, sell and ""): see fold_trade
        1 => Event::Trade(event::Trade {
            symbol: sym,
            exch_ts_ns: exch,
            price: s("price")?,
            size: s("size")?,
            side: event::Side::Unknown,
            trade_id: g("trade_id")?.extract()?,
            ordinal: g("ordinal")?.extract()?,
        }),
        2 => Event::BookDelta(event::BookDelta {
            symbol: sym,
            exch_ts_ns: exch,
            bids: py_levels(&g("bids")?)?,
            asks: py_levels(&g("asks")?)?,
            first_id: g("first_id")?.extract()?,
            last_id: g("last_id")?.extract()?,
            prev_id: g("prev_id")?.extract()?,
            checksum: g("checksum")?.extract()?,
        }),
        3 => {
            let totals: Option<(String, String)> = g("totals")?.extract()?;
            let source: String = g("source")?.extract()?;
            Event::BookSnapshot(event::BookSnapshot {
                symbol: sym,
                exch_ts_ns: exch,
                bids: py_levels(&g("bids")?)?,
                asks: py_levels(&g("asks")?)?,
                update_id: g("update_id")?.extract()?,
                depth: g("depth")?.extract()?,
                checksum: g("checksum")?.extract()?,
                totals: totals.map(|(b, a)| (b.into(), a.into())),
                source: if source == "rest" {
                    event::Source::Rest
                } else {
                    event::Source::Ws
                },
            })
        }
        4 => Event::Ticker(event::Ticker {
            symbol: sym,
            exch_ts_ns: exch,
            last: o("last")?,
            bid: o("bid")?,
            ask: o("ask")?,
            open: o("open")?,
            high: o("high")?,
            low: o("low")?,
            volume: o("volume")?,
            quote_volume: o("quote_volume")?,
            mark: o("mark")?,
            index: o("index")?,
            funding_rate: o("funding_rate")?,
            prev_close: o("prev_close")?,
            change: o("change")?,
            change_rate: o("change_rate")?,
        }),
        _ => Event::Kline(event::Kline {
            symbol: sym,
            exch_ts_ns: exch,
            interval: s("interval")?,
            start_ns: g("start_ns")?.extract()?,
            open: s("open")?,
            high: s("high")?,
            low: s("low")?,
            close: s("close")?,
            volume: s("volume")?,
            quote_volume: o("quote_volume")?,
            closed: g("closed")?.extract()?,
        }),
    })
}

const FRAME: &str = "frame";

/// A checkpoint's BookTicker or Trade: names, times, seq, four strings, an optional int.
type EventRow = (
    String,
    String,
    String,
    i64,
    i64,
    i64,
    String,
    String,
    String,
    String,
    Option<i64>,
);

/// A checkpoint's list (msgpack arrays come back as lists) as a tuple, to extract typed.
/// `f(a, b, c)` without an argument tuple (the interpreter's vectorcall of `f`).
fn call3<'py>(
    f: &Bound<'py, PyAny>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    c: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let null: *mut pyo3::ffi::PyObject = std::ptr::null_mut();
    // SAFETY: every argument is a live object held by the GIL for the call; the list ends
    // with NULL, and the result is a new reference or NULL with an exception set.
    unsafe {
        let r = pyo3::ffi::PyObject_CallFunctionObjArgs(
            f.as_ptr(),
            a.as_ptr(),
            b.as_ptr(),
            c.as_ptr(),
            null,
        );
        Bound::from_owned_ptr_or_err(f.py(), r)
    }
}

fn as_tuple<'py>(v: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyTuple>> {
    PyTuple::new(v.py(), v.try_iter()?.collect::<PyResult<Vec<_>>>()?)
}

impl Fold {
    fn stream_dec(&mut self, py: Python<'_>, stream: i64) -> PyResult<Arc<StreamDec>> {
        if let Some(d) = self.streams.get(&stream) {
            return Ok(d.clone());
        }
        let got = self.resolve.bind(py).call1((stream,))?;
        let (pydec, venue, market, url, known): (Py<PyAny>, Py<PyString>, String, String, bool) =
            got.extract()?;
        let v = venue.bind(py).to_str()?;
        // Gate's Python decoder keys a symbol by its channel's market (spot. / futures.),
        // which the compiled one leaves to the stream's: the same where they are one.
        let gate_other = v == "gate" && market != "spot" && market != "futures";
        let compiled = if known && !gate_other {
            Decoder::for_stream(v, &market, &url)
        } else {
            None
        };
        let d = Arc::new(StreamDec {
            venue,
            pydec,
            compiled,
        });
        self.streams.insert(stream, d.clone());
        Ok(d)
    }

    /// The row of a compiled decoder's native symbol on `stream` (names asked once).
    fn name_row(
        &mut self,
        py: Python<'_>,
        stream: i64,
        dec: &StreamDec,
        native: &str,
    ) -> PyResult<usize> {
        // most events name the previous event's symbol: one comparison, no hashing
        if self.hot.0 == stream && self.hot.1 == native {
            return Ok(self.hot.2);
        }
        if let Some(&i) = self.names.get(&stream).and_then(|m| m.get(native)) {
            self.hot = (stream, native.to_owned(), i);
            return Ok(i);
        }
        let (key, norm): (Py<PyString>, Py<PyString>) = dec
            .pydec
            .bind(py)
            .call_method1(intern!(py, "names"), (native,))?
            .extract()?;
        let i = self.name_rows.len();
        self.name_rows.push(Name {
            key,
            norm,
            sym: None,
        });
        self.names
            .entry(stream)
            .or_default()
            .insert(native.to_owned(), i);
        self.hot = (stream, native.to_owned(), i);
        Ok(i)
    }

    /// The symbol's state, created on first sight (`Projector._state`, less the stamp).
    fn sym_of(
        &mut self,
        py: Python<'_>,
        venue: &Bound<'_, PyString>,
        key: &Bound<'_, PyString>,
        norm: &Bound<'_, PyString>,
    ) -> PyResult<usize> {
        let k = (venue.to_str()?.to_owned(), key.to_str()?.to_owned());
        if let Some(&i) = self.index.get(&k) {
            return Ok(i);
        }
        let n = norm.to_str()?;
        let parts: Vec<&str> = n.split('-').collect();
        let quote = if parts.len() > 1 { parts[1] } else { "" };
        let large = match self.large.bind(py).get_item(quote)? {
            Some(v) => v.unbind(),
            None => f64::INFINITY.into_bound_py_any(py)?.unbind(),
        };
        let tape = types(py)?.tape.bind(py).call1((self.horizon_ns,))?.unbind();
        let sym = PySym {
            venue: venue.clone().unbind(),
            symbol: key.clone().unbind(),
            norm: norm.clone().unbind(),
            st: Sym::new(large.bind(py).extract()?),
            book: None,
            tape,
            large,
        };
        let i = self.syms.len();
        self.syms.push(Py::new(py, sym)?);
        self.index.insert(k, i);
        Ok(i)
    }

    fn count_derived(&mut self, gaps: usize) {
        for d in &self.derived {
            if let Derived::Anomaly { kind, .. } = d {
                self.counters.add(self.cur, kind, 1);
            }
        }
        if gaps > 0 {
            self.counters.add(self.cur, "gap", gaps as i64);
        }
    }

    /// Fold one event of symbol `sym` (`fold[type(ev)](ev, out)` and its `fold_error`):
    /// `self.derived` holds what it derived, counted.
    fn fold_event(
        &mut self,
        py: Python<'_>,
        at: At,
        ev: &Event<'_>,
        side: Option<&str>,
    ) -> PyResult<()> {
        self.derived.clear();
        let cell = self.syms[at.sym].clone_ref(py);
        let mut sref = cell.bind(py).borrow_mut();
        let s = &mut *sref;
        s.st.stamp(at.stamp);
        let mut gaps = 0;
        let res: Result<(), FoldError> = match ev {
            Event::BookTicker(t) => match &s.book {
                None => f::on_book_ticker(
                    &mut s.st,
                    None,
                    t,
                    at.stamp,
                    &mut self.found,
                    &mut self.derived,
                ),
                Some(b) => {
                    let mut b = b.bind(py).borrow_mut();
                    f::on_book_ticker(
                        &mut s.st,
                        Some(b.core_mut()),
                        t,
                        at.stamp,
                        &mut self.found,
                        &mut self.derived,
                    )
                }
            },
            Event::Trade(t) => {
                let tape = s.tape.bind(py).downcast::<TradeTape>()?.clone();
                let mut tape = tape.borrow_mut();
                let tr = f::TradeIn {
                    exch_ts_ns: t.exch_ts_ns,
                    price: &t.price,
                    size: &t.size,
                    side: side.unwrap_or(t.side.as_str()),
                    trade_id: &t.trade_id,
                    ordinal: t.ordinal,
                };
                f::on_trade(
                    &mut s.st,
                    tape.inner_mut(),
                    &tr,
                    at.stamp,
                    &mut self.derived,
                );
                Ok(())
            }
            Event::BookDelta(_) | Event::BookSnapshot(_) => {
                if s.book.is_none() {
                    let venue = s.venue.clone_ref(py);
                    let core = Core::new(rule_of(venue.bind(py).to_str()?), self.sync_only);
                    let book = PyBook::new_core(
                        py,
                        venue.clone_ref(py),
                        s.symbol.clone_ref(py),
                        s.norm.clone_ref(py),
                        venue,
                        self.depth,
                        core,
                    );
                    s.book = Some(Py::new(py, book)?);
                }
                let book = s.book.as_ref().map(|b| b.clone_ref(py));
                let book = book.ok_or_else(|| PyRuntimeError::new_err("no book"))?;
                let mut b = book.bind(py).borrow_mut();
                let names = [
                    s.venue.bind(py).to_str()?,
                    s.symbol.bind(py).to_str()?,
                    s.norm.bind(py).to_str()?,
                ];
                let r = match ev {
                    Event::BookDelta(d) => {
                        let delta = Delta {
                            names,
                            stamp: Stamp {
                                exch_ts_ns: d.exch_ts_ns,
                                ..at.stamp
                            },
                            bids: &d.bids,
                            asks: &d.asks,
                            ids: Ids {
                                first: d.first_id,
                                last: d.last_id,
                                prev: d.prev_id,
                            },
                            checksum: d.checksum,
                        };
                        f::on_delta(b.core_mut(), &delta, &mut self.found, &mut self.derived)
                    }
                    Event::BookSnapshot(x) => {
                        let snap = Snapshot {
                            stamp: Stamp {
                                exch_ts_ns: x.exch_ts_ns,
                                ..at.stamp
                            },
                            bids: &x.bids[..],
                            asks: &x.asks[..],
                            update_id: x.update_id,
                            depth: x.depth,
                            checksum: x.checksum,
                            totals: x.totals.as_ref().map(|(b, a)| (b.as_ref(), a.as_ref())),
                        };
                        f::on_snapshot(b.core_mut(), &snap, &mut self.found, &mut self.derived)
                    }
                    _ => Ok(0),
                };
                match r {
                    Ok(n) => {
                        gaps = n;
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            Event::Ticker(t) => {
                f::on_ticker(&mut s.st, t, &mut self.derived);
                Ok(())
            }
            Event::Kline(k) => {
                f::on_kline(&mut s.st, k, at.stamp, &mut self.derived);
                Ok(())
            }
        };
        drop(sref);
        self.count_derived(gaps);
        if let Err(e) = res {
            self.counters.add(self.cur, "fold_error", 1);
            self.derived.push(Derived::Anomaly {
                kind: "fold_error",
                detail: Detail::Fold(type_name(ev), e),
            });
        }
        Ok(())
    }

    /// The events `self.derived` describes, appended to `out`.
    fn emit(&self, py: Python<'_>, at: At, out: &Bound<'_, PyList>) -> PyResult<()> {
        let t = types(py)?;
        let s = self.syms[at.sym].bind(py).borrow();
        for d in &self.derived {
            match d {
                Derived::Gap(g) => out.append(t.gap.bind(py).call1((
                    s.venue.bind(py),
                    s.symbol.bind(py),
                    s.norm.bind(py),
                    g.stamp.exch_ts_ns,
                    g.stamp.recv_ts_ns,
                    g.stamp.seq,
                    g.expected,
                    g.got,
                    g.reason.as_str(),
                ))?)?,
                Derived::Anomaly { kind, detail } => {
                    let norm = if *kind == "fold_error" {
                        PyString::new(py, "")
                    } else {
                        s.norm.bind(py).clone()
                    };
                    out.append(t.anomaly.bind(py).call1((
                        s.venue.bind(py),
                        s.symbol.bind(py),
                        norm,
                        0,
                        at.stamp.recv_ts_ns,
                        at.stamp.seq,
                        self.cur,
                        *kind,
                        detail_text(py, detail)?,
                    ))?)?
                }
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn anomaly_plain(
        &mut self,
        py: Python<'_>,
        seq: i64,
        ts: i64,
        venue: &str,
        symbol: &str,
        kind: &str,
        detail: String,
        out: Option<&Bound<'_, PyList>>,
    ) -> PyResult<()> {
        self.counters.add(self.cur, kind, 1);
        if let Some(out) = out {
            out.append(
                types(py)?
                    .anomaly
                    .bind(py)
                    .call1((venue, symbol, "", 0, ts, seq, self.cur, kind, detail))?,
            )?;
        }
        Ok(())
    }

    /// Fold one record (its seq already checked); events to `out` when kept.
    fn record(
        &mut self,
        py: Python<'_>,
        rec: &Bound<'_, PyAny>,
        seq: i64,
        out: Option<&Bound<'_, PyList>>,
    ) -> PyResult<()> {
        let stream: i64 = rec.getattr(intern!(py, "stream"))?.extract()?;
        let ts: i64 = rec.getattr(intern!(py, "ts_ns"))?.extract()?;
        if stream != self.cur || self.cur_dec.is_none() {
            let dec = self.stream_dec(py, stream)?;
            if self.cur >= 0 {
                self.stream_ts.insert(self.cur, self.prev);
            }
            self.cur = stream;
            self.cur_dec = Some(dec);
            self.prev = self.stream_ts.get(&stream).copied().unwrap_or(0);
        }
        if ts > self.ts_ns {
            self.ts_ns = ts;
        }
        if ts < self.prev {
            let d = format!("{ts} < {}", self.prev);
            self.anomaly_plain(py, seq, ts, "", "", "recv_ts_backwards", d, out)?;
        }
        self.prev = ts;
        let kind = rec.getattr(intern!(py, "kind"))?;
        let kind = kind.downcast::<PyString>()?.to_str()?;
        if kind == "mark" {
            // our own marks: a listing mark is an event (on whatever stream it came)
            if let Some(out) = out {
                let payload = rec.getattr(intern!(py, "payload"))?;
                let is_listing = payload
                    .downcast::<PyBytes>()
                    .map(|b| memmem(b.as_bytes(), LISTING_MARK))
                    .unwrap_or(false);
                if is_listing {
                    let ev = types(py)?.listing_of.bind(py).call1((rec,))?;
                    if !ev.is_none() {
                        out.append(ev)?;
                    }
                }
            }
            return Ok(());
        }
        let Some(dec) = self.cur_dec.clone() else {
            return Ok(());
        };
        if kind == FRAME {
            if let Some(c) = &dec.compiled {
                let payload = rec.getattr(intern!(py, "payload"))?;
                let payload = match payload.downcast_into::<PyBytes>() {
                    Ok(b) => b,
                    // another bytes-like object (a memoryview): its bytes
                    Err(e) => py
                        .get_type::<PyBytes>()
                        .call1((e.into_inner(),))?
                        .downcast_into::<PyBytes>()?,
                };
                let bytes = payload.as_bytes();
                match c.frame(bytes) {
                    Ok(events) => {
                        for ev in &events {
                            self.compiled_event(py, stream, &dec, ev, ts, seq, out)?;
                        }
                    }
                    Err(e) => {
                        self.counters.add(stream, "decode_error", 1);
                        if let Some(out) = out {
                            let reason: String = e.to_string().chars().take(300).collect();
                            let excerpt = PyBytes::new(py, &bytes[..bytes.len().min(120)]);
                            out.append(types(py)?.decode_error.bind(py).call1((
                                dec.venue.bind(py),
                                "",
                                "",
                                0,
                                ts,
                                seq,
                                stream,
                                reason,
                                excerpt,
                            ))?)?;
                        }
                    }
                }
                return Ok(());
            }
        } else if kind != "rest" {
            return Ok(()); // sent, open, close, error, mark: no events
        }
        let events = dec
            .pydec
            .bind(py)
            .call_method1(intern!(py, "decode"), (rec,))?;
        for ev in events.try_iter()? {
            self.python_event(py, &ev?, out)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn compiled_event(
        &mut self,
        py: Python<'_>,
        stream: i64,
        dec: &StreamDec,
        ev: &Event<'_>,
        ts: i64,
        seq: i64,
        out: Option<&Bound<'_, PyList>>,
    ) -> PyResult<()> {
        let (native, exch): (&str, i64) = match ev {
            Event::Trade(x) => (&x.symbol, x.exch_ts_ns),
            Event::BookTicker(x) => (&x.symbol, x.exch_ts_ns),
            Event::BookDelta(x) => (&x.symbol, x.exch_ts_ns),
            Event::BookSnapshot(x) => (&x.symbol, x.exch_ts_ns),
            Event::Ticker(x) => (&x.symbol, x.exch_ts_ns),
            Event::Kline(x) => (&x.symbol, x.exch_ts_ns),
        };
        let stamp = Stamp {
            exch_ts_ns: exch,
            recv_ts_ns: ts,
            seq,
        };
        let row = self.name_row(py, stream, dec, native)?;
        if let Some(out) = out {
            let r = &self.name_rows[row];
            let names = [dec.venue.bind(py), r.key.bind(py), r.norm.bind(py)];
            out.append(event_obj(py, ev, names, stamp)?)?;
        }
        if self.sync_only && !matches!(ev, Event::BookDelta(_) | Event::BookSnapshot(_)) {
            return Ok(());
        }
        let sym = match self.name_rows[row].sym {
            Some(i) => i,
            None => {
                let key = self.name_rows[row].key.clone_ref(py);
                let norm = self.name_rows[row].norm.clone_ref(py);
                let i = self.sym_of(py, dec.venue.bind(py), key.bind(py), norm.bind(py))?;
                self.name_rows[row].sym = Some(i);
                i
            }
        };
        let at = At { sym, stamp };
        self.fold_event(py, at, ev, None)?;
        if let Some(out) = out {
            self.emit(py, at, out)?;
        }
        Ok(())
    }

    fn python_event(
        &mut self,
        py: Python<'_>,
        ev: &Bound<'_, PyAny>,
        out: Option<&Bound<'_, PyList>>,
    ) -> PyResult<()> {
        if let Some(out) = out {
            out.append(ev)?;
        }
        let t = types(py)?;
        let tp = ev.get_type();
        if tp.is(t.decode_error.bind(py)) {
            let stream: i64 = ev.getattr(intern!(py, "stream"))?.extract()?;
            self.counters.add(stream, "decode_error", 1);
            return Ok(());
        }
        let kinds = [
            &t.book_ticker,
            &t.trade,
            &t.book_delta,
            &t.book_snapshot,
            &t.ticker,
            &t.kline,
        ];
        let kind = kinds.iter().position(|k| tp.is(k.bind(py)));
        if self.sync_only && matches!(kind, Some(0) | Some(1) | Some(4) | Some(5)) {
            return Ok(()); // a kind a sync-only projection does not fold
        }
        let seq: i64 = ev.getattr(intern!(py, "seq"))?.extract()?;
        let recv: i64 = ev.getattr(intern!(py, "recv_ts_ns"))?.extract()?;
        let venue = ev.getattr(intern!(py, "venue"))?;
        let symbol = ev.getattr(intern!(py, "symbol"))?;
        let tname = tp.name()?.to_string();
        let failed = |this: &mut Fold, why: String| -> PyResult<()> {
            let v = venue.str()?.to_string();
            let s = symbol.str()?.to_string();
            let detail = format!("{tname}: {why}");
            this.anomaly_plain(py, seq, recv, &v, &s, "fold_error", detail, out)
        };
        let Some(kind) = kind else {
            let why = format!("KeyError: {}", tp.repr()?);
            return failed(self, why);
        };
        let parsed = (|| -> PyResult<(usize, Event<'static>, Option<String>, i64)> {
            let venue = venue.downcast::<PyString>()?;
            let symbol = symbol.downcast::<PyString>()?;
            let norm = ev.getattr(intern!(py, "norm"))?;
            let norm = norm.downcast::<PyString>()?;
            let e = read_event(ev, kind)?;
            let side: Option<String> = if kind == 1 {
                Some(ev.getattr(intern!(py, "side"))?.extract()?)
            } else {
                None
            };
            let exch: i64 = ev.getattr(intern!(py, "exch_ts_ns"))?.extract()?;
            let sym = self.sym_of(py, venue, symbol, norm)?;
            Ok((sym, e, side, exch))
        })();
        let (sym, e, side, exch) = match parsed {
            Ok(x) => x,
            Err(err) => return failed(self, err_text(py, &err)),
        };
        let at = At {
            sym,
            stamp: Stamp {
                exch_ts_ns: exch,
                recv_ts_ns: recv,
                seq,
            },
        };
        self.fold_event(py, at, &e, side.as_deref())?;
        if let Some(out) = out {
            self.emit(py, at, out)?;
        }
        Ok(())
    }
}

#[pymethods]
impl Fold {
    /// ``resolve(stream) -> (decoder, venue, market, url, known)``: the stream's Python
    /// decoder and what picks its compiled one (``known`` False: the Python one only).
    #[new]
    #[pyo3(signature = (resolve, depth, horizon_ns, large, sync_only))]
    fn new(
        resolve: Py<PyAny>,
        depth: i64,
        horizon_ns: i64,
        large: Py<PyDict>,
        sync_only: bool,
    ) -> Fold {
        Fold {
            depth,
            horizon_ns,
            large,
            sync_only,
            resolve,
            streams: HashMap::new(),
            names: HashMap::new(),
            name_rows: Vec::new(),
            hot: (-1, String::new(), 0),
            syms: Vec::new(),
            index: HashMap::new(),
            counters: Counters::default(),
            stream_ts: BTreeMap::new(),
            cur: -1,
            cur_dec: None,
            prev: 0,
            last_seq: 0,
            ts_ns: 0,
            found: Vec::new(),
            derived: Vec::new(),
        }
    }

    /// Fold one record, its events appended to ``out``; (seq, last_seq) when out of order.
    fn apply(
        &mut self,
        py: Python<'_>,
        rec: &Bound<'_, PyAny>,
        out: &Bound<'_, PyList>,
    ) -> PyResult<Option<(i64, i64)>> {
        let seq: i64 = rec.getattr(intern!(py, "seq"))?.extract()?;
        if seq <= self.last_seq {
            return Ok(Some((seq, self.last_seq)));
        }
        self.last_seq = seq;
        self.record(py, rec, seq, Some(out))?;
        Ok(None)
    }

    /// Fold an iterable of records, keeping no events; (seq, last_seq) at the first out of
    /// order (the ones before it folded).
    /// The fold is borrowed per record, not while the iterable makes the next one (a
    /// generator may read ``last_seq``: it sees the records folded so far).
    fn apply_many(
        slf: &Bound<'_, Self>,
        records: &Bound<'_, PyAny>,
    ) -> PyResult<Option<(i64, i64)>> {
        let py = slf.py();
        let seq_name = intern!(py, "seq");
        for (n, rec) in records.try_iter()?.enumerate() {
            if n % 4096 == 4095 {
                py.check_signals()?; // a signal's handler runs (Ctrl-C stops a long replay)
            }
            let rec = rec?;
            let seq: i64 = rec.getattr(seq_name)?.extract()?;
            let mut this = slf.borrow_mut();
            if seq <= this.last_seq {
                return Ok(Some((seq, this.last_seq)));
            }
            this.last_seq = seq;
            this.record(py, &rec, seq, None)?;
        }
        Ok(None)
    }

    /// The backtest's hot loop (``replay.engine``), its steps after the fold included:
    /// each record is folded and its events handed over before the next one is folded, so
    /// a callback reads the state as of its own record, as it would between ``apply``
    /// calls. Takes records from the iterator ``records`` until one needs an engine step
    /// of before the fold, and returns that record unfolded for the engine's own loop: its
    /// ``ts_ns`` is at or after ``stop_ns`` (an equity sample), the first of ``timers`` is
    /// due by it, its stream is not in ``streams`` (when given), its seq is not above
    /// ``last_seq`` (the engine's ``apply`` says why), or ``limit`` records (>= 0) were
    /// folded here already (progress). Per record, the engine's order: ``engine.now_ns`` =
    /// its ``ts_ns``; the fold; ``arrive(record)`` when ``pending`` holds an order; when
    /// it has events, ``match_trades(record, events)`` when ``resting`` holds one, then
    /// per event ``on_event(ctx, event, view)`` (``view`` from ``view_of(venue, symbol) ->
    /// (view, symbol state)`` when the event's symbol is not the previous one's; None for
    /// an event of no symbol; an event whose symbol state has a book that is not valid is
    /// counted; given ``wanted(event)`` (the symbol filter), an event of no symbol or of a
    /// symbol it refuses is not handed over), then ``arrive(record)`` again when ``pending`` holds an order. Returns
    /// (records folded, events, invalid-book events, the record it stopped at or None at
    /// the end).
    #[allow(clippy::too_many_arguments)]
    #[allow(clippy::type_complexity)]
    #[pyo3(signature = (records, engine, on_event, ctx, view_of, arrive, match_trades, stop_ns, limit, timers, pending, resting, streams, wanted=None))]
    fn run_events<'py>(
        slf: &Bound<'py, Self>,
        records: &Bound<'py, PyAny>,
        engine: &Bound<'py, PyAny>,
        on_event: &Bound<'py, PyAny>,
        ctx: &Bound<'py, PyAny>,
        view_of: &Bound<'py, PyAny>,
        arrive: &Bound<'py, PyAny>,
        match_trades: &Bound<'py, PyAny>,
        stop_ns: i64,
        limit: i64,
        timers: &Bound<'py, PyList>,
        pending: &Bound<'py, PyAny>,
        resting: &Bound<'py, PyDict>,
        streams: Option<&Bound<'py, PyDict>>,
        wanted: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<(i64, i64, i64, Option<Bound<'py, PyAny>>)> {
        let py = slf.py();
        let (seq_name, ts_name, stream_name) = (
            intern!(py, "seq"),
            intern!(py, "ts_ns"),
            intern!(py, "stream"),
        );
        let (symbol_name, venue_name) = (intern!(py, "symbol"), intern!(py, "venue"));
        let (now_name, valid_name) = (intern!(py, "now_ns"), intern!(py, "valid"));
        let none = py.None().into_bound(py);
        let listing_type = types(py)?.listing.bind(py).clone();
        let (mut n, mut events, mut invalid) = (0i64, 0i64, 0i64);
        // The previous event's symbol and venue (compared by identity, as the decoders hand
        // out one str per symbol), its view and its symbol state.
        let mut last: Option<(Bound<'py, PyAny>, Bound<'py, PyAny>)> = None;
        let mut last_view = none.clone();
        let mut last_st: Option<Bound<'py, PySym>> = None;
        let out = PyList::empty(py); // one record's events, emptied after each
        for rec in records.try_iter()? {
            let rec = rec?;
            if limit >= 0 && n >= limit {
                return Ok((n, events, invalid, Some(rec)));
            }
            if n % 4096 == 4095 {
                py.check_signals()?;
            }
            let ts_obj = rec.getattr(ts_name)?;
            let ts: i64 = ts_obj.extract()?;
            if ts >= stop_ns {
                return Ok((n, events, invalid, Some(rec)));
            }
            if !timers.is_empty() {
                let due: i64 = timers.get_item(0)?.get_item(0)?.extract()?;
                if due <= ts {
                    return Ok((n, events, invalid, Some(rec)));
                }
            }
            if let Some(streams) = streams {
                if !streams.contains(rec.getattr(stream_name)?)? {
                    return Ok((n, events, invalid, Some(rec)));
                }
            }
            let seq: i64 = rec.getattr(seq_name)?.extract()?;
            if seq <= slf.borrow().last_seq {
                return Ok((n, events, invalid, Some(rec)));
            }
            engine.setattr(now_name, &ts_obj)?; // the record's own int, as the engine sets it
            {
                let mut this = slf.borrow_mut();
                this.last_seq = seq;
                this.record(py, &rec, seq, Some(&out))?;
            }
            n += 1;
            if pending.len()? > 0 {
                arrive.call1((&rec,))?;
            }
            if out.is_empty() {
                continue;
            }
            events += out.len() as i64;
            if !resting.is_empty() {
                match_trades.call1((&rec, &out))?;
            }
            for ev in out.iter() {
                if ev.get_type().is(&listing_type) {
                    // no book, no filter: every strategy hears of a listing
                    call3(on_event, ctx, &ev, &none)?;
                    continue;
                }
                let sym = ev.getattr(symbol_name)?;
                let venue = ev.getattr(venue_name)?;
                let same = matches!(&last, Some((s, v)) if s.is(&sym) && v.is(&venue));
                if !same {
                    if !sym.is_truthy()? {
                        if wanted.is_none() {
                            call3(on_event, ctx, &ev, &none)?;
                        }
                        continue;
                    }
                    if let Some(w) = wanted {
                        if !w.call1((&ev,))?.is_truthy()? {
                            continue;
                        }
                    }
                    let got = view_of.call1((&venue, &sym))?;
                    let got = got.downcast::<PyTuple>()?;
                    last_view = got.get_item(0)?;
                    last_st = got.get_item(1)?.downcast_into::<PySym>().ok();
                    last = Some((sym, venue));
                }
                if let Some(st) = &last_st {
                    let book = st.borrow().book.as_ref().map(|b| b.clone_ref(py));
                    if let Some(book) = book {
                        let book = book.bind(py);
                        // its validity read in place (nothing else holds the book now)
                        let valid = match book.try_borrow_mut() {
                            Ok(mut b) => b.core_mut().position().valid,
                            Err(_) => book.getattr(valid_name)?.is_truthy()?,
                        };
                        if !valid {
                            invalid += 1;
                        }
                    }
                }
                call3(on_event, ctx, &ev, &last_view)?;
            }
            out.del_slice(0, out.len())?;
            if pending.len()? > 0 {
                arrive.call1((&rec,))?;
            }
        }
        Ok((n, events, invalid, None))
    }

    /// A stream's decoder changed (``Projector.add_stream``): look it up again.
    fn forget_stream(&mut self, stream: i64) {
        self.streams.remove(&stream);
        self.names.remove(&stream);
        self.hot = (-1, String::new(), 0);
        if stream == self.cur {
            self.stream_ts.insert(self.cur, self.prev);
            self.cur = -1;
            self.cur_dec = None;
        }
    }

    #[getter]
    fn last_seq(&self) -> i64 {
        self.last_seq
    }
    #[getter]
    fn ts_ns(&self) -> i64 {
        self.ts_ns
    }

    /// stream -> receive time of its last record, sorted pairs.
    fn stream_times(&self) -> Vec<(i64, i64)> {
        let mut m = self.stream_ts.clone();
        if self.cur >= 0 {
            m.insert(self.cur, self.prev);
        }
        m.into_iter().collect()
    }

    /// ``Counters.state()``: ``[[stream, [[name, count], ...]], ...]``, sorted.
    fn counters_state(&self) -> Vec<(i64, Vec<(String, i64)>)> {
        self.counters
            .by_stream
            .iter()
            .map(|(s, c)| (*s, c.iter().map(|(k, v)| (k.clone(), *v)).collect()))
            .collect()
    }

    /// Every (venue, key, state), sorted by (venue, key).
    fn symbols<'py>(&self, py: Python<'py>) -> Vec<(String, String, Py<PySym>)> {
        let mut v: Vec<(String, String, Py<PySym>)> = self
            .index
            .iter()
            .map(|((a, b), &i)| (a.clone(), b.clone(), self.syms[i].clone_ref(py)))
            .collect();
        v.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
        v
    }

    fn __len__(&self) -> usize {
        self.syms.len()
    }

    /// Restore the projector-wide state of a checkpoint (``Projector.restore``).
    fn restore(
        &mut self,
        last_seq: i64,
        ts_ns: i64,
        stream_ts: Vec<(i64, i64)>,
        counters: Vec<(i64, Vec<(String, i64)>)>,
    ) {
        self.last_seq = last_seq;
        self.ts_ns = ts_ns;
        self.stream_ts = stream_ts.into_iter().collect();
        self.cur = -1;
        self.cur_dec = None;
        self.counters = Counters::default();
        for (s, cs) in counters {
            let row = self.counters.by_stream.entry(s).or_default();
            for (k, v) in cs {
                row.insert(k, v);
            }
        }
    }

    /// Add a symbol of a checkpoint: its ``SymbolState.state()`` with the book and tape
    /// already rebuilt (``state.book.Book.from_state``, ``TradeTape.from_state``).
    #[pyo3(signature = (s, book, tape))]
    fn add_symbol(
        &mut self,
        py: Python<'_>,
        s: &Bound<'_, PyAny>,
        book: Option<Py<PyBook>>,
        tape: Py<PyAny>,
    ) -> PyResult<()> {
        let parts: Vec<Bound<'_, PyAny>> = s.try_iter()?.collect::<PyResult<_>>()?;
        let [venue, symbol, norm, _book, _tape, quote, ticker, klines, last_trade, last_large, last_ordinal, recent, seq, ts_ns, large] =
            <[Bound<'_, PyAny>; 15]>::try_from(parts).map_err(|p| {
                PyValueError::new_err(format!("a symbol state has 15 parts, not {}", p.len()))
            })?;
        let venue = venue.downcast_into::<PyString>()?;
        let symbol = symbol.downcast_into::<PyString>()?;
        let norm = norm.downcast_into::<PyString>()?;
        let mut st = Sym::new(large.extract()?);
        if !quote.is_none() {
            let q: EventRow = as_tuple(&quote)?.extract()?;
            st.quote = Some(Quote {
                stamp: Stamp {
                    exch_ts_ns: q.3,
                    recv_ts_ns: q.4,
                    seq: q.5,
                },
                bid_px: q.6,
                bid_sz: q.7,
                ask_px: q.8,
                ask_sz: q.9,
                update_id: q.10,
            });
        }
        for pair in ticker.try_iter()? {
            let (k, v): (String, String) = as_tuple(&pair?)?.extract()?;
            if !st.set_ticker(&k, &v) {
                return Err(PyValueError::new_err(format!("ticker field {k:?}")));
            }
        }
        for pair in klines.try_iter()? {
            let (k, row): (String, Bound<'_, PyAny>) = as_tuple(&pair?)?.extract()?;
            let r: (
                i64,
                String,
                String,
                String,
                String,
                String,
                Option<String>,
                Option<bool>,
                i64,
            ) = as_tuple(&row)?.extract()?;
            st.klines.push((
                k,
                KlineRow {
                    start_ns: r.0,
                    open: r.1,
                    high: r.2,
                    low: r.3,
                    close: r.4,
                    volume: r.5,
                    quote_volume: r.6,
                    closed: r.7,
                    seq: r.8,
                },
            ));
        }
        if !last_trade.is_none() {
            let t: EventRow = as_tuple(&last_trade)?.extract()?;
            st.last_trade = Some(LastTrade {
                stamp: Stamp {
                    exch_ts_ns: t.3,
                    recv_ts_ns: t.4,
                    seq: t.5,
                },
                price: t.6,
                size: t.7,
                side: t.8,
                trade_id: t.9,
                ordinal: t.10,
            });
        }
        st.last_large = last_large.extract()?;
        st.last_ordinal = last_ordinal.extract()?;
        st.recent_ids = recent.extract::<Vec<String>>()?.into();
        st.seq = seq.extract()?;
        st.ts_ns = ts_ns.extract()?;
        let k = (venue.to_str()?.to_owned(), symbol.to_str()?.to_owned());
        let sym = PySym {
            venue: venue.unbind(),
            symbol: symbol.unbind(),
            norm: norm.unbind(),
            st,
            book,
            tape,
            large: large.unbind(),
        };
        let i = self.syms.len();
        self.syms.push(Py::new(py, sym)?);
        self.index.insert(k, i);
        Ok(())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Fold>()?;
    m.add_class::<PySym>()?;
    m.add("RECENT_IDS", ticktape::fold::RECENT_IDS)?;
    m.add_function(wrap_pyfunction!(fold_types, m)?)
}
