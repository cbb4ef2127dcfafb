//! Reading a statement with PostgreSQL's own parser (libpg_query, through the `pg_query`
//! crate): which tables each SELECT, UPDATE or DELETE reads, which of their columns it filters,
//! joins and sorts on, and which column each parameter (`$1`, `$2`... as pg_stat_statements
//! writes constants) is compared with. Names are kept as written; `resolve` matches them
//! against the catalog.
//!
//! Subqueries, CTEs, joins and set operations each get their own scope, as in SQL: a column
//! is resolved against the tables of the scope it is written in.

use pg_query::protobuf::node::Node as N;
use pg_query::protobuf::{AExpr, AExprKind, Node, SelectStmt, SortByDir};

/// A column as written: `col`, `alias.col` or `schema.table.col`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ColumnName {
    pub qualifier: Option<String>,
    pub column: String,
}

/// A table in a FROM list (or the target of an UPDATE or DELETE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    pub schema: Option<String>,
    pub name: String,
    pub alias: Option<String>,
}

/// What one scope (one SELECT level, or an UPDATE or DELETE) asks of its tables.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope {
    pub tables: Vec<TableRef>,
    /// `col = x`, `col IN (...)`, `col IS NULL`, and both sides of a join's `a.x = b.y`.
    pub equal: Vec<ColumnName>,
    /// `col < x`, `col >= x`, `col BETWEEN x AND y`.
    pub range: Vec<ColumnName>,
    /// `(a, b) < (x, y)`: keyset pagination, served by an index on (a, b).
    pub row_ranges: Vec<Vec<ColumnName>>,
    /// ORDER BY, when every key is a plain column: (column, descending).
    pub sort: Vec<(ColumnName, bool)>,
}

/// What a parameter stands for, so that a sample value can take its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamTarget {
    /// Compared with this column of the scope (directly, or inside a function: `lower($1)`),
    /// or assigned to it (`SET col = $1`).
    Column {
        scope: usize,
        column: ColumnName,
        bound: Bound,
    },
    Limit,
    Offset,
    /// Only part of the output (`coalesce(sum(x), $1)`): its value does not change the plan.
    Output,
}

/// How a parameter is compared with its column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bound {
    /// `col = $1`, `col IN ($1)`, `SET col = $1`: a value the column holds.
    Equal,
    /// `col < $1`: the column's values below it are asked for.
    Upper,
    /// `col > $1`.
    Lower,
}

impl Bound {
    fn of(op: &str) -> Bound {
        match op {
            "<" | "<=" => Bound::Upper,
            ">" | ">=" => Bound::Lower,
            _ => Bound::Equal,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Select,
    Update,
    Delete,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub kind: Kind,
    pub scopes: Vec<Scope>,
    /// Parameter number → what it stands for (the first use wins).
    pub params: Vec<(i32, ParamTarget)>,
}

/// Why a statement no index can serve is left out (a utility statement: SET, CREATE...).
pub const NOT_DML: &str = "is not a SELECT, UPDATE or DELETE";

/// Reads one statement, or says why it cannot be advised on.
pub fn analyze(sql: &str) -> Result<Analysis, String> {
    let parsed = pg_query::parse(sql, 0).map_err(|e| format!("cannot be parsed: {e}"))?;
    let [raw] = parsed.protobuf.stmts.as_slice() else {
        return Err("is not a single statement".to_string());
    };
    let node = raw.stmt.as_ref().and_then(|n| n.node.as_ref());
    let mut walker = Walker::default();
    let kind = match node {
        Some(N::SelectStmt(select)) => {
            walker.select(select, &[]);
            Kind::Select
        }
        Some(N::UpdateStmt(update)) => {
            let ctes = walker.with_clause(update.with_clause.as_ref(), &[]);
            let scope = walker.new_scope();
            if let Some(target) = &update.relation {
                walker.scopes[scope].tables.push(table_ref(target));
            }
            for item in &update.from_clause {
                walker.table_item(scope, item, &ctes);
            }
            if let Some(filter) = &update.where_clause {
                walker.predicate(scope, filter, &ctes);
            }
            // `SET col = $1`: the parameter is a value of that column.
            for target in &update.target_list {
                if let Some(N::ResTarget(set)) = &target.node {
                    let column = ColumnName {
                        qualifier: None,
                        column: set.name.clone(),
                    };
                    walker.bind_all(set.val.as_deref(), scope, &column, Bound::Equal);
                    if let Some(value) = &set.val {
                        walker.expression(scope, value, &ctes);
                    }
                }
            }
            Kind::Update
        }
        Some(N::DeleteStmt(delete)) => {
            let ctes = walker.with_clause(delete.with_clause.as_ref(), &[]);
            let scope = walker.new_scope();
            if let Some(target) = &delete.relation {
                walker.scopes[scope].tables.push(table_ref(target));
            }
            for item in &delete.using_clause {
                walker.table_item(scope, item, &ctes);
            }
            if let Some(filter) = &delete.where_clause {
                walker.predicate(scope, filter, &ctes);
            }
            Kind::Delete
        }
        _ => return Err(NOT_DML.to_string()),
    };
    Ok(Analysis {
        kind,
        scopes: walker.scopes,
        params: walker.params,
    })
}

#[derive(Default)]
struct Walker {
    scopes: Vec<Scope>,
    params: Vec<(i32, ParamTarget)>,
}

impl Walker {
    fn new_scope(&mut self) -> usize {
        self.scopes.push(Scope::default());
        self.scopes.len() - 1
    }

    fn bind(&mut self, number: i32, target: ParamTarget) {
        if !self.params.iter().any(|(n, _)| *n == number) {
            self.params.push((number, target));
        }
    }

    /// Walks the CTEs' queries; returns the CTE names visible in the statement.
    fn with_clause(
        &mut self,
        with: Option<&pg_query::protobuf::WithClause>,
        outer: &[String],
    ) -> Vec<String> {
        let mut ctes = outer.to_vec();
        let Some(with) = with else {
            return ctes;
        };
        for cte in &with.ctes {
            if let Some(N::CommonTableExpr(cte)) = &cte.node {
                ctes.push(cte.ctename.clone());
            }
        }
        for cte in &with.ctes {
            if let Some(N::CommonTableExpr(cte)) = &cte.node {
                if let Some(query) = &cte.ctequery {
                    self.subquery(query, &ctes);
                }
            }
        }
        ctes
    }

    /// A nested statement: a subquery, a CTE's query (a SELECT, or a data-modifying CTE).
    fn subquery(&mut self, node: &Node, ctes: &[String]) {
        if let Some(N::SelectStmt(select)) = &node.node {
            self.select(select, ctes);
        }
    }

    fn select(&mut self, select: &SelectStmt, outer_ctes: &[String]) {
        let ctes = self.with_clause(select.with_clause.as_ref(), outer_ctes);
        // UNION / INTERSECT / EXCEPT: each side is its own SELECT.
        if let (Some(left), Some(right)) = (&select.larg, &select.rarg) {
            self.select(left, &ctes);
            self.select(right, &ctes);
            return;
        }
        let scope = self.new_scope();
        for item in &select.from_clause {
            self.table_item(scope, item, &ctes);
        }
        if let Some(filter) = &select.where_clause {
            self.predicate(scope, filter, &ctes);
        }
        if let Some(having) = &select.having_clause {
            self.expression(scope, having, &ctes);
        }
        for target in &select.target_list {
            self.expression(scope, target, &ctes);
        }
        let mut sort = Vec::new();
        for key in &select.sort_clause {
            let Some(N::SortBy(by)) = &key.node else {
                continue;
            };
            match by.node.as_deref().and_then(column_of) {
                Some(column) => sort.push((column, by.sortby_dir == SortByDir::SortbyDesc as i32)),
                // An expression or a position: no plain index serves the whole order.
                None => {
                    sort.clear();
                    break;
                }
            }
        }
        self.scopes[scope].sort = sort;
        if let Some(limit) = &select.limit_count {
            for number in params_in(limit) {
                self.bind(number, ParamTarget::Limit);
            }
        }
        if let Some(offset) = &select.limit_offset {
            for number in params_in(offset) {
                self.bind(number, ParamTarget::Offset);
            }
        }
    }

    fn table_item(&mut self, scope: usize, item: &Node, ctes: &[String]) {
        match &item.node {
            Some(N::RangeVar(range)) => {
                // A CTE's name is not a table.
                if range.schemaname.is_empty() && ctes.contains(&range.relname) {
                    return;
                }
                self.scopes[scope].tables.push(table_ref(range));
            }
            Some(N::JoinExpr(join)) => {
                if let Some(left) = &join.larg {
                    self.table_item(scope, left, ctes);
                }
                if let Some(right) = &join.rarg {
                    self.table_item(scope, right, ctes);
                }
                if let Some(quals) = &join.quals {
                    self.predicate(scope, quals, ctes);
                }
            }
            Some(N::RangeSubselect(sub)) => {
                if let Some(query) = &sub.subquery {
                    self.subquery(query, ctes);
                }
            }
            _ => {}
        }
    }

    /// A WHERE or ON condition. AND, OR and NOT are all walked: a column under OR is still a
    /// candidate (a BitmapOr uses one index per branch), and the planner decides.
    fn predicate(&mut self, scope: usize, node: &Node, ctes: &[String]) {
        match &node.node {
            Some(N::BoolExpr(bool_expr)) => {
                for arg in &bool_expr.args {
                    self.predicate(scope, arg, ctes);
                }
            }
            Some(N::AExpr(expr)) => self.comparison(scope, expr, ctes),
            Some(N::NullTest(test)) => {
                if let Some(column) = test.arg.as_deref().and_then(column_of) {
                    self.scopes[scope].equal.push(column);
                }
            }
            Some(N::SubLink(link)) => {
                // `col IN (SELECT ...)`: the column is looked up by value.
                if let Some(column) = link.testexpr.as_deref().and_then(column_of) {
                    self.scopes[scope].equal.push(column);
                }
                if let Some(query) = &link.subselect {
                    self.subquery(query, ctes);
                }
            }
            _ => self.expression(scope, node, ctes),
        }
    }

    fn comparison(&mut self, scope: usize, expr: &AExpr, ctes: &[String]) {
        let op = operator(expr);
        let left = expr.lexpr.as_deref();
        let right = expr.rexpr.as_deref();
        self.compare(scope, expr, &op, left, right);
        // Subqueries on either side; parameters not bound above only shape the output.
        for side in [left, right].into_iter().flatten() {
            self.expression(scope, side, ctes);
        }
    }

    fn compare(
        &mut self,
        scope: usize,
        expr: &AExpr,
        op: &str,
        left: Option<&Node>,
        right: Option<&Node>,
    ) {
        let op = op.to_string();
        match AExprKind::try_from(expr.kind).unwrap_or(AExprKind::Undefined) {
            AExprKind::AexprOp => {
                if let (Some(l), Some(r)) = (left, right) {
                    if let (Some(N::RowExpr(lrow)), Some(N::RowExpr(rrow))) = (&l.node, &r.node) {
                        self.row_comparison(scope, &op, &lrow.args, &rrow.args);
                        return;
                    }
                }
                let (lcol, rcol) = (left.and_then(column_of), right.and_then(column_of));
                match (lcol, rcol) {
                    (Some(a), Some(b)) => {
                        if op == "=" {
                            self.scopes[scope].equal.extend([a, b]);
                        }
                    }
                    (Some(column), None) => {
                        self.classify(scope, &op, column.clone());
                        self.bind_all(right, scope, &column, Bound::of(&op));
                    }
                    (None, Some(column)) => {
                        let op = flip(&op);
                        self.classify(scope, &op, column.clone());
                        self.bind_all(left, scope, &column, Bound::of(&op));
                    }
                    (None, None) => {
                        // `lower(email) = lower($1)`: no plain index, but $1 is an email.
                        if let Some(column) = left.and_then(only_column_inside) {
                            self.bind_all(right, scope, &column, Bound::of(&op));
                        } else if let Some(column) = right.and_then(only_column_inside) {
                            self.bind_all(left, scope, &column, Bound::of(&flip(&op)));
                        }
                    }
                }
            }
            AExprKind::AexprOpAny => {
                // `col = ANY($1)`: an equality lookup; the parameter is an array, not a value.
                if let Some(column) = left.and_then(column_of) {
                    if op == "=" {
                        self.scopes[scope].equal.push(column);
                    }
                }
            }
            AExprKind::AexprIn => {
                if let Some(column) = left.and_then(column_of) {
                    if op == "=" {
                        self.scopes[scope].equal.push(column.clone());
                    }
                    self.bind_all(right, scope, &column, Bound::Equal);
                }
            }
            AExprKind::AexprBetween
            | AExprKind::AexprNotBetween
            | AExprKind::AexprBetweenSym
            | AExprKind::AexprNotBetweenSym => {
                if let Some(column) = left.and_then(column_of) {
                    self.scopes[scope].range.push(column.clone());
                    // BETWEEN low AND high: the low end bounds from below, the high one above.
                    if let Some(N::List(ends)) = right.and_then(|r| r.node.as_ref()) {
                        for (end, bound) in ends.items.iter().zip([Bound::Lower, Bound::Upper]) {
                            self.bind_all(Some(end), scope, &column, bound);
                        }
                    }
                }
            }
            AExprKind::AexprLike
            | AExprKind::AexprIlike
            | AExprKind::AexprDistinct
            | AExprKind::AexprNotDistinct => {
                // No candidate (a plain btree serves LIKE only under the C collation), but
                // the parameter still needs a value of the right kind.
                if let Some(column) = left.and_then(column_of) {
                    self.bind_all(right, scope, &column, Bound::Equal);
                }
            }
            _ => {}
        }
    }

    /// `(a, b) < (x, y)`: the columns in order, and each parameter bound to its column.
    fn row_comparison(&mut self, scope: usize, op: &str, left: &[Node], right: &[Node]) {
        let columns: Vec<ColumnName> = left.iter().filter_map(column_of).collect();
        if columns.len() != left.len() || left.len() != right.len() {
            return;
        }
        for (column, value) in columns.iter().zip(right) {
            self.bind_all(Some(value), scope, column, Bound::of(op));
        }
        match op {
            "=" => self.scopes[scope].equal.extend(columns),
            "<" | "<=" | ">" | ">=" => self.scopes[scope].row_ranges.push(columns),
            _ => {}
        }
    }

    fn classify(&mut self, scope: usize, op: &str, column: ColumnName) {
        match op {
            "=" => self.scopes[scope].equal.push(column),
            "<" | "<=" | ">" | ">=" => self.scopes[scope].range.push(column),
            _ => {}
        }
    }

    fn bind_all(&mut self, node: Option<&Node>, scope: usize, column: &ColumnName, bound: Bound) {
        for number in node.map(params_in).unwrap_or_default() {
            self.bind(
                number,
                ParamTarget::Column {
                    scope,
                    column: column.clone(),
                    bound,
                },
            );
        }
    }

    /// An expression outside WHERE and ON (a target list, HAVING, an aggregate's FILTER):
    /// no index candidates, but its subqueries are walked and its parameters compared with a
    /// column are bound, so they get sample values too.
    fn expression(&mut self, scope: usize, node: &Node, ctes: &[String]) {
        match &node.node {
            Some(N::SubLink(link)) => {
                if let Some(query) = &link.subselect {
                    self.subquery(query, ctes);
                }
            }
            Some(N::ResTarget(target)) => {
                if let Some(value) = &target.val {
                    self.expression(scope, value, ctes);
                }
            }
            Some(N::BoolExpr(bool_expr)) => {
                for arg in &bool_expr.args {
                    self.expression(scope, arg, ctes);
                }
            }
            Some(N::AExpr(expr)) => {
                let (left, right) = (expr.lexpr.as_deref(), expr.rexpr.as_deref());
                let op = operator(expr);
                if let Some(column) = left.and_then(column_of) {
                    self.bind_all(right, scope, &column, Bound::of(&op));
                } else if let Some(column) = right.and_then(column_of) {
                    self.bind_all(left, scope, &column, Bound::of(&flip(&op)));
                }
                for side in [left, right].into_iter().flatten() {
                    self.expression(scope, side, ctes);
                }
            }
            Some(N::FuncCall(call)) => {
                for arg in &call.args {
                    self.expression(scope, arg, ctes);
                }
                if let Some(filter) = &call.agg_filter {
                    self.expression(scope, filter, ctes);
                }
            }
            Some(N::TypeCast(cast)) => {
                if let Some(arg) = &cast.arg {
                    self.expression(scope, arg, ctes);
                }
            }
            Some(N::CoalesceExpr(coalesce)) => {
                for arg in &coalesce.args {
                    self.expression(scope, arg, ctes);
                }
            }
            Some(N::MinMaxExpr(minmax)) => {
                for arg in &minmax.args {
                    self.expression(scope, arg, ctes);
                }
            }
            Some(N::CaseExpr(case)) => {
                for when in &case.args {
                    if let Some(N::CaseWhen(when)) = &when.node {
                        for part in [&when.expr, &when.result].into_iter().flatten() {
                            self.expression(scope, part, ctes);
                        }
                    }
                }
                if let Some(default) = &case.defresult {
                    self.expression(scope, default, ctes);
                }
            }
            // A parameter nothing compares with a column only shapes the output.
            Some(N::ParamRef(param)) => self.bind(param.number, ParamTarget::Output),
            _ => {}
        }
    }
}

fn table_ref(range: &pg_query::protobuf::RangeVar) -> TableRef {
    TableRef {
        schema: (!range.schemaname.is_empty()).then(|| range.schemaname.clone()),
        name: range.relname.clone(),
        alias: range.alias.as_ref().map(|a| a.aliasname.clone()),
    }
}

/// The operator's name: `=`, `<`... (the last part of a possibly qualified name).
fn operator(expr: &AExpr) -> String {
    expr.name
        .last()
        .and_then(|n| match &n.node {
            Some(N::String(s)) => Some(s.sval.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// `x < col` is `col > x`.
fn flip(op: &str) -> String {
    match op {
        "<" => ">",
        ">" => "<",
        "<=" => ">=",
        ">=" => "<=",
        other => other,
    }
    .to_string()
}

/// The column a node is, looking through casts (`col::text`).
pub fn column_of(node: &Node) -> Option<ColumnName> {
    match &node.node {
        Some(N::ColumnRef(column)) => {
            let names: Vec<&str> = column
                .fields
                .iter()
                .map(|f| match &f.node {
                    Some(N::String(s)) => Some(s.sval.as_str()),
                    _ => None, // `*`
                })
                .collect::<Option<Vec<_>>>()?;
            match names.as_slice() {
                [column] => Some(ColumnName {
                    qualifier: None,
                    column: column.to_string(),
                }),
                [.., qualifier, column] => Some(ColumnName {
                    qualifier: Some(qualifier.to_string()),
                    column: column.to_string(),
                }),
                [] => None,
            }
        }
        Some(N::TypeCast(cast)) => cast.arg.as_deref().and_then(column_of),
        _ => None,
    }
}

/// The one column inside a function call or cast (`lower(email)`), if there is exactly one.
fn only_column_inside(node: &Node) -> Option<ColumnName> {
    match &node.node {
        Some(N::FuncCall(call)) => {
            let inside: Vec<ColumnName> = call.args.iter().filter_map(only_column_inside).collect();
            match inside.as_slice() {
                [one] => Some(one.clone()),
                _ => None,
            }
        }
        _ => column_of(node),
    }
}

/// Parameters that stand for a value: `$1`, `$1::int`, `lower($1)`, the items of `($1, $2)`.
pub fn params_in(node: &Node) -> Vec<i32> {
    match &node.node {
        Some(N::ParamRef(param)) => vec![param.number],
        Some(N::TypeCast(cast)) => cast.arg.as_deref().map(params_in).unwrap_or_default(),
        Some(N::FuncCall(call)) if call.args.len() == 1 => params_in(&call.args[0]),
        Some(N::List(list)) => list.items.iter().flat_map(params_in).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(qualifier: Option<&str>, column: &str) -> ColumnName {
        ColumnName {
            qualifier: qualifier.map(str::to_string),
            column: column.to_string(),
        }
    }

    #[test]
    fn keyset_pagination_gives_equality_row_range_sort_and_parameters() {
        let a = analyze(
            "SELECT u.id, u.email FROM users AS u
             WHERE u.role = $1 AND (u.created_at, u.id) < ($2, $3)
             ORDER BY u.created_at DESC, u.id DESC LIMIT $4",
        )
        .unwrap();
        assert_eq!(a.kind, Kind::Select);
        let [scope] = a.scopes.as_slice() else {
            panic!("{a:?}")
        };
        assert_eq!(
            scope.tables,
            vec![TableRef {
                schema: None,
                name: "users".into(),
                alias: Some("u".into())
            }]
        );
        assert_eq!(scope.equal, vec![col(Some("u"), "role")]);
        assert_eq!(
            scope.row_ranges,
            vec![vec![col(Some("u"), "created_at"), col(Some("u"), "id")]]
        );
        assert_eq!(
            scope.sort,
            vec![
                (col(Some("u"), "created_at"), true),
                (col(Some("u"), "id"), true)
            ]
        );
        assert_eq!(
            a.params,
            vec![
                (
                    1,
                    ParamTarget::Column {
                        scope: 0,
                        column: col(Some("u"), "role"),
                        bound: Bound::Equal
                    }
                ),
                (
                    2,
                    ParamTarget::Column {
                        scope: 0,
                        column: col(Some("u"), "created_at"),
                        bound: Bound::Upper
                    }
                ),
                (
                    3,
                    ParamTarget::Column {
                        scope: 0,
                        column: col(Some("u"), "id"),
                        bound: Bound::Upper
                    }
                ),
                (4, ParamTarget::Limit),
            ]
        );
    }

    #[test]
    fn joins_subqueries_ctes_and_functions_get_their_own_scopes() {
        let a = analyze(
            "WITH recent AS (SELECT user_id FROM preorders WHERE created_at >= $1)
             SELECT u.email FROM users u JOIN recent r ON r.user_id = u.id
             WHERE lower(u.email) = lower($2)
               AND EXISTS (SELECT 1 FROM user_images i WHERE i.user_id = u.id AND i.size > $3)
             ORDER BY lower(u.email)",
        )
        .unwrap();
        assert_eq!(a.scopes.len(), 3, "{a:?}");
        // The CTE: a range on created_at.
        assert_eq!(a.scopes[0].tables[0].name, "preorders");
        assert_eq!(a.scopes[0].range, vec![col(None, "created_at")]);
        // The main query: the CTE is no table; the join's columns are equality lookups; an
        // ORDER BY on an expression is no plain sort.
        assert_eq!(a.scopes[1].tables.len(), 1);
        assert_eq!(a.scopes[1].tables[0].name, "users");
        assert!(a.scopes[1].equal.contains(&col(Some("u"), "id")));
        assert!(a.scopes[1].sort.is_empty());
        // The EXISTS subquery.
        assert_eq!(a.scopes[2].tables[0].name, "user_images");
        assert!(a.scopes[2].equal.contains(&col(Some("i"), "user_id")));
        assert_eq!(a.scopes[2].range, vec![col(Some("i"), "size")]);
        // $2 is an email, through lower().
        assert!(a.params.contains(&(
            2,
            ParamTarget::Column {
                scope: 1,
                column: col(Some("u"), "email"),
                bound: Bound::Equal
            }
        )));
        // `i.size > $3`: a lower bound.
        assert!(a.params.contains(&(
            3,
            ParamTarget::Column {
                scope: 2,
                column: col(Some("i"), "size"),
                bound: Bound::Lower
            }
        )));
    }

    #[test]
    fn update_delete_in_between_and_null_tests() {
        let a = analyze(
            "UPDATE webhook_logs SET status = $1 WHERE id IN ($2, $3) AND processed_at IS NULL",
        )
        .unwrap();
        assert_eq!(a.kind, Kind::Update);
        assert!(a.params.contains(&(
            1,
            ParamTarget::Column {
                scope: 0,
                column: col(None, "status"),
                bound: Bound::Equal
            }
        )));
        assert_eq!(
            a.scopes[0].equal,
            vec![col(None, "id"), col(None, "processed_at")]
        );
        let d = analyze("DELETE FROM s.t WHERE created_at BETWEEN $1 AND $2").unwrap();
        assert_eq!(d.kind, Kind::Delete);
        assert_eq!(d.scopes[0].tables[0].schema.as_deref(), Some("s"));
        assert_eq!(d.scopes[0].range, vec![col(None, "created_at")]);
        assert_eq!(
            d.params.iter().map(|p| p.1.clone()).collect::<Vec<_>>(),
            vec![
                ParamTarget::Column {
                    scope: 0,
                    column: col(None, "created_at"),
                    bound: Bound::Lower
                },
                ParamTarget::Column {
                    scope: 0,
                    column: col(None, "created_at"),
                    bound: Bound::Upper
                }
            ]
        );
    }

    #[test]
    fn parameters_in_an_aggregate_filter_are_bound_to_their_column() {
        let a = analyze(
            "SELECT count(*) FILTER (WHERE p.status = $1) AS completed,
                    coalesce(sum(p.amount) FILTER (WHERE p.status = $2), $3) AS revenue
             FROM preorders AS p WHERE p.user_id = $4",
        )
        .unwrap();
        assert!(a.params.contains(&(
            1,
            ParamTarget::Column {
                scope: 0,
                column: col(Some("p"), "status"),
                bound: Bound::Equal
            }
        )));
        assert!(
            a.params.contains(&(3, ParamTarget::Output)),
            "{:?}",
            a.params
        );
        assert_eq!(a.params.len(), 4);
        // The FILTER is no index candidate; the WHERE is.
        assert_eq!(a.scopes[0].equal, vec![col(Some("p"), "user_id")]);
    }

    #[test]
    fn other_statements_are_refused_with_a_reason() {
        assert!(analyze("CREATE INDEX ON t (a)")
            .unwrap_err()
            .contains("not a SELECT"));
        assert!(analyze("SELECT 1; SELECT 2")
            .unwrap_err()
            .contains("single"));
        assert!(analyze("SELEC nothing").unwrap_err().contains("parsed"));
        // Quoted odd names come back as written.
        let a = analyze(r#"SELECT * FROM "Odd Schema"."We""ird" WHERE "Col X" = $1"#).unwrap();
        assert_eq!(a.scopes[0].tables[0].name, "We\"ird");
        assert_eq!(a.scopes[0].equal, vec![col(None, "Col X")]);
    }
}
