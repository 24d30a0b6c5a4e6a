//! Code generation: parses the input into the typed form (`ast.rs`), runs the checks
//! (`check.rs`), and only when both are clean turns the form into the `Syncable` impl.
//!
//! Everything generated names items by absolute paths (`::core::...`, `::std::...`, and
//! sync-core through [`core_path`]) and prefixes its locals with `__`, so that the user's
//! own `Result`, `Option` or `String` cannot change its meaning.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{DeriveInput, Ident};

use crate::ast::{Container, Field, Role};
use crate::check;
use crate::core_path::core_path;
use crate::ctxt::Ctxt;

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

/// The fields `expand` needs, sorted by role. Only built from a checked container, where
/// the id and version exist exactly once.
struct Plan<'c, 'a> {
    id: &'c Field<'a>,
    version: &'c Field<'a>,
}

fn expand(cont: &Container) -> TokenStream {
    let core = core_path(cont.attrs.crate_path.get());
    let (Some(id), Some(version)) = (cont.field_with(&Role::Id), cont.field_with(&Role::Version))
    else {
        // Unreachable after `check`; a clear error beats a panic in a proc macro.
        return syn::Error::new(Span::call_site(), "`#[derive(Syncable)]`: no id or version")
            .to_compile_error();
    };
    let plan = Plan { id, version };
    let ident = cont.ident;

    let assertions = assertions(cont, &core);
    let schema = schema(cont, &core);
    let accessors = accessors(&plan, &core);
    let to_record = to_record(cont, &plan, &core);
    let from_record = from_record(cont, &core);
    let changed_columns = changed_columns(cont, &core);
    let merge3 = merge3(cont, &core);

    quote! {
        #[doc(hidden)]
        const _: () = {
            #assertions

            #[automatically_derived]
            impl #core::Syncable for #ident {
                #schema
                #accessors
                #to_record
                #from_record
                #changed_columns
                #merge3
            }
        };
    }
}

/// One compile-time check per field, spanned on the field's type so that a type the role
/// does not accept is reported on the field rather than on the derive.
fn assertions(cont: &Container, core: &TokenStream) -> TokenStream {
    let private = quote!(#core::__private);
    let checks = cont.fields.iter().map(|f| {
        let ty = f.ty;
        let span = ty.span();
        match &f.role {
            Role::Id => quote_spanned!(span=> #private::assert_id::<#ty>();),
            Role::Version => quote_spanned!(span=> #private::assert_version::<#ty>();),
            Role::Server(_) => quote_spanned! {span=>
                #private::assert_sync_value::<#ty>();
                #private::assert_default::<#ty>();
            },
            Role::Skip => quote_spanned!(span=> #private::assert_default::<#ty>();),
            Role::Data { json: true, .. } => quote_spanned!(span=> #private::assert_json::<#ty>();),
            Role::Data { json: false, .. } => {
                quote_spanned!(span=> #private::assert_sync_value::<#ty>();)
            }
        }
    });
    quote! {
        const _: () = {
            #(#checks)*
        };
    }
}

/// `schema()`: built once, system columns then one column per data field in order.
fn schema(cont: &Container, core: &TokenStream) -> TokenStream {
    let table = &cont.table;
    let columns = cont.data_fields().map(|(f, column, json)| {
        let ty = f.ty;
        if json {
            quote!(.with_column(#column, #core::ColumnType::Json, true))
        } else {
            quote_spanned! {ty.span()=>
                .with_column(
                    #column,
                    <#ty as #core::SyncValue>::COLUMN_TYPE,
                    <#ty as #core::SyncValue>::NULLABLE,
                )
            }
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
fn accessors(plan: &Plan, core: &TokenStream) -> TokenStream {
    let id = plan.id.ident;
    let id_ty = plan.id.ty;
    let version = plan.version.ident;
    let version_ty = plan.version.ty;
    let private = quote!(#core::__private);
    quote! {
        fn id(&self) -> &::core::primitive::str {
            <#id_ty as #private::IdField>::as_id(&self.#id)
        }

        fn set_id(&mut self, __id: ::std::string::String) {
            self.#id = <#id_ty as #private::IdField>::from_id(__id);
        }

        fn version(&self) -> ::core::option::Option<&::core::primitive::str> {
            <#version_ty as #private::VersionField>::get(&self.#version)
        }

        fn set_version(&mut self, __version: ::core::option::Option<::std::string::String>) {
            self.#version = <#version_ty as #private::VersionField>::from_version(__version);
        }
    }
}

/// `to_record`: `id`, `version`, then the data columns in schema order.
fn to_record(cont: &Container, plan: &Plan, core: &TokenStream) -> TokenStream {
    let table = &cont.table;
    let id = plan.id.ident;
    let id_ty = plan.id.ty;
    let version = plan.version.ident;
    let version_ty = plan.version.ty;
    let private = quote!(#core::__private);
    let n = 2 + cont.data_fields().count();
    let pushes = cont.data_fields().map(|(f, column, json)| {
        let member = f.ident;
        let ty = f.ty;
        if json {
            quote! {
                __record.push(#column, #private::encode_json(&self.#member, #table, #column)?);
            }
        } else {
            quote_spanned! {ty.span()=>
                __record.push(#column, <#ty as #core::SyncValue>::to_value(&self.#member));
            }
        }
    });
    quote! {
        fn to_record(&self) -> ::core::result::Result<#core::Record, #core::EncodeError> {
            let mut __record = #core::Record::with_capacity(#n);
            __record.push(
                "id",
                ::std::string::String::from(<#id_ty as #private::IdField>::as_id(&self.#id)),
            );
            __record.push(
                "version",
                #private::encode_version(
                    <#version_ty as #private::VersionField>::get(&self.#version),
                ),
            );
            #(#pushes)*
            ::core::result::Result::Ok(__record)
        }
    }
}

/// `from_record`: every field in declaration order; local-only fields get their default.
fn from_record(cont: &Container, core: &TokenStream) -> TokenStream {
    let table = &cont.table;
    let private = quote!(#core::__private);
    let inits = cont.fields.iter().map(|f| {
        let member = f.ident;
        let ty = f.ty;
        let value = match &f.role {
            Role::Id => quote! {
                <#ty as #private::IdField>::from_id(
                    #private::decode::<::std::string::String>(&mut __record, #table, "id")?,
                )
            },
            Role::Version => quote! {
                <#ty as #private::VersionField>::from_version(
                    #private::decode_version(&mut __record, #table)?,
                )
            },
            Role::Server(col) => {
                let column = col.column();
                quote_spanned! {ty.span()=>
                    #private::decode_server::<#ty>(&mut __record, #table, #column)?
                }
            }
            Role::Skip => quote!(::core::default::Default::default()),
            Role::Data { column, json: true } => quote! {
                #private::decode_json::<#ty>(&mut __record, #table, #column)?
            },
            Role::Data {
                column,
                json: false,
            } => quote_spanned! {ty.span()=>
                #private::decode::<#ty>(&mut __record, #table, #column)?
            },
        };
        quote!(#member: #value,)
    });
    quote! {
        fn from_record(
            mut __record: #core::Record,
        ) -> ::core::result::Result<Self, #core::DecodeError> {
            ::core::result::Result::Ok(Self { #(#inits)* })
        }
    }
}

/// The comparison of one data field between `a` and `b` (expressions of the field's type,
/// by reference).
fn same(
    core: &TokenStream,
    field: &Field,
    json: bool,
    a: &TokenStream,
    b: &TokenStream,
) -> TokenStream {
    let ty = field.ty;
    if json {
        quote!(#core::__private::json_same::<#ty>(#a, #b))
    } else {
        quote_spanned!(ty.span()=> #core::__private::same::<#ty>(#a, #b))
    }
}

/// `changed_columns`: data fields only, in schema order.
fn changed_columns(cont: &Container, core: &TokenStream) -> TokenStream {
    let checks: Vec<TokenStream> = cont
        .data_fields()
        .map(|(f, column, json)| {
            let member = f.ident;
            let same = same(
                core,
                f,
                json,
                &quote!(&self.#member),
                &quote!(&__other.#member),
            );
            quote! {
                if !#same {
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
        fn changed_columns(&self, __other: &Self) -> ::std::vec::Vec<&'static ::core::primitive::str> {
            #body
        }
    }
}

/// `merge3`: `local` and `remote` are taken apart by value (no `Clone` needed); data
/// fields merge 3-way, the id and local-only fields come from `local`, the version and
/// server-maintained fields from `remote`.
fn merge3(cont: &Container, core: &TokenStream) -> TokenStream {
    let local_name = |i: usize| Ident::new(&format!("__local_{i}"), Span::call_site());
    let remote_name = |i: usize| Ident::new(&format!("__remote_{i}"), Span::call_site());

    let mut local_pat = Vec::new();
    let mut remote_pat = Vec::new();
    let mut merges = Vec::new();
    let mut inits = Vec::new();
    for (i, f) in cont.fields.iter().enumerate() {
        let member = f.ident;
        let (l, r) = (local_name(i), remote_name(i));
        let from_local = matches!(f.role, Role::Id | Role::Skip);
        let from_remote = matches!(f.role, Role::Version | Role::Server(_));
        if from_local {
            local_pat.push(quote!(#member: #l));
            remote_pat.push(quote!(#member: _));
            inits.push(quote!(#member: #l));
        } else if from_remote {
            local_pat.push(quote!(#member: _));
            remote_pat.push(quote!(#member: #r));
            inits.push(quote!(#member: #r));
        } else if let Role::Data { column, json } = &f.role {
            local_pat.push(quote!(#member: #l));
            remote_pat.push(quote!(#member: #r));
            let base = quote!(&__base.#member);
            let local_is_base = same(core, f, *json, &quote!(&#l), &base);
            let remote_is_base = same(core, f, *json, &quote!(&#r), &base);
            let both_same = same(core, f, *json, &quote!(&#l), &quote!(&#r));
            merges.push(quote! {
                let #l = if #local_is_base {
                    #r
                } else if #remote_is_base || #both_same {
                    #l
                } else {
                    __clashes.push(::std::string::String::from(#column));
                    #l
                };
            });
            inits.push(quote!(#member: #l));
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
