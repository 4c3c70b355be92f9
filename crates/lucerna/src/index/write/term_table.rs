//! The terms of a segment buffer, in a few large allocations.
//!
//! Keys (field byte + term bytes, after a two-byte length) lie end to end
//! in one arena, and a hash table finds them ([`TermSlots`]): its slots
//! hold a key's hash bits, its place in the arena and its term id, so
//! probing reads the arena and growing the table reads no key. A text
//! value's tokens are interned as one batch
//! ([`intern_batch`](TermTable::intern_batch)), each next key's slot and
//! arena bytes asked for while this one is interned. Each term's postings stream (the varints
//! `doc delta, freq, position deltas…` of the buffer's format) grows in
//! *slices* of a block pool, as in Lucene's `ByteBlockPool`: a term's first
//! slice has 8 bytes, each next one twice as many up to 4 KiB, and the last
//! four bytes of a full slice hold the address of the next. Blocks are
//! 64 KiB, zeroed; a slice's last four bytes start with a non-zero *end
//! mark* (its level + 1), which is how a writer, which only ever writes at
//! zero bytes, knows that its slice is full.
//!
//! A term costs 20 bytes of state, 16 to 32 of hash table (12-byte slots,
//! three eighths to three quarters full), its key and its stream, and
//! adding one allocates nothing until the arena, the state vector, the
//! table or a block fills. A boxed key, a hash-map entry and a growing vector per term cost
//! three allocations and about 120 bytes.
//!
//! Addresses are 32-bit, so a table holds at most 4 GiB of keys and
//! 4 GiB of streams; [`TermTable::room_for`] tells the buffer when to stop
//! taking documents, and [`TermTable::check`] refuses a table that ran out
//! anyway. Buffers flushed as one segment keep their tables apart (see
//! `sorted_terms`), so the limit is per indexing thread's buffer.
//!
//! Streams are read a slice at a time ([`StreamReader`]): the bytes left
//! in a slice are a plain byte slice, so most varints are decoded without
//! looking at the pool.

use crate::fxhash::FxHasher;
use crate::index::write::term_slots::TermSlots;
use lucerna_store::hint::prefetch;
use std::hash::Hasher;

/// Longest key a table takes (its length is kept in two bytes).
pub(crate) const MAX_KEY_BYTES: usize = u16::MAX as usize;
/// Bits of an address that are the offset inside a block.
const BLOCK_BITS: u32 = 16;
/// Bytes of a pool block.
const BLOCK: usize = 1 << BLOCK_BITS;
/// Most blocks of a pool: addresses are 32-bit.
const MAX_BLOCKS: usize = 1 << (32 - BLOCK_BITS);
/// Levels of slice sizes: 8 << level bytes, the last repeated.
const LEVELS: u8 = 10;
/// A term without a stream yet.
const NO_SLICE: u32 = u32::MAX;

/// Bytes of a slice of `level`, its four address bytes included.
#[inline]
fn slice_size(level: u8) -> usize {
    8 << level.min(LEVELS - 1)
}

/// The 32 bits of a key's Fx hash that a [`Slot`] keeps.
#[inline]
fn hash_key(key: &[u8]) -> u32 {
    let mut h = FxHasher::default();
    h.write(key);
    (h.finish() >> 32) as u32
}

/// Keys of a batch ([`TermTable::intern_batch`]) between the one whose
/// home slot is prefetched and the one interned.
const PREFETCH_AHEAD: usize = 16;

/// One term's state.
#[derive(Debug, Clone, Copy)]
struct TermState {
    /// Where the key is in the arena (its length first, two bytes).
    key: u32,
    /// Address of the first slice ([`NO_SLICE`] before the first byte).
    head: u32,
    /// Address where the next byte of the stream goes.
    write: u32,
    /// The term's last document (what the next doc delta is taken from).
    last_doc: u32,
    /// Documents in the stream.
    doc_freq: u32,
}

impl TermState {
    /// The doc delta of `doc`, the term's next document: from its last, or
    /// `doc` itself for the first.
    fn delta(&self, doc: u32) -> u32 {
        if self.doc_freq == 0 {
            doc
        } else {
            doc - self.last_doc
        }
    }
}

/// Zeroed 64 KiB blocks that slices are cut from.
#[derive(Debug, Default)]
struct SlicePool {
    blocks: Vec<Box<[u8]>>,
    /// Bytes cut from the last block.
    used: usize,
    /// A slice could not be cut (see [`TermTable::check`]).
    overflowed: bool,
}

impl SlicePool {
    /// Cuts a slice of `level` and marks its end; returns its address, or
    /// `None` when the pool's 4 GiB are used.
    fn alloc(&mut self, level: u8) -> Option<u32> {
        let size = slice_size(level);
        if self.blocks.is_empty() || self.used + size > BLOCK {
            if self.blocks.len() == MAX_BLOCKS {
                self.overflowed = true;
                return None;
            }
            self.blocks.push(vec![0u8; BLOCK].into_boxed_slice());
            self.used = 0;
        }
        let start = self.used;
        self.used += size;
        let block = self.blocks.len() - 1;
        let b = self.blocks.last_mut()?;
        b[start + size - 4] = level + 1;
        Some(((block << BLOCK_BITS) | start) as u32)
    }

    /// The byte at `addr` (0 outside the pool).
    #[inline]
    fn get(&self, addr: u32) -> u8 {
        self.blocks
            .get((addr >> BLOCK_BITS) as usize)
            .map_or(0, |b| b[addr as usize & (BLOCK - 1)])
    }

    #[inline]
    fn set(&mut self, addr: u32, b: u8) {
        self.blocks[(addr >> BLOCK_BITS) as usize][addr as usize & (BLOCK - 1)] = b;
    }

    /// Hints that the byte at `addr` will be read or written soon
    /// (nothing outside the pool).
    #[inline]
    fn prefetch(&self, addr: u32) {
        if let Some(b) = self
            .blocks
            .get((addr >> BLOCK_BITS) as usize)
            .and_then(|b| b.get(addr as usize & (BLOCK - 1)))
        {
            prefetch(b);
        }
    }

    /// The link at `addr` (a slice's last four bytes).
    fn get_u32(&self, addr: u32) -> u32 {
        u32::from_le_bytes([0, 1, 2, 3].map(|i| self.get(addr + i)))
    }

    fn set_u32(&mut self, addr: u32, v: u32) {
        let b = &mut self.blocks[(addr >> BLOCK_BITS) as usize];
        let at = addr as usize & (BLOCK - 1);
        b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
}

/// The terms of a buffer: ids by key, and each term's postings stream.
#[derive(Debug, Default)]
pub(crate) struct TermTable {
    slots: TermSlots,
    terms: Vec<TermState>,
    /// The hashes of a batch's keys (kept to reuse the allocation).
    hashes: Vec<u32>,
    keys: Vec<u8>,
    pool: SlicePool,
}

impl TermTable {
    /// Number of terms.
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// Whether the table can take a document of at most `tokens` tokens
    /// whose new keys total at most `key_bytes`, without running out of
    /// 32-bit addresses.
    ///
    /// The bound: a document writes at most 15 bytes per token (three
    /// varints). A term's next slice is at most twice the size of the
    /// slices it has (8 bytes for a new term), so the slices a document
    /// cuts total at most twice what it writes, plus 8 per token, plus
    /// twice the pool's bytes in use; block tails too short for a slice
    /// waste at most a sixteenth more.
    pub fn room_for(&self, tokens: usize, key_bytes: usize) -> bool {
        let used = self.pool.blocks.len() as u64 * BLOCK as u64;
        let cut = 2 * used + 38 * tokens as u64;
        let need = used + cut + cut / 16 + 2 * BLOCK as u64;
        let keys = self.keys.len() as u64 + key_bytes as u64;
        need <= (MAX_BLOCKS * BLOCK) as u64 && keys < u32::MAX as u64
    }

    /// Fails when a stream ran out of addresses, which
    /// [`room_for`](Self::room_for) is there to prevent: the bytes that did
    /// not fit were dropped, so the table must not be flushed.
    pub fn check(&self) -> Result<(), String> {
        if self.pool.overflowed {
            return Err(
                "a segment buffer's postings ran past 4 GiB: the buffer cannot be flushed".into(),
            );
        }
        Ok(())
    }

    /// The id of `key`, if the table has it.
    pub fn get(&self, key: &[u8]) -> Option<u32> {
        let keys = &self.keys;
        self.slots.find(hash_key(key), |at| key_at(keys, at) == key)
    }

    /// The id of `key` (at most [`MAX_KEY_BYTES`] bytes), added (without
    /// a stream) when new.
    pub fn intern(&mut self, key: &[u8]) -> u32 {
        self.intern_hashed(key, hash_key(key))
    }

    /// The ids of a batch of keys, in order, each added (without a stream)
    /// when new, pushed to `ids`: key `i` is `keys[ends[i - 1]..ends[i]]`
    /// (the first starts at 0), each at most [`MAX_KEY_BYTES`] bytes.
    ///
    /// The same ids as interning one key at a time; faster, because the
    /// home slot of the key [`PREFETCH_AHEAD`] places on, and the arena
    /// bytes of the key in the slot of the one half as far, are asked
    /// for while this one is interned, so their cache misses overlap.
    pub fn intern_batch(&mut self, keys: &[u8], ends: &[u32], ids: &mut Vec<u32>) {
        let key = |i: usize| {
            let start = if i == 0 { 0 } else { ends[i - 1] as usize };
            &keys[start..ends[i] as usize]
        };
        let mut hashes = std::mem::take(&mut self.hashes);
        hashes.clear();
        hashes.extend((0..ends.len()).map(|i| hash_key(key(i))));
        for &h in hashes.iter().take(PREFETCH_AHEAD) {
            self.slots.prefetch(h);
        }
        for (i, &h) in hashes.iter().enumerate() {
            if let Some(&ahead) = hashes.get(i + PREFETCH_AHEAD) {
                self.slots.prefetch(ahead);
            }
            if let Some(&near) = hashes.get(i + PREFETCH_AHEAD / 2) {
                if let Some(k) = self
                    .slots
                    .home_key(near)
                    .and_then(|at| self.keys.get(at as usize))
                {
                    prefetch(k);
                }
            }
            ids.push(self.intern_hashed(key(i), h));
        }
        self.hashes = hashes;
    }

    /// The id of `key`, whose [`hash_key`] is `h`, added when new.
    #[inline]
    fn intern_hashed(&mut self, key: &[u8], h: u32) -> u32 {
        let keys = &self.keys;
        match self.slots.entry(h, |at| key_at(keys, at) == key) {
            Ok(id) => id,
            Err(vacant) => {
                let id = self.terms.len() as u32;
                let at = self.keys.len() as u32;
                self.slots.fill(vacant, h, at, id);
                self.terms.push(TermState {
                    key: at,
                    head: NO_SLICE,
                    write: NO_SLICE,
                    last_doc: 0,
                    doc_freq: 0,
                });
                self.keys
                    .extend_from_slice(&(key.len() as u16).to_le_bytes());
                self.keys.extend_from_slice(key);
                id
            }
        }
    }

    /// Forgets the terms from id `len` on (added by a document that was
    /// then rejected, before any of their streams was written).
    pub fn truncate(&mut self, len: usize) {
        if len >= self.terms.len() {
            return;
        }
        self.slots.retain(|id| (id as usize) < len);
        self.keys.truncate(self.terms[len].key as usize);
        self.terms.truncate(len);
    }

    /// The key of term `id`.
    pub fn key(&self, id: u32) -> &[u8] {
        key_at(&self.keys, self.terms[id as usize].key)
    }

    /// Documents of term `id`.
    pub fn doc_freq(&self, id: u32) -> u32 {
        self.terms[id as usize].doc_freq
    }

    /// Every term id, in key order.
    pub fn sorted_ids(&self) -> Vec<u32> {
        // Sorted by the keys' first eight bytes (big-endian, zero-padded:
        // the same order as the keys'), the whole keys compared only on
        // ties.
        let mut order: Vec<(u64, u32)> = (0..self.terms.len() as u32)
            .map(|id| {
                let k = self.key(id);
                let mut p = [0u8; 8];
                let n = k.len().min(8);
                p[..n].copy_from_slice(&k[..n]);
                (u64::from_be_bytes(p), id)
            })
            .collect();
        order.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| self.key(a.1).cmp(self.key(b.1))));
        order.into_iter().map(|(_, id)| id).collect()
    }

    /// Bytes of the pool's blocks (the streams and the room left in them).
    pub fn pool_bytes(&self) -> usize {
        self.pool.blocks.len() * BLOCK
    }

    /// Heap bytes held, by capacity (the pool's blocks whole).
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<crate::index::write::term_slots::Slot>()
            + self.hashes.capacity() * 4
            + self.terms.capacity() * std::mem::size_of::<TermState>()
            + self.keys.capacity()
            + self.pool.blocks.len() * BLOCK
            + self.pool.blocks.capacity() * std::mem::size_of::<Box<[u8]>>()
    }

    /// Appends document `doc` (greater than the term's last) to term
    /// `id`'s stream with `freq` and its position deltas.
    pub fn add_doc(&mut self, id: u32, doc: u32, freq: u32, positions: impl Iterator<Item = u32>) {
        let delta = self.terms[id as usize].delta(doc);
        let mut w = self.writer(id);
        w.vint(delta);
        w.vint(freq);
        let mut prev = 0;
        for p in positions {
            w.vint(p - prev);
            prev = p;
        }
        w.finish();
        let t = &mut self.terms[id as usize];
        t.last_doc = doc;
        t.doc_freq += 1;
    }

    /// Hints that term `id`'s state will be read soon.
    pub fn prefetch_state(&self, id: u32) {
        if let Some(t) = self.terms.get(id as usize) {
            prefetch(t);
        }
    }

    /// Hints that the end of term `id`'s stream, where its next byte goes,
    /// will be written soon (reads the term's state: prefetch it well
    /// before).
    pub fn prefetch_stream_end(&self, id: u32) {
        let Some(t) = self.terms.get(id as usize) else {
            return;
        };
        self.pool.prefetch(t.write);
    }

    /// Hints that term `id`'s key and the start of its stream will be read
    /// soon (reads the term's state: prefetch it well before).
    pub fn prefetch_data(&self, id: u32) {
        let Some(t) = self.terms.get(id as usize) else {
            return;
        };
        if let Some(k) = self.keys.get(t.key as usize) {
            prefetch(k);
        }
        self.pool.prefetch(t.head);
    }

    /// A reader of term `id`'s stream.
    pub fn stream(&self, id: u32) -> StreamReader<'_> {
        let t = self.terms[id as usize];
        if t.head == NO_SLICE {
            return StreamReader {
                pool: &self.pool,
                cur: &[],
                link: NO_SLICE,
                level: 0,
                end: t.write,
            };
        }
        StreamReader::at(&self.pool, t.head, 0, t.write)
    }

    /// A writer at the end of term `id`'s stream (its first slice cut
    /// now if it has none).
    fn writer(&mut self, id: u32) -> StreamWriter<'_> {
        let t = &mut self.terms[id as usize];
        if t.head == NO_SLICE {
            if let Some(s) = self.pool.alloc(0) {
                t.head = s;
                t.write = s;
            }
        }
        StreamWriter {
            pool: &mut self.pool,
            write: t.write,
            term: t,
        }
    }
}

/// The key whose length is at `at` in the arena.
#[inline]
fn key_at(keys: &[u8], at: u32) -> &[u8] {
    let at = at as usize;
    let len = u16::from_le_bytes([keys[at], keys[at + 1]]) as usize;
    &keys[at + 2..at + 2 + len]
}

/// Appends bytes to one term's stream.
struct StreamWriter<'a> {
    pool: &'a mut SlicePool,
    term: &'a mut TermState,
    write: u32,
}

impl StreamWriter<'_> {
    #[inline]
    fn byte(&mut self, b: u8) {
        if self.write == NO_SLICE {
            // Out of addresses (the pool is marked overflowed).
            return;
        }
        let mark = self.pool.get(self.write);
        if mark != 0 {
            // The end of a full slice: cut the next, link it here.
            let Some(s) = self.pool.alloc(mark.min(LEVELS - 1)) else {
                self.write = NO_SLICE;
                return;
            };
            self.pool.set_u32(self.write, s);
            self.write = s;
        }
        self.pool.set(self.write, b);
        self.write += 1;
    }

    #[inline]
    fn vint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.byte((v as u8) | 0x80);
            v >>= 7;
        }
        self.byte(v as u8);
    }

    fn finish(self) {
        self.term.write = self.write;
    }
}

/// Reads one term's stream, byte by byte or varint by varint, a slice
/// at a time: the bytes left in the current slice are a plain `&[u8]`,
/// so most reads are one bounds check.
pub(crate) struct StreamReader<'a> {
    pool: &'a SlicePool,
    /// The current slice's bytes not read yet.
    cur: &'a [u8],
    /// Address of the current slice's link to the next, [`NO_SLICE`] when
    /// the stream ends in this slice.
    link: u32,
    level: u8,
    /// Where the stream ends.
    end: u32,
}

impl<'a> StreamReader<'a> {
    /// A reader at `addr`, the start of a slice of `level`, of a stream
    /// that ends at `end`.
    fn at(pool: &'a SlicePool, addr: u32, level: u8, end: u32) -> Self {
        let limit = addr.saturating_add(slice_size(level) as u32 - 4);
        // Slices are disjoint, so the stream ends in this one exactly
        // when its end lies inside it.
        let (stop, link) = if (addr..=limit).contains(&end) {
            (end, NO_SLICE)
        } else {
            (limit, limit)
        };
        let cur = pool
            .blocks
            .get((addr >> BLOCK_BITS) as usize)
            .and_then(|b| {
                b.get(
                    addr as usize & (BLOCK - 1)
                        ..(addr as usize & (BLOCK - 1)) + (stop - addr) as usize,
                )
            })
            .unwrap_or(&[]);
        StreamReader {
            pool,
            cur,
            link,
            level,
            end,
        }
    }

    /// Moves to the next slice; false at the end of the stream.
    #[cold]
    fn next_slice(&mut self) -> bool {
        if self.link == NO_SLICE {
            return false;
        }
        let addr = self.pool.get_u32(self.link);
        let level = (self.level + 1).min(LEVELS - 1);
        *self = StreamReader::at(self.pool, addr, level, self.end);
        true
    }

    /// The next byte, `None` at the end of the stream.
    #[inline]
    pub fn byte(&mut self) -> Option<u8> {
        loop {
            if let Some((&b, rest)) = self.cur.split_first() {
                self.cur = rest;
                return Some(b);
            }
            if !self.next_slice() {
                return None;
            }
        }
    }

    /// The next varint (0 past the end: the buffer wrote the stream, so
    /// callers read exactly what it holds).
    #[inline]
    pub fn vint(&mut self) -> u32 {
        // A varint of a u32 takes at most five bytes: with that many left
        // in the slice, read it from the slice alone.
        if let Some(&b) = self.cur.first() {
            if b < 0x80 {
                self.cur = &self.cur[1..];
                return b as u32;
            }
            if self.cur.len() >= 5 {
                let mut v = 0u32;
                for (i, &b) in self.cur[..5].iter().enumerate() {
                    v |= ((b & 0x7f) as u32) << (7 * i);
                    if b < 0x80 {
                        self.cur = &self.cur[i + 1..];
                        return v;
                    }
                }
                self.cur = &self.cur[5..];
                return v;
            }
        }
        let mut v = 0u32;
        let mut shift = 0u32;
        while let Some(b) = self.byte() {
            v |= ((b & 0x7f) as u32).wrapping_shl(shift);
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lucerna_store::rng::SplitMix64;

    /// Streams of many terms, interleaved as documents interleave them,
    /// read back exactly; slices of every level are crossed.
    #[test]
    fn interleaved_streams_read_back() {
        let mut rng = SplitMix64::new(7);
        let mut t = TermTable::default();
        let mut expect: Vec<Vec<(u32, Vec<u32>)>> = vec![Vec::new(); 300];
        for doc in 0..3000u32 {
            for _ in 0..rng.below(20) {
                let term = rng.below(300).min(rng.below(300)) as usize;
                if expect[term].last().is_some_and(|d| d.0 == doc) {
                    continue;
                }
                let key = format!("k{term}");
                let id = t.intern(key.as_bytes());
                let n = 1 + rng.below(4) as u32;
                let mut pos: Vec<u32> = (0..n).map(|_| rng.below(1 << 20) as u32).collect();
                pos.sort_unstable();
                t.add_doc(id, doc, n, pos.iter().copied());
                expect[term].push((doc, pos));
            }
        }
        for (term, docs) in expect.iter().enumerate() {
            let Some(id) = t.get(format!("k{term}").as_bytes()) else {
                assert!(docs.is_empty());
                continue;
            };
            assert_eq!(t.doc_freq(id) as usize, docs.len());
            let mut r = t.stream(id);
            let mut doc = 0;
            for (d, pos) in docs {
                doc += r.vint();
                assert_eq!(doc, *d);
                let n = r.vint();
                let mut p = 0;
                let got: Vec<u32> = (0..n)
                    .map(|_| {
                        p += r.vint();
                        p
                    })
                    .collect();
                assert_eq!(&got, pos);
            }
            assert_eq!(r.byte(), None);
        }
    }

    /// A batch gets the ids one key at a time would, keys repeated in it
    /// and across batches, through the table's growth; every key is found.
    #[test]
    fn batches_intern_like_single_keys() {
        let mut rng = SplitMix64::new(5);
        let (mut one, mut batched) = (TermTable::default(), TermTable::default());
        let (mut keys, mut ends, mut ids) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..400 {
            keys.clear();
            ends.clear();
            let mut want = Vec::new();
            for _ in 0..rng.below(60) {
                let key = format!(
                    "{}t{}",
                    rng.below(3),
                    rng.below(4_000).min(rng.below(4_000))
                );
                want.push(one.intern(key.as_bytes()));
                keys.extend_from_slice(key.as_bytes());
                ends.push(keys.len() as u32);
            }
            ids.clear();
            batched.intern_batch(&keys, &ends, &mut ids);
            assert_eq!(ids, want);
        }
        assert_eq!(batched.len(), one.len());
        for id in 0..one.len() as u32 {
            assert_eq!(batched.key(id), one.key(id));
            assert_eq!(batched.get(one.key(id)), Some(id));
        }
    }

    #[test]
    fn sorted_ids_follow_key_order() {
        let mut t = TermTable::default();
        let keys: [&[u8]; 9] = [
            b"abcdefghij",
            b"ab",
            b"ab\0",
            b"ab\x01",
            b"abcdefgh",
            b"abcdefghi",
            b"b",
            b"",
            b"abcdefgha",
        ];
        for k in keys {
            t.intern(k);
        }
        let got: Vec<&[u8]> = t.sorted_ids().into_iter().map(|id| t.key(id)).collect();
        let mut want = keys.to_vec();
        want.sort();
        assert_eq!(got, want);
    }

    /// The address guards: a document that could overflow 32-bit
    /// addresses is refused before anything is written, a normal one is
    /// taken, and a table that never overflowed passes its check.
    #[test]
    fn room_is_refused_before_addresses_run_out() {
        let mut t = TermTable::default();
        assert!(t.room_for(1_000, 4_000));
        // 38 bytes of slices per token could pass 4 GiB.
        assert!(!t.room_for(120_000_000, 0));
        assert!(!t.room_for(10, u32::MAX as usize));
        let id = t.intern(b"x");
        t.add_doc(id, 0, 1, [3].into_iter());
        assert!(t.check().is_ok());
    }

    #[test]
    fn truncate_forgets_new_terms() {
        let mut t = TermTable::default();
        let a = t.intern(b"a");
        t.add_doc(a, 0, 1, [0].into_iter());
        t.intern(b"bb");
        t.intern(b"ccc");
        t.truncate(1);
        assert_eq!(t.len(), 1);
        assert_eq!(t.get(b"bb"), None);
        assert_eq!(t.intern(b"dd"), 1);
        assert_eq!(t.key(1), b"dd");
        assert_eq!(t.sorted_ids(), vec![0, 1]);
    }
}
