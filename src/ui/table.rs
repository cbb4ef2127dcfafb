//! Plain aligned text tables for people, the one renderer every text report uses: a header
//! row, then one row per record, each column padded to its widest cell (or a minimum width),
//! numbers right-aligned, columns separated by a gap of spaces, no trailing spaces.

/// Where a column's cells sit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

pub struct Table {
    headers: Vec<String>,
    align: Vec<Align>,
    min_widths: Vec<usize>,
    gap: usize,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Columns as (header, alignment), two spaces apart.
    pub fn new(columns: &[(&str, Align)]) -> Table {
        Table {
            headers: columns.iter().map(|c| c.0.to_string()).collect(),
            align: columns.iter().map(|c| c.1).collect(),
            min_widths: vec![0; columns.len()],
            gap: 2,
            rows: Vec::new(),
        }
    }

    /// Spaces between columns.
    pub fn gap(mut self, spaces: usize) -> Table {
        self.gap = spaces;
        self
    }

    /// The least width of each column, in order (a fixed layout that wider cells widen).
    pub fn min_widths(mut self, widths: &[usize]) -> Table {
        for (min, &width) in self.min_widths.iter_mut().zip(widths) {
            *min = width;
        }
        self
    }

    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    pub fn render(&self) -> String {
        let mut widths = self.min_widths.clone();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let gap = " ".repeat(self.gap);
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .zip(&self.align)
                .map(|((cell, &width), align)| match align {
                    Align::Right => format!("{cell:>width$}"),
                    Align::Left => format!("{cell:<width$}"),
                })
                .collect();
            out.push_str(cells.join(&gap).trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_padded_to_the_widest_cell_and_numbers_right_aligned() {
        let mut table = Table::new(&[("ID", Align::Right), ("EMAIL", Align::Left)]);
        table.push(vec!["7".into(), "a@b.c".into()]);
        table.push(vec!["1234".into(), "x@y.z".into()]);
        assert_eq!(table.render(), "  ID  EMAIL\n   7  a@b.c\n1234  x@y.z\n");
    }

    #[test]
    fn minimum_widths_and_the_gap_give_a_fixed_layout() {
        let mut table = Table::new(&[("A", Align::Left), ("N", Align::Right), ("Z", Align::Left)])
            .gap(1)
            .min_widths(&[4, 3]);
        table.push(vec!["x".into(), "12".into(), "last".into()]);
        assert_eq!(table.render(), "A      N Z\nx     12 last\n");
    }
}
