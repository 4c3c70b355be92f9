//! Micro-benchmarks of the engine's hot paths: text analysis, postings
//! encoding and decoding, bit packing (ours against the `bitpacking`
//! crate's), term dictionary lookups and
//! iteration, and query execution on a real index.
//!
//! Text comes from the shared evaluation corpus (`prose.jsonl`,
//! `logs.jsonl`: one JSON document a line) when it is present — in the
//! directory named by `LUCERNA_BENCH_CORPUS`, else in
//! `../shared/peers/corpus/out` beside the workspace — and is otherwise
//! generated from a fixed seed, so the benchmarks run on any machine. Which
//! source each group used, and the query terms picked from it, are printed
//! to stderr.
#![forbid(unsafe_code)]
// criterion's macros generate undocumented public functions.
#![allow(missing_docs)]

use bitpacking::{BitPacker, BitPacker1x, BitPacker4x, BitPacker8x};
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use lucerna::analysis::{Analyzer, DefaultAnalyzer};
use lucerna::internals::SearcherInternals;
use lucerna::schema::{Field, Schema};
use lucerna::store::{FsDirectory, RamDirectory};
use lucerna::{Collect, Document, Index, Query, WriterConfig};
use lucerna_codec::bitpack::{self, BLOCK};
use lucerna_codec::postings::{PostingsReader, PostingsWriter, TermInfo, DOC_VERSION, TERMINATED};
use lucerna_codec::termdict::{TermDict, TermDictWriter};
use std::collections::HashMap;
use std::fs::File;
use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::time::Duration;

/// Documents whose bodies each tokenize benchmark analyzes per iteration
/// (1.5 MB of prose, 0.9 MB of logs from the corpus).
const TOKENIZE_DOCS: usize = 8_000;
/// Documents of the query benchmarks' index.
const INDEX_DOCS: usize = 80_000;
/// Documents of the term the postings benchmarks encode and decode.
const POSTINGS_DOCS: usize = 200_000;
/// Documents whose analyzed bodies make the term dictionary benchmarks'
/// vocabulary.
const TERMDICT_DOCS: usize = 40_000;
/// Bit widths of the bitpack benchmarks.
const WIDTHS: [u8; 6] = [1, 5, 8, 13, 20, 32];

/// Short runs: the whole file should finish in a few minutes on 2 cores.
fn configure(g: &mut BenchmarkGroup<'_, WallTime>, measurement: Duration) {
    g.sample_size(20);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(measurement);
}

// ---------------------------------------------------------------------------
// Input data

/// Up to `max_docs` documents of `file` in the corpus directory, evenly
/// spread over it (every ⌈lines / max_docs⌉-th line from the first: the
/// corpus files are grouped by source), or `None` when it is absent,
/// unreadable or empty.
fn corpus_docs(schema: &Schema, file: &str, max_docs: usize) -> Option<Vec<Document>> {
    let path = lucerna_benches::corpus_dir().join(file);
    let mut lines = 0usize;
    let mut r = BufReader::new(File::open(&path).ok()?);
    loop {
        let buf = r.fill_buf().ok()?;
        if buf.is_empty() {
            break;
        }
        lines += buf.iter().filter(|&&b| b == b'\n').count();
        let n = buf.len();
        r.consume(n);
    }
    let stride = lines.div_ceil(max_docs.max(1)).max(1);
    let mut docs = Vec::with_capacity(max_docs.min(lines));
    let r = BufReader::new(File::open(&path).ok()?);
    for line in r.lines().step_by(stride).take(max_docs) {
        docs.push(Document::from_json_str(schema, &line.ok()?).ok()?);
    }
    (!docs.is_empty()).then_some(docs)
}

/// SplitMix64: a small, fixed-seed generator (no dependency, same stream
/// everywhere).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `n` documents of text drawn from a Zipf-distributed vocabulary of
/// pseudo-words, with some numbers, capitals and punctuation.
fn generated_docs(schema: &Schema, n: usize, seed: u64) -> Vec<Document> {
    const SYLLABLES: [&str; 32] = [
        "ka", "ro", "mi", "te", "su", "lan", "dor", "vi", "en", "pa", "qu", "is", "tor", "ne",
        "bal", "ri", "so", "gem", "ul", "fa", "cho", "in", "ver", "da", "lo", "mar", "ex", "ti",
        "on", "sha", "bu", "re",
    ];
    const VOCAB: usize = 20_000;
    let (id, timestamp, body) = logs_fields(schema);
    let mut rng = Rng(seed);
    let vocab: Vec<String> = (0..VOCAB)
        .map(|_| {
            let syllables = 1 + rng.below(3);
            (0..syllables)
                .map(|_| SYLLABLES[rng.below(SYLLABLES.len() as u64) as usize])
                .collect()
        })
        .collect();
    // Zipf (s = 1): cumulative weights of ranks 1..=VOCAB.
    let mut cumulative = Vec::with_capacity(VOCAB);
    let mut total = 0.0;
    for rank in 1..=VOCAB {
        total += 1.0 / rank as f64;
        cumulative.push(total);
    }
    (0..n)
        .map(|i| {
            let words = 8 + rng.below(60);
            let mut text = String::new();
            for w in 0..words {
                if w > 0 {
                    text.push_str(match rng.below(20) {
                        0 => ", ",
                        1 => ". ",
                        _ => " ",
                    });
                }
                if rng.below(20) == 0 {
                    text.push_str(&rng.below(100_000).to_string());
                    continue;
                }
                let x = rng.unit() * total;
                let word = &vocab[cumulative.partition_point(|&c| c < x).min(VOCAB - 1)];
                if rng.below(10) == 0 {
                    text.push_str(&word[..1].to_uppercase());
                    text.push_str(&word[1..]);
                } else {
                    text.push_str(word);
                }
            }
            let mut doc = Document::new();
            doc.add_u64(id, i as u64)
                .add_i64(timestamp, 1_704_067_200_000 + i as i64 * 1000)
                .add_text(body, text);
            doc
        })
        .collect()
}

fn logs_fields(schema: &Schema) -> (Field, Field, Field) {
    let f = |name| schema.field(name).expect("Schema::logs() field");
    (f("id"), f("timestamp"), f("body"))
}

/// Up to `max_docs` documents of corpus file `file`, or generated ones;
/// with a label saying which.
fn docs_or_generated(
    schema: &Schema,
    file: &str,
    max_docs: usize,
    seed: u64,
) -> (String, Vec<Document>) {
    match corpus_docs(schema, file, max_docs) {
        Some(docs) => (format!("corpus {file} (evenly spaced sample)"), docs),
        None => (
            format!("generated text (seed {seed}; {file} not found)"),
            generated_docs(schema, max_docs, seed),
        ),
    }
}

fn body_text(doc: &Document, body: Field) -> &str {
    doc.get_first(body).and_then(|v| v.as_str()).unwrap_or("")
}

// ---------------------------------------------------------------------------
// 1. Tokenize

fn tokenize(c: &mut Criterion) {
    let schema = Schema::logs();
    let (_, _, body) = logs_fields(&schema);
    let analyzer = DefaultAnalyzer::new();
    let mut g = c.benchmark_group("tokenize");
    configure(&mut g, Duration::from_secs(2));
    for (name, file, seed) in [("prose", "prose.jsonl", 1), ("logs", "logs.jsonl", 2)] {
        let (source, docs) = docs_or_generated(&schema, file, TOKENIZE_DOCS, seed);
        let bodies: Vec<&str> = docs.iter().map(|d| body_text(d, body)).collect();
        let bytes: usize = bodies.iter().map(|t| t.len()).sum();
        let mut tokens = 0u64;
        for text in &bodies {
            analyzer.analyze(text, &mut |_, _| tokens += 1);
        }
        eprintln!(
            "tokenize/{name}: {source}: {} documents, {bytes} bytes, {tokens} tokens",
            bodies.len()
        );
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_function(format!("default_analyzer/{name}"), |b| {
            b.iter(|| {
                let mut sum = 0u64;
                for text in &bodies {
                    analyzer.analyze(text, &mut |term, pos| {
                        sum = sum.wrapping_add(term.len() as u64 + pos as u64)
                    });
                }
                black_box(sum)
            })
        });
    }
    g.finish();
}

// ---------------------------------------------------------------------------
// 2. Postings

const SEGMENT_ID: [u8; 16] = [7; 16];

/// One term's postings: doc gaps 1..=7, mostly frequency 1, positions with
/// gaps 1..=20.
struct PostingsData {
    docs: Vec<u32>,
    freqs: Vec<u32>,
    positions: Vec<u32>,
    norms: Vec<u8>,
}

impl PostingsData {
    fn generate(n: usize, seed: u64) -> PostingsData {
        let mut rng = Rng(seed);
        let mut data = PostingsData {
            docs: Vec::with_capacity(n),
            freqs: Vec::with_capacity(n),
            positions: Vec::new(),
            norms: Vec::with_capacity(n),
        };
        let mut doc = 0u32;
        for i in 0..n {
            doc += if i == 0 { 0 } else { 1 + rng.below(7) as u32 };
            let freq = if rng.below(10) < 6 {
                1
            } else {
                2 + rng.below(7) as u32
            };
            let mut pos = 0u32;
            for _ in 0..freq {
                pos += rng.below(20) as u32 + 1;
                data.positions.push(pos);
            }
            data.docs.push(doc);
            data.freqs.push(freq);
            data.norms.push(rng.next() as u8);
        }
        data
    }

    fn max_doc(&self) -> u32 {
        self.docs.last().map_or(0, |d| d + 1)
    }

    fn write(&self, dir: &RamDirectory, with_positions: bool) -> TermInfo {
        self.write_version(dir, with_positions, DOC_VERSION)
    }

    /// As `write`, in `.doc` format `version`.
    fn write_version(&self, dir: &RamDirectory, with_positions: bool, version: u32) -> TermInfo {
        let mut w =
            PostingsWriter::with_doc_version(dir, SEGMENT_ID, "bench", with_positions, version)
                .expect("writer");
        w.start_term();
        let mut at = 0;
        for ((&doc, &freq), &norm) in self.docs.iter().zip(&self.freqs).zip(&self.norms) {
            let end = at + freq as usize;
            let positions = if with_positions {
                &self.positions[at..end]
            } else {
                &[][..]
            };
            w.add_doc(doc, freq, positions, norm).expect("add_doc");
            at = end;
        }
        let info = w.finish_term().expect("finish_term");
        w.finish().expect("finish");
        info
    }
}

fn postings(c: &mut Criterion) {
    let data = PostingsData::generate(POSTINGS_DOCS, 3);
    let n = data.docs.len() as u64;
    let mut g = c.benchmark_group("postings");
    configure(&mut g, Duration::from_secs(2));

    g.throughput(Throughput::Elements(n));
    for (name, with_positions) in [("docs_freqs", false), ("docs_freqs_positions", true)] {
        g.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| {
                let dir = RamDirectory::new();
                black_box(data.write(&dir, with_positions))
            })
        });
    }

    let dir = RamDirectory::new();
    let info = data.write(&dir, true);
    let reader = PostingsReader::open(&dir, "bench", SEGMENT_ID, data.max_doc()).expect("open");
    let expected_freqs: u64 = data.freqs.iter().map(|&f| f as u64).sum();

    // The same postings in `.doc` version 1 (sequential bit layout, our
    // scalar unpack), still read: the old decoder against the new one.
    let dir_v1 = RamDirectory::new();
    let info_v1 = data.write_version(&dir_v1, true, 1);
    let reader_v1 =
        PostingsReader::open(&dir_v1, "bench", SEGMENT_ID, data.max_doc()).expect("open");
    for (prefix, reader, info) in [
        ("decode", &reader, &info),
        ("decode_v1", &reader_v1, &info_v1),
    ] {
        g.bench_function(format!("{prefix}/docs_freqs"), |b| {
            b.iter(|| {
                let mut p = reader.postings(info).expect("postings");
                let mut freqs = 0u64;
                while p.doc() != TERMINATED {
                    freqs += p.freq() as u64;
                    p.advance().expect("advance");
                }
                assert_eq!(freqs, expected_freqs);
                black_box(freqs)
            })
        });
        g.bench_function(format!("{prefix}/docs_blocks"), |b| {
            b.iter(|| {
                let mut p = reader.postings(info).expect("postings");
                let mut docs = 0u64;
                p.for_each_block(|block| docs += block.len() as u64)
                    .expect("for_each_block");
                assert_eq!(docs, n);
                black_box(docs)
            })
        });
    }
    let mut positions = Vec::with_capacity(64);
    g.bench_function("decode/docs_freqs_positions", |b| {
        b.iter(|| {
            let mut p = reader.postings(&info).expect("postings");
            let mut sum = 0u64;
            while p.doc() != TERMINATED {
                positions.clear();
                p.positions(&mut positions).expect("positions");
                sum += positions.len() as u64 + positions.last().copied().unwrap_or(0) as u64;
                p.advance().expect("advance");
            }
            black_box(sum)
        })
    });

    // Seek to every 100th document, and to every 4th (a few documents on,
    // as a dense term's seeks mostly are): throughput counts seeks.
    let far: Vec<u32> = data.docs.iter().copied().step_by(100).skip(1).collect();
    let near: Vec<u32> = data.docs.iter().copied().step_by(4).skip(1).collect();
    for (name, reader, info, targets) in [
        ("seek/every_100th_doc", &reader, &info, &far),
        ("seek_v1/every_100th_doc", &reader_v1, &info_v1, &far),
        ("seek/every_4th_doc", &reader, &info, &near),
    ] {
        g.throughput(Throughput::Elements(targets.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut p = reader.postings(info).expect("postings");
                let mut last = 0;
                for &t in targets {
                    last = p.seek(t).expect("seek");
                }
                black_box(last)
            })
        });
    }
    g.finish();
}

// ---------------------------------------------------------------------------
// 3. Term dictionary

/// Term keys of a body field (field byte 0 + token), sorted and distinct,
/// from the analyzed text of the query benchmarks' source.
fn termdict_keys() -> (String, Vec<Vec<u8>>) {
    let schema = Schema::logs();
    let (_, _, body) = logs_fields(&schema);
    let (source, docs) = docs_or_generated(&schema, "prose.jsonl", TERMDICT_DOCS, 5);
    let analyzer = DefaultAnalyzer::new();
    let mut keys = std::collections::BTreeSet::new();
    for doc in &docs {
        analyzer.analyze(body_text(doc, body), &mut |term, _| {
            let mut k = Vec::with_capacity(term.len() + 1);
            k.push(0u8);
            k.extend_from_slice(term.as_bytes());
            keys.insert(k);
        });
    }
    (source, keys.into_iter().collect())
}

fn termdict(c: &mut Criterion) {
    let (source, keys) = termdict_keys();
    let dir = RamDirectory::new();
    let mut w = TermDictWriter::new(&dir, SEGMENT_ID, "bench.tdi").expect("writer");
    let mut rng = Rng(6);
    let (mut doc_off, mut pos_off) = (1u64, 0u64);
    for k in &keys {
        // Zipf-like document frequencies: mostly small, a few large.
        let bits = rng.below(14);
        let doc_freq = 1 + rng.below(1 << bits) as u32;
        w.insert(
            k,
            &TermInfo {
                doc_freq,
                doc_off,
                pos_off,
            },
        )
        .expect("insert");
        doc_off += 2 + doc_freq as u64 * 2;
        pos_off += doc_freq as u64 * 3;
    }
    let meta = w.finish().expect("finish");
    let dict = TermDict::open(&dir, "bench.tdi", SEGMENT_ID).expect("open");
    let key_bytes: usize = keys.iter().map(|k| k.len()).sum();
    eprintln!(
        "termdict: {source}: {} terms, {key_bytes} key bytes, file {} bytes ({:.2} bytes/term)",
        keys.len(),
        meta.len,
        meta.len as f64 / keys.len() as f64
    );

    // Lookups: a spread of present keys, and as many absent ones (each
    // present key with a byte appended, and with its last byte changed).
    let present: Vec<&[u8]> = keys
        .iter()
        .step_by((keys.len() / 4096).max(1))
        .map(|k| &k[..])
        .collect();
    let absent: Vec<Vec<u8>> = present
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let mut a = k.to_vec();
            if i % 2 == 0 {
                a.push(b'~');
            } else if let Some(last) = a.last_mut() {
                *last = last.wrapping_add(1) | 0x80;
            }
            a
        })
        .filter(|a| keys.binary_search(a).is_err())
        .collect();

    let mut g = c.benchmark_group("termdict");
    configure(&mut g, Duration::from_secs(2));
    g.throughput(Throughput::Elements(present.len() as u64));
    g.bench_function("lookup/present", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for k in &present {
                sum += dict.get(k).expect("get").expect("present").doc_freq as u64;
            }
            black_box(sum)
        })
    });
    g.throughput(Throughput::Elements(absent.len() as u64));
    g.bench_function("lookup/absent", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for k in &absent {
                n += dict.get(k).expect("get").is_some() as u64;
            }
            assert_eq!(n, 0);
            black_box(n)
        })
    });
    g.throughput(Throughput::Elements(keys.len() as u64));
    g.bench_function("iterate/all", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for t in dict.prefix(&[]).expect("prefix") {
                n += t.expect("term").1.doc_freq as u64;
            }
            black_box(n)
        })
    });
    // Prefix queries: the field byte and first two term bytes of 64
    // present keys.
    let prefixes: Vec<&[u8]> = present
        .iter()
        .step_by((present.len() / 64).max(1))
        .map(|k| &k[..k.len().min(3)])
        .collect();
    let matched: usize = prefixes
        .iter()
        .map(|p| keys.iter().filter(|k| k.starts_with(p)).count())
        .sum();
    g.throughput(Throughput::Elements(matched as u64));
    g.bench_function("prefix/2_bytes", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for p in &prefixes {
                n += dict.prefix(p).expect("prefix").count();
            }
            assert_eq!(n, matched);
            black_box(n)
        })
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("open", |b| {
        b.iter(|| black_box(TermDict::open(&dir, "bench.tdi", SEGMENT_ID).expect("open")))
    });
    g.finish();
}

// ---------------------------------------------------------------------------
// 4. Bitpack

/// First document id before a block in the delta-decoding benchmarks.
const DELTA_BASE: u32 = 1_000_000;

/// Ids from deltas as the postings cursor computes them: a running sum
/// from `base` (wrapping, as `bitpacking` does, so 32-bit deltas are fine).
#[inline(always)]
fn prefix_sum(base: u32, vals: &mut [u32]) {
    let mut acc = base;
    for v in vals {
        acc = acc.wrapping_add(*v);
        *v = acc;
    }
}

/// Our scalar packing against the `bitpacking` crate (tantivy's SIMD
/// packer, runtime-detected). Per width: `pack`, `unpack` (our layout,
/// [`bitpack`]), `unpack_delta` (ours, then the running sum the postings
/// cursor does); `bp1x_*`: `BitPacker1x` (scalar, 32-integer blocks whose
/// layout is ours: four of them decode one of our blocks in place);
/// `bp4x_*`: `BitPacker4x` (SSE3, 128-integer blocks in four interleaved
/// lanes: another layout); `bp8x_*`: `BitPacker8x` (AVX2, 256-integer
/// blocks). `*_delta` decode deltas to ids with `decompress_sorted`,
/// `bp4x_unpack_strict_delta` with `decompress_strictly_sorted` (which
/// stores delta − 1). Throughput is integers decoded.
fn bitpack(c: &mut Criterion) {
    let mut g = c.benchmark_group("bitpack");
    configure(&mut g, Duration::from_secs(1));
    let mut rng = Rng(4);
    let bp1 = BitPacker1x::new();
    let bp4 = BitPacker4x::new();
    let bp8 = BitPacker8x::new();
    for bits in WIDTHS {
        g.throughput(Throughput::Elements(BLOCK as u64));
        let mask = if bits == 32 {
            u32::MAX
        } else {
            (1u32 << bits) - 1
        };
        let mut vals: Vec<u32> = (0..BLOCK).map(|_| rng.next() as u32 & mask).collect();
        vals[0] |= 1 << (bits - 1);
        assert_eq!(bitpack::bits_needed(&vals), bits);
        // As in a postings file, more bytes follow the block (the fast path
        // of unpack).
        let mut encoded = Vec::with_capacity(bitpack::packed_len(bits) + 8);
        bitpack::pack(&vals, bits, &mut encoded);
        encoded.extend_from_slice(&[0; 8]);
        let mut out = [0u32; BLOCK];
        bitpack::unpack(&encoded, bits, &mut out);
        assert_eq!(&out[..], &vals[..]);
        let mut ids = vals.clone();
        prefix_sum(DELTA_BASE, &mut ids);

        let mut packed = Vec::with_capacity(bitpack::packed_len(bits));
        g.bench_function(format!("pack/{bits}bit"), |b| {
            b.iter(|| {
                packed.clear();
                bitpack::pack(black_box(&vals), bits, &mut packed);
                black_box(packed.len())
            })
        });
        g.bench_function(format!("unpack/{bits}bit"), |b| {
            b.iter(|| {
                bitpack::unpack(black_box(&encoded), bits, &mut out);
                black_box(out[BLOCK - 1])
            })
        });
        g.bench_function(format!("unpack_delta/{bits}bit"), |b| {
            b.iter(|| {
                bitpack::unpack(black_box(&encoded), bits, &mut out);
                prefix_sum(black_box(DELTA_BASE), &mut out);
                black_box(out[BLOCK - 1])
            })
        });

        // BitPacker1x reads our layout: a block of ours is four of its
        // 32-integer blocks of 4 × bits bytes each.
        let sub = BitPacker1x::compressed_block_size(bits);
        let bp1_unpack = |src: &[u8], out: &mut [u32; BLOCK]| {
            for (k, o) in out.chunks_exact_mut(BitPacker1x::BLOCK_LEN).enumerate() {
                bp1.decompress(&src[k * sub..], o, bits);
            }
        };
        let bp1_unpack_delta = |src: &[u8], base: u32, out: &mut [u32; BLOCK]| {
            let mut initial = base;
            for (k, o) in out.chunks_exact_mut(BitPacker1x::BLOCK_LEN).enumerate() {
                bp1.decompress_sorted(initial, &src[k * sub..], o, bits);
                initial = o[BitPacker1x::BLOCK_LEN - 1];
            }
        };
        bp1_unpack(&encoded, &mut out);
        assert_eq!(&out[..], &vals[..], "BitPacker1x reads our layout");
        bp1_unpack_delta(&encoded, DELTA_BASE, &mut out);
        assert_eq!(&out[..], &ids[..]);
        g.bench_function(format!("bp1x_unpack/{bits}bit"), |b| {
            b.iter(|| {
                bp1_unpack(black_box(&encoded), &mut out);
                black_box(out[BLOCK - 1])
            })
        });
        g.bench_function(format!("bp1x_unpack_delta/{bits}bit"), |b| {
            b.iter(|| {
                bp1_unpack_delta(black_box(&encoded), black_box(DELTA_BASE), &mut out);
                black_box(out[BLOCK - 1])
            })
        });

        // BitPacker4x: its own (interleaved) layout of 128 integers. The
        // deltas are packed as they are (`compress` of the deltas is what
        // `compress_sorted` writes), and as delta − 1 for the strict form.
        assert_eq!(BitPacker4x::BLOCK_LEN, BLOCK);
        let mut enc4 = vec![0u8; BitPacker4x::compressed_block_size(bits)];
        bp4.compress(&vals, &mut enc4, bits);
        if bits < 32 {
            // (At 32 bits the interleaving changes nothing.)
            assert_ne!(
                enc4[..],
                encoded[..enc4.len()],
                "BitPacker4x has its own layout"
            );
        }
        let strict: Vec<u32> = vals.iter().map(|v| v.wrapping_add(1)).collect();
        let mut strict_ids = strict.clone();
        prefix_sum(DELTA_BASE, &mut strict_ids);
        bp4.decompress(&enc4, &mut out, bits);
        assert_eq!(&out[..], &vals[..]);
        bp4.decompress_sorted(DELTA_BASE, &enc4, &mut out, bits);
        assert_eq!(&out[..], &ids[..]);
        bp4.decompress_strictly_sorted(Some(DELTA_BASE), &enc4, &mut out, bits);
        assert_eq!(&out[..], &strict_ids[..]);
        let mut packed4 = vec![0u8; enc4.len()];
        g.bench_function(format!("bp4x_pack/{bits}bit"), |b| {
            b.iter(|| black_box(bp4.compress(black_box(&vals), &mut packed4, bits)))
        });
        g.bench_function(format!("bp4x_unpack/{bits}bit"), |b| {
            b.iter(|| {
                bp4.decompress(black_box(&enc4), &mut out, bits);
                black_box(out[BLOCK - 1])
            })
        });
        g.bench_function(format!("bp4x_unpack_delta/{bits}bit"), |b| {
            b.iter(|| {
                bp4.decompress_sorted(black_box(DELTA_BASE), black_box(&enc4), &mut out, bits);
                black_box(out[BLOCK - 1])
            })
        });
        g.bench_function(format!("bp4x_unpack_strict_delta/{bits}bit"), |b| {
            b.iter(|| {
                bp4.decompress_strictly_sorted(
                    black_box(Some(DELTA_BASE)),
                    black_box(&enc4),
                    &mut out,
                    bits,
                );
                black_box(out[BLOCK - 1])
            })
        });

        // BitPacker8x: 256 integers a block (two of ours).
        let n8 = BitPacker8x::BLOCK_LEN;
        g.throughput(Throughput::Elements(n8 as u64));
        let vals8: Vec<u32> = vals.iter().chain(&vals).copied().collect();
        let mut enc8 = vec![0u8; BitPacker8x::compressed_block_size(bits)];
        bp8.compress(&vals8, &mut enc8, bits);
        let mut out8 = vec![0u32; n8];
        bp8.decompress(&enc8, &mut out8, bits);
        assert_eq!(out8, vals8);
        g.bench_function(format!("bp8x_unpack_256/{bits}bit"), |b| {
            b.iter(|| {
                bp8.decompress(black_box(&enc8), &mut out8, bits);
                black_box(out8[n8 - 1])
            })
        });
        g.bench_function(format!("bp8x_unpack_delta_256/{bits}bit"), |b| {
            b.iter(|| {
                bp8.decompress_sorted(black_box(DELTA_BASE), black_box(&enc8), &mut out8, bits);
                black_box(out8[n8 - 1])
            })
        });
    }
    g.finish();
}

// ---------------------------------------------------------------------------
// 5. Queries

/// Query terms picked from the indexed text: by document frequency, ties
/// broken by the terms, so the same data always gives the same picks.
struct Picks {
    /// The two terms in the most documents, most first.
    common: [(String, u32); 2],
    /// The term whose document frequency is nearest 1 % of the documents.
    mid: (String, u32),
    /// The two terms whose document frequencies are nearest 10 % of the
    /// documents: alike in density, and seldom in the same document.
    tenth: [(String, u32); 2],
    /// The two- and three-term sequences (consecutive positions) in the
    /// most documents.
    phrase2: (Vec<String>, u32),
    phrase3: (Vec<String>, u32),
}

impl Picks {
    fn collect(docs: &[Document], body: Field) -> Picks {
        let analyzer = DefaultAnalyzer::new();
        let mut ids: HashMap<String, u32> = HashMap::new();
        let mut terms: Vec<String> = Vec::new();
        // Per term: (document frequency, last document seen + 1).
        let mut df: Vec<(u32, u32)> = Vec::new();
        let mut bigrams: HashMap<(u32, u32), (u32, u32)> = HashMap::new();
        let mut trigrams: HashMap<(u32, u32, u32), (u32, u32)> = HashMap::new();
        let mut tokens: Vec<(u32, u32)> = Vec::new();
        fn count<K: std::hash::Hash + Eq>(map: &mut HashMap<K, (u32, u32)>, key: K, doc: u32) {
            let e = map.entry(key).or_insert((0, 0));
            if e.1 != doc + 1 {
                *e = (e.0 + 1, doc + 1);
            }
        }
        for (d, doc) in docs.iter().enumerate() {
            let d = d as u32;
            tokens.clear();
            analyzer.analyze(body_text(doc, body), &mut |term, pos| {
                let id = match ids.get(term) {
                    Some(&id) => id,
                    None => {
                        let id = terms.len() as u32;
                        ids.insert(term.to_string(), id);
                        terms.push(term.to_string());
                        df.push((0, 0));
                        id
                    }
                };
                tokens.push((id, pos));
            });
            for (i, &(t, pos)) in tokens.iter().enumerate() {
                let e = &mut df[t as usize];
                if e.1 != d + 1 {
                    *e = (e.0 + 1, d + 1);
                }
                let next = |k: usize| {
                    tokens
                        .get(i + k)
                        .filter(|&&(_, p)| p == pos + k as u32)
                        .map(|&(t, _)| t)
                };
                if let Some(t1) = next(1) {
                    count(&mut bigrams, (t, t1), d);
                    if let Some(t2) = next(2) {
                        count(&mut trigrams, (t, t1, t2), d);
                    }
                }
            }
        }
        let name = |ids: &[u32]| ids.iter().map(|&t| terms[t as usize].clone()).collect();
        let names =
            |ids: &[u32]| -> Vec<&str> { ids.iter().map(|&t| &*terms[t as usize]).collect() };

        let mut by_df: Vec<u32> = (0..terms.len() as u32).collect();
        by_df.sort_by(|&a, &b| {
            df[b as usize]
                .0
                .cmp(&df[a as usize].0)
                .then_with(|| terms[a as usize].cmp(&terms[b as usize]))
        });
        assert!(by_df.len() >= 3, "too few distinct terms in the index");
        let common = [0, 1].map(|r| {
            let t = by_df[r];
            (terms[t as usize].clone(), df[t as usize].0)
        });
        let target = (docs.len() / 100).max(1) as u32;
        let mid = by_df[2..]
            .iter()
            .copied()
            .min_by(|&a, &b| {
                df[a as usize]
                    .0
                    .abs_diff(target)
                    .cmp(&df[b as usize].0.abs_diff(target))
                    .then_with(|| terms[a as usize].cmp(&terms[b as usize]))
            })
            .expect("a mid-frequency term");
        let mid = (terms[mid as usize].clone(), df[mid as usize].0);
        let tenth_target = (docs.len() / 10).max(1) as u32;
        let mut near_tenth = by_df[2..].to_vec();
        near_tenth.sort_by(|&a, &b| {
            df[a as usize]
                .0
                .abs_diff(tenth_target)
                .cmp(&df[b as usize].0.abs_diff(tenth_target))
                .then_with(|| terms[a as usize].cmp(&terms[b as usize]))
        });
        assert!(near_tenth.len() >= 2, "too few distinct terms in the index");
        let tenth = [0, 1].map(|r| {
            let t = near_tenth[r];
            (terms[t as usize].clone(), df[t as usize].0)
        });

        let top_phrase = |seqs: Vec<(Vec<u32>, u32)>| -> (Vec<String>, u32) {
            let best = seqs
                .into_iter()
                .min_by(|(a, da), (b, db)| db.cmp(da).then_with(|| names(a).cmp(&names(b))))
                .expect("a phrase in the index");
            (name(&best.0), best.1)
        };
        let phrase2 = top_phrase(
            bigrams
                .into_iter()
                .map(|((a, b), (n, _))| (vec![a, b], n))
                .collect(),
        );
        let phrase3 = top_phrase(
            trigrams
                .into_iter()
                .map(|((a, b, c), (n, _))| (vec![a, b, c], n))
                .collect(),
        );
        Picks {
            common,
            mid,
            tenth,
            phrase2,
            phrase3,
        }
    }
}

fn queries(c: &mut Criterion) {
    let schema = Schema::logs();
    let (_, _, body) = logs_fields(&schema);
    let (source, docs) = docs_or_generated(&schema, "prose.jsonl", INDEX_DOCS, 5);
    let num_docs = docs.len();
    let picks = Picks::collect(&docs, body);

    // Built once; one segment after a forced merge, so the figures do not
    // depend on how flushes happened to fall.
    let tmp = tempfile::tempdir().expect("tempdir");
    let index = Index::create(FsDirectory::open(tmp.path()).expect("dir"), schema).expect("index");
    let writer = index.writer(WriterConfig::default()).expect("writer");
    for doc in docs {
        writer.add_document(doc).expect("add");
    }
    writer.commit().expect("commit");
    writer.force_merge(1).expect("force_merge");
    writer.commit().expect("commit");
    writer.close().expect("close");
    drop(writer);
    let searcher = index.reader().expect("reader").searcher();
    assert_eq!(searcher.num_docs(), num_docs as u64);
    assert_eq!(searcher.segments().len(), 1);

    let (c0, c1, mid) = (&picks.common[0], &picks.common[1], &picks.mid);
    let term = |t: &str| Query::term(body, t);
    let phrase = |ts: &[String]| Query::phrase(body, ts.iter().cloned());
    let phrase_postings =
        |ts: &[String]| -> u32 { ts.iter().map(|t| df_of(&searcher, body, t)).sum() };
    let q_and = Query::and([term(&c0.0), term(&c1.0)]);
    let (t0, t1) = (&picks.tenth[0], &picks.tenth[1]);
    let q_and_tenth = Query::and([term(&t0.0), term(&t1.0)]);
    let q_or_mid = Query::or([term(&c0.0), term(&mid.0)]);
    let q_or_common = Query::or([term(&c0.0), term(&c1.0)]);
    let top10 = Collect::TopK(10);
    let count_top10 = Collect::CountAndTopK(10);
    // (name, description, query, collect, postings of its terms)
    let cases = [
        (
            "term_common/count_top10",
            format!("{:?}", c0.0),
            term(&c0.0),
            count_top10,
            c0.1,
        ),
        (
            "term_common/top10",
            format!("{:?}", c0.0),
            term(&c0.0),
            top10,
            c0.1,
        ),
        (
            "term_mid/count_top10",
            format!("{:?}", mid.0),
            term(&mid.0),
            count_top10,
            mid.1,
        ),
        (
            "and_tenth/count_top10",
            format!("{:?} AND {:?}", t0.0, t1.0),
            q_and_tenth.clone(),
            count_top10,
            t0.1 + t1.1,
        ),
        (
            "and_tenth/top10",
            format!("{:?} AND {:?}", t0.0, t1.0),
            q_and_tenth.clone(),
            top10,
            t0.1 + t1.1,
        ),
        (
            "and_common/count_top10",
            format!("{:?} AND {:?}", c0.0, c1.0),
            q_and.clone(),
            count_top10,
            c0.1 + c1.1,
        ),
        (
            "and_common/top10",
            format!("{:?} AND {:?}", c0.0, c1.0),
            q_and,
            top10,
            c0.1 + c1.1,
        ),
        (
            "or_common_mid/count_top10",
            format!("{:?} OR {:?}", c0.0, mid.0),
            q_or_mid.clone(),
            count_top10,
            c0.1 + mid.1,
        ),
        (
            "or_common_mid/top10",
            format!("{:?} OR {:?}", c0.0, mid.0),
            q_or_mid,
            top10,
            c0.1 + mid.1,
        ),
        (
            "or_common/count_top10",
            format!("{:?} OR {:?}", c0.0, c1.0),
            q_or_common.clone(),
            count_top10,
            c0.1 + c1.1,
        ),
        (
            "or_common/top10",
            format!("{:?} OR {:?}", c0.0, c1.0),
            q_or_common,
            top10,
            c0.1 + c1.1,
        ),
        (
            "phrase2/count_top10",
            format!("{:?}", picks.phrase2.0.join(" ")),
            phrase(&picks.phrase2.0),
            count_top10,
            phrase_postings(&picks.phrase2.0),
        ),
        (
            "phrase3/count_top10",
            format!("{:?}", picks.phrase3.0.join(" ")),
            phrase(&picks.phrase3.0),
            count_top10,
            phrase_postings(&picks.phrase3.0),
        ),
        (
            "phrase2/top10",
            format!("{:?}", picks.phrase2.0.join(" ")),
            phrase(&picks.phrase2.0),
            top10,
            phrase_postings(&picks.phrase2.0),
        ),
        (
            "phrase3/top10",
            format!("{:?}", picks.phrase3.0.join(" ")),
            phrase(&picks.phrase3.0),
            top10,
            phrase_postings(&picks.phrase3.0),
        ),
    ];

    eprintln!("query: {source}: {num_docs} documents, 1 segment");
    for (name, description, query, _, postings) in &cases {
        let hits = searcher.count(query).expect("count");
        eprintln!("query/{name}: {description}: {hits} hits, {postings} postings");
    }

    let mut g = c.benchmark_group("query");
    configure(&mut g, Duration::from_secs(2));
    for (name, _, query, collect, postings) in &cases {
        // Throughput: postings of the query's terms per second.
        g.throughput(Throughput::Elements(*postings as u64));
        g.bench_function(*name, |b| {
            b.iter(|| black_box(searcher.search(query, *collect).expect("search")))
        });
    }
    g.finish();
}

/// Document frequency of `term` in `field` (a term query's count).
fn df_of(searcher: &lucerna::Searcher, field: Field, term: &str) -> u32 {
    searcher.count(&Query::term(field, term)).expect("count") as u32
}

criterion_group!(benches, tokenize, postings, termdict, bitpack, queries);
criterion_main!(benches);
