//! Fast paths for session JSON, each exact because it leaves whatever it is unsure of to
//! `serde_json`.
//!
//! Checking stored text: a plain scan says `true` only for text that `serde_json` certainly
//! decodes into an object. Everything it is unsure of (`\u` escapes, which may be lone surrogates;
//! numbers with exponents or very many digits, which may overflow; deep nesting, which may pass
//! the decoder's depth limit) and everything it rejects goes to the full check, so the answer,
//! and the error message, are always the decoder's.
//!
//! Writing: [`write_object`] writes what `serde_json`'s compact encoding writes, byte for byte.
//! Strings that need no escape are copied whole; numbers and strings with escapes are written
//! by `serde_json` itself.
//!
//! A session as stores hold it (a few hundred bytes of ASCII keys, short strings and small
//! numbers) never needs the full check. For the benchmark's 343-byte session on this project's
//! machine (2026-12-06, same minute): writing 410 ns against 555 for `serde_json::to_writer`,
//! checking 395 ns (harness/bench/README.md has the rest).

use std::fmt::Write;

use serde_json::{Map, Value};

/// Bytes that end a run of plain string content: the quote, the backslash and the control
/// characters, which are exactly the bytes JSON text must escape.
static SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Nesting the scan follows before it leaves the text to the full check; the decoder allows 128.
const MAX_DEPTH: u32 = 64;
/// Digits in one number the scan accepts; the decoder turns any number without an exponent and
/// with up to 300 or so digits into a finite value.
const MAX_DIGITS: usize = 100;

/// Whether `text` is a JSON object that `serde_json` decodes without error. `false` means "not
/// certain", not "invalid".
pub(crate) fn certainly_an_object(text: &[u8]) -> bool {
    let mut scan = Scan { text, at: 0 };
    scan.whitespace();
    if scan.peek() != Some(b'{') || !scan.object(1) {
        return false;
    }
    scan.whitespace();
    scan.at == text.len()
}

struct Scan<'a> {
    text: &'a [u8],
    at: usize,
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    /// JSON's four whitespace bytes, as the decoder skips them.
    fn whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.at += 1;
        }
    }

    fn value(&mut self, depth: u32) -> bool {
        self.whitespace();
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => false,
        }
    }

    /// At `{`.
    fn object(&mut self, depth: u32) -> bool {
        self.sequence(depth, b'}', |scan| scan.member(depth))
    }

    /// At `[`.
    fn array(&mut self, depth: u32) -> bool {
        self.sequence(depth, b']', |scan| scan.value(depth))
    }

    /// `"key": value` inside an object.
    fn member(&mut self, depth: u32) -> bool {
        self.whitespace();
        if self.peek() != Some(b'"') || !self.string() {
            return false;
        }
        self.whitespace();
        if self.peek() != Some(b':') {
            return false;
        }
        self.at += 1;
        self.value(depth)
    }

    /// At an opening bracket: `item`s separated by commas up to `close`, none after a comma.
    fn sequence(&mut self, depth: u32, close: u8, mut item: impl FnMut(&mut Self) -> bool) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        self.at += 1;
        self.whitespace();
        if self.peek() == Some(close) {
            self.at += 1;
            return true;
        }
        loop {
            if !item(self) {
                return false;
            }
            self.whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(byte) if byte == close => {
                    self.at += 1;
                    return true;
                }
                _ => return false,
            }
        }
    }

    /// At `"`. The text is UTF-8 already (it is a `str`), so only quotes, backslashes and
    /// control characters matter.
    fn string(&mut self) -> bool {
        self.at += 1;
        loop {
            let Some(run) = first_special(&self.text[self.at..]) else { return false };
            self.at += run;
            match self.text[self.at] {
                b'"' => {
                    self.at += 1;
                    return true;
                }
                b'\\' => match self.text.get(self.at + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.at += 2,
                    // `\u` may be half of a surrogate pair, or a lone one the decoder rejects.
                    _ => return false,
                },
                // A control character.
                _ => return false,
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        if self.text[self.at..].starts_with(word) {
            self.at += word.len();
            true
        } else {
            false
        }
    }

    /// `-? (0 | [1-9][0-9]*) (\.[0-9]+)?`; an exponent leaves the text to the full check.
    fn number(&mut self) -> bool {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return false,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return false;
            }
            self.digits();
        }
        !matches!(self.peek(), Some(b'e' | b'E')) && self.at - start <= MAX_DIGITS
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
    }
}

/// Where the first quote, backslash or control character in `bytes` is: eight bytes at a time
/// while eight remain (the lowest flagged byte of a word is always a true one), then byte by byte.
fn first_special(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut at = 0;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        let found = (quote.wrapping_sub(ONES) & !quote
            | backslash.wrapping_sub(ONES) & !backslash
            | word.wrapping_sub(ONES * 0x20) & !word)
            & HIGH;
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    bytes[at..].iter().position(|&b| SPECIAL[usize::from(b)]).map(|i| at + i)
}

/// Appends `map` as `serde_json::to_writer` would write it.
pub(crate) fn write_object(out: &mut String, map: &Map<String, Value>) {
    out.push('{');
    for (n, (key, value)) in map.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        write_str(out, key);
        out.push(':');
        write_value(out, value);
    }
    out.push('}');
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        // `Number`'s `Display` is its encoding (itoa, or ryu for the finite floats a `Value`
        // holds).
        Value::Number(number) => write!(out, "{number}").expect("writing to a String"),
        Value::String(text) => write_str(out, text),
        Value::Array(items) => {
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map),
    }
}

fn write_str(out: &mut String, text: &str) {
    if first_special(text.as_bytes()).is_some() {
        out.push_str(&serde_json::to_string(text).expect("a string always serializes"));
    } else {
        out.reserve(text.len() + 2);
        out.push('"');
        out.push_str(text);
        out.push('"');
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn decodes_as_object(text: &str) -> bool {
        serde_json::from_str::<Value>(text).is_ok_and(|v| v.is_object())
    }

    #[test]
    fn plain_sessions_take_the_fast_path() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(63), "]".repeat(63));
        for text in [
            "{}",
            " {\"a\" : [ 1 , -2.50, 0, -0.0, true, false, null, \"x\\\"\\\\\\/\\b\\f\\n\\r\\t\", {}, []] }\n",
            r#"{"cookie":{"originalMaxAge":86400000,"expires":"2030-01-01T00:00:00.000Z","httpOnly":true,"path":"/"}}"#,
            "{\"é\":\"日本\u{7f}\"}",
            &deep,
        ] {
            assert!(certainly_an_object(text.as_bytes()), "{text:?}");
            assert!(decodes_as_object(text), "{text:?}");
        }
    }

    #[test]
    fn anything_unsure_goes_to_the_full_check() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(64), "]".repeat(64));
        let long = format!("{{\"a\":{}}}", "9".repeat(101));
        // Valid, but left to the decoder: escapes that may be surrogates, exponents, long
        // numbers, deep nesting.
        for text in [r#"{"a":"\u0041"}"#, r#"{"a":1e5}"#, r#"{"a":1E-5}"#, &long, &deep] {
            assert!(!certainly_an_object(text.as_bytes()), "{text:?}");
            assert!(decodes_as_object(text), "{text:?}");
        }
        for text in [
            "",
            "[]",
            "1",
            "{",
            "{}}",
            "{} x",
            r#"{"a"}"#,
            r#"{"a":}"#,
            r#"{"a":1,}"#,
            r#"{,}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":.5}"#,
            r#"{"a":-}"#,
            r#"{"a":+1}"#,
            r#"{"a":tru}"#,
            r#"{"a":nul}"#,
            "{\"a\":\"\u{1}\"}",
            r#"{"a":"\x"}"#,
            r#"{"a":"x}"#,
            r#"{1:2}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":[1 2]}"#,
            "{\"a\":1}\u{b}",
            r#"{'a':1}"#,
        ] {
            assert!(!certainly_an_object(text.as_bytes()), "{text:?}");
            assert!(!decodes_as_object(text), "{text:?}");
        }
    }

    /// A small deterministic generator (splitmix64), so the test needs no crate and always runs
    /// the same cases.
    struct Random(u64);

    impl Random {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn value(&mut self, depth: usize) -> Value {
            match self.below(if depth > 3 { 5 } else { 7 }) {
                0 => Value::Null,
                1 => Value::Bool(self.below(2) == 0),
                2 => json!(self.next() as i64 >> self.below(64)),
                3 => json!((self.next() as i64 >> self.below(64)) as f64 / 1000.0),
                4 => Value::String(self.text()),
                5 => Value::Array((0..self.below(4)).map(|_| self.value(depth + 1)).collect()),
                _ => Value::Object((0..self.below(4)).map(|_| (self.text(), self.value(depth + 1))).collect()),
            }
        }

        fn text(&mut self) -> String {
            const CHARS: [char; 12] = ['a', 'Z', ' ', '"', '\\', '/', '\n', '\u{1}', '\u{7f}', 'é', '日', '😀'];
            (0..self.below(6)).map(|_| CHARS[self.below(CHARS.len())]).collect()
        }
    }

    /// The word-at-a-time search finds what a byte-by-byte one finds: every byte value at every
    /// position of a 20-byte run, alone and before a second special byte.
    #[test]
    fn special_bytes_are_found_where_they_are() {
        for byte in 0..=255u8 {
            for at in 0..20 {
                for later in [None, Some(b'"'), Some(0)] {
                    let mut bytes = [b'a'; 20];
                    if let Some(later) = later {
                        bytes[19] = later;
                    }
                    bytes[at] = byte;
                    let naive = bytes.iter().position(|&b| b < 0x20 || b == b'"' || b == b'\\');
                    assert_eq!(first_special(&bytes), naive, "byte {byte:#x} at {at}, then {later:?}");
                }
            }
        }
    }

    /// Written text is `serde_json`'s, byte for byte: random values with escapes, every control
    /// character, non-ASCII text, integers of both signs and floats.
    #[test]
    fn writing_matches_serde_json() {
        let mut random = Random(7);
        let controls: String = (0u8..0x20).map(char::from).collect();
        let fixed = json!({
            "controls": controls, "quote\"back\\slash": "/\u{7f}é日😀", "": "",
            "numbers": [0, -1, u64::MAX, i64::MIN, 0.1, -0.0, 1e21, 1.5e-7, 123456.789, f64::MAX, f64::MIN_POSITIVE],
            "nested": {"a": [[], {}, [null, true, false]]}
        });
        let Value::Object(fixed) = fixed else { unreachable!() };
        let mut cases = vec![fixed];
        cases.extend((0..5_000).map(|_| (0..random.below(6)).map(|_| (random.text(), random.value(0))).collect()));
        for map in cases {
            let mut written = String::new();
            write_object(&mut written, &map);
            assert_eq!(written, serde_json::to_string(&map).unwrap());
        }
    }

    /// The fast path never says yes to text the decoder refuses: over encoded random values and
    /// random edits of them (bytes JSON's grammar cares about, inserted, removed or replaced).
    #[test]
    fn the_fast_path_never_accepts_what_the_decoder_refuses() {
        const EDITS: &[u8] = b"{}[],:\"\\ \n\t\x01\x0b0123456789-+.eEtrufalsn/ux";
        let mut random = Random(42);
        let (mut fast, mut edited_fast) = (0, 0);
        for round in 0..20_000 {
            let members = (0..random.below(5)).map(|_| (random.text(), random.value(0))).collect();
            let mut text = serde_json::to_string(&Value::Object(members)).unwrap();
            let edited = round % 2 == 1;
            if edited {
                for _ in 0..=random.below(3) {
                    let boundaries: Vec<usize> = (0..=text.len()).filter(|&i| text.is_char_boundary(i)).collect();
                    let at = boundaries[random.below(boundaries.len())];
                    let byte = char::from(EDITS[random.below(EDITS.len())]);
                    match random.below(3) {
                        0 => text.insert(at, byte),
                        1 if at < text.len() => {
                            text.remove(at);
                        }
                        _ if at < text.len() => text
                            .replace_range(at..at + text[at..].chars().next().unwrap().len_utf8(), &byte.to_string()),
                        _ => text.push(byte),
                    }
                }
            }
            if certainly_an_object(text.as_bytes()) {
                assert!(decodes_as_object(&text), "the fast path accepted {text:?}, which does not decode");
                fast += 1;
                edited_fast += usize::from(edited);
            } else if !edited {
                // Encoded text without `\u` escapes (control characters but \n) or exponents
                // always takes the fast path.
                assert!(text.contains("\\u") || text.contains(['e', 'E']), "{text:?} missed the fast path");
            }
        }
        // Both kinds of case were exercised: the assertion above ran on edited text too.
        assert!(fast > 5_000 && edited_fast > 500, "fast {fast}, of them edited {edited_fast}");
    }
}
