//! `#[dask(...)]` attributes, parsed into plain data. One branch per key;
//! unknown keys, duplicates and bad literals are reported with their span.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::{Ident, LitStr};

use crate::case::RenameRule;
use crate::ctxt::Ctxt;

/// A value that may be set once; a second setting is reported.
struct Attr<'c, T> {
    /// Where a duplicate is reported.
    cx: &'c Ctxt,
    /// The key, for messages.
    name: &'static str,
    /// The value, once set.
    value: Option<T>,
}

impl<'c, T> Attr<'c, T> {
    /// The key `name`, not set yet.
    fn none(cx: &'c Ctxt, name: &'static str) -> Self {
        Attr {
            cx,
            name,
            value: None,
        }
    }

    /// Sets the value, or reports a duplicate at `meta`'s key.
    fn set(&mut self, meta: &ParseNestedMeta<'_>, value: T) {
        if self.value.is_some() {
            self.cx
                .error_spanned_by(&meta.path, format!("duplicate dask attribute `{}`", self.name));
        } else {
            self.value = Some(value);
        }
    }

    /// The value, if set.
    fn get(self) -> Option<T> {
        self.value
    }
}

/// A flag such as `frame`: a key without a value.
struct Flag<'c> {
    /// The span of the key, once set.
    inner: Attr<'c, Span>,
}

impl<'c> Flag<'c> {
    /// The flag `name`, not set yet.
    fn none(cx: &'c Ctxt, name: &'static str) -> Self {
        Flag {
            inner: Attr::none(cx, name),
        }
    }

    /// Sets the flag, or reports a duplicate or a value given to it.
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

    /// The span of the flag, if set.
    fn get(self) -> Option<Span> {
        self.inner.get()
    }
}

/// The string literal of `key = "..."`; anything else is reported.
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

/// The predicates of `bound = "..."` (an empty string: none).
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

/// Container attributes (`#[dask(...)]` on the struct or enum).
pub struct Container {
    /// `python = "pkg.mod.Class"` (validated by [`valid_python_path`]) and
    /// the span of its literal.
    pub python: Option<(String, Span)>,
    /// `rename_all = "..."`.
    pub rename_all: Option<RenameRule>,
    /// `crate = "path"`: the path of the `dask_serde` crate.
    pub krate: Option<syn::Path>,
    /// Span of `deny_unknown_fields`.
    pub deny_unknown_fields: Option<Span>,
    /// `bound = "..."`: the where-clause replacing the inferred one.
    pub bound: Option<Vec<syn::WherePredicate>>,
}

impl Container {
    /// Parses the `#[dask(...)]` attributes of the container.
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
                    let key = path_string(&meta.path);
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

/// How a missing (or skipped) field is filled in.
pub enum FieldDefault {
    /// No `default` key.
    None,
    /// `default`: `Default::default()`.
    Trait,
    /// `default = "path"`: a call of the function `path`.
    Path(syn::ExprPath),
}

/// Where a field goes on the wire: decided once, from its `frame`,
/// `header`, `with` and `skip` keys, by [`Placement::decide`].
pub enum Placement {
    /// No placement key: the field type's `SerializeField` /
    /// `DeserializeField` impl decides (header value, frame or nested
    /// header), and `DeserializeField::missing` may fill in an absent one.
    Auto,
    /// `header`: a msgpack value in the header (`simple`), through the
    /// type's `ToMsgpack` / `FromMsgpack`.
    Header,
    /// `frame`: the field's own `dask` serialization into frames
    /// (`complex`), through the type's `DaskSerialize` / `DaskDeserialize`.
    Frame,
    /// `with = "module"`: `module::serialize_field` and
    /// `module::deserialize_field` decide.
    With(syn::Path),
    /// `skip`: not sent; decoding rebuilds it from its default.
    Skip,
}

/// The placement keys of one field as written, before
/// [`Placement::decide`] turns them into a [`Placement`].
struct PlacementKeys {
    /// Span of `frame`.
    frame: Option<Span>,
    /// Span of `header`.
    header: Option<Span>,
    /// The module of `with = "..."`.
    with: Option<syn::Path>,
    /// Span of `skip`.
    skip: Option<Span>,
}

impl Placement {
    /// The placement the keys ask for. Keys that contradict each other
    /// are reported (`renamed`: the field also has `rename`, which a
    /// skipped field cannot use); the result then only matters for the
    /// checks that follow, as no code is generated.
    fn decide(cx: &Ctxt, keys: PlacementKeys, renamed: bool) -> Self {
        let PlacementKeys {
            frame,
            header,
            with,
            skip,
        } = keys;
        if let (Some(_), Some(h)) = (frame, header) {
            cx.syn_error(syn::Error::new(
                h,
                "`frame` and `header` cannot both be set on a field",
            ));
        }
        if with.is_some() {
            if let Some(s) = frame.or(header) {
                cx.syn_error(syn::Error::new(
                    s,
                    "`with` decides the placement itself: remove `frame`/`header`",
                ));
            }
        }
        if let Some(s) = skip {
            if frame.is_some() || header.is_some() || with.is_some() || renamed {
                cx.syn_error(syn::Error::new(
                    s,
                    "a skipped field is not sent: `frame`, `header`, `with` and `rename` do not apply",
                ));
            }
        }
        match (skip, with, frame, header) {
            (Some(_), _, _, _) => Placement::Skip,
            (None, Some(module), _, _) => Placement::With(module),
            (None, None, Some(_), _) => Placement::Frame,
            (None, None, None, Some(_)) => Placement::Header,
            (None, None, None, None) => Placement::Auto,
        }
    }
}

/// Field attributes.
pub struct Field {
    /// `rename = "name"`: the attribute name on the wire.
    pub rename: Option<String>,
    /// Where the field goes (`frame`, `header`, `with`, `skip` or none).
    pub placement: Placement,
    /// What fills the field in when it is absent (or skipped).
    pub default: FieldDefault,
}

impl Field {
    /// Parses the `#[dask(...)]` attributes of a field.
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
                    let key = path_string(&meta.path);
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
        let rename = rename.get();
        let keys = PlacementKeys {
            frame: frame.get(),
            header: header.get(),
            with: with.get(),
            skip: skip.get(),
        };
        Field {
            placement: Placement::decide(cx, keys, rename.is_some()),
            rename,
            default: default.get().unwrap_or(FieldDefault::None),
        }
    }
}

/// Variant attributes (unit enums).
pub struct Variant {
    /// `rename = "name"`: the str sent for this variant.
    pub rename: Option<String>,
}

impl Variant {
    /// Parses the `#[dask(...)]` attributes of a variant.
    pub fn from_ast(cx: &Ctxt, attrs: &[syn::Attribute]) -> Self {
        let mut rename = Attr::none(cx, "rename");
        for attr in attrs.iter().filter(|a| a.path().is_ident("dask")) {
            let res = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    if let Some(s) = get_lit_str(cx, "rename", &meta) {
                        rename.set(&meta, s.value());
                    }
                } else {
                    let key = path_string(&meta.path);
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

/// `path` as written, for messages (`a::b`, not `a :: b`).
fn path_string(path: &syn::Path) -> String {
    quote::ToTokens::to_token_stream(path)
        .to_string()
        .replace(' ', "")
}

#[cfg(test)]
mod tests {
    use syn::parse_quote;

    use super::{Field, Placement};
    use crate::ctxt::Ctxt;

    /// The placement and the error messages of a field with `attrs`.
    fn field(attrs: &[syn::Attribute]) -> (Placement, Vec<String>) {
        let cx = Ctxt::new();
        let f = Field::from_ast(&cx, attrs);
        let errors = match cx.check() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        };
        (f.placement, errors)
    }

    /// Each placement key alone decides the placement.
    #[test]
    fn one_key_each() {
        assert!(matches!(field(&[]), (Placement::Auto, e) if e.is_empty()));
        assert!(matches!(field(&[parse_quote!(#[dask(header)])]), (Placement::Header, e) if e.is_empty()));
        assert!(matches!(field(&[parse_quote!(#[dask(frame)])]), (Placement::Frame, e) if e.is_empty()));
        assert!(
            matches!(field(&[parse_quote!(#[dask(skip, default)])]), (Placement::Skip, e) if e.is_empty())
        );
        let (placement, errors) = field(&[parse_quote!(#[dask(with = "a::b")])]);
        assert!(errors.is_empty());
        assert!(matches!(placement, Placement::With(p) if p == parse_quote!(a::b)));
    }

    /// Contradicting keys: one error per rule broken, in a fixed order.
    #[test]
    fn contradictions() {
        let (placement, errors) =
            field(&[parse_quote!(#[dask(frame, header, with = "m", skip, rename = "z")])]);
        assert!(matches!(placement, Placement::Skip));
        assert_eq!(
            errors,
            [
                "`frame` and `header` cannot both be set on a field",
                "`with` decides the placement itself: remove `frame`/`header`",
                "a skipped field is not sent: `frame`, `header`, `with` and `rename` do not apply",
            ]
        );
        let (_, errors) = field(&[parse_quote!(#[dask(skip)]), parse_quote!(#[dask(rename = "q")])]);
        assert_eq!(
            errors,
            ["a skipped field is not sent: `frame`, `header`, `with` and `rename` do not apply"]
        );
    }
}
