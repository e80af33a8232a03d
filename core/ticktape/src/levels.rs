//! One side of a book: price string -> size string, ordered best first by the exact price.
//!
//! Levels sit in slots (a `Vec`), found by their [`Price`] key through a hash index, so a
//! level whose size changes, most of a venue's diff, is one lookup, no tree walk; the order
//! is a B-tree of key -> slot, touched only when a level comes or goes. The usual key is
//! one integer ([`Price::plain`]): index and tree hold those; the rare key with more than 19
//! significant digits has a tree of its own, merged into the order when read. The best
//! level is a tree's first or last (O(log n)), the top N a walk from it (O(N)), and a
//! removal is immediate (nothing stale to skip or sweep later). A removed level's slot,
//! strings and all, is reused by the next new level. The strings are kept exactly as the
//! venue sent them: OKX's checksum and `raw_levels` are made of them. Two spellings of one
//! value are one level: the newest string replaces the old one, with its size.

use std::cmp::Ordering;
use std::collections::hash_map::Entry;
use std::collections::{btree_map, BTreeMap, HashMap};
use std::iter::Peekable;

use crate::price::{size_zero, Price, PriceHash};

/// A level as sent (one cache line: a change of the usual level touches nothing else).
#[derive(Clone, Debug, PartialEq, Eq)]
#[repr(align(64))]
pub struct Level {
    pub price: Text,
    pub size: Text,
}

/// Bytes a [`Text`] holds in place.
const INLINE: usize = 30;

/// A string as sent, held in place when short (the usual price or size: no allocation, no
/// pointer to follow), else on the heap. Read it as a `str` (`Deref`, `as_str`).
#[derive(Clone)]
pub struct Text(Repr);

#[derive(Clone)]
enum Repr {
    Inline(u8, [u8; INLINE]),
    Heap(String),
}

impl Text {
    /// The bytes, unchecked (equal bytes are equal strings).
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline(n, b) => b.get(..usize::from(*n)).unwrap_or(&[]),
            Repr::Heap(s) => s.as_bytes(),
        }
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            // the bytes of a str, cut where it ended: always UTF-8
            Repr::Inline(n, b) => {
                std::str::from_utf8(b.get(..usize::from(*n)).unwrap_or(&[])).unwrap_or("")
            }
            Repr::Heap(s) => s,
        }
    }

    /// Made `s`, in place when it fits.
    pub fn set(&mut self, s: &str) {
        let b = s.as_bytes();
        if b.len() <= INLINE {
            if let Repr::Inline(n, buf) = &mut self.0 {
                buf[..b.len()].copy_from_slice(b);
                *n = b.len() as u8;
                return;
            }
            let mut buf = [0u8; INLINE];
            buf[..b.len()].copy_from_slice(b);
            self.0 = Repr::Inline(b.len() as u8, buf);
        } else if let Repr::Heap(h) = &mut self.0 {
            h.clear();
            h.push_str(s);
        } else {
            self.0 = Repr::Heap(s.to_owned());
        }
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        let mut t = Text(Repr::Inline(0, [0; INLINE]));
        t.set(s);
        t
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Text {}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One side: bids (`desc`: best is highest) or asks (best is lowest).
#[derive(Clone, Debug)]
pub struct Side {
    desc: bool,
    /// Plain key -> slot, in value order.
    order: BTreeMap<u128, u32>,
    /// Plain key -> slot, for the lookups of a change.
    index: HashMap<u128, u32, PriceHash>,
    /// The other keys -> slot, in value order (rarely any).
    long: BTreeMap<Price, u32>,
    /// The levels; a free slot's strings wait for reuse.
    slots: Vec<Level>,
    free: Vec<u32>,
}

/// `dst` made `src` in place.
fn assign(dst: &mut Text, src: &str) {
    dst.set(src);
}

/// A level's new size (and spelling, when another).
fn update(slots: &mut [Level], slot: u32, p: &str, q: &str) {
    if let Some(lv) = slots.get_mut(slot as usize) {
        if lv.price.as_bytes() != p.as_bytes() {
            assign(&mut lv.price, p);
        }
        assign(&mut lv.size, q);
    }
}

/// A slot for a new level: a free one (its strings' buffers reused), else a new one.
fn take_slot(slots: &mut Vec<Level>, free: &mut Vec<u32>, p: &str, q: &str) -> u32 {
    match free.pop() {
        Some(slot) => {
            if let Some(lv) = slots.get_mut(slot as usize) {
                assign(&mut lv.price, p);
                assign(&mut lv.size, q);
            }
            slot
        }
        None => {
            slots.push(Level {
                price: p.into(),
                size: q.into(),
            });
            // more levels than u32 slots cannot be held in memory anyway
            (slots.len() - 1) as u32
        }
    }
}

/// A tree walked best first.
enum Walk<I> {
    Up(I),
    Down(std::iter::Rev<I>),
}

impl<I: DoubleEndedIterator> Iterator for Walk<I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        match self {
            Walk::Up(it) => it.next(),
            Walk::Down(it) => it.next(),
        }
    }
}

fn walk<I: DoubleEndedIterator>(it: I, desc: bool) -> Walk<I> {
    if desc {
        Walk::Down(it.rev())
    } else {
        Walk::Up(it)
    }
}

/// Levels best first: the plain keys' tree, merged with the other keys' (when any).
pub struct Iter<'a> {
    slots: &'a [Level],
    desc: bool,
    plain: Peekable<Walk<btree_map::Iter<'a, u128, u32>>>,
    long: Peekable<Walk<btree_map::Iter<'a, Price, u32>>>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a Level;

    fn next(&mut self) -> Option<&'a Level> {
        let take_long = match (self.plain.peek(), self.long.peek()) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some((r, _)), Some((k, _))) => {
                let c = k.cmp_plain(**r);
                if self.desc {
                    c == Ordering::Greater
                } else {
                    c == Ordering::Less
                }
            }
        };
        let i = if take_long {
            self.long.next()?.1
        } else {
            self.plain.next()?.1
        };
        self.slots.get(*i as usize)
    }
}

impl Side {
    /// An empty side; `desc`: a bid side (best = highest).
    pub fn new(desc: bool) -> Side {
        Side {
            desc,
            order: BTreeMap::new(),
            index: HashMap::default(),
            long: BTreeMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
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
        let slot = match key.plain() {
            Some(r) => self.index.remove(&r).inspect(|_| {
                self.order.remove(&r);
            }),
            None => self.long.remove(key),
        };
        if let Some(slot) = slot {
            self.free.push(slot);
        }
    }

    fn set(&mut self, key: Price, p: &str, q: &str) {
        match key.plain() {
            Some(r) => match self.index.entry(r) {
                Entry::Occupied(e) => update(&mut self.slots, *e.get(), p, q),
                Entry::Vacant(e) => {
                    let slot = *e.insert(take_slot(&mut self.slots, &mut self.free, p, q));
                    self.order.insert(r, slot);
                }
            },
            None => match self.long.get(&key) {
                Some(&slot) => update(&mut self.slots, slot, p, q),
                None => {
                    let slot = take_slot(&mut self.slots, &mut self.free, p, q);
                    self.long.insert(key, slot);
                }
            },
        }
    }

    /// Drop every level.
    pub fn clear(&mut self) {
        self.order.clear();
        self.index.clear();
        self.long.clear();
        self.slots.clear();
        self.free.clear();
    }

    /// The best level and its key (highest bid, lowest ask), or None when empty.
    pub fn best(&self) -> Option<(Price, &Level)> {
        let (plain, long) = if self.desc {
            (self.order.last_key_value(), self.long.last_key_value())
        } else {
            (self.order.first_key_value(), self.long.first_key_value())
        };
        let (key, slot) = match (plain, long) {
            (None, None) => return None,
            (Some((r, i)), None) => (Price::from_plain(*r), i),
            (None, Some((k, i))) => (k.clone(), i),
            (Some((r, i)), Some((k, j))) => {
                let c = k.cmp_plain(*r);
                let long_first = if self.desc {
                    c == Ordering::Greater
                } else {
                    c == Ordering::Less
                };
                if long_first {
                    (k.clone(), j)
                } else {
                    (Price::from_plain(*r), i)
                }
            }
        };
        Some((key, self.slots.get(*slot as usize)?))
    }

    /// Every level, best first; `.take(n)` is the top N in O(N).
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            slots: &self.slots,
            desc: self.desc,
            plain: walk(self.order.iter(), self.desc).peekable(),
            long: walk(self.long.iter(), self.desc).peekable(),
        }
    }

    /// Live levels (every level kept has a size > 0).
    pub fn len(&self) -> usize {
        self.order.len() + self.long.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty() && self.long.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prices(s: &Side) -> Vec<&str> {
        s.iter().map(|l| l.price.as_str()).collect()
    }

    #[test]
    fn text_in_place_or_on_the_heap() {
        let long = "1".repeat(INLINE) + ".5";
        let mut t = Text::from("61000.5");
        assert_eq!(t.as_str(), "61000.5");
        for s in [
            long.as_str(),
            "7",
            "",
            long.as_str(),
            &long[..INLINE],
            "é²",
            "0.001",
        ] {
            t.set(s);
            assert_eq!(t.as_str(), s);
            assert_eq!(t, Text::from(s));
            assert_eq!(format!("{t}"), s);
        }
        assert_eq!(std::mem::size_of::<Level>(), 64);
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
