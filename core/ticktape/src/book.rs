//! One symbol's order book on one venue, kept in sync by the venue's rule ([`crate::sync`]).
//!
//! A [`Book`] changes only by folding events (and by [`Book::restore`], a checkpoint):
//!
//! - [`Book::apply_snapshot`]: a full (or top-N) book; REST-synced venues then replay the
//!   deltas buffered while waiting for it (a snapshot older than the buffered stream is a
//!   `stale_snapshot` Gap and the book keeps waiting). A top-N picture (Binance
//!   `@depth20`) is the book only while no delta has come: once one has, the diff stream
//!   owns the book and pictures are ignored, whichever stream's frame came first;
//! - [`Book::apply_delta`]: changed levels, applied when the rule says they follow on,
//!   buffered (REST-synced venues) or dropped (the others) before a snapshot;
//! - [`Book::apply_ticker`]: a book ticker carrying the depth update id (Binance `u`) is
//!   compared with the book at that id, now or when the book gets there.
//!
//! Each pushes what it found onto a [`Finding`] list, in the order the Python book reported
//! them: its Gaps, then rejected levels, Upbit totals that differ from the levels, the book
//! becoming crossed, book tickers it disagrees with. A Gap clears the book and marks it
//! invalid until a snapshot re-syncs it. Events are read through the [`DeltaEvent`] family
//! of traits so a caller hands its own event types (Python's, borrowed; a decoder's) without
//! copying; a delta the book must keep (the buffer) is copied into an [`OwnedDelta`].
//!
//! Where Python's book raised on an input (an absent id compared, a KuCoin level id that is
//! not an integer, a size `Decimal` refuses in Upbit's totals) the fold stops at the same
//! point with a [`FoldError`], the state changed as far as Python's had been.

use std::collections::VecDeque;

use crate::levels::{Level, Side};
use crate::price::decimal::{self, Decimal, NumError};
use crate::price::Price;
use crate::sync::{self, IdError, Ids, Rule, Verdict, BUFFER_LIMIT, PENDING_TICKERS};

/// Where an event came from: its exchange and receive times and its journal seq.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stamp {
    pub exch_ts_ns: i64,
    pub recv_ts_ns: i64,
    pub seq: i64,
}

/// A level of an event: price, size and, KuCoin's, its own update id.
pub trait LevelIn {
    fn price(&self) -> &str;
    fn size(&self) -> &str;
    /// None: the level has no third field.
    fn id(&self) -> Option<&str>;
}

/// A book delta: changed levels, absolute sizes, size 0 removes the level.
pub trait DeltaEvent {
    type Level: LevelIn;
    fn stamp(&self) -> Stamp;
    fn bids(&self) -> &[Self::Level];
    fn asks(&self) -> &[Self::Level];
    fn ids(&self) -> Ids;
    fn checksum(&self) -> Option<i64>;
    /// A copy the book keeps (the buffer): every field, the strings as sent.
    fn to_owned_delta(&self) -> OwnedDelta;
}

/// A full or top-`depth` book.
pub struct Snapshot<'a, L: LevelIn> {
    pub stamp: Stamp,
    pub bids: &'a [L],
    pub asks: &'a [L],
    pub update_id: Option<i64>,
    /// Set for a partial top-N picture (Binance @depth20).
    pub depth: Option<i64>,
    pub checksum: Option<i64>,
    /// Upbit: (total bid size, total ask size).
    pub totals: Option<(&'a str, &'a str)>,
}

/// A book ticker: the venue's best bid and ask, with the depth update id it reflects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticker<S> {
    pub seq: i64,
    pub bid_px: S,
    pub bid_sz: S,
    pub ask_px: S,
    pub ask_sz: S,
    pub update_id: Option<i64>,
}

/// A level as kept in the buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedLevel {
    pub price: String,
    pub size: String,
    pub id: Option<String>,
}

impl LevelIn for OwnedLevel {
    fn price(&self) -> &str {
        &self.price
    }
    fn size(&self) -> &str {
        &self.size
    }
    fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

impl<S: AsRef<str>> LevelIn for (S, S) {
    fn price(&self) -> &str {
        self.0.as_ref()
    }
    fn size(&self) -> &str {
        self.1.as_ref()
    }
    fn id(&self) -> Option<&str> {
        None
    }
}

impl<S: AsRef<str>> LevelIn for (S, S, S) {
    fn price(&self) -> &str {
        self.0.as_ref()
    }
    fn size(&self) -> &str {
        self.1.as_ref()
    }
    fn id(&self) -> Option<&str> {
        Some(self.2.as_ref())
    }
}

/// A delta the book keeps: its checkpoint shows every field (the names are the event's own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedDelta {
    pub venue: String,
    pub symbol: String,
    pub norm: String,
    pub stamp: Stamp,
    pub bids: Vec<OwnedLevel>,
    pub asks: Vec<OwnedLevel>,
    pub ids: Ids,
    pub checksum: Option<i64>,
}

impl DeltaEvent for OwnedDelta {
    type Level = OwnedLevel;
    fn stamp(&self) -> Stamp {
        self.stamp
    }
    fn bids(&self) -> &[OwnedLevel] {
        &self.bids
    }
    fn asks(&self) -> &[OwnedLevel] {
        &self.asks
    }
    fn ids(&self) -> Ids {
        self.ids
    }
    fn checksum(&self) -> Option<i64> {
        self.checksum
    }
    fn to_owned_delta(&self) -> OwnedDelta {
        self.clone()
    }
}

/// Why a book broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GapReason {
    Sequence,
    Checksum,
    StaleSnapshot,
}

impl GapReason {
    pub fn as_str(self) -> &'static str {
        match self {
            GapReason::Sequence => "sequence",
            GapReason::Checksum => "checksum",
            GapReason::StaleSnapshot => "stale_snapshot",
        }
    }
}

/// A break in the book's continuity, at the event `stamp` (the delta that broke it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    pub stamp: Stamp,
    pub expected: Option<i128>,
    pub got: Option<i128>,
    pub reason: GapReason,
}

/// What folding one event found, in order; every finding but a Gap is about the event folded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    Gap(Gap),
    /// Levels with an unusable price or size (`unparseable`).
    Rejected(u32),
    /// Upbit: the levels' sizes summed (`str(Decimal)` of each sum) differ from its totals
    /// (`total_mismatch`; the text shows the totals as the caller holds them).
    TotalMismatch {
        bids: String,
        asks: String,
    },
    /// The book just became crossed (`crossed_book`): `str(Decimal)` of both prices.
    Crossed {
        bid: String,
        ask: String,
    },
    /// A book ticker that differs from the book at its update id (`ticker_mismatch`).
    TickerMismatch {
        detail: String,
    },
}

impl Finding {
    /// The validation kind (`state.validation.KINDS`) of a finding that is not a Gap.
    pub fn kind(&self) -> &'static str {
        match self {
            Finding::Gap(_) => "gap",
            Finding::Rejected(_) => "unparseable",
            Finding::TotalMismatch { .. } => "total_mismatch",
            Finding::Crossed { .. } => "crossed_book",
            Finding::TickerMismatch { .. } => "ticker_mismatch",
        }
    }
}

/// An input the fold stopped at, where Python's book raised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FoldError {
    /// An absent update id compared or added (`TypeError`).
    Ids(IdError),
    /// A KuCoin level without its id (`IndexError`).
    MissingLevelId,
    /// A KuCoin level id `int()` refuses (`ValueError`): the string.
    LevelId(String),
    /// A number Python's `Decimal` refused or raised on (`decimal.InvalidOperation`).
    Number(NumError),
}

impl From<IdError> for FoldError {
    fn from(e: IdError) -> FoldError {
        FoldError::Ids(e)
    }
}

impl From<NumError> for FoldError {
    fn from(e: NumError) -> FoldError {
        FoldError::Number(e)
    }
}

/// How the book is fed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// Nothing yet.
    #[default]
    None,
    /// A snapshot and deltas.
    Diff,
    /// Top-N pictures only, until a delta comes (the book is then a `Diff` one).
    Partial,
    /// Full pictures only (Upbit).
    Snapshot,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::None => "",
            Mode::Diff => "diff",
            Mode::Partial => "partial",
            Mode::Snapshot => "snapshot",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        Some(match s {
            "" => Mode::None,
            "diff" => Mode::Diff,
            "partial" => Mode::Partial,
            "snapshot" => Mode::Snapshot,
            _ => return None,
        })
    }
}

/// The book's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Snapshots and deltas applied.
    pub updates: i64,
    /// Gaps so far.
    pub gaps: i64,
    /// Deltas dropped: older than the book, or before its snapshot.
    pub stale: i64,
    pub checksum_ok: i64,
    pub checksum_bad: i64,
    /// Book tickers equal to the book at their update id.
    pub ticker_ok: i64,
    pub ticker_bad: i64,
}

/// The book's sync position (everything a checkpoint holds but levels, buffer and tickers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    /// The update id the book is at.
    pub last_id: Option<i64>,
    /// Synced: safe to read. False from a Gap to the next snapshot.
    pub valid: bool,
    /// The best bid reached the best ask (at the last change).
    pub crossed: bool,
    /// A REST snapshot is loaded; the first delta must bracket it.
    pub pending: bool,
    pub mode: Mode,
    pub seen_delta: bool,
    /// Journal seq and receive time of the last change.
    pub seq: i64,
    pub ts_ns: i64,
}

/// What a checkpoint holds of a book besides its rule and levels.
#[derive(Clone, Debug, Default)]
pub struct Saved {
    pub pos: Position,
    pub counts: Counts,
    pub buffer: Vec<OwnedDelta>,
    pub tickers: Vec<Ticker<String>>,
}

/// One symbol's book: see the module docs.
#[derive(Clone, Debug)]
pub struct Book {
    rule: Rule,
    /// False: a sync-only book of a rule that decides on ids alone (writes are dropped).
    keeps_levels: bool,
    bids: Side,
    asks: Side,
    pos: Position,
    counts: Counts,
    buffer: VecDeque<OwnedDelta>,
    tickers: VecDeque<Ticker<String>>,
    /// Tickers resolved lately, their strings reused by the next ones kept.
    spare_tickers: Vec<Ticker<String>>,
}

/// The (price, size) of the levels `keep` says to keep.
fn kept<'a, L: LevelIn>(
    levels: &'a [L],
    keep: &'a [bool],
) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
    levels
        .iter()
        .zip(keep)
        .filter(|(_, k)| **k)
        .map(|(l, _)| (l.price(), l.size()))
}

fn level_ids<L: LevelIn>(
    levels: &[L],
    last: Option<i64>,
    keep: &mut Vec<bool>,
) -> Result<(), FoldError> {
    for lv in levels {
        let text = lv.id().ok_or(FoldError::MissingLevelId)?;
        let id = decimal::parse_int(text).ok_or_else(|| FoldError::LevelId(text.to_owned()))?;
        keep.push(sync::compare(Some(id), ">", last.map(i128::from))?);
    }
    Ok(())
}

impl Book {
    /// An empty, invalid book under `rule`; `sync_only`: keep no levels when the rule
    /// decides on update ids alone.
    pub fn new(rule: Rule, sync_only: bool) -> Book {
        Book {
            rule,
            keeps_levels: !(sync_only && rule.ids_suffice()),
            bids: Side::new(true),
            asks: Side::new(false),
            pos: Position::default(),
            counts: Counts::default(),
            buffer: VecDeque::new(),
            tickers: VecDeque::new(),
            spare_tickers: Vec::new(),
        }
    }

    /// The book a checkpoint describes (its levels are loaded as a snapshot's are).
    pub fn restore<L: LevelIn>(
        rule: Rule,
        sync_only: bool,
        bids: &[L],
        asks: &[L],
        saved: Saved,
    ) -> Book {
        let mut b = Book::new(rule, sync_only);
        b.load_levels(bids, asks);
        b.pos = saved.pos;
        b.counts = saved.counts;
        b.buffer = saved.buffer.into();
        b.tickers = saved.tickers.into();
        b
    }

    // -- reads -----------------------------------------------------------------------

    pub fn rule(&self) -> Rule {
        self.rule
    }
    pub fn keeps_levels(&self) -> bool {
        self.keeps_levels
    }
    pub fn position(&self) -> &Position {
        &self.pos
    }
    pub fn counts(&self) -> &Counts {
        &self.counts
    }
    pub fn bids(&self) -> &Side {
        &self.bids
    }
    pub fn asks(&self) -> &Side {
        &self.asks
    }
    /// Deltas held while waiting for a snapshot, oldest first.
    pub fn buffer(&self) -> &VecDeque<OwnedDelta> {
        &self.buffer
    }
    /// Book tickers ahead of the book, in arrival order.
    pub fn tickers(&self) -> &VecDeque<Ticker<String>> {
        &self.tickers
    }
    /// Has deltas (or had a Gap) but no valid sync: fetch a snapshot or resubscribe.
    pub fn needs_snapshot(&self) -> bool {
        !self.pos.valid && (self.pos.seen_delta || self.counts.gaps > 0)
    }

    /// OKX's CRC32 (signed) of the top 25 levels: `bid:size:ask:size` interleaved, joined by `:`.
    pub fn okx_checksum(&self) -> i64 {
        let mut text = String::with_capacity(1024);
        let (mut b, mut a) = (self.bids.iter().take(25), self.asks.iter().take(25));
        loop {
            let (x, y) = (b.next(), a.next());
            if x.is_none() && y.is_none() {
                break;
            }
            for lv in [x, y].into_iter().flatten() {
                if !text.is_empty() {
                    text.push(':');
                }
                text.push_str(&lv.price);
                text.push(':');
                text.push_str(&lv.size);
            }
        }
        i64::from(crc32fast::hash(text.as_bytes()) as i32)
    }

    // -- folds -----------------------------------------------------------------------

    /// Fold a snapshot (and replay the buffer); findings pushed onto `found`.
    pub fn apply_snapshot<L: LevelIn>(
        &mut self,
        s: &Snapshot<'_, L>,
        found: &mut Vec<Finding>,
    ) -> Result<(), FoldError> {
        let bad = self.on_snapshot(s, found)?;
        if bad > 0 {
            found.push(Finding::Rejected(bad));
        }
        if let Some((tb, ta)) = s.totals {
            self.check_totals(s, tb, ta, found)?;
        }
        if self.pos.valid && self.became_crossed() {
            self.push_crossed(found);
        }
        Ok(())
    }

    /// Fold a delta through the rule; findings pushed onto `found`.
    pub fn apply_delta<D: DeltaEvent>(
        &mut self,
        d: &D,
        found: &mut Vec<Finding>,
    ) -> Result<(), FoldError> {
        let bad = self.on_delta(d, found)?;
        if bad > 0 {
            found.push(Finding::Rejected(bad));
        }
        if self.pos.valid {
            if self.became_crossed() {
                self.push_crossed(found);
            }
            if !self.tickers.is_empty() {
                self.resolve_tickers(found)?;
            }
        } else {
            self.tickers.clear();
        }
        Ok(())
    }

    /// Check a book ticker against the book at its update id: now when the book is there,
    /// later ([`Book::apply_delta`]) when it is ahead. Other tickers change nothing.
    pub fn apply_ticker<S: AsRef<str>>(
        &mut self,
        t: &Ticker<S>,
        found: &mut Vec<Finding>,
    ) -> Result<(), FoldError> {
        let Some(u) = t.update_id else { return Ok(()) };
        if !(self.pos.valid && self.rule.ticker_update_id) {
            return Ok(());
        }
        let last = self.pos.last_id;
        if sync::compare(Some(i128::from(u)), ">", last.map(i128::from))? {
            // the oldest one out first (at the limit), its strings reused
            let old = if self.tickers.len() >= PENDING_TICKERS {
                self.tickers.pop_front()
            } else {
                self.spare_tickers.pop()
            };
            let kept = match old {
                Some(mut k) => {
                    for (dst, src) in [
                        (&mut k.bid_px, &t.bid_px),
                        (&mut k.bid_sz, &t.bid_sz),
                        (&mut k.ask_px, &t.ask_px),
                        (&mut k.ask_sz, &t.ask_sz),
                    ] {
                        dst.clear();
                        dst.push_str(src.as_ref());
                    }
                    k.seq = t.seq;
                    k.update_id = t.update_id;
                    k
                }
                None => Ticker {
                    seq: t.seq,
                    bid_px: t.bid_px.as_ref().to_owned(),
                    bid_sz: t.bid_sz.as_ref().to_owned(),
                    ask_px: t.ask_px.as_ref().to_owned(),
                    ask_sz: t.ask_sz.as_ref().to_owned(),
                    update_id: t.update_id,
                },
            };
            self.tickers.push_back(kept);
        } else if Some(u) == last {
            check_ticker(&self.bids, &self.asks, &mut self.counts, t, found)?;
        }
        Ok(())
    }

    // -- the driver: every rule the same way -------------------------------------------

    fn on_delta<D: DeltaEvent>(
        &mut self,
        d: &D,
        found: &mut Vec<Finding>,
    ) -> Result<u32, FoldError> {
        self.pos.seen_delta = true;
        if self.pos.mode == Mode::Partial {
            // A diff stream beside the partial one (Binance `depth` and `depth20` of one
            // symbol): the diffs own the book from now on, and the pictures never sync it.
            // Their ids are no position of the diff stream, so the book starts again as one
            // that has had no snapshot yet (no Gap: nothing broke) and waits for its own.
            self.invalidate();
            self.pos.last_id = None;
        }
        self.pos.mode = Mode::Diff;
        let Some(check) = self.rule.check else {
            return Ok(0);
        };
        if !self.pos.valid {
            if self.rule.rest_synced {
                if self.buffer.len() >= BUFFER_LIMIT {
                    self.buffer.pop_front();
                }
                self.buffer.push_back(d.to_owned_delta());
            } else {
                self.counts.stale += 1;
            }
            return Ok(0);
        }
        match sync::judge(check, self.pos.last_id, self.pos.pending, d.ids())? {
            Verdict::Apply => {
                let bad = self.apply(d)?;
                if let Some(sum) = d.checksum() {
                    self.verify(d.stamp(), sum, found);
                }
                Ok(bad)
            }
            Verdict::Stale => {
                self.counts.stale += 1;
                Ok(0)
            }
            Verdict::Gap { expected, got } => {
                self.gap(d.stamp(), expected, got, GapReason::Sequence, found);
                self.invalidate();
                if self.rule.rest_synced {
                    self.buffer.clear();
                    self.buffer.push_back(d.to_owned_delta());
                }
                Ok(0)
            }
        }
    }

    fn on_snapshot<L: LevelIn>(
        &mut self,
        s: &Snapshot<'_, L>,
        found: &mut Vec<Finding>,
    ) -> Result<u32, FoldError> {
        if s.depth.is_some() && self.pos.mode == Mode::Diff {
            return Ok(0); // a partial picture never overwrites a diff-synced book
        }
        if s.depth.is_some() {
            self.pos.mode = Mode::Partial;
        } else if self.pos.mode != Mode::Diff {
            self.pos.mode = if self.rule.snapshots_only {
                Mode::Snapshot
            } else {
                Mode::Diff
            };
        }
        let mut bad = self.load_levels(s.bids, s.asks);
        self.pos.last_id = s.update_id;
        self.pos.valid = true;
        self.pos.seq = s.stamp.seq;
        self.pos.ts_ns = s.stamp.recv_ts_ns;
        self.counts.updates += 1;
        self.pos.pending = self.rule.rest_synced && s.depth.is_none();
        if let Some(sum) = s.checksum {
            self.verify(s.stamp, sum, found);
        }
        let (Some(check), true, Some(_)) =
            (self.rule.check, self.rule.rest_synced, self.pos.last_id)
        else {
            self.buffer.clear();
            return Ok(bad);
        };
        let buffered = std::mem::take(&mut self.buffer);
        for (i, d) in buffered.iter().enumerate() {
            match sync::judge(check, self.pos.last_id, self.pos.pending, d.ids)? {
                Verdict::Stale => {}
                Verdict::Apply => bad += self.apply(d)?,
                Verdict::Gap { expected, got } => {
                    // The snapshot predates the buffered stream (or the stream broke): wait for another.
                    let reason = if self.pos.pending {
                        GapReason::StaleSnapshot
                    } else {
                        GapReason::Sequence
                    };
                    self.gap(d.stamp, expected, got, reason, found);
                    self.invalidate();
                    self.buffer = buffered.into_iter().skip(i).collect();
                    break;
                }
            }
        }
        Ok(bad)
    }

    /// Apply a delta the rule accepted: its levels (KuCoin's, only those newer than the book).
    fn apply<D: DeltaEvent>(&mut self, d: &D) -> Result<u32, FoldError> {
        let mut bad = 0;
        if self.rule.level_ids {
            let mut keep = Vec::with_capacity(d.bids().len() + d.asks().len());
            level_ids(d.bids(), self.pos.last_id, &mut keep)?;
            level_ids(d.asks(), self.pos.last_id, &mut keep)?;
            if self.keeps_levels {
                let (kb, ka) = keep.split_at(d.bids().len());
                bad = self.bids.apply(kept(d.bids(), kb)) + self.asks.apply(kept(d.asks(), ka));
            }
        } else if self.keeps_levels {
            bad = self
                .bids
                .apply(d.bids().iter().map(|l| (l.price(), l.size())))
                + self
                    .asks
                    .apply(d.asks().iter().map(|l| (l.price(), l.size())));
        }
        let (ids, stamp) = (d.ids(), d.stamp());
        self.pos.last_id = ids.last;
        self.pos.pending = false;
        self.counts.updates += 1;
        self.pos.seq = stamp.seq;
        self.pos.ts_ns = stamp.recv_ts_ns;
        Ok(bad)
    }

    /// Replace both sides; returns how many levels had an unusable price or size.
    fn load_levels<L: LevelIn>(&mut self, bids: &[L], asks: &[L]) -> u32 {
        self.clear();
        if !self.keeps_levels {
            return 0;
        }
        self.bids.apply(bids.iter().map(|l| (l.price(), l.size())))
            + self.asks.apply(asks.iter().map(|l| (l.price(), l.size())))
    }

    fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
        self.pos.crossed = false;
    }

    fn invalidate(&mut self) {
        self.pos.valid = false;
        self.pos.pending = false;
        self.clear();
    }

    fn gap(
        &mut self,
        stamp: Stamp,
        expected: Option<i128>,
        got: Option<i128>,
        reason: GapReason,
        found: &mut Vec<Finding>,
    ) {
        self.counts.gaps += 1;
        found.push(Finding::Gap(Gap {
            stamp,
            expected,
            got,
            reason,
        }));
    }

    /// OKX: the CRC32 of the top 25 levels must equal the frame's checksum.
    fn verify(&mut self, stamp: Stamp, checksum: i64, found: &mut Vec<Finding>) {
        if !self.pos.valid {
            return;
        }
        let got = self.okx_checksum();
        if got == checksum {
            self.counts.checksum_ok += 1;
            return;
        }
        self.counts.checksum_bad += 1;
        self.gap(
            stamp,
            Some(i128::from(checksum)),
            Some(i128::from(got)),
            GapReason::Checksum,
            found,
        );
        self.invalidate();
    }

    // -- findings --------------------------------------------------------------------

    /// Update `crossed`; true when the book just became crossed.
    fn became_crossed(&mut self) -> bool {
        let crossed = match (self.bids.best(), self.asks.best()) {
            (Some((b, _)), Some((a, _))) => b >= a,
            _ => false,
        };
        let became = crossed && !self.pos.crossed;
        self.pos.crossed = crossed;
        became
    }

    fn push_crossed(&self, found: &mut Vec<Finding>) {
        let text = |lv: Option<(Price, &Level)>| {
            lv.and_then(|(_, l)| crate::price::decimal_str(&l.price))
                .unwrap_or_default()
        };
        found.push(Finding::Crossed {
            bid: text(self.bids.best()),
            ask: text(self.asks.best()),
        });
    }

    /// Upbit: the sizes of the snapshot's levels (all of them, as sent) summed exactly,
    /// against its totals; Python's order of evaluation (and so of what it raised on).
    fn check_totals<L: LevelIn>(
        &self,
        s: &Snapshot<'_, L>,
        tb: &str,
        ta: &str,
        found: &mut Vec<Finding>,
    ) -> Result<(), FoldError> {
        let sum = |levels: &[L]| -> Result<Decimal, FoldError> {
            let mut total = Decimal::Finite(decimal::Finite {
                neg: false,
                coeff: Vec::new(),
                exp: 0,
            });
            for lv in levels {
                total = total.add(&number(lv.size())?)?;
            }
            Ok(total)
        };
        let (sb, sa) = (sum(s.bids)?, sum(s.asks)?);
        let differ = !sb.py_eq(&number(tb)?)? || !sa.py_eq(&number(ta)?)?;
        if differ {
            found.push(Finding::TotalMismatch {
                bids: sb.sci_string(),
                asks: sa.sci_string(),
            });
        }
        Ok(())
    }

    fn resolve_tickers(&mut self, found: &mut Vec<Finding>) -> Result<(), FoldError> {
        let last = self.pos.last_id;
        let mut done = 0;
        // in arrival order, up to the first one still ahead of the book
        while let Some(t) = self.tickers.get(done) {
            let u = t.update_id;
            if sync::compare(u.map(i128::from), ">", last.map(i128::from))? {
                break;
            }
            if u == last {
                // on an error the tickers stay, as Python's did
                check_ticker(&self.bids, &self.asks, &mut self.counts, t, found)?;
            }
            done += 1;
        }
        for t in self.tickers.drain(..done) {
            if self.spare_tickers.len() < SPARE_TICKERS {
                self.spare_tickers.push(t);
            }
        }
        Ok(())
    }
}

/// Removed book tickers kept for their strings' reuse.
const SPARE_TICKERS: usize = PENDING_TICKERS;

/// Whether the book's best level (its key and strings) is the ticker's price and size.
/// Python compared `Decimal`s, reading the ticker's strings first (what it raised on); two
/// positive plain numbers compare as their keys do, anything else is read as Python read it.
fn same_level(lv: Option<&(Price, &Level)>, px: &str, sz: &str) -> Result<bool, FoldError> {
    if let (Some(kp), Some(ks)) = (Price::parse(px), Price::parse(sz)) {
        let Some((key, lv)) = lv else {
            return Ok(false);
        };
        if let Some(size) = Price::parse(&lv.size) {
            return Ok(*key == kp && size == ks);
        }
    }
    let (px, sz) = (number(px)?, number(sz)?);
    let Some((_, lv)) = lv else { return Ok(false) };
    Ok(number(&lv.price)?.py_eq(&px)? && number(&lv.size)?.py_eq(&sz)?)
}

/// Check a book ticker against the book's best levels (`ticker_ok`, else `ticker_bad` and a
/// finding).
fn check_ticker<S: AsRef<str>>(
    bids: &Side,
    asks: &Side,
    counts: &mut Counts,
    t: &Ticker<S>,
    found: &mut Vec<Finding>,
) -> Result<(), FoldError> {
    let (bb, ba) = (bids.best(), asks.best());
    if same_level(bb.as_ref(), t.bid_px.as_ref(), t.bid_sz.as_ref())?
        && same_level(ba.as_ref(), t.ask_px.as_ref(), t.ask_sz.as_ref())?
    {
        counts.ticker_ok += 1;
        return Ok(());
    }
    counts.ticker_bad += 1;
    let level = |lv: &Option<(Price, &Level)>| match lv {
        None => "None".to_owned(),
        Some((_, l)) => format!(
            "(Decimal('{}'), Decimal('{}'))",
            dec_str(&l.price),
            dec_str(&l.size)
        ),
    };
    let u = t
        .update_id
        .map_or_else(|| "None".to_owned(), |u| u.to_string());
    let detail = format!(
        "u {u} (ticker seq {}): book {} {}, ticker {}/{} {}/{}",
        t.seq,
        level(&bb),
        level(&ba),
        t.bid_px.as_ref(),
        t.bid_sz.as_ref(),
        t.ask_px.as_ref(),
        t.ask_sz.as_ref()
    );
    found.push(Finding::TickerMismatch { detail });
    Ok(())
}

fn number(s: &str) -> Result<Decimal, FoldError> {
    decimal::parse(s).ok_or_else(|| FoldError::Number(NumError::Syntax(s.to_owned())))
}

fn dec_str(s: &str) -> String {
    crate::price::decimal_str(s).unwrap_or_default()
}
