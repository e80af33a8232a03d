//! `ticktape_core`: the compiled core, as the Python packages see it.

use pyo3::prelude::*;

mod inspect;

/// CRC-32 of `data` from 0 without final xor (`recorder.journal.codec.crc`).
#[pyfunction]
fn crc(data: &[u8]) -> u32 {
    ticktape::crc::crc(data)
}

#[pymodule]
fn ticktape_core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(crc, m)?)?;
    inspect::register(m)?;
    Ok(())
}
