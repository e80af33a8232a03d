//! The journal codec's bindings (`recorder.journal.codec` is the Python API over them).
//!
//! Every call takes a whole batch or chunk: the committer's batch is sealed and keyed in
//! one call, a reader's chunk checked and decoded in one. Reasons for a damaged value
//! come back as strs (Python raises its own `CorruptValueError` with them), so the error
//! types stay the Python codec's.

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use ticktape::journal::chunk::{self, BadPair};
use ticktape::journal::columns::{self, Columns};
use ticktape::journal::value::{self, py_bytes_repr, RecordRef, KINDS};

/// CRC-32 of `data` from 0 without final xor (`recorder.journal.codec.crc`).
#[pyfunction]
fn crc(data: &Bound<'_, PyAny>) -> PyResult<u32> {
    with_buffer(data, ticktape::crc::crc)
}

/// Run `f` over the bytes of a C-contiguous buffer (bytes, bytearray, a memoryview of a
/// mapping), without copying them.
fn with_buffer<R>(obj: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> R) -> PyResult<R> {
    if let Ok(b) = obj.downcast::<PyBytes>() {
        return Ok(f(b.as_bytes()));
    }
    let buf = PyBuffer::<u8>::get(obj)?;
    if !buf.is_c_contiguous() {
        return Err(PyValueError::new_err("a batch must be a contiguous buffer"));
    }
    // SAFETY: the buffer is held (`buf`) for the whole call: while exported its memory stays
    // where it is (a bytearray cannot be resized, a mapping not closed) and, C-contiguous, is
    // `len_bytes` bytes from `buf_ptr`. It is only read, with the GIL held.
    let data = unsafe { std::slice::from_raw_parts(buf.buf_ptr() as *const u8, buf.len_bytes()) };
    Ok(f(data))
}

/// The stored value of a record's six fields (`codec.seal`); ValueError for bytes that
/// are not six fields.
#[pyfunction]
fn seal<'py>(py: Python<'py>, fields: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    with_buffer(fields, |f| {
        PyBytes::new_with(py, value::sealed_len(f.len()), |out| {
            value::seal_into(f, out).ok_or_else(|| {
                PyValueError::new_err(format!(
                    "not a record's six fields: {}...",
                    py_bytes_repr(f.get(..1).unwrap_or_default())
                ))
            })
        })
    })?
}

/// (key, value) of every record of a batch (`codec.encode_batch_into`'s bytes), keyed
/// `first_seq`, +1, ... and sealed: what LMDB's `putmulti` stores. ValueError for a
/// batch that is not `count` records' fields from `first_seq` on.
#[pyfunction]
fn seal_batch<'py>(
    py: Python<'py>,
    batch: &Bound<'py, PyAny>,
    first_seq: u64,
    count: u64,
) -> PyResult<Bound<'py, PyList>> {
    with_buffer(batch, |blob| {
        let fields = chunk::split_batch(blob, first_seq, count)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let rows = fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let key = PyBytes::new(py, &chunk::encode_key(first_seq.wrapping_add(i as u64)));
                let value = PyBytes::new_with(py, value::sealed_len(f.len()), |out| {
                    value::seal_into(f, out)
                        .ok_or_else(|| PyValueError::new_err("not a record's six fields"))
                })?;
                PyTuple::new(py, [key, value])
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, rows)
    })?
}

/// Whether a stored value carries a checksum.
#[pyfunction]
fn has_checksum(value: &Bound<'_, PyAny>) -> PyResult<bool> {
    with_buffer(value, value::has_checksum)
}

/// The bytes of every item of `values` (each a bytes, as LMDB hands them out).
fn slices<'a, 'py>(items: &'a [Bound<'py, PyBytes>]) -> Vec<&'a [u8]> {
    items.iter().map(|b| b.as_bytes()).collect()
}

fn bytes_items<'py>(values: &Bound<'py, PyAny>) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    if let Ok(list) = values.downcast::<PyList>() {
        let mut out = Vec::with_capacity(list.len());
        for v in list.iter() {
            out.push(v.downcast_into::<PyBytes>()?);
        }
        return Ok(out);
    }
    values
        .try_iter()?
        .map(|v| Ok(v?.downcast_into::<PyBytes>()?))
        .collect()
}

/// How many of `values` carry no checksum, or None when one is damaged (`codec.check_values`).
#[pyfunction]
#[pyo3(signature = (values, *, require = false))]
fn check_values(values: &Bound<'_, PyAny>, require: bool) -> PyResult<Option<usize>> {
    let items = bytes_items(values)?;
    Ok(chunk::check_values(&slices(&items), require))
}

/// How many of `values` carry a checksum.
#[pyfunction]
fn count_checked(values: &Bound<'_, PyAny>) -> PyResult<usize> {
    let items = bytes_items(values)?;
    Ok(chunk::count_checked(&slices(&items)))
}

/// A Python int of a decoded int (within i64 or u64: the msgpack ints).
fn int_obj(py: Python<'_>, v: i128) -> PyResult<Bound<'_, PyAny>> {
    match i64::try_from(v) {
        Ok(i) => Ok(i.into_pyobject(py)?.into_any()),
        Err(_) => Ok(u64::try_from(v)
            .map_err(|_| PyValueError::new_err("int out of range"))?
            .into_pyobject(py)?
            .into_any()),
    }
}

/// Makes `Record`s of decoded values: the record type, the kinds' str objects (so every
/// record shares them) and the decoder of a meta map, handed over by the Python codec.
#[pyclass(frozen, module = "ticktape_core")]
struct RecordCodec {
    record: Py<PyAny>,
    kinds: Vec<Py<PyAny>>,
    meta: Py<PyAny>,
}

/// A decoded value that could not be made a `Record`: the reason (its meta map did not decode).
enum Made<'py> {
    Record(Bound<'py, PyAny>),
    Bad(String),
}

impl RecordCodec {
    fn make<'py>(&self, py: Python<'py>, rec: &RecordRef<'_>) -> PyResult<Made<'py>> {
        let meta = match rec.meta {
            None => py.None().into_bound(py),
            Some(m) => match self.meta.bind(py).call1((PyBytes::new(py, m),)) {
                Ok(obj) => obj,
                Err(e) => return Ok(Made::Bad(format!("value does not decode: {}", e.value(py)))),
            },
        };
        let kind = self
            .kinds
            .get(usize::from(rec.kind))
            .ok_or_else(|| PyValueError::new_err("kind code"))?;
        let args = (
            int_obj(py, rec.seq)?,
            int_obj(py, rec.ts_ns)?,
            int_obj(py, rec.stream)?,
            kind.bind(py),
            PyBytes::new(py, rec.payload),
            meta,
        );
        Ok(Made::Record(self.record.bind(py).call1(args)?))
    }

    fn list<'py>(
        &self,
        py: Python<'py>,
        recs: &[RecordRef<'_>],
    ) -> PyResult<Result<Bound<'py, PyList>, (usize, String)>> {
        let mut out = Vec::with_capacity(recs.len());
        for (i, rec) in recs.iter().enumerate() {
            match self.make(py, rec)? {
                Made::Record(r) => out.push(r),
                Made::Bad(why) => return Ok(Err((i, why))),
            }
        }
        Ok(Ok(PyList::new(py, out)?))
    }
}

#[pymethods]
impl RecordCodec {
    #[new]
    fn new(
        py: Python<'_>,
        record: Py<PyAny>,
        kinds: Vec<Py<PyAny>>,
        meta: Py<PyAny>,
    ) -> PyResult<Self> {
        let names: Vec<String> = kinds
            .iter()
            .map(|k| k.extract(py))
            .collect::<PyResult<_>>()?;
        if names != KINDS {
            return Err(PyValueError::new_err(format!(
                "kinds {names:?} are not the codec's {KINDS:?}"
            )));
        }
        Ok(RecordCodec {
            record,
            kinds,
            meta,
        })
    }

    /// Records of many stored values, checked and decoded; None if any is damaged
    /// (`codec.decode_values`). One pass: each value becomes its record as it is checked.
    #[pyo3(signature = (values, *, require = false))]
    fn decode_values<'py>(
        &self,
        py: Python<'py>,
        values: &Bound<'py, PyAny>,
        require: bool,
    ) -> PyResult<Option<Bound<'py, PyList>>> {
        let items = bytes_items(values)?;
        let mut out = Vec::with_capacity(items.len());
        for item in &items {
            let Ok(rec) = value::decode_value(item.as_bytes(), require) else {
                return Ok(None);
            };
            match self.make(py, &rec)? {
                Made::Record(r) => out.push(r),
                Made::Bad(_) => return Ok(None),
            }
        }
        Ok(Some(PyList::new(py, out)?))
    }

    /// The record stored under key `seq`, or the reason it is not (a str) (`codec.decode_value`).
    #[pyo3(signature = (seq, value, *, require = false))]
    fn decode_value<'py>(
        &self,
        py: Python<'py>,
        seq: u64,
        value: &Bound<'py, PyAny>,
        require: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        with_buffer(value, |v| match value::decode_under(seq, v, require) {
            Ok(rec) => match self.make(py, &rec)? {
                Made::Record(r) => Ok(r),
                Made::Bad(why) => Ok(why.into_pyobject(py)?.into_any()),
            },
            Err(e) => Ok(e.to_string().into_pyobject(py)?.into_any()),
        })?
    }

    /// Records of stored (key, value) pairs, checked (`codec.decode_checked`); or
    /// (seq, reason) naming the first bad pair.
    #[pyo3(signature = (first_seq, keys, values, *, require = false))]
    fn decode_checked<'py>(
        &self,
        py: Python<'py>,
        first_seq: u64,
        keys: &Bound<'py, PyAny>,
        values: &Bound<'py, PyAny>,
        require: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let key_items = bytes_items(keys)?;
        let items = bytes_items(values)?;
        let bad = |seq: u64, reason: String| Ok((seq, reason).into_pyobject(py)?.into_any());
        match chunk::decode_checked(first_seq, &slices(&key_items), &slices(&items), require) {
            Ok(recs) => match self.list(py, &recs)? {
                Ok(list) => Ok(list.into_any()),
                Err((i, why)) => {
                    let seq = first_seq.wrapping_add(i as u64);
                    bad(seq, format!("seq {seq}: {why}"))
                }
            },
            Err(BadPair { seq, reason }) => bad(seq, reason),
        }
    }
}

/// A chunk of records as columns (`codec.decode_columns`): int columns as native int64
/// bytes (`memoryview(b).cast("q")`, or an Arrow buffer), kinds as u8 codes, payloads and
/// meta maps (msgpack) as one buffer each with int64 offsets (Arrow's large binary layout).
#[pyclass(frozen, name = "Columns", module = "ticktape_core")]
struct PyColumns {
    cols: Columns,
}

fn i64_bytes<'py>(py: Python<'py>, v: &[i64]) -> Bound<'py, PyBytes> {
    let raw: Vec<u8> = v.iter().flat_map(|x| x.to_ne_bytes()).collect();
    PyBytes::new(py, &raw)
}

#[pymethods]
impl PyColumns {
    fn __len__(&self) -> usize {
        self.cols.len()
    }
    #[getter]
    fn seq<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        i64_bytes(py, &self.cols.seq)
    }
    #[getter]
    fn ts_ns<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        i64_bytes(py, &self.cols.ts_ns)
    }
    #[getter]
    fn stream<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        i64_bytes(py, &self.cols.stream)
    }
    #[getter]
    fn kind<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.cols.kind)
    }
    #[getter]
    fn payload_offsets<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        i64_bytes(py, &self.cols.payload_offsets)
    }
    #[getter]
    fn payloads<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.cols.payloads)
    }
    #[getter]
    fn meta_offsets<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        i64_bytes(py, &self.cols.meta_offsets)
    }
    #[getter]
    fn metas<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.cols.metas)
    }
    /// How many of the values carried a checksum.
    #[getter]
    fn checked(&self) -> usize {
        self.cols.checked
    }
    /// The first and last record's times (None for no records).
    #[getter]
    fn first_ts(&self) -> Option<i64> {
        self.cols.ts_ns.first().copied()
    }
    #[getter]
    fn last_ts(&self) -> Option<i64> {
        self.cols.ts_ns.last().copied()
    }
    /// Whether the times never go backwards within the chunk.
    fn ts_sorted(&self) -> bool {
        self.cols.ts_sorted()
    }
    /// The distinct stream ids, ascending.
    fn streams(&self) -> Vec<i64> {
        self.cols.streams()
    }
    /// Each record's key followed by its payload, joined (verify's payload digest input).
    fn keyed_payloads<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.cols.keyed_payloads())
    }
}

/// Columns of a chunk, checked (`codec.decode_columns`); or (seq, reason) naming the first
/// bad pair. With `keys` None the values are those stored under `first_seq`, +1, ...
#[pyfunction]
#[pyo3(signature = (first_seq, keys, values, *, require = false))]
fn decode_columns<'py>(
    py: Python<'py>,
    first_seq: u64,
    keys: Option<&Bound<'py, PyAny>>,
    values: &Bound<'py, PyAny>,
    require: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let items = bytes_items(values)?;
    let got = match keys {
        Some(keys) => {
            let key_items = bytes_items(keys)?;
            columns::columns_checked(first_seq, &slices(&key_items), &slices(&items), require)
        }
        None => columns::columns_from(first_seq, &slices(&items), require),
    };
    match got {
        Ok(cols) => Ok(Bound::new(py, PyColumns { cols })?.into_any()),
        Err(BadPair { seq, reason }) => Ok((seq, reason).into_pyobject(py)?.into_any()),
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(crc, m)?)?;
    m.add_function(wrap_pyfunction!(seal, m)?)?;
    m.add_function(wrap_pyfunction!(seal_batch, m)?)?;
    m.add_function(wrap_pyfunction!(has_checksum, m)?)?;
    m.add_function(wrap_pyfunction!(check_values, m)?)?;
    m.add_function(wrap_pyfunction!(count_checked, m)?)?;
    m.add_function(wrap_pyfunction!(decode_columns, m)?)?;
    m.add_class::<RecordCodec>()?;
    m.add_class::<PyColumns>()?;
    Ok(())
}
