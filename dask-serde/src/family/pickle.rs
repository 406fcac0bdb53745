//! The `pickle` family (PROTOCOL.md §4.2), restricted to a safe subset.

use bytes::Bytes;

use super::{DecodeCx, EncodeCx, Family};
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::header::Header;
use crate::msgpack::MsgValue;
use crate::pickle::{self as pk, OobBuffer};
use crate::serialized::Serialized;
use crate::value::Value;

/// The `pickle` family, safely.
///
/// Encoding writes plain data (None, bool, int, float, str, bytes,
/// bytearray, list, tuple, set, frozenset, dict, generic objects) and numpy
/// arrays as CPython's pickler would, with the protocol from the context's
/// `pickle-protocol` (default 5; arrays' memory then travels as
/// out-of-band frames, as Dask sends it); other values are declined.
///
/// Decoding reads pickles of protocols 2–5 holding plain data and
/// protocol-5 out-of-band buffers (honouring the header's `writeable`
/// flags) **without executing anything**: any global outside a short
/// allow-list of data constructors is refused with [`Error::Pickle`].
/// Leave `"pickle"` off the deserializers allow-list to refuse pickles
/// entirely.
#[derive(Clone, Copy, Debug, Default)]
pub struct PickleFamily;

impl Family for PickleFamily {
    fn name(&self) -> &str {
        "pickle"
    }

    fn encode<'a>(&self, value: &'a Value, cx: &EncodeCx<'_>) -> Result<Option<Serialized<'a>>> {
        if !pk::can_dump(value) {
            return Ok(None);
        }
        let protocol = cx
            .context
            .and_then(|c| c.pickle_protocol())
            .unwrap_or(crate::pickle::HIGHEST_PROTOCOL);
        if !(2..=5).contains(&protocol) {
            return Err(Error::Encode(format!("unsupported pickle protocol {protocol}")));
        }
        // protocol 5 sends numpy arrays' memory as out-of-band frames
        let (data, buffers) = pk::dumps_with_oob(value, protocol)?;
        let mut header = Header::new();
        header.insert("serializer", "pickle");
        let writeable = buffers.iter().map(|b| MsgValue::Bool(b.writeable)).collect();
        header.insert("writeable", MsgValue::Array(writeable));
        let mut frames = vec![Frame::from(data)];
        frames.extend(buffers.into_iter().map(|b| Frame::Shared(b.data)));
        Ok(Some(Serialized::new(header, frames)))
    }

    fn decode(&self, header: &Header, frames: &[Bytes], cx: &DecodeCx<'_>) -> Result<Value> {
        let Some((pickle, buffers)) = frames.split_first() else {
            return Err(Error::frames("a pickle needs at least one frame"));
        };
        let flags = match header.get("writeable") {
            Some(MsgValue::Array(a)) => a.as_slice(),
            Some(MsgValue::Nil) | None => &[],
            Some(other) => {
                return Err(Error::header(
                    "writeable",
                    format!("expected an array, found {}", other.kind()),
                ))
            }
        };
        // Python zips flags with buffers: a shorter list drops buffers.
        let oob: Vec<OobBuffer> = buffers
            .iter()
            .zip(flags)
            .map(|(b, w)| OobBuffer {
                data: b.clone(),
                writeable: matches!(w, MsgValue::Bool(true)),
            })
            .collect();
        pk::loads(pickle, &oob, &cx.options.limits)
    }
}
