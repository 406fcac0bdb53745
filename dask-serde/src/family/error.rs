//! The `error` family (PROTOCOL.md §4.4).

use bytes::Bytes;

use super::{DecodeCx, EncodeCx, Family};
use crate::error::{Error, Result};
use crate::header::Header;
use crate::serialized::Serialized;
use crate::value::Value;

/// The `error` family: decode-only. Its frames are UTF-8 text, and
/// decoding always fails with [`Error::Remote`] carrying the frames joined
/// by newlines (Python raises `TypeError` with that text).
#[derive(Clone, Copy, Debug, Default)]
pub struct ErrorFamily;

impl Family for ErrorFamily {
    fn name(&self) -> &str {
        "error"
    }

    fn encode<'a>(&self, _value: &'a Value, _cx: &EncodeCx<'_>) -> Result<Option<Serialized<'a>>> {
        // Python registers `None` as the error family's dumps; calling it
        // raises a TypeError, which stops the family search.
        Err(Error::Family {
            family: "error".into(),
            message: "the error family cannot encode values".into(),
        })
    }

    fn decode(&self, _header: &Header, frames: &[Bytes], _cx: &DecodeCx<'_>) -> Result<Value> {
        let parts: Vec<String> = frames
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        Err(Error::Remote(parts.join("\n")))
    }
}
