//! A small blocking Dask-compatible server: [`Server`] accepts connections
//! and drives the sans-IO [`respond`] on each, a
//! thread per connection.

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
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

/// One connection: handshake, then requests until the peer closes or asks
/// to close; an error (garbage, a request without `op`) ends it.
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
