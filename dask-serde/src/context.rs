//! The context handed to serialization families.

use crate::value::Value;

/// Extra information a sender passes to the families (Python's `context=`
/// argument): over TCP it holds `sender`, `recipient`, `pickle-protocol`
/// and `compression`; applications may add any keys.
///
/// # Examples
///
/// ```
/// use dask_serde::{Context, Value};
///
/// let ctx = Context::new()
///     .with("recipient", Value::from("tcp://10.0.0.2:8786"))
///     .with("pickle-protocol", Value::from(4));
/// assert_eq!(ctx.pickle_protocol(), Some(4));
/// assert_eq!(ctx.recipient(), Some(&Value::from("tcp://10.0.0.2:8786")));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Context {
    entries: Vec<(String, Value)>,
}

impl Context {
    /// An empty context.
    pub fn new() -> Self {
        Context::default()
    }

    /// Sets `key` (replacing an earlier value) and returns the context.
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.insert(key, value);
        self
    }

    /// Sets `key`, replacing an earlier value.
    pub fn insert(&mut self, key: &str, value: Value) {
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.entries.push((key.to_owned(), value)),
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// All entries in insertion order.
    pub fn entries(&self) -> &[(String, Value)] {
        &self.entries
    }

    /// `sender` (local address info over a comm).
    pub fn sender(&self) -> Option<&Value> {
        self.get("sender")
    }

    /// `recipient` (remote address info over a comm).
    pub fn recipient(&self) -> Option<&Value> {
        self.get("recipient")
    }

    /// `pickle-protocol`, if set to an integer in 0..=255.
    pub fn pickle_protocol(&self) -> Option<u8> {
        match self.get("pickle-protocol") {
            Some(Value::Int(i)) => u8::try_from(*i).ok(),
            _ => None,
        }
    }

    /// `compression`: `Some(None)` when explicitly nil, `Some(Some(name))`
    /// for a codec, `None` when absent.
    pub fn compression(&self) -> Option<Option<&str>> {
        match self.get("compression")? {
            Value::Str(s) => Some(Some(s)),
            _ => Some(None),
        }
    }
}
