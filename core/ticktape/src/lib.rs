//! ticktape's compiled core. Plain Rust, no Python: the `ticktape-python` crate binds it.

pub mod book;
pub mod crc;
pub mod decode;
pub mod event;
pub mod fold;
pub mod inspect;
pub mod journal;
pub mod levels;
pub mod live_row;
pub mod live_table;
pub mod price;
pub mod sync;
pub mod tape;
