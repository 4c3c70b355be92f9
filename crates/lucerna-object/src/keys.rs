//! The key layout under a bucket prefix.
//!
//! ```text
//! manifests/<generation, 20 digits>               one commit, created if absent
//! segments/<segment id, 32 hex>/<file name>       a segment file, written once
//! wal/<epoch, 20 digits>-<first lsn, 20 digits>   a shipped log batch, created if absent
//! leases/<reader id, 16 hex>-<generation, 20 digits>  a reader's hold on a commit
//! snapshots/<name>                                a named snapshot of a commit
//! ```
//!
//! Zero-padded numbers make the bucket's lexicographic listing the
//! numeric order. Every parser here takes untrusted names (whatever a
//! listing returns) and answers `None` for anything else.

/// Folder of manifests.
pub const MANIFESTS: &str = "manifests";
/// Folder of segment files.
pub const SEGMENTS: &str = "segments";
/// Folder of shipped log batches.
pub const WAL: &str = "wal";
/// Folder of reader leases.
pub const LEASES: &str = "leases";
/// Folder of named snapshots.
pub const SNAPSHOTS: &str = "snapshots";

/// Key of the manifest of `generation`.
pub fn manifest_key(generation: u64) -> String {
    format!("{MANIFESTS}/{generation:020}")
}

/// The generation of a manifest key.
pub fn parse_manifest_key(key: &str) -> Option<u64> {
    parse_padded(key.strip_prefix(MANIFESTS)?.strip_prefix('/')?)
}

/// Key of file `name` of the segment with id `id`.
pub fn segment_key(id: &[u8; 16], name: &str) -> String {
    format!("{SEGMENTS}/{}/{name}", hex(id))
}

/// The segment id and file name of a segment key.
pub fn parse_segment_key(key: &str) -> Option<([u8; 16], String)> {
    let rest = key.strip_prefix(SEGMENTS)?.strip_prefix('/')?;
    let (id, name) = rest.split_once('/')?;
    let id = parse_hex16(id)?;
    if name.is_empty() || name.contains('/') {
        return None;
    }
    Some((id, name.to_string()))
}

/// Key of the shipped log batch of writer `epoch` starting at `first_lsn`.
pub fn wal_key(epoch: u64, first_lsn: u64) -> String {
    format!("{WAL}/{epoch:020}-{first_lsn:020}")
}

/// `(epoch, first lsn)` of a shipped log key.
pub fn parse_wal_key(key: &str) -> Option<(u64, u64)> {
    let rest = key.strip_prefix(WAL)?.strip_prefix('/')?;
    let (e, l) = rest.split_once('-')?;
    Some((parse_padded(e)?, parse_padded(l)?))
}

/// Key of reader `reader`'s lease on `generation`.
pub fn lease_key(reader: u64, generation: u64) -> String {
    format!("{LEASES}/{reader:016x}-{generation:020}")
}

/// `(reader, generation)` of a lease key.
pub fn parse_lease_key(key: &str) -> Option<(u64, u64)> {
    let rest = key.strip_prefix(LEASES)?.strip_prefix('/')?;
    let (r, g) = rest.split_once('-')?;
    if r.len() != 16 || !r.bytes().all(is_lower_hex) {
        return None;
    }
    Some((u64::from_str_radix(r, 16).ok()?, parse_padded(g)?))
}

/// Key of snapshot `name` (a plain name: letters, digits, `-`, `_`, `.`).
pub fn snapshot_key(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name != "."
        && name != "..";
    ok.then(|| format!("{SNAPSHOTS}/{name}"))
}

/// Lower-case hex of `id`.
pub fn hex(id: &[u8]) -> String {
    let mut s = String::with_capacity(id.len() * 2);
    for b in id {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A digit of the lower-case hex the formatters write: names are parsed
/// only in the one spelling this module produces, so two names never
/// stand for one object.
fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

fn parse_hex16(s: &str) -> Option<[u8; 16]> {
    if s.len() != 32 || !s.bytes().all(is_lower_hex) {
        return None;
    }
    let mut id = [0u8; 16];
    for (i, b) in id.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(id)
}

/// A 20-digit zero-padded decimal.
fn parse_padded(s: &str) -> Option<u64> {
    if s.len() != 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        assert_eq!(manifest_key(7), "manifests/00000000000000000007");
        assert_eq!(parse_manifest_key(&manifest_key(7)), Some(7));
        assert_eq!(parse_manifest_key("manifests/7"), None);
        let id = [0xab; 16];
        assert_eq!(
            parse_segment_key(&segment_key(&id, "seg_1.tdi")),
            Some((id, "seg_1.tdi".to_string()))
        );
        assert_eq!(parse_wal_key(&wal_key(3, 99)), Some((3, 99)));
        assert_eq!(parse_lease_key(&lease_key(0xfeed, 4)), Some((0xfeed, 4)));
        assert_eq!(
            parse_manifest_key(&format!("manifests/{}", u64::MAX)),
            Some(u64::MAX)
        );
        assert_eq!(parse_manifest_key("manifests/99999999999999999999"), None);
        assert!(snapshot_key("../x").is_none());
        // Upper-case hex is another spelling of a name we write: refused.
        assert_eq!(
            parse_segment_key(&format!("segments/{}/x", "AB".repeat(16))),
            None
        );
        assert_eq!(
            parse_lease_key("leases/000000000000FEED-00000000000000000004"),
            None
        );
        assert_eq!(snapshot_key("nightly-1").unwrap(), "snapshots/nightly-1");
    }
}
