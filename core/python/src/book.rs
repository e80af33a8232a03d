//! `ticktape_core.Book`: the order book of `ticktape::book`, with the API of `state.book.Book`.
//!
//! It takes the Python events as they are (`BookSnapshot`, `BookDelta`, `BookTicker`: their
//! attributes read once per call, level strings borrowed, not copied, unless the book keeps
//! the delta in its buffer), appends the `Gap` events a fold derives to `out` and hands every
//! other finding to `report(event, kind, detail, out)`, in the order the book found them.
//! This module imports none of the project's Python modules: `state.book` hands it the `Gap`
//! class and `Decimal` once, at import (`book_types`). Where the Rust fold stops on an input
//! Python's book raised on, the same exception is raised, after the findings made before it.

use pyo3::exceptions::{PyIndexError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyList, PyString, PyTuple, PyType};
use pyo3::{intern, IntoPyObjectExt};

use ticktape::book::{
    Book as Core, Counts, DeltaEvent, Finding, FoldError, LevelIn, Mode, OwnedDelta, OwnedLevel,
    Position, Saved, Snapshot, Stamp, Ticker,
};
use ticktape::levels::{Level, Side};
use ticktape::price::decimal::NumError;
use ticktape::sync::{rule_of, IdError, Ids};

/// The Python classes the book makes values of, handed over by `state.book`.
struct Types {
    gap: Py<PyAny>,
    decimal: Py<PyAny>,
}

static TYPES: GILOnceCell<Types> = GILOnceCell::new();

fn types(py: Python<'_>) -> PyResult<&Types> {
    TYPES.get(py).ok_or_else(|| {
        PyRuntimeError::new_err("ticktape_core.book_types was not called (import state.book)")
    })
}

/// Hand the book the classes it makes values of: `state.events.Gap` and `decimal.Decimal`.
#[pyfunction]
fn book_types(py: Python<'_>, gap: Py<PyAny>, decimal: Py<PyAny>) {
    let _ = TYPES.set(py, Types { gap, decimal }); // the first import's classes stay
}

// -- events, read from Python ------------------------------------------------------------

/// A level's strings, borrowed from the event.
struct PyLevel<'a> {
    price: &'a str,
    size: &'a str,
    id: Option<&'a str>,
}

impl LevelIn for PyLevel<'_> {
    fn price(&self) -> &str {
        self.price
    }
    fn size(&self) -> &str {
        self.size
    }
    fn id(&self) -> Option<&str> {
        self.id
    }
}

/// The strings of a sequence of levels, kept alive while the fold borrows them; `shape`:
/// how many each level has (2, or 3 with its id).
#[derive(Default)]
struct Strings<'py> {
    held: Vec<Bound<'py, PyString>>,
    shape: Vec<u8>,
    nb: usize, // levels read as bids, before the asks
}

fn as_str<'py>(v: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyString>> {
    v.downcast_into::<PyString>().map_err(|e| {
        PyTypeError::new_err(format!(
            "a level's price and size are str, not {}",
            e.into_inner().get_type()
        ))
    })
}

impl<'py> Strings<'py> {
    /// Both sides' strings, bids first: `levels` hands them back as (bids, asks).
    fn of(bids: &Bound<'py, PyAny>, asks: &Bound<'py, PyAny>) -> PyResult<Self> {
        let mut s = Strings::default();
        s.nb = s.read(bids)?;
        s.read(asks)?;
        Ok(s)
    }

    fn read(&mut self, levels: &Bound<'py, PyAny>) -> PyResult<usize> {
        let start = self.shape.len();
        match levels.downcast::<PyTuple>() {
            Ok(t) => {
                // the decoders' tuples: read by index, no iterator object
                self.held.reserve(2 * t.len());
                for lv in t.iter_borrowed() {
                    self.level(lv.to_owned())?;
                }
            }
            Err(_) => {
                for lv in levels.try_iter()? {
                    self.level(lv?)?;
                }
            }
        }
        Ok(self.shape.len() - start)
    }

    fn level(&mut self, lv: Bound<'py, PyAny>) -> PyResult<()> {
        let py = lv.py();
        let lv = match lv.downcast_into::<PyTuple>() {
            Ok(t) => t,
            Err(e) => PyTuple::new(
                py,
                e.into_inner().try_iter()?.collect::<PyResult<Vec<_>>>()?,
            )?,
        };
        let n = lv.len();
        if n < 2 {
            return Err(PyIndexError::new_err("tuple index out of range"));
        }
        self.held.push(as_str(lv.get_borrowed_item(0)?.to_owned())?);
        self.held.push(as_str(lv.get_borrowed_item(1)?.to_owned())?);
        let id = if n > 2 {
            lv.get_borrowed_item(2)?
                .to_owned()
                .downcast_into::<PyString>()
                .ok()
        } else {
            None
        };
        self.shape.push(2 + u8::from(id.is_some()));
        self.held.extend(id);
        Ok(())
    }

    /// The levels read, as (bids, asks).
    fn levels(&self) -> PyResult<(Vec<PyLevel<'_>>, Vec<PyLevel<'_>>)> {
        let mut out = Vec::with_capacity(self.shape.len());
        let mut i = 0;
        for &n in &self.shape {
            out.push(PyLevel {
                price: self.held[i].to_str()?,
                size: self.held[i + 1].to_str()?,
                id: if n > 2 {
                    Some(self.held[i + 2].to_str()?)
                } else {
                    None
                },
            });
            i += usize::from(n);
        }
        let asks = out.split_off(self.nb);
        Ok((out, asks))
    }
}

fn opt_i64(ev: &Bound<'_, PyAny>, name: &Bound<'_, PyString>) -> PyResult<Option<i64>> {
    ev.getattr(name)?.extract()
}

fn stamp(ev: &Bound<'_, PyAny>) -> PyResult<Stamp> {
    let py = ev.py();
    Ok(Stamp {
        exch_ts_ns: ev.getattr(intern!(py, "exch_ts_ns"))?.extract()?,
        recv_ts_ns: ev.getattr(intern!(py, "recv_ts_ns"))?.extract()?,
        seq: ev.getattr(intern!(py, "seq"))?.extract()?,
    })
}

/// A Python `BookDelta` as the fold reads it.
struct PyDelta<'a, 'py> {
    ev: &'a Bound<'py, PyAny>,
    stamp: Stamp,
    bids: Vec<PyLevel<'a>>,
    asks: Vec<PyLevel<'a>>,
    ids: Ids,
    checksum: Option<i64>,
}

fn owned(levels: &[PyLevel<'_>]) -> Vec<OwnedLevel> {
    levels
        .iter()
        .map(|l| OwnedLevel {
            price: l.price.to_owned(),
            size: l.size.to_owned(),
            id: l.id.map(str::to_owned),
        })
        .collect()
}

impl<'a> DeltaEvent for PyDelta<'a, '_> {
    type Level = PyLevel<'a>;
    fn stamp(&self) -> Stamp {
        self.stamp
    }
    fn bids(&self) -> &[PyLevel<'a>] {
        &self.bids
    }
    fn asks(&self) -> &[PyLevel<'a>] {
        &self.asks
    }
    fn ids(&self) -> Ids {
        self.ids
    }
    fn checksum(&self) -> Option<i64> {
        self.checksum
    }
    fn to_owned_delta(&self) -> OwnedDelta {
        // A BookDelta's names are str (msgspec checks its fields): "" only for another object.
        let name = |n: &str| -> String {
            self.ev
                .getattr(n)
                .ok()
                .and_then(|v| v.extract::<String>().ok())
                .unwrap_or_default()
        };
        OwnedDelta {
            venue: name("venue"),
            symbol: name("symbol"),
            norm: name("norm"),
            stamp: self.stamp,
            bids: owned(&self.bids),
            asks: owned(&self.asks),
            ids: self.ids,
            checksum: self.checksum,
        }
    }
}

// -- the class ---------------------------------------------------------------------------

/// One symbol's order book on one venue, kept in sync by the venue's rule (see `state.book`).
#[pyclass(module = "state.book", name = "Book")]
pub struct PyBook {
    core: Core,
    venue: Py<PyString>,
    symbol: Py<PyString>,
    norm: Py<PyString>,
    rule: Py<PyString>,
    depth: i64,
    /// Findings of the call in progress (kept for its capacity).
    found: Vec<Finding>,
}

pub(crate) fn fold_error(py: Python<'_>, e: FoldError) -> PyErr {
    let invalid = || -> PyErr {
        match py
            .import("decimal")
            .and_then(|m| m.getattr("InvalidOperation"))
        {
            Ok(cls) => match cls.call1((vec![cls.clone()],)) {
                Ok(exc) => PyErr::from_value(exc),
                Err(e) => e,
            },
            Err(e) => e,
        }
    };
    match e {
        FoldError::Ids(IdError(msg)) => PyTypeError::new_err(msg),
        FoldError::MissingLevelId => PyIndexError::new_err("tuple index out of range"),
        // Python's own call raises its own error (and message) for the string
        FoldError::LevelId(text) => {
            match py.get_type::<pyo3::types::PyInt>().call1((text.as_str(),)) {
                Err(e) => e,
                Ok(_) => PyValueError::new_err(format!(
                    "invalid literal for int() with base 10: {text:?}"
                )),
            }
        }
        FoldError::Number(NumError::Syntax(text)) => {
            match types(py).and_then(|t| t.decimal.call1(py, (text.as_str(),))) {
                Err(e) => e,
                Ok(_) => invalid(),
            }
        }
        FoldError::Number(NumError::Invalid) => invalid(),
        FoldError::Number(NumError::TooWide) => {
            PyValueError::new_err("sizes too far apart to sum exactly (over 4096 digits)")
        }
    }
}

impl PyBook {
    pub(crate) fn new_core(
        py: Python<'_>,
        venue: Py<PyString>,
        symbol: Py<PyString>,
        norm: Py<PyString>,
        rule: Py<PyString>,
        depth: i64,
        core: Core,
    ) -> PyBook {
        let _ = py;
        PyBook {
            core,
            venue,
            symbol,
            norm,
            rule,
            depth,
            found: Vec::new(),
        }
    }

    /// The book itself, read (the live row, `crate::fold`).
    pub(crate) fn core(&self) -> &Core {
        &self.core
    }

    /// The book itself, for the projection's fold (`crate::fold`).
    pub(crate) fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }

    fn decimal<'py>(&self, py: Python<'py>, s: &str) -> PyResult<Bound<'py, PyAny>> {
        types(py)?.decimal.bind(py).call1((s,))
    }

    fn level<'py>(&self, py: Python<'py>, lv: &Level) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(
            py,
            [self.decimal(py, &lv.price)?, self.decimal(py, &lv.size)?],
        )
    }

    fn top<'py>(&self, py: Python<'py>, side: &Side, n: i64) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for lv in side.iter().take(n.max(0) as usize) {
            out.append(self.level(py, lv)?)?;
        }
        Ok(out)
    }

    fn best<'py>(&self, py: Python<'py>, side: &Side) -> PyResult<Option<Bound<'py, PyAny>>> {
        side.best()
            .map(|(_, lv)| self.decimal(py, &lv.price))
            .transpose()
    }

    fn best_level<'py>(
        &self,
        py: Python<'py>,
        side: &Side,
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        side.best().map(|(_, lv)| self.level(py, lv)).transpose()
    }

    fn raw<'py>(py: Python<'py>, side: &Side) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for lv in side.iter() {
            out.append((lv.price.as_str(), lv.size.as_str()))?;
        }
        Ok(out)
    }
}

/// Run one fold: the findings go out (Gaps to `out`, the rest to `report`) with the book not
/// borrowed (a `report` may read it), then the fold's error, if any, is raised.
fn run<F>(
    slf: &Bound<'_, PyBook>,
    ev: &Bound<'_, PyAny>,
    out: &Bound<'_, PyList>,
    report: &Bound<'_, PyAny>,
    totals: Option<&Bound<'_, PyAny>>,
    fold: F,
) -> PyResult<usize>
where
    F: FnOnce(&mut Core, &mut Vec<Finding>) -> Result<(), FoldError>,
{
    let py = slf.py();
    let (mut found, res, names) = {
        let mut this = slf.borrow_mut();
        let mut found = std::mem::take(&mut this.found);
        found.clear();
        let res = fold(&mut this.core, &mut found);
        if found.is_empty() {
            this.found = found;
            return res.map(|()| 0).map_err(|e| fold_error(py, e));
        }
        let names = (
            this.venue.clone_ref(py),
            this.symbol.clone_ref(py),
            this.norm.clone_ref(py),
        );
        (found, res, names)
    };
    let mut gaps = 0;
    let emitted = (|| -> PyResult<()> {
        for f in &found {
            let (kind, detail) = match f {
                Finding::Gap(g) => {
                    let gap = types(py)?.gap.bind(py).call1((
                        names.0.bind(py),
                        names.1.bind(py),
                        names.2.bind(py),
                        g.stamp.exch_ts_ns,
                        g.stamp.recv_ts_ns,
                        g.stamp.seq,
                        g.expected,
                        g.got,
                        g.reason.as_str(),
                    ))?;
                    out.append(gap)?;
                    gaps += 1;
                    continue;
                }
                Finding::Rejected(n) => (f.kind(), format!("{n} book levels rejected")),
                Finding::TotalMismatch { bids, asks } => {
                    let shown = match totals {
                        Some(t) => t.repr()?.to_string(),
                        None => "None".into(),
                    };
                    (f.kind(), format!("levels {bids}/{asks} totals {shown}"))
                }
                Finding::Crossed { bid, ask } => (f.kind(), format!("bid {bid} >= ask {ask}")),
                Finding::TickerMismatch { detail } => (f.kind(), detail.clone()),
            };
            report.call1((ev, kind, detail, out))?;
        }
        Ok(())
    })();
    found.clear();
    slf.borrow_mut().found = found;
    emitted?;
    res.map_err(|e| fold_error(py, e))?;
    Ok(gaps)
}

#[pymethods]
impl PyBook {
    #[new]
    #[pyo3(signature = (venue, symbol, norm, rule, depth = 20, *, sync_only = false))]
    fn new(
        py: Python<'_>,
        venue: Py<PyString>,
        symbol: Py<PyString>,
        norm: Py<PyString>,
        rule: Py<PyString>,
        depth: i64,
        sync_only: bool,
    ) -> PyResult<PyBook> {
        let core = Core::new(rule_of(rule.bind(py).to_str()?), sync_only);
        Ok(PyBook::new_core(py, venue, symbol, norm, rule, depth, core))
    }

    /// Load a snapshot (and replay buffered deltas); returns the Gap events appended to
    /// ``out``. Findings go to ``report`` (see ``state.book``).
    fn apply_snapshot(
        slf: &Bound<'_, Self>,
        s: &Bound<'_, PyAny>,
        out: &Bound<'_, PyList>,
        report: &Bound<'_, PyAny>,
    ) -> PyResult<usize> {
        let py = slf.py();
        let (bids, asks) = (
            s.getattr(intern!(py, "bids"))?,
            s.getattr(intern!(py, "asks"))?,
        );
        let strings = Strings::of(&bids, &asks)?;
        let (b, a) = strings.levels()?;
        let totals_obj = s.getattr(intern!(py, "totals"))?;
        let totals_held = if totals_obj.is_none() {
            None
        } else {
            Some((
                as_str(totals_obj.get_item(0)?)?,
                as_str(totals_obj.get_item(1)?)?,
            ))
        };
        let totals = match &totals_held {
            Some((x, y)) => Some((x.to_str()?, y.to_str()?)),
            None => None,
        };
        let snap = Snapshot {
            stamp: stamp(s)?,
            bids: &b,
            asks: &a,
            update_id: opt_i64(s, intern!(py, "update_id"))?,
            depth: opt_i64(s, intern!(py, "depth"))?,
            checksum: opt_i64(s, intern!(py, "checksum"))?,
            totals,
        };
        let shown = totals_held.as_ref().map(|_| &totals_obj);
        run(slf, s, out, report, shown, |core, found| {
            core.apply_snapshot(&snap, found)
        })
    }

    /// Fold a delta through the sync rule; returns the Gap events appended to ``out``.
    /// Findings go to ``report`` (see ``state.book``).
    fn apply_delta(
        slf: &Bound<'_, Self>,
        d: &Bound<'_, PyAny>,
        out: &Bound<'_, PyList>,
        report: &Bound<'_, PyAny>,
    ) -> PyResult<usize> {
        let py = slf.py();
        let (bids, asks) = (
            d.getattr(intern!(py, "bids"))?,
            d.getattr(intern!(py, "asks"))?,
        );
        let strings = Strings::of(&bids, &asks)?;
        let (b, a) = strings.levels()?;
        let delta = PyDelta {
            ev: d,
            stamp: stamp(d)?,
            bids: b,
            asks: a,
            ids: Ids {
                first: opt_i64(d, intern!(py, "first_id"))?,
                last: opt_i64(d, intern!(py, "last_id"))?,
                prev: opt_i64(d, intern!(py, "prev_id"))?,
            },
            checksum: opt_i64(d, intern!(py, "checksum"))?,
        };
        run(slf, d, out, report, None, |core, found| {
            core.apply_delta(&delta, found)
        })
    }

    /// Check a book ticker against the book at its update id: now when the book is there,
    /// later (``apply_delta``) when it is ahead. Other tickers change nothing.
    fn apply_ticker<'py>(
        slf: &Bound<'py, Self>,
        t: &Bound<'py, PyAny>,
        out: &Bound<'_, PyList>,
        report: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let py = slf.py();
        let update_id = opt_i64(t, intern!(py, "update_id"))?;
        {
            let this = slf.borrow();
            if update_id.is_none()
                || !(this.core.position().valid && this.core.rule().ticker_update_id)
            {
                return Ok(());
            }
        }
        let get =
            |n: &Bound<'py, PyString>| -> PyResult<Bound<'py, PyString>> { as_str(t.getattr(n)?) };
        let held = [
            get(intern!(py, "bid_px"))?,
            get(intern!(py, "bid_sz"))?,
            get(intern!(py, "ask_px"))?,
            get(intern!(py, "ask_sz"))?,
        ];
        let ticker = Ticker {
            seq: t.getattr(intern!(py, "seq"))?.extract()?,
            bid_px: held[0].to_str()?,
            bid_sz: held[1].to_str()?,
            ask_px: held[2].to_str()?,
            ask_sz: held[3].to_str()?,
            update_id,
        };
        run(slf, t, out, report, None, |core, found| {
            core.apply_ticker(&ticker, found)
        })
        .map(|_| ())
    }

    // -- read-only state ---------------------------------------------------------------

    /// The venue.
    #[getter]
    fn venue(&self, py: Python<'_>) -> Py<PyString> {
        self.venue.clone_ref(py)
    }
    /// The venue's symbol key.
    #[getter]
    fn symbol(&self, py: Python<'_>) -> Py<PyString> {
        self.symbol.clone_ref(py)
    }
    /// The normalized symbol (BTC-USDT).
    #[getter]
    fn norm(&self, py: Python<'_>) -> Py<PyString> {
        self.norm.clone_ref(py)
    }
    /// The sync rule: a key of ``state.sync.RULES``.
    #[getter]
    fn rule(&self, py: Python<'_>) -> Py<PyString> {
        self.rule.clone_ref(py)
    }
    /// Levels the ``bids``/``asks`` accessors return.
    #[getter]
    fn depth(&self) -> i64 {
        self.depth
    }
    /// The update id the book is at (None: the venue has none).
    #[getter]
    fn last_id(&self) -> Option<i64> {
        self.core.position().last_id
    }
    /// Synced: safe to read. False from a Gap to the next snapshot.
    #[getter]
    fn valid(&self) -> bool {
        self.core.position().valid
    }
    /// The best bid reached the best ask (at the last change).
    #[getter]
    fn crossed(&self) -> bool {
        self.core.position().crossed
    }
    /// A REST snapshot is loaded; the first delta must bracket it.
    #[getter]
    fn pending(&self) -> bool {
        self.core.position().pending
    }
    /// "diff" (snapshot + deltas), "partial" (top-N pictures), "snapshot" (full pictures
    /// only), "" before the first event.
    #[getter]
    fn mode(&self) -> &'static str {
        self.core.position().mode.as_str()
    }
    /// A delta has arrived for this book.
    #[getter]
    fn seen_delta(&self) -> bool {
        self.core.position().seen_delta
    }
    /// Journal seq of the last change.
    #[getter]
    fn seq(&self) -> i64 {
        self.core.position().seq
    }
    /// Receive time of the last change.
    #[getter]
    fn ts_ns(&self) -> i64 {
        self.core.position().ts_ns
    }
    /// Snapshots and deltas applied.
    #[getter]
    fn updates(&self) -> i64 {
        self.core.counts().updates
    }
    /// Gap events so far.
    #[getter]
    fn gaps(&self) -> i64 {
        self.core.counts().gaps
    }
    /// Deltas dropped: older than the book, or before its snapshot.
    #[getter]
    fn stale(&self) -> i64 {
        self.core.counts().stale
    }
    /// OKX checksums that matched.
    #[getter]
    fn checksum_ok(&self) -> i64 {
        self.core.counts().checksum_ok
    }
    /// OKX checksums that did not (each a Gap).
    #[getter]
    fn checksum_bad(&self) -> i64 {
        self.core.counts().checksum_bad
    }
    /// Book tickers equal to the book at their update id.
    #[getter]
    fn ticker_ok(&self) -> i64 {
        self.core.counts().ticker_ok
    }
    /// Book tickers that were not (each an Anomaly).
    #[getter]
    fn ticker_bad(&self) -> i64 {
        self.core.counts().ticker_bad
    }
    /// Its book tickers carry the depth update id.
    #[getter]
    fn ticker_checked(&self) -> bool {
        self.core.rule().ticker_update_id
    }
    /// Synced by a REST snapshot (else by resubscribing).
    #[getter]
    fn rest_synced(&self) -> bool {
        self.core.rule().rest_synced
    }
    /// Its levels are kept (False: a sync-only book; see ``state.book``).
    #[getter]
    fn keeps_levels(&self) -> bool {
        self.core.keeps_levels()
    }
    /// Deltas held while waiting for a snapshot.
    #[getter]
    fn buffered(&self) -> usize {
        self.core.buffer().len()
    }
    /// Has deltas (or had a Gap) but no valid sync: fetch a snapshot or resubscribe.
    #[getter]
    fn needs_snapshot(&self) -> bool {
        self.core.needs_snapshot()
    }

    // -- reads -------------------------------------------------------------------------

    fn best_bid<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.best(py, self.core.bids())
    }

    fn best_ask<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.best(py, self.core.asks())
    }

    fn best_bid_level<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        self.best_level(py, self.core.bids())
    }

    fn best_ask_level<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        self.best_level(py, self.core.asks())
    }

    /// The best ``n`` bids, best first, as exact (price, size).
    fn top_bids<'py>(&self, py: Python<'py>, n: i64) -> PyResult<Bound<'py, PyList>> {
        self.top(py, self.core.bids(), n)
    }

    /// The best ``n`` asks, best first, as exact (price, size).
    fn top_asks<'py>(&self, py: Python<'py>, n: i64) -> PyResult<Bound<'py, PyList>> {
        self.top(py, self.core.asks(), n)
    }

    /// Top ``depth`` bids (the projector's ``depth_levels``).
    #[getter]
    fn bids<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.top(py, self.core.bids(), self.depth)
    }

    /// Top ``depth`` asks.
    #[getter]
    fn asks<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.top(py, self.core.asks(), self.depth)
    }

    /// Levels with a size > 0.
    fn __len__(&self) -> usize {
        self.core.bids().len() + self.core.asks().len()
    }

    /// Every level as sent (price, size strings), bids descending, asks ascending.
    fn raw_levels<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyList>)> {
        Ok((
            Self::raw(py, self.core.bids())?,
            Self::raw(py, self.core.asks())?,
        ))
    }

    /// OKX's CRC32 (signed) of the top 25 levels: bid:size:ask:size interleaved.
    fn okx_checksum(&self) -> i64 {
        self.core.okx_checksum()
    }

    // -- checkpoints -------------------------------------------------------------------

    /// The book as plain values, for ``state.digest`` (the layout is part of its FORMAT):
    /// ``[rule, depth, bids, asks, last_id, valid, crossed, pending, mode, buffer,
    /// seen_delta, seq, ts_ns, counts, tickers]``; levels as sent, best first.
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let p = self.core.position();
        let c = self.core.counts();
        let buffer = PyList::empty(py);
        for d in self.core.buffer() {
            let levels = |ls: &[OwnedLevel]| -> PyResult<Bound<'py, PyTuple>> {
                let items =
                    ls.iter()
                        .map(|l| match &l.id {
                            Some(id) => (l.price.as_str(), l.size.as_str(), id.as_str())
                                .into_bound_py_any(py),
                            None => (l.price.as_str(), l.size.as_str()).into_bound_py_any(py),
                        })
                        .collect::<PyResult<Vec<_>>>()?;
                PyTuple::new(py, items)
            };
            let row: Vec<Bound<'py, PyAny>> = vec![
                d.venue.as_str().into_bound_py_any(py)?,
                d.symbol.as_str().into_bound_py_any(py)?,
                d.norm.as_str().into_bound_py_any(py)?,
                d.stamp.exch_ts_ns.into_bound_py_any(py)?,
                d.stamp.recv_ts_ns.into_bound_py_any(py)?,
                d.stamp.seq.into_bound_py_any(py)?,
                levels(&d.bids)?.into_any(),
                levels(&d.asks)?.into_any(),
                d.ids.first.into_bound_py_any(py)?,
                d.ids.last.into_bound_py_any(py)?,
                d.ids.prev.into_bound_py_any(py)?,
                d.checksum.into_bound_py_any(py)?,
            ];
            buffer.append(PyList::new(py, row)?)?;
        }
        let tickers = PyList::empty(py);
        for t in self.core.tickers() {
            let row = (
                t.update_id,
                t.bid_px.as_str(),
                t.bid_sz.as_str(),
                t.ask_px.as_str(),
                t.ask_sz.as_str(),
                t.seq,
            );
            tickers.append(PyList::new(py, row.into_pyobject(py)?.iter())?)?;
        }
        let counts = [
            c.updates,
            c.gaps,
            c.stale,
            c.checksum_ok,
            c.checksum_bad,
            c.ticker_ok,
            c.ticker_bad,
        ];
        let items: Vec<Bound<'py, PyAny>> = vec![
            self.rule.bind(py).clone().into_any(),
            self.depth.into_bound_py_any(py)?,
            Self::raw(py, self.core.bids())?.into_any(),
            Self::raw(py, self.core.asks())?.into_any(),
            p.last_id.into_bound_py_any(py)?,
            p.valid.into_bound_py_any(py)?,
            p.crossed.into_bound_py_any(py)?,
            p.pending.into_bound_py_any(py)?,
            p.mode.as_str().into_bound_py_any(py)?,
            buffer.into_any(),
            p.seen_delta.into_bound_py_any(py)?,
            p.seq.into_bound_py_any(py)?,
            p.ts_ns.into_bound_py_any(py)?,
            PyList::new(py, counts)?.into_any(),
            tickers.into_any(),
        ];
        PyList::new(py, items)
    }

    /// The book ``state()`` described (its venue, symbol and norm are the caller's;
    /// ``sync_only`` is not in the state: a sync-only book drops the levels it held).
    #[classmethod]
    #[pyo3(signature = (venue, symbol, norm, s, *, sync_only = false))]
    fn from_state(
        cls: &Bound<'_, PyType>,
        venue: Py<PyString>,
        symbol: Py<PyString>,
        norm: Py<PyString>,
        s: &Bound<'_, PyAny>,
        sync_only: bool,
    ) -> PyResult<PyBook> {
        let py = cls.py();
        let parts: Vec<Bound<'_, PyAny>> = s.try_iter()?.collect::<PyResult<_>>()?;
        let [rule, depth, bids, asks, last_id, valid, crossed, pending, mode, buffer, seen_delta, seq, ts_ns, counts, tickers] =
            <[Bound<'_, PyAny>; 15]>::try_from(parts).map_err(|p| {
                PyValueError::new_err(format!("a book state has 15 parts, not {}", p.len()))
            })?;
        let rule: Py<PyString> = rule.downcast_into::<PyString>()?.unbind();
        let mode_text: String = mode.extract()?;
        let mode = Mode::parse(&mode_text)
            .ok_or_else(|| PyValueError::new_err(format!("book mode {mode_text:?}")))?;
        let pos = Position {
            last_id: last_id.extract()?,
            valid: valid.extract()?,
            crossed: crossed.extract()?,
            pending: pending.extract()?,
            mode,
            seen_delta: seen_delta.extract()?,
            seq: seq.extract()?,
            ts_ns: ts_ns.extract()?,
        };
        let c: [i64; 7] = counts
            .extract::<Vec<i64>>()?
            .try_into()
            .map_err(|_| PyValueError::new_err("a book state has 7 counts"))?;
        let counts = Counts {
            updates: c[0],
            gaps: c[1],
            stale: c[2],
            checksum_ok: c[3],
            checksum_bad: c[4],
            ticker_ok: c[5],
            ticker_bad: c[6],
        };
        let mut saved = Saved {
            pos,
            counts,
            ..Saved::default()
        };
        for d in buffer.try_iter()? {
            let d: Vec<Bound<'_, PyAny>> = d?.try_iter()?.collect::<PyResult<_>>()?;
            if d.len() < 8 {
                return Err(PyValueError::new_err(
                    "a buffered delta has at least 8 fields",
                ));
            }
            let strings = Strings::of(&d[6], &d[7])?;
            let (b, a) = strings.levels()?;
            let opt =
                |i: usize| -> PyResult<Option<i64>> { d.get(i).map_or(Ok(None), |v| v.extract()) };
            saved.buffer.push(OwnedDelta {
                venue: d[0].extract()?,
                symbol: d[1].extract()?,
                norm: d[2].extract()?,
                stamp: Stamp {
                    exch_ts_ns: d[3].extract()?,
                    recv_ts_ns: d[4].extract()?,
                    seq: d[5].extract()?,
                },
                bids: owned(&b),
                asks: owned(&a),
                ids: Ids {
                    first: opt(8)?,
                    last: opt(9)?,
                    prev: opt(10)?,
                },
                checksum: opt(11)?,
            });
        }
        for t in tickers.try_iter()? {
            let t: Vec<Bound<'_, PyAny>> = t?.try_iter()?.collect::<PyResult<_>>()?;
            let [u, bid_px, bid_sz, ask_px, ask_sz, seq] = <[Bound<'_, PyAny>; 6]>::try_from(t)
                .map_err(|_| PyValueError::new_err("a waiting book ticker has 6 fields"))?;
            saved.tickers.push(Ticker {
                seq: seq.extract()?,
                bid_px: bid_px.extract()?,
                bid_sz: bid_sz.extract()?,
                ask_px: ask_px.extract()?,
                ask_sz: ask_sz.extract()?,
                update_id: u.extract()?,
            });
        }
        let strings = Strings::of(&bids, &asks)?;
        let (b, a) = strings.levels()?;
        let core = Core::restore(rule_of(rule.bind(py).to_str()?), sync_only, &b, &a, saved);
        Ok(PyBook::new_core(
            py,
            venue,
            symbol,
            norm,
            rule,
            depth.extract()?,
            core,
        ))
    }
}

// -- the rules and the checks, for state.sync and state.levels -------------------------

/// A row of `sync_rules`.
type RuleRow = (
    &'static str,
    Option<&'static str>,
    bool,
    bool,
    bool,
    bool,
    bool,
);

/// Every venue's sync rule: ``(venue, check, rest_synced, ticker_update_id, level_ids,
/// snapshots_only, checksum)``, ``check`` the name of its continuity check or None.
#[pyfunction]
fn sync_rules() -> Vec<RuleRow> {
    ticktape::sync::RULES
        .iter()
        .map(|(name, r)| {
            (
                *name,
                r.check.map(|c| c.name()),
                r.rest_synced,
                r.ticker_update_id,
                r.level_ids,
                r.snapshots_only,
                r.checksum,
            )
        })
        .collect()
}

/// A size string the book takes: ASCII digits with at most one dot ("0" removes the level).
#[pyfunction]
fn size_ok(q: &str) -> bool {
    ticktape::price::size_ok(q)
}

/// A size string that means "remove the level" ("0", "0.000", "00").
#[pyfunction]
fn is_zero(q: &str) -> bool {
    ticktape::price::is_zero(q)
}

/// The book's price check: ``Decimal(p)`` is a positive finite number.
#[pyfunction]
fn is_price(p: &str) -> bool {
    ticktape::price::Price::parse(p).is_some()
}

/// ``str(Decimal(s))`` as the book's findings write it, or None where ``Decimal`` refuses ``s``.
#[pyfunction]
fn decimal_str(s: &str) -> Option<String> {
    ticktape::price::decimal_str(s)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBook>()?;
    m.add_function(wrap_pyfunction!(book_types, m)?)?;
    m.add_function(wrap_pyfunction!(sync_rules, m)?)?;
    m.add_function(wrap_pyfunction!(size_ok, m)?)?;
    m.add_function(wrap_pyfunction!(is_zero, m)?)?;
    m.add_function(wrap_pyfunction!(is_price, m)?)?;
    m.add_function(wrap_pyfunction!(decimal_str, m)?)?;
    m.add("BUFFER_LIMIT", ticktape::sync::BUFFER_LIMIT)?;
    m.add("PENDING_TICKERS", ticktape::sync::PENDING_TICKERS)?;
    Ok(())
}
