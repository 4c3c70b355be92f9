//! `lucerna demo`: exercises the storage layer on real files.

use lucerna::store::{
    Directory, EnvelopeHeader, EnvelopeReader, EnvelopeWriter, FsDirectory, StoreError,
};
use std::path::PathBuf;
use std::time::Instant;

type DemoResult = Result<(), Box<dyn std::error::Error>>;

/// Runs the demo in `dir` (or a fresh temporary directory).
pub fn run(dir: Option<PathBuf>, json: bool) -> DemoResult {
    let path = match dir {
        Some(p) => p,
        None => std::env::temp_dir().join(format!("lucerna-demo-{}", std::process::id())),
    };
    let fs = FsDirectory::open(&path)?;
    let _lock = fs.try_lock("write.lock")?;
    let mut report = Vec::new();
    let say = |json: bool, line: String| {
        if !json {
            println!("{line}");
        }
    };
    say(json, format!("demo directory: {}", path.display()));

    // 1. Write a few envelope files of real text: this program's own sources
    //    are not on disk at run time, so use generated but meaningful payloads.
    let payloads: Vec<(String, Vec<u8>)> = (0..4)
        .map(|i| {
            let text = format!("file {i}: ").repeat(1 + i * 5000);
            (format!("demo-{i}.dat"), text.into_bytes())
        })
        .collect();
    for (i, (name, bytes)) in payloads.iter().enumerate() {
        if fs.exists(name)? {
            fs.delete(name)?;
        }
        let tmp = format!("{name}.tmp");
        if fs.exists(&tmp)? {
            fs.delete(&tmp)?;
        }
        let t = Instant::now();
        let mut id = [0u8; 16];
        id[0] = i as u8;
        let mut w = EnvelopeWriter::create(&fs, &tmp, &EnvelopeHeader::new("demo", 1, id, ""))?;
        w.write_all(bytes)?;
        let meta = w.finish()?;
        fs.sync(&[&tmp])?;
        fs.rename(&tmp, name)?;
        fs.sync_dir()?;
        say(
            json,
            format!(
                "wrote   {name:<12} {:>8} bytes  crc32 {:08x}  ({:?}, fsync + rename + dir fsync)",
                meta.len,
                meta.checksum,
                t.elapsed()
            ),
        );
        report.push(serde_json::json!({"file": name, "bytes": meta.len, "crc32": meta.checksum}));
    }

    // 2. Reopen (mmap), verify structure and the full checksum, compare bytes.
    for (name, bytes) in &payloads {
        let t = Instant::now();
        let r = EnvelopeReader::open(&fs, name)?;
        r.verify_full()?;
        r.expect_format("demo", 1..=1)?;
        if r.payload().as_slice() != bytes.as_slice() {
            return Err(format!("{name}: payload differs from what was written").into());
        }
        say(
            json,
            format!(
                "verified {name:<12} payload {} bytes intact ({:?})",
                bytes.len(),
                t.elapsed()
            ),
        );
    }

    // 3. List the directory.
    let names = fs.list()?;
    say(json, format!("listing: {}", names.join(", ")));

    // 4. Corrupt a copy of one file on disk and show the detection.
    let victim = &payloads[1].0;
    let mut bytes = fs.open(victim)?.to_vec();
    let pos = bytes.len() / 2;
    bytes[pos] ^= 0x10;
    let copy = "demo-corrupt.dat";
    if fs.exists(copy)? {
        fs.delete(copy)?;
    }
    lucerna::store::write_file(&fs, copy, &bytes)?;
    let detected = match EnvelopeReader::open(&fs, copy).and_then(|r| r.verify_full()) {
        Err(e @ StoreError::Corrupt { .. }) => e.to_string(),
        Err(e) => return Err(e.into()),
        Ok(()) => return Err("a flipped bit went undetected".into()),
    };
    say(
        json,
        format!("flipped one bit at offset {pos} of a copy: {detected}"),
    );
    fs.delete(copy)?;

    if json {
        println!(
            "{}",
            serde_json::json!({"dir": path.display().to_string(), "files": report, "listing": names, "corruption_detected": detected})
        );
    }
    Ok(())
}
