//! The indexes worth trying for what a statement asks of a table, as Dexter does: every
//! filtered, joined or sorted column alone, and the multi-column shapes a B-tree serves in one
//! scan — the equality columns first, then one range column, or the keyset row, or the
//! ORDER BY (so the scan returns rows in order and a LIMIT stops early). Whether any of them
//! helps is for the planner to say, with hypothetical indexes; nothing here guesses.

use super::resolve::TableNeeds;

/// Longer keys cost more to write than they can save a lookup.
pub const MAX_COLUMNS: usize = 4;

/// Candidate key column lists for one table, shortest first, without repeats.
pub fn for_needs(needs: &TableNeeds) -> Vec<Vec<String>> {
    let equal = &needs.equal;
    let range: Vec<&String> = needs.range.iter().filter(|c| !equal.contains(c)).collect();
    // An ORDER BY a B-tree can follow: one direction throughout (it scans either way).
    let sort: Vec<&String> = if needs.sort.iter().all(|s| s.1 == needs.sort[0].1) {
        needs
            .sort
            .iter()
            .map(|s| &s.0)
            .filter(|c| !equal.contains(c))
            .collect()
    } else {
        Vec::new()
    };

    let mut out: Vec<Vec<String>> = Vec::new();
    let mut add = |columns: Vec<String>| {
        let mut key: Vec<String> = Vec::new();
        for c in columns {
            if !key.contains(&c) {
                key.push(c);
            }
        }
        key.truncate(MAX_COLUMNS);
        if !key.is_empty() && !out.contains(&key) {
            out.push(key);
        }
    };
    for c in equal
        .iter()
        .chain(range.iter().copied())
        .chain(sort.first().copied())
    {
        add(vec![c.clone()]);
    }
    for row in &needs.row_ranges {
        add(row.clone());
    }
    add(equal.clone());
    for r in &range {
        add(equal.iter().chain([*r]).cloned().collect());
    }
    for row in &needs.row_ranges {
        add(equal.iter().chain(row).cloned().collect());
    }
    if !sort.is_empty() {
        add(equal
            .iter()
            .cloned()
            .chain(sort.iter().map(|c| c.to_string()))
            .collect());
    }
    out.sort_by_key(|k| k.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn keyset_pagination_tries_equality_then_row_then_order() {
        let needs = TableNeeds {
            table_oid: 1,
            equal: s(&["role"]),
            range: vec![],
            row_ranges: vec![s(&["created_at", "id"])],
            sort: vec![("created_at".into(), true), ("id".into(), true)],
        };
        let got = for_needs(&needs);
        assert!(got.contains(&s(&["role"])));
        assert!(got.contains(&s(&["created_at"])));
        assert!(got.contains(&s(&["created_at", "id"])));
        assert!(got.contains(&s(&["role", "created_at", "id"])));
        // Shortest first, no repeats.
        assert!(got.windows(2).all(|w| w[0].len() <= w[1].len()));
        let mut unique = got.clone();
        unique.dedup();
        assert_eq!(unique.len(), got.len());
    }

    #[test]
    fn equality_and_range_and_mixed_sort_directions() {
        let needs = TableNeeds {
            table_oid: 1,
            equal: s(&["a", "b"]),
            range: s(&["c", "a"]),
            row_ranges: vec![],
            sort: vec![("d".into(), false), ("e".into(), true)],
        };
        let got = for_needs(&needs);
        assert_eq!(
            got,
            vec![
                s(&["a"]),
                s(&["b"]),
                s(&["c"]),
                s(&["a", "b"]),
                s(&["a", "b", "c"])
            ]
        );
    }

    #[test]
    fn keys_stop_at_the_column_limit() {
        let needs = TableNeeds {
            table_oid: 1,
            equal: s(&["a", "b", "c", "d", "e"]),
            ..Default::default()
        };
        assert!(for_needs(&needs).iter().all(|k| k.len() <= MAX_COLUMNS));
    }
}
