//! Attribute access and error construction for the node being translated.

use tract_onnx::pb;

use super::{OnnxError, MAX_DIM};

/// The node being translated, for attribute access and error messages.
pub(super) struct NodeCtx<'a> {
    pub(super) name: &'a str,
    pub(super) op: &'a str,
    pub(super) node: &'a pb::NodeProto,
}

impl NodeCtx<'_> {
    pub(super) fn unsupported(&self, reason: &str) -> OnnxError {
        OnnxError::Unsupported { node: self.name.to_string(), op: self.op.to_string(), reason: reason.to_string() }
    }

    pub(super) fn input_name(&self, i: usize) -> Result<&str, OnnxError> {
        match self.node.input.get(i) {
            Some(n) if !n.is_empty() => Ok(n),
            _ => Err(self.unsupported(&format!("missing input {i}"))),
        }
    }

    pub(super) fn attr(&self, name: &str) -> Option<&pb::AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == name)
    }

    pub(super) fn attrs_only(&self, allowed: &[&str]) -> Result<(), OnnxError> {
        match self.node.attribute.iter().find(|a| !allowed.contains(&a.name.as_str())) {
            Some(a) => Err(self.unsupported(&format!("attribute {:?}", a.name))),
            None => Ok(()),
        }
    }

    pub(super) fn int(&self, name: &str) -> Result<Option<i64>, OnnxError> {
        Ok(self.attr(name).map(|a| a.i))
    }

    pub(super) fn float(&self, name: &str) -> Result<Option<f64>, OnnxError> {
        match self.attr(name) {
            Some(a) if !a.f.is_finite() => Err(self.unsupported(&format!("{name} is not finite"))),
            a => Ok(a.map(|a| f64::from(a.f))),
        }
    }

    pub(super) fn ints(&self, name: &str) -> Result<Option<Vec<i64>>, OnnxError> {
        Ok(self.attr(name).map(|a| a.ints.clone()))
    }

    /// A 2-element attribute of values in `1..MAX_DIM`, or `(d, d)` when absent.
    pub(super) fn pair(&self, name: &str, default: Option<usize>) -> Result<(usize, usize), OnnxError> {
        match (self.ints(name)?, default) {
            (Some(v), _) => match v[..] {
                [a, b] if (1..MAX_DIM).contains(&a) && (1..MAX_DIM).contains(&b) => Ok((a as usize, b as usize)),
                _ => Err(self.unsupported(&format!("{name} must be two positive values, got {v:?}"))),
            },
            (None, Some(d)) => Ok((d, d)),
            (None, None) => Err(self.unsupported(&format!("missing attribute {name}"))),
        }
    }

    pub(super) fn require_int(&self, name: &str, want: i64) -> Result<(), OnnxError> {
        match self.int(name)? {
            Some(v) if v != want => Err(self.unsupported(&format!("{name} = {v} (only {want})"))),
            _ => Ok(()),
        }
    }

    pub(super) fn require_zero(&self, name: &str) -> Result<(), OnnxError> {
        match self.ints(name)? {
            Some(v) if v.iter().any(|&x| x != 0) => Err(self.unsupported(&format!("{name} must be 0"))),
            _ => Ok(()),
        }
    }

    pub(super) fn require_ones(&self, name: &str) -> Result<(), OnnxError> {
        match self.ints(name)? {
            Some(v) if v.iter().any(|&x| x != 1) => Err(self.unsupported(&format!("{name} must be 1"))),
            _ => Ok(()),
        }
    }

    pub(super) fn require_no_auto_pad(&self) -> Result<(), OnnxError> {
        match self.attr("auto_pad").map(|a| a.s.as_slice()) {
            None | Some(b"NOTSET") | Some(b"VALID") | Some(b"") => Ok(()),
            Some(_) => Err(self.unsupported("auto_pad SAME_* (give explicit pads)")),
        }
    }
}
