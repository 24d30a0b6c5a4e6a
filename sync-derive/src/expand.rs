//! Code generation: parses the input into the typed form (`ast.rs`), runs the checks
//! (`check.rs`), and only when both are clean turns the form into the `Syncable` impl.
//!
//! Everything generated names items by absolute paths (`::core::...`, `::std::...`, and
//! sync-core through [`core_path`]) and prefixes its locals with `__`, so that the user's
//! own `Result`, `Option` or `String` cannot change its meaning.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{DeriveInput, Ident};

use crate::ast::{Container, Field, FieldDefault, Role, ServerColumn};
use crate::check;
use crate::core_path::core_path;
use crate::ctxt::Ctxt;
use crate::shape::option_inner;

/// The whole derive: the generated impl, or every error found in the input.
pub fn derive_syncable(input: &DeriveInput) -> Result<TokenStream, Vec<syn::Error>> {
    let cx = Ctxt::new();
    let cont = Container::from_ast(&cx, input);
    if let Some(cont) = &cont {
        check::check(&cx, cont);
    }
    cx.check()?;
    match cont {
        Some(cont) => Ok(expand(&cont)),
        // `from_ast` reports why it gives up, so this is only a safety net.
        None => Err(vec![syn::Error::new(
            Span::call_site(),
            "`#[derive(Syncable)]` could not read this item",
        )]),
    }
}

/// The fields `expand` needs, with the names of their per-field constants. Only built
/// from a checked container, where the id and version exist exactly once.
struct Plan<'c, 'a> {
    id: usize,
    version: usize,
    fields: &'c [Field<'a>],
}

impl Plan<'_, '_> {
    fn id(&self) -> (&Ident, Ident) {
        (self.fields[self.id].ident, ops(self.id))
    }

    fn version(&self) -> (&Ident, Ident) {
        (self.fields[self.version].ident, ops(self.version))
    }
}

/// The constant holding field `i`'s operations (`SyncValueOps`, `JsonOps`, `IdOps`,
/// `VersionOps`), looked up once at the field so that a wrong type is one error there.
fn ops(i: usize) -> Ident {
    Ident::new(&format!("__FIELD_{i}"), Span::call_site())
}

/// The constant holding field `i`'s default (see [`Field::default`]).
fn default_fn(i: usize) -> Ident {
    Ident::new(&format!("__DEFAULT_{i}"), Span::call_site())
}

fn expand(cont: &Container) -> TokenStream {
    let core = core_path(cont.attrs.crate_path.get());
    let position = |role: &Role| cont.fields.iter().position(|f| f.role == *role);
    let (Some(id), Some(version)) = (position(&Role::Id), position(&Role::Version)) else {
        // Unreachable after `check`; a clear error beats a panic in a proc macro.
        return syn::Error::new(Span::call_site(), "`#[derive(Syncable)]`: no id or version")
            .to_compile_error();
    };
    let plan = Plan {
        id,
        version,
        fields: &cont.fields,
    };
    let ident = cont.ident;

    let field_ops = field_ops(cont, &core);
    let schema = schema(cont, &core);
    let accessors = accessors(&plan);
    let to_record = to_record(cont, &plan, &core);
    let from_record = from_record(cont, &plan, &core);
    let changed_columns = changed_columns(cont);
    let field_names = field_names(cont, &core);
    let merge3 = merge3(cont, &core);
    let (columns_struct, columns_fn) = columns(cont, &core);

    quote! {
        #columns_struct

        #[doc(hidden)]
        const _: () = {
            #field_ops

            #columns_fn

            #[automatically_derived]
            impl #core::Syncable for #ident {
                #schema
                #accessors
                #to_record
                #from_record
                #changed_columns
                #field_names
                #merge3
            }
        };
    }
}

/// One constant per field holding what its role needs from its type, built by an
/// `assert_*` call spanned on the field's type: a type the role does not accept is
/// reported once, on the field, rather than in every generated method. A field with a
/// default also gets a `fn() -> T` constant: `Default::default` checked on the type, or
/// the user's function, spanned at its string so that a wrong signature is shown there.
fn field_ops(cont: &Container, core: &TokenStream) -> TokenStream {
    let private = quote!(#core::__private);
    let consts = cont.fields.iter().enumerate().map(|(i, f)| {
        let ty = f.ty;
        let span = ty.span();
        let ops = ops(i);
        let sync_value = quote_spanned! {span=>
            const #ops: #private::SyncValueOps<#ty> = #private::assert_sync_value::<#ty>();
        };
        let default_name = default_fn(i);
        let default = match f.default() {
            None => quote!(),
            Some(FieldDefault::Trait) => quote_spanned! {span=>
                const #default_name: fn() -> #ty = #private::assert_default::<#ty>();
            },
            Some(FieldDefault::Path(path)) => quote_spanned! {path.span()=>
                const #default_name: fn() -> #ty = #path;
            },
        };
        let ops = match &f.role {
            Role::Id => quote_spanned! {span=>
                const #ops: #private::IdOps<#ty> = #private::assert_id::<#ty>();
            },
            Role::Version => quote_spanned! {span=>
                const #ops: #private::VersionOps<#ty> = #private::assert_version::<#ty>();
            },
            Role::Server(_) => sync_value,
            Role::Skip => quote!(),
            Role::Data { json: true, .. } => quote_spanned! {span=>
                const #ops: #private::JsonOps<#ty> = #private::assert_json::<#ty>();
            },
            Role::Data { .. } => sync_value,
        };
        quote!(#ops #default)
    });
    quote!(#(#consts)*)
}

/// The data fields (local-only ones included) with their index (for [`ops`]).
fn data_fields<'c, 'a>(
    cont: &'c Container<'a>,
) -> impl Iterator<Item = (usize, &'c Field<'a>, &'c str, bool)> {
    cont.fields
        .iter()
        .enumerate()
        .filter_map(|(i, f)| match &f.role {
            Role::Data { column, json, .. } => Some((i, f, column.as_str(), *json)),
            _ => None,
        })
}

/// The synced data fields: [`data_fields`] without the local-only ones.
fn synced_fields<'c, 'a>(
    cont: &'c Container<'a>,
) -> impl Iterator<Item = (usize, &'c Field<'a>, &'c str, bool)> {
    data_fields(cont).filter(|(_, f, _, _)| !is_local(f))
}

fn is_local(field: &Field) -> bool {
    matches!(field.role, Role::Data { local: true, .. })
}

/// `schema()`: built once, system columns then one column per data field in order.
fn schema(cont: &Container, core: &TokenStream) -> TokenStream {
    let table = &cont.table;
    let columns = data_fields(cont).map(|(i, f, column, json)| {
        let ops = ops(i);
        let with = if is_local(f) {
            quote!(with_local_column)
        } else {
            quote!(with_column)
        };
        if json {
            quote!(.#with(#column, #core::ColumnType::Json, true))
        } else {
            quote!(.#with(#column, #ops.column_type, #ops.nullable))
        }
    });
    quote! {
        fn schema() -> &'static #core::TableSchema {
            static __SCHEMA: #core::__private::OnceLock<#core::TableSchema> =
                #core::__private::OnceLock::new();
            __SCHEMA.get_or_init(|| #core::TableSchema::new(#table) #(#columns)*)
        }
    }
}

/// `id`, `set_id`, `version`, `set_version`.
fn accessors(plan: &Plan) -> TokenStream {
    let (id, id_ops) = plan.id();
    let (version, version_ops) = plan.version();
    quote! {
        fn id(&self) -> &::core::primitive::str {
            (#id_ops.as_id)(&self.#id)
        }

        fn set_id(&mut self, __id: ::std::string::String) {
            self.#id = (#id_ops.from_id)(__id);
        }

        fn version(&self) -> ::core::option::Option<&::core::primitive::str> {
            (#version_ops.get)(&self.#version)
        }

        fn set_version(&mut self, __version: ::core::option::Option<::std::string::String>) {
            self.#version = (#version_ops.from_version)(__version);
        }
    }
}

/// `to_record`: `id`, `version`, then the data columns in schema order.
fn to_record(cont: &Container, plan: &Plan, core: &TokenStream) -> TokenStream {
    let table = &cont.table;
    let (id, id_ops) = plan.id();
    let (version, version_ops) = plan.version();
    let n = 2 + data_fields(cont).count();
    let pushes = data_fields(cont).map(|(i, f, column, json)| {
        let member = f.ident;
        let ops = ops(i);
        if json {
            quote!(__record.push(#column, #ops.encode(&self.#member, #table, #column)?);)
        } else {
            quote!(__record.push(#column, #ops.encode(&self.#member));)
        }
    });
    quote! {
        fn to_record(&self) -> ::core::result::Result<#core::Record, #core::EncodeError> {
            let mut __record = #core::Record::with_capacity(#n);
            __record.push("id", (#id_ops.as_id)(&self.#id));
            __record.push(
                "version",
                #core::__private::encode_version((#version_ops.get)(&self.#version)),
            );
            #(#pushes)*
            ::core::result::Result::Ok(__record)
        }
    }
}

/// `from_record`: the id first, so that every later error names the row; then every
/// other field in declaration order. `skip` fields get their default, and so do fields
/// with a default (local-only ones included) whose column is missing or `Null`.
fn from_record(cont: &Container, plan: &Plan, core: &TokenStream) -> TokenStream {
    let table = &cont.table;
    let private = quote!(#core::__private);
    let (_, id_ops) = plan.id();
    let local = |i: usize| Ident::new(&format!("__field_{i}"), Span::call_site());
    let decodes = cont.fields.iter().enumerate().filter_map(|(i, f)| {
        let ops = ops(i);
        let default = default_fn(i);
        let value = match &f.role {
            Role::Id => return None,
            Role::Version => quote! {
                #private::decode_version(&mut __record, #table)
            },
            Role::Server(col) => {
                let column = col.column();
                quote!(#ops.decode_server(&mut __record, #table, #column, #default))
            }
            Role::Skip => quote!(#default()),
            Role::Data { column, .. } if f.default().is_some() => {
                quote!(#ops.decode_or(&mut __record, #table, #column, #default))
            }
            Role::Data { column, .. } => quote!(#ops.decode(&mut __record, #table, #column)),
        };
        let value = match &f.role {
            Role::Skip => value,
            Role::Version => quote!((#ops.from_version)(#value.map_err(__in_row)?)),
            _ => quote!(#value.map_err(__in_row)?),
        };
        let name = local(i);
        Some(quote!(let #name = #value;))
    });
    let inits = cont.fields.iter().enumerate().map(|(i, f)| {
        let member = f.ident;
        if f.role == Role::Id {
            quote!(#member: (#id_ops.from_id)(__id))
        } else {
            let name = local(i);
            quote!(#member: #name)
        }
    });
    quote! {
        fn from_record(
            mut __record: #core::Record,
        ) -> ::core::result::Result<Self, #core::DecodeError> {
            let __id = #private::decode::<::std::string::String>(&mut __record, #table, "id")?;
            let __in_row = |__error: #core::DecodeError| __error.with_id(__id.as_str());
            #(#decodes)*
            ::core::result::Result::Ok(Self { #(#inits,)* })
        }
    }
}

/// `changed_columns`: synced data fields only, in schema order.
fn changed_columns(cont: &Container) -> TokenStream {
    let checks: Vec<TokenStream> = synced_fields(cont)
        .map(|(i, f, column, _)| {
            let member = f.ident;
            let ops = ops(i);
            quote! {
                if !#ops.same(&self.#member, &__other.#member) {
                    __changed.push(#column);
                }
            }
        })
        .collect();
    let body = if checks.is_empty() {
        quote!(::std::vec::Vec::new())
    } else {
        quote! {
            let mut __changed = ::std::vec::Vec::new();
            #(#checks)*
            __changed
        }
    };
    quote! {
        fn changed_columns(
            &self,
            __other: &Self,
        ) -> ::std::vec::Vec<&'static ::core::primitive::str> {
            #body
        }
    }
}

/// A field's name as the app wrote it (`r#type` is `type`), as conflicts report it.
fn field_name(field: &Field) -> String {
    field.ident.unraw().to_string()
}

/// `field_of` and `column_of`: the synced data fields' names and their columns, both
/// ways (local-only fields are never in a conflict).
fn field_names(cont: &Container, core: &TokenStream) -> TokenStream {
    let pairs: Vec<(String, &str)> = synced_fields(cont)
        .map(|(_, f, column, _)| (field_name(f), column))
        .collect();
    let to_field = pairs
        .iter()
        .map(|(field, column)| quote!((#column, #field)));
    let to_column = pairs
        .iter()
        .map(|(field, column)| quote!(#field => ::core::option::Option::Some(#column),));
    quote! {
        fn field_of(
            __column: &::core::primitive::str,
        ) -> ::core::option::Option<&'static ::core::primitive::str> {
            #core::__private::field_of(&[#(#to_field),*], __column)
        }

        fn column_of(
            __field: &::core::primitive::str,
        ) -> ::core::option::Option<&'static ::core::primitive::str> {
            match __field {
                #(#to_column)*
                _ => ::core::option::Option::None,
            }
        }
    }
}

/// `merge3`: `local` and `remote` are taken apart by value (no `Clone` needed); data
/// fields merge 3-way (a clash is reported by the field's name), the id, local-only and
/// `skip` fields come from `local`, the version and server-maintained fields from
/// `remote`.
fn merge3(cont: &Container, core: &TokenStream) -> TokenStream {
    let mut local_pat = Vec::new();
    let mut remote_pat = Vec::new();
    let mut merges = Vec::new();
    let mut inits = Vec::new();
    for (i, f) in cont.fields.iter().enumerate() {
        let member = f.ident;
        let l = Ident::new(&format!("__local_{i}"), Span::call_site());
        let r = Ident::new(&format!("__remote_{i}"), Span::call_site());
        match &f.role {
            Role::Id | Role::Skip | Role::Data { local: true, .. } => {
                local_pat.push(quote!(#member: #l));
                remote_pat.push(quote!(#member: _));
                inits.push(quote!(#member: #l));
            }
            Role::Version | Role::Server(_) => {
                local_pat.push(quote!(#member: _));
                remote_pat.push(quote!(#member: #r));
                inits.push(quote!(#member: #r));
            }
            Role::Data { .. } => {
                let ops = ops(i);
                let field = field_name(f);
                local_pat.push(quote!(#member: #l));
                remote_pat.push(quote!(#member: #r));
                merges.push(quote! {
                    let #l = if #ops.same(&#l, &__base.#member) {
                        #r
                    } else if #ops.same(&#r, &__base.#member) || #ops.same(&#l, &#r) {
                        #l
                    } else {
                        __clashes.push(::std::string::String::from(#field));
                        #l
                    };
                });
                inits.push(quote!(#member: #l));
            }
        }
    }
    let clashes_decl = if merges.is_empty() {
        quote!(let __clashes = ::std::vec::Vec::new();)
    } else {
        quote!(let mut __clashes = ::std::vec::Vec::new();)
    };
    quote! {
        fn merge3(__base: &Self, __local: Self, __remote: Self) -> #core::Merged<Self> {
            let Self { #(#local_pat,)* } = __local;
            let Self { #(#remote_pat,)* } = __remote;
            #clashes_decl
            #(#merges)*
            #core::Merged {
                value: Self { #(#inits,)* },
                clashes: __clashes,
            }
        }
    }
}

/// The name of the struct of column handles: `InspectionColumns` for `Inspection`.
pub fn columns_struct_name(ident: &Ident) -> Ident {
    Ident::new(&format!("{}Columns", ident.unraw()), ident.span())
}

/// The system columns, by the role of the field that may mirror them: the handle's
/// default name, the column, its value type and nullability (fixed by the protocol,
/// whatever the mirroring field's type), and what it is for the docs.
fn system_handles(
    core: &TokenStream,
) -> [(
    Role,
    &'static str,
    &'static str,
    TokenStream,
    bool,
    &'static str,
); 5] {
    let text = quote!(::std::string::String);
    let instant = quote!(#core::chrono::DateTime<#core::chrono::Utc>);
    [
        (Role::Id, "id", "id", text.clone(), false, "the item's id"),
        (
            Role::Version,
            "version",
            "version",
            text,
            true,
            "the server's version of the item (`Null` until pushed)",
        ),
        (
            Role::Server(ServerColumn::UpdatedAt),
            "updated_at",
            "updatedAt",
            instant.clone(),
            true,
            "the time of the item's last write (the server's once synced)",
        ),
        (
            Role::Server(ServerColumn::CreatedAt),
            "created_at",
            "createdAt",
            instant,
            true,
            "the server's time of the item's insert (`Null` until pushed)",
        ),
        (
            Role::Server(ServerColumn::Deleted),
            "deleted",
            "deleted",
            quote!(::core::primitive::bool),
            false,
            "the soft-delete flag",
        ),
    ]
}

/// The struct of column handles (beside the struct, so that it can be named) and the
/// `columns()` function making it.
///
/// One handle per column, in schema order, named after its field: system columns
/// first (named `id`, `version`, `updated_at`, `created_at`, `deleted` unless a field
/// mirrors them, whose name is then used; omitted if a data field already has that
/// name), then every data field but `json` ones (no comparison on a document) and
/// `skip` ones (not a column). A field of type `Option<T>` gets a nullable handle on
/// `T`. Everything shares the struct's visibility.
fn columns(cont: &Container, core: &TokenStream) -> (TokenStream, TokenStream) {
    let ident = cont.ident;
    let vis = cont.vis;
    let name = columns_struct_name(ident);
    let store = quote!(#core::store);
    let nullable = quote!(#store::Nullable);
    let handle = |ty: TokenStream, null: bool| {
        if null {
            quote!(#store::TypedColumn<#ident, #ty, #nullable>)
        } else {
            quote!(#store::TypedColumn<#ident, #ty>)
        }
    };
    let data_names: Vec<String> = data_fields(cont)
        .map(|(_, f, _, _)| field_name(f))
        .collect();

    let mut fields = Vec::new();
    let mut inits = Vec::new();
    for (role, default_name, column, ty, null, what) in system_handles(core) {
        let member = match cont.field_with(&role) {
            Some(f) => f.ident.clone(),
            None if data_names.iter().any(|n| n == default_name) => continue,
            None => Ident::new(default_name, Span::call_site()),
        };
        let doc = format!("`{column}`: {what} (a system column).");
        let ty = handle(ty, null);
        fields.push(quote!(#[doc = #doc] #vis #member: #ty));
        inits.push(quote!(#member: #store::TypedColumn::new(#column)));
    }
    for (_, f, column, json) in data_fields(cont) {
        if json {
            continue;
        }
        let member = f.ident;
        let ty = match option_inner(f.ty) {
            Some(inner) => handle(quote!(#inner), true),
            None => {
                let ty = f.ty;
                handle(quote!(#ty), false)
            }
        };
        let doc = if is_local(f) {
            format!(
                "`{column}`: the column of `{}` (local-only: usable in local queries and counts, refused in a pull filter).",
                field_name(f)
            )
        } else {
            format!("`{column}`: the column of `{}`.", field_name(f))
        };
        fields.push(quote!(#[doc = #doc] #vis #member: #ty));
        inits.push(quote!(#member: #store::TypedColumn::new(#column)));
    }

    let struct_doc = format!(
        "The typed column handles of [`{ident}`], made by `#[derive(Syncable)]` and reached \
         through [`{ident}::columns()`]: each builds the filters and sort keys of one column, \
         with values of its field's type."
    );
    let fn_doc = format!(
        "The typed column handles of this table (see [`{name}`]): \
         `{ident}::columns().field.eq(value)` is a filter on the field's column."
    );
    let columns_struct = quote! {
        #[doc = #struct_doc]
        #[derive(::core::clone::Clone, ::core::marker::Copy, ::core::fmt::Debug)]
        #vis struct #name {
            #(#fields,)*
        }
    };
    let columns_fn = quote! {
        #[automatically_derived]
        impl #ident {
            #[doc = #fn_doc]
            #vis const fn columns() -> #name {
                #name { #(#inits,)* }
            }
        }
    };
    (columns_struct, columns_fn)
}
