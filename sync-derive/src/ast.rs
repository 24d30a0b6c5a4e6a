//! The typed form of a `#[derive(Syncable)]` input: a [`Container`] (the struct and its
//! attributes) holding one [`Field`] per named field, each with the [`Role`] it plays in
//! the table. Built once from syn's tree; `check.rs` validates it and `expand.rs`
//! generates code from it.

use syn::ext::IdentExt;
use syn::{Data, DeriveInput, Fields, Ident, Type, Visibility};

use crate::attr;
use crate::ctxt::Ctxt;
use crate::names::RenameRule;
use crate::symbol::DEFAULT_ID_FIELD;

/// A struct deriving `Syncable`.
pub struct Container<'a> {
    /// The struct's name.
    pub ident: &'a Ident,
    /// The struct's visibility, which its column handles share.
    pub vis: &'a Visibility,
    /// The struct's attributes.
    pub attrs: attr::Container,
    /// The table name: `#[table("...")]` or the struct's name.
    pub table: String,
    /// The named fields, in declaration order.
    pub fields: Vec<Field<'a>>,
}

/// One named field.
pub struct Field<'a> {
    /// The field's name.
    pub ident: &'a Ident,
    /// The field's type as written.
    pub ty: &'a Type,
    /// The field's attributes.
    pub attrs: attr::Field,
    /// What the field is to the table.
    pub role: Role,
}

/// What a field reads when a record has no value for it.
pub enum FieldDefault<'f> {
    /// `Default::default()`.
    Trait,
    /// The function named by `#[sync(default = "path")]`.
    Path(&'f syn::ExprPath),
}

impl Field<'_> {
    /// The field's default: the one given by `#[sync(default ...)]`, else
    /// `Default::default()` for the fields that always have one (`skip`, local-only and
    /// server-maintained fields), else none.
    pub fn default(&self) -> Option<FieldDefault<'_>> {
        match self.attrs.default.get() {
            Some(attr::DefaultValue::Path(path)) => Some(FieldDefault::Path(path)),
            Some(attr::DefaultValue::Trait) => Some(FieldDefault::Trait),
            None => match self.role {
                Role::Skip | Role::Server(_) | Role::Data { local: true, .. } => {
                    Some(FieldDefault::Trait)
                }
                Role::Id | Role::Version | Role::Data { .. } => None,
            },
        }
    }
}

/// What a field is to the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// The `id` system column (`#[id]`, or the field named `id`).
    Id,
    /// The `version` system column (`#[version]`).
    Version,
    /// A server-maintained system column, read in and never written.
    Server(ServerColumn),
    /// Not stored at all (`#[sync(skip)]`): not a column.
    Skip,
    /// A data column.
    Data {
        /// The column name after `rename` / `rename_all`.
        column: String,
        /// Stored as JSON (`#[sync(json)]`).
        json: bool,
        /// Stored on the device, never synced (`#[sync(local)]`).
        local: bool,
    },
}

/// The server-maintained system columns a field may mirror.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ServerColumn {
    /// `updatedAt` (`#[updated_at]`).
    UpdatedAt,
    /// `createdAt` (`#[created_at]`).
    CreatedAt,
    /// `deleted` (`#[deleted]`).
    Deleted,
}

impl ServerColumn {
    /// Every server column, in schema order.
    pub const ALL: [ServerColumn; 3] = [
        ServerColumn::UpdatedAt,
        ServerColumn::CreatedAt,
        ServerColumn::Deleted,
    ];

    /// The column's name (sync-core's `SystemColumn::name`).
    pub fn column(self) -> &'static str {
        match self {
            ServerColumn::UpdatedAt => "updatedAt",
            ServerColumn::CreatedAt => "createdAt",
            ServerColumn::Deleted => "deleted",
        }
    }

    /// The attribute marking a field as this column.
    pub fn attr(self) -> crate::symbol::Symbol {
        match self {
            ServerColumn::UpdatedAt => crate::symbol::UPDATED_AT,
            ServerColumn::CreatedAt => crate::symbol::CREATED_AT,
            ServerColumn::Deleted => crate::symbol::DELETED,
        }
    }

    /// Whether `attrs` mark the field as this column.
    pub fn marked(self, attrs: &attr::Field) -> bool {
        match self {
            ServerColumn::UpdatedAt => attrs.updated_at.is_set(),
            ServerColumn::CreatedAt => attrs.created_at.is_set(),
            ServerColumn::Deleted => attrs.deleted.is_set(),
        }
    }
}

/// The names of the system columns, which no data column may take.
pub const SYSTEM_COLUMNS: [&str; 5] = ["id", "version", "updatedAt", "createdAt", "deleted"];

impl<'a> Container<'a> {
    /// Builds the typed form, or `None` when the input is not a struct with named fields
    /// (the reason is in `cx`). Attributes are parsed even then, so that their mistakes
    /// show up in the same build.
    pub fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Option<Container<'a>> {
        let attrs = attr::Container::from_ast(cx, &input.attrs);

        if !input.generics.params.is_empty() {
            cx.error_spanned_by(
                &input.generics,
                "`#[derive(Syncable)]` does not support generic structs (type, lifetime or const parameters): a table has one fixed schema; remove the parameters or derive on a concrete struct",
            );
        }

        let named = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => Some(named),
                Fields::Unnamed(fields) => {
                    cx.error_spanned_by(
                        fields,
                        "`#[derive(Syncable)]` expects a struct with named fields, e.g. `struct Todo { id: String, #[version] version: Option<String>, text: String }`; a tuple struct has no column names",
                    );
                    None
                }
                Fields::Unit => {
                    cx.error_spanned_by(
                        &input.ident,
                        "`#[derive(Syncable)]` expects a struct with named fields, e.g. `struct Todo { id: String, #[version] version: Option<String>, text: String }`; a unit struct has no id or version",
                    );
                    None
                }
            },
            Data::Enum(data) => {
                cx.error_spanned_by(
                    data.enum_token,
                    "`#[derive(Syncable)]` expects a struct with named fields, not an enum; to store an enum in a column, implement `SyncValue` for it or mark the field `#[sync(json)]`",
                );
                None
            }
            Data::Union(data) => {
                cx.error_spanned_by(
                    data.union_token,
                    "`#[derive(Syncable)]` expects a struct with named fields, not a union",
                );
                None
            }
        }?;

        let parsed: Vec<(&Ident, &Type, attr::Field)> = named
            .named
            .iter()
            .filter_map(|f| {
                let attrs = attr::Field::from_ast(cx, &f.attrs);
                Some((f.ident.as_ref()?, &f.ty, attrs))
            })
            .collect();

        let rule = attrs.rename_all.get().copied().unwrap_or_default();
        let explicit_id = parsed.iter().any(|(_, _, a)| a.id.is_set());
        let fields = parsed
            .into_iter()
            .map(|(ident, ty, attrs)| {
                let role = role_of(ident, &attrs, explicit_id, rule);
                Field {
                    ident,
                    ty,
                    attrs,
                    role,
                }
            })
            .collect();

        let table = match attrs.table.get() {
            Some(lit) => lit.value(),
            None => input.ident.unraw().to_string(),
        };

        Some(Container {
            ident: &input.ident,
            vis: &input.vis,
            attrs,
            table,
            fields,
        })
    }

    /// The data fields (local-only ones included: they are columns too), in declaration
    /// (and schema) order.
    pub fn data_fields(&self) -> impl Iterator<Item = (&Field<'a>, &str, bool)> {
        self.fields.iter().filter_map(|f| match &f.role {
            Role::Data { column, json, .. } => Some((f, column.as_str(), *json)),
            _ => None,
        })
    }

    /// The first field with this role.
    pub fn field_with(&self, role: &Role) -> Option<&Field<'a>> {
        self.fields.iter().find(|f| f.role == *role)
    }
}

/// A field's role: an explicit role attribute wins (conflicts between them are reported by
/// `check.rs`), then the field named `id` when no field is marked `#[id]`, then `skip`;
/// everything else is a data column.
fn role_of(ident: &Ident, attrs: &attr::Field, explicit_id: bool, rule: RenameRule) -> Role {
    let name = ident.unraw().to_string();
    if attrs.id.is_set() {
        Role::Id
    } else if attrs.version.is_set() {
        Role::Version
    } else if let Some(col) = ServerColumn::ALL.into_iter().find(|c| c.marked(attrs)) {
        Role::Server(col)
    } else if !explicit_id && name == DEFAULT_ID_FIELD {
        Role::Id
    } else if attrs.skip.is_set() {
        Role::Skip
    } else {
        let column = match attrs.rename.get() {
            Some(lit) => lit.value(),
            None => rule.apply(&name),
        };
        Role::Data {
            column,
            json: attrs.json.is_set(),
            local: attrs.local.is_set(),
        }
    }
}
