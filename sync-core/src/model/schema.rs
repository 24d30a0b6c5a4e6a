//! Table schemas: what columns a synced table has, derived from a struct or built by hand.

use std::fmt;

use super::error::SchemaError;

/// The logical type of a column. Stores map it to their own types; the mapping is theirs.
///
/// ```
/// use sync_core::ColumnType;
/// assert_eq!(ColumnType::DateTime.to_string(), "datetime");
/// assert_eq!(format!("[{:<6}]", ColumnType::Text), "[text  ]");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// UTF-8 text (also `Uuid`, kept as its hyphenated text).
    Text,
    /// Signed 64-bit integer.
    Integer,
    /// 64-bit float.
    Real,
    /// Boolean.
    Bool,
    /// Bytes.
    Blob,
    /// Calendar date (`NaiveDate`).
    Date,
    /// UTC instant (`DateTime<Utc>`).
    DateTime,
    /// A JSON document (`#[sync(json)]` fields).
    Json,
}

impl ColumnType {
    /// The stable lower-case name used in errors and in stores' bookkeeping.
    ///
    /// ```
    /// assert_eq!(sync_core::ColumnType::Bool.name(), "bool");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Text => "text",
            ColumnType::Integer => "integer",
            ColumnType::Real => "real",
            ColumnType::Bool => "bool",
            ColumnType::Blob => "blob",
            ColumnType::Date => "date",
            ColumnType::DateTime => "datetime",
            ColumnType::Json => "json",
        }
    }

    /// The inverse of [`ColumnType::name`].
    ///
    /// ```
    /// use sync_core::ColumnType;
    /// assert_eq!(ColumnType::from_name("json"), Some(ColumnType::Json));
    /// assert_eq!(ColumnType::from_name("varchar"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<ColumnType> {
        Some(match name {
            "text" => ColumnType::Text,
            "integer" => ColumnType::Integer,
            "real" => ColumnType::Real,
            "bool" => ColumnType::Bool,
            "blob" => ColumnType::Blob,
            "date" => ColumnType::Date,
            "datetime" => ColumnType::DateTime,
            "json" => ColumnType::Json,
            _ => return None,
        })
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, not `write_str`, so that width and alignment flags work in tables.
        f.pad(self.name())
    }
}

/// The system columns every synced table has, maintained by the server.
///
/// ```
/// use sync_core::SystemColumn;
/// assert_eq!(SystemColumn::UpdatedAt.name(), "updatedAt");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SystemColumn {
    /// `id`: the record's key, a string (client-generated UUID when left empty).
    Id,
    /// `version`: an opaque string assigned by the server on every write.
    Version,
    /// `updatedAt`: server time of the last write, millisecond precision.
    UpdatedAt,
    /// `createdAt`: server time of the insert.
    CreatedAt,
    /// `deleted`: soft-delete flag, so that deletes reach other clients.
    Deleted,
}

impl SystemColumn {
    /// All system columns, in schema order.
    pub const ALL: [SystemColumn; 5] = [
        SystemColumn::Id,
        SystemColumn::Version,
        SystemColumn::UpdatedAt,
        SystemColumn::CreatedAt,
        SystemColumn::Deleted,
    ];

    /// The column's name on the wire and in stores.
    ///
    /// ```
    /// assert_eq!(sync_core::SystemColumn::Id.name(), "id");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            SystemColumn::Id => "id",
            SystemColumn::Version => "version",
            SystemColumn::UpdatedAt => "updatedAt",
            SystemColumn::CreatedAt => "createdAt",
            SystemColumn::Deleted => "deleted",
        }
    }

    /// The column's type.
    ///
    /// ```
    /// use sync_core::{ColumnType, SystemColumn};
    /// assert_eq!(SystemColumn::Deleted.column_type(), ColumnType::Bool);
    /// ```
    pub fn column_type(self) -> ColumnType {
        match self {
            SystemColumn::Id | SystemColumn::Version => ColumnType::Text,
            SystemColumn::UpdatedAt | SystemColumn::CreatedAt => ColumnType::DateTime,
            SystemColumn::Deleted => ColumnType::Bool,
        }
    }

    /// The system column with this name (exact, case-insensitive), if any.
    ///
    /// ```
    /// use sync_core::SystemColumn;
    /// assert_eq!(SystemColumn::from_name("UpdatedAt"), Some(SystemColumn::UpdatedAt));
    /// assert_eq!(SystemColumn::from_name("text"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<SystemColumn> {
        SystemColumn::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
    }
}

/// One column of a [`TableSchema`].
///
/// ```
/// use sync_core::{Column, ColumnType};
/// let c = Column::new("dueDate", ColumnType::Date).nullable(true);
/// assert_eq!((c.name.as_str(), c.ty, c.nullable, c.local), ("dueDate", ColumnType::Date, true, false));
/// assert!(Column::new("notes", ColumnType::Text).local(true).local);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Name in stores and on the wire.
    pub name: String,
    /// Logical type.
    pub ty: ColumnType,
    /// Whether the column may hold `Null`.
    pub nullable: bool,
    /// `Some` for the server-maintained system columns.
    pub system: Option<SystemColumn>,
    /// A local-only column (`#[sync(local)]`): stored on the device like any other,
    /// never sent, never taken from the server, never part of a conflict. A store keeps
    /// the flag as the last [`ensure_table`](crate::store::StoreTx::ensure_table) gave
    /// it (the engine ensures every table it registers); it need not write it to disk.
    pub local: bool,
}

impl Column {
    /// A non-null data column.
    pub fn new(name: impl Into<String>, ty: ColumnType) -> Column {
        Column {
            name: name.into(),
            ty,
            nullable: false,
            system: None,
            local: false,
        }
    }

    /// Sets whether the column may hold `Null`.
    pub fn nullable(mut self, nullable: bool) -> Column {
        self.nullable = nullable;
        self
    }

    /// Sets whether the column is local-only (see [`Column::local`](Column#structfield.local)).
    pub fn local(mut self, local: bool) -> Column {
        self.local = local;
        self
    }

    /// The column for a system property.
    ///
    /// ```
    /// use sync_core::{Column, SystemColumn};
    /// assert_eq!(Column::system(SystemColumn::Version).name, "version");
    /// ```
    pub fn system(col: SystemColumn) -> Column {
        Column {
            name: col.name().to_owned(),
            ty: col.column_type(),
            // Only the id is always present; a row not yet pushed has no version or times.
            nullable: !matches!(col, SystemColumn::Id | SystemColumn::Deleted),
            system: Some(col),
            local: false,
        }
    }
}

/// The schema of one synced table: its name, the five system columns, then data columns.
///
/// `#[derive(Syncable)]` builds one per struct; a dynamic table can be built by hand.
///
/// ```
/// use sync_core::{ColumnType, TableSchema};
/// let schema = TableSchema::new("TodoItem")
///     .with_column("text", ColumnType::Text, false)
///     .with_column("complete", ColumnType::Bool, false);
/// assert_eq!(schema.validate(), Ok(()));
/// let names: Vec<_> = schema.columns.iter().map(|c| c.name.as_str()).collect();
/// assert_eq!(names, ["id", "version", "updatedAt", "createdAt", "deleted", "text", "complete"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    /// The table's name on the wire and in stores.
    pub name: String,
    /// System columns first, then data columns in declaration order.
    pub columns: Vec<Column>,
}

impl TableSchema {
    /// A schema with the system columns and no data columns yet.
    pub fn new(name: impl Into<String>) -> TableSchema {
        TableSchema {
            name: name.into(),
            columns: SystemColumn::ALL.into_iter().map(Column::system).collect(),
        }
    }

    /// Appends a data column (builder style).
    pub fn with_column(mut self, name: impl Into<String>, ty: ColumnType, nullable: bool) -> Self {
        self.columns.push(Column::new(name, ty).nullable(nullable));
        self
    }

    /// Appends a local-only data column (builder style): stored on the device, never
    /// synced (see [`Column::local`](Column#structfield.local)).
    ///
    /// ```
    /// use sync_core::{ColumnType, TableSchema};
    /// let s = TableSchema::new("Visit")
    ///     .with_column("site", ColumnType::Text, false)
    ///     .with_local_column("notes", ColumnType::Text, true);
    /// assert!(s.column("notes").is_some_and(|c| c.local));
    /// let sent: Vec<_> = s.synced().columns.iter().map(|c| c.name.clone()).collect();
    /// assert_eq!(sent, ["id", "version", "updatedAt", "createdAt", "deleted", "site"]);
    /// ```
    pub fn with_local_column(
        mut self,
        name: impl Into<String>,
        ty: ColumnType,
        nullable: bool,
    ) -> Self {
        self.columns
            .push(Column::new(name, ty).nullable(nullable).local(true));
        self
    }

    /// The schema the server sees: this one without its local-only columns.
    ///
    /// ```
    /// use sync_core::{ColumnType, TableSchema};
    /// let s = TableSchema::new("T").with_local_column("n", ColumnType::Text, true);
    /// assert_eq!(s.synced(), TableSchema::new("T"));
    /// ```
    pub fn synced(&self) -> TableSchema {
        TableSchema {
            name: self.name.clone(),
            columns: self.columns.iter().filter(|c| !c.local).cloned().collect(),
        }
    }

    /// The local-only columns.
    ///
    /// ```
    /// let s = sync_core::TableSchema::new("T").with_local_column("n", sync_core::ColumnType::Text, true);
    /// assert_eq!(s.local_columns().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["n"]);
    /// ```
    pub fn local_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| c.local)
    }

    /// The column with this name (exact match first, then ASCII case-insensitive, the way
    /// SQLite and the wire protocol compare names).
    ///
    /// ```
    /// let s = sync_core::TableSchema::new("T");
    /// assert!(s.column("UPDATEDAT").is_some());
    /// ```
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name).or_else(|| {
            self.columns
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(name))
        })
    }

    /// The data (non-system) columns.
    ///
    /// ```
    /// let s = sync_core::TableSchema::new("T").with_column("a", sync_core::ColumnType::Text, true);
    /// assert_eq!(s.data_columns().count(), 1);
    /// ```
    pub fn data_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| c.system.is_none())
    }

    /// The schema a store keeps when this schema is ensured over a `stored` one: every
    /// column of `self`, then the stored columns `self` no longer has (a removed field
    /// keeps its column and data, now nullable). A column whose type changed is an
    /// error naming table and column. Every store migrates by this one rule.
    ///
    /// ```
    /// use sync_core::{ColumnType, SchemaError, TableSchema};
    /// let v1 = TableSchema::new("T").with_column("old", ColumnType::Integer, false);
    /// let v2 = TableSchema::new("T").with_column("due", ColumnType::Date, true);
    /// let kept = v2.migrate_from(&v1).unwrap();
    /// assert!(kept.column("due").is_some() && kept.column("old").is_some_and(|c| c.nullable));
    /// let v3 = TableSchema::new("T").with_column("old", ColumnType::Text, false);
    /// assert!(matches!(v3.migrate_from(&v1), Err(SchemaError::TypeChanged { .. })));
    /// ```
    pub fn migrate_from(&self, stored: &TableSchema) -> Result<TableSchema, SchemaError> {
        let mut merged = self.clone();
        for old in &stored.columns {
            match self.column(&old.name) {
                Some(new) if new.ty != old.ty => {
                    return Err(SchemaError::TypeChanged {
                        table: self.name.clone(),
                        column: old.name.clone(),
                        stored: old.ty.name().to_owned(),
                        wanted: new.ty.name().to_owned(),
                    });
                }
                Some(_) => {}
                None => merged.columns.push(old.clone().nullable(true)),
            }
        }
        Ok(merged)
    }

    /// Checks the schema: a valid table name, valid column names, every system column
    /// present with its type, and no two columns whose names are equal ignoring case.
    ///
    /// ```
    /// use sync_core::{ColumnType, SchemaError, TableSchema};
    /// let bad = TableSchema::new("T").with_column("ID", ColumnType::Text, false);
    /// assert!(matches!(bad.validate(), Err(SchemaError::DuplicateColumn { .. })));
    /// ```
    pub fn validate(&self) -> Result<(), SchemaError> {
        validate_table_name(&self.name)?;
        for (i, col) in self.columns.iter().enumerate() {
            validate_column_name(&self.name, &col.name)?;
            if let Some(first) = self.columns[..i]
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(&col.name))
            {
                return Err(SchemaError::DuplicateColumn {
                    table: self.name.clone(),
                    column: col.name.clone(),
                    first: first.name.clone(),
                });
            }
        }
        for sys in SystemColumn::ALL {
            match self.columns.iter().find(|c| c.system == Some(sys)) {
                None => {
                    return Err(SchemaError::MissingSystemColumn {
                        table: self.name.clone(),
                        column: sys.name(),
                    });
                }
                // A system column is the server's: it cannot be local-only.
                Some(c) if c.ty != sys.column_type() || c.name != sys.name() || c.local => {
                    return Err(SchemaError::MissingSystemColumn {
                        table: self.name.clone(),
                        column: sys.name(),
                    });
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

/// The prefix reserved for stores' own bookkeeping tables.
pub const RESERVED_TABLE_PREFIX: &str = "__tablesync";

/// Checks a table name: 1 to 128 characters, ASCII letters, digits and `_`, not starting
/// with a digit, and not reserved (`__tablesync…`, `sqlite_…`).
///
/// ```
/// assert!(sync_core::validate_table_name("TodoWithDate").is_ok());
/// assert!(sync_core::validate_table_name("todo; drop table x").is_err());
/// ```
pub fn validate_table_name(name: &str) -> Result<(), SchemaError> {
    let lower = name.to_ascii_lowercase();
    let reason = identifier_problem(name).or_else(|| {
        (lower.starts_with(RESERVED_TABLE_PREFIX) || lower.starts_with("sqlite_"))
            .then_some("names starting with `__tablesync` or `sqlite_` are reserved")
    });
    match reason {
        Some(reason) => Err(SchemaError::InvalidTableName {
            table: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// What is wrong with a table or column name, if anything: 1 to 128 characters, ASCII
/// letters, digits and `_`, not starting with a digit.
fn identifier_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.len() > 128 {
        Some("it is longer than 128 characters")
    } else if name.starts_with(|c: char| c.is_ascii_digit()) {
        Some("it starts with a digit")
    } else if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Some("only ASCII letters, digits and `_` are allowed")
    } else {
        None
    }
}

/// Checks a column name: 1 to 128 characters, ASCII letters, digits and `_`, not starting
/// with a digit.
///
/// ```
/// assert!(sync_core::validate_column_name("T", "dueDate").is_ok());
/// assert!(sync_core::validate_column_name("T", "due date").is_err());
/// ```
pub fn validate_column_name(table: &str, name: &str) -> Result<(), SchemaError> {
    match identifier_problem(name) {
        Some(reason) => Err(SchemaError::InvalidColumnName {
            table: table.to_owned(),
            column: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}
