//! The one function of `unicode_names2` that ruff's Python parser calls, without the Unicode name
//! tables (about 780 KB of the page's wasm, roughly a quarter of its gzipped size).
//!
//! The parser calls [`character`] for every `\N{name}` escape in a string literal and reports a syntax
//! error when it returns `None`. Infill reads only the structure of the tree (functions, their lines,
//! syntax errors), never the value of a literal, so it only matters whether a name is well formed:
//! what every Unicode character name, alias and algorithmic name (`CJK UNIFIED IDEOGRAPH-4E00`) is made
//! of, letters (any case: CPython looks names up case-insensitively), digits, spaces and hyphens. Such a
//! name gives U+FFFD. The one difference from CPython: a well-formed name that names no character
//! (`\N{NO SUCH CHARACTER}`) is accepted, where CPython reports a syntax error.
//!
//! Tested through the parser: `tests/dataset.rs`, `named_unicode_escapes_parse_as_cpython_parses_them`.

/// `Some(U+FFFD)` when `name` could be a Unicode character name, `None` otherwise (empty, or holding
/// anything other than ASCII letters, digits, spaces and hyphens).
pub fn character(name: &str) -> Option<char> {
    let well_formed = !name.trim().is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b' ' || b == b'-');
    well_formed.then_some(char::REPLACEMENT_CHARACTER)
}
