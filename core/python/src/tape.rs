//! `ticktape_core.TradeTape`: the trade tape of `ticktape::tape`, subclassed by
//! `state.features.TradeTape` (which turns a window's tuple into its `WindowStats`).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use ticktape::tape;

#[pyclass(subclass, module = "ticktape_core", name = "TradeTape")]
pub struct TradeTape {
    inner: tape::TradeTape,
}

impl TradeTape {
    /// The tape itself, for the projection's fold (`crate::fold`).
    pub(crate) fn inner_mut(&mut self) -> &mut tape::TradeTape {
        &mut self.inner
    }
}

#[pymethods]
impl TradeTape {
    #[new]
    fn new(horizon_ns: i64) -> Self {
        TradeTape {
            inner: tape::TradeTape::new(horizon_ns),
        }
    }

    #[getter]
    fn horizon_ns(&self) -> i64 {
        self.inner.horizon_ns()
    }

    /// The first entry still inside the horizon.
    #[getter]
    fn head(&self) -> usize {
        self.inner.head()
    }

    /// Entries held, evicted ones not yet compacted away included.
    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// Fold one trade received at `ts`.
    fn add(&mut self, ts: i64, price: f64, size: f64, buy: bool, large: bool) {
        self.inner.add(ts, price, size, buy, large);
    }

    /// The fields of `state.features.WindowStats`, in order, for the trades with
    /// `now - seconds < ts <= now`.
    #[allow(clippy::type_complexity)]
    fn _window(
        &self,
        now_ns: i64,
        seconds: i64,
    ) -> (
        i64,
        usize,
        f64,
        f64,
        Option<f64>,
        f64,
        f64,
        Option<f64>,
        Option<f64>,
        i64,
    ) {
        let w = self.inner.window(now_ns, seconds);
        (
            w.seconds,
            w.trades,
            w.volume,
            w.quote_volume,
            w.vwap,
            w.buy_volume,
            w.sell_volume,
            w.pressure,
            w.momentum,
            w.large_trades,
        )
    }

    /// `[horizon_ns, head, ts, px, cv, cq, cb, cl]`, each column its little-endian bytes.
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let cols = self.inner.columns_le();
        let mut items: Vec<PyObject> = vec![
            self.inner
                .horizon_ns()
                .into_pyobject(py)?
                .into_any()
                .unbind(),
            self.inner.head().into_pyobject(py)?.into_any().unbind(),
        ];
        for c in &cols {
            items.push(PyBytes::new(py, c).into_any().unbind());
        }
        PyList::new(py, items)
    }

    /// Replace everything with a stored `state()` (the subclass's `from_state` calls it).
    fn _restore(&mut self, s: Vec<PyObject>, py: Python<'_>) -> PyResult<()> {
        if s.len() != 8 {
            return Err(PyValueError::new_err(format!(
                "a tape state of {} parts, not 8",
                s.len()
            )));
        }
        let horizon: i64 = s[0].extract(py)?;
        let head: usize = s[1].extract(py)?;
        let mut cols: Vec<Vec<u8>> = Vec::with_capacity(6);
        for c in &s[2..] {
            cols.push(c.extract(py)?);
        }
        let refs = [
            &cols[0][..],
            &cols[1][..],
            &cols[2][..],
            &cols[3][..],
            &cols[4][..],
            &cols[5][..],
        ];
        self.inner = tape::TradeTape::from_columns(horizon, head, refs)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<TradeTape>()
}
