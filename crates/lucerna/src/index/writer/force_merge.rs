//! [`IndexWriter::force_merge`]: merges the writer's segments down to a
//! given number; and the merge path it shares with automatic merges
//! ([`IndexWriter::execute_merges`]).
//!
//! A merge runs in three steps so that indexing, deletes and commits go on
//! while segments are being written:
//!
//! 1. *plan* (writer state locked): apply pending deletes, choose the
//!    segments, and snapshot each input's reader and live documents (a
//!    forced merge first flushes every buffer and chooses groups of
//!    adjacent segments; an automatic merge takes the segments its policy
//!    chose);
//! 2. *merge* (no writer lock): verify every input file's CRC and write
//!    each group's new segment;
//! 3. *install* (writer operations paused): apply deletes that arrived
//!    meanwhile to the inputs, carry them over to the new segments through
//!    the doc-id maps, and swap the new segments in place of their inputs.

use super::{random_id, IndexWriter, WSeg};
use crate::error::{Error, Result};
use crate::index::commit::SegmentMeta;
use crate::index::merger::{delete_partial, merge_segments, segment_file_names, MergeInput};
use crate::index::segment_reader::SegmentReader;
use crate::index::verify::Verify;
use lucerna_codec::livedocs::LiveDocs;
use lucerna_store::Directory;
use std::collections::HashSet;
use std::ops::Range;
use std::time::Instant;

/// An input segment as it was when the merge was planned.
pub(super) struct Source {
    pub(super) reader: SegmentReader,
    pub(super) live: Option<LiveDocs>,
}

impl Source {
    fn is_live(&self, doc: u32) -> bool {
        match &self.live {
            Some(l) => l.is_live(doc),
            None => self.reader.is_live(doc),
        }
    }

    fn num_live(&self) -> u32 {
        match &self.live {
            Some(l) => l.num_live(),
            None => self.reader.num_live(),
        }
    }
}

/// One group of segments to merge into segment `name`.
pub(super) struct Plan {
    pub(super) name: String,
    pub(super) id: [u8; 16],
    pub(super) sources: Vec<Source>,
}

/// A written segment.
struct Merged {
    meta: SegmentMeta,
    reader: SegmentReader,
    /// Per input, old doc → new doc (`None`: deleted).
    doc_maps: Vec<Vec<Option<u32>>>,
}

/// A written merge, ready to install.
struct Done {
    sources: Vec<Source>,
    /// `None` when no input had a live document (the inputs are simply
    /// dropped).
    merged: Option<Merged>,
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

fn rolled_back() -> Error {
    Error::InvalidArgument(
        "force_merge: the writer was rolled back while merging; nothing was merged".into(),
    )
}

impl IndexWriter {
    /// Merges the writer's segments down to at most `max_segments`.
    ///
    /// First flushes every in-memory buffer and applies pending deletes.
    /// With `max_segments == 1` every segment is merged into one (a single
    /// segment with deleted documents is rewritten without them); otherwise
    /// adjacent segments are merged, smallest neighbours first, until at
    /// most `max_segments` remain. Deleted documents are dropped and the
    /// survivors keep their relative order.
    ///
    /// Every file of every input segment is verified against the length and
    /// CRC recorded for it before it is read: a damaged input fails the
    /// merge with a [`StoreError::Corrupt`](crate::store::StoreError)
    /// naming the file, and nothing changes.
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
    /// let searcher = index.reader()?.searcher();
    /// assert_eq!(searcher.segments().len(), 1);
    /// assert_eq!(searcher.segments()[0].max_doc(), 3); // deleted documents are gone
    /// assert_eq!(searcher.count(&Query::term(body, "full"))?, 3);
    /// # Ok(()) }
    /// ```
    pub fn force_merge(&self, max_segments: usize) -> Result<()> {
        if max_segments == 0 {
            return Err(Error::InvalidArgument("max_segments must be ≥ 1".into()));
        }
        self.check_open()?;
        let result = self.force_merge_locked(max_segments);
        self.maybe_merge();
        result
    }

    fn force_merge_locked(&self, max_segments: usize) -> Result<()> {
        let _merging = self.inner.merge_lock.lock();
        let forcing = self.begin_forcing()?;
        let plans = loop {
            self.wait_idle()?;
            // `None`: an automatic merge slipped in before `forcing` was
            // seen; wait for it too.
            if let Some(plans) = self.plan_merges(max_segments)? {
                break plans;
            }
        };
        if plans.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        match self.execute_merges(plans, self.inner.dir.as_ref())? {
            Some(bytes) => {
                self.record_forced_merge(bytes, started.elapsed());
                drop(forcing);
                Ok(())
            }
            None => Err(rolled_back()),
        }
    }

    /// The merge path of forced and automatic merges: writes every plan's
    /// segment into `dir` (`None` for a forced merge: the index directory;
    /// a throttled view of it for automatic ones), then installs them all.
    /// Returns the bytes written, or `None` when a rollback meanwhile took
    /// away what the merges relied on (nothing is installed then). On any
    /// error or `None`, the new files are deleted and nothing changes.
    pub(super) fn execute_merges(
        &self,
        plans: Vec<Plan>,
        dir: &dyn Directory,
    ) -> Result<Option<u64>> {
        let names: Vec<String> = plans.iter().map(|p| p.name.clone()).collect();
        // Keeps the new files from being deleted as unused (by a commit or
        // rollback running meanwhile) until they are installed.
        let guard = self
            .inner
            .refs
            .acquire(names.iter().flat_map(|n| segment_file_names(n)).collect());
        let mut done = Vec::with_capacity(plans.len());
        let mut result = Ok(None);
        for plan in plans {
            match self.run_merge(plan, dir) {
                Ok(d) => done.push(d),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if result.is_ok() {
            let bytes = done
                .iter()
                .filter_map(|d| d.merged.as_ref())
                .map(|m| m.meta.size_bytes())
                .sum::<u64>();
            result = self
                .install_merges(&done)
                .map(|installed| installed.then_some(bytes));
        }
        drop(done);
        drop(guard);
        if !matches!(result, Ok(Some(_))) {
            for name in &names {
                delete_partial(self.inner.dir.as_ref(), name);
            }
        }
        result
    }

    /// Flushes, applies pending deletes and chooses what to merge. `None`
    /// when automatic merges hold some segments (the caller waits for them
    /// and asks again).
    fn plan_merges(&self, max_segments: usize) -> Result<Option<Vec<Plan>>> {
        let _ops = self.inner.ops.write();
        self.flush_all()?;
        let mut st = self.inner.state.lock();
        if self.automatic_merges_in_flight() {
            return Ok(None);
        }
        self.resolve_deletes(&mut st)?;
        let live: Vec<u64> = st
            .segments
            .iter()
            .map(|s| {
                s.live
                    .as_ref()
                    .map_or(s.reader.num_live(), |l| l.num_live()) as u64
            })
            .collect();
        let mut plans = Vec::new();
        for group in merge_groups(&live, max_segments) {
            let has_deletes = group
                .clone()
                .any(|i| live[i] < st.segments[i].meta.max_doc as u64);
            if group.len() < 2 && !(max_segments == 1 && has_deletes) {
                continue;
            }
            let name = format!("seg_{}", st.next_segment);
            st.next_segment += 1;
            let id = random_id(&mut st.ids);
            let sources = st.segments[group]
                .iter()
                .map(|s| Source {
                    reader: s.reader.clone(),
                    live: s.live.clone(),
                })
                .collect();
            plans.push(Plan { name, id, sources });
        }
        Ok(Some(plans))
    }

    /// Writes one merged segment into `dir` (no writer lock held).
    fn run_merge(&self, plan: Plan, dir: &dyn Directory) -> Result<Done> {
        if plan.sources.iter().all(|s| s.num_live() == 0) {
            return Ok(Done {
                sources: plan.sources,
                merged: None,
            });
        }
        let inputs: Vec<MergeInput<'_>> = plan
            .sources
            .iter()
            .map(|s| MergeInput {
                reader: &s.reader,
                live: s.live.as_ref(),
            })
            .collect();
        let out = merge_segments(dir, &self.inner.schema, &inputs, &plan.name, plan.id)?;
        let reader = SegmentReader::open(
            self.inner.dir.as_ref(),
            &out.meta,
            self.inner.schema.clone(),
            &self.inner.refs,
            Verify::Structure,
        )?;
        Ok(Done {
            merged: Some(Merged {
                meta: out.meta,
                reader,
                doc_maps: out.doc_maps,
            }),
            sources: plan.sources,
        })
    }

    /// Swaps the merged segments in place of their inputs, carrying over
    /// deletes that arrived during the merge. Changes nothing on error or
    /// when it returns `false`: a rollback meanwhile removed an input or
    /// brought back a document the merge dropped.
    fn install_merges(&self, done: &[Done]) -> Result<bool> {
        let _ops = self.inner.ops.write();
        let mut st = self.inner.state.lock();
        self.resolve_deletes(&mut st)?;
        // Validate and compute everything first; then swap.
        let mut replaced: HashSet<usize> = HashSet::new();
        let mut inserts: Vec<(usize, Option<WSeg>)> = Vec::with_capacity(done.len());
        for d in done {
            let mut carried: Option<LiveDocs> = None;
            let mut first = usize::MAX;
            for (k, src) in d.sources.iter().enumerate() {
                let m = src.reader.meta();
                let pos = st
                    .segments
                    .iter()
                    .position(|s| s.meta.name == m.name && s.meta.id == m.id);
                let Some(pos) = pos else {
                    return Ok(false);
                };
                let seg = &st.segments[pos];
                let unchanged = match (&src.live, &seg.live) {
                    (Some(a), Some(b)) => a == b,
                    (None, None) => true,
                    _ => false,
                };
                if !unchanged {
                    for doc in 0..src.reader.max_doc() {
                        let now = match &seg.live {
                            Some(l) => l.is_live(doc),
                            None => seg.reader.is_live(doc),
                        };
                        match (src.is_live(doc), now) {
                            // Only a rollback brings a document back.
                            (false, true) => return Ok(false),
                            (true, false) => {
                                if let Some(m) = &d.merged {
                                    if let Some(Some(nd)) =
                                        m.doc_maps.get(k).and_then(|x| x.get(doc as usize))
                                    {
                                        carried
                                            .get_or_insert_with(|| LiveDocs::all(m.meta.max_doc))
                                            .delete(*nd);
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                }
                replaced.insert(pos);
                first = first.min(pos);
            }
            let wseg = d.merged.as_ref().map(|m| WSeg {
                meta: m.meta.clone(),
                reader: m.reader.clone(),
                dirty: carried.is_some(),
                live: carried,
                applied: st.last_delete,
            });
            inserts.push((first, wseg));
        }
        let old = std::mem::take(&mut st.segments);
        let mut segments = Vec::with_capacity(old.len());
        for (i, seg) in old.into_iter().enumerate() {
            for (at, wseg) in inserts.iter_mut() {
                if *at == i {
                    if let Some(w) = wseg.take() {
                        segments.push(w);
                    }
                }
            }
            if !replaced.contains(&i) {
                segments.push(seg);
            }
        }
        st.segments = segments;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::merge_groups;
    use crate::schema::Schema;
    use crate::store::{Directory, RamDirectory};
    use crate::{Document, Index, IndexWriter, Query, WriterConfig};

    /// 30 documents in 3 committed segments; `body` is "doc" plus
    /// "even"/"odd".
    fn three_segments() -> (RamDirectory, Index, IndexWriter) {
        let dir = RamDirectory::new();
        let index = Index::create(dir.clone(), Schema::logs()).unwrap();
        let (id, body) = (
            index.schema().field("id").unwrap(),
            index.schema().field("body").unwrap(),
        );
        let w = index
            .writer(WriterConfig::default().threads(1).max_buffered_docs(10))
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
        let plans = w.plan_merges(1).unwrap().unwrap();
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
        assert_eq!(s.segments()[0].max_doc(), 29);
        assert_eq!(s.num_docs(), 15);
        assert_eq!(s.count(&Query::term(body, "odd")).unwrap(), 0);
        w.commit().unwrap();
        let c = index.reader().unwrap().searcher();
        assert_eq!(c.num_docs(), 15);
        assert_eq!(c.segments()[0].meta().del_gen, 1);
        assert_eq!(c.count(&Query::term(body, "even")).unwrap(), 15);
    }

    #[test]
    fn a_rollback_during_a_merge_cancels_it() {
        let (dir, index, w) = three_segments();
        let body = index.schema().field("body").unwrap();
        w.delete_term(body, "even").unwrap();
        let plans = w.plan_merges(1).unwrap().unwrap();
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
        crate::index::merger::delete_partial(&dir, &name);
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
