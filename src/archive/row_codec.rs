//! The row encoding of a backup, in both directions (the contract in BRIEF.md and
//! `docs/backup-format.md`):
//!
//! - [`RowEncoder`]: one row of `COPY ... TO STDOUT` text output → one JSON object line.
//!   Text COPY backslash-escapes `\`, CR, LF, tab and friends; the encoder undoes COPY's
//!   escaping and applies JSON's in the same pass, so every value comes out exact. Booleans
//!   become `true`/`false`, integers and finite floats JSON numbers (PostgreSQL's text
//!   verbatim), float specials the strings `"NaN"`, `"Infinity"`, `"-Infinity"`, and everything
//!   else a JSON string holding PostgreSQL's text output.
//! - [`RowDecoder`] (in `row_decoder`, streamed): one JSON object line → one row of
//!   `COPY ... FROM STDIN` text input, without knowing the types: `null` → `\N`,
//!   `true`/`false` → `t`/`f`, a number → its raw text, a string → the string COPY-escaped
//!   as PostgreSQL's COPY output is (`\`, `\b \f \n \r \t \v`).
//!
//! Turning COPY text into JSON here, in the client, costs a fraction of server-side
//! `row_to_json` and keeps the server's work to a plain COPY.

use std::fmt;

pub use super::row_decoder::RowDecoder;

/// How a column's text is written in JSON, from the column's base type (domains resolved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonKind {
    Bool,
    /// int2, int4, int8, oid: the text is a JSON number as it stands.
    Integer,
    /// float4, float8: a JSON number when finite, else `"NaN"`, `"Infinity"`, `"-Infinity"`.
    Float,
    /// Everything else: a JSON string.
    Text,
}

impl JsonKind {
    /// The kind for a base type's `pg_type.typname`.
    pub fn for_base_type(typname: &str) -> JsonKind {
        match typname {
            "bool" => JsonKind::Bool,
            "int2" | "int4" | "int8" | "oid" => JsonKind::Integer,
            "float4" | "float8" => JsonKind::Float,
            _ => JsonKind::Text,
        }
    }
}

/// A row that cannot be encoded or decoded, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError(pub String);

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodecError {}

/// COPY text row → JSON line, for one table's columns (generated columns excluded).
pub struct RowEncoder {
    /// `{"name":` for the first column, `,"name":` for the others, JSON-escaped once.
    keys: Vec<Vec<u8>>,
    kinds: Vec<JsonKind>,
}

impl RowEncoder {
    pub fn new<'a>(columns: impl IntoIterator<Item = (&'a str, JsonKind)>) -> RowEncoder {
        let mut keys = Vec::new();
        let mut kinds = Vec::new();
        for (i, (name, kind)) in columns.into_iter().enumerate() {
            let mut key = Vec::with_capacity(name.len() + 4);
            key.push(if i == 0 { b'{' } else { b',' });
            push_json_string(name.as_bytes(), &mut key);
            key.push(b':');
            keys.push(key);
            kinds.push(kind);
        }
        RowEncoder { keys, kinds }
    }

    /// Appends the JSON line (ending in `\n`) for one COPY text row (without its `\n`).
    pub fn encode(&self, row: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        self.encode_with(row, out, &mut None)
    }

    /// Like [`RowEncoder::encode`], but whenever `out` holds `limit` bytes or more, even in the
    /// middle of a value, they are handed to `spill` and `out` is emptied: a row with a value
    /// of any size is encoded in bounded memory.
    pub fn encode_spilling(
        &self,
        row: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
        spill: &mut dyn FnMut(&[u8]) -> Result<(), CodecError>,
    ) -> Result<(), CodecError> {
        self.encode_with(
            row,
            out,
            &mut Some(Spill {
                limit,
                write: spill,
            }),
        )
    }

    fn encode_with(
        &self,
        row: &[u8],
        out: &mut Vec<u8>,
        spill: &mut Option<Spill<'_>>,
    ) -> Result<(), CodecError> {
        if std::str::from_utf8(row).is_err() {
            return Err(CodecError(
                "the row is not valid UTF-8 (is the database's encoding SQL_ASCII?)".into(),
            ));
        }
        if self.kinds.is_empty() {
            if !row.is_empty() {
                return Err(CodecError("a table without columns sent a value".into()));
            }
            out.extend_from_slice(b"{}\n");
            return Ok(());
        }
        let mut fields = row.split(|&b| b == b'\t');
        for (i, (key, kind)) in self.keys.iter().zip(&self.kinds).enumerate() {
            let field = fields.next().ok_or_else(|| {
                CodecError(format!(
                    "the row has {i} fields, the table {} columns",
                    self.kinds.len()
                ))
            })?;
            out.extend_from_slice(key);
            encode_field(field, *kind, out, spill)?;
            spill_if_full(out, spill)?;
        }
        if fields.next().is_some() {
            return Err(CodecError(format!(
                "the row has more fields than the table's {} columns",
                self.kinds.len()
            )));
        }
        out.extend_from_slice(b"}\n");
        Ok(())
    }
}

/// Where the encoder hands over its output when it is full.
struct Spill<'a> {
    limit: usize,
    write: &'a mut dyn FnMut(&[u8]) -> Result<(), CodecError>,
}

fn spill_if_full(out: &mut Vec<u8>, spill: &mut Option<Spill<'_>>) -> Result<(), CodecError> {
    if let Some(spill) = spill {
        if out.len() >= spill.limit {
            (spill.write)(out)?;
            out.clear();
        }
    }
    Ok(())
}

/// A run of plain bytes inside a text value is copied at most this long at once, so a huge
/// value can be spilled while it is encoded.
const RUN_BYTES: usize = 64 * 1024;

fn encode_field(
    field: &[u8],
    kind: JsonKind,
    out: &mut Vec<u8>,
    spill: &mut Option<Spill<'_>>,
) -> Result<(), CodecError> {
    if field == b"\\N" {
        out.extend_from_slice(b"null");
        return Ok(());
    }
    match kind {
        JsonKind::Bool => match field {
            b"t" => out.extend_from_slice(b"true"),
            b"f" => out.extend_from_slice(b"false"),
            other => {
                return Err(CodecError(format!(
                    "\"{}\" is not a boolean",
                    String::from_utf8_lossy(other)
                )))
            }
        },
        JsonKind::Integer => {
            if !is_json_number(field) {
                return Err(CodecError(format!(
                    "\"{}\" is not an integer",
                    String::from_utf8_lossy(field)
                )));
            }
            out.extend_from_slice(field);
        }
        JsonKind::Float => match field {
            b"NaN" | b"Infinity" | b"-Infinity" => {
                out.push(b'"');
                out.extend_from_slice(field);
                out.push(b'"');
            }
            number if is_json_number(number) => out.extend_from_slice(number),
            other => {
                return Err(CodecError(format!(
                    "\"{}\" is not a float",
                    String::from_utf8_lossy(other)
                )))
            }
        },
        JsonKind::Text => copy_text_to_json_string(field, out, spill)?,
    }
    Ok(())
}

/// Whether PostgreSQL's text for a number is also a JSON number (`-0`, `1e+100` are; `+1`,
/// `.5`, `1.` would not be, and PostgreSQL never prints them).
fn is_json_number(text: &[u8]) -> bool {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    let mut parts = digits.splitn(2, |&b| b == b'e' || b == b'E');
    let mantissa = parts.next().unwrap_or_default();
    let (int, frac) = match mantissa.iter().position(|&b| b == b'.') {
        Some(dot) => (&mantissa[..dot], Some(&mantissa[dot + 1..])),
        None => (mantissa, None),
    };
    let all_digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    let int_ok = all_digits(int) && (int == b"0" || int[0] != b'0');
    let frac_ok = frac.is_none_or(all_digits);
    let exp_ok = parts.next().is_none_or(|exp| {
        let exp = exp
            .strip_prefix(b"+")
            .or_else(|| exp.strip_prefix(b"-"))
            .unwrap_or(exp);
        all_digits(exp)
    });
    int_ok && frac_ok && exp_ok
}

/// Undoes COPY text escaping and writes the value as a JSON string, in one pass.
fn copy_text_to_json_string(
    field: &[u8],
    out: &mut Vec<u8>,
    spill: &mut Option<Spill<'_>>,
) -> Result<(), CodecError> {
    out.push(b'"');
    let mut i = 0;
    while i < field.len() {
        // Plain bytes are copied as they are, in pieces of at most RUN_BYTES so that a huge
        // value can be spilled while it is encoded.
        let end = super::plain_run::plain_run_end(field, i);
        for piece in field[i..end].chunks(RUN_BYTES) {
            out.extend_from_slice(piece);
            spill_if_full(out, spill)?;
        }
        i = end;
        let Some(&b) = field.get(i) else { break };
        if b == b'\\' {
            let (byte, used) = unescape_copy(&field[i + 1..])?;
            // PostgreSQL's COPY never escapes a byte of a multi-byte character: one written
            // out alone would make the JSON line invalid UTF-8 (found by fuzzing).
            if byte >= 0x80 {
                return Err(CodecError(format!(
                    "a field escapes the byte 0x{byte:02x}, which is not text on its own"
                )));
            }
            push_json_byte(byte, out);
            i += 1 + used;
        } else {
            push_json_byte(b, out);
            i += 1;
        }
        // A value full of escapes grows `out` here, not in the runs above.
        spill_if_full(out, spill)?;
    }
    out.push(b'"');
    Ok(())
}

/// The byte a COPY text escape stands for, and how many bytes after the backslash it used.
fn unescape_copy(rest: &[u8]) -> Result<(u8, usize), CodecError> {
    let Some(&c) = rest.first() else {
        return Err(CodecError("a field ends in a lone backslash".into()));
    };
    Ok(match c {
        b'b' => (0x08, 1),
        b'f' => (0x0c, 1),
        b'n' => (b'\n', 1),
        b'r' => (b'\r', 1),
        b't' => (b'\t', 1),
        b'v' => (0x0b, 1),
        b'0'..=b'7' => {
            let len = rest
                .iter()
                .take(3)
                .take_while(|b| (b'0'..=b'7').contains(b))
                .count();
            let value = rest[..len]
                .iter()
                .fold(0u32, |v, d| v * 8 + u32::from(d - b'0'));
            ((value & 0xff) as u8, len)
        }
        b'x' if rest.get(1).is_some_and(u8::is_ascii_hexdigit) => {
            let len = rest[1..]
                .iter()
                .take(2)
                .take_while(|b| b.is_ascii_hexdigit())
                .count();
            let text = std::str::from_utf8(&rest[1..1 + len]).unwrap_or("0");
            (u8::from_str_radix(text, 16).unwrap_or(0), 1 + len)
        }
        other => (other, 1),
    })
}

/// Appends one byte of a value inside a JSON string, escaped as JSON requires.
fn push_json_byte(b: u8, out: &mut Vec<u8>) {
    match b {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        c if c < 0x20 => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(c >> 4)]);
            out.push(HEX[usize::from(c & 0xf)]);
        }
        c => out.push(c),
    }
}

/// Appends raw bytes as a JSON string.
fn push_json_string(raw: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in raw {
        push_json_byte(b, out);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// A COPY text row's values, unescaped (None for NULL): what PostgreSQL means by the row.
    fn copy_values(row: &[u8]) -> Vec<Option<Vec<u8>>> {
        let row = row.strip_suffix(b"\n").unwrap_or(row);
        row.split(|&b| b == b'\t')
            .map(|field| {
                if field == b"\\N" {
                    return None;
                }
                let mut value = Vec::new();
                let mut i = 0;
                while i < field.len() {
                    if field[i] == b'\\' {
                        let (byte, used) = unescape_copy(&field[i + 1..]).unwrap();
                        value.push(byte);
                        i += 1 + used;
                    } else {
                        value.push(field[i]);
                        i += 1;
                    }
                }
                Some(value)
            })
            .collect()
    }

    fn encoder(kinds: &[JsonKind]) -> RowEncoder {
        let names: Vec<String> = (0..kinds.len()).map(|i| format!("c{i}")).collect();
        RowEncoder::new(names.iter().map(String::as_str).zip(kinds.iter().copied()))
    }

    fn decoder(n: usize) -> RowDecoder {
        RowDecoder::new((0..n).map(|i| format!("c{i}")).collect())
    }

    /// Encodes, decodes, and checks that the values PostgreSQL would read are the ones it wrote.
    fn round_trip(kinds: &[JsonKind], row: &[u8]) -> Value {
        let mut line = Vec::new();
        encoder(kinds).encode(row, &mut line).unwrap();
        let mut back = Vec::new();
        decoder(kinds.len())
            .decode(&line[..line.len() - 1], &mut back)
            .unwrap();
        assert_eq!(
            copy_values(&back),
            copy_values(row),
            "row {:?}",
            String::from_utf8_lossy(row)
        );
        serde_json::from_slice(&line).unwrap()
    }

    use JsonKind::*;

    #[test]
    fn text_edges_survive_both_ways() {
        let cases: &[(&[u8], &str)] = &[
            (b"plain", "plain"),
            (b"back\\\\slash", "back\\slash"),
            (b"say \"hi\"", "say \"hi\""),
            (b"tab\\there", "tab\there"),
            (b"cr\\rlf\\n", "cr\rlf\n"),
            (
                b"bell\x07 and \\b \\f \\v",
                "bell\u{7} and \u{8} \u{c} \u{b}",
            ),
            ("unicode ✋ 日本 😀 é".as_bytes(), "unicode ✋ 日本 😀 é"),
            (b"", ""),
            (b"\\\\N", "\\N"),
            (b"{\"k\": \"a\\\\\"b\\n\"}", "{\"k\": \"a\\\"b\n\"}"),
            (b"\\x41\\101", "AA"),
        ];
        for (field, expected) in cases {
            let value = round_trip(&[Text], field);
            assert_eq!(
                value,
                json!({ "c0": expected }),
                "field {:?}",
                String::from_utf8_lossy(field)
            );
        }
    }

    #[test]
    fn null_is_not_the_empty_string() {
        assert_eq!(
            round_trip(&[Text, Text], b"\\N\t"),
            json!({"c0": null, "c1": ""})
        );
        assert_eq!(
            round_trip(&[Integer, Bool, Float], b"\\N\t\\N\t\\N"),
            json!({"c0": null, "c1": null, "c2": null})
        );
    }

    #[test]
    fn numbers_and_booleans() {
        let value = round_trip(
            &[Integer, Integer, Bool, Bool, Float, Float, Float, Float, Float, Float, Text],
            b"-9223372036854775808\t0\tt\tf\t-0\t1e+100\t1.5e-07\tNaN\tInfinity\t-Infinity\t12345678901234567890.000000001",
        );
        let text = value.to_string();
        assert!(text.contains("\"c0\":-9223372036854775808"), "{text}");
        assert!(text.contains("\"c4\":-0"), "{text}");
        assert!(text.contains("\"c5\":1e+100"), "{text}");
        assert_eq!(value["c2"], json!(true));
        assert_eq!(value["c3"], json!(false));
        assert_eq!(value["c7"], json!("NaN"));
        assert_eq!(value["c8"], json!("Infinity"));
        assert_eq!(value["c9"], json!("-Infinity"));
        assert_eq!(
            value["c10"],
            json!("12345678901234567890.000000001"),
            "numeric stays exact text"
        );
    }

    #[test]
    fn floats_keep_their_exact_text() {
        let mut line = Vec::new();
        encoder(&[Float, Float])
            .encode(b"-0\t0.30000000000000004", &mut line)
            .unwrap();
        assert_eq!(line, b"{\"c0\":-0,\"c1\":0.30000000000000004}\n");
        let mut back = Vec::new();
        decoder(2)
            .decode(&line[..line.len() - 1], &mut back)
            .unwrap();
        assert_eq!(back, b"-0\t0.30000000000000004\n");
    }

    #[test]
    fn other_types_are_strings_of_their_text() {
        let value = round_trip(
            &[Text, Text, Text, Text, Text, Text],
            b"\\\\x00ff\t{1,NULL,\"a b\"}\tinfinity\t2026-11-25 17:05:01.5+00\tcompleted\t[1,5)",
        );
        assert_eq!(value["c0"], json!("\\x00ff"));
        assert_eq!(value["c1"], json!("{1,NULL,\"a b\"}"));
        assert_eq!(value["c2"], json!("infinity"));
        assert_eq!(value["c3"], json!("2026-11-25 17:05:01.5+00"));
    }

    #[test]
    fn keys_are_escaped_and_in_column_order() {
        let enc = RowEncoder::new([("we\"ird\\name", Text), ("id", Integer)]);
        let mut out = Vec::new();
        enc.encode(b"x\t1", &mut out).unwrap();
        assert_eq!(out, b"{\"we\\\"ird\\\\name\":\"x\",\"id\":1}\n");
        let dec = RowDecoder::new(vec!["we\"ird\\name".into(), "id".into()]);
        let mut back = Vec::new();
        dec.decode(&out[..out.len() - 1], &mut back).unwrap();
        assert_eq!(back, b"x\t1\n");
    }

    #[test]
    fn decoding_escapes_for_copy() {
        let mut out = Vec::new();
        decoder(4)
            .decode(
                br#"{"c0":"a\\b\tc\nd\re","c1":null,"c2":"","c3":"\u00e9\ud83d\ude00"}"#,
                &mut out,
            )
            .unwrap();
        assert_eq!(out, "a\\\\b\\tc\\nd\\re\t\\N\t\té😀\n".as_bytes());
    }

    #[test]
    fn wrong_rows_are_errors() {
        let mut out = Vec::new();
        assert!(encoder(&[Text, Text])
            .encode(b"only one", &mut out)
            .is_err());
        assert!(encoder(&[Text]).encode(b"a\tb", &mut out).is_err());
        assert!(encoder(&[Bool]).encode(b"yes", &mut out).is_err());
        assert!(encoder(&[Integer]).encode(b"1;DROP", &mut out).is_err());
        assert!(encoder(&[Text]).encode(b"\xff", &mut out).is_err());
        assert!(encoder(&[Text]).encode(b"ends in \\", &mut out).is_err());
        out.clear();
        assert!(decoder(2).decode(br#"{"c0":1}"#, &mut out).is_err());
        assert!(decoder(1).decode(br#"{"c1":1}"#, &mut out).is_err());
        assert!(decoder(1).decode(br#"{"c0":1,"c1":2}"#, &mut out).is_err());
        assert!(decoder(1).decode(br#"{"c0":[1]}"#, &mut out).is_err());
        assert!(decoder(1).decode(br#"{"c0":1} x"#, &mut out).is_err());
        assert!(decoder(1).decode(br#"{"c0":"#, &mut out).is_err());
        assert!(out.is_empty(), "a failed decode leaves nothing behind");
    }

    #[test]
    fn number_shapes() {
        for ok in ["0", "-0", "12", "1.5", "1e+100", "1.5e-07", "-3E5"] {
            assert!(is_json_number(ok.as_bytes()), "{ok}");
        }
        for bad in ["", "-", "+1", ".5", "1.", "01", "1e", "NaN", "1 2"] {
            assert!(!is_json_number(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn a_spilling_encoder_writes_the_same_bytes_in_bounded_pieces() {
        let enc = encoder(&[Text, Integer]);
        let value: Vec<u8> = br#"ab\\c\td"e"#.repeat(50_000);
        let mut row = value.clone();
        row.extend_from_slice(b"\t42");
        let mut whole = Vec::new();
        enc.encode(&row, &mut whole).unwrap();
        let mut spilled = Vec::new();
        let mut largest = 0;
        let mut out = Vec::new();
        enc.encode_spilling(&row, &mut out, 4096, &mut |piece| {
            largest = largest.max(piece.len());
            spilled.extend_from_slice(piece);
            Ok(())
        })
        .unwrap();
        spilled.extend_from_slice(&out);
        assert_eq!(spilled, whole);
        assert!(largest < 4096 + 16, "{largest}");
    }

    #[test]
    fn an_escaped_byte_that_is_not_text_is_an_error_not_invalid_json() {
        let encoder = encoder(&[Text]);
        // The fuzzer's crash, re-created by hand (the original file was lost): byte 0 picks
        // one text column, byte 1 the spill limit, the rest is the COPY row.
        let found = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fuzz/artifacts/copy_encoder/crash-recreated-escape-377"
        ))
        .unwrap();
        assert!(encoder.encode(&found[2..], &mut Vec::new()).is_err());
        for row in [&b"\\377"[..], b"\\xff", b"a\\200b"] {
            let mut out = Vec::new();
            assert!(encoder.encode(row, &mut out).is_err(), "{row:?}");
        }
        let mut out = Vec::new();
        encoder.encode(b"\\101\\x42", &mut out).unwrap();
        assert!(String::from_utf8(out).unwrap().contains("AB"));
    }

    #[test]
    fn empty_column_list() {
        let mut out = Vec::new();
        RowEncoder::new([]).encode(b"", &mut out).unwrap();
        assert_eq!(out, b"{}\n");
        out.clear();
        RowDecoder::new(vec![]).decode(b"{}", &mut out).unwrap();
        assert_eq!(out, b"\n");
    }
}
