//! The server side of Dask's RPC (`distributed.core.Server`'s handling of
//! one request), without a socket.

use std::collections::HashMap;
use std::sync::Arc;

use super::get;
use crate::error::{Error, Result};
use crate::value::Value;

/// A handler of a server: the request (its `op` and arguments) → the reply.
/// An error becomes an `uncaught-error` reply ([`error_reply`]).
pub type Handler = Arc<dyn Fn(&Value) -> Result<Value> + Send + Sync>;

/// What a server does after one request.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    /// The message to write back (`None` when the request said
    /// `"reply": false`).
    pub reply: Option<Value>,
    /// Whether to close the connection after writing the reply (the
    /// request was `op: "close"`).
    pub close: bool,
}

/// Handles one request like `distributed.core.Server`: `close` ends the
/// connection (replying `"OK"` if asked), any other `op` goes to its
/// handler (an unknown `op` replies `None`, a handler's error replies
/// `uncaught-error`); the reply is written unless the request says
/// `"reply": false`.
///
/// # Errors
///
/// [`Error::Protocol`] when the request is not a map with a string `op`
/// (the server then ends the connection, as Dask's does).
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Arc;
/// use dask_serde::transport::proto::{respond, rpc_request, Handler, Response};
/// use dask_serde::Value;
///
/// let mut handlers: HashMap<String, Handler> = HashMap::new();
/// handlers.insert("ping".into(), Arc::new(|_: &Value| Ok(Value::from("pong"))));
/// let r = respond(&rpc_request("ping", vec![]), &handlers)?;
/// assert_eq!(r, Response { reply: Some(Value::from("pong")), close: false });
/// # Ok::<(), dask_serde::Error>(())
/// ```
pub fn respond(request: &Value, handlers: &HashMap<String, Handler>) -> Result<Response> {
    let Some(Value::Str(op)) = get(request, "op") else {
        return Err(Error::Protocol("a request must be a map with an \"op\"".into()));
    };
    let reply = !matches!(get(request, "reply"), Some(Value::Bool(false)));
    if op == "close" {
        return Ok(Response {
            reply: reply.then(|| Value::from("OK")),
            close: true,
        });
    }
    let answer = match handlers.get(op) {
        Some(h) => h(request).unwrap_or_else(|e| error_reply(&e)),
        None => Value::None,
    };
    Ok(Response {
        reply: reply.then_some(answer),
        close: false,
    })
}

/// The reply of a handler that failed: `{"status": "uncaught-error",
/// "exception": None, "traceback": None, "exception_text": <the error>,
/// "traceback_text": ""}` (Python's client raises from the texts when the
/// pickled exception is missing).
pub fn error_reply(e: &Error) -> Value {
    Value::Dict(vec![
        (Value::from("status"), Value::from("uncaught-error")),
        (Value::from("exception"), Value::None),
        (Value::from("traceback"), Value::None),
        (Value::from("exception_text"), Value::from(e.to_string())),
        (Value::from("traceback_text"), Value::from("")),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::proto::{close_request, rpc_reply, rpc_request};

    fn handlers() -> HashMap<String, Handler> {
        let mut h: HashMap<String, Handler> = HashMap::new();
        h.insert(
            "add".into(),
            Arc::new(|req: &Value| match (get(req, "x"), get(req, "y")) {
                (Some(Value::Int(x)), Some(Value::Int(y))) => Ok(Value::Int(x + y)),
                _ => Err(Error::Encode("x and y must be ints".into())),
            }),
        );
        h
    }

    #[test]
    fn requests_and_replies() {
        let h = handlers();
        let r = respond(
            &rpc_request("add", vec![("x", Value::from(1)), ("y", Value::from(2))]),
            &h,
        )
        .unwrap();
        assert_eq!(r.reply, Some(Value::from(3)));
        assert!(!r.close);
        // a failing handler: uncaught-error, which the client raises
        let r = respond(&rpc_request("add", vec![]), &h).unwrap();
        let e = rpc_reply("add", r.reply.unwrap()).unwrap_err();
        assert!(
            matches!(&e, Error::RemoteCall { exception, .. } if exception.contains("ints")),
            "{e}"
        );
        // unknown op
        assert_eq!(
            respond(&rpc_request("nope", vec![]), &h).unwrap().reply,
            Some(Value::None)
        );
        // reply: false
        let quiet = Value::Dict(vec![
            (Value::from("op"), Value::from("add")),
            (Value::from("reply"), Value::Bool(false)),
        ]);
        assert_eq!(respond(&quiet, &h).unwrap().reply, None);
        // close, with and without a reply
        assert_eq!(
            respond(&close_request(), &h).unwrap(),
            Response {
                reply: None,
                close: true
            }
        );
        let close = Value::Dict(vec![(Value::from("op"), Value::from("close"))]);
        assert_eq!(
            respond(&close, &h).unwrap(),
            Response {
                reply: Some(Value::from("OK")),
                close: true
            }
        );
        // not a request
        for bad in [
            Value::from(1),
            Value::Dict(vec![(Value::from("op"), Value::from(1))]),
        ] {
            assert!(matches!(respond(&bad, &h), Err(Error::Protocol(_))));
        }
    }
}
