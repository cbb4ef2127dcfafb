//! The old system's rows → COPY text fields: its keys are Drizzle's camelCase property names
//! (`stripeAmount`) or Supabase's column names (`stripe_amount`), its values what
//! `JSON.stringify` made of them (dates as ISO strings, jsonb as nested JSON).

use serde_json::Value;

/// `stripePaymentIntentId` → `stripe_payment_intent_id`; snake_case stays as it is.
pub fn snake_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    let mut previous_lower = false;
    for c in key.chars() {
        if c.is_uppercase() {
            if previous_lower {
                out.push('_');
            }
            out.extend(c.to_lowercase());
            previous_lower = false;
        } else {
            out.push(c);
            previous_lower = c.is_lowercase() || c.is_ascii_digit();
        }
    }
    out
}

/// The column a key fills: the column of that exact name, else its snake_case form.
pub fn column_for<'a>(key: &str, columns: &'a [String]) -> Option<&'a String> {
    columns.iter().find(|c| *c == key).or_else(|| {
        let snake = snake_case(key);
        columns.iter().find(|c| **c == snake)
    })
}

/// How a JSON value becomes a column's text input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// json / jsonb: the value's JSON text, whatever it is (a JSON string stays a string).
    Json,
    /// An array type: a JSON array becomes an array literal `{...}`.
    Array,
    /// Anything else: strings as they are, numbers and booleans as PostgreSQL reads them.
    Scalar,
}

impl Target {
    /// From the target column's `format_type`.
    pub fn for_type(type_name: &str) -> Target {
        match type_name {
            "json" | "jsonb" => Target::Json,
            t if t.ends_with("[]") => Target::Array,
            _ => Target::Scalar,
        }
    }
}

/// Appends the COPY text field for `value` (absent keys are `None`: NULL).
pub fn write_field(value: Option<&Value>, target: Target, out: &mut Vec<u8>) {
    match (value, target) {
        (None | Some(Value::Null), _) => out.extend_from_slice(b"\\N"),
        (Some(v), Target::Json) => copy_escape(&v.to_string(), out),
        (Some(Value::Array(items)), Target::Array) => copy_escape(&array_literal(items), out),
        (Some(v), _) => copy_escape(&scalar_text(v), out),
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::Bool(true) => "t".to_string(),
        Value::Bool(false) => "f".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `["a", null, "b\"c"]` → `{"a",NULL,"b\"c"}`; nested arrays become nested braces.
fn array_literal(items: &[Value]) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|item| match item {
            Value::Null => "NULL".to_string(),
            Value::Array(inner) => array_literal(inner),
            other => {
                let text = match other {
                    Value::String(s) => s.clone(),
                    Value::Object(_) => other.to_string(),
                    _ => scalar_text(other),
                };
                format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
            }
        })
        .collect();
    format!("{{{}}}", parts.join(","))
}

/// COPY text escaping: backslash, newline, carriage return, tab.
fn copy_escape(text: &str, out: &mut Vec<u8>) {
    for b in text.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn camel_case_keys_find_snake_case_columns() {
        assert_eq!(
            snake_case("stripePaymentIntentId"),
            "stripe_payment_intent_id"
        );
        assert_eq!(snake_case("userId"), "user_id");
        assert_eq!(snake_case("created_at"), "created_at");
        assert_eq!(snake_case("id"), "id");
        let columns = vec!["user_id".to_string(), "userId2".to_string()];
        assert_eq!(column_for("userId", &columns), Some(&columns[0]));
        assert_eq!(column_for("userId2", &columns), Some(&columns[1]));
        assert_eq!(column_for("nope", &columns), None);
    }

    fn field(value: Value, target: Target) -> String {
        let mut out = Vec::new();
        write_field(Some(&value), target, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn values_become_copy_text() {
        assert_eq!(field(json!(null), Target::Scalar), "\\N");
        assert_eq!(field(json!(true), Target::Scalar), "t");
        assert_eq!(field(json!(1999), Target::Scalar), "1999");
        assert_eq!(field(json!("a\tb\\c\nd"), Target::Scalar), "a\\tb\\\\c\\nd");
        assert_eq!(
            field(json!({"k": [1, "x"]}), Target::Json),
            "{\"k\":[1,\"x\"]}"
        );
        assert_eq!(field(json!("just text"), Target::Json), "\"just text\"");
        assert_eq!(
            field(json!([["a", null], ["b\"", "c"]]), Target::Array),
            "{{\"a\",NULL},{\"b\\\\\"\",\"c\"}}"
        );
        let mut out = Vec::new();
        write_field(None, Target::Scalar, &mut out);
        assert_eq!(out, b"\\N");
    }
}
