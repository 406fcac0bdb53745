//! `#[dask(...)]` attributes, parsed into plain data. One branch per key;
//! unknown keys, duplicates and bad literals are reported with their span.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::{Ident, LitStr};

use crate::case::RenameRule;
use crate::ctxt::Ctxt;

/// A value that may be set once; a second setting is reported.
struct Attr<'c, T> {
    cx: &'c Ctxt,
    name: &'static str,
    value: Option<T>,
}

impl<'c, T> Attr<'c, T> {
    fn none(cx: &'c Ctxt, name: &'static str) -> Self {
        Attr {
            cx,
            name,
            value: None,
        }
    }

    fn set(&mut self, meta: &ParseNestedMeta<'_>, value: T) {
        if self.value.is_some() {
            self.cx
                .error_spanned_by(&meta.path, format!("duplicate dask attribute `{}`", self.name));
        } else {
            self.value = Some(value);
        }
    }

    fn get(self) -> Option<T> {
        self.value
    }
}

/// A flag such as `frame`.
struct Flag<'c> {
    inner: Attr<'c, Span>,
}

impl<'c> Flag<'c> {
    fn none(cx: &'c Ctxt, name: &'static str) -> Self {
        Flag {
            inner: Attr::none(cx, name),
        }
    }
    fn set(&mut self, meta: &ParseNestedMeta<'_>) {
        let span = meta.path.get_ident().map_or_else(Span::call_site, Ident::span);
        if meta.input.peek(syn::Token![=]) || meta.input.peek(syn::token::Paren) {
            self.inner.cx.error_spanned_by(
                &meta.path,
                format!("`{0}` takes no value: write `#[dask({0})]`", self.inner.name),
            );
            skip_value(meta);
            return;
        }
        self.inner.set(meta, span);
    }
    fn get(self) -> Option<Span> {
        self.inner.get()
    }
}

/// Container attributes.
pub struct Container {
    pub python: Option<(String, Span)>,
    pub rename_all: Option<RenameRule>,
    pub krate: Option<syn::Path>,
    pub deny_unknown_fields: Option<Span>,
    pub bound: Option<Vec<syn::WherePredicate>>,
}

fn get_lit_str(cx: &Ctxt, key: &str, meta: &ParseNestedMeta<'_>) -> Option<LitStr> {
    let value = match meta.value() {
        Ok(v) => v,
        Err(_) => {
            cx.error_spanned_by(&meta.path, format!("expected `{key} = \"...\"`"));
            return None;
        }
    };
    match value.parse::<syn::Expr>() {
        Ok(syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        })) => Some(s),
        Ok(other) => {
            cx.error_spanned_by(
                other,
                format!("expected a string literal for `{key}`, like `{key} = \"...\"`"),
            );
            None
        }
        Err(e) => {
            cx.syn_error(e);
            None
        }
    }
}

fn parse_where(cx: &Ctxt, lit: &LitStr) -> Option<Vec<syn::WherePredicate>> {
    let text = lit.value();
    if text.trim().is_empty() {
        return Some(Vec::new());
    }
    match syn::parse_str::<syn::WhereClause>(&format!("where {text}")) {
        Ok(w) => Some(w.predicates.into_iter().collect()),
        Err(e) => {
            cx.error_spanned_by(lit, format!("invalid `bound`: {e}"));
            None
        }
    }
}

/// Splits `pkg.mod.Class` (module = everything before the last dot) or
/// `pkg.mod:Outer.Inner` (explicit module and qualified name) into
/// `(module, qualname)`.
pub fn split_python_path(s: &str) -> Option<(&str, &str)> {
    match s.split_once(':') {
        Some((m, q)) => Some((m, q)),
        None => s.rsplit_once('.'),
    }
}

/// Is this a valid Python class path (see [`split_python_path`])?
fn valid_python_path(s: &str) -> bool {
    let Some((module, qualname)) = split_python_path(s) else {
        return false;
    };
    let idents = |x: &str| {
        !x.is_empty()
            && x.split('.').all(|p| {
                let mut c = p.chars();
                matches!(c.next(), Some(f) if f == '_' || f.is_alphabetic())
                    && c.all(|c| c == '_' || c.is_alphanumeric())
            })
    };
    idents(module) && idents(qualname)
}

impl Container {
    pub fn from_ast(cx: &Ctxt, attrs: &[syn::Attribute]) -> Self {
        let mut python = Attr::none(cx, "python");
        let mut rename_all = Attr::none(cx, "rename_all");
        let mut krate = Attr::none(cx, "crate");
        let mut deny = Flag::none(cx, "deny_unknown_fields");
        let mut bound = Attr::none(cx, "bound");

        for attr in attrs.iter().filter(|a| a.path().is_ident("dask")) {
            let res = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("python") {
                    if let Some(s) = get_lit_str(cx, "python", &meta) {
                        if valid_python_path(&s.value()) {
                            python.set(&meta, (s.value(), s.span()));
                        } else {
                            cx.error_spanned_by(
                                &s,
                                "`python` must be a class path like \"pkg.module.Class\" (or \"pkg.module:Outer.Inner\" for a nested class)",
                            );
                        }
                    }
                } else if meta.path.is_ident("rename_all") {
                    if let Some(s) = get_lit_str(cx, "rename_all", &meta) {
                        match RenameRule::parse(&s.value()) {
                            Some(r) => rename_all.set(&meta, r),
                            None => {
                                let names: Vec<&str> = RenameRule::ALL.iter().map(|(n, _)| *n).collect();
                                cx.error_spanned_by(
                                    &s,
                                    format!("unknown rename rule, expected one of {}", names.join(", ")),
                                )
                            }
                        }
                    }
                } else if meta.path.is_ident("crate") {
                    if let Some(s) = get_lit_str(cx, "crate", &meta) {
                        match s.parse::<syn::Path>() {
                            Ok(p) => krate.set(&meta, p),
                            Err(_) => cx.error_spanned_by(&s, "`crate` must be a path like \"::dask_serde\""),
                        }
                    }
                } else if meta.path.is_ident("deny_unknown_fields") {
                    deny.set(&meta);
                } else if meta.path.is_ident("bound") {
                    if let Some(s) = get_lit_str(cx, "bound", &meta) {
                        if let Some(w) = parse_where(cx, &s) {
                            bound.set(&meta, w);
                        }
                    }
                } else {
                    let key = meta.path.to_token_stream_string();
                    cx.error_spanned_by(
                        &meta.path,
                        format!(
                            "unknown dask container attribute `{key}` (expected python, rename_all, crate, deny_unknown_fields or bound)"
                        ),
                    );
                    skip_value(&meta);
                }
                Ok(())
            });
            if let Err(e) = res {
                cx.syn_error(e);
            }
        }
        Container {
            python: python.get(),
            rename_all: rename_all.get(),
            krate: krate.get(),
            deny_unknown_fields: deny.get(),
            bound: bound.get(),
        }
    }
}

/// How a missing field is filled in.
pub enum FieldDefault {
    None,
    Trait,
    Path(syn::ExprPath),
}

/// Field attributes.
pub struct Field {
    pub rename: Option<String>,
    pub frame: Option<Span>,
    pub header: Option<Span>,
    pub skip: Option<Span>,
    pub default: FieldDefault,
    pub with: Option<syn::Path>,
}

impl Field {
    pub fn from_ast(cx: &Ctxt, attrs: &[syn::Attribute]) -> Self {
        let mut rename = Attr::none(cx, "rename");
        let mut frame = Flag::none(cx, "frame");
        let mut header = Flag::none(cx, "header");
        let mut skip = Flag::none(cx, "skip");
        let mut default = Attr::none(cx, "default");
        let mut with = Attr::none(cx, "with");

        for attr in attrs.iter().filter(|a| a.path().is_ident("dask")) {
            let res = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    if let Some(s) = get_lit_str(cx, "rename", &meta) {
                        if s.value().is_empty() {
                            cx.error_spanned_by(&s, "`rename` must not be empty");
                        } else {
                            rename.set(&meta, s.value());
                        }
                    }
                } else if meta.path.is_ident("frame") {
                    frame.set(&meta);
                } else if meta.path.is_ident("header") {
                    header.set(&meta);
                } else if meta.path.is_ident("skip") {
                    skip.set(&meta);
                } else if meta.path.is_ident("default") {
                    if meta.input.peek(syn::Token![=]) {
                        if let Some(s) = get_lit_str(cx, "default", &meta) {
                            match s.parse::<syn::ExprPath>() {
                                Ok(p) => default.set(&meta, FieldDefault::Path(p)),
                                Err(_) => cx.error_spanned_by(&s, "`default` must name a function, like \"my_default\""),
                            }
                        }
                    } else {
                        default.set(&meta, FieldDefault::Trait);
                    }
                } else if meta.path.is_ident("with") {
                    if let Some(s) = get_lit_str(cx, "with", &meta) {
                        match s.parse::<syn::Path>() {
                            Ok(p) => with.set(&meta, p),
                            Err(_) => cx.error_spanned_by(&s, "`with` must name a module, like \"my_module\""),
                        }
                    }
                } else {
                    let key = meta.path.to_token_stream_string();
                    cx.error_spanned_by(
                        &meta.path,
                        format!(
                            "unknown dask field attribute `{key}` (expected frame, header, rename, skip, default or with)"
                        ),
                    );
                    skip_value(&meta);
                }
                Ok(())
            });
            if let Err(e) = res {
                cx.syn_error(e);
            }
        }
        Field {
            rename: rename.get(),
            frame: frame.get(),
            header: header.get(),
            skip: skip.get(),
            default: default.get().unwrap_or(FieldDefault::None),
            with: with.get(),
        }
    }
}

/// Variant attributes (unit enums).
pub struct Variant {
    pub rename: Option<String>,
}

impl Variant {
    pub fn from_ast(cx: &Ctxt, attrs: &[syn::Attribute]) -> Self {
        let mut rename = Attr::none(cx, "rename");
        for attr in attrs.iter().filter(|a| a.path().is_ident("dask")) {
            let res = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    if let Some(s) = get_lit_str(cx, "rename", &meta) {
                        rename.set(&meta, s.value());
                    }
                } else {
                    let key = meta.path.to_token_stream_string();
                    cx.error_spanned_by(
                        &meta.path,
                        format!("unknown dask variant attribute `{key}` (expected rename)"),
                    );
                    skip_value(&meta);
                }
                Ok(())
            });
            if let Err(e) = res {
                cx.syn_error(e);
            }
        }
        Variant { rename: rename.get() }
    }
}

/// Consumes `= value` after an unknown key so parsing can continue.
fn skip_value(meta: &ParseNestedMeta<'_>) {
    if meta.input.peek(syn::Token![=]) {
        if let Ok(v) = meta.value() {
            let _ = v.parse::<syn::Expr>();
        }
    } else if meta.input.peek(syn::token::Paren) {
        let _ = meta.parse_nested_meta(|m| {
            skip_value(&m);
            Ok(())
        });
    }
}

trait PathString {
    fn to_token_stream_string(&self) -> String;
}

impl PathString for syn::Path {
    fn to_token_stream_string(&self) -> String {
        quote::ToTokens::to_token_stream(self)
            .to_string()
            .replace(' ', "")
    }
}
