//! ticktape's compiled core. Plain Rust, no Python: the `ticktape-python` crate binds it.

pub mod crc;
pub mod inspect;
