//! One side of a book: price string -> size string, ordered best first by the exact price.
//!
//! Levels are kept in a B-tree by [`Price`] key, so the best level is the tree's first or last
//! (O(log n)), the top N a walk from it (O(N)), and a removal is immediate (nothing stale to
//! skip or sweep later). The strings are kept exactly as the venue sent them: OKX's checksum
//! and `raw_levels` are made of them. Two spellings of one value are one level: the newest
//! string replaces the old one, with its size.

use std::collections::BTreeMap;

use crate::price::{size_zero, Price};

/// A level as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Level {
    pub price: String,
    pub size: String,
}

/// One side: bids (`desc`: best is highest) or asks (best is lowest).
#[derive(Clone, Debug)]
pub struct Side {
    desc: bool,
    levels: BTreeMap<Price, Level>,
    /// Levels removed lately, their strings' buffers reused by the next new levels (a
    /// venue's book removes and adds levels at about the same rate).
    spare: Vec<Level>,
}

/// Removed levels kept for reuse, per side.
const SPARE: usize = 64;

/// `dst` made `src` in place (its buffer reused when large enough).
fn assign(dst: &mut String, src: &str) {
    dst.clear();
    dst.push_str(src);
}

/// Levels best first (a B-tree walked forward for asks, backward for bids).
pub enum Iter<'a> {
    Up(std::collections::btree_map::Values<'a, Price, Level>),
    Down(std::iter::Rev<std::collections::btree_map::Values<'a, Price, Level>>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a Level;

    fn next(&mut self) -> Option<&'a Level> {
        match self {
            Iter::Up(it) => it.next(),
            Iter::Down(it) => it.next(),
        }
    }
}

impl Side {
    /// An empty side; `desc`: a bid side (best = highest).
    pub fn new(desc: bool) -> Side {
        Side {
            desc,
            levels: BTreeMap::new(),
            spare: Vec::new(),
        }
    }

    /// Set absolute sizes in order (size 0 removes the level); returns how many levels were
    /// rejected: each one whose size is not ASCII digits with at most one dot, and each
    /// distinct price string of the call that is not a positive finite number (Python's book
    /// counted a bad new price once per update however often it came).
    pub fn apply<'s, I>(&mut self, levels: I) -> u32
    where
        I: IntoIterator<Item = (&'s str, &'s str)>,
    {
        let mut bad = 0;
        let mut bad_prices: Vec<&str> = Vec::new();
        for (p, q) in levels {
            let Some(zero) = size_zero(q) else {
                bad += 1;
                continue;
            };
            let Some(key) = Price::parse(p) else {
                if !bad_prices.contains(&p) {
                    bad_prices.push(p);
                    bad += 1;
                }
                continue;
            };
            if zero {
                self.remove(&key);
            } else {
                self.set(key, p, q);
            }
        }
        bad
    }

    fn remove(&mut self, key: &Price) {
        if let Some(lv) = self.levels.remove(key) {
            if self.spare.len() < SPARE {
                self.spare.push(lv);
            }
        }
    }

    fn set(&mut self, key: Price, p: &str, q: &str) {
        match self.levels.entry(key) {
            std::collections::btree_map::Entry::Occupied(mut e) => {
                let lv = e.get_mut();
                if lv.price != p {
                    assign(&mut lv.price, p);
                }
                assign(&mut lv.size, q);
            }
            std::collections::btree_map::Entry::Vacant(e) => {
                let lv = match self.spare.pop() {
                    Some(mut lv) => {
                        assign(&mut lv.price, p);
                        assign(&mut lv.size, q);
                        lv
                    }
                    None => Level {
                        price: p.to_owned(),
                        size: q.to_owned(),
                    },
                };
                e.insert(lv);
            }
        }
    }

    /// Drop every level.
    pub fn clear(&mut self) {
        self.levels.clear();
        self.spare = Vec::new();
    }

    /// The best level and its key (highest bid, lowest ask), or None when empty.
    pub fn best(&self) -> Option<(&Price, &Level)> {
        if self.desc {
            self.levels.last_key_value()
        } else {
            self.levels.first_key_value()
        }
    }

    /// Every level, best first; `.take(n)` is the top N in O(N).
    pub fn iter(&self) -> Iter<'_> {
        if self.desc {
            Iter::Down(self.levels.values().rev())
        } else {
            Iter::Up(self.levels.values())
        }
    }

    /// Live levels (every level kept has a size > 0).
    pub fn len(&self) -> usize {
        self.levels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prices(s: &Side) -> Vec<&str> {
        s.iter().map(|l| l.price.as_str()).collect()
    }

    #[test]
    fn set_remove_and_order() {
        let (mut bids, mut asks) = (Side::new(true), Side::new(false));
        assert_eq!(
            bids.apply([("10.0", "1"), ("9.5", "2"), ("9", "3"), ("8", "4")]),
            0
        );
        assert_eq!(asks.apply([("11", "1"), ("12.5", "2")]), 0);
        bids.apply([("10.0", "0.000"), ("9.75", "5")]);
        asks.apply([("11", "0"), ("10.5", "1")]);
        assert_eq!(prices(&bids), ["9.75", "9.5", "9", "8"]);
        assert_eq!(prices(&asks), ["10.5", "12.5"]);
        assert_eq!(bids.best().unwrap().1.price, "9.75");
        bids.apply([("7", "0")]); // removing an absent level is normal
        assert_eq!(bids.len(), 4);
    }

    #[test]
    fn two_spellings_are_one_level_the_newest_string_kept() {
        let mut s = Side::new(true);
        s.apply([("100.50", "1")]);
        s.apply([("100.5", "2")]);
        assert_eq!(
            s.iter().cloned().collect::<Vec<_>>(),
            [Level {
                price: "100.5".into(),
                size: "2".into()
            }]
        );
        s.apply([("100.50", "0")]);
        assert!(s.is_empty());
    }

    #[test]
    fn bad_levels_are_counted_a_bad_price_once_per_call() {
        let mut s = Side::new(true);
        assert_eq!(
            s.apply([
                ("-1", "1"),
                ("abc", "1"),
                ("abc", "2"),
                ("NaN", "1"),
                ("5", "-2"),
                ("4", "1")
            ]),
            4
        );
        assert_eq!(
            s.apply([
                ("5", "1"),
                ("4", "NaN"),
                ("3", "1.2.3"),
                ("2", "²"),
                ("1", "0.5")
            ]),
            3
        );
        assert_eq!(prices(&s), ["5", "4", "1"]);
    }
}
