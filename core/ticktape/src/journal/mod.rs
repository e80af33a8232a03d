//! The journal's stored value: its codec, and the checks of many values at once.
//!
//! `msgpack` reads and writes the elements, `value` is one value (fields, checksum,
//! decoding and the reasons a value is damaged), `chunk` many (a reader's chunk,
//! compaction's checked run, the committer's batch). The format is described in
//! `value`, and in `recorder/journal/codec.py`, the Python API over this module.

pub mod chunk;
pub mod columns;
pub mod msgpack;
pub mod value;
