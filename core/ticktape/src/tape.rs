//! A symbol's trade tape: the trades of the longest feature window, with running sums.
//!
//! Parallel columns (receive time, price, and cumulative volume, quote volume, taker-buy
//! volume and large-trade count), so any window's totals are two lookups and a
//! subtraction. Times are the records' receive times, never a clock. The arithmetic is
//! the one the Python tape did, operation for operation (float64 sums in the same order,
//! the same binary search), so a projection's digest does not change with the switch.

/// Entries evicted from the horizon are dropped once this many have piled up and they
/// outnumber the entries still inside it. The second condition keeps compaction amortized
/// (each drop moves fewer entries than it forgets); the first only spares a quiet symbol a
/// compaction per trade. It was 4,096: a symbol trading every ten seconds then held
/// eleven hours of trades past its window, in memory and in every checkpoint, which is
/// what made a recorder of thousands of symbols grow for hours.
pub const COMPACT_MIN: usize = 64;
/// Nanoseconds per second: windows are whole seconds, times nanoseconds.
pub const NS: i64 = 1_000_000_000;

/// What one window of trades ending at a query time holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub seconds: i64,
    pub trades: usize,
    pub volume: f64,
    pub quote_volume: f64,
    pub vwap: Option<f64>,
    pub buy_volume: f64,
    pub sell_volume: f64,
    pub pressure: Option<f64>,
    pub momentum: Option<f64>,
    pub large_trades: i64,
}

/// Why a tape's stored state cannot be restored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateError(pub String);

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StateError {}

/// Trades within `horizon_ns` of the newest one, with cumulative sums.
#[derive(Debug, Clone, PartialEq)]
pub struct TradeTape {
    horizon_ns: i64,
    ts: Vec<i64>,
    px: Vec<f64>,
    cv: Vec<f64>,
    cq: Vec<f64>,
    cb: Vec<f64>,
    cl: Vec<i64>,
    head: usize,
}

impl TradeTape {
    pub fn new(horizon_ns: i64) -> Self {
        TradeTape {
            horizon_ns,
            ts: Vec::new(),
            px: Vec::new(),
            cv: Vec::new(),
            cq: Vec::new(),
            cb: Vec::new(),
            cl: Vec::new(),
            head: 0,
        }
    }

    pub fn horizon_ns(&self) -> i64 {
        self.horizon_ns
    }

    /// The first entry still inside the horizon.
    pub fn head(&self) -> usize {
        self.head
    }

    /// Entries held, evicted ones not yet compacted away included.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Fold one trade received at `ts`.
    pub fn add(&mut self, ts: i64, price: f64, size: f64, buy: bool, large: bool) {
        match (
            self.cv.last(),
            self.cq.last(),
            self.cb.last(),
            self.cl.last(),
        ) {
            (Some(&v), Some(&q), Some(&b), Some(&l)) => {
                self.cv.push(v + size);
                self.cq.push(q + price * size);
                self.cb.push(if buy { b + size } else { b + 0.0 });
                self.cl.push(l + i64::from(large));
            }
            _ => {
                self.cv.push(size);
                self.cq.push(price * size);
                self.cb.push(if buy { size } else { 0.0 });
                self.cl.push(i64::from(large));
            }
        }
        self.ts.push(ts);
        self.px.push(price);
        let cut = ts.saturating_sub(self.horizon_ns);
        let last = self.ts.len() - 1;
        let mut h = self.head.min(last);
        if self.ts[h] < cut {
            h += 1;
            while h < last && self.ts[h] < cut {
                h += 1;
            }
            self.head = h;
            if h >= COMPACT_MIN && 2 * h > self.ts.len() {
                self.compact();
            }
        }
    }

    /// Forget evicted entries and rebase the sums (keeps the floats small).
    fn compact(&mut self) {
        let h = self.head;
        let (bv, bq, bb, bl) = (
            self.cv[h - 1],
            self.cq[h - 1],
            self.cb[h - 1],
            self.cl[h - 1],
        );
        self.ts.drain(..h);
        self.px.drain(..h);
        for (col, base) in [(&mut self.cv, bv), (&mut self.cq, bq), (&mut self.cb, bb)] {
            col.drain(..h);
            col.iter_mut().for_each(|x| *x -= base);
        }
        self.cl.drain(..h);
        self.cl.iter_mut().for_each(|x| *x -= bl);
        self.head = 0;
    }

    /// Stats of the trades with `now - seconds < ts <= now` (record time).
    pub fn window(&self, now_ns: i64, seconds: i64) -> Window {
        let n = self.ts.len();
        let from = i128::from(now_ns) - i128::from(seconds) * i128::from(NS) + 1;
        let i = bisect_left(&self.ts, from, self.head.min(n), n);
        if i >= n {
            return Window {
                seconds,
                trades: 0,
                volume: 0.0,
                quote_volume: 0.0,
                vwap: None,
                buy_volume: 0.0,
                sell_volume: 0.0,
                pressure: None,
                momentum: None,
                large_trades: 0,
            };
        }
        let j = n - 1;
        let fb = |c: &[f64]| if i > 0 { c[i - 1] } else { 0.0 };
        let vol = self.cv[j] - fb(&self.cv);
        let quote = self.cq[j] - fb(&self.cq);
        let buy = self.cb[j] - fb(&self.cb);
        let sell = vol - buy;
        let large = self.cl[j] - if i > 0 { self.cl[i - 1] } else { 0 };
        let first = self.px[i];
        Window {
            seconds,
            trades: j - i + 1,
            volume: vol,
            quote_volume: quote,
            vwap: (vol > 0.0).then(|| quote / vol),
            buy_volume: buy,
            sell_volume: sell,
            pressure: (vol > 0.0).then(|| (buy - sell) / vol),
            momentum: (first > 0.0).then(|| self.px[j] / first - 1.0),
            large_trades: large,
        }
    }

    /// The columns as little-endian bytes, in the order of the stored state:
    /// ts, px, cv, cq, cb, cl (the same bytes on every machine: digests compare).
    pub fn columns_le(&self) -> [Vec<u8>; 6] {
        [
            le_i64(&self.ts),
            le_f64(&self.px),
            le_f64(&self.cv),
            le_f64(&self.cq),
            le_f64(&self.cb),
            le_i64(&self.cl),
        ]
    }

    /// A tape from its stored state: horizon, head and the six little-endian columns.
    pub fn from_columns(
        horizon_ns: i64,
        head: usize,
        cols: [&[u8]; 6],
    ) -> Result<TradeTape, StateError> {
        let ts = from_le_i64(cols[0])?;
        let n = ts.len();
        let t = TradeTape {
            horizon_ns,
            ts,
            px: from_le_f64(cols[1])?,
            cv: from_le_f64(cols[2])?,
            cq: from_le_f64(cols[3])?,
            cb: from_le_f64(cols[4])?,
            cl: from_le_i64(cols[5])?,
            head,
        };
        let lens = [t.px.len(), t.cv.len(), t.cq.len(), t.cb.len(), t.cl.len()];
        if lens.iter().any(|&l| l != n) {
            return Err(StateError(format!(
                "tape columns of unequal lengths: {n} and {lens:?}"
            )));
        }
        if head > n {
            return Err(StateError(format!("tape head {head} past its {n} entries")));
        }
        Ok(t)
    }
}

/// Python's `bisect.bisect_left(a, x, lo, hi)`, step for step: the same answer even on a
/// column that is not sorted (receive times that went backwards).
fn bisect_left(a: &[i64], x: i128, mut lo: usize, mut hi: usize) -> usize {
    hi = hi.min(a.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if i128::from(a[mid]) < x {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

fn le_i64(c: &[i64]) -> Vec<u8> {
    c.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn le_f64(c: &[f64]) -> Vec<u8> {
    c.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn chunks8(b: &[u8]) -> Result<impl Iterator<Item = [u8; 8]> + '_, StateError> {
    if !b.len().is_multiple_of(8) {
        return Err(StateError(format!(
            "a tape column of {} bytes (not whole 8-byte values)",
            b.len()
        )));
    }
    Ok(b.chunks_exact(8).map(|c| {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        a
    }))
}

fn from_le_i64(b: &[u8]) -> Result<Vec<i64>, StateError> {
    Ok(chunks8(b)?.map(i64::from_le_bytes).collect())
}

fn from_le_f64(b: &[u8]) -> Result<Vec<f64>, StateError> {
    Ok(chunks8(b)?.map(f64::from_le_bytes).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn windows_count_only_trades_inside_them() {
        let mut t = TradeTape::new(900 * NS);
        t.add(0, 100.0, 1.0, true, false);
        t.add(200 * NS, 110.0, 2.0, false, false);
        t.add(250 * NS, 120.0, 1.0, true, true);
        let w = t.window(255 * NS, 60);
        assert_eq!(
            (w.trades, w.volume, w.buy_volume, w.sell_volume),
            (2, 3.0, 1.0, 2.0)
        );
        assert_eq!(w.large_trades, 1);
        assert_eq!(t.window(2000 * NS, 60).trades, 0);
        assert_eq!(t.window(2000 * NS, 60).vwap, None);
    }

    #[test]
    fn compaction_forgets_and_keeps_sums() {
        let mut t = TradeTape::new(10 * NS);
        for i in 0..20_000i64 {
            t.add(
                i * NS / 100,
                100.0 + (i % 7) as f64,
                0.5 + (i % 3) as f64,
                i % 2 == 0,
                false,
            );
        }
        assert!(t.len() < 20_000);
        let w = t.window(19_999 * NS / 100, 5);
        assert_eq!(w.trades, 500);
    }

    #[test]
    fn a_quiet_symbol_holds_its_window_not_hours_past_it() {
        // a long-tail symbol: a trade every 10 s for 12 hours, a 900 s horizon (91 trades)
        let mut t = TradeTape::new(900 * NS);
        let mut most = 0;
        for i in 0..4_320i64 {
            t.add(i * 10 * NS, 1.0 + (i % 5) as f64, 1.0, i % 2 == 0, false);
            most = most.max(t.len());
        }
        // evicted entries go once they outnumber the live ones: at most twice the window
        assert!(most <= 2 * 91 + 1, "{most} entries held"); // 4,320 with a minimum of 4,096
        assert!(t.len() - t.head() == 91);
        let w = t.window(4_319 * 10 * NS, 900);
        assert_eq!((w.trades, w.volume), (90, 90.0));
    }

    #[test]
    fn a_column_of_odd_length_is_an_error() {
        let e = TradeTape::from_columns(1, 0, [b"1234567", b"", b"", b"", b"", b""]);
        assert!(e.is_err());
        let e = TradeTape::from_columns(1, 3, [b"", b"", b"", b"", b"", b""]);
        assert!(e.is_err());
    }

    proptest! {
        // Any trades, times going backwards and extremes included: never a panic, and the
        // state round-trips.
        #[test]
        fn any_trades_fold_and_restore(
            trades in proptest::collection::vec(
                (any::<i64>(), any::<f64>(), any::<f64>(), any::<bool>(), any::<bool>()), 0..300),
            horizon in 1i64..i64::MAX,
            now in any::<i64>(), secs in 0i64..100_000,
        ) {
            let mut t = TradeTape::new(horizon);
            for (ts, p, s, b, l) in trades {
                t.add(ts, p, s, b, l);
            }
            let _ = t.window(now, secs);
            let cols = t.columns_le();
            let r = TradeTape::from_columns(t.horizon_ns(), t.head(),
                [&cols[0], &cols[1], &cols[2], &cols[3], &cols[4], &cols[5]]).unwrap();
            prop_assert_eq!(r.columns_le(), cols);
        }
    }
}
