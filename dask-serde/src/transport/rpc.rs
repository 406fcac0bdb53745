//! The blocking RPC client: [`Rpc`] drives the sans-IO
//! [`Call`] over a [`Comm`].

use super::comm::Comm;
use super::options::CommOptions;
use super::proto::{close_request, peer_closed, Call};
use crate::error::Result;
use crate::value::Value;

/// An RPC client (Python's `rpc(addr)`): one comm, request → reply.
///
/// Requests carry `"serializers": ["dask", "msgpack"]` so replies never
/// contain pickled payloads from a Python server.
///
/// # Examples
///
/// ```no_run
/// use dask_serde::transport::options::CommOptions;
/// use dask_serde::transport::proto::get;
/// use dask_serde::transport::rpc::Rpc;
/// use dask_serde::Value;
///
/// let mut rpc = Rpc::connect("tcp://127.0.0.1:8786", &CommOptions::default())?;
/// let id = rpc.call("identity", vec![])?;
/// assert_eq!(get(&id, "type"), Some(&Value::from("Scheduler")));
/// rpc.close();
/// # Ok::<(), dask_serde::Error>(())
/// ```
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

    /// An RPC client on an established comm.
    pub fn from_comm(comm: Comm) -> Rpc {
        Rpc { comm }
    }

    /// Calls `op` with keyword arguments and returns the reply.
    ///
    /// # Errors
    ///
    /// [`Error::RemoteCall`](crate::Error::RemoteCall) when the handler
    /// raised (`uncaught-error`), comm and decoding errors.
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
        let (call, request) = Call::start(self.comm.connection(), op, args, keep_serialized)?;
        self.comm.write_frames(&request)?;
        let reply = self.comm.read_frames()?.ok_or_else(peer_closed)?;
        call.finish(self.comm.connection(), &reply)
    }

    /// The underlying comm.
    pub fn comm(&mut self) -> &mut Comm {
        &mut self.comm
    }

    /// Closes politely (`{"op": "close", "reply": false}`), then shuts the
    /// connection down.
    pub fn close(mut self) {
        let _ = self.comm.write(&close_request());
        self.comm.close();
    }
}
