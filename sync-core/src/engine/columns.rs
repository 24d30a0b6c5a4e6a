//! The column names of a filter or a sort key, checked against the table's registered
//! schema before a store or a server sees them.
//!
//! Typed column handles cannot name a column the struct lacks; a string can, and each
//! place would take a typo differently: a store refuses a column it does not have (but
//! still has one that a struct has dropped since), and a server answers a filter on a
//! column it has no row with yet by an empty list (Microsoft's does), so a pull would
//! look like a pull of nothing. Checked here, a wrong name is the same error in a local
//! query, a count and a pull: [`StoreError::UnknownColumn`], naming the table and the
//! column.

use crate::model::TableSchema;
use crate::store::{Filter, Query, StoreError};

use super::SyncError;

/// Where a filter is used: a local-only column is a column of the local store, and
/// not one of the server's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// A local query or count.
    Local,
    /// A pull's filter, sent to the server.
    Pull,
}

/// A filter names only columns of the schema, and in a pull no local-only column
/// ([`SyncError::LocalOnlyColumn`]).
pub(crate) fn check_filter(
    schema: &TableSchema,
    filter: &Filter,
    scope: Scope,
) -> Result<(), SyncError> {
    filter
        .columns()
        .into_iter()
        .try_for_each(|name| check_column(schema, name, scope))
}

/// A query's filter and sort keys name only columns of the schema.
pub(crate) fn check_query(schema: &TableSchema, query: &Query) -> Result<(), SyncError> {
    if let Some(f) = &query.filter {
        check_filter(schema, f, Scope::Local)?;
    }
    query
        .order_by
        .iter()
        .try_for_each(|(name, _)| check_column(schema, name, Scope::Local))
}

fn check_column(schema: &TableSchema, name: &str, scope: Scope) -> Result<(), SyncError> {
    match schema.column(name) {
        None => Err(StoreError::UnknownColumn {
            table: schema.name.clone(),
            column: name.to_owned(),
        }
        .into()),
        Some(c) if c.local && scope == Scope::Pull => Err(SyncError::LocalOnlyColumn {
            table: schema.name.clone(),
            column: c.name.clone(),
        }),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ColumnType;
    use crate::store::Order;

    fn schema() -> TableSchema {
        TableSchema::new("Visit")
            .with_column("siteId", ColumnType::Text, false)
            .with_local_column("notes", ColumnType::Text, true)
    }

    #[test]
    fn a_misspelt_column_is_an_error_naming_table_and_column() {
        let f = Filter::eq("siteId", "s1").and(Filter::eq("sietId", "s1"));
        for scope in [Scope::Local, Scope::Pull] {
            let e = check_filter(&schema(), &f, scope).unwrap_err();
            assert_eq!(e.to_string(), "table `Visit`: no column `sietId`");
        }
    }

    #[test]
    fn a_local_only_column_filters_locally_but_not_a_pull() {
        let f = Filter::starts_with("notes", "gate");
        assert!(check_filter(&schema(), &f, Scope::Local).is_ok());
        assert!(matches!(
            check_filter(&schema(), &f, Scope::Pull),
            Err(SyncError::LocalOnlyColumn { column, .. }) if column == "notes"
        ));
    }

    #[test]
    fn a_sort_key_is_checked_like_a_filter() {
        let ok = Query::new()
            .order_by("updatedAt", Order::Desc)
            .order_by("notes", Order::Asc);
        assert!(check_query(&schema(), &ok).is_ok());
        let bad = Query::new()
            .order_by("siteID", Order::Asc)
            .order_by("due", Order::Asc);
        let e = check_query(&schema(), &bad).unwrap_err();
        assert!(
            matches!(e, SyncError::Store(StoreError::UnknownColumn { column, .. }) if column == "due")
        );
    }
}
