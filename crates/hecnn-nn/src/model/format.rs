//! The `.bin` weight format: small, versioned, validated on load.
//!
//! Layout (all integers u32 little-endian, all weights f32 little-endian):
//! `"HECNNMDL"`, version, input rank (1..=3) and dims, node count, then per
//! node a tag byte, an input-count byte, the input value ids, and the
//! op's fields (Conv2d: out_c, in_c, kh, kw, sh, sw, pad top/left/bottom/right,
//! weights, bias; ChannelAffine: c, scale, shift; MaxPool/AvgPool: kh, kw, sh,
//! sw; Linear: out, in, weights, bias); finally the output value id. Nothing may
//! follow. Every count is checked against the bytes left before allocating,
//! weights must be finite, and the graph is validated by [`Model::new`].

use thiserror::Error;

use super::layers::{ChannelAffine, Conv2d, Linear, Pool2d};
use super::{Model, ModelError, Node, Op};

/// First bytes of a model file.
pub const MAGIC: &[u8; 8] = b"HECNNMDL";
/// The format version written and read.
pub const VERSION: u32 = 1;
const MAX_NODES: usize = 4096;
const MAX_DIM: usize = 1 << 16;

const T_CONV: u8 = 1;
const T_AFFINE: u8 = 2;
const T_RELU: u8 = 3;
const T_MAXPOOL: u8 = 4;
const T_AVGPOOL: u8 = 5;
const T_LINEAR: u8 = 6;
const T_ADD: u8 = 7;
const T_FLATTEN: u8 = 8;

/// Why model bytes could not be read.
#[derive(Debug, Error, PartialEq)]
pub enum FormatError {
    /// The bytes do not start with [`MAGIC`].
    #[error("not a hecnn model file (bad magic)")]
    BadMagic,
    /// The version is not [`VERSION`].
    #[error("unsupported model format version {0} (this build reads {VERSION})")]
    Version(u32),
    /// The data ends early.
    #[error("truncated at byte {offset}: {what}")]
    Truncated {
        /// Where reading stopped.
        offset: usize,
        /// What was being read.
        what: &'static str,
    },
    /// A count or size is outside its bounds.
    #[error("{what} = {value} is out of bounds")]
    OutOfBounds {
        /// Which field.
        what: &'static str,
        /// Its value.
        value: u64,
    },
    /// Unknown layer tag.
    #[error("node {node}: unknown layer tag {tag}")]
    UnknownTag {
        /// Node index.
        node: usize,
        /// The tag.
        tag: u8,
    },
    /// A weight is NaN or infinite.
    #[error("node {node}: non-finite weight")]
    NonFinite {
        /// Node index.
        node: usize,
    },
    /// Bytes follow the model.
    #[error("{0} trailing bytes after the model")]
    Trailing(usize),
    /// The graph or its shapes are inconsistent.
    #[error("invalid model: {0}")]
    Invalid(#[from] ModelError),
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], FormatError> {
        if self.bytes.len() - self.pos < n {
            return Err(FormatError::Truncated { offset: self.pos, what });
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, FormatError> {
        Ok(self.take(1, what)?[0])
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, FormatError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A dimension in `1..=MAX_DIM` (or `0..=MAX_DIM` for padding).
    fn dim(&mut self, what: &'static str, min: usize) -> Result<usize, FormatError> {
        let v = self.u32(what)? as usize;
        if v < min || v > MAX_DIM {
            return Err(FormatError::OutOfBounds { what, value: v as u64 });
        }
        Ok(v)
    }

    fn floats(&mut self, n: usize, node: usize, what: &'static str) -> Result<Vec<f64>, FormatError> {
        let bytes = n.checked_mul(4).ok_or(FormatError::OutOfBounds { what, value: n as u64 })?;
        let raw = self.take(bytes, what)?;
        let v: Vec<f64> =
            raw.chunks_exact(4).map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect();
        if v.iter().any(|x| !x.is_finite()) {
            return Err(FormatError::NonFinite { node });
        }
        Ok(v)
    }
}

pub(super) fn read(bytes: &[u8]) -> Result<Model, FormatError> {
    let mut r = Reader { bytes, pos: 0 };
    if r.take(8, "magic").map_err(|_| FormatError::BadMagic)? != MAGIC {
        return Err(FormatError::BadMagic);
    }
    let version = r.u32("version")?;
    if version != VERSION {
        return Err(FormatError::Version(version));
    }
    let rank = r.u32("input rank")? as usize;
    if !(1..=3).contains(&rank) {
        return Err(FormatError::OutOfBounds { what: "input rank", value: rank as u64 });
    }
    let input_shape = (0..rank).map(|_| r.dim("input dim", 1)).collect::<Result<Vec<_>, _>>()?;
    let n = r.u32("node count")? as usize;
    if n > MAX_NODES {
        return Err(FormatError::OutOfBounds { what: "node count", value: n as u64 });
    }
    let mut nodes = Vec::with_capacity(n);
    for node in 0..n {
        let tag = r.u8("layer tag")?;
        let n_in = r.u8("input count")? as usize;
        let inputs = (0..n_in).map(|_| r.u32("input id").map(|v| v as usize)).collect::<Result<_, _>>()?;
        let op = match tag {
            T_CONV => {
                let out_c = r.dim("conv out channels", 1)?;
                let in_c = r.dim("conv in channels", 1)?;
                let kernel = (r.dim("kernel height", 1)?, r.dim("kernel width", 1)?);
                let stride = (r.dim("stride", 1)?, r.dim("stride", 1)?);
                let mut pad = [0; 4];
                for p in &mut pad {
                    *p = r.dim("padding", 0)?;
                }
                let count = out_c
                    .checked_mul(in_c)
                    .and_then(|v| v.checked_mul(kernel.0 * kernel.1))
                    .ok_or(FormatError::OutOfBounds { what: "conv weights", value: u64::MAX })?;
                let weight = r.floats(count, node, "conv weights")?.into();
                let bias = r.floats(out_c, node, "conv bias")?.into();
                Op::Conv2d(Conv2d { out_c, in_c, kernel, stride, pad, weight, bias })
            }
            T_AFFINE => {
                let c = r.dim("affine channels", 1)?;
                let scale = r.floats(c, node, "affine scale")?.into();
                let shift = r.floats(c, node, "affine shift")?.into();
                Op::ChannelAffine(ChannelAffine { scale, shift })
            }
            T_RELU => Op::Relu,
            T_MAXPOOL | T_AVGPOOL => {
                let kernel = (r.dim("pool height", 1)?, r.dim("pool width", 1)?);
                let stride = (r.dim("pool stride", 1)?, r.dim("pool stride", 1)?);
                let p = Pool2d { kernel, stride };
                if tag == T_MAXPOOL {
                    Op::MaxPool(p)
                } else {
                    Op::AvgPool(p)
                }
            }
            T_LINEAR => {
                let out_dim = r.dim("linear out", 1)?;
                let in_dim = r.dim("linear in", 1)?;
                let weight = r.floats(out_dim * in_dim, node, "linear weights")?.into();
                let bias = r.floats(out_dim, node, "linear bias")?.into();
                Op::Linear(Linear { out_dim, in_dim, weight, bias })
            }
            T_ADD => Op::Add,
            T_FLATTEN => Op::Flatten,
            tag => return Err(FormatError::UnknownTag { node, tag }),
        };
        nodes.push(Node { op, inputs });
    }
    let output = r.u32("output id")? as usize;
    if r.pos != bytes.len() {
        return Err(FormatError::Trailing(bytes.len() - r.pos));
    }
    Ok(Model::new(input_shape, nodes, output)?)
}

pub(super) fn write(model: &Model) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    let u32s = |out: &mut Vec<u8>, vs: &[usize]| {
        for &v in vs {
            out.extend_from_slice(&(v as u32).to_le_bytes());
        }
    };
    let f32s = |out: &mut Vec<u8>, vs: &[f64]| {
        for &v in vs {
            out.extend_from_slice(&(v as f32).to_le_bytes());
        }
    };
    u32s(&mut out, &[VERSION as usize, model.input_shape.len()]);
    u32s(&mut out, &model.input_shape);
    u32s(&mut out, &[model.nodes.len()]);
    for node in &model.nodes {
        let tag = match node.op {
            Op::Conv2d(_) => T_CONV,
            Op::ChannelAffine(_) => T_AFFINE,
            Op::Relu => T_RELU,
            Op::MaxPool(_) => T_MAXPOOL,
            Op::AvgPool(_) => T_AVGPOOL,
            Op::Linear(_) => T_LINEAR,
            Op::Add => T_ADD,
            Op::Flatten => T_FLATTEN,
        };
        out.push(tag);
        out.push(node.inputs.len() as u8);
        u32s(&mut out, &node.inputs);
        match &node.op {
            Op::Conv2d(c) => {
                u32s(&mut out, &[c.out_c, c.in_c, c.kernel.0, c.kernel.1, c.stride.0, c.stride.1]);
                u32s(&mut out, &c.pad);
                f32s(&mut out, c.weight.as_f64());
                f32s(&mut out, c.bias.as_f64());
            }
            Op::ChannelAffine(a) => {
                u32s(&mut out, &[a.scale.len()]);
                f32s(&mut out, a.scale.as_f64());
                f32s(&mut out, a.shift.as_f64());
            }
            Op::MaxPool(p) | Op::AvgPool(p) => {
                u32s(&mut out, &[p.kernel.0, p.kernel.1, p.stride.0, p.stride.1]);
            }
            Op::Linear(l) => {
                u32s(&mut out, &[l.out_dim, l.in_dim]);
                f32s(&mut out, l.weight.as_f64());
                f32s(&mut out, l.bias.as_f64());
            }
            Op::Relu | Op::Add | Op::Flatten => {}
        }
    }
    u32s(&mut out, &[model.output]);
    out
}
