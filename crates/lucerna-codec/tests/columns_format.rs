//! Numeric columns: order-preserving transforms, bit-packing roundtrips,
//! validation at open and corruption handling.

use lucerna_codec::columns::{
    f64_to_u64, i64_to_u64, u64_to_f64, u64_to_i64, ColumnsReader, ColumnsWriter,
};
use proptest::prelude::*;

mod harness;
use harness::*;
use lucerna_store::{Directory, FileSlice, RamDirectory};

const SEG: [u8; 16] = [7; 16];

fn decode_all(data: FileSlice) -> lucerna_store::Result<()> {
    let r = ColumnsReader::from_slice("f", data, &SEG)?;
    let fields: Vec<u32> = r.fields().collect();
    for f in fields {
        let c = r.column(f).unwrap();
        let n = c.num_docs();
        let probe = n.min(500);
        for d in 0..probe {
            std::hint::black_box(c.get_opt(d));
        }
        if n > 0 {
            std::hint::black_box(c.get(n - 1));
            let mut buf = [0u64; 8];
            let len = (n as usize).min(8);
            c.get_range(n - len as u32, &mut buf[..len]);
        }
        std::hint::black_box(c.has_value(n));
    }
    Ok(())
}

/// Column values: a mix of shapes that exercise every bit width and gcd.
fn column_values(max_len: usize) -> impl Strategy<Value = Vec<Option<u64>>> {
    let value = prop_oneof![
        any::<u64>().boxed(),
        (0u64..4).prop_map(|v| 1_700_000_000 + 60 * v).boxed(),
        (0u64..1000).boxed(),
        Just(u64::MAX).boxed(),
        Just(0u64).boxed(),
        (any::<u64>(), 0u32..64).prop_map(|(v, b)| v >> b).boxed(),
    ];
    let shape = prop_oneof![
        (1u64..1_000_000, 0u64..1 << 20).prop_map(|(g, base)| (g, base, true)),
        Just((1, 0, false)),
    ];
    (
        proptest::collection::vec(
            (proptest::option::weighted(0.8, value), any::<u64>()),
            0..max_len,
        ),
        shape,
    )
        .prop_map(|(vals, (g, base, scaled))| {
            vals.into_iter()
                .map(|(v, k)| {
                    v.map(|v| {
                        if scaled {
                            base.wrapping_add((k % 5000).wrapping_mul(g))
                        } else {
                            v
                        }
                    })
                })
                .collect()
        })
}

fn check_column(
    r: &ColumnsReader,
    field: u32,
    values: &[Option<u64>],
) -> Result<(), TestCaseError> {
    let c = r.column(field).unwrap();
    prop_assert_eq!(c.num_docs() as usize, values.len());
    let present: Vec<u64> = values.iter().flatten().copied().collect();
    let min = present.iter().copied().min().unwrap_or(0);
    let max = present.iter().copied().max().unwrap_or(0);
    prop_assert_eq!(c.min_value(), min);
    prop_assert_eq!(c.max_value(), max);
    prop_assert_eq!(c.num_present() as usize, present.len());
    prop_assert!(c.bits() <= 64);
    prop_assert_eq!(c.bits(), 64 - ((max - min) / c.gcd()).leading_zeros());
    for (d, v) in values.iter().enumerate() {
        prop_assert_eq!(c.get_opt(d as u32), *v);
        prop_assert_eq!(c.has_value(d as u32), v.is_some());
        prop_assert_eq!(c.get(d as u32), v.unwrap_or(min));
    }
    prop_assert_eq!(c.get_opt(values.len() as u32), None);
    let expected: Vec<u64> = values.iter().map(|v| v.unwrap_or(min)).collect();
    for start in [0usize, values.len() / 3, values.len()] {
        let mut buf = vec![0u64; values.len() - start];
        c.get_range(start as u32, &mut buf);
        prop_assert_eq!(&buf[..], &expected[start..]);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn roundtrip(
        len in 0usize..150,
        cols in proptest::collection::vec(column_values(150), 1..4),
    ) {
        let dir = RamDirectory::new();
        let mut w = ColumnsWriter::new(len as u32);
        let mut expected = Vec::new();
        for (i, mut col) in cols.into_iter().enumerate() {
            col.resize(len, None);
            let field = (i as u32) * 7 + 1;
            if col.iter().all(Option::is_some) && i % 2 == 0 {
                let dense: Vec<u64> = col.iter().flatten().copied().collect();
                w.add_dense(field, &dense).unwrap();
            } else {
                w.add_column(field, &col).unwrap();
            }
            expected.push((field, col));
        }
        w.write(&dir, "c", &SEG, "").unwrap();
        let r = ColumnsReader::open(&dir, "c", &SEG).unwrap();
        prop_assert_eq!(r.num_docs() as usize, len);
        prop_assert_eq!(r.fields().count(), expected.len());
        for (field, col) in &expected {
            check_column(&r, *field, col)?;
        }
        prop_assert!(r.column(0).is_none());
    }

    #[test]
    fn i64_order(a in any::<i64>(), b in any::<i64>()) {
        prop_assert_eq!(a.cmp(&b), i64_to_u64(a).cmp(&i64_to_u64(b)));
        prop_assert_eq!(u64_to_i64(i64_to_u64(a)), a);
    }

    #[test]
    fn f64_order(a in any::<f64>(), b in any::<f64>()) {
        prop_assert_eq!(a.total_cmp(&b), f64_to_u64(a).cmp(&f64_to_u64(b)));
        prop_assert_eq!(u64_to_f64(f64_to_u64(a)).to_bits(), a.to_bits());
        if !a.is_nan() && !b.is_nan() && a < b {
            prop_assert!(f64_to_u64(a) < f64_to_u64(b));
        }
    }

    #[test]
    fn random_payload_never_panics(payload in proptest::collection::vec(any::<u8>(), 0..160)) {
        let header = lucerna_store::EnvelopeHeader::new("columns", 1, SEG, "");
        decode_random_payload(&header, &payload, 4096, &decode_all);
    }
}

#[test]
fn transforms_known_values() {
    assert_eq!(i64_to_u64(i64::MIN), 0);
    assert_eq!(i64_to_u64(-1), (1 << 63) - 1);
    assert_eq!(i64_to_u64(0), 1 << 63);
    assert_eq!(i64_to_u64(i64::MAX), u64::MAX);
    let fs = [
        f64::NEG_INFINITY,
        -1e300,
        -1.0,
        -f64::MIN_POSITIVE,
        -0.0,
        0.0,
        f64::MIN_POSITIVE,
        1.0,
        1e300,
        f64::INFINITY,
    ];
    for w in fs.windows(2) {
        assert!(f64_to_u64(w[0]) < f64_to_u64(w[1]), "{} < {}", w[0], w[1]);
    }
    assert!(f64_to_u64(f64::NAN) > f64_to_u64(f64::INFINITY));
}

#[test]
fn extreme_widths() {
    let dir = RamDirectory::new();
    let n = 200u32;
    let mut w = ColumnsWriter::new(n);
    let full: Vec<u64> = (0..n as u64)
        .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .collect();
    let mut with_ends = full.clone();
    with_ends[0] = 0;
    with_ends[1] = u64::MAX;
    w.add_dense(0, &with_ends).unwrap();
    w.add_dense(1, &vec![42; n as usize]).unwrap();
    w.add_column(2, &vec![None; n as usize]).unwrap();
    let sixty_three: Vec<u64> = (0..n as u64)
        .map(|i| (i * 0x1234_5678_9abc) & ((1 << 63) - 1))
        .collect();
    w.add_dense(3, &sixty_three).unwrap();
    w.write(&dir, "c", &SEG, "").unwrap();
    let r = ColumnsReader::open(&dir, "c", &SEG).unwrap();
    let c0 = r.column(0).unwrap();
    assert_eq!(c0.bits(), 64);
    for d in 0..n {
        assert_eq!(c0.get(d), with_ends[d as usize]);
    }
    let c1 = r.column(1).unwrap();
    assert_eq!((c1.bits(), c1.min_value(), c1.max_value()), (0, 42, 42));
    assert_eq!(c1.get(199), 42);
    let c2 = r.column(2).unwrap();
    assert_eq!((c2.num_present(), c2.get_opt(5), c2.get(5)), (0, None, 0));
    let c3 = r.column(3).unwrap();
    for d in 0..n {
        assert_eq!(c3.get(d), sixty_three[d as usize]);
    }
}

#[test]
fn writer_rejects_bad_input() {
    let mut w = ColumnsWriter::new(3);
    assert!(w.add_dense(0, &[1, 2]).is_err());
    w.add_dense(0, &[1, 2, 3]).unwrap();
    assert!(w.add_column(0, &[None, None, None]).is_err());
}

#[test]
#[should_panic(expected = "out of range")]
fn get_out_of_range_panics() {
    let dir = RamDirectory::new();
    let mut w = ColumnsWriter::new(2);
    w.add_dense(0, &[1, 2]).unwrap();
    w.write(&dir, "c", &SEG, "").unwrap();
    let r = ColumnsReader::open(&dir, "c", &SEG).unwrap();
    r.column(0).unwrap().get(2);
}

#[test]
fn corruption() {
    let dir = RamDirectory::new();
    let mut w = ColumnsWriter::new(11);
    w.add_dense(0, &[5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 1005])
        .unwrap();
    w.add_column(
        3,
        &[
            Some(1),
            None,
            Some(u64::MAX),
            None,
            None,
            Some(0),
            None,
            None,
            None,
            None,
            Some(9),
        ],
    )
    .unwrap();
    w.add_dense(9, &[8; 11]).unwrap();
    w.write(&dir, "c", &SEG, "").unwrap();
    let file = dir.open("c").unwrap().to_vec();
    let s = corruption_sweep(&file, 4096, &decode_all);
    eprintln!("corruption sweep: {s:?}");
    assert!(s.flips > 0);
}
