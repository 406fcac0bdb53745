//! The one options design of the crate: [`SerializeOptions`] for every
//! encoding function ([`serialize`](crate::serialize),
//! [`serialize_and_split`](crate::serialize_and_split),
//! [`serialize_bytes`](crate::serialize_bytes),
//! [`message::dumps`](crate::message::dumps)) and [`DeserializeOptions`] for
//! every decoding one ([`deserialize_any`](crate::deserialize_any),
//! [`merge_and_deserialize`](crate::merge_and_deserialize),
//! [`deserialize_bytes`](crate::deserialize_bytes),
//! [`message::loads`](crate::message::loads)). Each option is read only by
//! the functions its documentation names; the others ignore it. Every
//! default is defined here once ([`DEFAULT_SERIALIZERS`]) or next to the
//! type it configures ([`Limits`], [`CompressionOptions`]).

use crate::compression::CompressionOptions;
use crate::context::Context;
use crate::limits::Limits;

/// Dask's default `serializers`: `("dask", "pickle")`.
pub const DEFAULT_SERIALIZERS: [&str; 2] = ["dask", "pickle"];

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
    /// `None` infers it as Dask does (PROTOCOL.md §6.1).
    pub iterate_collection: Option<bool>,
    /// Frames larger than this are split into pieces of at most this many
    /// bytes, cut on item boundaries (Dask's `frame_split_size`; `None` or
    /// `Some(0)`: Dask's default of 64 MiB,
    /// [`DEFAULT_SPLIT_SIZE`](crate::split::DEFAULT_SPLIT_SIZE)). Read by [`serialize_and_split`](crate::serialize_and_split),
    /// [`serialize_bytes`](crate::serialize_bytes) and
    /// [`message::dumps`](crate::message::dumps); [`serialize`](crate::serialize)
    /// never splits.
    pub frame_split_size: Option<usize>,
    /// How payload frames are compressed by
    /// [`serialize_bytes`](crate::serialize_bytes) and
    /// [`message::dumps`](crate::message::dumps). `None` is Dask's default:
    /// the codec named by the context's `"compression"` entry when the
    /// context has one (a comm's negotiated codec; `None` there means no
    /// compression), otherwise `"auto"` (lz4), each with Dask's thresholds.
    pub compression: Option<CompressionOptions>,
}

impl Default for SerializeOptions {
    fn default() -> Self {
        SerializeOptions {
            serializers: DEFAULT_SERIALIZERS.iter().map(|s| (*s).to_owned()).collect(),
            on_error: OnError::default(),
            context: None,
            iterate_collection: None,
            frame_split_size: None,
            compression: None,
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

    /// Sets [`frame_split_size`](Self::frame_split_size).
    pub fn frame_split_size(mut self, size: usize) -> Self {
        self.frame_split_size = Some(size);
        self
    }

    /// Sets [`compression`](Self::compression).
    pub fn compression(mut self, compression: CompressionOptions) -> Self {
        self.compression = Some(compression);
        self
    }

    /// The compression these options select (see
    /// [`compression`](Self::compression)).
    pub fn effective_compression(&self) -> CompressionOptions {
        resolve_compression(
            self.compression.as_ref(),
            self.context.as_ref().and_then(Context::compression),
        )
    }
}

/// The rule of [`SerializeOptions::compression`], from its parts: explicit
/// options win, then the context's `"compression"` entry
/// ([`Context::compression`]), then `"auto"`.
pub(crate) fn resolve_compression(
    explicit: Option<&CompressionOptions>,
    context_codec: Option<Option<&str>>,
) -> CompressionOptions {
    if let Some(c) = explicit {
        return c.clone();
    }
    match context_codec {
        Some(Some(codec)) => CompressionOptions::with_codec(codec),
        Some(None) => CompressionOptions::new(),
        None => CompressionOptions::auto(),
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
    /// Read by [`message::loads`](crate::message::loads) only: keep every
    /// `__Serialized__`/`__Pickled__` payload undecoded as a
    /// [`Value::Opaque`](crate::Value::Opaque) that re-encodes byte for byte
    /// (what a scheduler does with data it forwards). Default `false`.
    pub keep_serialized: bool,
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
    /// Sets [`keep_serialized`](Self::keep_serialized).
    pub fn keep_serialized(mut self, keep: bool) -> Self {
        self.keep_serialized = keep;
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
