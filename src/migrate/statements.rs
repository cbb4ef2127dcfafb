//! Splits a SQL file into statements, and finds the statement an error position points at.
//!
//! Statements that must run outside a transaction (`CREATE INDEX CONCURRENTLY` and friends)
//! have to be sent one per query: PostgreSQL runs a multi-statement query as one implicit
//! transaction. The splitter understands quotes, dollar quotes and comments, so a `;` inside
//! a function body or a string never ends a statement.

/// One statement of a file, with where it starts (for error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The statement's text, without the terminating `;` and surrounding blank space.
    pub text: String,
    /// Byte offset of the statement's first character in the file.
    pub offset: usize,
    /// 1-based line number of the statement's first character.
    pub line: usize,
}

/// Splits `sql` at top-level semicolons. Empty statements (only comments) are dropped.
pub fn split(sql: &str) -> Vec<Statement> {
    let bytes = sql.as_bytes();
    let mut statements = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => i = skip_quoted(bytes, i, b'\'', escapes_backslash(bytes, i)),
            b'"' => i = skip_quoted(bytes, i, b'"', false),
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = memchr_from(bytes, i, b'\n').unwrap_or(bytes.len());
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = skip_block_comment(bytes, i),
            b'$' => i = skip_dollar_quoted(sql, i),
            b';' => {
                push_statement(sql, start, i, &mut statements);
                start = i + 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    push_statement(sql, start, bytes.len(), &mut statements);
    statements
}

/// The statement that contains byte `offset` of the file, if any.
pub fn at_offset(statements: &[Statement], offset: usize) -> Option<&Statement> {
    statements.iter().take_while(|s| s.offset <= offset).last()
}

/// Strips leading comments and blank space: what the server will see first.
pub fn without_leading_comments(text: &str) -> &str {
    let mut rest = text.trim_start();
    loop {
        if rest.starts_with("--") {
            rest = rest.find('\n').map_or("", |n| &rest[n + 1..]).trim_start();
        } else if rest.starts_with("/*") {
            let end = skip_block_comment(rest.as_bytes(), 0);
            rest = rest[end.min(rest.len())..].trim_start();
        } else {
            return rest;
        }
    }
}

fn push_statement(sql: &str, start: usize, end: usize, out: &mut Vec<Statement>) {
    let raw = &sql[start..end];
    let trimmed_start = start + (raw.len() - raw.trim_start().len());
    let text = raw.trim();
    if without_leading_comments(text).is_empty() {
        return;
    }
    out.push(Statement {
        text: text.to_string(),
        offset: trimmed_start,
        line: sql[..trimmed_start].matches('\n').count() + 1,
    });
}

/// `E'...'` strings treat backslash as an escape character.
fn escapes_backslash(bytes: &[u8], quote: usize) -> bool {
    quote > 0
        && matches!(bytes[quote - 1], b'E' | b'e')
        && (quote < 2 || !(bytes[quote - 2].is_ascii_alphanumeric() || bytes[quote - 2] == b'_'))
}

fn skip_quoted(bytes: &[u8], open: usize, quote: u8, backslash: bool) -> usize {
    let mut i = open + 1;
    while i < bytes.len() {
        if backslash && bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

fn skip_block_comment(bytes: &[u8], open: usize) -> usize {
    let mut depth = 0;
    let mut i = open;
    while i + 1 < bytes.len() {
        if bytes[i] == b'/' && bytes[i + 1] == b'*' {
            depth += 1;
            i += 2;
        } else if bytes[i] == b'*' && bytes[i + 1] == b'/' {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// `$tag$ ... $tag$`; a `$` that does not open a dollar quote (like `$1`) is skipped alone.
fn skip_dollar_quoted(sql: &str, open: usize) -> usize {
    let bytes = sql.as_bytes();
    let mut j = open + 1;
    while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
        j += 1;
    }
    let is_tag = j < bytes.len()
        && bytes[j] == b'$'
        && !bytes[open + 1..j].first().is_some_and(u8::is_ascii_digit)
        && (open == 0 || !(bytes[open - 1].is_ascii_alphanumeric() || bytes[open - 1] == b'_'));
    if !is_tag {
        return open + 1;
    }
    let tag = &sql[open..=j];
    match sql[j + 1..].find(tag) {
        Some(pos) => j + 1 + pos + tag.len(),
        None => bytes.len(),
    }
}

fn memchr_from(bytes: &[u8], from: usize, needle: u8) -> Option<usize> {
    bytes[from..]
        .iter()
        .position(|&b| b == needle)
        .map(|p| from + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str) -> Vec<String> {
        split(sql).into_iter().map(|s| s.text).collect()
    }

    #[test]
    fn splits_at_top_level_semicolons_only() {
        let sql = "CREATE TABLE a (x text DEFAULT 'a;b');\n-- c; d\nSELECT \"we;ird\" FROM a;\n\
                   CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\n\
                   /* block; /* nested; */ */ SELECT E'it\\'s;';";
        assert_eq!(
            texts(sql),
            vec![
                "CREATE TABLE a (x text DEFAULT 'a;b')",
                "-- c; d\nSELECT \"we;ird\" FROM a",
                "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql",
                "/* block; /* nested; */ */ SELECT E'it\\'s;'",
            ]
        );
    }

    #[test]
    fn comment_only_tail_is_not_a_statement() {
        assert_eq!(texts("SELECT 1;\n-- the end\n"), vec!["SELECT 1"]);
    }

    #[test]
    fn positional_parameters_are_not_dollar_quotes() {
        assert_eq!(texts("SELECT $1; SELECT 2"), vec!["SELECT $1", "SELECT 2"]);
    }

    #[test]
    fn finds_the_statement_at_an_offset_with_its_line() {
        let sql = "SELECT 1;\n\nSELECT broken;\n";
        let statements = split(sql);
        let hit = at_offset(&statements, sql.find("broken").unwrap()).unwrap();
        assert_eq!(hit.text, "SELECT broken");
        assert_eq!(hit.line, 3);
    }
}
