//! [`CommOptions`]: the settings of a comm, shared by the sans-IO core and
//! every driver.

use std::time::Duration;

use crate::limits::Limits;
use crate::options::DEFAULT_SERIALIZERS;
use crate::split::DEFAULT_SPLIT_SIZE;

/// Settings of a comm.
///
/// # Examples
///
/// ```
/// use dask_serde::transport::options::CommOptions;
///
/// let opts = CommOptions { compression: Some("lz4".into()), ..CommOptions::default() };
/// assert_eq!(opts.pickle_protocol, 5);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct CommOptions {
    /// Codec advertised in the handshake (`None`, Dask's default). Frames
    /// are compressed only when both peers advertise the same codec.
    pub compression: Option<String>,
    /// Highest pickle protocol advertised (5); the lower of both peers' is
    /// used for pickled payloads.
    pub pickle_protocol: u8,
    /// Families tried for `to_serialize` payloads this side writes
    /// (default `["dask", "pickle"]`, as Dask's comms).
    pub serializers: Vec<String>,
    /// Allow-list for payloads this side reads (default: all registered;
    /// `["dask", "msgpack"]` refuses pickle from the peer).
    pub deserializers: Option<Vec<String>>,
    /// Limits on everything read.
    pub limits: Limits,
    /// Shard size of payload frames (Dask's `distributed.comm.shard`, 64 MiB).
    pub frame_split_size: usize,
    /// Connect/read/write timeout (`None`: block). An expired timeout is
    /// [`Error::Timeout`](crate::Error::Timeout).
    pub timeout: Option<Duration>,
}

impl Default for CommOptions {
    fn default() -> Self {
        CommOptions {
            compression: None,
            pickle_protocol: crate::pickle::HIGHEST_PROTOCOL,
            serializers: DEFAULT_SERIALIZERS.iter().map(|s| (*s).to_owned()).collect(),
            deserializers: None,
            limits: Limits::default(),
            frame_split_size: DEFAULT_SPLIT_SIZE,
            timeout: Some(Duration::from_secs(30)),
        }
    }
}
