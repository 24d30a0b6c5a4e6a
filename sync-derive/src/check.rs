//! The rules that involve more than one attribute or field, one function per rule, each
//! reporting into the [`Ctxt`] so that every broken rule shows up in the same build.

use proc_macro2::TokenStream;
use quote::ToTokens;

use crate::ast::{Container, Field, Role, SYSTEM_COLUMNS, ServerColumn};
use crate::attr::Flag;
use crate::ctxt::Ctxt;
use crate::names::{column_name_problem, table_name_problem};
use crate::shape::{is_option_string, is_string, option_inner};
use crate::symbol::{
    CREATED_AT, DEFAULT, DELETED, ID, JSON, LOCAL, RENAME, SKIP, UPDATED_AT, VERSION,
};

/// Runs every rule.
pub fn check(cx: &Ctxt, cont: &Container) {
    check_one_role_per_field(cx, cont);
    check_fixed_columns_have_no_column_options(cx, cont);
    check_skip_has_no_column_options(cx, cont);
    check_default_not_on_option(cx, cont);
    check_table_name(cx, cont);
    check_one_id_field(cx, cont);
    check_id_is_string(cx, cont);
    check_one_version_field(cx, cont);
    check_version_type(cx, cont);
    check_server_fields_at_most_once(cx, cont);
    check_column_names(cx, cont);
    check_columns_unique(cx, cont);
}

/// A field plays one role: at most one of `#[id]`, `#[version]`, `#[updated_at]`,
/// `#[created_at]`, `#[deleted]`, `#[sync(skip)]` and `#[sync(local)]`.
fn check_one_role_per_field(cx: &Ctxt, cont: &Container) {
    for field in &cont.fields {
        let a = &field.attrs;
        let roles: [(String, &Flag); 7] = [
            (format!("#[{ID}]"), &a.id),
            (format!("#[{VERSION}]"), &a.version),
            (format!("#[{UPDATED_AT}]"), &a.updated_at),
            (format!("#[{CREATED_AT}]"), &a.created_at),
            (format!("#[{DELETED}]"), &a.deleted),
            (format!("#[sync({SKIP})]"), &a.skip),
            (format!("#[sync({LOCAL})]"), &a.local),
        ];
        let mut given = roles.iter().filter(|(_, flag)| flag.is_set());
        let Some((first, _)) = given.next() else {
            continue;
        };
        for (other, flag) in given {
            cx.error_spanned_by(
                flag.tokens(),
                format!(
                    "`{other}` cannot be combined with `{first}`: a field is either the id, the version, a server-maintained column (`#[updated_at]`, `#[created_at]`, `#[deleted]`), stored but never synced (`#[sync(local)]`) or not stored at all (`#[sync(skip)]`); keep one"
                ),
            );
        }
    }
}

/// The id, version and server-maintained fields have fixed columns, so they take neither
/// `rename` nor `json` nor `default` (each already reads a fixed value when a record has
/// none, or must have one), and the id (even when found by its name) cannot be `skip`ped.
fn check_fixed_columns_have_no_column_options(cx: &Ctxt, cont: &Container) {
    for field in &cont.fields {
        let (what, column) = match &field.role {
            Role::Id => ("the id field", "id"),
            Role::Version => ("the version field", "version"),
            Role::Server(col) => ("a server-maintained field", col.column()),
            Role::Skip | Role::Data { .. } => continue,
        };
        let a = &field.attrs;
        if let Some(tokens) = a.rename.tokens() {
            cx.error_spanned_by(
                tokens,
                format!(
                    "`{RENAME}` is not allowed on {what}: its column is always `{column}`; remove `#[sync(rename = ...)]`"
                ),
            );
        }
        if let Some(tokens) = a.json.tokens() {
            cx.error_spanned_by(
                tokens,
                format!(
                    "`{JSON}` is not allowed on {what}: its column `{column}` has a fixed type; remove `#[sync(json)]`"
                ),
            );
        }
        if let Some(tokens) = a.default.tokens() {
            let why = match &field.role {
                Role::Id => "every record has its id (an empty id gets a UUID on insert)",
                Role::Version => "a record without a version reads as no version",
                _ => "it reads as its type's `Default` until the server has set it",
            };
            cx.error_spanned_by(
                tokens,
                format!(
                    "`{DEFAULT}` is not allowed on {what}: {why}; remove `#[sync(default ...)]`"
                ),
            );
        }
        if field.role == Role::Id
            && !a.id.is_set()
            && let Some(tokens) = a.local.tokens()
        {
            cx.error_spanned_by(
                tokens,
                format!(
                    "`{LOCAL}` is not allowed on the id field (the field named `id` is the id unless another field is marked `#[id]`): the server needs every record's id; mark the id field `#[id]` to keep a local-only field named `id`"
                ),
            );
        }
        if field.role == Role::Id
            && !a.id.is_set()
            && let Some(tokens) = a.skip.tokens()
        {
            cx.error_spanned_by(
                tokens,
                format!(
                    "`{SKIP}` is not allowed on the id field (the field named `id` is the id unless another field is marked `#[id]`): every record needs its id; mark the id field `#[id]` to keep a field named `id` that is not stored"
                ),
            );
        }
    }
}

/// A `skip` field is not stored, so it is no column and takes neither `rename` nor `json`.
fn check_skip_has_no_column_options(cx: &Ctxt, cont: &Container) {
    for field in cont.fields.iter().filter(|f| f.role == Role::Skip) {
        if let Some(tokens) = field.attrs.rename.tokens() {
            cx.error_spanned_by(
                tokens,
                "`rename` has no effect on a `#[sync(skip)]` field: a field that is not stored is not a column; remove one of them (`#[sync(local)]` stores a field without syncing it)",
            );
        }
        if let Some(tokens) = field.attrs.json.tokens() {
            cx.error_spanned_by(
                tokens,
                "`skip` and `json` exclude each other: `#[sync(skip)]` does not store the field, `#[sync(json)]` stores it as a JSON column; keep one (`#[sync(local, json)]` stores it as JSON without syncing it)",
            );
        }
    }
}

/// A stored field of an `Option` type takes no `default`: its `Null` is its `None`, so a
/// default would turn every stored `None` into the default when read back (checked on
/// the syntax; an alias is read as documented on `decode_or`).
fn check_default_not_on_option(cx: &Ctxt, cont: &Container) {
    for field in &cont.fields {
        let (Role::Data { .. }, Some(tokens)) = (&field.role, field.attrs.default.tokens()) else {
            continue;
        };
        if let Some(inner) = option_inner(field.ty) {
            cx.error_spanned_by(
                tokens,
                format!(
                    "`{DEFAULT}` is not allowed on an `Option` field: a missing or null column already reads as `None`, and a default would turn every stored `None` into it; remove `#[sync(default ...)]`, or write `{}: {}` to give rows without a value the default",
                    field.ident,
                    inner.to_token_stream().to_string().replace(' ', "")
                ),
            );
        }
    }
}

/// The table name follows sync-core's rules (`validate_table_name`).
fn check_table_name(cx: &Ctxt, cont: &Container) {
    let Some(reason) = table_name_problem(&cont.table) else {
        return;
    };
    let shown = &cont.table;
    match cont.attrs.table.get() {
        Some(lit) => cx.error_spanned_by(
            lit,
            format!(
                "invalid table name {shown:?}: {reason}; choose another name, e.g. `#[table(\"TodoItem\")]`"
            ),
        ),
        None => cx.error_spanned_by(
            cont.ident,
            format!(
                "invalid table name {shown:?} (the struct's name): {reason}; name the table with `#[table(\"TodoItem\")]`"
            ),
        ),
    }
}

/// Exactly one field is the id: the one marked `#[id]`, or else the field named `id`.
fn check_one_id_field(cx: &Ctxt, cont: &Container) {
    let ids: Vec<&Field> = cont.fields.iter().filter(|f| f.role == Role::Id).collect();
    match ids.as_slice() {
        [] => cx.error_spanned_by(
            cont.ident,
            "no id field: expected a `String` field named `id`, or `#[id]` on a `String` field",
        ),
        [_] => {}
        [first, rest @ ..] => {
            for other in rest {
                cx.error_spanned_by(
                    other.attrs.id.tokens(),
                    format!(
                        "`#[id]` is on two fields, `{}` and `{}`: expected exactly one id field; remove this one",
                        first.ident, other.ident
                    ),
                );
            }
        }
    }
}

/// The id field is a `String` (checked on the syntax here; an alias is caught by a type
/// assertion in the generated code).
fn check_id_is_string(cx: &Ctxt, cont: &Container) {
    for field in cont.fields.iter().filter(|f| f.role == Role::Id) {
        if !is_string(field.ty) {
            cx.error_spanned_by(
                field.ty,
                format!(
                    "expected the id field `{}` to be a `String`: ids are strings on the wire (a UUID is generated for an empty id); write `{}: String`",
                    field.ident, field.ident
                ),
            );
        }
    }
}

/// Exactly one field is marked `#[version]`.
fn check_one_version_field(cx: &Ctxt, cont: &Container) {
    let versions: Vec<&Field> = cont
        .fields
        .iter()
        .filter(|f| f.role == Role::Version)
        .collect();
    match versions.as_slice() {
        [] => match unmarked_version_field(cont) {
            Some(field) => cx.error_spanned_by(
                field.ident,
                format!(
                    "expected `#[version]` on this field: the column `version` belongs to the server-assigned version; write `#[version] {}: Option<String>`",
                    field.ident
                ),
            ),
            None => cx.error_spanned_by(
                cont.ident,
                "no version field: expected `#[version]` on an `Option<String>` or `String` field, e.g. `#[version] version: Option<String>`",
            ),
        },
        [_] => {}
        [first, rest @ ..] => {
            for other in rest {
                cx.error_spanned_by(
                    other.attrs.version.tokens(),
                    format!(
                        "`#[version]` is on two fields, `{}` and `{}`: expected exactly one version field; remove this one",
                        first.ident, other.ident
                    ),
                );
            }
        }
    }
}

/// The version field is an `Option<String>` or a `String` (an empty `String` meaning no
/// version); an alias is caught by a type assertion in the generated code.
fn check_version_type(cx: &Ctxt, cont: &Container) {
    for field in cont.fields.iter().filter(|f| f.role == Role::Version) {
        if !is_string(field.ty) && !is_option_string(field.ty) {
            cx.error_spanned_by(
                field.ty,
                "expected `#[version]` on an `Option<String>` or `String` field: versions are opaque strings assigned by the server; write `#[version] version: Option<String>`",
            );
        }
    }
}

/// Each of `#[updated_at]`, `#[created_at]` and `#[deleted]` marks at most one field.
fn check_server_fields_at_most_once(cx: &Ctxt, cont: &Container) {
    for col in ServerColumn::ALL {
        let marked: Vec<&Field> = cont
            .fields
            .iter()
            .filter(|f| f.role == Role::Server(col))
            .collect();
        if let [first, rest @ ..] = marked.as_slice() {
            for other in rest {
                let tokens = match col {
                    ServerColumn::UpdatedAt => other.attrs.updated_at.tokens(),
                    ServerColumn::CreatedAt => other.attrs.created_at.tokens(),
                    ServerColumn::Deleted => other.attrs.deleted.tokens(),
                };
                cx.error_spanned_by(
                    tokens,
                    format!(
                        "`#[{}]` is on two fields, `{}` and `{}`: expected at most one; remove this one",
                        col.attr(),
                        first.ident,
                        other.ident
                    ),
                );
            }
        }
    }
}

/// Every data column name follows sync-core's rules (`validate_column_name`).
fn check_column_names(cx: &Ctxt, cont: &Container) {
    for (field, column, _) in cont.data_fields() {
        if let Some(reason) = column_name_problem(column) {
            cx.error_spanned_by(
                column_span(field),
                format!(
                    "invalid column name {column:?} for field `{}`: {reason}; choose another name, e.g. `#[sync(rename = \"dueDate\")]`",
                    field.ident
                ),
            );
        }
    }
}

/// Column names are unique ignoring ASCII case (the way SQLite and the wire compare
/// them), the system columns `id`, `version`, `updatedAt`, `createdAt`, `deleted` included.
fn check_columns_unique(cx: &Ctxt, cont: &Container) {
    // A field left unmarked where `#[version]` was forgotten is already reported.
    let forgotten_version = unmarked_version_field(cont)
        .filter(|_| cont.field_with(&Role::Version).is_none())
        .map(|f| f.ident);
    let mut seen: Vec<(&str, &Field)> = Vec::new();
    for (field, column, _) in cont.data_fields() {
        if let Some(system) = SYSTEM_COLUMNS
            .iter()
            .find(|s| s.eq_ignore_ascii_case(column))
        {
            if forgotten_version != Some(field.ident) {
                cx.error_spanned_by(
                    column_span(field),
                    format!(
                        "duplicate column `{column}`: field `{}` clashes with the system column `{system}` (column names are compared ignoring case); give it another name with `#[sync(rename = \"...\")]`",
                        field.ident
                    ),
                );
            }
        } else if let Some((first_column, first)) =
            seen.iter().find(|(c, _)| c.eq_ignore_ascii_case(column))
        {
            cx.error_spanned_by(
                column_span(field),
                format!(
                    "duplicate column `{column}`: field `{}` has the same column as field `{}` (`{first_column}`; names are compared ignoring case); give one of them another name with `#[sync(rename = \"...\")]`",
                    field.ident, first.ident
                ),
            );
        } else {
            seen.push((column, field));
        }
    }
}

/// A data field whose column is `version`: almost surely a forgotten `#[version]`.
fn unmarked_version_field<'c, 'a>(cont: &'c Container<'a>) -> Option<&'c Field<'a>> {
    cont.data_fields()
        .find(|(_, column, _)| column.eq_ignore_ascii_case("version"))
        .map(|(f, _, _)| f)
}

/// Where a column's name comes from: the `rename` literal, else the field's name.
fn column_span(field: &Field) -> TokenStream {
    match field.attrs.rename.get() {
        Some(lit) => lit.to_token_stream(),
        None => field.ident.to_token_stream(),
    }
}
