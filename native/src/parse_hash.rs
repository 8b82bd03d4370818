//! A fast keyed hash of a `str`'s characters for the grouping of identical rollouts (parse_group.rs).
//!
//! `hash(s)` (SipHash-1-3 over the whole text, computed once per fresh string) was a fifth of
//! `parse_group`'s time on long rollouts: their texts are kilobytes that nothing else hashes. This reads
//! the string's canonical PEP 393 storage 16 bytes at a time with a folded 64x64->128 multiply (the
//! construction of wyhash), keyed by seeds drawn once per process from the OS (std's `RandomState`), so
//! that colliding rollouts cannot be built in advance. A collision costs only an exact comparison, never a
//! wrong result: the grouping checks every candidate with `same`.

use pyo3::ffi;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

static SEEDS: OnceLock<[u64; 4]> = OnceLock::new();

fn seeds() -> &'static [u64; 4] {
    SEEDS.get_or_init(|| {
        let state = RandomState::new();
        let mut out = [0u64; 4];
        for (k, s) in out.iter_mut().enumerate() {
            let mut h = state.build_hasher();
            h.write_usize(k);
            *s = h.finish() | 1;
        }
        out
    })
}

#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let r = (a as u128).wrapping_mul(b as u128);
    (r as u64) ^ ((r >> 64) as u64)
}

#[inline]
fn word(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[..8].try_into().expect("8 bytes"))
}

/// The keyed hash of `data`.
pub(crate) fn bytes_hash(data: &[u8]) -> u64 {
    let s = seeds();
    let mut h = s[0] ^ fold(data.len() as u64 ^ s[1], s[2]);
    let mut chunks = data.chunks_exact(16);
    for c in &mut chunks {
        h = fold(word(c) ^ s[1], word(&c[8..]) ^ h);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut buf = [0u8; 16];
        buf[..rest.len()].copy_from_slice(rest);
        h = fold(word(&buf) ^ s[2], word(&buf[8..]) ^ h);
    }
    fold(h ^ s[3], s[1])
}

/// The keyed hash of an exact `str`'s characters and storage width (equal strings are stored alike:
/// CPython's own equality compares the kinds first); `None` for a string not in PEP 393 form.
///
/// # Safety
/// `p` is an exact `str`, and the GIL is held.
pub(crate) unsafe fn str_hash(p: *mut ffi::PyObject) -> Option<u64> {
    if ffi::PyUnicode_IS_READY(p) == 0 {
        return None;
    }
    let kind = ffi::PyUnicode_KIND(p) as usize;
    let n = ffi::PyUnicode_GET_LENGTH(p) as usize * kind;
    let data = std::slice::from_raw_parts(ffi::PyUnicode_DATA(p) as *const u8, n);
    Some(bytes_hash(data) ^ kind as u64)
}
