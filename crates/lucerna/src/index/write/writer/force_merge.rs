//! [`IndexWriter::force_merge`] and [`IndexWriter::expunge_deletes`]:
//! merges chosen by the merge policy's forced selections, run on the merge
//! path they share with automatic merges (`merge_path`,
//! [`IndexWriter::execute_merges`]). While one runs, automatic merges are
//! held back (`automerge`'s `begin_forcing`): this module uses `automerge`,
//! never the other way round.

use super::merge_path::{descriptors, Plan, Source};
use super::{random_id, segment_number, IndexWriter, State, WSeg};
use crate::error::{Error, Result};
use lucerna_merge::OneMerge;
use std::collections::HashSet;
use std::ops::Range;
use std::time::{Duration, Instant};

/// Most rounds of policy selection one forced merge runs (each round
/// applies every merge the policy returned; the tiered policy needs one or
/// two). A bound against a policy that never stops proposing.
const MAX_FORCED_ROUNDS: usize = 64;

/// What a forced merge asks the policy for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Forced {
    /// `find_forced_merges(max_segments)`.
    Merge(usize),
    /// `find_forced_deletes_merges`.
    ExpungeDeletes,
}

/// Groups of adjacent segments (by index), at most `max_segments` of them:
/// starting from one group per segment, the adjacent pair with the fewest
/// live documents together is joined until few enough remain.
fn merge_groups(sizes: &[u64], max_segments: usize) -> Vec<Range<usize>> {
    let mut groups: Vec<(Range<usize>, u64)> = sizes
        .iter()
        .enumerate()
        .map(|(i, &s)| (i..i + 1, s))
        .collect();
    while groups.len() > max_segments.max(1) {
        let Some(best) =
            (0..groups.len() - 1).min_by_key(|&i| groups[i].1.saturating_add(groups[i + 1].1))
        else {
            break;
        };
        let (next, size) = groups.remove(best + 1);
        groups[best].0.end = next.end;
        groups[best].1 = groups[best].1.saturating_add(size);
    }
    groups.into_iter().map(|g| g.0).collect()
}

/// Live documents of segment `s`.
fn live_count(s: &WSeg) -> u64 {
    s.live
        .as_ref()
        .map_or(s.reader.num_live(), |l| l.num_live()) as u64
}

/// The writer's own grouping (for policies that manage no segments):
/// adjacent segments joined by [`merge_groups`] until at most
/// `max_segments` remain; with `max_segments == 1` a lone segment with
/// deletes is rewritten too. Positions into `st.segments`.
fn adjacent_groups(st: &State, max_segments: usize) -> Vec<Vec<usize>> {
    let live: Vec<u64> = st.segments.iter().map(live_count).collect();
    merge_groups(&live, max_segments)
        .into_iter()
        .filter(|g| {
            let has_deletes = g
                .clone()
                .any(|i| live[i] < st.segments[i].meta.max_doc as u64);
            g.len() >= 2 || (max_segments == 1 && has_deletes)
        })
        .map(|g| g.collect())
        .collect()
}

/// The policy's merges as positions into `st.segments`, each in the
/// writer's segment order. A merge naming an unknown segment, or one
/// already used by an earlier merge of the answer, is dropped (a policy
/// bug), and so is a single segment without deletes (nothing to rewrite).
fn policy_groups(st: &State, merges: &[OneMerge]) -> Vec<Vec<usize>> {
    let mut used = HashSet::new();
    let mut groups = Vec::with_capacity(merges.len());
    'merges: for m in merges {
        let mut group = Vec::with_capacity(m.segments.len());
        for id in &m.segments {
            let pos = st
                .segments
                .iter()
                .position(|s| segment_number(&s.meta.name) == Some(*id));
            match pos {
                Some(p) if !used.contains(&p) && !group.contains(&p) => group.push(p),
                _ => continue 'merges,
            }
        }
        let single_without_deletes = group.len() == 1
            && live_count(&st.segments[group[0]]) == st.segments[group[0]].meta.max_doc as u64;
        if group.is_empty() || single_without_deletes {
            continue;
        }
        group.sort_unstable();
        used.extend(group.iter().copied());
        groups.push(group);
    }
    groups
}

fn rolled_back(what: Forced) -> Error {
    let op = match what {
        Forced::Merge(_) => "force_merge",
        Forced::ExpungeDeletes => "expunge_deletes",
    };
    Error::InvalidArgument(format!(
        "{op}: the writer was rolled back while merging; nothing was merged"
    ))
}

impl IndexWriter {
    /// Merges the writer's segments down to at most `max_segments`, as the
    /// [merge policy](crate::WriterConfig::merge_policy) chooses.
    ///
    /// First flushes every in-memory buffer and applies pending deletes.
    /// Then asks the policy's
    /// [`find_forced_merges`](lucerna_merge::MergePolicy::find_forced_merges)
    /// and runs every merge it returns, again and again until it returns
    /// nothing, so the policy's limits hold: the default
    /// [`TieredMergePolicy`](lucerna_merge::TieredMergePolicy) merges
    /// everything into one segment for `max_segments == 1` (a single
    /// segment with deleted documents is rewritten without them), and
    /// otherwise bin-packs the smallest segments into merges of at most
    /// `1.25 × max(total / max_segments, max_merged_segment_bytes)`,
    /// leaving larger segments without deletes alone. The inputs of each
    /// merge are merged in the writer's segment order, so with
    /// `max_segments == 1` the survivors keep their relative order. Deleted
    /// documents are dropped.
    ///
    /// A policy that manages no segments and proposes no forced merge (its
    /// [`segment_budget`](lucerna_merge::MergePolicy::segment_budget) is
    /// unbounded, as for [`NoMergePolicy`](lucerna_merge::NoMergePolicy))
    /// gets the writer's own order-preserving grouping instead: adjacent
    /// segments, smallest neighbours first, joined until at most
    /// `max_segments` groups remain. So a bulk load with merging off can
    /// still be merged at the end.
    ///
    /// Every file of every input segment is verified against the length and
    /// CRC recorded for it before it is read, and again once the merged
    /// segment is written (the very bytes the merge read): a damaged input,
    /// or one whose bytes changed while the merge read them, fails the
    /// merge with a [`StoreError::Corrupt`](crate::store::StoreError)
    /// naming the file; the merged segment is discarded, nothing changes in
    /// the writer, the damaged segment is marked corrupt (see
    /// [corruption marker](crate::index::FileKind::CorruptionMarker)) and the failure is
    /// counted in [`metrics`](Self::metrics).
    ///
    /// The merged segments replace their inputs in the writer at once: the
    /// near-real-time [`searcher`](Self::searcher) sees them and the next
    /// [`commit`](Self::commit) references them instead of the inputs. The
    /// merge is not durable until that commit. Searchers opened before keep
    /// working on the inputs, whose files are deleted by a later commit once
    /// no kept commit and no open reader uses them.
    ///
    /// Other writer operations (adds, deletes, commits) may run while the
    /// segments are written; deletes that arrive meanwhile are carried over
    /// to the merged segments. Only one forced merge runs at a time; it
    /// first waits for this index's automatic merges to finish and holds
    /// new ones back until it is done. Forced merges run on the calling
    /// thread and are not throttled. A [`rollback`](Self::rollback) that
    /// undoes deletes the merge relied on makes it fail with
    /// [`Error::InvalidArgument`] and leaves nothing behind.
    ///
    /// ```
    /// use lucerna::{Index, Document, Query, WriterConfig, schema::Schema, store::RamDirectory};
    /// # fn main() -> lucerna::Result<()> {
    /// let index = Index::create(RamDirectory::new(), Schema::logs())?;
    /// let (id, body) = (index.schema().field("id").unwrap(), index.schema().field("body").unwrap());
    /// // A segment every two documents.
    /// let writer = index.writer(WriterConfig::default().max_buffered_docs(2))?;
    /// for i in 0..6u64 {
    ///     let mut d = Document::new();
    ///     d.add_u64(id, i).add_text(body, if i % 2 == 0 { "disk full" } else { "disk ok" });
    ///     writer.add_document(d)?;
    /// }
    /// writer.delete_term(body, "ok")?;
    /// writer.commit()?;
    /// assert_eq!(writer.num_segments(), 3);
    ///
    /// writer.force_merge(1)?;
    /// assert_eq!(writer.num_segments(), 1);
    /// assert_eq!(writer.searcher()?.count(&Query::term(body, "disk"))?, 3);
    /// writer.commit()?;
    ///
    /// let commit = index.latest_commit()?;
    /// assert_eq!(commit.segments.len(), 1);
    /// assert_eq!(commit.segments[0].max_doc, 3); // deleted documents are gone
    /// let searcher = index.reader()?.searcher();
    /// assert_eq!(searcher.count(&Query::term(body, "full"))?, 3);
    /// # Ok(()) }
    /// ```
    pub fn force_merge(&self, max_segments: usize) -> Result<()> {
        if max_segments == 0 {
            return Err(Error::InvalidArgument("max_segments must be ≥ 1".into()));
        }
        self.check_open()?;
        {
            let _span = self.inner.span.enter();
            tracing::debug!(
                target: "lucerna::merge",
                forced = true,
                max_segments,
                segments_before = self.num_segments(),
                "merge started"
            );
        }
        let result = self.forced_locked(Forced::Merge(max_segments));
        self.maybe_merge();
        result
    }

    /// Rewrites the segments that carry "too many" deleted documents, as
    /// the [merge policy](crate::WriterConfig::merge_policy)'s
    /// [`find_forced_deletes_merges`](lucerna_merge::MergePolicy::find_forced_deletes_merges)
    /// chooses (Lucene's `forceMergeDeletes`).
    ///
    /// The default [`TieredMergePolicy`](lucerna_merge::TieredMergePolicy)
    /// picks every segment with more than
    /// [`force_merge_deletes_pct_allowed`](lucerna_merge::TieredMergePolicy::force_merge_deletes_pct_allowed)
    /// percent deleted documents (default 10) and merges them, at most
    /// `max_merge_at_once` segments and `max_merged_segment_bytes` per merge
    /// (a segment above that size is rewritten alone). Segments with fewer
    /// deletes are left as they are. A policy that proposes nothing (such
    /// as [`NoMergePolicy`](lucerna_merge::NoMergePolicy)) makes this a
    /// no-op; [`force_merge(1)`](Self::force_merge) expunges every delete
    /// whatever the policy.
    ///
    /// Like [`force_merge`](Self::force_merge): flushes buffers and applies
    /// pending deletes first, verifies every input, runs on the calling
    /// thread unthrottled after this index's automatic merges finish,
    /// carries over deletes that arrive meanwhile, and is not durable until
    /// the next [`commit`](Self::commit).
    ///
    /// ```
    /// use lucerna::{Index, Document, WriterConfig, schema::Schema, store::RamDirectory};
    /// # fn main() -> lucerna::Result<()> {
    /// let index = Index::create(RamDirectory::new(), Schema::logs())?;
    /// let (id, body) = (index.schema().field("id").unwrap(), index.schema().field("body").unwrap());
    /// let writer = index.writer(WriterConfig::default().max_buffered_docs(10))?;
    /// for i in 0..20u64 {
    ///     let mut d = Document::new();
    ///     d.add_u64(id, i).add_text(body, format!("line n{i}"));
    ///     writer.add_document(d)?;
    /// }
    /// // 3 of the first segment's 10 documents: 30 % deleted.
    /// for i in 0..3 {
    ///     writer.delete_term(body, &format!("n{i}"))?;
    /// }
    /// writer.expunge_deletes()?;
    /// writer.commit()?;
    /// let searcher = index.reader()?.searcher();
    /// assert_eq!(searcher.num_docs(), 17);
    /// assert!(index.latest_commit()?.segments.iter().all(|s| s.num_deleted == 0));
    /// # Ok(()) }
    /// ```
    pub fn expunge_deletes(&self) -> Result<()> {
        self.check_open()?;
        let result = self.forced_locked(Forced::ExpungeDeletes);
        self.maybe_merge();
        result
    }

    fn forced_locked(&self, what: Forced) -> Result<()> {
        let _merging = self.inner.merge_lock.lock();
        let forcing = self.begin_forcing()?;
        let mut written = 0u64;
        let mut took = Duration::ZERO;
        let mut merged_any = false;
        for _ in 0..MAX_FORCED_ROUNDS {
            let plans = loop {
                self.wait_idle()?;
                // `None`: an automatic merge slipped in before `forcing` was
                // seen; wait for it too.
                if let Some(plans) = self.plan_forced(what)? {
                    break plans;
                }
            };
            if plans.is_empty() {
                break;
            }
            let started = Instant::now();
            let ids: Vec<u64> = plans
                .iter()
                .flat_map(|p| &p.sources)
                .filter_map(|s| segment_number(&s.reader.meta().name))
                .collect();
            let result = self.execute_merges(plans, self.inner.dir.as_ref());
            if let Err(e) = &result {
                if !matches!(e, Error::Closed(_)) {
                    self.merge_failed(&ids, e, false);
                }
            }
            match result? {
                Some(bytes) => {
                    written = written.saturating_add(bytes);
                    took = took.saturating_add(started.elapsed());
                    merged_any = true;
                }
                None => return Err(rolled_back(what)),
            }
        }
        if merged_any {
            self.record_forced_merge(written, took);
        }
        drop(forcing);
        Ok(())
    }

    /// Flushes, applies pending deletes and asks the policy what to merge
    /// (see [`force_merge`](Self::force_merge)). `None` when automatic
    /// merges hold some segments (the caller waits for them and asks
    /// again).
    fn plan_forced(&self, what: Forced) -> Result<Option<Vec<Plan>>> {
        let _ops = self.inner.ops.write();
        self.flush_all()?;
        let mut st = self.inner.state.lock();
        if self.automatic_merges_in_flight() {
            return Ok(None);
        }
        self.resolve_deletes(&mut st)?;
        let descs = descriptors(&st);
        let none = HashSet::new();
        let policy = &self.inner.config.merge_policy;
        let merges = match what {
            Forced::Merge(n) => policy.find_forced_merges(&descs, n, &none),
            Forced::ExpungeDeletes => policy.find_forced_deletes_merges(&descs, &none),
        };
        let groups = match what {
            Forced::Merge(n)
                if merges.is_empty() && policy.segment_budget(&descs, &none) == usize::MAX =>
            {
                adjacent_groups(&st, n)
            }
            _ => policy_groups(&st, &merges),
        };
        let mut plans = Vec::with_capacity(groups.len());
        for group in groups {
            let name = format!("seg_{}", st.next_segment);
            st.next_segment += 1;
            let id = random_id(&mut st.ids);
            let sources = group
                .into_iter()
                .map(|i| {
                    let s = &st.segments[i];
                    Source {
                        reader: s.reader.clone(),
                        live: s.live.clone(),
                    }
                })
                .collect();
            plans.push(Plan { name, id, sources });
        }
        Ok(Some(plans))
    }
}

#[cfg(test)]
mod tests {
    use super::merge_groups;
    use crate::schema::Schema;
    use crate::store::{Directory, RamDirectory};
    use crate::{Document, Index, IndexWriter, Query, WriterConfig};
    use lucerna_merge::{MergeKind, MergePolicy, OneMerge, SegmentDescriptor, TieredMergePolicy};
    use parking_lot::Mutex;
    use std::collections::HashSet;
    use std::sync::Arc;

    /// Never merges on its own; for forced merges returns the scripted
    /// merges (segment ids), once each, and records every call.
    #[derive(Debug, Default)]
    struct Scripted {
        forced: Mutex<Vec<Vec<u64>>>,
        deletes: Mutex<Vec<Vec<u64>>>,
        calls: Mutex<Vec<(usize, Vec<u64>)>>,
    }

    fn pick(segments: &[SegmentDescriptor], ids: &[u64], kind: MergeKind) -> OneMerge {
        let descs: Vec<SegmentDescriptor> = ids
            .iter()
            .filter_map(|id| segments.iter().find(|s| s.id == *id).copied())
            .collect();
        let mut m = OneMerge::from_segments(&descs, kind, 0.0);
        m.segments = ids.to_vec(); // unknown ids too
        m
    }

    impl MergePolicy for Scripted {
        fn find_merges(&self, _: &[SegmentDescriptor], _: &HashSet<u64>) -> Vec<OneMerge> {
            Vec::new()
        }
        fn find_forced_merges(
            &self,
            segments: &[SegmentDescriptor],
            max_segments: usize,
            _: &HashSet<u64>,
        ) -> Vec<OneMerge> {
            self.calls
                .lock()
                .push((max_segments, segments.iter().map(|s| s.id).collect()));
            std::mem::take(&mut *self.forced.lock())
                .iter()
                .map(|ids| pick(segments, ids, MergeKind::Forced))
                .collect()
        }
        fn find_forced_deletes_merges(
            &self,
            segments: &[SegmentDescriptor],
            _: &HashSet<u64>,
        ) -> Vec<OneMerge> {
            std::mem::take(&mut *self.deletes.lock())
                .iter()
                .map(|ids| pick(segments, ids, MergeKind::ForcedDeletes))
                .collect()
        }
        fn segment_budget(&self, _: &[SegmentDescriptor], _: &HashSet<u64>) -> usize {
            1000
        }
    }

    fn names(w: &IndexWriter) -> Vec<String> {
        w.inner
            .state
            .lock()
            .segments
            .iter()
            .map(|s| s.meta.name.clone())
            .collect()
    }

    /// `n` committed segments of 10 documents (`id` 0.., body "doc n<id>")
    /// written by a writer with `policy`.
    fn segments_with(policy: Arc<dyn MergePolicy>, n: u64) -> (Index, IndexWriter) {
        let index = Index::create(RamDirectory::new(), Schema::logs()).unwrap();
        let (id, body) = (
            index.schema().field("id").unwrap(),
            index.schema().field("body").unwrap(),
        );
        let w = index
            .writer(
                WriterConfig::default()
                    .indexing_threads(1)
                    .max_buffered_docs(10)
                    .merge_policy(policy),
            )
            .unwrap();
        for i in 0..n * 10 {
            let mut d = Document::new();
            d.add_u64(id, i).add_text(body, format!("doc n{i}"));
            w.add_document(d).unwrap();
        }
        w.commit().unwrap();
        w.wait_for_merges().unwrap();
        (index, w)
    }

    #[test]
    fn force_merge_runs_the_merges_the_policy_chooses() {
        let policy = Arc::new(Scripted::default());
        let (index, w) = segments_with(policy.clone(), 5);
        let body = index.schema().field("body").unwrap();
        assert_eq!(names(&w), ["seg_0", "seg_1", "seg_2", "seg_3", "seg_4"]);
        // Not adjacent: the writer no longer groups neighbours itself.
        *policy.forced.lock() = vec![vec![3, 1]];
        w.force_merge(2).unwrap();
        let calls = policy.calls.lock().clone();
        // Asked until the policy had nothing more to propose.
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0], (2, vec![0, 1, 2, 3, 4]));
        assert_eq!(calls[1].1.len(), 4);
        // The merged segment takes the place of its first input.
        assert_eq!(names(&w), ["seg_0", "seg_5", "seg_2", "seg_4"]);
        let s = w.searcher().unwrap();
        assert_eq!(s.num_docs(), 50);
        assert_eq!(s.segment_readers()[1].max_doc(), 20);
        // Inputs merged in the writer's order: seg_1's documents first.
        let first = s.segment_readers()[1].column_value(index.schema().field("id").unwrap(), 0);
        assert_eq!(first, Some(10));
        assert_eq!(s.count(&Query::term(body, "n35")).unwrap(), 1);
        w.commit().unwrap();
        assert_eq!(index.reader().unwrap().searcher().num_docs(), 50);
        // The policy proposes nothing: nothing happens, even above
        // max_segments (its budget is bounded, so no fallback).
        w.force_merge(1).unwrap();
        assert_eq!(w.num_segments(), 4);
        // Merges naming unknown segments are ignored.
        *policy.forced.lock() = vec![vec![77, 0]];
        w.force_merge(1).unwrap();
        assert_eq!(w.num_segments(), 4);
        assert_eq!(w.metrics().merges_completed, 1);
    }

    #[test]
    fn force_merge_respects_the_tiered_policy() {
        // max_segments > 1: bin-packed under the policy's size cap.
        let tiered = TieredMergePolicy::builder()
            .segments_per_tier(100.0)
            .max_merge_at_once(100)
            .build()
            .unwrap();
        let (_, w) = segments_with(Arc::new(tiered), 12);
        assert_eq!(w.num_segments(), 12);
        w.force_merge(4).unwrap();
        assert!(w.num_segments() <= 4, "{}", w.num_segments());
        assert_eq!(w.searcher().unwrap().num_docs(), 120);
        w.force_merge(1).unwrap();
        assert_eq!(w.num_segments(), 1);
        let s = w.searcher().unwrap();
        assert_eq!(s.num_docs(), 120);
        assert_eq!(s.segment_readers()[0].max_doc(), 120);
    }

    #[test]
    fn expunge_deletes_rewrites_only_heavily_deleted_segments() {
        let tiered = TieredMergePolicy::builder()
            .segments_per_tier(100.0)
            .max_merge_at_once(100)
            .build()
            .unwrap();
        let (index, w) = segments_with(Arc::new(tiered), 4);
        let body = index.schema().field("body").unwrap();
        // seg_0: 1 of 10 deleted (10 %, not above the default 10 %);
        // seg_1: 3 of 10 (30 %); seg_3: 5 of 10 (50 %); seg_2: none.
        for n in [0, 10, 11, 12, 30, 31, 32, 33, 34] {
            w.delete_term(body, &format!("n{n}")).unwrap();
        }
        w.expunge_deletes().unwrap();
        let after = names(&w);
        assert_eq!(after.len(), 3);
        assert_eq!(&after[..2], ["seg_0", "seg_4"]);
        assert_eq!(after[2], "seg_2");
        let s = w.searcher().unwrap();
        assert_eq!(s.num_docs(), 31);
        assert_eq!(s.segment_readers()[0].num_live(), 9);
        assert_eq!(s.segment_readers()[0].max_doc(), 10);
        assert_eq!(s.segment_readers()[1].max_doc(), 12); // 7 + 5 survivors
        assert_eq!(s.segment_readers()[1].num_live(), 12);
        assert_eq!(s.count(&Query::term(body, "n33")).unwrap(), 0);
        assert_eq!(s.count(&Query::term(body, "n13")).unwrap(), 1);
        // Nothing left above the threshold.
        w.expunge_deletes().unwrap();
        assert_eq!(names(&w), after);
        w.commit().unwrap();
        let c = index.reader().unwrap().searcher();
        assert_eq!(c.num_docs(), 31);
        assert_eq!(w.metrics().merges_completed, 1);
    }

    #[test]
    fn expunge_deletes_asks_the_policy_and_no_merge_policy_does_nothing() {
        let policy = Arc::new(Scripted::default());
        let (index, w) = segments_with(policy.clone(), 3);
        let body = index.schema().field("body").unwrap();
        w.delete_term(body, "n25").unwrap();
        *policy.deletes.lock() = vec![vec![2]];
        w.expunge_deletes().unwrap();
        assert_eq!(names(&w), ["seg_0", "seg_1", "seg_3"]);
        assert_eq!(w.searcher().unwrap().segment_readers()[2].max_doc(), 9);

        let (index, w) = segments_with(Arc::new(lucerna_merge::NoMergePolicy), 3);
        let body = index.schema().field("body").unwrap();
        w.delete_term(body, "n25").unwrap();
        w.expunge_deletes().unwrap();
        assert_eq!(names(&w), ["seg_0", "seg_1", "seg_2"]);
        // force_merge still works with NoMergePolicy (adjacent grouping).
        w.force_merge(1).unwrap();
        assert_eq!(w.num_segments(), 1);
        assert_eq!(w.searcher().unwrap().segment_readers()[0].max_doc(), 29);
    }

    /// The tiered policy's forced merges, and no natural merge: a test that
    /// drives merges by hand must not race the writer's own scheduler (a
    /// segment left half deleted would otherwise be rewritten in the
    /// background to reclaim its deletes, replacing the segment the test
    /// then looks at).
    #[derive(Debug, Default)]
    struct ForcedOnly(TieredMergePolicy);

    impl MergePolicy for ForcedOnly {
        fn find_merges(&self, _: &[SegmentDescriptor], _: &HashSet<u64>) -> Vec<OneMerge> {
            Vec::new()
        }
        fn find_forced_merges(
            &self,
            segments: &[SegmentDescriptor],
            max_segments: usize,
            merging: &HashSet<u64>,
        ) -> Vec<OneMerge> {
            self.0.find_forced_merges(segments, max_segments, merging)
        }
        fn find_forced_deletes_merges(
            &self,
            segments: &[SegmentDescriptor],
            merging: &HashSet<u64>,
        ) -> Vec<OneMerge> {
            self.0.find_forced_deletes_merges(segments, merging)
        }
    }

    /// 30 documents in 3 committed segments; `body` is "doc" plus
    /// "even"/"odd". Only forced merges (see [`ForcedOnly`]).
    fn three_segments() -> (RamDirectory, Index, IndexWriter) {
        let dir = RamDirectory::new();
        let index = Index::create(dir.clone(), Schema::logs()).unwrap();
        let (id, body) = (
            index.schema().field("id").unwrap(),
            index.schema().field("body").unwrap(),
        );
        let w = index
            .writer(
                WriterConfig::default()
                    .indexing_threads(1)
                    .max_buffered_docs(10)
                    .merge_policy(Arc::new(ForcedOnly::default())),
            )
            .unwrap();
        for i in 0..30u64 {
            let mut d = Document::new();
            let parity = if i % 2 == 0 { "even" } else { "odd" };
            d.add_u64(id, i)
                .add_text(body, format!("doc {parity} n{i}"));
            w.add_document(d).unwrap();
        }
        w.commit().unwrap();
        assert_eq!(w.num_segments(), 3);
        (dir, index, w)
    }

    #[test]
    fn deletes_arriving_during_a_merge_are_carried_over() {
        let (dir, index, w) = three_segments();
        let body = index.schema().field("body").unwrap();
        w.delete_term(body, "n3").unwrap();
        let plans = w.plan_forced(super::Forced::Merge(1)).unwrap().unwrap();
        let done: Vec<_> = plans
            .into_iter()
            .map(|p| w.run_merge(p, &dir).unwrap())
            .collect();
        // Arrives while the merge is being written.
        w.delete_term(body, "odd").unwrap();
        assert!(w.install_merges(&done).unwrap());
        drop(done);
        assert_eq!(w.num_segments(), 1);
        let s = w.searcher().unwrap();
        assert_eq!(s.segment_readers()[0].max_doc(), 29);
        assert_eq!(s.num_docs(), 15);
        assert_eq!(s.count(&Query::term(body, "odd")).unwrap(), 0);
        w.commit().unwrap();
        let c = index.reader().unwrap().searcher();
        assert_eq!(c.num_docs(), 15);
        assert_eq!(c.segment_readers()[0].meta().del_gen, 1);
        assert_eq!(c.count(&Query::term(body, "even")).unwrap(), 15);
    }

    #[test]
    fn a_rollback_during_a_merge_cancels_it() {
        let (dir, index, w) = three_segments();
        let body = index.schema().field("body").unwrap();
        w.delete_term(body, "even").unwrap();
        let plans = w.plan_forced(super::Forced::Merge(1)).unwrap().unwrap();
        let name = plans[0].name.clone();
        let done: Vec<_> = plans
            .into_iter()
            .map(|p| w.run_merge(p, &dir).unwrap())
            .collect();
        // Brings the even documents back: the merged segment lacks them.
        w.rollback().unwrap();
        assert!(!w.install_merges(&done).unwrap());
        drop(done);
        assert_eq!(w.num_segments(), 3);
        assert_eq!(w.searcher().unwrap().num_docs(), 30);
        crate::index::write::merger::delete_partial(&dir, &name);
        assert!(!dir
            .list()
            .unwrap()
            .iter()
            .any(|f| f.starts_with(&format!("{name}."))));
        // A merge after the rollback goes through.
        w.force_merge(1).unwrap();
        assert_eq!(w.num_segments(), 1);
        assert_eq!(w.searcher().unwrap().num_docs(), 30);
    }

    #[test]
    fn groups_join_smallest_neighbours() {
        assert_eq!(merge_groups(&[5, 1, 1, 9], 1), vec![0..4]);
        assert_eq!(merge_groups(&[5, 1, 1, 9], 2), vec![0..3, 3..4]);
        assert_eq!(merge_groups(&[5, 1, 1, 9], 3), vec![0..1, 1..3, 3..4]);
        assert_eq!(merge_groups(&[5, 1, 1, 9], 4), vec![0..1, 1..2, 2..3, 3..4]);
        assert_eq!(merge_groups(&[5, 1, 1, 9], 10).len(), 4);
        assert_eq!(merge_groups(&[], 1), Vec::<std::ops::Range<usize>>::new());
        assert_eq!(merge_groups(&[3, 3, 3, 3], 2), vec![0..2, 2..4]);
    }
}
