//! Dask's comm handshake (PROTOCOL.md §11.3), without a socket.
//!
//! Both sides write a handshake message as soon as the connection is
//! established, then read the peer's: `{"compression": codec or None,
//! "python": (3, 11, 7), "pickle-protocol": 5}`. The pickle protocol used
//! afterwards is the lower of both; frames are compressed only if both
//! advertised the same codec. [`Handshaking`] is that exchange as a state
//! machine: it yields this side's message, takes the peer's and becomes an
//! open [`Connection`].

use std::sync::Arc;

use bytes::Bytes;

use super::connection::{read_options, Connection, Handshake};
use super::get;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::options::SerializeOptions;
use crate::registry::Registry;
use crate::transport::options::CommOptions;
use crate::value::Value;

/// This side's handshake message (PROTOCOL.md §11.3).
///
/// # Examples
///
/// ```
/// use dask_serde::transport::options::CommOptions;
/// use dask_serde::transport::proto::{get, handshake_message};
/// use dask_serde::Value;
///
/// let msg = handshake_message(&CommOptions::default());
/// assert_eq!(get(&msg, "pickle-protocol"), Some(&Value::from(5)));
/// assert_eq!(get(&msg, "compression"), Some(&Value::None));
/// ```
pub fn handshake_message(opts: &CommOptions) -> Value {
    Value::Dict(vec![
        (
            Value::from("compression"),
            opts.compression.clone().map_or(Value::None, Value::Str),
        ),
        // the protocol level this implementation targets
        (
            Value::from("python"),
            Value::Tuple(vec![Value::from(3), Value::from(11), Value::from(7)]),
        ),
        (Value::from("pickle-protocol"), Value::from(opts.pickle_protocol)),
    ])
}

/// Settles the handshake from the peer's message: `compression` is ours if
/// the peer advertised the same codec, the pickle protocol the lower of
/// both.
///
/// # Errors
///
/// [`Error::Protocol`] when the peer's message lacks `compression` or
/// `pickle-protocol` (every Dask version sends both).
///
/// # Examples
///
/// ```
/// use dask_serde::transport::options::CommOptions;
/// use dask_serde::transport::proto::{handshake_message, negotiate};
///
/// let ours = CommOptions { compression: Some("lz4".into()), ..CommOptions::default() };
/// let theirs = CommOptions { pickle_protocol: 4, ..CommOptions::default() };
/// let settled = negotiate(&ours, handshake_message(&theirs))?;
/// assert_eq!(settled.compression, None); // they did not advertise lz4
/// assert_eq!(settled.pickle_protocol, 4);
/// # Ok::<(), dask_serde::Error>(())
/// ```
pub fn negotiate(opts: &CommOptions, theirs: Value) -> Result<Handshake> {
    let (Some(compression), Some(protocol)) = (get(&theirs, "compression"), get(&theirs, "pickle-protocol"))
    else {
        return Err(Error::Protocol(format!(
            "the peer's handshake lacks compression or pickle-protocol: {theirs:?} (Dask versions out of sync?)"
        )));
    };
    let theirs_codec = match compression {
        Value::Str(s) => Some(s.clone()),
        _ => None,
    };
    let compression = if theirs_codec == opts.compression {
        opts.compression.clone()
    } else {
        None
    };
    let pickle_protocol = match protocol {
        Value::Int(p) => u8::try_from(*p)
            .unwrap_or(crate::pickle::HIGHEST_PROTOCOL)
            .min(opts.pickle_protocol),
        _ => opts.pickle_protocol,
    };
    Ok(Handshake {
        peer: theirs,
        compression,
        pickle_protocol,
    })
}

/// The handshake of one connection in progress: the first state of a comm.
///
/// Created with this side's settings, it yields this side's handshake
/// message from [`poll_transmit`](Handshaking::poll_transmit) (encoded
/// uncompressed, before anything is negotiated), then takes the frames of
/// the peer's first message in [`handle`](Handshaking::handle), negotiates
/// and becomes an open [`Connection`]. A driver writes what
/// `poll_transmit` yields *before* it reads: both sides write first, as
/// Dask does, so neither waits for the other.
///
/// # Examples
///
/// Two sides handshaking in memory (a driver moves the frames over a
/// socket instead):
///
/// ```
/// use dask_serde::transport::options::CommOptions;
/// use dask_serde::transport::proto::Handshaking;
///
/// let lz4 = CommOptions { compression: Some("lz4".into()), ..CommOptions::default() };
/// let mut a = Handshaking::new(&lz4, "tcp://a:1", "tcp://b:2")?;
/// let mut b = Handshaking::new(&lz4, "tcp://b:2", "tcp://a:1")?;
/// let from_a = a.poll_transmit().expect("a's handshake");
/// let from_b = b.poll_transmit().expect("b's handshake");
/// assert!(a.poll_transmit().is_none(), "written once");
/// let a = a.handle(&from_b)?;
/// let b = b.handle(&from_a)?;
/// assert_eq!(a.handshake().compression.as_deref(), Some("lz4"));
/// assert_eq!(b.peer_address(), "tcp://a:1");
/// # Ok::<(), dask_serde::Error>(())
/// ```
#[derive(Debug)]
pub struct Handshaking {
    opts: CommOptions,
    local: String,
    peer: String,
    registry: Arc<Registry>,
    ours: Option<Vec<Bytes>>,
}

impl Handshaking {
    /// Starts the handshake of a connection between `local` and `peer`
    /// (`tcp://` addresses, used as the context's `sender` and `recipient`
    /// of what this side writes), encoding with the process-wide registry.
    ///
    /// # Errors
    ///
    /// Encoding errors (none for a valid codec name).
    pub fn new(opts: &CommOptions, local: impl Into<String>, peer: impl Into<String>) -> Result<Handshaking> {
        let registry = Registry::global();
        let ours = crate::message::dumps_with(
            &registry,
            &handshake_message(opts),
            &SerializeOptions::new().context(Context::new().with("compression", Value::None)),
        )?;
        Ok(Handshaking {
            opts: opts.clone(),
            local: local.into(),
            peer: peer.into(),
            registry,
            ours: Some(ours),
        })
    }

    /// The frames of this side's handshake message, once; `None` after.
    pub fn poll_transmit(&mut self) -> Option<Vec<Bytes>> {
        self.ours.take()
    }

    /// Takes the frames of the peer's first message (its handshake),
    /// negotiates and returns the open connection.
    ///
    /// # Errors
    ///
    /// Decoding errors (limits, the allow-list), and [`Error::Protocol`]
    /// when the message is not a handshake (see [`negotiate`]).
    pub fn handle(self, frames: &[Bytes]) -> Result<Connection> {
        debug_assert!(
            self.ours.is_none(),
            "write this side's handshake (poll_transmit) before handling the peer's"
        );
        let theirs = crate::message::loads_with(&self.registry, frames, &read_options(&self.opts, false))?;
        let handshake = negotiate(&self.opts, theirs)?;
        Ok(Connection::new(
            self.opts,
            self.local,
            self.peer,
            handshake,
            self.registry,
        ))
    }

    /// The settings this side advertises and will use.
    pub fn options(&self) -> &CommOptions {
        &self.opts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::dumps;
    use crate::options::DeserializeOptions;

    #[test]
    fn the_handshake_is_dasks() {
        let mut h = Handshaking::new(&CommOptions::default(), "tcp://a:1", "tcp://b:2").unwrap();
        let frames = h.poll_transmit().unwrap();
        // one frame: {"compression": None, "python": (3, 11, 7), "pickle-protocol": 5}
        assert_eq!(frames.len(), 1);
        let msg = crate::message::loads(&frames, &DeserializeOptions::new()).unwrap();
        assert_eq!(msg, handshake_message(&CommOptions::default()));
        assert_eq!(
            &frames[0][..],
            b"\x83\xabcompression\xc0\xa6python\x93\x03\x0b\x07\xafpickle-protocol\x05"
        );
    }

    #[test]
    fn negotiation() {
        let opts = |c: Option<&str>, p: u8| CommOptions {
            compression: c.map(str::to_owned),
            pickle_protocol: p,
            ..CommOptions::default()
        };
        let settle = |a: &CommOptions, b: &CommOptions| negotiate(a, handshake_message(b)).unwrap();
        let s = settle(&opts(Some("zstd"), 5), &opts(Some("zstd"), 4));
        assert_eq!((s.compression.as_deref(), s.pickle_protocol), (Some("zstd"), 4));
        let s = settle(&opts(Some("zstd"), 4), &opts(Some("lz4"), 5));
        assert_eq!((s.compression.as_deref(), s.pickle_protocol), (None, 4));
        let s = settle(&opts(None, 5), &opts(Some("lz4"), 5));
        assert_eq!(s.compression, None);
        // a peer advertising an odd protocol number keeps ours
        let odd = Value::Dict(vec![
            (Value::from("compression"), Value::None),
            (Value::from("pickle-protocol"), Value::from(1000)),
        ]);
        assert_eq!(negotiate(&opts(None, 4), odd).unwrap().pickle_protocol, 4);
        // anything but a handshake is a protocol error
        for bad in [
            Value::from("hello"),
            Value::Dict(vec![(Value::from("compression"), Value::None)]),
            Value::Dict(vec![(Value::from("op"), Value::from("identity"))]),
        ] {
            let e = negotiate(&opts(None, 5), bad).unwrap_err();
            assert!(matches!(e, Error::Protocol(_)), "{e}");
        }
    }

    #[test]
    fn a_peer_message_that_is_not_a_handshake() {
        let mut h = Handshaking::new(&CommOptions::default(), "", "").unwrap();
        h.poll_transmit();
        let frames = dumps(&Value::from(1), &SerializeOptions::new()).unwrap();
        assert!(matches!(h.handle(&frames), Err(Error::Protocol(_))));
        let mut h = Handshaking::new(&CommOptions::default(), "", "").unwrap();
        h.poll_transmit();
        assert!(matches!(
            h.handle(&[Bytes::from_static(b"\xc1")]),
            Err(Error::Msgpack { .. })
        ));
    }
}
