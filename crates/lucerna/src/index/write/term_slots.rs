//! The term table's hash index: open addressing with linear probing over
//! slots that hold a key's 32 hash bits, where the key lies in the term
//! table's arena, and its term id.
//!
//! A key's *home* slot is its hash's low bits; probing walks on from there
//! to the key or to an empty slot. The table is our own rather than a
//! general hash map because the term table interns a field's tokens as a
//! batch and, a few tokens ahead, touches the home slot of each next key
//! (and the arena bytes of the key found there): without it, most of the
//! time of interning was three cache misses per token in a row (the map's
//! control bytes, its slot, the key), measured in docs/benchmarks.md
//! ("Indexing: interning a field's tokens as a batch").
//!
//! Slots are 12 bytes and the table grows (doubling, rehashing from the
//! stored hash bits without reading a key) before it is three quarters
//! full.

use lucerna_store::hint::prefetch;

/// The id of an empty slot (no term has it: ids are below the number of
/// keys, and keys take at least two bytes of a 32-bit arena).
const EMPTY: u32 = u32::MAX;
/// Slots of a table's first allocation.
const MIN_SLOTS: usize = 256;

/// One slot: a key's hash bits, its place in the arena, its term id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    pub hash: u32,
    pub key: u32,
    pub id: u32,
}

const EMPTY_SLOT: Slot = Slot {
    hash: 0,
    key: 0,
    id: EMPTY,
};

/// An empty slot found for a key (see [`TermSlots::entry`]).
#[derive(Debug)]
pub(crate) struct Vacant(usize);

/// The index from a key's hash (and a test of the key itself) to its slot.
#[derive(Debug, Default)]
pub(crate) struct TermSlots {
    /// A power of two of slots, or none before the first insert.
    slots: Vec<Slot>,
    /// Slots in use.
    len: usize,
}

impl TermSlots {
    /// The slot index of hash `h` in a table of `slots` (a power of two).
    #[inline]
    fn home(h: u32, slots: usize) -> usize {
        h as usize & (slots - 1)
    }

    /// The id of the key with hash `h` for which `is_key` (given the key's
    /// arena position) holds.
    #[inline]
    pub fn find(&self, h: u32, is_key: impl Fn(u32) -> bool) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        self.probe(h, is_key).ok()
    }

    /// Walks from `h`'s home slot (there are slots, and an empty one) to
    /// the id of the key for which `is_key` holds, or to the index of the
    /// first empty slot.
    #[inline]
    fn probe(&self, h: u32, is_key: impl Fn(u32) -> bool) -> Result<u32, usize> {
        let n = self.slots.len();
        let mut i = Self::home(h, n);
        loop {
            let s = self.slots[i];
            if s.id == EMPTY {
                return Err(i);
            }
            if s.hash == h && is_key(s.key) {
                return Ok(s.id);
            }
            i = (i + 1) & (n - 1);
        }
    }

    /// The id of the key with hash `h` for which `is_key` holds, or the
    /// empty slot where it goes (there is room for it:
    /// [`fill`](Self::fill) it before the next call).
    #[inline]
    pub fn entry(&mut self, h: u32, is_key: impl Fn(u32) -> bool) -> Result<u32, Vacant> {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        self.probe(h, is_key).map_err(Vacant)
    }

    /// Puts the key with hash `h`, at arena position `key`, with term id
    /// `id` (below `u32::MAX`), in the slot [`entry`](Self::entry) found.
    #[inline]
    pub fn fill(&mut self, v: Vacant, h: u32, key: u32, id: u32) {
        debug_assert_ne!(id, EMPTY);
        self.slots[v.0] = Slot { hash: h, key, id };
        self.len += 1;
    }

    /// Hints that the home slot of hash `h` will be read soon.
    #[inline]
    pub fn prefetch(&self, h: u32) {
        if let Some(s) = self.slots.get(Self::home(h, self.slots.len().max(1))) {
            prefetch(s);
        }
    }

    /// The arena position held by the home slot of hash `h`, when that
    /// slot has the same hash bits (most likely the key's own).
    #[inline]
    pub fn home_key(&self, h: u32) -> Option<u32> {
        let s = self.slots.get(Self::home(h, self.slots.len().max(1)))?;
        (s.id != EMPTY && s.hash == h).then_some(s.key)
    }

    /// Keeps only the slots whose ids pass `keep`, rebuilding the table.
    pub fn retain(&mut self, keep: impl Fn(u32) -> bool) {
        let old = std::mem::take(&mut self.slots);
        self.slots = vec![EMPTY_SLOT; old.len()];
        self.len = 0;
        for s in old {
            if s.id != EMPTY && keep(s.id) {
                self.place(s);
            }
        }
    }

    /// Slots allocated.
    pub fn capacity(&self) -> usize {
        self.slots.capacity()
    }

    /// Doubles the slots (or makes the first ones) and puts every slot
    /// back, from its hash bits alone.
    #[cold]
    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(MIN_SLOTS);
        let old = std::mem::replace(&mut self.slots, vec![EMPTY_SLOT; size]);
        self.len = 0;
        for s in old {
            if s.id != EMPTY {
                self.place(s);
            }
        }
    }

    /// Puts `s` in the first empty slot from its home (its key is not in
    /// the table; there is room).
    fn place(&mut self, s: Slot) {
        let n = self.slots.len();
        let mut i = Self::home(s.hash, n);
        while self.slots[i].id != EMPTY {
            i = (i + 1) & (n - 1);
        }
        self.slots[i] = s;
        self.len += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lucerna_store::rng::SplitMix64;

    /// Against a model: keys that collide on their hash bits (only a few
    /// bits used) are told apart by the key test, every key is found after
    /// growth, retain drops exactly the rejected ids.
    #[test]
    fn finds_inserts_and_retains_like_a_map() {
        let mut rng = SplitMix64::new(11);
        let mut t = TermSlots::default();
        let mut model = std::collections::HashMap::new();
        // Keys are numbers; their "arena position" is the number itself.
        let hash = |k: u32| k.wrapping_mul(0x9e37_79b9) >> 20;
        for _ in 0..20_000 {
            let k = rng.below(5_000) as u32;
            let next = model.len() as u32;
            match (t.entry(hash(k), |at| at == k), model.get(&k)) {
                (Ok(id), Some(&want)) => assert_eq!(id, want),
                (Err(v), None) => {
                    t.fill(v, hash(k), k, next);
                    model.insert(k, next);
                }
                (got, want) => panic!("key {k}: found {got:?}, the model has {want:?}"),
            }
        }
        for k in 0..5_000u32 {
            assert_eq!(t.find(hash(k), |at| at == k), model.get(&k).copied());
        }
        let cut = model.len() as u32 / 2;
        t.retain(|id| id < cut);
        for (&k, &id) in &model {
            let want = (id < cut).then_some(id);
            assert_eq!(t.find(hash(k), |at| at == k), want);
        }
        assert_eq!(t.len, cut as usize);
    }

    #[test]
    fn an_empty_table_finds_nothing() {
        let t = TermSlots::default();
        assert_eq!(t.find(7, |_| true), None);
        assert_eq!(t.home_key(7), None);
        t.prefetch(7);
    }
}
