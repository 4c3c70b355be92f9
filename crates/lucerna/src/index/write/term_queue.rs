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

use crate::error::Result;
use lucerna_codec::postings::TermInfo;
use lucerna_codec::termdict::TermIter;
use std::cmp::Ordering;

/// The inputs' dictionaries, merged by key.
pub(crate) struct TermQueue {
    iters: Vec<TermIter>,
    /// Each input's current term (`None` once it is done).
    current: Vec<Option<TermInfo>>,
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
        for k in 0..self.holders.len() {
            let i = self.holders[k];
            self.refill(i)?;
        }
        self.holders.clear();
        let Some(first) = self.take_top() else {
            return Ok(false);
        };
        self.holders.push(first);
        while let Some(&top) = self.heap.first() {
            if self.iters[top].key() != self.iters[first].key() {
                break;
            }
            self.take_top();
            self.holders.push(top);
        }
        // Equal keys leave the heap in input order already (ties are
        // broken by input number).
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
        self.current[i] = self.iters[i].next_term()?;
        if self.current[i].is_some() {
            self.heap.push(i);
            self.sift_up(self.heap.len() - 1);
        }
        Ok(())
    }

    fn less(&self, a: usize, b: usize) -> bool {
        match self.iters[a].key().cmp(self.iters[b].key()) {
            Ordering::Less => true,
            Ordering::Equal => a < b,
            Ordering::Greater => false,
        }
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
        for seed in 0..40u64 {
            let mut rng = SplitMix64::new(seed);
            let dir = RamDirectory::new();
            let inputs = 1 + rng.below(12) as usize;
            let mut want: BTreeMap<Vec<u8>, Vec<(usize, u64)>> = BTreeMap::new();
            let mut iters = Vec::new();
            for i in 0..inputs {
                let mut keys: Vec<Vec<u8>> = (0..rng.below(300))
                    .map(|_| {
                        let len = 1 + rng.below(4) as usize;
                        (0..len).map(|_| b'a' + rng.below(5) as u8).collect()
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
