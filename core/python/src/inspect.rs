//! Bindings of `ticktape::inspect`: the recorder's per-frame inspection, one call per batch.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList};
use ticktape::inspect::binance::{self, AckId, AckResult};
use ticktape::inspect::{self as core_inspect, upbit, Rules};

/// `(data_frames, bytes, [(index, error text)])` of one batch.
type BatchInspection = (usize, usize, Vec<(usize, String)>);

fn rules(venue: &str) -> PyResult<Rules> {
    Rules::named(venue)
        .ok_or_else(|| PyValueError::new_err(format!("no frame rules for venue {venue:?}")))
}

/// A frame as handed over: bytes are read in place, a bytearray is copied first (it could
/// change under a borrow).
enum Payload<'py> {
    Bytes(Bound<'py, PyBytes>),
    Copied(Vec<u8>),
}

impl Payload<'_> {
    fn as_slice(&self) -> &[u8] {
        match self {
            Payload::Bytes(b) => b.as_bytes(),
            Payload::Copied(v) => v,
        }
    }
}

/// `(data_frames, bytes, errors)` of a batch of frames (a list of bytes or bytearrays) read
/// by `venue`'s rules; `errors` lists `(index, text)` of the venue's error replies, in order.
#[pyfunction]
fn inspect_frames(venue: &str, frames: &Bound<'_, PyList>) -> PyResult<BatchInspection> {
    let rules = rules(venue)?;
    let mut payloads: Vec<Payload<'_>> = Vec::with_capacity(frames.len());
    for item in frames.iter() {
        payloads.push(match item.downcast_into::<PyBytes>() {
            Ok(b) => Payload::Bytes(b),
            Err(e) => Payload::Copied(e.into_inner().downcast_into::<PyByteArray>()?.to_vec()),
        });
    }
    let got = core_inspect::inspect(rules, payloads.iter().map(Payload::as_slice));
    Ok((got.data_frames, got.bytes, got.errors))
}

/// The venue's error text when `payload` is an error reply, else None (one frame).
#[pyfunction]
fn frame_error(venue: &str, payload: &[u8]) -> PyResult<Option<String>> {
    Ok(rules(venue)?.frame_error(payload))
}

/// True for a keep-alive answer of `venue` (one frame).
#[pyfunction]
fn is_keepalive(venue: &str, payload: &[u8]) -> PyResult<bool> {
    Ok(rules(venue)?.is_keepalive(payload))
}

/// Binance's reply to a control message: `(id, result, error)`, or None for anything else.
#[pyfunction]
fn binance_ack(
    py: Python<'_>,
    payload: &[u8],
) -> PyResult<Option<(PyObject, PyObject, Option<String>)>> {
    let Some(ack) = binance::parse_ack(payload) else {
        return Ok(None);
    };
    let id = match ack.id {
        AckId::Null => py.None(),
        // any number of digits: Python's int() reads them all
        AckId::Int(text) => py.get_type::<pyo3::types::PyInt>().call1((text,))?.unbind(),
        AckId::Str(s) => s.into_pyobject(py)?.into_any().unbind(),
    };
    let result = match ack.result {
        AckResult::Null => py.None(),
        AckResult::Bool(b) => b.into_pyobject(py)?.to_owned().into_any().unbind(),
        AckResult::List(items) => PyList::new(py, items)?.into_any().unbind(),
    };
    Ok(Some((id, result, ack.error)))
}

/// Upbit's error frame as `(name, message)`, or None for anything else.
#[pyfunction]
fn upbit_error(payload: &[u8]) -> Option<(String, String)> {
    upbit::parse_error(payload)
}

/// True for Upbit's keep-alive answer `{"status":"UP"}` (any surrounding whitespace).
#[pyfunction]
fn upbit_status_up(payload: &[u8]) -> bool {
    upbit::is_status_up(payload)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(inspect_frames, m)?)?;
    m.add_function(wrap_pyfunction!(frame_error, m)?)?;
    m.add_function(wrap_pyfunction!(is_keepalive, m)?)?;
    m.add_function(wrap_pyfunction!(binance_ack, m)?)?;
    m.add_function(wrap_pyfunction!(upbit_error, m)?)?;
    m.add_function(wrap_pyfunction!(upbit_status_up, m)?)?;
    Ok(())
}
