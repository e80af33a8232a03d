//! `ticktape_core`: the compiled core, as the Python packages see it.

use pyo3::prelude::*;

mod book;
mod codec;
mod decode;
mod fold;
mod inspect;
mod live_table;
mod tape;

#[pymodule]
fn ticktape_core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    codec::register(m)?;
    book::register(m)?;
    tape::register(m)?;
    decode::register(m)?;
    fold::register(m)?;
    inspect::register(m)?;
    live_table::register(m)?;
    Ok(())
}
