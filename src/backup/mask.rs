//! `--mask`: a shareable backup with sensitive columns transformed by PostgreSQL during the
//! COPY, so the real values never leave the server.
//!
//! Rules come from `default_mask_rules.txt` (Palm's personal data) plus an optional file
//! (`--mask-rules FILE`) in the same format, whose lines win:
//! `[schema.]table.column  RULE`, `#` comments. Each rule becomes an SQL expression cast back to
//! the column's type, so the masked backup restores into the same schema.
//!
//! A rule from the file that names no column is an error, never ignored: with a typo
//! (`users.emial`) the real column would stay unmasked in a backup labelled masked. Palm's
//! default rules describe Palm's tables; on another database they may name tables or columns
//! that are not there, which is said in a warning.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use anyhow::{Context, Result};
use tokio_postgres::Client;

use super::catalog::{Column, Table};
use crate::error::Failure;
use crate::sql_quote::quote_ident;

const DEFAULT_RULES: &str = include_str!("default_mask_rules.txt");

/// How a column is masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskRule {
    /// SHA-256 hex of the text (uuid columns: md5 as a uuid). Equal values stay equal, so
    /// joins and unique constraints survive.
    Hash,
    /// A constant: `REDACTED` for text, `{"redacted": true}` for json/jsonb.
    Redact,
    /// `jane@example.com` → `j***@example.com`.
    Email,
    /// `jane@example.com` → `j***1f0c2a9e3b@example.com`: partial, but still unique.
    EmailUnique,
    /// NULL.
    Null,
    /// Not masked (turns a default rule off).
    Keep,
}

impl FromStr for MaskRule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "hash" => MaskRule::Hash,
            "redact" => MaskRule::Redact,
            "email" => MaskRule::Email,
            "email_unique" => MaskRule::EmailUnique,
            "null" => MaskRule::Null,
            "keep" => MaskRule::Keep,
            other => {
                return Err(format!(
                    "unknown mask rule \"{other}\": use hash, redact, email, email_unique, null or keep"
                ))
            }
        })
    }
}

impl fmt::Display for MaskRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MaskRule::Hash => "hash",
            MaskRule::Redact => "redact",
            MaskRule::Email => "email",
            MaskRule::EmailUnique => "email_unique",
            MaskRule::Null => "null",
            MaskRule::Keep => "keep",
        })
    }
}

#[derive(Debug, Clone)]
struct RuleLine {
    schema: String,
    table: String,
    column: String,
    rule: MaskRule,
    /// The line as written, and where: `users.emial hash (rules.txt, line 2)`.
    source: String,
    /// One of Palm's default rules (not from `--mask-rules`).
    default: bool,
}

/// The masking rules in force.
#[derive(Debug, Clone)]
pub struct MaskRules {
    lines: Vec<RuleLine>,
}

impl MaskRules {
    /// Palm's default rules, plus (winning over them) the rules of `file` if given.
    pub fn load(file: Option<&Path>) -> Result<MaskRules> {
        let mut rules = MaskRules::parse(DEFAULT_RULES, "the default mask rules")?;
        for line in &mut rules.lines {
            line.default = true;
        }
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read mask rules {}", path.display()))?;
            let extra = MaskRules::parse(&text, &path.display().to_string())?;
            rules.lines.extend(extra.lines);
        }
        Ok(rules)
    }

    /// Parses the rules file format; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<MaskRules> {
        let mut lines = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let bad = |why: String| {
                Failure::usage(format!("{origin}, line {}: {why}", n + 1)).with_hint(
                    "write one rule per line: [schema.]table.column RULE (hash, redact, email, email_unique, null, keep)",
                )
            };
            let mut words = line.split_whitespace();
            let (Some(target), Some(rule), None) = (words.next(), words.next(), words.next())
            else {
                return Err(bad(format!("\"{line}\" is not TARGET RULE")).into());
            };
            let rule: MaskRule = rule.parse().map_err(bad)?;
            let parts: Vec<&str> = target.split('.').collect();
            let (schema, table, column) = match parts.as_slice() {
                [table, column] => ("public", *table, *column),
                [schema, table, column] => (*schema, *table, *column),
                _ => return Err(bad(format!("\"{target}\" is not [schema.]table.column")).into()),
            };
            lines.push(RuleLine {
                schema: schema.to_string(),
                table: table.to_string(),
                column: column.to_string(),
                rule,
                source: format!("\"{target} {rule}\" ({origin}, line {})", n + 1),
                default: false,
            });
        }
        Ok(MaskRules { lines })
    }

    /// The rule for a column, if it is masked; the last matching line wins.
    pub fn rule_for(&self, table: &Table, column: &str) -> Option<MaskRule> {
        self.lines
            .iter()
            .rev()
            .find(|l| l.schema == table.schema && l.table == table.name && l.column == column)
            .map(|l| l.rule)
            .filter(|rule| *rule != MaskRule::Keep)
    }
}

/// Checks every rule against the tables being backed up (and, for a rule naming a table left
/// out of the backup, against the database): a rule from the file that names a column that
/// does not exist is an error naming the rule and the table. Returns warnings about Palm's
/// default rules that match nothing here.
pub async fn check_rules(
    client: &Client,
    rules: &MaskRules,
    tables: &[Table],
) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    for line in &rules.lines {
        let qualified = format!("{}.{}", line.schema, line.table);
        let problem = match tables
            .iter()
            .find(|t| t.schema == line.schema && t.name == line.table)
        {
            Some(table) => match table.columns.iter().find(|c| c.entry.name == line.column) {
                None => Some(format!(
                    "mask rule {}: table {qualified} has no column \"{}\" (its columns: {})",
                    line.source,
                    line.column,
                    table
                        .columns
                        .iter()
                        .map(|c| c.entry.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                Some(column) if column.entry.generated && line.rule != MaskRule::Keep => {
                    Some(format!(
                        "mask rule {}: column \"{}\" of {qualified} is generated, so it is not \
                         in the backup: mask the columns it is computed from",
                        line.source, line.column
                    ))
                }
                Some(_) => None,
            },
            // Palm's defaults name Palm's tables; another database need not have them.
            None if line.default => None,
            None if table_exists(client, &qualified).await? => None,
            None => Some(format!(
                "mask rule {}: there is no table {qualified}",
                line.source
            )),
        };
        match problem {
            Some(problem) if line.default => warnings.push(problem),
            Some(problem) => problems.push(problem),
            None => {}
        }
    }
    if problems.is_empty() {
        return Ok(warnings);
    }
    Err(Failure::usage(problems.join("; "))
        .with_hint(
            "fix the table or column name in the mask rules file: a rule that matches nothing would leave the real column unmasked",
        )
        .into())
}

async fn table_exists(client: &Client, qualified: &str) -> Result<bool> {
    let (schema, table) = qualified.split_once('.').unwrap_or(("public", qualified));
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class AS c
                            JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
                            WHERE n.nspname = $1 AND c.relname = $2)",
            &[&schema, &table],
        )
        .await
        .context("cannot check the tables the mask rules name")?;
    Ok(row.get(0))
}

fn is_text(column: &Column) -> bool {
    matches!(
        column.base_type.as_str(),
        "text" | "varchar" | "bpchar" | "citext" | "name"
    )
}

/// The SQL expression that reads `column` masked by `rule`, as the column's own type.
pub fn expression(rule: MaskRule, table: &Table, column: &Column) -> Result<String> {
    let c = quote_ident(&column.entry.name);
    let unfit = |what: &str| -> anyhow::Error {
        Failure::usage(format!(
            "mask rule {rule} fits {what} columns, not {}.{} ({})",
            table.qualified_name(),
            column.entry.name,
            column.entry.type_name
        ))
        .with_hint("choose another rule for this column in the mask rules file")
        .into()
    };
    let domain = format!("coalesce(substring({c}::text FROM '@([^@]*)$'), 'example.invalid')");
    let masked = match rule {
        MaskRule::Keep => return Ok(c),
        MaskRule::Null => "NULL".to_string(),
        MaskRule::Hash if column.base_type == "uuid" => format!("md5({c}::text)::uuid"),
        MaskRule::Hash if is_text(column) => {
            format!("encode(sha256(convert_to({c}::text, 'UTF8')), 'hex')")
        }
        MaskRule::Hash => return Err(unfit("text and uuid")),
        MaskRule::Redact if matches!(column.base_type.as_str(), "json" | "jsonb") => {
            "'{\"redacted\": true}'".to_string()
        }
        MaskRule::Redact if is_text(column) => "'REDACTED'".to_string(),
        MaskRule::Redact => return Err(unfit("text and json")),
        MaskRule::Email if is_text(column) => {
            format!("left({c}::text, 1) || '***@' || {domain}")
        }
        MaskRule::EmailUnique if is_text(column) => format!(
            "left({c}::text, 1) || '***' || left(encode(sha256(convert_to(lower({c}::text), 'UTF8')), 'hex'), 10) || '@' || {domain}"
        ),
        MaskRule::Email | MaskRule::EmailUnique => return Err(unfit("text")),
    };
    // NULL stays NULL whatever the rule; the result is cast back to the column's type.
    Ok(format!(
        "CASE WHEN {c} IS NULL THEN NULL ELSE ({masked})::{} END",
        column.entry.type_name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_files_override_them() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rules");
        std::fs::write(
            &file,
            "# mine\nusers.name keep\nbilling.cards.number   hash # card\n",
        )
        .unwrap();
        let rules = MaskRules::load(Some(&file)).unwrap();
        let users = Table {
            schema: "public".into(),
            name: "users".into(),
            oid: 0,
            estimated_bytes: 0,
            estimated_rows: 0,
            columns: vec![],
        };
        assert_eq!(rules.rule_for(&users, "email"), Some(MaskRule::EmailUnique));
        assert_eq!(rules.rule_for(&users, "name"), None);
        assert_eq!(rules.rule_for(&users, "id"), None);
    }

    #[test]
    fn bad_lines_name_the_line() {
        let err = MaskRules::parse("users.email email\nusers.name scramble\n", "rules.txt")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("rules.txt, line 2") && err.contains("scramble"),
            "{err}"
        );
        assert!(MaskRules::parse("email hash", "r").is_err());
        assert!(MaskRules::parse("users.email", "r").is_err());
    }
}
