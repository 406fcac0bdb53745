//! The crate's single error type.

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while serializing or deserializing.
///
/// Errors caused by wire input always say what was wrong and, where it helps,
/// where (a path such as `header.sub-headers[2]` or a byte offset). Decoders
/// never panic on bad input; they return one of these.
///
/// Where Dask defines an exact error text (the allow-list refusal, the
/// `error` family, "Could not serialize object of type ..."), [`Display`]
/// reproduces it, and [`Error::python_type`] names the Python exception
/// class Dask raises in the same situation.
///
/// [`Display`]: std::fmt::Display
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The data names a serialization family that is not on the receiver's
    /// allow-list (`deserializers`). The text is Dask's, byte for byte.
    #[error("Data serialized with {} but only able to deserialize data with {}", display_opt(.serializer), py_list_repr(.allowed))]
    NotAllowed {
        /// The family named by the header (`None` when the key is absent).
        serializer: Option<String>,
        /// The receiver's allow-list, in order.
        allowed: Vec<String>,
    },

    /// A family name that no registry knows (Python raises `KeyError(name)`).
    #[error("unknown serialization family {0:?}")]
    UnknownFamily(String),

    /// A compression codec name that is unknown, or whose crate feature is
    /// off (Python's `compressions[name]` raises `KeyError(name)`).
    #[error("unknown or unavailable compression codec {0:?}")]
    UnknownCodec(String),

    /// No family could encode a value and `on_error` was `raise`.
    #[error("{message}")]
    Unserializable {
        /// Python's `type(x).__name__` of the value.
        type_name: String,
        /// `Could not serialize object of type <type_name>`.
        message: String,
        /// What the family that failed said, if one failed with an error
        /// rather than declining.
        cause: Option<String>,
    },

    /// Data of the `error` family was decoded: the sender could not
    /// serialize a value. The text is the sender's message (frames joined
    /// by newlines), as Python's `TypeError` has it.
    #[error("{0}")]
    Remote(String),

    /// Malformed msgpack.
    #[error("invalid msgpack at byte {offset}: {message}")]
    Msgpack {
        /// Byte offset in the msgpack input.
        offset: usize,
        /// What was wrong.
        message: String,
    },

    /// A header that is valid msgpack but does not have the shape the
    /// decoder needs (missing key, wrong type, inconsistent counts).
    #[error("invalid header at {path}: {message}")]
    Header {
        /// Where in the header (e.g. `sub-header.shape`).
        path: String,
        /// What was wrong.
        message: String,
    },

    /// Frames that do not match their header (wrong count, bad range,
    /// a length that does not fit).
    #[error("invalid frames: {0}")]
    Frames(String),

    /// A decode limit was exceeded (see [`Limits`](crate::Limits)).
    #[error("limit exceeded: {what} is {got}, the limit is {limit}")]
    Limit {
        /// Which limit.
        what: &'static str,
        /// The configured limit.
        limit: u64,
        /// The value found in the input.
        got: u64,
    },

    /// `type-serialized` is not the reference pickle of an importable class
    /// (for example a cloudpickled `__main__` class); it is never executed.
    #[error("unknown type-serialized: {0}")]
    UnknownTypeSerialized(String),

    /// A `dask`-family value of a Python class this side has no loader for
    /// (Python: `TypeError: No dispatch for <class ...>`).
    #[error("No dispatch for <class '{0}'>")]
    NoDispatch(String),

    /// A pickle that the safe reader refuses or cannot parse. Nothing from
    /// a pickle is ever executed.
    #[error("pickle: {message} (at byte {offset})")]
    Pickle {
        /// Byte offset of the offending opcode.
        offset: usize,
        /// What was refused or malformed.
        message: String,
    },

    /// The data is valid but is not what the typed decoder expected.
    #[error("type mismatch: expected {expected}, found {found}")]
    TypeMismatch {
        /// What the caller asked for.
        expected: String,
        /// What the data holds.
        found: String,
    },

    /// A value that this library cannot represent on the wire (for example
    /// an integer outside msgpack's range, or a memoryview of objects).
    #[error("cannot encode: {0}")]
    Encode(String),

    /// Invalid canonical JSON (feature `json`).
    #[error("invalid canonical JSON at {path}: {message}")]
    Json {
        /// Where in the document.
        path: String,
        /// What was wrong.
        message: String,
    },

    /// Decoding an attribute of a derived struct failed.
    #[error("field `{name}` of {class}: {source}")]
    Field {
        /// The Python class of the struct.
        class: String,
        /// The attribute name on the wire.
        name: String,
        /// What went wrong.
        source: Box<Error>,
    },

    /// A derived struct was decoded from data that lacks one of its
    /// attributes (and the field has no default).
    #[error("missing field `{name}` of {class}")]
    MissingField {
        /// The Python class of the struct.
        class: String,
        /// The attribute name on the wire.
        name: String,
    },

    /// `deny_unknown_fields`: the data has an attribute the struct does not.
    #[error("unknown field `{name}` of {class}, expected one of {expected}")]
    UnknownField {
        /// The Python class of the struct.
        class: String,
        /// The attribute found in the data.
        name: String,
        /// The attributes the struct has.
        expected: String,
    },

    /// An I/O operation on a comm (socket) failed: what was being done, and
    /// the operating system's error (kept as the [`source`]).
    ///
    /// A peer that closed or reset the connection is
    /// [`CommClosed`](Error::CommClosed) instead, and an operation that ran
    /// out of time is [`Timeout`](Error::Timeout).
    ///
    /// [`source`]: std::error::Error::source
    #[error("comm: {what}: {source}")]
    Io {
        /// What was being done (`"connect to tcp://..."`, `"read"`, ...).
        what: String,
        /// The I/O error.
        #[source]
        source: IoError,
    },

    /// The peer broke Dask's protocol: a handshake without the keys every
    /// Dask version sends, a request that is not a map with an `op`, a
    /// message where another was due.
    #[error("protocol: {0}")]
    Protocol(String),

    /// An operation on a comm did not finish within the comm's timeout.
    #[error("comm: {what} timed out after {after:?}")]
    Timeout {
        /// What was being done (`"connect to tcp://..."`, `"read"`, ...).
        what: String,
        /// The timeout that expired.
        after: std::time::Duration,
    },

    /// An address a comm cannot use (a scheme other than `tcp://`, a host
    /// name that resolves to nothing).
    #[error("invalid address {address:?}: {message}")]
    Address {
        /// The address as given.
        address: String,
        /// What is wrong with it.
        message: String,
    },

    /// The peer closed the connection (cleanly between messages, or in the
    /// middle of one), or reset it.
    #[error("comm closed: {0}")]
    CommClosed(String),

    /// A Dask server replied `{"status": "uncaught-error"}` to an RPC: the
    /// handler raised. The texts are Python's `repr(exception)` and the
    /// formatted traceback (the pickled exception itself is never read).
    #[error("remote error in {op:?}: {exception}")]
    RemoteCall {
        /// The RPC `op`.
        op: String,
        /// `exception_text`.
        exception: String,
        /// `traceback_text`.
        traceback: String,
    },

    /// An error raised by a user-registered family.
    #[error("family {family:?}: {message}")]
    Family {
        /// The family's name.
        family: String,
        /// Its message.
        message: String,
    },
}

impl Error {
    /// The Python exception class Dask raises for the same failure
    /// (`"TypeError"`, `"KeyError"`, `"ValueError"`), as used by the
    /// `error_type` field of the test vectors.
    pub fn python_type(&self) -> &'static str {
        match self {
            Error::NotAllowed { .. }
            | Error::Unserializable { .. }
            | Error::Remote(_)
            | Error::NoDispatch(_)
            | Error::TypeMismatch { .. } => "TypeError",
            Error::Field { source, .. } => source.python_type(),
            Error::MissingField { .. } | Error::UnknownField { .. } => "AttributeError",
            Error::UnknownFamily(_) | Error::UnknownCodec(_) => "KeyError",
            _ => "ValueError",
        }
    }

    pub(crate) fn header(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Header {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The error of a failed I/O operation on a comm: a peer that closed,
    /// reset or stopped reading ([`UnexpectedEof`], [`ConnectionReset`],
    /// [`ConnectionAborted`], [`BrokenPipe`]) is [`Error::CommClosed`],
    /// anything else [`Error::Io`] keeping `e` as its source.
    ///
    /// [`UnexpectedEof`]: std::io::ErrorKind::UnexpectedEof
    /// [`ConnectionReset`]: std::io::ErrorKind::ConnectionReset
    /// [`ConnectionAborted`]: std::io::ErrorKind::ConnectionAborted
    /// [`BrokenPipe`]: std::io::ErrorKind::BrokenPipe
    pub(crate) fn io(what: impl Into<String>, e: std::io::Error) -> Self {
        use std::io::ErrorKind::*;
        let what = what.into();
        match e.kind() {
            UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe => {
                Error::CommClosed(format!("{what}: {e}"))
            }
            _ => Error::Io {
                what,
                source: IoError::from(e),
            },
        }
    }

    /// [`Error::Io`] turned into [`Error::Timeout`] when its source says the
    /// operation timed out ([`WouldBlock`] or [`TimedOut`], what a blocking
    /// socket with a timeout reports) and `timeout` is set; any other error
    /// unchanged.
    ///
    /// [`WouldBlock`]: std::io::ErrorKind::WouldBlock
    /// [`TimedOut`]: std::io::ErrorKind::TimedOut
    pub(crate) fn timed_out_after(self, timeout: Option<std::time::Duration>) -> Self {
        use std::io::ErrorKind::{TimedOut, WouldBlock};
        match (self, timeout) {
            (Error::Io { what, source }, Some(after)) if matches!(source.kind(), WouldBlock | TimedOut) => {
                Error::Timeout { what, after }
            }
            (e, _) => e,
        }
    }

    pub(crate) fn frames(message: impl Into<String>) -> Self {
        Error::Frames(message.into())
    }

    pub(crate) fn mismatch(expected: impl Into<String>, found: impl Into<String>) -> Self {
        Error::TypeMismatch {
            expected: expected.into(),
            found: found.into(),
        }
    }
}

/// The source of [`Error::Io`]: a [`std::io::Error`] shared behind an
/// [`Arc`](std::sync::Arc), so that [`Error`] stays `Clone`. Two are equal
/// when their [kinds](std::io::Error::kind) and messages are.
///
/// # Examples
///
/// ```
/// use dask_serde::IoError;
///
/// let e = IoError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
/// assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
/// assert_eq!(e.clone(), e);
/// ```
#[derive(Clone, Debug)]
pub struct IoError(std::sync::Arc<std::io::Error>);

impl IoError {
    /// The error's kind.
    pub fn kind(&self) -> std::io::ErrorKind {
        self.0.kind()
    }

    /// The [`std::io::Error`] itself.
    pub fn get_ref(&self) -> &std::io::Error {
        &self.0
    }
}

impl From<std::io::Error> for IoError {
    fn from(e: std::io::Error) -> Self {
        IoError(std::sync::Arc::new(e))
    }
}

impl PartialEq for IoError {
    fn eq(&self, other: &Self) -> bool {
        self.kind() == other.kind() && self.0.to_string() == other.0.to_string()
    }
}

impl std::fmt::Display for IoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Transparent: the source of the wrapped error.
impl std::error::Error for IoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

fn display_opt(s: &Option<String>) -> String {
    match s {
        Some(s) => s.clone(),
        None => "None".to_owned(),
    }
}

/// Python's `str(list_of_str)`: `['dask', 'msgpack']`.
pub(crate) fn py_list_repr(items: &[String]) -> String {
    let mut out = String::from("[");
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&py_str_repr(s));
    }
    out.push(']');
    out
}

/// Python's `repr(str)` for the strings that occur in family names and
/// messages: single quotes unless the text contains one and no double quote.
pub(crate) fn py_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_allowed_text_is_dasks() {
        let e = Error::NotAllowed {
            serializer: Some("pickle".into()),
            allowed: vec!["dask".into(), "msgpack".into()],
        };
        assert_eq!(
            e.to_string(),
            "Data serialized with pickle but only able to deserialize data with ['dask', 'msgpack']"
        );
        let e = Error::NotAllowed {
            serializer: None,
            allowed: vec![],
        };
        assert_eq!(
            e.to_string(),
            "Data serialized with None but only able to deserialize data with []"
        );
    }

    #[test]
    fn io_errors_keep_their_source_and_say_what_failed() {
        use std::error::Error as _;
        use std::io::ErrorKind;
        let e = Error::io(
            "connect to tcp://x:1",
            std::io::Error::from(ErrorKind::ConnectionRefused),
        );
        let Error::Io { what, source } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(what, "connect to tcp://x:1");
        assert_eq!(source.kind(), ErrorKind::ConnectionRefused);
        assert!(e.to_string().starts_with("comm: connect to tcp://x:1: "), "{e}");
        let inner = e.source().expect("a source");
        assert_eq!(inner.to_string(), source.to_string());
        assert_eq!(e.clone(), e);
        assert_ne!(
            e,
            Error::io("read", std::io::Error::from(ErrorKind::ConnectionRefused))
        );
        // a closed connection is CommClosed
        for kind in [
            ErrorKind::UnexpectedEof,
            ErrorKind::ConnectionReset,
            ErrorKind::ConnectionAborted,
            ErrorKind::BrokenPipe,
        ] {
            let e = Error::io("read", std::io::Error::from(kind));
            assert!(matches!(e, Error::CommClosed(_)), "{e}");
        }
        // timeouts of blocking sockets
        let t = std::time::Duration::from_secs(2);
        let e = Error::io("read", std::io::Error::from(ErrorKind::WouldBlock)).timed_out_after(Some(t));
        assert_eq!(
            e,
            Error::Timeout {
                what: "read".into(),
                after: t
            }
        );
        assert_eq!(e.to_string(), "comm: read timed out after 2s");
        let e = Error::io("read", std::io::Error::from(ErrorKind::WouldBlock)).timed_out_after(None);
        assert!(matches!(e, Error::Io { .. }));
        let e = Error::io("read", std::io::Error::other("x")).timed_out_after(Some(t));
        assert!(matches!(e, Error::Io { .. }));
    }

    #[test]
    fn str_repr_quotes_like_python() {
        assert_eq!(py_str_repr("a'b"), "\"a'b\"");
        assert_eq!(py_str_repr("a'\"b"), "'a\\'\"b'");
        assert_eq!(py_str_repr("x\ny"), "'x\\ny'");
    }
}
