//! Validation after parsing: combinations of attributes that make no
//! sense are reported before any code is generated.

use std::collections::HashSet;

use crate::ast::{Container, Data};
use crate::ctxt::Ctxt;

pub fn check(cx: &Ctxt, cont: &Container<'_>) {
    match &cont.data {
        Data::Enum(variants) => {
            if let Some((_, span)) = &cont.attrs.python {
                cx.syn_error(syn::Error::new(
                    *span,
                    "`python` does not apply to enums: a unit enum is sent as a str, not as a Python object",
                ));
            }
            if let Some(span) = cont.attrs.deny_unknown_fields {
                cx.syn_error(syn::Error::new(
                    span,
                    "`deny_unknown_fields` does not apply to enums",
                ));
            }
            let mut seen = HashSet::new();
            for v in variants {
                if !seen.insert(v.name.as_str()) {
                    cx.error_spanned_by(
                        v.ident,
                        format!("two variants are named {:?} on the wire", v.name),
                    );
                }
            }
        }
        Data::Struct(fields) => {
            let mut seen = HashSet::new();
            for f in fields {
                let a = &f.attrs;
                if let (Some(_), Some(h)) = (a.frame, a.header) {
                    cx.syn_error(syn::Error::new(
                        h,
                        "`frame` and `header` cannot both be set on a field",
                    ));
                }
                if a.with.is_some() {
                    if let Some(s) = a.frame.or(a.header) {
                        cx.syn_error(syn::Error::new(
                            s,
                            "`with` decides the placement itself: remove `frame`/`header`",
                        ));
                    }
                }
                if let Some(s) = a.skip {
                    if a.frame.is_some() || a.header.is_some() || a.with.is_some() || a.rename.is_some() {
                        cx.syn_error(syn::Error::new(
                            s,
                            "a skipped field is not sent: `frame`, `header`, `with` and `rename` do not apply",
                        ));
                    }
                    continue;
                }
                if !seen.insert(f.name.as_str()) {
                    let msg = format!("two fields are named {:?} on the wire", f.name);
                    match &f.original.ident {
                        Some(ident) => cx.error_spanned_by(ident, msg),
                        None => cx.error_spanned_by(&f.original.ty, msg),
                    }
                }
            }
        }
    }
}
