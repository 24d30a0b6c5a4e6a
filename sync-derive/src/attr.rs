//! Attribute parsing: `#[table]`, `#[sync(...)]`, `#[id]`, `#[version]`, `#[updated_at]`,
//! `#[created_at]` and `#[deleted]` become typed [`Container`] and [`Field`] attributes.
//!
//! Only the syntax of each attribute is checked here (known keys, literal kinds, no
//! duplicates); rules involving several attributes live in `check.rs`.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::{Attribute, LitStr, Meta, Token};

use crate::ctxt::Ctxt;
use crate::names::RenameRule;
use crate::symbol::{
    CONTAINER_SYNC_KEYS, CRATE, CREATED_AT, DEFAULT, DELETED, FIELD_SYNC_KEYS, ID, JSON, LOCAL,
    RENAME, RENAME_ALL, SKIP, SYNC, Symbol, TABLE, UPDATED_AT, VERSION,
};

/// An attribute value that may be given at most once; remembers the tokens it came from
/// so that later errors can point at them.
pub struct Attr<T> {
    name: Symbol,
    value: Option<(TokenStream, T)>,
}

impl<T> Attr<T> {
    fn none(name: Symbol) -> Attr<T> {
        Attr { name, value: None }
    }

    /// Sets the value; a second occurrence is reported on its own tokens.
    fn set<S: ToTokens>(&mut self, cx: &Ctxt, spanned: S, value: T) {
        let tokens = spanned.into_token_stream();
        if self.value.is_some() {
            cx.error_spanned_by(
                tokens,
                format!("duplicate `{}` attribute: give it once", self.name),
            );
        } else {
            self.value = Some((tokens, value));
        }
    }

    /// The value, if given.
    pub fn get(&self) -> Option<&T> {
        self.value.as_ref().map(|(_, v)| v)
    }

    /// The tokens the value came from, for error spans.
    pub fn tokens(&self) -> Option<&TokenStream> {
        self.value.as_ref().map(|(t, _)| t)
    }

    /// Whether the attribute was given.
    pub fn is_set(&self) -> bool {
        self.value.is_some()
    }
}

/// A marker attribute without a value (`#[id]`, `#[sync(skip)]`).
pub type Flag = Attr<()>;

/// The struct's attributes.
pub struct Container {
    /// `#[table("Name")]`: the literal as written.
    pub table: Attr<LitStr>,
    /// `#[sync(rename_all = "...")]`.
    pub rename_all: Attr<RenameRule>,
    /// `#[sync(crate = "path")]`.
    pub crate_path: Attr<syn::Path>,
}

/// One field's attributes.
pub struct Field {
    /// `#[id]`.
    pub id: Flag,
    /// `#[version]`.
    pub version: Flag,
    /// `#[updated_at]`.
    pub updated_at: Flag,
    /// `#[created_at]`.
    pub created_at: Flag,
    /// `#[deleted]`.
    pub deleted: Flag,
    /// `#[sync(rename = "column")]`.
    pub rename: Attr<LitStr>,
    /// `#[sync(skip)]`.
    pub skip: Flag,
    /// `#[sync(local)]`.
    pub local: Flag,
    /// `#[sync(json)]`.
    pub json: Flag,
    /// `#[sync(default)]` or `#[sync(default = "path")]`.
    pub default: Attr<DefaultValue>,
}

/// Where a field's default comes from.
pub enum DefaultValue {
    /// `#[sync(default)]`: `Default::default()`.
    Trait,
    /// `#[sync(default = "path::to::fn")]`: a `fn() -> T`, parsed from the string and
    /// spanned at it, so that a wrong function is reported there.
    Path(syn::ExprPath),
}

/// The field-only marker attributes, for "goes on a field" errors.
const FIELD_MARKERS: [Symbol; 5] = [ID, VERSION, UPDATED_AT, CREATED_AT, DELETED];

impl Container {
    /// Parses the struct's attributes, reporting every malformed one.
    pub fn from_ast(cx: &Ctxt, attrs: &[Attribute]) -> Container {
        let mut out = Container {
            table: Attr::none(TABLE),
            rename_all: Attr::none(RENAME_ALL),
            crate_path: Attr::none(CRATE),
        };
        for attr in attrs {
            let path = attr.path();
            if *path == TABLE {
                parse_table(cx, attr, &mut out.table);
            } else if *path == SYNC {
                if !require_list(cx, attr, "#[sync(rename_all = \"camelCase\")]") {
                    continue;
                }
                let result = attr.parse_nested_meta(|meta| {
                    if meta.path == RENAME_ALL {
                        let lit = string_value(&meta, "#[sync(rename_all = \"camelCase\")]")?;
                        match RenameRule::from_name(&lit.value()) {
                            Some(rule) => out.rename_all.set(cx, &meta.path, rule),
                            None => cx.error_spanned_by(
                                &lit,
                                format!(
                                    "unknown `rename_all` rule {:?}: expected one of {}",
                                    lit.value(),
                                    RenameRule::accepted()
                                ),
                            ),
                        }
                    } else if meta.path == CRATE {
                        let lit = string_value(&meta, "#[sync(crate = \"path::to::sync_core\")]")?;
                        match lit.parse::<syn::Path>() {
                            Ok(path) => out.crate_path.set(cx, &meta.path, path),
                            Err(_) => cx.error_spanned_by(
                                &lit,
                                "expected a path to sync-core, e.g. `#[sync(crate = \"my_app::sync_core\")]`",
                            ),
                        }
                    } else {
                        unknown_key(cx, &meta, "the struct", CONTAINER_SYNC_KEYS, FIELD_SYNC_KEYS)?;
                    }
                    Ok(())
                });
                if let Err(err) = result {
                    cx.syn_error(err);
                }
            } else if let Some(marker) = FIELD_MARKERS.iter().find(|m| *path == **m) {
                cx.error_spanned_by(
                    attr,
                    format!("`#[{marker}]` goes on a field, not on the struct"),
                );
            }
        }
        out
    }
}

impl Field {
    /// Parses one field's attributes, reporting every malformed one.
    pub fn from_ast(cx: &Ctxt, attrs: &[Attribute]) -> Field {
        let mut out = Field {
            id: Attr::none(ID),
            version: Attr::none(VERSION),
            updated_at: Attr::none(UPDATED_AT),
            created_at: Attr::none(CREATED_AT),
            deleted: Attr::none(DELETED),
            rename: Attr::none(RENAME),
            skip: Attr::none(SKIP),
            local: Attr::none(LOCAL),
            json: Attr::none(JSON),
            default: Attr::none(DEFAULT),
        };
        for attr in attrs {
            let path = attr.path();
            if *path == SYNC {
                if !require_list(cx, attr, "#[sync(rename = \"columnName\")]") {
                    continue;
                }
                let result = attr.parse_nested_meta(|meta| {
                    if meta.path == RENAME {
                        let lit = string_value(&meta, "#[sync(rename = \"columnName\")]")?;
                        out.rename.set(cx, &meta.path, lit);
                    } else if meta.path == SKIP {
                        no_value(&meta, SKIP)?;
                        out.skip.set(cx, &meta.path, ());
                    } else if meta.path == LOCAL {
                        no_value(&meta, LOCAL)?;
                        out.local.set(cx, &meta.path, ());
                    } else if meta.path == JSON {
                        no_value(&meta, JSON)?;
                        out.json.set(cx, &meta.path, ());
                    } else if meta.path == DEFAULT {
                        if let Some(value) = parse_default(cx, &meta)? {
                            out.default.set(cx, &meta.path, value);
                        }
                    } else {
                        unknown_key(cx, &meta, "a field", FIELD_SYNC_KEYS, CONTAINER_SYNC_KEYS)?;
                    }
                    Ok(())
                });
                if let Err(err) = result {
                    cx.syn_error(err);
                }
            } else if *path == TABLE {
                cx.error_spanned_by(
                    attr,
                    "`#[table(\"Name\")]` goes on the struct, not on a field",
                );
            } else {
                let slot = if *path == ID {
                    &mut out.id
                } else if *path == VERSION {
                    &mut out.version
                } else if *path == UPDATED_AT {
                    &mut out.updated_at
                } else if *path == CREATED_AT {
                    &mut out.created_at
                } else if *path == DELETED {
                    &mut out.deleted
                } else {
                    continue;
                };
                match &attr.meta {
                    Meta::Path(p) => slot.set(cx, p, ()),
                    _ => cx.error_spanned_by(
                        attr,
                        format!("`#[{0}]` takes no arguments: write `#[{0}]`", slot.name),
                    ),
                }
            }
        }
        out
    }
}

/// `#[table("Name")]`: exactly one string literal in parentheses.
fn parse_table(cx: &Ctxt, attr: &Attribute, slot: &mut Attr<LitStr>) {
    const EXPECTED: &str = "expected the table name as a string literal: `#[table(\"TodoItem\")]`";
    let Meta::List(list) = &attr.meta else {
        cx.error_spanned_by(attr, EXPECTED);
        return;
    };
    match syn::parse2::<syn::Lit>(list.tokens.clone()) {
        Ok(syn::Lit::Str(lit)) => slot.set(cx, attr, lit),
        Ok(other) => cx.error_spanned_by(other, EXPECTED),
        Err(_) if list.tokens.is_empty() => cx.error_spanned_by(attr, EXPECTED),
        Err(_) => cx.error_spanned_by(&list.tokens, EXPECTED),
    }
}

/// `#[sync]` and `#[sync = ...]` are reported; returns whether `attr` is a list.
fn require_list(cx: &Ctxt, attr: &Attribute, example: &str) -> bool {
    if matches!(attr.meta, Meta::List(_)) {
        true
    } else {
        cx.error_spanned_by(
            attr,
            format!("expected `#[sync(...)]` with keys in parentheses, e.g. `{example}`"),
        );
        false
    }
}

/// The string literal after `key =`.
fn string_value(meta: &ParseNestedMeta, example: &str) -> syn::Result<LitStr> {
    let expected = || format!("expected a string literal: `{example}`");
    if !meta.input.peek(Token![=]) {
        return Err(meta.error(expected()));
    }
    let expr: syn::Expr = meta.value()?.parse()?;
    match expr {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(lit),
            ..
        }) => Ok(lit),
        other => Err(syn::Error::new_spanned(other, expected())),
    }
}

/// `default` alone, or `default = "path::to::fn"` (serde's form); `None` when the path
/// does not parse (reported, so that the keys after it are still checked).
fn parse_default(cx: &Ctxt, meta: &ParseNestedMeta) -> syn::Result<Option<DefaultValue>> {
    const EXAMPLE: &str = "#[sync(default = \"path::to::fn\")]";
    if meta.input.is_empty() || meta.input.peek(Token![,]) {
        return Ok(Some(DefaultValue::Trait));
    }
    if !meta.input.peek(Token![=]) {
        return Err(meta.error(format!(
            "expected `#[sync({DEFAULT})]` (the type's `Default`) or `{EXAMPLE}` (a function returning the field's value)"
        )));
    }
    let lit = string_value(meta, EXAMPLE)?;
    match lit.parse::<syn::ExprPath>() {
        Ok(path) => Ok(Some(DefaultValue::Path(path))),
        Err(_) => {
            cx.error_spanned_by(
                &lit,
                format!(
                    "expected a path to a function returning the field's value, e.g. `{EXAMPLE}` or `#[sync(default = \"Priority::normal\")]`"
                ),
            );
            Ok(None)
        }
    }
}

/// A flag key (`skip`, `local`, `json`) must not carry `= value` or `(...)`.
fn no_value(meta: &ParseNestedMeta, key: Symbol) -> syn::Result<()> {
    if meta.input.is_empty() || meta.input.peek(Token![,]) {
        Ok(())
    } else {
        Err(meta.error(format!("`{key}` takes no value: write `#[sync({key})]`")))
    }
}

/// Reports an unknown `#[sync(...)]` key, listing the known ones, then skips its value so
/// that the keys after it are still checked.
fn unknown_key(
    cx: &Ctxt,
    meta: &ParseNestedMeta,
    place: &str,
    known: &[Symbol],
    elsewhere: &[Symbol],
) -> syn::Result<()> {
    let key = meta.path.to_token_stream().to_string().replace(' ', "");
    let hint = if elsewhere.iter().any(|s| meta.path == *s) {
        let other = if place == "a field" {
            "the struct"
        } else {
            "a field"
        };
        format!("; `{key}` goes on {other}")
    } else {
        String::new()
    };
    cx.error_spanned_by(
        &meta.path,
        format!(
            "unknown `sync` attribute key `{key}` on {place}: expected {}{hint}",
            Symbol::list(known)
        ),
    );
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<syn::Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _content;
        syn::parenthesized!(_content in meta.input);
    }
    Ok(())
}
