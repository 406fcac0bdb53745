//! A blocking TCP comm that speaks Dask's protocol: framing, handshake,
//! messages; an RPC client; a small server.

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::framing::{read_message, read_message_pooled, write_message, BufferPool};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::message::{DumpsOptions, LoadsOptions};
use crate::options::DeserializeOptions;
use crate::registry::Registry;
use crate::value::Value;

/// Settings of a comm.
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
    /// Connect/read/write timeout (`None`: block).
    pub timeout: Option<Duration>,
}

impl Default for CommOptions {
    fn default() -> Self {
        CommOptions {
            compression: None,
            pickle_protocol: 5,
            serializers: vec!["dask".into(), "pickle".into()],
            deserializers: None,
            limits: Limits::default(),
            frame_split_size: 64 << 20,
            timeout: Some(Duration::from_secs(30)),
        }
    }
}

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

/// A connection to a Dask peer (scheduler, worker, client or another Rust
/// process) over TCP.
///
/// # Examples
///
/// ```no_run
/// use dask_serde::transport::comm::{Comm, CommOptions};
/// use dask_serde::Value;
///
/// let mut comm = Comm::connect("tcp://127.0.0.1:8786", &CommOptions::default())?;
/// comm.write(&Value::Dict(vec![
///     (Value::from("op"), Value::from("identity")),
///     (Value::from("reply"), Value::Bool(true)),
/// ]))?;
/// println!("{:?}", comm.read()?);
/// # Ok::<(), dask_serde::Error>(())
/// ```
#[derive(Debug)]
pub struct Comm {
    stream: TcpStream,
    opts: CommOptions,
    handshake: Handshake,
    local: String,
    peer: String,
    registry: Arc<Registry>,
    pool: Option<BufferPool>,
}

/// Strips `tcp://` from a Dask address.
pub fn parse_address(addr: &str) -> Result<String> {
    let a = addr.strip_prefix("tcp://").unwrap_or(addr);
    if a.contains("://") {
        return Err(Error::Address {
            address: addr.to_owned(),
            message: "only tcp:// is supported".into(),
        });
    }
    Ok(a.to_owned())
}

/// This side's handshake message (spec §11.3).
pub(crate) fn handshake_message(opts: &CommOptions) -> Value {
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

/// The frames of this side's handshake (written uncompressed, before
/// anything was negotiated). Shared with the async comm.
pub(crate) fn handshake_frames(registry: &Registry, opts: &CommOptions) -> Result<Vec<Bytes>> {
    registry.dumps(
        &handshake_message(opts),
        &DumpsOptions::new().context(Context::new().with("compression", Value::None)),
    )
}

/// Settles the handshake from the peer's message: `compression` is ours if
/// the peer advertised the same codec, the pickle protocol the lower of
/// both. Shared with the async comm.
pub(crate) fn negotiate(opts: &CommOptions, theirs: Value) -> Result<Handshake> {
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
        Value::Int(p) => u8::try_from(*p).unwrap_or(5).min(opts.pickle_protocol),
        _ => opts.pickle_protocol,
    };
    Ok(Handshake {
        peer: theirs,
        compression,
        pickle_protocol,
    })
}

/// How a comm encodes what it writes: its serializers and shard size, and
/// the context of the connection (sender, recipient and the negotiated
/// pickle protocol and compression). Shared with the async comm.
pub(crate) fn write_options(
    opts: &CommOptions,
    local: &str,
    peer: &str,
    handshake: &Handshake,
) -> DumpsOptions {
    let context = Context::new()
        .with("sender", Value::from(local))
        .with("recipient", Value::from(peer))
        .with("pickle-protocol", Value::from(handshake.pickle_protocol))
        .with(
            "compression",
            handshake.compression.clone().map_or(Value::None, Value::Str),
        );
    DumpsOptions {
        serializers: opts.serializers.clone(),
        context: Some(context),
        frame_split_size: Some(opts.frame_split_size),
        ..DumpsOptions::default()
    }
}

/// How a comm decodes what it reads (allow-list and limits; payloads kept
/// opaque with `keep_serialized`). Shared with the async comm.
pub(crate) fn read_options(opts: &CommOptions, keep_serialized: bool) -> LoadsOptions {
    let mut d = DeserializeOptions::new().limits(opts.limits);
    d.deserializers = opts.deserializers.clone();
    LoadsOptions {
        keep_serialized,
        deserialize: d,
    }
}

impl Comm {
    /// Connects to `addr` (`tcp://host:port` or `host:port`) and performs
    /// the handshake.
    ///
    /// # Errors
    ///
    /// Connection failures, a peer whose handshake lacks `compression` or
    /// `pickle-protocol`.
    pub fn connect(addr: &str, opts: &CommOptions) -> Result<Comm> {
        let a = parse_address(addr)?;
        let stream = match opts.timeout {
            Some(t) => {
                let sock = a
                    .to_socket_addrs()
                    .map_err(|e| Error::io(format!("resolve {addr}"), e))?
                    .next()
                    .ok_or_else(|| Error::Address {
                        address: addr.to_owned(),
                        message: "resolves to no socket address".into(),
                    })?;
                TcpStream::connect_timeout(&sock, t)
            }
            None => TcpStream::connect(&a),
        }
        .map_err(|e| Error::io(format!("connect to {addr}"), e).timed_out_after(opts.timeout))?;
        Comm::from_stream(stream, opts)
    }

    /// Wraps an accepted connection and performs the handshake (both sides
    /// write theirs, then read the other's).
    ///
    /// # Errors
    ///
    /// As [`Comm::connect`].
    pub fn from_stream(stream: TcpStream, opts: &CommOptions) -> Result<Comm> {
        stream
            .set_nodelay(true)
            .map_err(|e| Error::io("set_nodelay", e))?;
        stream
            .set_read_timeout(opts.timeout)
            .map_err(|e| Error::io("set timeout", e))?;
        stream
            .set_write_timeout(opts.timeout)
            .map_err(|e| Error::io("set timeout", e))?;
        let local = stream
            .local_addr()
            .map(|a| format!("tcp://{a}"))
            .unwrap_or_default();
        let peer = stream
            .peer_addr()
            .map(|a| format!("tcp://{a}"))
            .unwrap_or_default();
        let mut comm = Comm {
            stream,
            opts: opts.clone(),
            handshake: Handshake {
                peer: Value::None,
                compression: None,
                pickle_protocol: opts.pickle_protocol,
            },
            local,
            peer,
            registry: Registry::global(),
            pool: None,
        };
        let frames = handshake_frames(&comm.registry, opts)?;
        write_message(&mut comm.stream, &frames)?;
        let theirs = comm.read()?;
        comm.handshake = negotiate(opts, theirs)?;
        Ok(comm)
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

    /// Writes one message (see [`crate::message::dumps`]); returns the bytes
    /// written.
    ///
    /// # Errors
    ///
    /// Encoding errors, a closed connection.
    pub fn write(&mut self, msg: &Value) -> Result<usize> {
        let opts = write_options(&self.opts, &self.local, &self.peer, &self.handshake);
        let frames = self.registry.dumps(msg, &opts)?;
        self.write_frames(&frames)
    }

    /// Writes already-encoded frames as one message (vectored, no copy).
    ///
    /// # Errors
    ///
    /// A closed connection.
    pub fn write_frames<B: AsRef<[u8]>>(&mut self, frames: &[B]) -> Result<usize> {
        write_message(&mut self.stream, frames).map_err(|e| e.timed_out_after(self.opts.timeout))
    }

    /// Reads the frames of one message; `Ok(None)` when the peer closed the
    /// connection between messages.
    ///
    /// # Errors
    ///
    /// Invalid framing, limits, a connection closed mid-message.
    pub fn read_frames(&mut self) -> Result<Option<Vec<Bytes>>> {
        match &self.pool {
            Some(pool) => read_message_pooled(&mut self.stream, &self.opts.limits, pool),
            None => read_message(&mut self.stream, &self.opts.limits),
        }
        .map_err(|e| e.timed_out_after(self.opts.timeout))
    }

    /// Reads large frames into buffers of `pool` from now on (see
    /// [`BufferPool`]): a steady stream of large messages then reuses
    /// mapped memory instead of allocating per frame.
    pub fn set_buffer_pool(&mut self, pool: BufferPool) {
        self.pool = Some(pool);
    }

    /// Reads and decodes one message.
    ///
    /// # Errors
    ///
    /// [`Error::CommClosed`] when the peer closed the connection, and the
    /// errors of [`Comm::read_frames`] and [`crate::message::loads`].
    pub fn read(&mut self) -> Result<Value> {
        self.read_with(false)
    }

    /// Reads one message keeping its payloads as [`Value::Opaque`] (decode
    /// them with [`Opaque::decode`](crate::message::Opaque::decode) into
    /// typed values, or forward them untouched).
    ///
    /// # Errors
    ///
    /// As [`Comm::read`].
    pub fn read_opaque(&mut self) -> Result<Value> {
        self.read_with(true)
    }

    pub(crate) fn read_with(&mut self, keep_serialized: bool) -> Result<Value> {
        let frames = self
            .read_frames()?
            .ok_or_else(|| Error::CommClosed("the peer closed the connection".into()))?;
        self.registry
            .loads(&frames, &read_options(&self.opts, keep_serialized))
    }

    /// Shuts the connection down.
    pub fn close(self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// Looks up a string key of a message map.
pub fn get<'v>(msg: &'v Value, key: &str) -> Option<&'v Value> {
    match msg {
        Value::Dict(e) => e
            .iter()
            .find(|(k, _)| matches!(k, Value::Str(s) if s == key))
            .map(|(_, v)| v),
        _ => None,
    }
}

/// An RPC client (Python's `rpc(addr)`): one comm, request → reply.
///
/// Requests carry `"serializers": ["dask", "msgpack"]` so replies never
/// contain pickled payloads from a Python server.
#[derive(Debug)]
pub struct Rpc {
    comm: Comm,
}

impl Rpc {
    /// Connects to a Dask server.
    ///
    /// # Errors
    ///
    /// As [`Comm::connect`].
    pub fn connect(addr: &str, opts: &CommOptions) -> Result<Rpc> {
        Ok(Rpc {
            comm: Comm::connect(addr, opts)?,
        })
    }

    /// Calls `op` with keyword arguments and returns the reply.
    ///
    /// # Errors
    ///
    /// [`Error::RemoteCall`] when the handler raised (`uncaught-error`),
    /// comm and decoding errors.
    pub fn call(&mut self, op: &str, args: Vec<(&str, Value)>) -> Result<Value> {
        self.call_with(op, args, false)
    }

    /// [`Rpc::call`] keeping the reply's payloads opaque (see
    /// [`Comm::read_opaque`]): gather results straight into typed values.
    ///
    /// # Errors
    ///
    /// As [`Rpc::call`].
    pub fn call_opaque(&mut self, op: &str, args: Vec<(&str, Value)>) -> Result<Value> {
        self.call_with(op, args, true)
    }

    fn call_with(&mut self, op: &str, args: Vec<(&str, Value)>, keep_serialized: bool) -> Result<Value> {
        self.comm.write(&rpc_request(op, args))?;
        rpc_reply(op, self.comm.read_with(keep_serialized)?)
    }

    /// The underlying comm.
    pub fn comm(&mut self) -> &mut Comm {
        &mut self.comm
    }

    /// Closes politely (`{"op": "close", "reply": false}`).
    pub fn close(mut self) {
        let _ = self.comm.write(&close_request());
        self.comm.close();
    }
}

/// An RPC request: `op`, the arguments, `reply: true` and
/// `serializers: ["dask", "msgpack"]`. Shared with the async RPC client.
pub(crate) fn rpc_request(op: &str, args: Vec<(&str, Value)>) -> Value {
    let mut msg = vec![(Value::from("op"), Value::from(op))];
    msg.extend(args.into_iter().map(|(k, v)| (Value::from(k), v)));
    msg.push((Value::from("reply"), Value::Bool(true)));
    msg.push((
        Value::from("serializers"),
        Value::List(vec![Value::from("dask"), Value::from("msgpack")]),
    ));
    Value::Dict(msg)
}

/// The reply of an RPC, or [`Error::RemoteCall`] when it is an
/// `uncaught-error`. Shared with the async RPC client.
pub(crate) fn rpc_reply(op: &str, reply: Value) -> Result<Value> {
    if let Some(Value::Str(status)) = get(&reply, "status") {
        if status == "uncaught-error" {
            let text = |k: &str| match get(&reply, k) {
                Some(Value::Str(s)) => s.clone(),
                _ => String::new(),
            };
            return Err(Error::RemoteCall {
                op: op.to_owned(),
                exception: text("exception_text"),
                traceback: text("traceback_text"),
            });
        }
    }
    Ok(reply)
}

/// `{"op": "close", "reply": false}`, what Python's `rpc` sends when it
/// closes a connection.
pub(crate) fn close_request() -> Value {
    Value::Dict(vec![
        (Value::from("op"), Value::from("close")),
        (Value::from("reply"), Value::Bool(false)),
    ])
}

/// A handler of a [`Server`]: the request's arguments → the reply.
pub type Handler = Arc<dyn Fn(&Value) -> Result<Value> + Send + Sync>;

/// A small Dask-compatible server: answers `identity`, `echo` and `close`
/// like `distributed.core.Server`, plus any handlers you add. Python's
/// `rpc(addr).identity()` works against it. Each connection is served on
/// its own thread; a peer that sends garbage or disconnects only ends its
/// own connection.
pub struct Server {
    listener: TcpListener,
    handlers: HashMap<String, Handler>,
    opts: CommOptions,
    id: String,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("id", &self.id)
            .field("ops", &self.handlers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Server {
    /// Binds to `addr` (`"127.0.0.1:0"` for any free port).
    ///
    /// # Errors
    ///
    /// The address cannot be bound.
    pub fn bind(addr: &str, id: &str, opts: &CommOptions) -> Result<Server> {
        let listener = TcpListener::bind(parse_address(addr)?).map_err(|e| Error::io("bind", e))?;
        let mut s = Server {
            listener,
            handlers: HashMap::new(),
            opts: opts.clone(),
            id: id.to_owned(),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let id = s.id.clone();
        s.handle("identity", move |_| {
            Ok(Value::Dict(vec![
                (Value::from("type"), Value::from("RustServer")),
                (Value::from("id"), Value::from(id.as_str())),
            ]))
        });
        s.handle("echo", |req| Ok(get(req, "data").cloned().unwrap_or(Value::None)));
        Ok(s)
    }

    /// Adds (or replaces) the handler of `op`.
    pub fn handle(&mut self, op: &str, f: impl Fn(&Value) -> Result<Value> + Send + Sync + 'static) {
        self.handlers.insert(op.to_owned(), Arc::new(f));
    }

    /// `tcp://host:port` this server listens on.
    pub fn address(&self) -> String {
        self.listener
            .local_addr()
            .map(|a| format!("tcp://{a}"))
            .unwrap_or_default()
    }

    /// A flag that stops [`Server::serve`] after the next connection.
    pub fn stopper(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Serves connections until the stop flag is set (each connection on
    /// its own thread).
    pub fn serve(self) {
        let handlers = Arc::new(self.handlers);
        for conn in self.listener.incoming() {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            let Ok(stream) = conn else { continue };
            let handlers = handlers.clone();
            let opts = self.opts.clone();
            std::thread::spawn(move || {
                let _ = serve_connection(stream, &opts, &handlers);
            });
        }
    }

    /// Serves in a background thread; returns the address.
    pub fn spawn(self) -> String {
        let addr = self.address();
        std::thread::spawn(move || self.serve());
        addr
    }
}

fn serve_connection(
    stream: TcpStream,
    opts: &CommOptions,
    handlers: &HashMap<String, Handler>,
) -> Result<()> {
    let mut comm = Comm::from_stream(stream, opts)?;
    loop {
        let msg = match comm.read() {
            Ok(m) => m,
            Err(Error::CommClosed(_)) => return Ok(()),
            Err(e) => {
                comm.close();
                return Err(e);
            }
        };
        // like distributed.core.Server: a non-map or a map without `op` ends the comm
        let Some(Value::Str(op)) = get(&msg, "op").cloned() else {
            comm.close();
            return Err(Error::Protocol("a request must be a map with an \"op\"".into()));
        };
        let reply = !matches!(get(&msg, "reply"), Some(Value::Bool(false)));
        if op == "close" {
            if reply {
                comm.write(&Value::from("OK"))?;
            }
            comm.close();
            return Ok(());
        }
        let answer = match handlers.get(&op) {
            Some(h) => match h(&msg) {
                Ok(v) => v,
                Err(e) => Value::Dict(vec![
                    (Value::from("status"), Value::from("uncaught-error")),
                    (Value::from("exception"), Value::None),
                    (Value::from("traceback"), Value::None),
                    (Value::from("exception_text"), Value::from(e.to_string())),
                    (Value::from("traceback_text"), Value::from("")),
                ]),
            },
            None => Value::None,
        };
        if reply {
            comm.write(&answer)?;
        }
    }
}
