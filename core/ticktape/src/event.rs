//! Exchange-neutral events as the core's decoders produce them: the Rust side of
//! `state.events`, borrowing their strings from the frame they were decoded from.
//!
//! Prices and sizes stay the venue's decimal strings, exactly as sent. Names are the
//! venue's native symbol; the fold resolves the symbol key and the normalized name
//! (`state.symbols`) once per symbol. Times are integer nanoseconds (0 when the venue
//! sent none); the record's own seq and receive time travel beside the events.

use std::borrow::Cow;

/// A string of the frame (borrowed), or owned where JSON escapes had to be undone.
pub type Str<'a> = Cow<'a, str>;

/// One price level as sent: price and size strings, and KuCoin's own sequence of the
/// level where the venue sends one (`state.events.Level` is then a 3-tuple).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level<'a> {
    pub price: Str<'a>,
    pub size: Str<'a>,
    pub seq: Option<Str<'a>>,
}

impl<'a> Level<'a> {
    /// A (price, size) level.
    pub fn new(price: Str<'a>, size: Str<'a>) -> Self {
        Level {
            price,
            size,
            seq: None,
        }
    }
}

/// A trade's taker side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Buy,
    Sell,
    Unknown,
}

impl Side {
    /// As `state.events.Trade.side` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
            Side::Unknown => "",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trade<'a> {
    pub symbol: Str<'a>,
    pub exch_ts_ns: i64,
    pub price: Str<'a>,
    pub size: Str<'a>,
    pub side: Side,
    pub trade_id: String,
    pub ordinal: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BookTicker<'a> {
    pub symbol: Str<'a>,
    pub exch_ts_ns: i64,
    pub bid_px: Str<'a>,
    pub bid_sz: Str<'a>,
    pub ask_px: Str<'a>,
    pub ask_sz: Str<'a>,
    pub update_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BookDelta<'a> {
    pub symbol: Str<'a>,
    pub exch_ts_ns: i64,
    pub bids: Vec<Level<'a>>,
    pub asks: Vec<Level<'a>>,
    pub first_id: Option<i64>,
    pub last_id: Option<i64>,
    pub prev_id: Option<i64>,
    pub checksum: Option<i64>,
}

impl<'a> BookDelta<'a> {
    /// The same levels as a WebSocket snapshot at the delta's last id, for a venue whose
    /// depth frame is a snapshot or a delta by a flag (Binance's partial depth, Bybit,
    /// Phemex).
    pub fn into_ws_snapshot(self, depth: Option<i64>) -> BookSnapshot<'a> {
        BookSnapshot {
            symbol: self.symbol,
            exch_ts_ns: self.exch_ts_ns,
            bids: self.bids,
            asks: self.asks,
            update_id: self.last_id,
            depth,
            checksum: self.checksum,
            totals: None,
            source: Source::Ws,
        }
    }
}

/// Where a snapshot came from (`state.events.BookSnapshot.source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Ws,
    Rest,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Ws => "ws",
            Source::Rest => "rest",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct BookSnapshot<'a> {
    pub symbol: Str<'a>,
    pub exch_ts_ns: i64,
    pub bids: Vec<Level<'a>>,
    pub asks: Vec<Level<'a>>,
    pub update_id: Option<i64>,
    pub depth: Option<i64>,
    pub checksum: Option<i64>,
    pub totals: Option<(Str<'a>, Str<'a>)>,
    pub source: Source,
}

/// 24h statistics, mark, index, funding: a field is None when the frame omitted it.
///
/// `prev_close`, `change` and `change_rate` are as the venue sends them, never derived:
/// Upbit's `prev_closing_price`, `signed_change_price`, `signed_change_rate` (a signed
/// fraction); Binance's spot `x`, `p` and `P` (per cent).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Ticker<'a> {
    pub symbol: Str<'a>,
    pub exch_ts_ns: i64,
    pub last: Option<Str<'a>>,
    pub bid: Option<Str<'a>>,
    pub ask: Option<Str<'a>>,
    pub open: Option<Str<'a>>,
    pub high: Option<Str<'a>>,
    pub low: Option<Str<'a>>,
    pub volume: Option<Str<'a>>,
    pub quote_volume: Option<Str<'a>>,
    pub mark: Option<Str<'a>>,
    pub index: Option<Str<'a>>,
    pub funding_rate: Option<Str<'a>>,
    pub prev_close: Option<Str<'a>>,
    pub change: Option<Str<'a>>,
    pub change_rate: Option<Str<'a>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Kline<'a> {
    pub symbol: Str<'a>,
    pub exch_ts_ns: i64,
    pub interval: Str<'a>,
    pub start_ns: i64,
    pub open: Str<'a>,
    pub high: Str<'a>,
    pub low: Str<'a>,
    pub close: Str<'a>,
    pub volume: Str<'a>,
    pub quote_volume: Option<Str<'a>>,
    pub closed: Option<bool>,
}

/// What a decoder makes of a frame: the events `state.events` names, less the ones only
/// the fold derives (Gap, Anomaly) and the quarantine (a decode failure is an `Err`).
#[derive(Debug, Clone, PartialEq)]
pub enum Event<'a> {
    Trade(Trade<'a>),
    BookTicker(BookTicker<'a>),
    BookDelta(BookDelta<'a>),
    BookSnapshot(BookSnapshot<'a>),
    Ticker(Ticker<'a>),
    Kline(Kline<'a>),
}
