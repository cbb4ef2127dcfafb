//! JSON line → COPY text row, streamed: a line arrives in pieces of any size and the COPY
//! text goes out as it is decoded, so a row with a 200 MB value needs no 200 MB buffer.
//!
//! Type-agnostic and exact: `null` → `\N`, `true`/`false` → `t`/`f`, a number → its raw text
//! (checked against JSON's grammar), a string → its value COPY-escaped as PostgreSQL's own
//! COPY output is (`\`, `\b \f \n \r \t \v`). Keys must be the table's row columns, in
//! order. Anything else — another key, a nested value, a broken escape, invalid UTF-8,
//! trailing text — is an error naming the column.

use super::row_codec::CodecError;

/// The decoder for one table's lines.
pub struct RowDecoder {
    names: Vec<String>,
}

impl RowDecoder {
    /// `names`: the columns each line must hold, in order (the manifest's non-generated ones).
    pub fn new(names: Vec<String>) -> RowDecoder {
        RowDecoder { names }
    }

    /// A fresh decoder for the next line.
    pub fn line(&self) -> LineDecoder<'_> {
        LineDecoder::start(&self.names, true, Vec::new())
    }

    /// A decoder that checks lines without writing their values (`backup verify`): the same
    /// grammar, UTF-8, key and column checks as [`RowDecoder::line`], with the COPY escaping of
    /// strings skipped (nothing reads it). [`LineDecoder::next_line`] reuses it line after line.
    pub fn checker(&self) -> LineDecoder<'_> {
        LineDecoder::start(&self.names, false, Vec::new())
    }

    /// Appends the COPY text row (ending in `\n`) for one whole JSON line (without its `\n`).
    /// On error nothing is appended.
    pub fn decode(&self, line: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        let start = out.len();
        let mut decoder = self.line();
        let result = decoder.feed(line, out).and_then(|()| decoder.finish(out));
        if result.is_err() {
            out.truncate(start);
        }
        result
    }
}

/// Longest key accepted: PostgreSQL's names are at most 63 bytes; JSON escapes may spell one
/// out longer, but a key longer than this is no column name.
const MAX_KEY_BYTES: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    BeforeObject,
    BeforeFirstKey,
    BeforeKey,
    InKey,
    BeforeColon,
    BeforeValue,
    InString,
    InNumber,
    InLiteral,
    AfterValue,
    AfterObject,
}

/// Where JSON's number grammar stands: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Number {
    Start,
    Minus,
    Zero,
    Int,
    Dot,
    Frac,
    Exp,
    ExpSign,
    ExpDigits,
}

impl Number {
    fn next(self, b: u8) -> Option<Number> {
        use Number::*;
        Some(match (self, b) {
            (Start, b'-') => Minus,
            (Start | Minus, b'0') => Zero,
            (Start | Minus, b'1'..=b'9') => Int,
            (Int, b'0'..=b'9') => Int,
            (Zero | Int, b'.') => Dot,
            (Dot | Frac, b'0'..=b'9') => Frac,
            (Zero | Int | Frac, b'e' | b'E') => Exp,
            (Exp, b'+' | b'-') => ExpSign,
            (Exp | ExpSign | ExpDigits, b'0'..=b'9') => ExpDigits,
            _ => return None,
        })
    }

    fn complete(self) -> bool {
        matches!(
            self,
            Number::Zero | Number::Int | Number::Frac | Number::ExpDigits
        )
    }
}

/// Inside a JSON string: escapes and UTF-8 sequences may be cut between two pieces.
#[derive(Debug, Default)]
struct StringState {
    /// After a backslash.
    escape: bool,
    /// Inside `\uXXXX`: the hex digits read so far.
    hex: Option<(u32, u8)>,
    /// A high surrogate waiting for its low half.
    high_surrogate: Option<u32>,
    /// The start of a UTF-8 sequence cut at the end of the last piece.
    utf8: Vec<u8>,
}

/// One line being decoded.
pub struct LineDecoder<'a> {
    names: &'a [String],
    /// Strings are written COPY-escaped to `out`; false for a checker, which skips them.
    writes: bool,
    /// Values completed; the column being read is `names[values]`.
    values: usize,
    state: State,
    key: Vec<u8>,
    string: StringState,
    number: Number,
    literal: &'static [u8],
    literal_pos: usize,
    /// Bytes fed so far, for error positions.
    fed: u64,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl<'a> LineDecoder<'a> {
    fn start(names: &'a [String], writes: bool, key: Vec<u8>) -> LineDecoder<'a> {
        LineDecoder {
            names,
            writes,
            values: 0,
            state: State::BeforeObject,
            key,
            string: StringState::default(),
            number: Number::Start,
            literal: b"",
            literal_pos: 0,
            fed: 0,
        }
    }

    /// Ready for the next line, as fresh as a new one, keeping the key's buffer (no
    /// allocation per line).
    pub fn next_line(&mut self) {
        let mut key = std::mem::take(&mut self.key);
        key.clear();
        *self = LineDecoder::start(self.names, self.writes, key);
    }

    /// Decodes the next piece of the line, appending COPY text to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match self.state {
                State::BeforeObject => {
                    match b {
                        b'{' => self.state = State::BeforeFirstKey,
                        b if is_space(b) => {}
                        _ => return Err(self.error(i, "expected a JSON object")),
                    }
                    i += 1;
                }
                State::BeforeFirstKey | State::BeforeKey => {
                    match b {
                        b'"' => {
                            self.key.clear();
                            self.string = StringState::default();
                            self.state = State::InKey;
                        }
                        b'}' if self.state == State::BeforeFirstKey => {
                            self.end_object(i)?;
                        }
                        b if is_space(b) => {}
                        _ => return Err(self.error(i, "expected a column name")),
                    }
                    i += 1;
                }
                State::InKey => {
                    let (used, done) = self.string_piece(&input[i..], i, None)?;
                    i += used;
                    if done {
                        self.check_key(i)?;
                        self.state = State::BeforeColon;
                    }
                }
                State::BeforeColon => {
                    match b {
                        b':' => self.state = State::BeforeValue,
                        b if is_space(b) => {}
                        _ => return Err(self.error(i, "expected ':' after a column name")),
                    }
                    i += 1;
                }
                State::BeforeValue => {
                    if is_space(b) {
                        i += 1;
                        continue;
                    }
                    if self.values > 0 {
                        out.push(b'\t');
                    }
                    match b {
                        b'"' => {
                            self.string = StringState::default();
                            self.state = State::InString;
                            i += 1;
                        }
                        b'n' => self.start_literal(b"null", b"\\N", out),
                        b't' => self.start_literal(b"true", b"t", out),
                        b'f' => self.start_literal(b"false", b"f", out),
                        b'-' | b'0'..=b'9' => {
                            self.number = Number::Start;
                            self.state = State::InNumber;
                        }
                        _ => {
                            return Err(self.error(
                                i,
                                &format!(
                                    "column \"{}\" holds something else than null, a boolean, \
                                     a number or a string",
                                    self.column()
                                ),
                            ))
                        }
                    }
                }
                State::InString => {
                    let (used, done) = self.string_piece(&input[i..], i, Some(out))?;
                    i += used;
                    if done {
                        self.values += 1;
                        self.state = State::AfterValue;
                    }
                }
                State::InNumber => {
                    let start = i;
                    while i < input.len() {
                        match self.number.next(input[i]) {
                            Some(next) => self.number = next,
                            None => break,
                        }
                        i += 1;
                    }
                    out.extend_from_slice(&input[start..i]);
                    if i < input.len() {
                        self.end_number(i)?;
                    }
                }
                State::InLiteral => {
                    if b != self.literal[self.literal_pos] {
                        return Err(self.error(
                            i,
                            &format!("column \"{}\" holds an invalid literal", self.column()),
                        ));
                    }
                    self.literal_pos += 1;
                    i += 1;
                    if self.literal_pos == self.literal.len() {
                        self.values += 1;
                        self.state = State::AfterValue;
                    }
                }
                State::AfterValue => {
                    match b {
                        b',' => self.state = State::BeforeKey,
                        b'}' => self.end_object(i)?,
                        b if is_space(b) => {}
                        _ => return Err(self.error(i, "expected ',' or '}' after a value")),
                    }
                    i += 1;
                }
                State::AfterObject => {
                    if !is_space(b) {
                        return Err(self.error(i, "trailing characters after the row"));
                    }
                    i += 1;
                }
            }
        }
        self.fed += input.len() as u64;
        Ok(())
    }

    /// The line is complete: checks that it held a whole row and ends the COPY row.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        if self.state == State::InNumber {
            self.end_number(0)?;
        }
        if self.state != State::AfterObject {
            return Err(CodecError(if self.state == State::BeforeObject {
                "not a valid row: the line is empty".to_string()
            } else if self.values < self.names.len() {
                format!(
                    "not a valid row: the line ends in the middle of column \"{}\"",
                    self.column()
                )
            } else {
                "not a valid row: the line ends before the object does".to_string()
            }));
        }
        out.push(b'\n');
        Ok(())
    }

    fn column(&self) -> &str {
        self.names.get(self.values).map_or("?", String::as_str)
    }

    fn error(&self, at: usize, what: &str) -> CodecError {
        CodecError(format!(
            "not a valid row: {what} (at byte {})",
            self.fed + at as u64 + 1
        ))
    }

    fn start_literal(&mut self, literal: &'static [u8], copy: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(copy);
        self.literal = literal;
        self.literal_pos = 0;
        self.state = State::InLiteral;
    }

    fn end_number(&mut self, at: usize) -> Result<(), CodecError> {
        if !self.number.complete() {
            return Err(self.error(
                at,
                &format!("column \"{}\" holds an invalid number", self.column()),
            ));
        }
        self.values += 1;
        self.state = State::AfterValue;
        Ok(())
    }

    fn end_object(&mut self, at: usize) -> Result<(), CodecError> {
        if self.values < self.names.len() {
            return Err(self.error(
                at,
                &format!(
                    "{} values for {} columns (missing \"{}\")",
                    self.values,
                    self.names.len(),
                    self.column()
                ),
            ));
        }
        self.state = State::AfterObject;
        Ok(())
    }

    fn check_key(&self, at: usize) -> Result<(), CodecError> {
        let key = std::str::from_utf8(&self.key).unwrap_or("?");
        match self.names.get(self.values) {
            Some(expected) if expected.as_bytes() == self.key.as_slice() => Ok(()),
            Some(expected) => Err(self.error(
                at,
                &format!("key \"{key}\" where column \"{expected}\" was expected"),
            )),
            None => Err(self.error(
                at,
                &format!(
                    "unexpected key \"{key}\": the table has {} columns",
                    self.names.len()
                ),
            )),
        }
    }

    /// Reads string content until the closing quote or the end of `input`. Decoded bytes go
    /// to `out` COPY-escaped (a value) or raw to `self.key` (a key, when `out` is `None`).
    /// Returns the bytes used and whether the string ended.
    fn string_piece(
        &mut self,
        input: &[u8],
        offset: usize,
        mut out: Option<&mut Vec<u8>>,
    ) -> Result<(usize, bool), CodecError> {
        let mut i = 0;
        while i < input.len() {
            // A UTF-8 sequence cut at the end of the last piece: complete it first.
            if !self.string.utf8.is_empty() {
                let needed = utf8_length(self.string.utf8[0]);
                while self.string.utf8.len() < needed && i < input.len() {
                    self.string.utf8.push(input[i]);
                    i += 1;
                }
                if self.string.utf8.len() < needed {
                    return Ok((i, false));
                }
                if std::str::from_utf8(&self.string.utf8).is_err() {
                    return Err(self.error(offset + i, "invalid UTF-8 in a string"));
                }
                let sequence = std::mem::take(&mut self.string.utf8);
                self.emit(&sequence, &mut out)?;
                continue;
            }
            if let Some((value, digits)) = self.string.hex {
                let digit = (input[i] as char)
                    .to_digit(16)
                    .ok_or_else(|| self.error(offset + i, "a \\u escape needs four hex digits"))?;
                let value = value * 16 + digit;
                i += 1;
                if digits + 1 < 4 {
                    self.string.hex = Some((value, digits + 1));
                    continue;
                }
                self.string.hex = None;
                self.code_unit(value, offset + i, &mut out)?;
                continue;
            }
            if self.string.escape {
                self.string.escape = false;
                let byte = match input[i] {
                    b'"' => b'"',
                    b'\\' => b'\\',
                    b'/' => b'/',
                    b'b' => 0x08,
                    b'f' => 0x0c,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'u' => {
                        self.string.hex = Some((0, 0));
                        i += 1;
                        continue;
                    }
                    _ => return Err(self.error(offset + i, "an invalid escape in a string")),
                };
                i += 1;
                self.no_pending_surrogate(offset + i)?;
                self.emit(&[byte], &mut out)?;
                continue;
            }
            // A run of plain characters: up to the next quote or backslash, cut short at a
            // control character (JSON never leaves one raw). Found a word at a time rather
            // than byte by byte: this is most of what a restore's client does.
            let start = i;
            i = super::plain_run::plain_run_end(input, start);
            if i > start {
                self.no_pending_surrogate(offset + start)?;
                let run = &input[start..i];
                if run.is_ascii() {
                    // ASCII only: valid UTF-8 as it is.
                    self.emit_plain(run, &mut out)?;
                    continue;
                }
                match std::str::from_utf8(run) {
                    Ok(_) => self.emit_plain(run, &mut out)?,
                    Err(e) if e.error_len().is_none() => {
                        // Cut in the middle of a character: keep its start for the next piece.
                        let valid = e.valid_up_to();
                        self.emit_plain(&run[..valid], &mut out)?;
                        self.string.utf8.extend_from_slice(&run[valid..]);
                        if i < input.len() {
                            return Err(self.error(offset + i, "invalid UTF-8 in a string"));
                        }
                    }
                    Err(e) => {
                        return Err(self.error(
                            offset + start + e.valid_up_to(),
                            "invalid UTF-8 in a string",
                        ))
                    }
                }
                continue;
            }
            match input[i] {
                b'"' => {
                    self.no_pending_surrogate(offset + i)?;
                    return Ok((i + 1, true));
                }
                b'\\' => {
                    self.string.escape = true;
                    i += 1;
                }
                _ => {
                    return Err(self.error(
                        offset + i,
                        "a control character in a string (JSON escapes them)",
                    ))
                }
            }
        }
        Ok((i, false))
    }

    /// One `\uXXXX` code unit: a character, or half of a surrogate pair.
    fn code_unit(
        &mut self,
        unit: u32,
        at: usize,
        out: &mut Option<&mut Vec<u8>>,
    ) -> Result<(), CodecError> {
        let code = match (self.string.high_surrogate.take(), unit) {
            (None, 0xD800..=0xDBFF) => {
                self.string.high_surrogate = Some(unit);
                return Ok(());
            }
            (Some(high), 0xDC00..=0xDFFF) => 0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00),
            (None, 0xDC00..=0xDFFF) | (Some(_), _) => {
                return Err(self.error(at, "a lone surrogate in a \\u escape"))
            }
            (None, unit) => unit,
        };
        let c = char::from_u32(code)
            .ok_or_else(|| self.error(at, "an invalid character in a \\u escape"))?;
        let mut buffer = [0u8; 4];
        self.emit(c.encode_utf8(&mut buffer).as_bytes(), out)
    }

    fn no_pending_surrogate(&self, at: usize) -> Result<(), CodecError> {
        if self.string.high_surrogate.is_some() {
            return Err(self.error(at, "a lone surrogate in a \\u escape"));
        }
        Ok(())
    }

    /// A run of plain characters (no backslash, no control character): nothing in it needs
    /// COPY's escaping, so a value's run is copied as it is.
    fn emit_plain(&mut self, run: &[u8], out: &mut Option<&mut Vec<u8>>) -> Result<(), CodecError> {
        match out {
            Some(out) if self.writes => {
                out.extend_from_slice(run);
                Ok(())
            }
            _ => self.emit(run, out),
        }
    }

    fn emit(&mut self, bytes: &[u8], out: &mut Option<&mut Vec<u8>>) -> Result<(), CodecError> {
        match out {
            Some(out) if self.writes => push_copy_text(bytes, out),
            Some(_) => {}
            None => {
                if self.key.len() + bytes.len() > MAX_KEY_BYTES {
                    return Err(CodecError(
                        "not a valid row: a key is far longer than any column name".into(),
                    ));
                }
                self.key.extend_from_slice(bytes);
            }
        }
        Ok(())
    }
}

/// The length of the UTF-8 sequence a lead byte starts (1 for anything that is not a lead
/// byte, which `from_utf8` then refuses).
fn utf8_length(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

/// Appends a value as a COPY text field, escaped as PostgreSQL's `COPY ... TO` escapes it
/// (`CopyAttributeOutText`): `\`, and backspace, form feed, LF, CR, tab and vertical tab as
/// `\b \f \n \r \t \v`. COPY FROM also reads backspace, form feed and vertical tab raw;
/// escaping them as PostgreSQL does makes a restored row, byte for byte, the COPY row that was
/// backed up (`tests/suite/row_codec_props.rs`).
pub(super) fn push_copy_text(value: &[u8], out: &mut Vec<u8>) {
    let mut run = 0;
    for (i, &b) in value.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x0b => b"\\v",
            _ => continue,
        };
        out.extend_from_slice(&value[run..i]);
        out.extend_from_slice(escaped);
        run = i + 1;
    }
    out.extend_from_slice(&value[run..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoder(n: usize) -> RowDecoder {
        RowDecoder::new((0..n).map(|i| format!("c{i}")).collect())
    }

    /// Decodes `line` fed in pieces of every size from 1 to its length; all must agree, and a
    /// checker (reused from line to line, after errors too) must give the same verdicts.
    fn decode_in_pieces(decoder: &RowDecoder, line: &[u8]) -> Result<Vec<u8>, String> {
        let whole = {
            let mut out = Vec::new();
            decoder.decode(line, &mut out).map(|()| out)
        };
        let mut checker = decoder.checker();
        for size in 1..=line.len().max(1) {
            let mut out = Vec::new();
            let mut d = decoder.line();
            let result = line
                .chunks(size)
                .try_for_each(|piece| d.feed(piece, &mut out))
                .and_then(|()| d.finish(&mut out))
                .map(|()| out);
            checker.next_line();
            let checked = line
                .chunks(size)
                .try_for_each(|piece| checker.feed(piece, &mut Vec::new()))
                .and_then(|()| checker.finish(&mut Vec::new()));
            assert_eq!(
                checked.map_err(|e| e.to_string()),
                result.as_ref().map(|_| ()).map_err(ToString::to_string),
                "the checker, piece size {size} of {:?}",
                String::from_utf8_lossy(line)
            );
            assert_eq!(
                result.is_ok(),
                whole.is_ok(),
                "piece size {size} of {:?}: {result:?} vs {whole:?}",
                String::from_utf8_lossy(line)
            );
            if let (Ok(a), Ok(b)) = (&result, &whole) {
                assert_eq!(a, b, "piece size {size}");
            }
        }
        whole.map_err(|e| e.to_string())
    }

    #[test]
    fn values_decode_the_same_whatever_the_pieces() {
        let line = "{\"c0\":\"a\\\\b\\tc\\nd\\re \\\"q\\\" \\/ \\b\\f\",\"c1\":null,\"c2\":\"\",\
                    \"c3\":\"\\u00e9\\ud83d\\ude00 é😀 日本\",\"c4\":true,\"c5\":false,\
                    \"c6\":-12.5e+3,\"c7\":0}";
        let out = decode_in_pieces(&decoder(8), line.as_bytes()).unwrap();
        assert_eq!(
            out,
            "a\\\\b\\tc\\nd\\re \"q\" / \\b\\f\t\\N\t\té😀 é😀 日本\tt\tf\t-12.5e+3\t0\n"
                .as_bytes()
        );
    }

    #[test]
    fn white_space_between_tokens_is_json() {
        let out = decode_in_pieces(&decoder(2), b" { \"c0\" : 1 , \"c1\" :\t\"x\" } ").unwrap();
        assert_eq!(out, b"1\tx\n");
    }

    #[test]
    fn every_malformed_line_is_refused() {
        let two = decoder(2);
        let one = decoder(1);
        for (d, bad) in [
            (&two, &br#"{"c0":1}"#[..]),
            (&one, br#"{"c1":1}"#),
            (&one, br#"{"c0":1,"c1":2}"#),
            (&one, br#"{"c0":[1]}"#),
            (&one, br#"{"c0":{}}"#),
            (&one, br#"{"c0":1} x"#),
            (&one, br#"{"c0":"#),
            (&one, br#"{"c0":"abc"#),
            (&one, br#"{"c0":01}"#),
            (&one, br#"{"c0":1.}"#),
            (&one, br#"{"c0":-}"#),
            (&one, br#"{"c0":1e}"#),
            (&one, br#"{"c0":+1}"#),
            (&one, br#"{"c0":nul}"#),
            (&one, br#"{"c0":truth}"#),
            (&one, br#"{"c0":"\x"}"#),
            (&one, br#"{"c0":"\u12"}"#),
            (&one, br#"{"c0":"\ud800"}"#),
            (&one, br#"{"c0":"\udc00"}"#),
            (&one, br#"{"c0":"\ud800\u0041"}"#),
            (&one, b"{\"c0\":\"tab\there\"}"),
            (&one, b"{\"c0\":\"\xff\"}"),
            (&one, b"{\"c0\":\"\xe6\x97\"}"),
            (&one, b""),
            (&one, b"[1]"),
            (&one, br#"{"c0":1,}"#),
        ] {
            let mut out = Vec::new();
            assert!(
                d.decode(bad, &mut out).is_err(),
                "{:?} was accepted",
                String::from_utf8_lossy(bad)
            );
            assert!(out.is_empty(), "a failed decode leaves nothing behind");
            assert!(decode_in_pieces(d, bad).is_err());
        }
    }

    #[test]
    fn a_table_without_columns_has_empty_rows() {
        assert_eq!(decode_in_pieces(&decoder(0), b"{}").unwrap(), b"\n");
        assert!(decoder(0).decode(br#"{"a":1}"#, &mut Vec::new()).is_err());
    }

    #[test]
    fn errors_name_the_column_and_the_place() {
        let err = decoder(2)
            .decode(br#"{"c0":1,"c1":[2]}"#, &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("column \"c1\""), "{err}");
        assert!(err.contains("at byte 14"), "{err}");
        let err = decoder(2)
            .decode(br#"{"c0":1,"cx":2}"#, &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("key \"cx\" where column \"c1\""), "{err}");
    }

    #[test]
    fn a_long_value_streams_through() {
        let d = decoder(1);
        let value = "ab\\\"cd é\n😀".repeat(40_000);
        let line = serde_json::json!({ "c0": value }).to_string();
        let mut whole = Vec::new();
        d.decode(line.as_bytes(), &mut whole).unwrap();
        let mut streamed = Vec::new();
        let mut decoder = d.line();
        for piece in line.as_bytes().chunks(4093) {
            decoder.feed(piece, &mut streamed).unwrap();
        }
        decoder.finish(&mut streamed).unwrap();
        assert_eq!(streamed, whole);
        let mut expected = Vec::new();
        push_copy_text(value.as_bytes(), &mut expected);
        expected.push(b'\n');
        assert_eq!(whole, expected);
    }
}
