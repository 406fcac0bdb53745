//! A small blocking Dask-compatible server: [`Server`] accepts connections
//! and drives the sans-IO [`respond`] on each, a
//! thread per connection.

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use super::address::{parse_address, tcp_address};
use super::comm::Comm;
use super::options::CommOptions;
use super::proto::{get, respond, Handler};
use crate::error::{Error, Result};
use crate::value::Value;

/// A small Dask-compatible server: answers `identity`, `echo` and `close`
/// like `distributed.core.Server`, plus any handlers you add. Python's
/// `rpc(addr).identity()` works against it. Each connection is served on
/// its own thread; a peer that sends garbage or disconnects only ends its
/// own connection.
///
/// # Examples
///
/// ```no_run
/// use dask_serde::transport::options::CommOptions;
/// use dask_serde::transport::proto::get;
/// use dask_serde::transport::server::Server;
/// use dask_serde::{Error, Value};
///
/// let mut server = Server::bind("127.0.0.1:0", "my-server", &CommOptions::default())?;
/// server.handle("add", |req| match (get(req, "x"), get(req, "y")) {
///     (Some(Value::Int(x)), Some(Value::Int(y))) => Ok(Value::Int(x + y)),
///     _ => Err(Error::Encode("x and y must be ints".into())),
/// });
/// let addr = server.spawn();
/// println!("serving on {addr}");
/// # Ok::<(), dask_serde::Error>(())
/// ```
pub struct Server {
    listener: TcpListener,
    handlers: HashMap<String, Handler>,
    opts: CommOptions,
    id: String,
    stop: Arc<AtomicBool>,
    max_connections: usize,
    active: Arc<AtomicUsize>,
}

/// Default of [`Server::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

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
    /// [`Error::Address`], or the address cannot be bound ([`Error::Io`]).
    pub fn bind(addr: &str, id: &str, opts: &CommOptions) -> Result<Server> {
        let listener =
            TcpListener::bind(parse_address(addr)?).map_err(|e| Error::io(format!("bind {addr}"), e))?;
        let mut s = Server {
            listener,
            handlers: HashMap::new(),
            opts: opts.clone(),
            id: id.to_owned(),
            stop: Arc::new(AtomicBool::new(false)),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            active: Arc::new(AtomicUsize::new(0)),
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
        tcp_address(self.listener.local_addr())
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
            // a connection beyond the cap is closed at once, before the
            // handshake (Dask's protocol has no refusal message): the peer
            // sees the connection closed, the connections served keep going
            if self.active.fetch_add(1, Ordering::SeqCst) >= self.max_connections {
                self.active.fetch_sub(1, Ordering::SeqCst);
                let _ = stream.shutdown(std::net::Shutdown::Both);
                continue;
            }
            let slot = ConnectionSlot(self.active.clone());
            let handlers = handlers.clone();
            let opts = self.opts.clone();
            std::thread::spawn(move || {
                let _slot = slot;
                let _ = serve_connection(stream, &opts, &handlers);
            });
        }
    }

    /// Serves at most `n` connections at once (default
    /// [`DEFAULT_MAX_CONNECTIONS`]); each holds a thread. A connection
    /// beyond the cap is closed as soon as it is accepted, so idle or slow
    /// peers cannot exhaust the process's threads.
    pub fn max_connections(&mut self, n: usize) {
        self.max_connections = n;
    }

    /// A live count of the connections being served (it keeps counting
    /// after [`Server::serve`] or [`Server::spawn`] took the server).
    pub fn connections(&self) -> Arc<AtomicUsize> {
        self.active.clone()
    }

    /// Serves in a background thread; returns the address.
    pub fn spawn(self) -> String {
        let addr = self.address();
        std::thread::spawn(move || self.serve());
        addr
    }
}

/// One connection: handshake, then requests until the peer closes or asks
/// to close; an error (garbage, a request without `op`) ends it.
/// One served connection: released when its thread ends, however it ends.
struct ConnectionSlot(Arc<AtomicUsize>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn serve_connection(
    stream: TcpStream,
    opts: &CommOptions,
    handlers: &HashMap<String, Handler>,
) -> Result<()> {
    let mut comm = Comm::from_stream(stream, opts)?;
    loop {
        let response = match comm.read().and_then(|msg| respond(&msg, handlers)) {
            Ok(r) => r,
            Err(Error::CommClosed(_)) => return Ok(()),
            Err(e) => {
                comm.close();
                return Err(e);
            }
        };
        if let Some(reply) = &response.reply {
            comm.write(reply)?;
        }
        if response.close {
            comm.close();
            return Ok(());
        }
    }
}
