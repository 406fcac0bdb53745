//! Options of [`serialize`](crate::serialize) and
//! [`deserialize_any`](crate::deserialize_any).

use crate::context::Context;
use crate::limits::Limits;

/// What to do when no family can encode a value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnError {
    /// Produce Dask's `error`-family header and frames (the default, as in
    /// Dask): the receiver gets a `TypeError` with the message.
    #[default]
    Message,
    /// Return [`Error::Unserializable`](crate::Error::Unserializable).
    Raise,
}

/// How [`serialize`](crate::serialize) encodes a value.
///
/// # Examples
///
/// ```
/// use dask_serde::{OnError, SerializeOptions};
///
/// let opts = SerializeOptions::new()
///     .serializers(["msgpack"])
///     .on_error(OnError::Raise);
/// assert_eq!(opts.serializers, vec!["msgpack".to_string()]);
/// assert_eq!(SerializeOptions::default().serializers, vec!["dask", "pickle"]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SerializeOptions {
    /// Families to try, in order (default `["dask", "pickle"]`).
    pub serializers: Vec<String>,
    /// Behaviour when every family declines or one fails.
    pub on_error: OnError,
    /// Context handed to the families.
    pub context: Option<Context>,
    /// `Some(true)`/`Some(false)` forces collection iteration on or off;
    /// `None` infers it as Dask does (spec §6.1).
    pub iterate_collection: Option<bool>,
}

impl Default for SerializeOptions {
    fn default() -> Self {
        SerializeOptions {
            serializers: vec!["dask".into(), "pickle".into()],
            on_error: OnError::Message,
            context: None,
            iterate_collection: None,
        }
    }
}

impl SerializeOptions {
    /// Dask's defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the family list.
    pub fn serializers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.serializers = names.into_iter().map(Into::into).collect();
        self
    }
    /// Sets `on_error`.
    pub fn on_error(mut self, on_error: OnError) -> Self {
        self.on_error = on_error;
        self
    }
    /// Sets the context.
    pub fn context(mut self, context: Context) -> Self {
        self.context = Some(context);
        self
    }
    /// Sets `iterate_collection`.
    pub fn iterate_collection(mut self, iterate: Option<bool>) -> Self {
        self.iterate_collection = iterate;
        self
    }
}

/// How [`deserialize_any`](crate::deserialize_any) decodes.
///
/// # Examples
///
/// ```
/// use dask_serde::DeserializeOptions;
///
/// // refuse pickle from peers you do not trust
/// let opts = DeserializeOptions::new().deserializers(["dask", "msgpack"]);
/// assert!(opts.allows(Some("dask")));
/// assert!(!opts.allows(Some("pickle")));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeserializeOptions {
    /// The allow-list of family names; `None` accepts every registered
    /// family. Checked against the header before anything is decoded.
    pub deserializers: Option<Vec<String>>,
    /// Bounds on untrusted input.
    pub limits: Limits,
}

impl DeserializeOptions {
    /// Accept every registered family, default limits.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the allow-list.
    pub fn deserializers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.deserializers = Some(names.into_iter().map(Into::into).collect());
        self
    }
    /// Sets the limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
    /// `true` if data of family `name` may be decoded (a missing name is
    /// Python's `None`).
    pub fn allows(&self, name: Option<&str>) -> bool {
        match &self.deserializers {
            None => true,
            Some(list) => name.is_some_and(|n| list.iter().any(|x| x == n)),
        }
    }
}
