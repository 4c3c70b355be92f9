//! The recover layer (highest): `check` (find damage), `recovery`
//! (`repair`: bring a damaged index back), `heal` (automatic healing by
//! readers and writers) and `replica` (replication).
//!
//! May use every layer below it (write, read, integrity); nothing below
//! uses it.

pub mod check;
pub mod heal;
pub mod recovery;
pub mod replica;
