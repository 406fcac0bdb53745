//! Error accumulator: every attribute mistake is reported in one compile.
//!
//! A [`Ctxt`] must end in [`Ctxt::check`], which consumes it and returns
//! the errors. Dropping one unchecked would lose errors silently, so it is
//! a bug in this crate and panics (the compiler then reports the derive as
//! having panicked), unless the thread is already unwinding.

use std::cell::{Cell, RefCell};
use std::fmt::Display;
use std::thread;

use quote::ToTokens;

/// Collects errors while the input is parsed and checked.
pub struct Ctxt {
    /// The errors so far.
    errors: RefCell<Vec<syn::Error>>,
    /// Set by [`Ctxt::check`]; a context dropped without it is a bug.
    checked: Cell<bool>,
}

impl Ctxt {
    /// A context with no errors, to be consumed by [`Ctxt::check`].
    pub fn new() -> Self {
        Ctxt {
            errors: RefCell::new(Vec::new()),
            checked: Cell::new(false),
        }
    }

    /// Records an error spanning `tokens`.
    pub fn error_spanned_by<T: ToTokens, M: Display>(&self, tokens: T, message: M) {
        self.syn_error(syn::Error::new_spanned(tokens.into_token_stream(), message));
    }

    /// Records a `syn` error.
    pub fn syn_error(&self, err: syn::Error) {
        // `check` consumes the context, so nothing is recorded after it
        self.errors.borrow_mut().push(err);
    }

    /// Consumes the context: all errors combined, in the order recorded,
    /// if any.
    pub fn check(self) -> syn::Result<()> {
        self.checked.set(true);
        let errors = self.errors.take();
        let mut iter = errors.into_iter();
        let Some(mut combined) = iter.next() else {
            return Ok(());
        };
        for rest in iter {
            combined.combine(rest);
        }
        Err(combined)
    }
}

impl Drop for Ctxt {
    fn drop(&mut self) {
        if !thread::panicking() && !self.checked.get() {
            panic!("dask-serde-derive bug: Ctxt dropped without calling check");
        }
    }
}

#[cfg(test)]
mod tests {
    use proc_macro2::Span;

    use super::Ctxt;

    #[test]
    fn check_without_errors_is_ok() {
        assert!(Ctxt::new().check().is_ok());
    }

    #[test]
    fn check_combines_errors_in_order() {
        let cx = Ctxt::new();
        cx.syn_error(syn::Error::new(Span::call_site(), "first"));
        cx.error_spanned_by(quote::quote!(x), "second");
        let messages: Vec<String> = cx
            .check()
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(messages, ["first", "second"]);
    }

    #[test]
    #[should_panic(expected = "Ctxt dropped without calling check")]
    fn dropping_unchecked_panics() {
        let _cx = Ctxt::new();
    }

    #[test]
    fn dropping_unchecked_while_panicking_does_not_abort() {
        let result = std::panic::catch_unwind(|| {
            let _cx = Ctxt::new();
            panic!("original panic");
        });
        let payload = result.unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"original panic"));
    }
}
