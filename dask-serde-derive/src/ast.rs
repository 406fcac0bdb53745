//! The derive input as plain data: container, fields or variants, and
//! their parsed attributes.

use syn::{Data as SynData, DeriveInput, Fields, Member};

use crate::attr;
use crate::ctxt::Ctxt;

pub struct Container<'a> {
    pub ident: &'a syn::Ident,
    pub attrs: attr::Container,
    pub data: Data<'a>,
    pub generics: &'a syn::Generics,
}

pub enum Data<'a> {
    Struct(Vec<Field<'a>>),
    Enum(Vec<Variant<'a>>),
}

pub struct Field<'a> {
    pub member: Member,
    /// The Python attribute name (after `rename` / `rename_all`).
    pub name: String,
    pub attrs: attr::Field,
    pub ty: &'a syn::Type,
    pub original: &'a syn::Field,
}

pub struct Variant<'a> {
    pub ident: &'a syn::Ident,
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

fn unraw(id: &syn::Ident) -> String {
    let s = id.to_string();
    s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
}
