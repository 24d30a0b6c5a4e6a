//! Table and column naming: `rename_all` rules and the name checks of sync-core, mirrored
//! here because a proc-macro crate cannot depend on the crate that re-exports it. A unit
//! test below keeps the two in step.

use heck::{ToLowerCamelCase, ToShoutySnakeCase, ToSnakeCase, ToUpperCamelCase};

/// How field names become column names (`#[sync(rename_all = "...")]`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum RenameRule {
    /// `dueDate` — the wire protocol's convention, hence the default.
    #[default]
    Camel,
    /// `DueDate`.
    Pascal,
    /// `due_date`.
    Snake,
    /// `DUE_DATE`.
    ScreamingSnake,
    /// The field name lower-cased, underscores kept: `due_date`.
    Lower,
    /// The field name upper-cased, underscores kept: `DUE_DATE`.
    Upper,
}

impl RenameRule {
    /// Every rule with the spelling `rename_all` accepts.
    pub const ALL: [(&'static str, RenameRule); 6] = [
        ("camelCase", RenameRule::Camel),
        ("PascalCase", RenameRule::Pascal),
        ("snake_case", RenameRule::Snake),
        ("SCREAMING_SNAKE_CASE", RenameRule::ScreamingSnake),
        ("lowercase", RenameRule::Lower),
        ("UPPERCASE", RenameRule::Upper),
    ];

    /// The rule spelled `name`, if any.
    pub fn from_name(name: &str) -> Option<RenameRule> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
    }

    /// The accepted spellings, quoted, for error messages.
    pub fn accepted() -> String {
        let names: Vec<String> = Self::ALL.iter().map(|(n, _)| format!("\"{n}\"")).collect();
        names.join(", ")
    }

    /// Applies the rule to a Rust field name (already stripped of any `r#`).
    pub fn apply(self, field: &str) -> String {
        match self {
            RenameRule::Camel => field.to_lower_camel_case(),
            RenameRule::Pascal => field.to_upper_camel_case(),
            RenameRule::Snake => field.to_snake_case(),
            RenameRule::ScreamingSnake => field.to_shouty_snake_case(),
            RenameRule::Lower => field.to_ascii_lowercase(),
            RenameRule::Upper => field.to_ascii_uppercase(),
        }
    }
}

/// The longest table or column name sync-core accepts.
const MAX_NAME_LEN: usize = 128;

/// Table names stores keep for their own bookkeeping (sync-core's `RESERVED_TABLE_PREFIX`
/// and SQLite's own prefix).
const RESERVED_TABLE_PREFIXES: [&str; 2] = ["__tablesync", "sqlite_"];

/// Why `name` cannot be a table name, or `None` when it can (sync-core's
/// `validate_table_name`).
pub fn table_name_problem(name: &str) -> Option<&'static str> {
    column_name_problem(name).or_else(|| {
        let lower = name.to_ascii_lowercase();
        RESERVED_TABLE_PREFIXES
            .iter()
            .any(|p| lower.starts_with(p))
            .then_some("names starting with `__tablesync` or `sqlite_` are reserved")
    })
}

/// Why `name` cannot be a column name, or `None` when it can (sync-core's
/// `validate_column_name`).
pub fn column_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.len() > MAX_NAME_LEN {
        Some("it is longer than 128 characters")
    } else if name.starts_with(|c: char| c.is_ascii_digit()) {
        Some("it starts with a digit")
    } else if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Some("only ASCII letters, digits and `_` are allowed")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: &[&str] = &[
        "",
        "a",
        "TodoWithDate",
        "_x",
        "x_1",
        "1x",
        "due date",
        "dueDate",
        "é",
        "a-b",
        "__tablesync",
        "__TableSyncQueue",
        "sqlite_master",
        "SQLITE_x",
        "sqlite",
        "__table",
    ];

    #[test]
    fn name_rules_match_sync_core() {
        let long = "a".repeat(129);
        let max = "a".repeat(128);
        for name in SAMPLES.iter().copied().chain([long.as_str(), max.as_str()]) {
            let core_table = sync_core::validate_table_name(name).err().map(|e| match e {
                sync_core::SchemaError::InvalidTableName { reason, .. } => reason,
                other => panic!("unexpected {other}"),
            });
            assert_eq!(table_name_problem(name), core_table, "table name {name:?}");
            let core_column = sync_core::validate_column_name("T", name)
                .err()
                .map(|e| match e {
                    sync_core::SchemaError::InvalidColumnName { reason, .. } => reason,
                    other => panic!("unexpected {other}"),
                });
            assert_eq!(
                column_name_problem(name),
                core_column,
                "column name {name:?}"
            );
        }
    }

    #[test]
    fn rename_rules_turn_field_names_into_column_names() {
        let cases = [
            (RenameRule::Camel, "dueDate"),
            (RenameRule::Pascal, "DueDate"),
            (RenameRule::Snake, "due_date"),
            (RenameRule::ScreamingSnake, "DUE_DATE"),
            (RenameRule::Lower, "due_date"),
            (RenameRule::Upper, "DUE_DATE"),
        ];
        for (rule, want) in cases {
            assert_eq!(rule.apply("due_date"), want, "{rule:?}");
        }
        for (name, rule) in RenameRule::ALL {
            assert_eq!(RenameRule::from_name(name), Some(rule));
        }
        assert_eq!(RenameRule::from_name("kebab-case"), None);
    }
}
