//! Translates a [`Filter`] into a sea-query condition with exactly the semantics of
//! `sync_core::store::query` (and so of `MemoryStore`):
//!
//! - comparisons use SQL's three-valued logic, which is what MemoryStore implements;
//! - values are coerced to the column's type first (same errors as MemoryStore), so a
//!   comparison always meets two values of one storage class: integers and reals compare
//!   numerically, text byte-wise (SQLite's BINARY collation is `memcmp`), dates and
//!   instants as their fixed-width ISO text, which sorts chronologically;
//! - a real column's NaN (stored as a blob) compares as unknown, as `partial_cmp` does;
//! - `starts_with`, `ends_with` and `contains` compare bytes (`CAST(… AS BLOB)` with
//!   `substr`/`instr`), never `LIKE`, so they are case-sensitive, `%` and `_` are plain
//!   characters, and a NUL inside the text does not cut it short. On a column that is not
//!   text, or with a pattern that is not text, they are false (unknown on a Null column).

use sea_query::{Alias, Expr, ExprTrait, Func};
use sync_core::model::coerce;
use sync_core::store::{CmpOp, Filter, StoreError};
use sync_core::{Column, ColumnType, TableSchema, Value};

use crate::values::to_sea;

/// The condition for `f` on `schema`'s table.
pub(crate) fn condition(schema: &TableSchema, f: &Filter) -> Result<Expr, StoreError> {
    Ok(match f {
        Filter::Cmp { column, op, value } => {
            let col = find(schema, column)?;
            compare(schema, col, *op, value)?
        }
        Filter::IsNull(c) => col_expr(find(schema, c)?).is_null(),
        Filter::And(v) => {
            let mut parts = v.iter().map(|f| condition(schema, f));
            match parts.next().transpose()? {
                None => Expr::val(true),
                Some(first) => parts.try_fold(first, |acc, e| Ok::<_, StoreError>(acc.and(e?)))?,
            }
        }
        Filter::Or(v) => {
            let mut parts = v.iter().map(|f| condition(schema, f));
            match parts.next().transpose()? {
                None => Expr::val(false),
                Some(first) => parts.try_fold(first, |acc, e| Ok::<_, StoreError>(acc.or(e?)))?,
            }
        }
        Filter::Not(f) => condition(schema, f)?.not(),
    })
}

/// The schema's column for a name (exact, then ignoring ASCII case).
pub(crate) fn find<'a>(schema: &'a TableSchema, name: &str) -> Result<&'a Column, StoreError> {
    schema
        .column(name)
        .ok_or_else(|| StoreError::UnknownColumn {
            table: schema.name.clone(),
            column: name.to_owned(),
        })
}

pub(crate) fn col_expr(col: &Column) -> Expr {
    Expr::col(Alias::new(&col.name))
}

/// A column as an operand of `=`, `<`…: a real column's NaN blob reads as NULL.
fn operand(col: &Column) -> Expr {
    match col.ty {
        ColumnType::Real => Expr::case(
            Func::cust("typeof").arg(col_expr(col)).eq("real"),
            col_expr(col),
        )
        .into(),
        _ => col_expr(col),
    }
}

fn as_blob(e: Expr) -> Expr {
    Func::cast_as(e, "BLOB").into()
}

fn compare(
    schema: &TableSchema,
    col: &Column,
    op: CmpOp,
    value: &Value,
) -> Result<Expr, StoreError> {
    let text_op = matches!(op, CmpOp::StartsWith | CmpOp::EndsWith | CmpOp::Contains);
    if text_op {
        return Ok(match value {
            Value::Null => Expr::val(sea_query::Value::Int(None)),
            Value::Text(p) if col.ty == ColumnType::Text => {
                let b = || as_blob(col_expr(col));
                let p = || as_blob(Expr::val(p.as_str()));
                match op {
                    CmpOp::StartsWith => Expr::from(
                        Func::cust("substr")
                            .arg(b())
                            .arg(1)
                            .arg(Func::cust("length").arg(p())),
                    )
                    .eq(p()),
                    // From `length(b) - length(p) + 1` on: a shorter text can never equal p.
                    CmpOp::EndsWith => Expr::from(
                        Func::cust("substr").arg(b()).arg(
                            Expr::from(Func::cust("length").arg(b()))
                                .sub(Func::cust("length").arg(p()))
                                .add(1),
                        ),
                    )
                    .eq(p()),
                    _ => Expr::from(Func::cust("instr").arg(b()).arg(p())).gt(0),
                }
            }
            // False, or unknown when the column is Null.
            _ => Expr::case(col_expr(col).is_not_null(), false).into(),
        });
    }
    let value = coerce(&schema.name, col, value.clone())?;
    Ok(match (op, &value) {
        (CmpOp::Eq, Value::Null) => col_expr(col).is_null(),
        (CmpOp::Ne, Value::Null) => col_expr(col).is_not_null(),
        _ => {
            let (l, r) = (operand(col), Expr::val(to_sea(&value)));
            match op {
                CmpOp::Eq => l.eq(r),
                CmpOp::Ne => l.ne(r),
                CmpOp::Lt => l.lt(r),
                CmpOp::Le => l.lte(r),
                CmpOp::Gt => l.gt(r),
                _ => l.gte(r),
            }
        }
    })
}
