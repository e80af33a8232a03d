//! `ticktape_core.LiveTable`: the seqlock table of `ticktape::live_table`, shared between
//! `recorder run` (the writer) and the processes that attach to it (readers).
//!
//! Every fault of the file (not a table, truncated, another version, a row that fails its
//! checksum, a row out of range) is a `ticktape_core.LiveTableError` (a `ValueError`);
//! an OS error opening it is the usual `OSError` subclass. Nothing here panics on a file.

use std::path::PathBuf;

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use ticktape::live_table::{self, Read, TableError};

create_exception!(
    ticktape_core,
    LiveTableError,
    PyValueError,
    "A live table that cannot be used: not a table, damaged, or misused."
);

fn err(e: TableError) -> PyErr {
    match e {
        TableError::Io(io) => PyErr::from(io), // FileNotFoundError, PermissionError, ...
        other => LiveTableError::new_err(other.to_string()),
    }
}

#[pyclass(module = "ticktape_core", name = "LiveTable")]
pub struct LiveTable {
    inner: live_table::LiveTable,
    buf: Vec<u8>,
    path: PathBuf,
}

#[pymethods]
impl LiveTable {
    /// A fresh table at `path` (replacing any there) for the writer: `rows` rows of
    /// `row_bytes` bytes each; `pid` is written into the header for readers.
    #[staticmethod]
    #[pyo3(signature = (path, rows, row_bytes, pid))]
    fn create(path: PathBuf, rows: usize, row_bytes: usize, pid: u32) -> PyResult<Self> {
        let inner = live_table::LiveTable::create(&path, rows, row_bytes, pid).map_err(err)?;
        Ok(LiveTable {
            inner,
            buf: Vec::new(),
            path,
        })
    }

    /// Map the table at `path` for reading.
    #[staticmethod]
    fn open(path: PathBuf) -> PyResult<Self> {
        let inner = live_table::LiveTable::open(&path).map_err(err)?;
        Ok(LiveTable {
            inner,
            buf: Vec::new(),
            path,
        })
    }

    /// The row of `key`, claimed now if new (writer).
    fn claim(&mut self, key: &str) -> PyResult<usize> {
        self.inner.claim(key).map_err(err)
    }

    /// Write `payload` into `row` (writer); readers see the old or the new one whole.
    fn put(&mut self, row: usize, payload: &[u8]) -> PyResult<()> {
        self.inner.put(row, payload).map_err(err)
    }

    /// Heartbeat (writer): `now_ns` on the writer's clock.
    fn beat(&mut self, now_ns: u64) -> PyResult<()> {
        self.inner.beat(now_ns).map_err(err)
    }

    /// The row of `key`, or None when not claimed.
    fn find(&mut self, key: &str) -> Option<usize> {
        self.inner.find(key)
    }

    /// Every claimed row as `(key, row)`, in key order.
    fn rows(&mut self) -> Vec<(String, usize)> {
        self.inner.rows()
    }

    /// The payload of `row` as one consistent write whose checksum holds; None when the
    /// row was never written or stayed busy for the whole retry budget (see `busy`).
    fn get<'py>(&mut self, py: Python<'py>, row: usize) -> PyResult<Option<Bound<'py, PyBytes>>> {
        match self.inner.read(row, &mut self.buf).map_err(err)? {
            Read::Value { .. } => Ok(Some(PyBytes::new(py, &self.buf))),
            Read::Empty | Read::Busy => Ok(None),
        }
    }

    /// `(row seq, payload)`: `get` with the row's write counter (even, +2 per write).
    fn get_seq<'py>(
        &mut self,
        py: Python<'py>,
        row: usize,
    ) -> PyResult<Option<(u64, Bound<'py, PyBytes>)>> {
        match self.inner.read(row, &mut self.buf).map_err(err)? {
            Read::Value { seq } => Ok(Some((seq, PyBytes::new(py, &self.buf)))),
            Read::Empty | Read::Busy => Ok(None),
        }
    }

    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    #[getter]
    fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    #[getter]
    fn row_bytes(&self) -> usize {
        self.inner.row_bytes()
    }

    /// The largest payload a row holds.
    #[getter]
    fn max_payload(&self) -> usize {
        self.inner.max_payload()
    }

    #[getter]
    fn used(&self) -> usize {
        self.inner.used()
    }

    #[getter]
    fn writer_pid(&self) -> u64 {
        self.inner.writer_pid()
    }

    #[getter]
    fn heartbeat_ns(&self) -> u64 {
        self.inner.heartbeat_ns()
    }

    #[getter]
    fn beats(&self) -> u64 {
        self.inner.beats()
    }

    /// Reads repeated because the writer was changing the row.
    #[getter]
    fn retries(&self) -> u64 {
        self.inner.retries
    }

    /// Reads that gave up on a row the writer kept changing.
    #[getter]
    fn busy(&self) -> u64 {
        self.inner.busy
    }

    /// Consistent copies that failed their checksum (each raised `LiveTableError`).
    #[getter]
    fn damaged(&self) -> u64 {
        self.inner.damaged
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<LiveTable>()?;
    m.add("LiveTableError", m.py().get_type::<LiveTableError>())
}
