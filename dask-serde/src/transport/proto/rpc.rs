//! Dask's RPC (`distributed.core.rpc`) without a socket: requests, replies,
//! and [`Call`], one call in flight.

use bytes::Bytes;

use super::connection::Connection;
use super::get;
use crate::error::{Error, Result};
use crate::value::Value;

/// An RPC request: `op`, the arguments, `reply: true` and
/// `serializers: ["dask", "msgpack"]` (so that a Python server never
/// replies with pickled payloads).
///
/// # Examples
///
/// ```
/// use dask_serde::transport::proto::{get, rpc_request};
/// use dask_serde::Value;
///
/// let req = rpc_request("echo", vec![("data", Value::from(1))]);
/// assert_eq!(get(&req, "op"), Some(&Value::from("echo")));
/// assert_eq!(get(&req, "reply"), Some(&Value::Bool(true)));
/// ```
pub fn rpc_request(op: &str, args: Vec<(&str, Value)>) -> Value {
    let mut msg = vec![(Value::from("op"), Value::from(op))];
    msg.extend(args.into_iter().map(|(k, v)| (Value::from(k), v)));
    msg.push((Value::from("reply"), Value::Bool(true)));
    msg.push((
        Value::from("serializers"),
        Value::List(vec![Value::from("dask"), Value::from("msgpack")]),
    ));
    Value::Dict(msg)
}

/// The reply of an RPC to `op`, or [`Error::RemoteCall`] when it is an
/// `uncaught-error` (the handler raised).
///
/// # Errors
///
/// [`Error::RemoteCall`] with the reply's `exception_text` and
/// `traceback_text`.
///
/// # Examples
///
/// ```
/// use dask_serde::transport::proto::rpc_reply;
/// use dask_serde::{Error, Value};
///
/// assert_eq!(rpc_reply("echo", Value::from(1))?, Value::from(1));
/// let raised = Value::Dict(vec![
///     (Value::from("status"), Value::from("uncaught-error")),
///     (Value::from("exception_text"), Value::from("KeyError('x')")),
/// ]);
/// assert!(matches!(rpc_reply("gather", raised), Err(Error::RemoteCall { .. })));
/// # Ok::<(), dask_serde::Error>(())
/// ```
pub fn rpc_reply(op: &str, reply: Value) -> Result<Value> {
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
pub fn close_request() -> Value {
    Value::Dict(vec![
        (Value::from("op"), Value::from("close")),
        (Value::from("reply"), Value::Bool(false)),
    ])
}

/// One RPC call in flight on a [`Connection`]: [`Call::start`] gives the
/// frames of the request to write, [`Call::finish`] takes the frames of
/// the next message read (the reply).
///
/// # Examples
///
/// A call answered in memory (a driver moves the frames over a socket):
///
/// ```
/// use dask_serde::transport::options::CommOptions;
/// use dask_serde::transport::proto::{get, Call, Handshaking};
/// use dask_serde::Value;
///
/// let opts = CommOptions::default();
/// let (mut c, mut s) = (Handshaking::new(&opts, "", "")?, Handshaking::new(&opts, "", "")?);
/// let (to_s, to_c) = (c.poll_transmit().unwrap(), s.poll_transmit().unwrap());
/// let (client, server) = (c.handle(&to_c)?, s.handle(&to_s)?);
///
/// let (call, request) = Call::start(&client, "echo", vec![("data", Value::from(7))], false)?;
/// let req = server.decode(&request, false)?;
/// let reply = server.encode(get(&req, "data").unwrap())?;
/// assert_eq!(call.finish(&client, &reply)?, Value::from(7));
/// # Ok::<(), dask_serde::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "a call is finished with the frames of its reply"]
pub struct Call {
    op: String,
    keep_serialized: bool,
}

impl Call {
    /// Starts a call of `op` with keyword arguments: the call and the
    /// frames of its request ([`rpc_request`], encoded for `conn`).
    /// `keep_serialized` keeps the reply's payloads opaque.
    ///
    /// # Errors
    ///
    /// Encoding errors.
    pub fn start(
        conn: &Connection,
        op: &str,
        args: Vec<(&str, Value)>,
        keep_serialized: bool,
    ) -> Result<(Call, Vec<Bytes>)> {
        let frames = conn.encode(&rpc_request(op, args))?;
        Ok((
            Call {
                op: op.to_owned(),
                keep_serialized,
            },
            frames,
        ))
    }

    /// The operation called.
    pub fn op(&self) -> &str {
        &self.op
    }

    /// Finishes the call with the frames of its reply.
    ///
    /// # Errors
    ///
    /// Decoding errors, and [`Error::RemoteCall`] when the handler raised
    /// (see [`rpc_reply`]).
    pub fn finish(self, conn: &Connection, frames: &[Bytes]) -> Result<Value> {
        rpc_reply(&self.op, conn.decode(frames, self.keep_serialized)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layout_is_pythons() {
        assert_eq!(
            rpc_request("identity", vec![]),
            Value::Dict(vec![
                (Value::from("op"), Value::from("identity")),
                (Value::from("reply"), Value::Bool(true)),
                (
                    Value::from("serializers"),
                    Value::List(vec![Value::from("dask"), Value::from("msgpack")])
                ),
            ])
        );
    }

    #[test]
    fn uncaught_errors_become_remote_calls() {
        let reply = Value::Dict(vec![
            (Value::from("status"), Value::from("uncaught-error")),
            (Value::from("exception_text"), Value::from("ValueError('x')")),
            (Value::from("traceback_text"), Value::from("tb")),
        ]);
        assert_eq!(
            rpc_reply("op1", reply),
            Err(Error::RemoteCall {
                op: "op1".into(),
                exception: "ValueError('x')".into(),
                traceback: "tb".into()
            })
        );
        let ok = Value::Dict(vec![(Value::from("status"), Value::from("OK"))]);
        assert_eq!(rpc_reply("op1", ok.clone()), Ok(ok));
    }
}
