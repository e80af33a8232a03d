//! The live table: a file of fixed-size rows one writer updates and other processes
//! map and read without locks (a seqlock per row), so a reader never sees a torn row.
//!
//! Layout (little-endian, every field 8-aligned):
//!
//! ```text
//! header (64 bytes)
//!   0  magic      b"TTLIVE\0\x01"
//!   8  version    u32 (FORMAT_VERSION)
//!  12  row_bytes  u32 (the stride of a row, a multiple of 8)
//!  16  capacity   u32 (rows)
//!  20  key_bytes  u32 (KEY_BYTES)
//!  24  used       u64 atomic: rows claimed (their keys are written before it grows)
//!  32  pid        u64 the writer's process id
//!  40  beat_ns    u64 atomic: the writer's last heartbeat (its clock, ns)
//!  48  beats      u64 atomic: heartbeats so far
//!  56  reserved
//! row i at 64 + i * row_bytes
//!   0  seq        u64 atomic: odd while the writer changes the row, +2 per write
//!   8  len_crc    u64 (payload length << 32 | CRC-32 of the payload)
//!  16  key_len    u64
//!  24  key        KEY_BYTES bytes (written once, when the row is claimed)
//!  88  payload    row_bytes - 88 bytes
//! ```
//!
//! Everything inside a row is read and written as relaxed `AtomicU64` words ordered by
//! the row's seq and fences (the writer: seq odd, release fence, words, seq even with
//! release; the reader: acquire load, words, acquire fence, reload), so a racing copy is
//! never undefined behaviour, only a retry. The CRC-32 (`crate::crc`) of each payload is
//! checked on every read: a row whose consistent copy fails it is damage, never served.
//! A file that is not a table (wrong magic or version, truncated, sizes that do not add
//! up) is an error when opened, and no read past the mapping is ever made.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;
use std::sync::atomic::{fence, AtomicU64, Ordering};

use memmap2::{Mmap, MmapMut, MmapOptions};

use crate::crc::crc;

pub const MAGIC: [u8; 8] = *b"TTLIVE\x00\x01";
pub const FORMAT_VERSION: u32 = 1;
pub const HEADER_BYTES: usize = 64;
pub const KEY_BYTES: usize = 64;
/// Bytes of a row before its payload: seq, len/crc, key length, key.
pub const ROW_HEAD: usize = 24 + KEY_BYTES;
/// Reads of a row that the writer keeps changing before `read` gives up (`Read::Busy`:
/// in practice a writer that died mid-write). The first `SPINS` retry at once, the rest
/// after yielding the CPU, since a writer preempted mid-write needs a core to finish.
pub const MAX_RETRIES: u32 = 10_000;
const SPINS: u32 = 64;
const MAX_ROWS: usize = 1 << 24;
const MAX_ROW_BYTES: usize = 1 << 24;

const OFF_VERSION: usize = 8;
const OFF_ROW_BYTES: usize = 12;
const OFF_CAPACITY: usize = 16;
const OFF_KEY_BYTES: usize = 20;
const OFF_USED: usize = 24;
const OFF_PID: usize = 32;
const OFF_BEAT_NS: usize = 40;
const OFF_BEATS: usize = 48;

/// What went wrong, with enough context to say so to a person.
#[derive(Debug)]
pub enum TableError {
    Io(io::Error),
    /// Not a live table, or one this code cannot read.
    Format(String),
    RowOutOfRange {
        row: usize,
        rows: usize,
    },
    PayloadTooLarge {
        len: usize,
        max: usize,
    },
    KeyTooLong {
        len: usize,
        max: usize,
    },
    Full {
        capacity: usize,
    },
    /// A consistent copy of the row failed its checksum.
    Damaged {
        row: usize,
        len: usize,
    },
    ReadOnly,
}

impl std::fmt::Display for TableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TableError::Io(e) => write!(f, "{e}"),
            TableError::Format(why) => write!(f, "not a live table: {why}"),
            TableError::RowOutOfRange { row, rows } => {
                write!(f, "row {row} out of range ({rows} rows in use)")
            }
            TableError::PayloadTooLarge { len, max } => {
                write!(f, "payload of {len} bytes exceeds the row's {max}")
            }
            TableError::KeyTooLong { len, max } => {
                write!(f, "key of {len} bytes exceeds {max}")
            }
            TableError::Full { capacity } => write!(f, "table full: all {capacity} rows claimed"),
            TableError::Damaged { row, len } => {
                write!(f, "row {row}: checksum mismatch (a payload of {len} bytes)")
            }
            TableError::ReadOnly => write!(f, "the table was opened for reading"),
        }
    }
}

impl std::error::Error for TableError {}

impl From<io::Error> for TableError {
    fn from(e: io::Error) -> Self {
        TableError::Io(e)
    }
}

pub type Result<T> = std::result::Result<T, TableError>;

/// One read of a row.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// A consistent payload whose checksum holds; `seq` is the row's write counter.
    Value { seq: u64 },
    /// Claimed but never written.
    Empty,
    /// The writer kept changing the row (or died mid-write) for `MAX_RETRIES` tries.
    Busy,
}

enum Map {
    Write(MmapMut),
    Read(Mmap),
}

/// A mapped live table, for the writer (`create`) or a reader (`open`); see the module docs.
pub struct LiveTable {
    map: Map,
    base: *const u8,
    capacity: usize,
    row_bytes: usize,
    keys: std::collections::BTreeMap<String, usize>,
    /// Read attempts repeated because the writer was changing the row.
    pub retries: u64,
    /// Reads that gave up (`Read::Busy`).
    pub busy: u64,
    /// Consistent copies that failed their checksum.
    pub damaged: u64,
}

// The mapping is owned; the raw pointer only caches its start. Shared access (`&self`)
// only loads and stores atomics; everything else takes `&mut self`.
unsafe impl Send for LiveTable {}
unsafe impl Sync for LiveTable {}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl LiveTable {
    /// Make a fresh table at `path` (replacing any file there) for `rows` rows of
    /// `row_bytes` bytes each (rounded up to 8); the caller is its one writer.
    ///
    /// The file is written under a temporary name and renamed, so a reader opens either
    /// the old table or the whole new one; a reader of the old one sees its heartbeat stop.
    pub fn create(path: &Path, rows: usize, row_bytes: usize, pid: u32) -> Result<LiveTable> {
        let row_bytes = row_bytes.div_ceil(8) * 8;
        if rows == 0 || rows > MAX_ROWS {
            return Err(TableError::Format(format!(
                "rows must be 1..={MAX_ROWS}, got {rows}"
            )));
        }
        if !(ROW_HEAD + 8..=MAX_ROW_BYTES).contains(&row_bytes) {
            return Err(TableError::Format(format!(
                "row_bytes must be {}..={MAX_ROW_BYTES}, got {row_bytes}",
                ROW_HEAD + 8
            )));
        }
        let total = HEADER_BYTES + rows * row_bytes;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = path.with_file_name(format!(".{name}.{pid}.tmp"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        file.set_len(total as u64)?;
        // SAFETY: the file is ours, new and sized; nobody else maps it before the rename.
        let mut map = unsafe { MmapOptions::new().len(total).map_mut(&file)? };
        map[..8].copy_from_slice(&MAGIC);
        map[OFF_VERSION..OFF_VERSION + 4].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        map[OFF_ROW_BYTES..OFF_ROW_BYTES + 4].copy_from_slice(&(row_bytes as u32).to_le_bytes());
        map[OFF_CAPACITY..OFF_CAPACITY + 4].copy_from_slice(&(rows as u32).to_le_bytes());
        map[OFF_KEY_BYTES..OFF_KEY_BYTES + 4].copy_from_slice(&(KEY_BYTES as u32).to_le_bytes());
        map[OFF_PID..OFF_PID + 8].copy_from_slice(&u64::from(pid).to_le_bytes());
        map.flush()?;
        fs::rename(&tmp, path)?;
        let base = map.as_ptr();
        Ok(LiveTable {
            map: Map::Write(map),
            base,
            capacity: rows,
            row_bytes,
            keys: Default::default(),
            retries: 0,
            busy: 0,
            damaged: 0,
        })
    }

    /// Map the table at `path` for reading; `TableError::Format` when it is not one.
    pub fn open(path: &Path) -> Result<LiveTable> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        if len < HEADER_BYTES as u64 {
            return Err(TableError::Format(format!(
                "{len} bytes, shorter than the {HEADER_BYTES}-byte header"
            )));
        }
        // SAFETY: mapped read-only; every access below stays inside `len` bytes, checked
        // against the header before the first row is touched.
        let map = unsafe { MmapOptions::new().map(&file)? };
        let b = &map[..];
        if b[..8] != MAGIC {
            return Err(TableError::Format(format!("bad magic {:02x?}", &b[..8])));
        }
        let version = le_u32(b, OFF_VERSION);
        if version != FORMAT_VERSION {
            return Err(TableError::Format(format!(
                "format version {version}, this reader knows {FORMAT_VERSION}"
            )));
        }
        let row_bytes = le_u32(b, OFF_ROW_BYTES) as usize;
        let capacity = le_u32(b, OFF_CAPACITY) as usize;
        let key_bytes = le_u32(b, OFF_KEY_BYTES) as usize;
        if key_bytes != KEY_BYTES
            || !row_bytes.is_multiple_of(8)
            || !(ROW_HEAD + 8..=MAX_ROW_BYTES).contains(&row_bytes)
            || capacity == 0
            || capacity > MAX_ROWS
        {
            return Err(TableError::Format(format!(
                "bad sizes: {capacity} rows of {row_bytes} bytes, keys of {key_bytes}"
            )));
        }
        let need = HEADER_BYTES + capacity * row_bytes;
        if (b.len() as u64) < need as u64 {
            return Err(TableError::Format(format!(
                "truncated: {} bytes, {capacity} rows of {row_bytes} need {need}",
                b.len()
            )));
        }
        let base = map.as_ptr();
        let mut t = LiveTable {
            map: Map::Read(map),
            base,
            capacity,
            row_bytes,
            keys: Default::default(),
            retries: 0,
            busy: 0,
            damaged: 0,
        };
        t.refresh_keys();
        Ok(t)
    }

    fn word(&self, at: usize) -> &AtomicU64 {
        debug_assert!(at.is_multiple_of(8) && at + 8 <= self.len());
        // SAFETY: `at` is 8-aligned (the map is page-aligned) and inside the mapping, whose
        // size was checked against the header; the mapping lives as long as `self`.
        unsafe { &*(self.base.add(at) as *const AtomicU64) }
    }

    fn len(&self) -> usize {
        match &self.map {
            Map::Write(m) => m.len(),
            Map::Read(m) => m.len(),
        }
    }

    fn row_at(&self, row: usize) -> usize {
        HEADER_BYTES + row * self.row_bytes
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn row_bytes(&self) -> usize {
        self.row_bytes
    }

    /// Largest payload a row holds.
    pub fn max_payload(&self) -> usize {
        self.row_bytes - ROW_HEAD
    }

    /// Rows claimed so far (never above the capacity, whatever the file says).
    pub fn used(&self) -> usize {
        (self.word(OFF_USED).load(Ordering::Acquire) as usize).min(self.capacity)
    }

    pub fn writer_pid(&self) -> u64 {
        self.word(OFF_PID).load(Ordering::Relaxed)
    }

    pub fn heartbeat_ns(&self) -> u64 {
        self.word(OFF_BEAT_NS).load(Ordering::Acquire)
    }

    pub fn beats(&self) -> u64 {
        self.word(OFF_BEATS).load(Ordering::Acquire)
    }

    /// The writer is alive at `now_ns` (its clock): readers compare it with `heartbeat_ns`.
    pub fn beat(&self, now_ns: u64) -> Result<()> {
        if let Map::Read(_) = self.map {
            return Err(TableError::ReadOnly);
        }
        self.word(OFF_BEATS).fetch_add(1, Ordering::Relaxed);
        self.word(OFF_BEAT_NS).store(now_ns, Ordering::Release);
        Ok(())
    }

    fn key_of(&self, row: usize) -> String {
        let at = self.row_at(row);
        let n = (self.word(at + 16).load(Ordering::Relaxed) as usize).min(KEY_BYTES);
        let mut buf = [0u8; KEY_BYTES];
        self.copy_out(at + 24, KEY_BYTES, &mut buf);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// Pick up the rows claimed since the last look (readers; `find` and `rows` call it).
    pub fn refresh_keys(&mut self) {
        let used = self.used();
        for row in self.keys.len()..used {
            let key = self.key_of(row);
            self.keys.entry(key).or_insert(row);
        }
    }

    /// Every claimed row as `(key, row)`, in key order.
    pub fn rows(&mut self) -> Vec<(String, usize)> {
        self.refresh_keys();
        self.keys.iter().map(|(k, &r)| (k.clone(), r)).collect()
    }

    /// The row of `key`, if claimed.
    pub fn find(&mut self, key: &str) -> Option<usize> {
        if let Some(&r) = self.keys.get(key) {
            return Some(r);
        }
        self.refresh_keys();
        self.keys.get(key).copied()
    }

    /// The row of `key`, claiming the next free one (writer). The key is written before
    /// the row count grows, so a reader that sees the row sees its key.
    pub fn claim(&mut self, key: &str) -> Result<usize> {
        if let Map::Read(_) = self.map {
            return Err(TableError::ReadOnly);
        }
        if let Some(&r) = self.keys.get(key) {
            return Ok(r);
        }
        if key.len() > KEY_BYTES {
            return Err(TableError::KeyTooLong {
                len: key.len(),
                max: KEY_BYTES,
            });
        }
        let row = self.used();
        if row >= self.capacity {
            return Err(TableError::Full {
                capacity: self.capacity,
            });
        }
        let at = self.row_at(row);
        self.word(at + 16)
            .store(key.len() as u64, Ordering::Relaxed);
        self.copy_in(at + 24, key.as_bytes());
        self.word(OFF_USED)
            .store((row + 1) as u64, Ordering::Release);
        self.keys.insert(key.to_owned(), row);
        Ok(row)
    }

    /// Write `payload` into `row` (writer): readers see the old or the new payload whole.
    pub fn put(&mut self, row: usize, payload: &[u8]) -> Result<()> {
        if let Map::Read(_) = self.map {
            return Err(TableError::ReadOnly);
        }
        let used = self.used();
        if row >= used {
            return Err(TableError::RowOutOfRange { row, rows: used });
        }
        if payload.len() > self.max_payload() {
            return Err(TableError::PayloadTooLarge {
                len: payload.len(),
                max: self.max_payload(),
            });
        }
        let at = self.row_at(row);
        let seq = self.word(at);
        let s = seq.load(Ordering::Relaxed);
        let s = s + (s & 1); // even (a writer that died mid-write left it odd)
        seq.store(s + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        let len_crc = ((payload.len() as u64) << 32) | u64::from(crc(payload));
        self.word(at + 8).store(len_crc, Ordering::Relaxed);
        self.copy_in(at + ROW_HEAD, payload);
        seq.store(s + 2, Ordering::Release);
        Ok(())
    }

    /// Read `row` into `out` (cleared first): see `Read`. A consistent copy whose checksum
    /// fails is `TableError::Damaged`; a row beyond those claimed, `RowOutOfRange`.
    pub fn read(&mut self, row: usize, out: &mut Vec<u8>) -> Result<Read> {
        let used = self.used();
        if row >= used {
            return Err(TableError::RowOutOfRange { row, rows: used });
        }
        let at = self.row_at(row);
        let max = self.max_payload();
        let mut tries = 0u32;
        loop {
            let s1 = self.word(at).load(Ordering::Acquire);
            if s1 & 1 == 0 {
                if s1 == 0 {
                    out.clear();
                    return Ok(Read::Empty);
                }
                let len_crc = self.word(at + 8).load(Ordering::Relaxed);
                let len = ((len_crc >> 32) as usize).min(max);
                out.clear();
                out.resize(len, 0);
                self.copy_out(at + ROW_HEAD, len, out);
                fence(Ordering::Acquire);
                let s2 = self.word(at).load(Ordering::Relaxed);
                if s1 == s2 {
                    if (len_crc >> 32) as usize > max || crc(out) != len_crc as u32 {
                        self.damaged += 1;
                        return Err(TableError::Damaged { row, len });
                    }
                    return Ok(Read::Value { seq: s1 });
                }
            }
            tries += 1;
            self.retries += 1;
            if tries >= MAX_RETRIES {
                self.busy += 1;
                out.clear();
                return Ok(Read::Busy);
            }
            if tries < SPINS {
                std::hint::spin_loop();
            } else {
                // the writer was preempted mid-write (few cores): let it run
                std::thread::yield_now();
            }
        }
    }

    /// Store `data` at `at` as relaxed 8-byte words (the last one zero-padded).
    fn copy_in(&self, at: usize, data: &[u8]) {
        let mut chunks = data.chunks_exact(8);
        let mut off = at;
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
            self.word(off).store(w, Ordering::Relaxed);
            off += 8;
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.word(off)
                .store(u64::from_le_bytes(last), Ordering::Relaxed);
        }
    }

    /// Load `len` bytes at `at` into `out[..len]` through relaxed 8-byte words.
    fn copy_out(&self, at: usize, len: usize, out: &mut [u8]) {
        let mut off = 0;
        while off < len {
            let w = self.word(at + off).load(Ordering::Relaxed).to_le_bytes();
            let n = (len - off).min(8);
            out[off..off + n].copy_from_slice(&w[..n]);
            off += 8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    fn tmp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("ticktape-live-{}-{name}", std::process::id()));
        let _ = fs::create_dir_all(&dir);
        dir.join("table")
    }

    #[test]
    fn write_then_read() {
        let p = tmp("basic");
        let mut w = LiveTable::create(&p, 4, 256, 42).unwrap();
        let a = w.claim("binance-usdm/BTCUSDT").unwrap();
        let b = w.claim("upbit/KRW-BTC").unwrap();
        assert_eq!((a, b, w.claim("binance-usdm/BTCUSDT").unwrap()), (0, 1, 0));
        w.put(a, b"hello").unwrap();
        w.beat(7).unwrap();
        let mut r = LiveTable::open(&p).unwrap();
        assert_eq!(r.writer_pid(), 42);
        assert_eq!((r.heartbeat_ns(), r.beats()), (7, 1));
        assert_eq!(
            r.rows(),
            vec![
                ("binance-usdm/BTCUSDT".to_owned(), 0),
                ("upbit/KRW-BTC".to_owned(), 1)
            ]
        );
        let mut out = Vec::new();
        assert_eq!(r.read(a, &mut out).unwrap(), Read::Value { seq: 2 });
        assert_eq!(out, b"hello");
        assert_eq!(r.read(b, &mut out).unwrap(), Read::Empty);
        assert!(matches!(
            r.read(2, &mut out),
            Err(TableError::RowOutOfRange { row: 2, rows: 2 })
        ));
        assert!(matches!(r.put(0, b"x"), Err(TableError::ReadOnly)));
        // rows claimed after the reader opened are found
        let c = w.claim("upbit/KRW-ETH").unwrap();
        assert_eq!(r.find("upbit/KRW-ETH"), Some(c));
        assert_eq!(r.find("nope"), None);
    }

    #[test]
    fn limits_are_errors() {
        let p = tmp("limits");
        let mut w = LiveTable::create(&p, 1, 100, 1).unwrap();
        assert_eq!(w.row_bytes(), 104);
        let r = w.claim("a").unwrap();
        assert!(matches!(
            w.claim("b"),
            Err(TableError::Full { capacity: 1 })
        ));
        assert!(matches!(
            w.put(r, &[0u8; 17]),
            Err(TableError::PayloadTooLarge { len: 17, max: 16 })
        ));
        w.put(r, &[1u8; 16]).unwrap();
        assert!(matches!(
            w.claim(&"k".repeat(65)),
            Err(TableError::KeyTooLong { .. })
        ));
        assert!(LiveTable::create(&p, 0, 256, 1).is_err());
        assert!(LiveTable::create(&p, 1, 8, 1).is_err());
    }

    #[test]
    fn bad_files_are_errors() {
        let p = tmp("bad");
        let mut w = LiveTable::create(&p, 2, 128, 1).unwrap();
        let row = w.claim("k").unwrap();
        w.put(row, b"payload").unwrap();
        drop(w);
        let good = fs::read(&p).unwrap();
        let check = |bytes: &[u8], what: &str| {
            fs::write(&p, bytes).unwrap();
            match LiveTable::open(&p) {
                Err(TableError::Format(why)) => assert!(why.contains(what), "{why}"),
                other => panic!("{what}: {:?}", other.err()),
            }
        };
        check(&good[..10], "shorter");
        check(&good[..good.len() - 1], "truncated");
        let mut b = good.clone();
        b[0] = b'X';
        check(&b, "magic");
        let mut b = good.clone();
        b[OFF_VERSION] = 9;
        check(&b, "version");
        let mut b = good.clone();
        b[OFF_CAPACITY..OFF_CAPACITY + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        check(&b, "sizes");
        // a payload byte flipped: damage, not a value
        let mut b = good.clone();
        let at = HEADER_BYTES + ROW_HEAD;
        b[at] ^= 0xff;
        fs::write(&p, &b).unwrap();
        let mut r = LiveTable::open(&p).unwrap();
        let mut out = Vec::new();
        assert!(matches!(
            r.read(row, &mut out),
            Err(TableError::Damaged { row: 0, len: 7 })
        ));
        assert_eq!(r.damaged, 1);
        // a length beyond the row, and a row count beyond the capacity: no read past it
        let mut b = good.clone();
        let len_at = HEADER_BYTES + 8 + 4;
        b[len_at..len_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        b[OFF_USED..OFF_USED + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        fs::write(&p, &b).unwrap();
        let mut r = LiveTable::open(&p).unwrap();
        assert_eq!(r.used(), 2);
        assert!(r.read(row, &mut out).is_err());
        assert!(matches!(
            LiveTable::open(&tmp("missing").with_file_name("none")),
            Err(TableError::Io(_))
        ));
    }

    /// Payload of write `n`: its length and bytes depend on `n`, so a copy mixing two
    /// writes is caught by its content as well as by the checksum.
    fn payload(n: u64) -> Vec<u8> {
        let len = 16 + (n % 200) as usize;
        let mut v = Vec::with_capacity(len);
        v.extend_from_slice(&n.to_le_bytes());
        while v.len() < len {
            v.push((n as u8).wrapping_add(v.len() as u8));
        }
        v
    }

    #[test]
    fn no_torn_reads_across_threads() {
        let p = tmp("threads");
        let mut w = LiveTable::create(&p, 2, 512, 1).unwrap();
        let rows = [w.claim("a").unwrap(), w.claim("b").unwrap()];
        let start = Arc::new(Barrier::new(2));
        let go = start.clone();
        let writes = 200_000u64;
        let writer = std::thread::spawn(move || {
            go.wait();
            for n in 1..=writes {
                w.put(rows[(n % 2) as usize], &payload(n)).unwrap();
            }
        });
        let mut r = LiveTable::open(&p).unwrap();
        let mut out = Vec::new();
        let mut last = [0u64; 2];
        let mut values = 0u64;
        start.wait();
        while !writer.is_finished() || values < 1000 {
            for (i, &row) in rows.iter().enumerate() {
                match r.read(row, &mut out).unwrap() {
                    Read::Value { seq } => {
                        let n = u64::from_le_bytes(out[..8].try_into().unwrap());
                        assert_eq!(out, payload(n), "torn row {row}");
                        assert!(seq >= last[i] && n % 2 == row as u64);
                        last[i] = seq;
                        values += 1;
                    }
                    Read::Empty | Read::Busy => {}
                }
            }
        }
        writer.join().unwrap();
        assert_eq!(r.damaged, 0);
        assert!(values >= 1000);
        assert_eq!(
            r.read(rows[0], &mut out).unwrap(),
            Read::Value { seq: writes }
        );
    }
}
