//! Every fault kind of `FaultyDirectory` fires at the chosen operation and
//! not before.

use lucerna_store::{
    write_file, Directory, Fault, FaultyDirectory, OpKind, RamDirectory, ReadCorruption, StoreError,
};

fn os_code(e: &StoreError) -> Option<i32> {
    match e {
        StoreError::Io { source, .. } => source.raw_os_error(),
        _ => None,
    }
}

/// Performs one operation of `kind` (with whatever set-up it needs done
/// beforehand so that only the operation itself is counted).
fn attempt(dir: &FaultyDirectory<RamDirectory>, kind: OpKind, i: u64) -> Result<(), StoreError> {
    let name = format!("f{i}");
    match kind {
        OpKind::Create => dir.create(&name).map(|w| {
            let _ = w.finish();
        }),
        OpKind::Write => {
            let mut w = dir.create(&name)?;
            let r = w.write_all(b"data");
            let _ = w.finish();
            r
        }
        OpKind::Finish => {
            let w = dir.create(&name)?;
            w.finish().map(|_| ())
        }
        OpKind::Sync => {
            write_file(dir.inner(), &name, b"x")?;
            dir.sync(&[&name])
        }
        OpKind::SyncDir => dir.sync_dir(),
        OpKind::Rename => {
            write_file(dir.inner(), &name, b"x")?;
            dir.rename(&name, &format!("r{i}"))
        }
        OpKind::Delete => {
            write_file(dir.inner(), &name, b"x")?;
            dir.delete(&name)
        }
        OpKind::Open => {
            write_file(dir.inner(), &name, b"x")?;
            dir.open(&name).map(|_| ())
        }
    }
}

#[test]
fn each_kind_fails_exactly_at_the_chosen_operation() {
    for kind in OpKind::ALL {
        for fault in [Fault::Eio, Fault::Enospc] {
            let seed = 1000 + kind as u64;
            let dir = FaultyDirectory::new(RamDirectory::new(), seed);
            dir.fail_at(kind, 3, fault);
            for i in 0..6u64 {
                let r = attempt(&dir, kind, i);
                let ctx = format!("seed {seed}: {kind:?} #{i} with {fault:?}");
                if i == 3 {
                    let e = r.expect_err(&ctx);
                    let want = if fault == Fault::Eio { 5 } else { 28 };
                    assert_eq!(os_code(&e), Some(want), "{ctx}: {e}");
                    assert_eq!(e.is_disk_full(), fault == Fault::Enospc, "{ctx}");
                } else {
                    r.unwrap_or_else(|e| panic!("{ctx}: fired early or late: {e}"));
                }
            }
            assert_eq!(dir.op_count(kind), 6);
            assert_eq!(dir.fired().len(), 1, "{kind:?}");
        }
    }
}

#[test]
fn sticky_faults_persist_until_cleared() {
    let dir = FaultyDirectory::new(RamDirectory::new(), 7);
    dir.fail_from(OpKind::Create, 2, Fault::Enospc);
    assert!(attempt(&dir, OpKind::Create, 0).is_ok());
    assert!(attempt(&dir, OpKind::Create, 1).is_ok());
    for i in 2..6 {
        assert!(attempt(&dir, OpKind::Create, i).unwrap_err().is_disk_full());
    }
    dir.clear_faults();
    assert!(attempt(&dir, OpKind::Create, 6).is_ok(), "writing resumes");
}

#[test]
fn random_faults_are_reproducible_from_the_seed() {
    let pattern = |seed| {
        let dir = FaultyDirectory::new(RamDirectory::new(), seed);
        dir.fail_randomly(OpKind::Delete, 0.3, Fault::Eio);
        (0..64)
            .map(|i| attempt(&dir, OpKind::Delete, i).is_err())
            .collect::<Vec<_>>()
    };
    let a = pattern(11);
    assert_eq!(a, pattern(11));
    assert!(a.iter().any(|&x| x) && a.iter().any(|&x| !x), "{a:?}");
    assert_ne!(a, pattern(12));
}

#[test]
fn read_corruptions_apply_from_installation_on() {
    let dir = FaultyDirectory::new(RamDirectory::new(), 3);
    write_file(&dir, "d", &[0u8; 16]).unwrap();
    assert_eq!(&*dir.open("d").unwrap(), &[0u8; 16]);
    dir.corrupt_on_read("d", ReadCorruption::FlipBit { offset: 5, bit: 2 });
    let b = dir.open("d").unwrap();
    assert_eq!(b[5], 4);
    assert_eq!(b.iter().filter(|&&x| x != 0).count(), 1);
    dir.corrupt_on_read("d", ReadCorruption::Truncate { len: 9 });
    assert_eq!(dir.open("d").unwrap().len(), 9);
    // The underlying file is untouched.
    assert_eq!(&*dir.inner().open("d").unwrap(), &[0u8; 16]);
    dir.clear_read_corruptions();
    assert_eq!(&*dir.open("d").unwrap(), &[0u8; 16]);
}

#[test]
fn crash_fires_on_demand_and_only_then() {
    let dir = FaultyDirectory::new(RamDirectory::new(), 5);
    write_file(&dir, "a", b"unsynced").unwrap();
    dir.sync(&["a"]).unwrap();
    // Not durable (no sync_dir) but present until the crash.
    assert!(dir.exists("a").unwrap());
    dir.crash().unwrap();
    assert!(!dir.exists("a").unwrap());
}
