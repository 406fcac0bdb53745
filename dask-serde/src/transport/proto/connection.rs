//! [`Connection`]: an open comm after its handshake (and [`Handshake`],
//! what the handshake settled), without a socket.

use std::sync::Arc;

use bytes::Bytes;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::options::{DeserializeOptions, SerializeOptions};
use crate::registry::Registry;
use crate::transport::options::CommOptions;
use crate::value::Value;

/// What the handshake settled.
#[derive(Clone, Debug, PartialEq)]
pub struct Handshake {
    /// The peer's handshake message.
    pub peer: Value,
    /// Negotiated codec (ours if the peer advertised the same, else none).
    pub compression: Option<String>,
    /// Negotiated pickle protocol (the lower of both).
    pub pickle_protocol: u8,
}

/// An open comm: what the handshake settled, and how messages are encoded
/// and decoded on it. The second state of a comm, made by
/// [`Handshaking::handle`](super::Handshaking::handle).
///
/// A connection turns messages into frames and back; it holds no socket
/// and no buffer. What this side writes is encoded with its serializers
/// and shard size and the connection's context (`sender`, `recipient`, the
/// negotiated `pickle-protocol` and `compression`, as Dask's comms pass it);
/// what it reads is decoded with its allow-list and limits. Machines of
/// higher protocols (an RPC [`Call`](super::Call), a batched stream) work
/// on top of it, see the [module docs](super).
///
/// # Examples
///
/// ```
/// use dask_serde::transport::options::CommOptions;
/// use dask_serde::transport::proto::Handshaking;
/// use dask_serde::Value;
///
/// let opts = CommOptions::default();
/// let (mut a, mut b) = (Handshaking::new(&opts, "", "")?, Handshaking::new(&opts, "", "")?);
/// let (to_b, to_a) = (a.poll_transmit().unwrap(), b.poll_transmit().unwrap());
/// let (a, b) = (a.handle(&to_a)?, b.handle(&to_b)?);
///
/// let frames = a.encode(&Value::from("ping"))?;
/// assert_eq!(b.decode(&frames, false)?, Value::from("ping"));
/// # Ok::<(), dask_serde::Error>(())
/// ```
#[derive(Debug)]
pub struct Connection {
    opts: CommOptions,
    local: String,
    peer: String,
    handshake: Handshake,
    registry: Arc<Registry>,
    write: SerializeOptions,
    read: DeserializeOptions,
    read_opaque: DeserializeOptions,
}

impl Connection {
    pub(crate) fn new(
        opts: CommOptions,
        local: String,
        peer: String,
        handshake: Handshake,
        registry: Arc<Registry>,
    ) -> Connection {
        let write = write_options(&opts, &local, &peer, &handshake);
        Connection {
            read: read_options(&opts, false),
            read_opaque: read_options(&opts, true),
            write,
            opts,
            local,
            peer,
            handshake,
            registry,
        }
    }

    /// The negotiated settings and the peer's handshake.
    pub fn handshake(&self) -> &Handshake {
        &self.handshake
    }

    /// `tcp://` address of this end.
    pub fn local_address(&self) -> &str {
        &self.local
    }

    /// `tcp://` address of the peer.
    pub fn peer_address(&self) -> &str {
        &self.peer
    }

    /// This side's settings.
    pub fn options(&self) -> &CommOptions {
        &self.opts
    }

    /// The frames of one message this side writes (see
    /// [`crate::message::dumps`]).
    ///
    /// # Errors
    ///
    /// Encoding errors.
    pub fn encode(&self, msg: &Value) -> Result<Vec<Bytes>> {
        crate::message::dumps_with(&self.registry, msg, &self.write)
    }

    /// Decodes the frames of one message this side read (see
    /// [`crate::message::loads`]); `keep_serialized` keeps its payloads as
    /// [`Value::Opaque`].
    ///
    /// # Errors
    ///
    /// Decoding errors, limits, payloads refused by the allow-list.
    pub fn decode(&self, frames: &[Bytes], keep_serialized: bool) -> Result<Value> {
        let opts = if keep_serialized {
            &self.read_opaque
        } else {
            &self.read
        };
        crate::message::loads_with(&self.registry, frames, opts)
    }
}

/// The error of a read that found the connection closed by the peer
/// between messages.
pub(crate) fn peer_closed() -> Error {
    Error::CommClosed("the peer closed the connection".into())
}

/// How a comm encodes what it writes: its serializers and shard size, and
/// the context of the connection (sender, recipient and the negotiated
/// pickle protocol and compression).
fn write_options(opts: &CommOptions, local: &str, peer: &str, handshake: &Handshake) -> SerializeOptions {
    let context = Context::new()
        .with("sender", Value::from(local))
        .with("recipient", Value::from(peer))
        .with("pickle-protocol", Value::from(handshake.pickle_protocol))
        .with(
            "compression",
            handshake.compression.clone().map_or(Value::None, Value::Str),
        );
    SerializeOptions {
        serializers: opts.serializers.clone(),
        context: Some(context),
        frame_split_size: Some(opts.frame_split_size),
        ..SerializeOptions::default()
    }
}

/// How a comm decodes what it reads (allow-list and limits; payloads kept
/// opaque with `keep_serialized`).
pub(crate) fn read_options(opts: &CommOptions, keep_serialized: bool) -> DeserializeOptions {
    DeserializeOptions {
        deserializers: opts.deserializers.clone(),
        limits: opts.limits,
        keep_serialized,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::proto::Handshaking;

    fn pair(a: &CommOptions, b: &CommOptions) -> (Connection, Connection) {
        let mut x = Handshaking::new(a, "tcp://a:1", "tcp://b:2").unwrap();
        let mut y = Handshaking::new(b, "tcp://b:2", "tcp://a:1").unwrap();
        let (to_y, to_x) = (x.poll_transmit().unwrap(), y.poll_transmit().unwrap());
        (x.handle(&to_x).unwrap(), y.handle(&to_y).unwrap())
    }

    #[test]
    fn writes_carry_the_negotiated_context() {
        let lz4 = CommOptions {
            compression: Some("lz4".into()),
            frame_split_size: 1 << 20,
            ..CommOptions::default()
        };
        let (a, b) = pair(&lz4, &lz4);
        let ctx = a.write.context.as_ref().unwrap();
        assert_eq!(ctx.get("sender"), Some(&Value::from("tcp://a:1")));
        assert_eq!(ctx.get("recipient"), Some(&Value::from("tcp://b:2")));
        assert_eq!(ctx.get("compression"), Some(&Value::from("lz4")));
        // a compressible payload is split and compressed, and reads back
        let msg = Value::Dict(vec![(
            Value::from("data"),
            Value::Serialize(Box::new(Value::from(vec![0u8; 3 << 20]))),
        )]);
        let frames = a.encode(&msg).unwrap();
        assert!(frames.len() >= 4, "{} frames", frames.len());
        assert!(frames.iter().map(|f| f.len()).sum::<usize>() < 1 << 20);
        let back = b.decode(&frames, false).unwrap();
        assert_eq!(
            back,
            Value::Dict(vec![(Value::from("data"), Value::from(vec![0u8; 3 << 20]))])
        );
        let Value::Dict(entries) = b.decode(&frames, true).unwrap() else {
            panic!()
        };
        assert!(matches!(entries[0].1, Value::Opaque(_)));
    }

    #[test]
    fn reads_apply_the_allow_list() {
        let strict = CommOptions {
            deserializers: Some(vec!["dask".into(), "msgpack".into()]),
            ..CommOptions::default()
        };
        let (a, b) = pair(&CommOptions::default(), &strict);
        let pickled = Value::Dict(vec![(
            Value::from("x"),
            Value::Serialize(Box::new(Value::Tuple(vec![Value::from(1)]))),
        )]);
        let frames = a.encode(&pickled).unwrap();
        assert!(matches!(b.decode(&frames, false), Err(Error::NotAllowed { .. })));
    }
}
