//! [`TermQueue`]: the k-way merge of the merge's input dictionaries, in
//! key order, without copying a key.
//!
//! A merge walks every term of every input. Most terms of real logs occur
//! in a handful of documents of one input (ids, addresses, clock times),
//! so the cost per term matters as much as the cost per posting: a heap
//! of owned keys allocated and freed a key per term and input. The queue
//! is a binary min-heap of input numbers instead, ordered by each input
//! iterator's current key ([`TermIter::key`]) and then by input number,
//! so equal keys come out in input order.
//!
//! Two things keep the per-term cost down (a profile of a merge of ten
//! segments of scaled logs put a quarter of the reading thread in the
//! queue): each input's key is compared by its first eight bytes, kept as
//! an integer, before its bytes are (most adjacent keys differ there),
//! and when one input held the last key, its next one replaces the top of
//! the heap in one pass down (or stays out of the heap altogether when it
//! is still the smallest) rather than being pushed and the top popped.

use crate::error::Result;
use lucerna_codec::postings::TermInfo;
use lucerna_codec::termdict::TermIter;
use std::cmp::Ordering;

/// The inputs' dictionaries, merged by key.
pub(crate) struct TermQueue {
    iters: Vec<TermIter>,
    /// Each input's current term (`None` once it is done).
    current: Vec<Option<TermInfo>>,
    /// Each input's current key's first eight bytes, big-endian, zeros
    /// past its end: a smaller prefix is a smaller key; on equal prefixes
    /// the keys decide.
    prefix: Vec<u64>,
    /// Inputs with a current term, as a min-heap by (key, input).
    heap: Vec<usize>,
    /// The inputs holding the smallest key, in input order, after
    /// [`pop`](Self::pop).
    holders: Vec<usize>,
}

impl TermQueue {
    /// A queue over `iters` (input `i` is `iters[i]`), each moved to its
    /// first term.
    pub(crate) fn new(iters: Vec<TermIter>) -> Result<TermQueue> {
        let n = iters.len();
        let mut q = TermQueue {
            iters,
            current: vec![None; n],
            prefix: vec![0; n],
            heap: Vec::with_capacity(n),
            holders: Vec::with_capacity(n),
        };
        for i in 0..n {
            q.refill(i)?;
        }
        Ok(q)
    }

    /// Moves every input of the last [`pop`](Self::pop) to its next term,
    /// then takes the smallest key off the queue: the inputs holding it
    /// are [`holders`](Self::holders) and the key is [`key`](Self::key).
    /// False when every input is done.
    pub(crate) fn pop(&mut self) -> Result<bool> {
        let first = if let [i] = self.holders[..] {
            // One input held the last key: its next one goes straight to
            // the top when it is still the smallest, else it takes the
            // top's place and the top comes off.
            self.advance(i)?;
            match (self.current[i].is_some(), self.heap.first().copied()) {
                (false, None) => None,
                (false, Some(_)) => self.take_top(),
                (true, Some(top)) if self.less(top, i) => {
                    self.heap[0] = i;
                    self.sift_down(0);
                    Some(top)
                }
                (true, _) => Some(i),
            }
        } else {
            for k in 0..self.holders.len() {
                let i = self.holders[k];
                self.refill(i)?;
            }
            self.take_top()
        };
        self.holders.clear();
        let Some(first) = first else {
            return Ok(false);
        };
        self.holders.push(first);
        while let Some(&top) = self.heap.first() {
            if !self.same_key(top, first) {
                break;
            }
            self.take_top();
            self.holders.push(top);
        }
        // Equal keys leave the heap in input order, after `first` (ties
        // are broken by input number, and `first` was the least).
        Ok(true)
    }

    /// The inputs holding the current key, in input order.
    pub(crate) fn holders(&self) -> &[usize] {
        &self.holders
    }

    /// The current key (empty before the first [`pop`](Self::pop)).
    pub(crate) fn key(&self) -> &[u8] {
        self.holders.first().map_or(&[], |&i| self.iters[i].key())
    }

    /// Input `i`'s info for the current key (when `i` is a holder).
    pub(crate) fn info(&self, i: usize) -> Option<TermInfo> {
        self.current[i]
    }

    /// Reads input `i`'s next term and queues it.
    fn refill(&mut self, i: usize) -> Result<()> {
        self.advance(i)?;
        if self.current[i].is_some() {
            self.heap.push(i);
            self.sift_up(self.heap.len() - 1);
        }
        Ok(())
    }

    /// Reads input `i`'s next term (not queued).
    fn advance(&mut self, i: usize) -> Result<()> {
        self.current[i] = self.iters[i].next_term()?;
        if self.current[i].is_some() {
            self.prefix[i] = prefix_of(self.iters[i].key());
        }
        Ok(())
    }

    fn less(&self, a: usize, b: usize) -> bool {
        let (pa, pb) = (self.prefix[a], self.prefix[b]);
        if pa != pb {
            return pa < pb;
        }
        match self.iters[a].key().cmp(self.iters[b].key()) {
            Ordering::Less => true,
            Ordering::Equal => a < b,
            Ordering::Greater => false,
        }
    }

    fn same_key(&self, a: usize, b: usize) -> bool {
        self.prefix[a] == self.prefix[b] && self.iters[a].key() == self.iters[b].key()
    }

    fn take_top(&mut self) -> Option<usize> {
        let last = self.heap.pop()?;
        let Some(top) = self.heap.first_mut().map(|t| std::mem::replace(t, last)) else {
            return Some(last);
        };
        self.sift_down(0);
        Some(top)
    }

    fn sift_up(&mut self, mut at: usize) {
        while at > 0 {
            let parent = (at - 1) / 2;
            if !self.less(self.heap[at], self.heap[parent]) {
                break;
            }
            self.heap.swap(at, parent);
            at = parent;
        }
    }

    fn sift_down(&mut self, mut at: usize) {
        let n = self.heap.len();
        loop {
            let (l, r) = (2 * at + 1, 2 * at + 2);
            let mut min = at;
            if l < n && self.less(self.heap[l], self.heap[min]) {
                min = l;
            }
            if r < n && self.less(self.heap[r], self.heap[min]) {
                min = r;
            }
            if min == at {
                return;
            }
            self.heap.swap(at, min);
            at = min;
        }
    }
}

/// A key's first eight bytes, big-endian, zeros past its end: keys
/// compare as their prefixes do wherever the prefixes differ.
#[inline]
fn prefix_of(key: &[u8]) -> u64 {
    if let Some(b) = key.first_chunk::<8>() {
        return u64::from_be_bytes(*b);
    }
    key.iter()
        .enumerate()
        .fold(0, |p, (k, &b)| p | u64::from(b) << (56 - 8 * k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lucerna_codec::termdict::{TermDict, TermDictWriter};
    use lucerna_store::rng::SplitMix64;
    use lucerna_store::RamDirectory;
    use std::collections::BTreeMap;

    fn dict(dir: &RamDirectory, name: &str, keys: &[Vec<u8>]) -> TermDict {
        let mut w = TermDictWriter::new(dir, [3; 16], name).unwrap();
        for (n, k) in keys.iter().enumerate() {
            let info = TermInfo {
                doc_freq: 1,
                doc_off: 100 + n as u64,
                pos_off: 0,
            };
            w.insert(k, &info).unwrap();
        }
        w.finish().unwrap();
        TermDict::open(dir, name, [3; 16]).unwrap()
    }

    /// Random dictionaries with overlapping keys merge into every key once,
    /// in order, held by exactly the inputs that have it, in input order,
    /// each with its own info.
    #[test]
    fn merges_random_dictionaries_in_key_then_input_order() {
        for seed in 0..80u64 {
            let mut rng = SplitMix64::new(seed);
            let dir = RamDirectory::new();
            let inputs = 1 + rng.below(12) as usize;
            let mut want: BTreeMap<Vec<u8>, Vec<(usize, u64)>> = BTreeMap::new();
            let mut iters = Vec::new();
            for i in 0..inputs {
                let mut keys: Vec<Vec<u8>> = (0..rng.below(300))
                    .map(|_| {
                        if seed % 2 == 0 {
                            let len = 1 + rng.below(4) as usize;
                            (0..len).map(|_| b'a' + rng.below(5) as u8).collect()
                        } else {
                            // Long keys of few symbols, zero bytes among
                            // them: many share their first eight bytes,
                            // or differ from another only past them or
                            // by trailing zeros.
                            let len = 1 + rng.below(12) as usize;
                            (0..len)
                                .map(|_| [0, 1, b'a'][rng.below(3) as usize])
                                .collect()
                        }
                    })
                    .collect();
                keys.sort();
                keys.dedup();
                for (n, k) in keys.iter().enumerate() {
                    want.entry(k.clone()).or_default().push((i, 100 + n as u64));
                }
                let d = dict(&dir, &format!("d{i}"), &keys);
                iters.push(d.prefix(&[]).unwrap());
            }
            let mut q = TermQueue::new(iters).unwrap();
            let mut got: BTreeMap<Vec<u8>, Vec<(usize, u64)>> = BTreeMap::new();
            let mut last: Option<Vec<u8>> = None;
            while q.pop().unwrap() {
                let key = q.key().to_vec();
                assert!(last.as_ref().is_none_or(|l| *l < key), "seed {seed}: order");
                let holders: Vec<(usize, u64)> = q
                    .holders()
                    .iter()
                    .map(|&i| (i, q.info(i).unwrap().doc_off))
                    .collect();
                assert!(
                    holders.windows(2).all(|w| w[0].0 < w[1].0),
                    "seed {seed}: holders in input order"
                );
                got.insert(key.clone(), holders);
                last = Some(key);
            }
            assert_eq!(got, want, "seed {seed}");
        }
    }

    #[test]
    fn no_input_and_empty_inputs_end_at_once() {
        assert!(!TermQueue::new(Vec::new()).unwrap().pop().unwrap());
        let dir = RamDirectory::new();
        let d = dict(&dir, "empty", &[]);
        let mut q = TermQueue::new(vec![d.prefix(&[]).unwrap()]).unwrap();
        assert!(!q.pop().unwrap());
        assert!(q.key().is_empty());
    }
}
