//! The merge path shared by forced and automatic merges
//! ([`IndexWriter::force_merge`], `force_merge.rs`; `maybe_merge`,
//! `automerge.rs`): a merge's [`Plan`], the writer's segments as the merge
//! policy sees them ([`descriptors`]), and [`IndexWriter::execute_merges`],
//! which writes and installs planned merges.
//!
//! A merge runs in three steps so that indexing, deletes and commits go on
//! while segments are being written:
//!
//! 1. *plan* (writer state locked): apply pending deletes, choose the
//!    segments, and snapshot each input's reader and live documents (a
//!    forced merge first flushes every buffer and asks the policy's
//!    [`find_forced_merges`](lucerna_merge::MergePolicy::find_forced_merges)
//!    or
//!    [`find_forced_deletes_merges`](lucerna_merge::MergePolicy::find_forced_deletes_merges);
//!    an automatic merge takes the segments its policy chose);
//! 2. *merge* (no writer lock): verify every input file's CRC, write each
//!    group's new segment, and verify every input again (the bytes the
//!    merge read: see [`merger`](crate::index::write::merger)); a mismatch
//!    discards the new segment;
//! 3. *install* (writer operations paused): apply deletes that arrived
//!    meanwhile to the inputs, carry them over to the new segments through
//!    the doc-id maps, and swap the new segments in place of their inputs.
//!
//! Both merge modules use this one and neither uses the other's merge
//! code: `force_merge` only asks `automerge` to hold automatic merges back
//! while it runs, and `automerge` never calls into `force_merge`. The
//! memory a running merge reserves ([`MergeMemory`]) is kept here too, so
//! this module depends on neither of them.

use super::{segment_number, IndexWriter, State, WSeg};
use crate::error::Result;
use crate::index::integrity::commit::SegmentMeta;
use crate::index::integrity::verify::Verify;
use crate::index::read::segment_reader::SegmentReader;
use crate::index::write::merger::{
    delete_partial, merge_memory_bytes, merge_segments, segment_file_names, DocMap, MergeInput,
};
use lucerna_codec::livedocs::LiveDocs;
use lucerna_merge::SegmentDescriptor;
use lucerna_store::Directory;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

/// Memory reserved by running merges, out of the writer's budget
/// (indexing buffers flush earlier while merges hold it).
#[derive(Debug, Default)]
pub(super) struct MergeMemory {
    reserved: AtomicU64,
}

/// Gives a merge's memory reservation back when the merge ends.
pub(super) struct Reservation<'a> {
    memory: &'a MergeMemory,
    bytes: u64,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.memory.reserved.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

impl MergeMemory {
    /// Reserves `bytes` of the writer's memory budget for a merge.
    pub(super) fn reserve(&self, bytes: u64) -> Reservation<'_> {
        self.reserved.fetch_add(bytes, Ordering::AcqRel);
        Reservation {
            memory: self,
            bytes,
        }
    }

    /// Bytes reserved by the merges running now.
    pub(super) fn reserved(&self) -> u64 {
        self.reserved.load(Ordering::Relaxed)
    }
}

/// Fixed working memory of one merge (term, block and stored-field
/// buffers, and the batches of its terms phase), reserved from the
/// writer's budget on top of the per-document part.
const MERGE_FIXED_BYTES: u64 = (1 << 20) + crate::index::write::merge_terms::BATCHES_BYTES;

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
    doc_maps: Vec<DocMap>,
}

/// A written merge, ready to install.
pub(super) struct Done {
    sources: Vec<Source>,
    /// `None` when no input had a live document (the inputs are simply
    /// dropped).
    merged: Option<Merged>,
}

/// The policy's view of the writer's segments.
pub(super) fn descriptors(st: &State) -> Vec<SegmentDescriptor> {
    st.segments
        .iter()
        .filter_map(|s| {
            let id = segment_number(&s.meta.name)?;
            let deleted = s
                .live
                .as_ref()
                .map_or(s.meta.num_deleted, |l| l.num_deleted());
            Some(
                SegmentDescriptor::new(id, s.meta.size_bytes(), s.meta.max_doc as u64)
                    .with_deletes(deleted as u64),
            )
        })
        .collect()
}

/// Ids (as in [`descriptors`]) of the segments written by a flush of this
/// writer and not merged since.
pub(super) fn fresh_segments(st: &State) -> HashSet<u64> {
    st.segments
        .iter()
        .filter(|s| s.fresh)
        .filter_map(|s| segment_number(&s.meta.name))
        .collect()
}

impl IndexWriter {
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

    /// Writes one merged segment into `dir` (no writer lock held), with
    /// its working memory reserved from the writer's budget.
    pub(super) fn run_merge(&self, plan: Plan, dir: &dyn Directory) -> Result<Done> {
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
        // The merge's working memory comes out of the writer's budget.
        let _reserved = self.inner.merge_memory.reserve(
            merge_memory_bytes(&self.inner.schema, &inputs).saturating_add(MERGE_FIXED_BYTES),
        );
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
    pub(super) fn install_merges(&self, done: &[Done]) -> Result<bool> {
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
                                    if let Some(nd) = m.doc_maps.get(k).and_then(|x| x.get(doc)) {
                                        carried
                                            .get_or_insert_with(|| LiveDocs::all(m.meta.max_doc))
                                            .delete(nd);
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
                fresh: false,
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
