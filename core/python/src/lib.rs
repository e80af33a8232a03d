//! `ticktape_core`: the compiled core, as the Python packages see it.

use pyo3::prelude::*;

mod codec;

#[pymodule]
fn ticktape_core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    codec::register(m)?;
    Ok(())
}
