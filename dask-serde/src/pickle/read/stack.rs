//! The stack machinery: the stack, its MARKs (CPython's "fence") and the
//! memo.

use super::node::{Node, Ref};
use super::Reader;
use crate::error::{Error, Result};
use crate::pickle::op;
use crate::value::Value;

impl<'a> Reader<'a> {
    /// The stack position below which nothing may be popped: the last
    /// open MARK's, else 0.
    pub(super) fn fence(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    /// Creates `node` (for the opcode at `at`) and pushes it.
    pub(super) fn push(&mut self, node: Node, at: usize) -> Result<Ref> {
        let r = self.arena.alloc(node, at).map_err(|m| self.err(at, m))?;
        self.stack.push(r);
        Ok(r)
    }

    /// Pushes the node of an immutable value.
    pub(super) fn push_leaf(&mut self, v: Value, at: usize) -> Result<()> {
        self.push(Node::from_value(v), at).map(|_| ())
    }

    /// The error of opcode `code` finding too few items above the fence.
    pub(super) fn underflow(&self, at: usize, code: u8) -> Error {
        let what = if self.stack.len() > self.fence() || self.marks.is_empty() {
            "stack underflow"
        } else {
            "stack underflow (the items it needs are before an open MARK)"
        };
        self.err(at, format!("{}: {what}", op::name(code).unwrap_or("?")))
    }

    /// Pops the top item (not below the fence).
    pub(super) fn pop(&mut self, at: usize, code: u8) -> Result<Ref> {
        if self.stack.len() <= self.fence() {
            return Err(self.underflow(at, code));
        }
        self.stack.pop().ok_or_else(|| self.underflow(at, code))
    }

    /// The top item (not below the fence), left on the stack.
    pub(super) fn top(&self, at: usize, code: u8) -> Result<Ref> {
        if self.stack.len() <= self.fence() {
            return Err(self.underflow(at, code));
        }
        self.stack.last().copied().ok_or_else(|| self.underflow(at, code))
    }

    /// Pops the items above the last MARK, and the MARK.
    pub(super) fn pop_mark(&mut self, at: usize, code: u8) -> Result<Vec<Ref>> {
        let Some(mark) = self.marks.pop() else {
            return Err(self.err(
                at,
                format!("{}: could not find MARK", op::name(code).unwrap_or("?")),
            ));
        };
        if mark > self.stack.len() {
            return Err(self.underflow(at, code));
        }
        Ok(self.stack.split_off(mark))
    }

    /// Pops `n` items (none of them below the fence), in stack order.
    pub(super) fn pop_n(&mut self, n: usize, at: usize, code: u8) -> Result<Vec<Ref>> {
        if self.stack.len() < self.fence() + n {
            return Err(self.underflow(at, code));
        }
        Ok(self.stack.split_off(self.stack.len() - n))
    }

    /// The Python type of `r` with an article, for messages.
    pub(super) fn kind(&self, r: Ref) -> String {
        self.arena.node(r).a_kind()
    }

    /// `PUT`/`BINPUT`/`LONG_BINPUT`/`MEMOIZE`: memoizes the top item at
    /// index `i`.
    pub(super) fn memo_put(&mut self, i: u64, at: usize, code: u8) -> Result<()> {
        let r = self.top(at, code)?;
        self.memo.insert(i, r);
        Ok(())
    }

    /// `GET`/`BINGET`/`LONG_BINGET`: pushes the object memoized at `i`.
    pub(super) fn memo_get(&mut self, i: u64, at: usize) -> Result<()> {
        let r = *self
            .memo
            .get(&i)
            .ok_or_else(|| self.err(at, format!("memo value not found at index {i}")))?;
        self.stack.push(r);
        Ok(())
    }
}
