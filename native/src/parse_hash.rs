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
fn word(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

#[inline]
fn half(b: &[u8], at: usize) -> u64 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes")) as u64
}

/// The keyed hash of `data` (its length included). The last 16 bytes (or, shorter, the whole text in
/// two overlapping reads) are read without a copy, as wyhash does.
pub(crate) fn bytes_hash(data: &[u8]) -> u64 {
    let s = seeds();
    let n = data.len();
    let mut h = s[0] ^ fold(n as u64 ^ s[1], s[2]);
    let (a, b) = if n > 16 {
        let mut i = 0;
        while n - i > 16 {
            h = fold(word(data, i) ^ s[1], word(data, i + 8) ^ h);
            i += 16;
        }
        (word(data, n - 16), word(data, n - 8))
    } else if n >= 8 {
        (word(data, 0), word(data, n - 8))
    } else if n >= 4 {
        (half(data, 0), half(data, n - 4))
    } else if n > 0 {
        // every byte of up to three
        let v = (data[0] as u64) << 16 | (data[n / 2] as u64) << 8 | data[n - 1] as u64;
        (v, 0)
    } else {
        (0, 0)
    };
    h = fold(a ^ s[2], b ^ h);
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
