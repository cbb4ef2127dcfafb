//! Quoting for SQL that palmdb builds from catalog names and values: every identifier goes
//! through `quote_ident`, so odd table and column names (spaces, quotes, capitals) work.

/// `"name"`, with embedded double quotes doubled (PostgreSQL's `quote_ident`, always quoting).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'`, with embedded single quotes doubled (for `standard_conforming_strings = on`).
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_names_and_values_are_quoted() {
        assert_eq!(quote_ident("users"), "\"users\"");
        assert_eq!(quote_ident("we\"ird name"), "\"we\"\"ird name\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
