//! JSON strings of parse_json.rs: read in place when they hold no escape, else decoded into the
//! parser's scratch buffer (orjson's rules: raw control characters and lone surrogate escapes refused).

use super::{Fail, Json, Res};
use crate::parse::scan::plain_run;

/// Where a decoded string is: a range of the input (no escapes) or the scratch buffer.
#[derive(Clone, Copy)]
pub(crate) enum Str {
    Input(usize, usize),
    Scratch,
}

impl Json<'_> {
    /// The text of the decoded string `s`.
    #[inline]
    pub(crate) fn str_of(&self, s: Str) -> &str {
        let bytes = match s {
            Str::Input(a, b) => &self.b[a..b],
            Str::Scratch => &self.scratch[..],
        };
        // the input is UTF-8 and escapes decode to whole characters (lone surrogates are refused)
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// A string at `self.i` (its opening quote): a range of the input when it holds no escape.
    pub(crate) fn string(&mut self) -> Res<Str> {
        self.i += 1;
        let start = self.i;
        let b = self.b;
        loop {
            self.i = plain_run(b, self.i);
            match b.get(self.i) {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(Str::Input(start, self.i - 1));
                }
                Some(b'\\') => return self.escaped(start),
                Some(c) if *c < 0x20 => return Err(Fail::Invalid),
                Some(_) => self.i += 1,
                None => return Err(Fail::Invalid),
            }
        }
    }

    /// The rest of a string from its first escape (at `self.i`; its text from `start`), decoded into
    /// the scratch buffer.
    fn escaped(&mut self, start: usize) -> Res<Str> {
        let b = self.b;
        self.scratch.clear();
        self.scratch.extend_from_slice(&b[start..self.i]);
        loop {
            if self.i >= b.len() {
                return Err(Fail::Invalid);
            }
            match b[self.i] {
                b'"' => {
                    self.i += 1;
                    return Ok(Str::Scratch);
                }
                b'\\' => {
                    let ch = self.escape()?;
                    let mut buf = [0u8; 4];
                    self.scratch
                        .extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                c if c < 0x20 => return Err(Fail::Invalid),
                _ => {
                    let s = self.i;
                    self.i = plain_run(b, self.i);
                    self.scratch.extend_from_slice(&b[s..self.i]);
                }
            }
        }
    }

    /// The character of the escape at `self.i` (its backslash); a surrogate pair is one character.
    fn escape(&mut self) -> Res<char> {
        let b = self.b;
        self.i += 1;
        let e = if self.i < b.len() { b[self.i] } else { 0 };
        self.i += 1;
        Ok(match e {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = self.hex4()?;
                let code = if (0xD800..0xDC00).contains(&hi) {
                    if !(self.b[self.i..].starts_with(b"\\u")) {
                        return Err(Fail::Invalid);
                    }
                    self.i += 2;
                    let lo = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return Err(Fail::Invalid);
                    }
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else if (0xDC00..0xE000).contains(&hi) {
                    return Err(Fail::Invalid);
                } else {
                    hi
                };
                char::from_u32(code).ok_or(Fail::Invalid)?
            }
            _ => return Err(Fail::Invalid),
        })
    }

    /// Four hex digits at `self.i`.
    fn hex4(&mut self) -> Res<u32> {
        if self.i + 4 > self.b.len() {
            return Err(Fail::Invalid);
        }
        let mut v = 0u32;
        for k in 0..4 {
            let d = match self.b[self.i + k] {
                c @ b'0'..=b'9' => c - b'0',
                c @ b'a'..=b'f' => c - b'a' + 10,
                c @ b'A'..=b'F' => c - b'A' + 10,
                _ => return Err(Fail::Invalid),
            };
            v = v * 16 + d as u32;
        }
        self.i += 4;
        Ok(v)
    }
}
