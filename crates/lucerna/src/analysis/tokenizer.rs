//! The harness tokenizer ([`DefaultAnalyzer`]) and its building blocks.

use std::cell::RefCell;

use super::{Analyzer, Token};

/// Tokens longer than this many UTF-8 bytes (after lowercasing) are dropped by
/// [`DefaultAnalyzer::new`].
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 40;

/// The default analyzer: the "harness tokenizer" every peer engine is checked against.
///
/// 1. Split on every character that is not alphanumeric (exactly [`char::is_alphanumeric`]:
///    Unicode Alphabetic, or general category Nd/Nl/No).
/// 2. Lowercase each character on its own with [`char::to_lowercase`] (simple lowercase,
///    plus U+0130 `İ` → `i̇`; no final-sigma rule, so `Σ` is always `σ`).
/// 3. Drop tokens longer than [`max_token_bytes`](DefaultAnalyzer::max_token_bytes) UTF-8
///    bytes, measured after lowercasing. A dropped token still consumes its position.
///
/// This equals tantivy's `SimpleTokenizer` → `LowerCaser` → `RemoveLongFilter::limit(41)`.
/// Text that is all ASCII takes a byte-level fast path; tokens that lowercasing leaves
/// unchanged are handed to the sink as slices of the input, without copying.
///
/// ```
/// use lucerna::analysis::{Analyzer, DefaultAnalyzer};
///
/// let a = DefaultAnalyzer::new();
/// assert_eq!(
///     a.tokens("Straße dash-word İ"),
///     vec![
///         ("straße".to_string(), 0),
///         ("dash".to_string(), 1),
///         ("word".to_string(), 2),
///         ("i\u{307}".to_string(), 3),
///     ]
/// );
/// // A 41-byte token is dropped but keeps its position.
/// let long = "x".repeat(41);
/// assert_eq!(
///     a.tokens(&format!("a {long} b")),
///     vec![("a".to_string(), 0), ("b".to_string(), 2)]
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DefaultAnalyzer {
    max_token_bytes: usize,
}

impl DefaultAnalyzer {
    /// The harness tokenizer, dropping tokens over [`DEFAULT_MAX_TOKEN_BYTES`] bytes.
    pub const fn new() -> Self {
        Self {
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
        }
    }

    /// Same tokenizer with another length limit (in UTF-8 bytes after lowercasing;
    /// `usize::MAX` keeps every token).
    pub const fn with_max_token_bytes(max_token_bytes: usize) -> Self {
        Self { max_token_bytes }
    }

    /// Longest token kept, in UTF-8 bytes after lowercasing.
    pub const fn max_token_bytes(&self) -> usize {
        self.max_token_bytes
    }
}

impl Default for DefaultAnalyzer {
    fn default() -> Self {
        Self::new()
    }
}

thread_local! {
    /// Lowercasing buffer reused across calls on one thread (no allocation per document).
    static BUFFER: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Runs `f` with a scratch buffer: the thread's cached one, or a fresh one when that is
/// already in use (a sink that analyzes again, re-entrantly).
#[inline]
pub(crate) fn with_buffer<R>(f: impl FnOnce(&mut String) -> R) -> R {
    let mut f = Some(f);
    let cached = BUFFER
        .try_with(|cell| {
            let mut buf = cell.try_borrow_mut().ok()?;
            let r = (f.take()?)(&mut buf);
            if buf.capacity() > 64 * 1024 {
                // Do not keep a huge buffer alive after one giant token.
                *buf = String::new();
            }
            Some(r)
        })
        .ok()
        .flatten();
    match (cached, f) {
        (Some(r), _) => r,
        (None, Some(f)) => f(&mut String::new()),
        (None, None) => unreachable!("the closure returned a value whenever it was taken"),
    }
}

impl Analyzer for DefaultAnalyzer {
    fn analyze_tokens(&self, text: &str, sink: &mut dyn FnMut(&Token<'_>)) {
        with_buffer(|buf| for_each_token(text, self.max_token_bytes, buf, |t| sink(t)));
    }

    fn analyze(&self, text: &str, sink: &mut dyn FnMut(&str, u32)) {
        with_buffer(|buf| {
            for_each_token(text, self.max_token_bytes, buf, |t| {
                sink(t.text, t.position)
            })
        });
    }
}

/// Runs the harness tokenizer over `text`, calling `f` for every token kept.
///
/// Dispatches to [`tokenize_ascii`] when `text` is all ASCII and to [`tokenize_unicode`]
/// otherwise; both give the same tokens on ASCII text. `buf` is scratch space for tokens
/// that lowercasing changes (its content on return is unspecified).
#[inline]
pub fn for_each_token<F: FnMut(&Token<'_>)>(
    text: &str,
    max_token_bytes: usize,
    buf: &mut String,
    f: F,
) {
    if text.is_ascii() {
        tokenize_ascii(text, max_token_bytes, buf, f)
    } else {
        tokenize_unicode(text, max_token_bytes, buf, f)
    }
}

/// ASCII fast path of the harness tokenizer: works on bytes, splitting on every byte that
/// is not an ASCII letter or digit.
///
/// Meant for ASCII `text`; any non-ASCII byte is treated as a separator (so on non-ASCII
/// text the result is wrong, but still valid UTF-8). Use [`for_each_token`] unless the
/// text is known to be ASCII.
pub fn tokenize_ascii<F: FnMut(&Token<'_>)>(
    text: &str,
    max_token_bytes: usize,
    buf: &mut String,
    mut f: F,
) {
    let bytes = text.as_bytes();
    let n = bytes.len();
    let mut i = 0;
    let mut position: u32 = 0;
    loop {
        while i < n && !bytes[i].is_ascii_alphanumeric() {
            i += 1;
        }
        if i >= n {
            return;
        }
        let start = i;
        let mut has_upper = false;
        while i < n && bytes[i].is_ascii_alphanumeric() {
            has_upper |= bytes[i].is_ascii_uppercase();
            i += 1;
        }
        if i - start <= max_token_bytes {
            // Token boundaries are at ASCII bytes, hence at char boundaries.
            let src = &text[start..i];
            let term = if has_upper {
                buf.clear();
                buf.push_str(src);
                buf.make_ascii_lowercase();
                buf.as_str()
            } else {
                src
            };
            f(&Token {
                text: term,
                position,
                offset_from: start,
                offset_to: i,
            });
        }
        position = position.wrapping_add(1);
    }
}

/// Whether `c` is part of a token (exactly [`char::is_alphanumeric`]).
#[inline]
fn is_token_char(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric()
    } else {
        c.is_alphanumeric()
    }
}

/// Whether [`char::to_lowercase`] maps `c` to itself.
#[inline]
fn lowercase_is_identity(c: char) -> bool {
    if c.is_ascii() {
        !c.is_ascii_uppercase()
    } else {
        let mut lower = c.to_lowercase();
        lower.len() == 1 && lower.next() == Some(c)
    }
}

#[inline]
fn push_lowercase(buf: &mut String, c: char) {
    if c.is_ascii() {
        buf.push(c.to_ascii_lowercase());
    } else {
        buf.extend(c.to_lowercase());
    }
}

/// General (Unicode) path of the harness tokenizer: splits on chars that are not
/// [`char::is_alphanumeric`] and lowercases each char with [`char::to_lowercase`].
///
/// Correct for any text; [`for_each_token`] uses it for text that is not all ASCII.
pub fn tokenize_unicode<F: FnMut(&Token<'_>)>(
    text: &str,
    max_token_bytes: usize,
    buf: &mut String,
    mut f: F,
) {
    let mut chars = text.char_indices();
    let mut position: u32 = 0;
    'tokens: loop {
        // Skip separators up to the first char of the next token.
        let (start, mut c) = loop {
            match chars.next() {
                None => break 'tokens,
                Some((i, c)) if is_token_char(c) => break (i, c),
                Some(_) => {}
            }
        };
        let mut ci = start;
        // Until a char changes under lowercasing, the term is a slice of `text`; from then
        // on it is built in `buf`.
        let mut copied = false;
        let end = loop {
            if copied {
                push_lowercase(buf, c);
            } else if !lowercase_is_identity(c) {
                buf.clear();
                buf.push_str(&text[start..ci]);
                push_lowercase(buf, c);
                copied = true;
            }
            let next_i = ci + c.len_utf8();
            match chars.next() {
                Some((i, next)) if is_token_char(next) => {
                    ci = i;
                    c = next;
                }
                // A separator (consumed: it is skipped anyway) or the end of the text.
                _ => break next_i,
            }
        };
        let term = if copied {
            buf.as_str()
        } else {
            &text[start..end]
        };
        if term.len() <= max_token_bytes {
            f(&Token {
                text: term,
                position,
                offset_from: start,
                offset_to: end,
            });
        }
        position = position.wrapping_add(1);
    }
}
