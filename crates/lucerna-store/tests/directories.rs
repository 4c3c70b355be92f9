//! Behaviour shared by every `Directory` implementation.

use lucerna_store::{
    write_file, Directory, FaultyDirectory, FsDirectory, RamDirectory, ReadMode, StoreError,
};

fn exercise(dir: &dyn Directory) {
    assert!(dir.list().unwrap().is_empty() || dir.list().unwrap() == ["write.lock"]);
    let mut w = dir.create("a").unwrap();
    assert!(matches!(
        dir.open("a"),
        Err(StoreError::StillWriting { .. })
    ));
    w.write_all(b"hello ").unwrap();
    w.write_all(b"world").unwrap();
    assert_eq!(w.bytes_written(), 11);
    assert_eq!(w.finish().unwrap(), 11);
    assert!(matches!(
        dir.create("a"),
        Err(StoreError::AlreadyExists { .. })
    ));
    dir.sync(&["a"]).unwrap();
    assert_eq!(&*dir.open("a").unwrap(), b"hello world");
    let s = dir.open("a").unwrap().slice(6..11).unwrap();
    assert_eq!(&*s, b"world");
    assert_eq!(dir.file_len("a").unwrap(), 11);
    write_file(dir, "b", b"").unwrap();
    assert!(dir.open("b").unwrap().is_empty());
    dir.rename("a", "b").unwrap();
    assert_eq!(&*dir.open("b").unwrap(), b"hello world");
    assert!(!dir.exists("a").unwrap());
    dir.sync_dir().unwrap();
    // A slice outlives the deletion of its file name.
    let keep = dir.open("b").unwrap();
    dir.delete("b").unwrap();
    assert_eq!(&*keep, b"hello world");
    assert!(matches!(dir.open("b"), Err(StoreError::NotFound { .. })));
    assert!(matches!(dir.delete("b"), Err(StoreError::NotFound { .. })));
    for bad in ["", ".", "..", "x/y"] {
        assert!(matches!(
            dir.create(bad),
            Err(StoreError::InvalidName { .. })
        ));
    }
    let l = dir.try_lock("write.lock").unwrap();
    assert!(matches!(
        dir.try_lock("write.lock"),
        Err(StoreError::Locked { .. })
    ));
    drop(l);
    let _l2 = dir.try_lock("write.lock").unwrap();
}

#[test]
fn ram_directory() {
    exercise(&RamDirectory::new());
}

#[test]
fn fs_directory_mmap() {
    let tmp = tempfile::tempdir().unwrap();
    exercise(&FsDirectory::open(tmp.path()).unwrap());
}

#[test]
fn fs_directory_read_mode() {
    let tmp = tempfile::tempdir().unwrap();
    exercise(&FsDirectory::open_with(tmp.path(), ReadMode::Read).unwrap());
}

#[test]
fn faulty_directory_without_faults_behaves_like_its_inner() {
    exercise(&FaultyDirectory::new(RamDirectory::new(), 1));
}

#[test]
fn fs_lock_excludes_a_second_directory_handle() {
    let tmp = tempfile::tempdir().unwrap();
    let a = FsDirectory::open(tmp.path()).unwrap();
    let b = FsDirectory::open(tmp.path()).unwrap();
    let _g = a.try_lock("write.lock").unwrap();
    assert!(matches!(
        b.try_lock("write.lock"),
        Err(StoreError::Locked { .. })
    ));
}
