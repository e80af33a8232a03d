//! Each venue's book sync rule, as one table, and the checks the rules make.
//!
//! A check answers, for a delta's update ids and the book's position, one of
//! [`Verdict::Apply`], [`Verdict::Stale`] (older than the book: dropped quietly) or
//! [`Verdict::Gap`] (continuity broken, with the id expected and the one got). [`RULES`] is the
//! table, one row per venue: its check and how the venue differs (resync by REST snapshot,
//! book tickers with the depth update id, levels with their own ids, full snapshots only, a
//! checksum of the levels). The book ([`crate::book::Book`]) drives every rule the same way.
//!
//! Ids are optional (a venue or an old frame may send none). Where Python's rules compared or
//! added an absent id they raised `TypeError`; the checks return the same [`IdError`], so a
//! caller can raise what Python raised.

/// Deltas a book keeps while waiting for a snapshot (REST-synced venues).
pub const BUFFER_LIMIT: usize = 5000;
/// Book tickers a book keeps while waiting for the depth stream to reach their update id.
pub const PENDING_TICKERS: usize = 256;

/// A venue's continuity check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Binance USD-M: the first delta after the snapshot has U <= lastUpdateId <= u; then
    /// pu == the last u (a frame without pu: U == last u + 1).
    BinanceFutures,
    /// Binance spot, Gate, KuCoin: u <= last is stale; U > last + 1 is a gap.
    NextRange,
    /// Bybit: each delta's u is the previous u + 1.
    PlusOne,
    /// OKX: prevSeqId == the last seqId when the venue sends them (2022 frames do not).
    Okx,
    /// Phemex: the sequence only grows.
    Increasing,
}

impl Check {
    /// The name Python's `state.sync.RULES` shows for it.
    pub fn name(self) -> &'static str {
        match self {
            Check::BinanceFutures => "binance_futures",
            Check::NextRange => "next_range",
            Check::PlusOne => "plus_one",
            Check::Okx => "okx",
            Check::Increasing => "increasing",
        }
    }
}

/// One venue's row of [`RULES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Rule {
    /// None: deltas are not applied.
    pub check: Option<Check>,
    /// Resynced by a REST snapshot: deltas are buffered until it comes.
    pub rest_synced: bool,
    /// Its book ticker carries the depth update id (Binance u).
    pub ticker_update_id: bool,
    /// Each level carries its own update id (KuCoin): the first delta after a snapshot may
    /// hold changes the snapshot already has.
    pub level_ids: bool,
    /// The venue sends full books, never deltas (Upbit).
    pub snapshots_only: bool,
    /// Its books carry a checksum of their top levels (OKX): sync reads the levels.
    pub checksum: bool,
}

const fn rule(check: Check) -> Rule {
    Rule {
        check: Some(check),
        rest_synced: false,
        ticker_update_id: false,
        level_ids: false,
        snapshots_only: false,
        checksum: false,
    }
}

/// Every venue's rule.
pub const RULES: [(&str, Rule); 8] = [
    (
        "binance-usdm",
        Rule {
            rest_synced: true,
            ticker_update_id: true,
            ..rule(Check::BinanceFutures)
        },
    ),
    (
        "binance-spot",
        Rule {
            rest_synced: true,
            ticker_update_id: true,
            ..rule(Check::NextRange)
        },
    ),
    (
        "gate",
        Rule {
            rest_synced: true,
            ..rule(Check::NextRange)
        },
    ),
    (
        "kucoin",
        Rule {
            rest_synced: true,
            level_ids: true,
            ..rule(Check::NextRange)
        },
    ),
    ("bybit", rule(Check::PlusOne)),
    (
        "okx",
        Rule {
            checksum: true,
            ..rule(Check::Okx)
        },
    ),
    ("phemex", rule(Check::Increasing)),
    (
        "upbit",
        Rule {
            check: None,
            rest_synced: false,
            ticker_update_id: false,
            level_ids: false,
            snapshots_only: true,
            checksum: false,
        },
    ),
];

/// The row of `name`; a venue without one applies nothing and buffers nothing.
pub fn rule_of(name: &str) -> Rule {
    RULES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, r)| *r)
        .unwrap_or_default()
}

impl Rule {
    /// The rule decides on update ids alone (every venue but a checksummed one): a sync-only
    /// book may keep no levels and still find the same Gaps.
    pub fn ids_suffice(&self) -> bool {
        !self.checksum
    }
}

/// What a check says of a delta.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Apply,
    Stale,
    Gap {
        expected: Option<i128>,
        got: Option<i128>,
    },
}

/// An absent id compared or added: Python's `TypeError`, with its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdError(pub String);

/// A delta's update ids.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ids {
    pub first: Option<i64>,
    pub last: Option<i64>,
    pub prev: Option<i64>,
}

fn type_name(v: Option<i128>) -> &'static str {
    if v.is_some() {
        "int"
    } else {
        "NoneType"
    }
}

/// `a <op> b` as Python compares ints, raising on None.
pub fn compare(a: Option<i128>, op: &str, b: Option<i128>) -> Result<bool, IdError> {
    match (a, b) {
        (Some(a), Some(b)) => Ok(match op {
            "<" => a < b,
            "<=" => a <= b,
            ">" => a > b,
            _ => a >= b,
        }),
        _ => Err(IdError(format!(
            "'{op}' not supported between instances of '{}' and '{}'",
            type_name(a),
            type_name(b)
        ))),
    }
}

/// `v + 1`, raising on None.
pub fn plus_one(v: Option<i64>) -> Result<i128, IdError> {
    v.map(|v| i128::from(v) + 1)
        .ok_or_else(|| IdError("unsupported operand type(s) for +: 'NoneType' and 'int'".into()))
}

fn wide(v: Option<i64>) -> Option<i128> {
    v.map(i128::from)
}

/// Judge a delta with ids `d` against a book at `last` (`pending`: a REST snapshot is loaded
/// and no delta has bracketed it yet). Each arm is Python's rule, evaluated in its order.
pub fn judge(check: Check, last: Option<i64>, pending: bool, d: Ids) -> Result<Verdict, IdError> {
    use Verdict::*;
    let gap = |expected, got| Gap { expected, got };
    Ok(match check {
        Check::BinanceFutures => {
            if pending {
                if compare(wide(d.last), "<", wide(last))? {
                    Stale
                } else if compare(wide(d.first), "<=", wide(last))? {
                    Apply
                } else {
                    gap(wide(last), wide(d.first))
                }
            } else if d.prev == last || (d.prev.is_none() && wide(d.first) == Some(plus_one(last)?))
            {
                Apply // a frame without pu: U == last u + 1
            } else {
                gap(wide(last), wide(d.prev))
            }
        }
        Check::NextRange => {
            if compare(wide(d.last), "<=", wide(last))? {
                Stale
            } else {
                let next = plus_one(last)?;
                if compare(wide(d.first), ">", Some(next))? {
                    gap(Some(next), wide(d.first))
                } else {
                    Apply
                }
            }
        }
        Check::PlusOne => {
            let next = plus_one(last)?;
            if wide(d.last) == Some(next) {
                Apply
            } else if compare(wide(d.last), "<=", wide(last))? {
                Stale
            } else {
                gap(Some(next), wide(d.last))
            }
        }
        Check::Okx => {
            if d.prev.is_none() || last.is_none() || d.prev == last {
                Apply
            } else {
                gap(wide(last), wide(d.prev))
            }
        }
        Check::Increasing => {
            if last.is_none() || compare(wide(d.last), ">", wide(last))? {
                Apply
            } else {
                gap(Some(plus_one(last)?), wide(d.last))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(first: Option<i64>, last: Option<i64>, prev: Option<i64>) -> Ids {
        Ids { first, last, prev }
    }

    #[test]
    fn the_table() {
        let names = |f: fn(&Rule) -> bool| {
            RULES
                .iter()
                .filter(|(_, r)| f(r))
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(|r| r.rest_synced),
            ["binance-usdm", "binance-spot", "gate", "kucoin"]
        );
        assert_eq!(
            names(|r| r.ticker_update_id),
            ["binance-usdm", "binance-spot"]
        );
        assert_eq!(names(|r| !r.ids_suffice()), ["okx"]);
        assert_eq!(rule_of("no-such-venue"), Rule::default());
    }

    #[test]
    fn absent_ids_raise_what_python_raised() {
        let e = judge(Check::NextRange, None, false, ids(Some(1), Some(2), None)).unwrap_err();
        assert_eq!(
            e.0,
            "'<=' not supported between instances of 'int' and 'NoneType'"
        );
        let e = judge(Check::PlusOne, None, false, ids(None, Some(2), None)).unwrap_err();
        assert_eq!(
            e.0,
            "unsupported operand type(s) for +: 'NoneType' and 'int'"
        );
        // OKX and Phemex take a book without an id
        assert_eq!(
            judge(Check::Okx, None, false, ids(None, None, Some(3))),
            Ok(Verdict::Apply)
        );
        assert_eq!(
            judge(Check::Increasing, None, false, ids(None, None, None)),
            Ok(Verdict::Apply)
        );
    }

    #[test]
    fn ids_at_the_ends_of_int64_do_not_overflow() {
        let v = judge(
            Check::PlusOne,
            Some(i64::MAX),
            false,
            ids(None, Some(1), None),
        );
        assert_eq!(v, Ok(Verdict::Stale));
        let v = judge(
            Check::Increasing,
            Some(i64::MAX),
            false,
            ids(None, Some(i64::MAX), None),
        );
        assert_eq!(
            v,
            Ok(Verdict::Gap {
                expected: Some(i128::from(i64::MAX) + 1),
                got: Some(i128::from(i64::MAX))
            })
        );
    }
}
