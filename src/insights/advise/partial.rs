//! The constants of partial indexes. pg_stat_statements turns every constant into a parameter,
//! so `WHERE status = 'failed'` is recorded as `WHERE status = $1`, and no plan of that text,
//! generic or with a typical value, can use an index built `WHERE status = 'failed'`. The
//! application built that index for that value: a parameter compared with such a column is
//! planned with the index's constant, so a statement an existing partial index serves is
//! seen as served. The predicate is read with PostgreSQL's parser (from `pg_get_expr`).

use pg_query::protobuf::a_const::Val;
use pg_query::protobuf::node::Node as N;
use pg_query::protobuf::Node;

use super::statement::column_of;

/// `(column, constant as text)` for each `column = constant` ANDed in a predicate.
pub fn equalities(predicate: &str) -> Vec<(String, String)> {
    let Ok(parsed) = pg_query::parse(&format!("SELECT 1 WHERE {predicate}"), 0) else {
        return Vec::new();
    };
    let filter = parsed
        .protobuf
        .stmts
        .first()
        .and_then(|s| s.stmt.as_ref())
        .and_then(|n| match &n.node {
            Some(N::SelectStmt(select)) => select.where_clause.as_deref().cloned(),
            _ => None,
        });
    let mut out = Vec::new();
    if let Some(filter) = filter {
        collect(&filter, &mut out);
    }
    out
}

fn collect(node: &Node, out: &mut Vec<(String, String)>) {
    match &node.node {
        Some(N::BoolExpr(and))
            if and.boolop == pg_query::protobuf::BoolExprType::AndExpr as i32 =>
        {
            for arg in &and.args {
                collect(arg, out);
            }
        }
        Some(N::AExpr(expr)) => {
            let is_equal = expr
                .name
                .iter()
                .any(|n| matches!(&n.node, Some(N::String(s)) if s.sval == "="));
            if !is_equal || expr.kind != pg_query::protobuf::AExprKind::AexprOp as i32 {
                return;
            }
            let (Some(l), Some(r)) = (expr.lexpr.as_deref(), expr.rexpr.as_deref()) else {
                return;
            };
            let pair = match (column_of(l), constant(r), column_of(r), constant(l)) {
                (Some(c), Some(v), _, _) | (_, _, Some(c), Some(v)) => (c.column, v),
                _ => return,
            };
            out.push(pair);
        }
        _ => {}
    }
}

/// A constant's text, looking through casts (`'failed'::webhook_status`).
fn constant(node: &Node) -> Option<String> {
    match &node.node {
        Some(N::AConst(c)) => match &c.val {
            Some(Val::Sval(s)) => Some(s.sval.clone()),
            Some(Val::Ival(i)) => Some(i.ival.to_string()),
            Some(Val::Fval(f)) => Some(f.fval.clone()),
            Some(Val::Boolval(b)) => Some(b.boolval.to_string()),
            _ => None,
        },
        Some(N::TypeCast(cast)) => cast.arg.as_deref().and_then(constant),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equalities_of_a_partial_index_predicate() {
        assert_eq!(
            equalities("(status = 'failed'::webhook_status)"),
            vec![("status".to_string(), "failed".to_string())]
        );
        assert_eq!(
            equalities("((kind = 3) AND (deleted IS NULL) AND ('x'::text = tag))"),
            vec![
                ("kind".to_string(), "3".to_string()),
                ("tag".to_string(), "x".to_string())
            ]
        );
        assert!(equalities("(a > 1) OR (b = 2)").is_empty());
        assert!(equalities("not sql at all (").is_empty());
    }
}
