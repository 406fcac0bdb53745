//! Dask's `tcp://host:port` addresses.

use std::net::SocketAddr;

use crate::error::{Error, Result};

/// Strips `tcp://` from a Dask address (`host:port` is accepted as is).
///
/// # Errors
///
/// [`Error::Address`] for any other scheme.
///
/// # Examples
///
/// ```
/// use dask_serde::transport::address::parse_address;
///
/// assert_eq!(parse_address("tcp://127.0.0.1:8786")?, "127.0.0.1:8786");
/// assert_eq!(parse_address("127.0.0.1:8786")?, "127.0.0.1:8786");
/// assert!(parse_address("ucx://127.0.0.1:8786").is_err());
/// # Ok::<(), dask_serde::Error>(())
/// ```
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

/// A socket's address as Dask writes it (`tcp://host:port`), empty when the
/// socket cannot tell.
pub(crate) fn tcp_address(addr: std::io::Result<SocketAddr>) -> String {
    addr.map(|a| format!("tcp://{a}")).unwrap_or_default()
}
