//! The layers inside `lucerna::index` hold: a module uses modules of its
//! own layer and of the layers below it, never above (integrity, then
//! read, then write, then recover; `index/mod.rs` above them all), and
//! every module of `src/index/` is in one of the four layer folders.
//!
//! The check reads the sources: every path a module names in its code
//! (`use` trees expanded; `crate::`, `super::` and `self::` resolved
//! against the module's own place) must not reach a higher layer's
//! folder, a higher layer's module through the public re-exports of
//! `index/mod.rs` (`crate::index::writer`), `Index` itself, or an item a
//! higher layer declares through the crate root (`crate::IndexWriter`).
//! Comments are left out (docs may point at whoever calls a module), and
//! so are `#[cfg(test)]` modules (a unit test may build a whole index as
//! its fixture; the arrows are about the code that ships). See
//! docs/architecture.md, "Layers inside `lucerna`".

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The layer folders of `src/index/`, lowest first.
const LAYERS: [&str; 4] = ["integrity", "read", "write", "recover"];

/// One source file of a layer.
struct Source {
    /// Its path, for messages.
    file: PathBuf,
    /// Its module path: `["crate", "index", "read", "reader"]`.
    module: Vec<String>,
    /// Its layer (an index into `LAYERS`).
    layer: usize,
    /// Its code, comments and test modules left out.
    code: String,
}

/// The `.rs` files under `dir`, recursively, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}

/// The module path of `file` (under `src/index/<layer>/`).
fn module_path(index_dir: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(index_dir).unwrap();
    let mut m = vec!["crate".to_string(), "index".to_string()];
    for c in rel.with_extension("").components() {
        m.push(c.as_os_str().to_string_lossy().into_owned());
    }
    if m.last().is_some_and(|l| l == "mod") {
        m.pop();
    }
    m
}

/// `src` without comments, with string and char literals emptied (so
/// that their braces and `//` do not count).
fn strip_comments_and_literals(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '/' if c.get(i + 1) == Some(&'/') => {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                }
            }
            '/' if c.get(i + 1) == Some(&'*') => {
                let mut depth = 0;
                while i < c.len() {
                    if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 2;
                    } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            'r' if matches!(c.get(i + 1), Some('"') | Some('#'))
                && (i == 0 || !(c[i - 1].is_alphanumeric() || c[i - 1] == '_')) =>
            {
                // A raw string: r"..." or r#"..."#.
                let mut j = i + 1;
                let mut hashes = 0;
                while c.get(j) == Some(&'#') {
                    hashes += 1;
                    j += 1;
                }
                if c.get(j) != Some(&'"') {
                    out.push(c[i]);
                    i += 1;
                    continue;
                }
                j += 1;
                loop {
                    if j >= c.len() {
                        break;
                    }
                    if c[j] == '"' && (0..hashes).all(|h| c.get(j + 1 + h) == Some(&'#')) {
                        j += 1 + hashes;
                        break;
                    }
                    j += 1;
                }
                out.push_str("\"\"");
                i = j;
            }
            '"' => {
                i += 1;
                while i < c.len() && c[i] != '"' {
                    if c[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
                out.push_str("\"\"");
            }
            '\'' => {
                // A char literal ('x', '\n', '\u{7f}'), or a lifetime.
                if c.get(i + 1) == Some(&'\\') {
                    let mut j = i + 3;
                    while j < c.len() && c[j] != '\'' {
                        j += 1;
                    }
                    i = j + 1;
                    out.push_str("' '");
                } else if c.get(i + 2) == Some(&'\'') {
                    i += 3;
                    out.push_str("' '");
                } else {
                    out.push('\'');
                    i += 1;
                }
            }
            ch => {
                out.push(ch);
                i += 1;
            }
        }
    }
    out
}

/// `code` without its `#[cfg(test)]` modules.
fn strip_test_modules(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        let mut after = rest[at + "#[cfg(test)]".len()..].trim_start();
        // Other attributes of the same item.
        while after.starts_with("#[") {
            let Some(end) = after.find(']') else { break };
            after = after[end + 1..].trim_start();
        }
        let is_mod = after.starts_with("mod ") || after.starts_with("pub(crate) mod ");
        let open = after.find('{');
        let semi = after.find(';');
        if !is_mod || open.is_none() || semi.is_some_and(|s| s < open.unwrap()) {
            // Not an inline test module: keep it (a `#[cfg(test)]` item is
            // checked like any other code).
            out.push_str(&rest[..at + 1]);
            rest = &rest[at + 1..];
            continue;
        }
        out.push_str(&rest[..at]);
        let body = &after[open.unwrap()..];
        let mut depth = 0usize;
        let mut end = body.len();
        for (k, ch) in body.char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = k + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &body[end..];
    }
    out.push_str(rest);
    out
}

/// `tree` without its renames (`x as y` is `x`) and whitespace.
fn drop_renames(tree: &str) -> String {
    let mut out = String::new();
    let mut words = tree.split_whitespace().peekable();
    while let Some(w) = words.next() {
        if w == "as" {
            // The new name, then what follows it (`,` or `}`).
            if let Some(next) = words.next() {
                let rest = next.trim_start_matches(|c: char| c.is_alphanumeric() || c == '_');
                out.push_str(rest);
            }
        } else {
            out.push_str(w);
        }
    }
    out
}

/// Expands a `use` tree (`a::{b, c::{d, e}}`) into flat paths.
fn expand_use(tree: &str) -> Vec<String> {
    let tree = drop_renames(tree);
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.len().saturating_sub(1)];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (k, ch) in inner.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..k]);
                start = k + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| {
            expand_use(p)
                .into_iter()
                .map(move |q| format!("{prefix}{q}"))
        })
        .collect()
}

/// Every path `code` names that starts at `crate`, `super` or `self`.
fn named_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    // `use` statements, with their trees expanded.
    let mut rest = code;
    while let Some(at) = find_word(rest, "use") {
        let stmt_end = rest[at..].find(';').map_or(rest.len(), |e| at + e);
        let tree = rest[at + 3..stmt_end].trim();
        let tree = tree.strip_prefix("::").unwrap_or(tree);
        paths.extend(expand_use(tree));
        rest = &rest[stmt_end.min(rest.len())..];
        if rest.is_empty() {
            break;
        }
        rest = &rest[1.min(rest.len())..];
    }
    // Paths written inline (`crate::index::x::f(...)`).
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let word_start = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        if word_start && (chars[i].is_alphabetic() || chars[i] == '_') {
            let mut j = i;
            while j < chars.len()
                && (chars[j].is_alphanumeric()
                    || chars[j] == '_'
                    || (chars[j] == ':' && chars.get(j + 1) == Some(&':'))
                    || (chars[j] == ':' && j > 0 && chars[j - 1] == ':'))
            {
                j += 1;
            }
            let p: String = chars[i..j].iter().collect();
            // `a::b::{...}`: a `use` tree, expanded above.
            if p.contains("::")
                && !p.ends_with("::")
                && (p.starts_with("crate::") || p.starts_with("super::") || p.starts_with("self::"))
            {
                paths.push(p);
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    paths
}

/// Where `word` occurs in `s` as a whole word.
fn find_word(s: &str, word: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(k) = s[from..].find(word) {
        let at = from + k;
        let before = at == 0 || !(b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_');
        let end = at + word.len();
        let after = end >= b.len() || !(b[end].is_ascii_alphanumeric() || b[end] == b'_');
        if before && after {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// `path` as seen from `module`, from the crate root (`super` and `self`
/// resolved).
fn resolve(module: &[String], path: &str) -> Vec<String> {
    let mut segs = path.split("::").map(str::to_string).peekable();
    let mut out: Vec<String> = match segs.peek().map(String::as_str) {
        Some("crate") => {
            segs.next();
            vec!["crate".to_string()]
        }
        Some("self") => {
            segs.next();
            module.to_vec()
        }
        _ => module.to_vec(),
    };
    for s in segs {
        if s == "super" {
            out.pop();
        } else {
            out.push(s);
        }
    }
    out
}

/// What each layer declares, and the rule's violations in `sources`.
struct Layering {
    /// Module name (a file or folder of a layer) -> its layer.
    modules: BTreeMap<String, usize>,
    /// Names of `pub` items at the top of a file -> the lowest layer
    /// declaring one of that name.
    items: BTreeMap<String, usize>,
}

impl Layering {
    fn new(sources: &[Source]) -> Layering {
        let mut modules = BTreeMap::new();
        let mut items: BTreeMap<String, usize> = BTreeMap::new();
        for s in sources {
            for m in &s.module[3..] {
                modules.insert(m.clone(), s.layer);
            }
            // Items of the file itself (not methods: a line of their own).
            for kw in ["struct", "enum", "trait", "fn", "type", "const", "static"] {
                let pat = format!("\npub {kw} ");
                for (at, _) in s.code.match_indices(&pat) {
                    let name: String = s.code[at + pat.len()..]
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    let e = items.entry(name).or_insert(s.layer);
                    *e = (*e).min(s.layer);
                }
            }
        }
        Layering { modules, items }
    }

    /// Why `path` (resolved) reaches above `layer`, if it does.
    fn upward(&self, layer: usize, path: &[String]) -> Option<String> {
        let seg = |k: usize| path.get(k).map(String::as_str);
        if seg(0) != Some("crate") {
            return None;
        }
        if seg(1) == Some("index") {
            let third = seg(2)?;
            if third == "Index" {
                return Some("`Index` is above every layer".into());
            }
            if let Some(h) = LAYERS.iter().position(|l| *l == third) {
                return (h > layer).then(|| format!("layer `{}` is above", LAYERS[h]));
            }
            if let Some(&h) = self.modules.get(third) {
                return (h > layer).then(|| {
                    format!("`{third}` (a re-export) is in layer `{}`, above", LAYERS[h])
                });
            }
            // `crate::index::NAME`: an item re-exported by index/mod.rs.
            return match self.items.get(third) {
                Some(&h) if h > layer && path.len() == 3 => Some(format!(
                    "`{third}` (an index re-export) is declared in layer `{}`, above",
                    LAYERS[h]
                )),
                _ => None,
            };
        }
        let name = seg(1)?;
        if name == "Index" {
            return Some("`Index` is above every layer".into());
        }
        match self.items.get(name) {
            Some(&h) if h > layer && path.len() == 2 => Some(format!(
                "`{name}` (a root re-export) is declared in layer `{}`, above",
                LAYERS[h]
            )),
            _ => None,
        }
    }

    /// Every upward path in `sources`: `file: path (why)`.
    fn violations(&self, sources: &[Source]) -> Vec<String> {
        let mut out = BTreeSet::new();
        for s in sources {
            for p in named_paths(&s.code) {
                let resolved = resolve(&s.module, &p);
                if let Some(why) = self.upward(s.layer, &resolved) {
                    out.insert(format!("{}: `{p}`: {why}", s.file.display()));
                }
            }
        }
        out.into_iter().collect()
    }
}

fn index_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/index")
}

fn layer_sources() -> Vec<Source> {
    let dir = index_dir();
    let mut sources = Vec::new();
    for (layer, name) in LAYERS.iter().enumerate() {
        for file in rust_files(&dir.join(name)) {
            let src = fs::read_to_string(&file).unwrap();
            let code = strip_test_modules(&strip_comments_and_literals(&src));
            sources.push(Source {
                module: module_path(&dir, &file),
                file: file.strip_prefix(&dir).unwrap().to_path_buf(),
                layer,
                code,
            });
        }
    }
    sources
}

#[test]
fn no_module_uses_a_layer_above_its_own() {
    let sources = layer_sources();
    assert!(sources.len() > 20, "found only {} sources", sources.len());
    let layering = Layering::new(&sources);
    let bad = layering.violations(&sources);
    assert!(
        bad.is_empty(),
        "arrows must point down (integrity < read < write < recover < Index):\n{}",
        bad.join("\n")
    );
}

#[test]
fn every_index_module_is_in_a_layer_folder() {
    let dir = index_dir();
    let mut stray = Vec::new();
    for entry in fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let ok = if p.is_dir() {
            LAYERS.contains(&name.as_str())
        } else {
            name == "mod.rs"
        };
        if !ok {
            stray.push(name);
        }
    }
    assert!(
        stray.is_empty(),
        "src/index/ holds only mod.rs and the layer folders {LAYERS:?}; move {stray:?} into one"
    );
}

/// The writer's merge modules, lowest first: `merge_path` (the plan /
/// merge / install path), `automerge`, `force_merge` (which holds
/// automatic merges back while it runs). None names a later one.
#[test]
fn the_writer_merge_modules_point_one_way() {
    const ORDER: [&str; 3] = ["merge_path", "automerge", "force_merge"];
    let mut bad = Vec::new();
    for s in layer_sources() {
        let Some(me) = ORDER
            .iter()
            .position(|m| s.module.last().map(String::as_str) == Some(m))
        else {
            continue;
        };
        for p in named_paths(&s.code) {
            let r = resolve(&s.module, &p);
            let named = r.windows(2).find_map(|w| {
                (w[0] == "writer")
                    .then(|| ORDER.iter().position(|m| *m == w[1]))
                    .flatten()
            });
            if named.is_some_and(|n| n > me) {
                bad.push(format!("{}: `{p}`", s.file.display()));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{ORDER:?}, lowest first:\n{}",
        bad.join("\n")
    );
}

/// The check itself: it must see upward paths however they are written.
#[test]
fn the_check_catches_upward_paths_in_every_form() {
    let upward = [
        "use crate::index::write::writer::IndexWriter;",
        "use crate::index::{read::reader, write::writer::IndexWriter};",
        "use super::super::recover::heal::Healer;",
        "use crate::index::writer::IndexWriter;",
        "use crate::IndexWriter;",
        "use crate::{Document, IndexWriter};",
        "fn f() { crate::index::recover::heal::healable(); }",
        "fn f(i: &crate::Index) {}",
        "use crate::index::repair;",
        "use crate::index::{self as i, write as w};",
        "use self::super::super::write::writer as w;",
    ];
    let fixture = |code: &str, layer: usize, module: &[&str]| Source {
        file: PathBuf::from("fixture.rs"),
        module: module.iter().map(|s| s.to_string()).collect(),
        layer,
        code: strip_test_modules(&strip_comments_and_literals(code)),
    };
    let mut sources = layer_sources();
    let layering = Layering::new(&sources);
    for code in upward {
        let s = fixture(code, 1, &["crate", "index", "read", "reader"]);
        assert_eq!(
            layering.violations(std::slice::from_ref(&s)).len(),
            1,
            "not caught: {code}"
        );
    }
    let fine = [
        "use crate::index::integrity::commit::Commit;",
        "use super::segment_reader::SegmentReader;",
        "// see crate::index::write::writer::IndexWriter",
        "fn f() { let s = \"crate::index::write\"; }",
        "#[cfg(test)]\nmod tests {\n    use crate::{Index, IndexWriter};\n}\n",
        "use crate::search::searcher::Searcher;",
    ];
    for code in fine {
        let s = fixture(code, 1, &["crate", "index", "read", "reader"]);
        assert!(
            layering.violations(std::slice::from_ref(&s)).is_empty(),
            "flagged, yet fine: {code}"
        );
    }
    // Code after a test module is still checked.
    let after = "#[cfg(test)]\nmod tests { fn t() {} }\nuse crate::index::recover::heal::Healer;";
    sources.clear();
    sources.push(fixture(after, 2, &["crate", "index", "write", "writer"]));
    assert_eq!(layering.violations(&sources).len(), 1);
}
