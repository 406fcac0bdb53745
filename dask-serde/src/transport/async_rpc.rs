//! The async RPC client (feature `tokio`): [`AsyncRpc`] drives the sans-IO
//! [`Call`] over an [`AsyncComm`].

use super::async_comm::AsyncComm;
use super::options::CommOptions;
use super::proto::{close_request, peer_closed, Call};
use crate::error::Result;
use crate::value::Value;

/// An async RPC client (Python's `rpc(addr)`): one comm, request → reply;
/// the async counterpart of [`Rpc`](super::rpc::Rpc).
///
/// Requests carry `"serializers": ["dask", "msgpack"]` so replies never
/// contain pickled payloads from a Python server. A call dropped before it
/// completes leaves its reply unread on the connection: drop the client
/// then too (or [`close`](AsyncRpc::close) it).
///
/// # Examples
///
/// ```no_run
/// use dask_serde::transport::async_rpc::AsyncRpc;
/// use dask_serde::transport::options::CommOptions;
/// use dask_serde::{Error, Value};
///
/// # async fn run() -> dask_serde::Result<()> {
/// let mut rpc = AsyncRpc::connect("tcp://127.0.0.1:8786", &CommOptions::default()).await?;
/// match rpc.call("gather", vec![("keys", Value::List(vec![Value::from("x")]))]).await {
///     Ok(reply) => println!("{reply:?}"),
///     Err(Error::RemoteCall { exception, .. }) => println!("the scheduler raised {exception}"),
///     Err(e) => return Err(e),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct AsyncRpc {
    comm: AsyncComm,
}

impl AsyncRpc {
    /// Connects to a Dask server.
    ///
    /// # Errors
    ///
    /// As [`AsyncComm::connect`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dask_serde::transport::async_rpc::AsyncRpc;
    /// # use dask_serde::transport::options::CommOptions;
    /// # async fn run() -> dask_serde::Result<()> {
    /// let rpc = AsyncRpc::connect("tcp://127.0.0.1:8786", &CommOptions::default()).await?;
    /// # drop(rpc);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(addr: &str, opts: &CommOptions) -> Result<AsyncRpc> {
        Ok(AsyncRpc {
            comm: AsyncComm::connect(addr, opts).await?,
        })
    }

    /// An RPC client on an established comm.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dask_serde::transport::async_comm::AsyncComm;
    /// # use dask_serde::transport::async_rpc::AsyncRpc;
    /// # use dask_serde::transport::options::CommOptions;
    /// # async fn run() -> dask_serde::Result<()> {
    /// let comm = AsyncComm::connect("tcp://127.0.0.1:8786", &CommOptions::default()).await?;
    /// let mut rpc = AsyncRpc::from_comm(comm);
    /// rpc.call("identity", vec![]).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_comm(comm: AsyncComm) -> AsyncRpc {
        AsyncRpc { comm }
    }

    /// Calls `op` with keyword arguments and returns the reply.
    ///
    /// # Errors
    ///
    /// [`Error::RemoteCall`](crate::Error::RemoteCall) when the handler raised (`uncaught-error`),
    /// comm and decoding errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dask_serde::transport::async_rpc::AsyncRpc;
    /// # use dask_serde::transport::options::CommOptions;
    /// use dask_serde::Value;
    /// # async fn run() -> dask_serde::Result<()> {
    /// # let mut rpc = AsyncRpc::connect("tcp://127.0.0.1:8786", &CommOptions::default()).await?;
    /// let echo = rpc.call("echo", vec![("data", Value::from(42))]).await?;
    /// assert_eq!(echo, Value::from(42));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn call(&mut self, op: &str, args: Vec<(&str, Value)>) -> Result<Value> {
        self.call_with(op, args, false).await
    }

    /// [`AsyncRpc::call`] keeping the reply's payloads opaque (see
    /// [`AsyncComm::read_opaque`]): gather results straight into typed
    /// values.
    ///
    /// # Errors
    ///
    /// As [`AsyncRpc::call`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dask_serde::transport::async_rpc::AsyncRpc;
    /// # use dask_serde::transport::options::CommOptions;
    /// use dask_serde::Value;
    /// # async fn run() -> dask_serde::Result<()> {
    /// # let mut rpc = AsyncRpc::connect("tcp://127.0.0.1:8786", &CommOptions::default()).await?;
    /// let reply = rpc
    ///     .call_opaque("gather", vec![("keys", Value::List(vec![Value::from("x")]))])
    ///     .await?;
    /// # drop(reply);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn call_opaque(&mut self, op: &str, args: Vec<(&str, Value)>) -> Result<Value> {
        self.call_with(op, args, true).await
    }

    async fn call_with(
        &mut self,
        op: &str,
        args: Vec<(&str, Value)>,
        keep_serialized: bool,
    ) -> Result<Value> {
        let (call, request) = Call::start(self.comm.connection(), op, args, keep_serialized)?;
        self.comm.write_frames(&request).await?;
        let reply = self.comm.read_frames().await?.ok_or_else(peer_closed)?;
        call.finish(self.comm.connection(), &reply)
    }

    /// The underlying comm.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dask_serde::transport::async_rpc::AsyncRpc;
    /// # use dask_serde::transport::options::CommOptions;
    /// # async fn run() -> dask_serde::Result<()> {
    /// let mut rpc = AsyncRpc::connect("tcp://127.0.0.1:8786", &CommOptions::default()).await?;
    /// println!("{:?}", rpc.comm().handshake());
    /// # Ok(())
    /// # }
    /// ```
    pub fn comm(&mut self) -> &mut AsyncComm {
        &mut self.comm
    }

    /// Closes politely (`{"op": "close", "reply": false}`), then shuts the
    /// connection down.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dask_serde::transport::async_rpc::AsyncRpc;
    /// # use dask_serde::transport::options::CommOptions;
    /// # async fn run() -> dask_serde::Result<()> {
    /// let rpc = AsyncRpc::connect("tcp://127.0.0.1:8786", &CommOptions::default()).await?;
    /// rpc.close().await;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn close(mut self) {
        let _ = self.comm.write(&close_request()).await;
        self.comm.close().await;
    }
}
