//! Errors of the model: decoding records into structs, encoding them, and schemas.

use std::fmt;

/// Why one value could not become the Rust type asked for. Carries no table or column:
/// [`DecodeError`] adds those.
///
/// ```
/// use sync_core::{SyncValue, Value};
/// let err = u8::from_value(Value::Integer(300)).unwrap_err();
/// assert_eq!(err.to_string(), "expected u8, found integer 300 (out of range)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}, found {found}")]
pub struct ValueError {
    /// What the Rust type accepts, e.g. `date` or `u8`.
    pub expected: &'static str,
    /// What came, e.g. `integer 300 (out of range)` or `text`.
    pub found: String,
}

impl ValueError {
    /// A value of the wrong kind.
    pub fn wrong_type(expected: &'static str, found: &super::Value) -> ValueError {
        ValueError {
            expected,
            found: found.kind().to_owned(),
        }
    }

    /// A value of the right kind that does not fit or does not parse.
    pub fn invalid(expected: &'static str, found: impl Into<String>) -> ValueError {
        ValueError {
            expected,
            found: found.into(),
        }
    }
}

/// What went wrong decoding one column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// The record has no such column.
    Missing {
        /// The type the field needs.
        expected: &'static str,
    },
    /// The column holds something the field's type does not accept.
    Value(ValueError),
}

/// A record could not become a struct. Names the table, the row's id (when it could be
/// read), the column and what was expected.
///
/// A column with no value (missing, or `Null` in a column whose field is not an
/// `Option`) is what a field added to the struct reads in rows written before it; the
/// message then says how to give such rows a value.
///
/// ```
/// use sync_core::{DecodeError, Value, ValueError};
/// let e = DecodeError::value("TodoItem", "done", ValueError::wrong_type("bool", &Value::from("yes")))
///     .with_id("t1");
/// assert_eq!(e.to_string(), "table `TodoItem`, item `t1`, column `done`: expected bool, found text");
/// let e = DecodeError::missing("TodoItem", "dueDate", "date");
/// assert_eq!(
///     e.to_string(),
///     "table `TodoItem`, column `dueDate`: missing (expected date); a field added after \
///      this row was written needs `#[sync(default)]` or an `Option` type"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DecodeError {
    /// The table being decoded.
    pub table: String,
    /// The id of the row, `None` when the id itself could not be read.
    pub id: Option<String>,
    /// The offending column.
    pub column: String,
    /// What went wrong.
    pub kind: DecodeErrorKind,
}

impl DecodeError {
    /// The column is missing from the record.
    pub fn missing(table: &str, column: &str, expected: &'static str) -> DecodeError {
        DecodeError {
            table: table.to_owned(),
            id: None,
            column: column.to_owned(),
            kind: DecodeErrorKind::Missing { expected },
        }
    }

    /// The column's value was not accepted.
    pub fn value(table: &str, column: &str, err: ValueError) -> DecodeError {
        DecodeError {
            table: table.to_owned(),
            id: None,
            column: column.to_owned(),
            kind: DecodeErrorKind::Value(err),
        }
    }

    /// The same error, naming the row it happened in. The derived `from_record` reads the
    /// id first and names it in every later error; a hand-written one should do the same.
    ///
    /// ```
    /// let e = sync_core::DecodeError::missing("Todo", "text", "text").with_id("a1");
    /// assert_eq!(e.id.as_deref(), Some("a1"));
    /// ```
    pub fn with_id(mut self, id: impl Into<String>) -> DecodeError {
        self.id = Some(id.into());
        self
    }

    /// Whether the column had no value at all: missing, or `Null` where the type
    /// takes none. A default (`#[sync(default)]`) is the fix for such a row.
    fn is_no_value(&self) -> bool {
        // The system columns have fixed meanings; no field default applies to them.
        if super::SystemColumn::from_name(&self.column).is_some() {
            return false;
        }
        match &self.kind {
            DecodeErrorKind::Missing { .. } => true,
            DecodeErrorKind::Value(e) => e.found == super::Value::Null.kind(),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "table `{}`, ", self.table)?;
        if let Some(id) = &self.id {
            write!(f, "item `{id}`, ")?;
        }
        write!(f, "column `{}`: ", self.column)?;
        match &self.kind {
            DecodeErrorKind::Missing { expected } => write!(f, "missing (expected {expected})")?,
            DecodeErrorKind::Value(e) => write!(f, "{e}")?,
        }
        if self.is_no_value() {
            f.write_str(
                "; a field added after this row was written needs `#[sync(default)]` or an `Option` type",
            )?;
        }
        Ok(())
    }
}

/// A struct could not become a record (a `#[sync(json)]` field failed to serialize).
///
/// ```
/// let e = sync_core::EncodeError { table: "T".into(), column: "tags".into(), message: "key must be a string".into() };
/// assert_eq!(e.to_string(), "table `T`, column `tags`: cannot encode as JSON: key must be a string");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("table `{table}`, column `{column}`: cannot encode as JSON: {message}")]
pub struct EncodeError {
    /// The table being encoded.
    pub table: String,
    /// The offending column.
    pub column: String,
    /// serde_json's message.
    pub message: String,
}

/// A schema is not usable.
///
/// ```
/// let e = sync_core::validate_table_name("").unwrap_err();
/// assert_eq!(e.to_string(), "invalid table name ``: it is empty");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The table name cannot be used.
    #[error("invalid table name `{table}`: {reason}")]
    InvalidTableName {
        /// The name given.
        table: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A column name cannot be used.
    #[error("table `{table}`: invalid column name `{column}`: {reason}")]
    InvalidColumnName {
        /// The table.
        table: String,
        /// The name given.
        column: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// Two columns have names equal ignoring case.
    #[error(
        "table `{table}`: column `{column}` clashes with column `{first}` (names are compared ignoring case)"
    )]
    DuplicateColumn {
        /// The table.
        table: String,
        /// The later column.
        column: String,
        /// The earlier column it clashes with.
        first: String,
    },
    /// A system column is missing or has the wrong type.
    #[error("table `{table}`: system column `{column}` is missing or has the wrong type")]
    MissingSystemColumn {
        /// The table.
        table: String,
        /// The system column.
        column: &'static str,
    },
    /// A stored table has a column whose type differs from the schema's.
    #[error(
        "table `{table}`, column `{column}`: stored as {stored}, but the schema says {wanted}; a column's type cannot change (add a new column instead)"
    )]
    TypeChanged {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The type already stored.
        stored: String,
        /// The type the schema asks for.
        wanted: String,
    },
}
