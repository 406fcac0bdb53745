//! Validation after parsing: combinations of attributes that make no
//! sense are reported before any code is generated.

use std::collections::HashSet;

use crate::ast::{Container, Data};
use crate::attr::Placement;
use crate::ctxt::Ctxt;

/// Reports what `python` and `deny_unknown_fields` cannot apply to, and
/// two fields (not skipped) or two variants with the same wire name.
/// Contradicting field placement keys are reported earlier, when
/// [`attr::Placement`](crate::attr::Placement) is decided.
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
                if let Placement::Skip = f.attrs.placement {
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
