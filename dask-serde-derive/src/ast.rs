//! The derive input as plain data: container, fields or variants, and
//! their parsed attributes.

use syn::{Data as SynData, DeriveInput, Fields, Member};

use crate::attr;
use crate::ctxt::Ctxt;

/// The type the derive is on.
pub struct Container<'a> {
    /// Its name.
    pub ident: &'a syn::Ident,
    /// Its `#[dask(...)]` attributes.
    pub attrs: attr::Container,
    /// Its fields or variants.
    pub data: Data<'a>,
    /// Its generics, as written.
    pub generics: &'a syn::Generics,
}

/// The shape of the container.
pub enum Data<'a> {
    /// A struct (named, tuple or unit): its fields in declaration order.
    Struct(Vec<Field<'a>>),
    /// A unit enum: its variants in declaration order.
    Enum(Vec<Variant<'a>>),
}

/// A struct field.
pub struct Field<'a> {
    /// `self.<member>`: its name, or its index in a tuple struct.
    pub member: Member,
    /// The Python attribute name (after `rename` / `rename_all`).
    pub name: String,
    /// Its `#[dask(...)]` attributes, placement decided.
    pub attrs: attr::Field,
    /// Its type.
    pub ty: &'a syn::Type,
    /// The field as written, for error spans.
    pub original: &'a syn::Field,
}

/// A unit variant.
pub struct Variant<'a> {
    /// Its name in Rust.
    pub ident: &'a syn::Ident,
    /// The str sent for it (after `rename` / `rename_all`).
    pub name: String,
}

impl<'a> Container<'a> {
    /// Parses the input; `None` when it cannot be represented at all
    /// (errors are in `cx`).
    pub fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        let attrs = attr::Container::from_ast(cx, &input.attrs);
        let data = match &input.data {
            SynData::Struct(s) => {
                let fields = match &s.fields {
                    Fields::Named(n) => n.named.iter().collect::<Vec<_>>(),
                    Fields::Unnamed(u) => u.unnamed.iter().collect(),
                    Fields::Unit => Vec::new(),
                };
                Data::Struct(
                    fields
                        .into_iter()
                        .enumerate()
                        .map(|(i, f)| {
                            let fattrs = attr::Field::from_ast(cx, &f.attrs);
                            let (member, rust_name) = match &f.ident {
                                Some(id) => (Member::Named(id.clone()), unraw(id)),
                                None => (Member::Unnamed(i.into()), i.to_string()),
                            };
                            let name = match (&fattrs.rename, attrs.rename_all) {
                                (Some(r), _) => r.clone(),
                                (None, Some(rule)) if f.ident.is_some() => rule.apply_to_field(&rust_name),
                                _ => rust_name,
                            };
                            Field {
                                member,
                                name,
                                attrs: fattrs,
                                ty: &f.ty,
                                original: f,
                            }
                        })
                        .collect(),
                )
            }
            SynData::Enum(e) => {
                let mut variants = Vec::new();
                for v in &e.variants {
                    let vattrs = attr::Variant::from_ast(cx, &v.attrs);
                    if !matches!(v.fields, Fields::Unit) {
                        cx.error_spanned_by(
                            v,
                            "dask-serde can derive only for enums whose variants are all unit variants \
                             (sent as their name, a Python str); a variant with data has no Python counterpart",
                        );
                        continue;
                    }
                    let rust_name = unraw(&v.ident);
                    let name = match (vattrs.rename, attrs.rename_all) {
                        (Some(r), _) => r,
                        (None, Some(rule)) => rule.apply_to_variant(&rust_name),
                        _ => rust_name,
                    };
                    variants.push(Variant {
                        ident: &v.ident,
                        name,
                    });
                }
                Data::Enum(variants)
            }
            SynData::Union(u) => {
                cx.error_spanned_by(
                    u.union_token,
                    "dask-serde cannot derive for unions: a union has no Python counterpart",
                );
                return None;
            }
        };
        Some(Container {
            ident: &input.ident,
            attrs,
            data,
            generics: &input.generics,
        })
    }
}

/// The name of `id` without a raw-identifier `r#` prefix.
fn unraw(id: &syn::Ident) -> String {
    let s = id.to_string();
    s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
}
