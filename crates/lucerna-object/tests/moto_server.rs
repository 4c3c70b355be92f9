//! The S3-compatible test server really enforces put-if-absent.

mod common;

use lucerna_object::{Created, ObjectError};

#[test]
fn server_refuses_duplicate_put_if_absent() {
    let b = common::fresh_bucket("p");
    assert_eq!(b.create("k", b"x").unwrap(), Created::New);
    assert!(matches!(
        b.put_create("k", b"x"),
        Err(ObjectError::Conflict { .. })
    ));
    assert_eq!(b.create("k", b"x").unwrap(), Created::Identical);
    assert!(matches!(
        b.create("k", b"y"),
        Err(ObjectError::Conflict { .. })
    ));
    assert_eq!(b.list("").unwrap().len(), 1);
}
