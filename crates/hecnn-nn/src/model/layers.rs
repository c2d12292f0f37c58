//! The layers: shapes and plain loops over one `[C, H, W]` image.
//!
//! Convolutions use "valid range" loops with a contiguous inner row, which
//! the compiler vectorises; no im2col buffer is needed for these small nets.

use super::activation::Activation;
use super::tensor::{Scalar, Tensor, Weights};

/// 2-D convolution, weights `[out_c, in_c, kh, kw]`, zero padding.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv2d {
    /// Output channels.
    pub out_c: usize,
    /// Input channels.
    pub in_c: usize,
    /// Kernel height and width.
    pub kernel: (usize, usize),
    /// Vertical and horizontal stride (≥ 1).
    pub stride: (usize, usize),
    /// Zero padding: top, left, bottom, right.
    pub pad: [usize; 4],
    /// Weights, `out_c·in_c·kh·kw` values.
    pub weight: Weights,
    /// Bias, `out_c` values.
    pub bias: Weights,
}

impl Conv2d {
    /// Output shape for input `[c, h, w]`, or why it does not fit.
    pub fn out_shape(&self, input: &[usize]) -> Result<Vec<usize>, String> {
        let (kh, kw) = self.kernel;
        let (sh, sw) = self.stride;
        if self.weight.len() != self.out_c * self.in_c * kh * kw || self.bias.len() != self.out_c {
            return Err("weight or bias length does not match the declared shape".into());
        }
        if sh == 0 || sw == 0 || kh == 0 || kw == 0 {
            return Err("zero kernel size or stride".into());
        }
        let &[c, h, w] = input else {
            return Err(format!("expects [C, H, W] input, got {input:?}"));
        };
        if c != self.in_c {
            return Err(format!("expects {} input channels, got {c}", self.in_c));
        }
        let [pt, pl, pb, pr] = self.pad;
        let (hp, wp) = (h + pt + pb, w + pl + pr);
        if hp < kh || wp < kw {
            return Err(format!("kernel {kh}x{kw} larger than padded input {hp}x{wp}"));
        }
        Ok(vec![self.out_c, (hp - kh) / sh + 1, (wp - kw) / sw + 1])
    }

    /// Multiplies output channel `o` by `scale[o]` and adds `shift[o]`
    /// (folds a following batch norm into the convolution).
    pub fn fold_affine(&mut self, affine: &ChannelAffine) {
        let per = self.weight.len() / self.out_c.max(1);
        let mut w = self.weight.as_f64().to_vec();
        let mut b = self.bias.as_f64().to_vec();
        for o in 0..self.out_c {
            let s = affine.scale.as_f64()[o];
            w[o * per..(o + 1) * per].iter_mut().for_each(|v| *v *= s);
            b[o] = b[o] * s + affine.shift.as_f64()[o];
        }
        self.weight = w.into();
        self.bias = b.into();
    }

    pub(crate) fn forward<S: Scalar>(&self, x: &Tensor<S>, out_shape: &[usize]) -> Tensor<S> {
        let (ih, iw) = (x.shape()[1], x.shape()[2]);
        let (oh, ow) = (out_shape[1], out_shape[2]);
        let (kh, kw) = self.kernel;
        let (sh, sw) = self.stride;
        let (pt, pl) = (self.pad[0], self.pad[1]);
        let wts = S::weights(&self.weight);
        let bias = S::weights(&self.bias);
        let input = x.data();
        let mut out = Tensor::zeros(out_shape.to_vec());
        let od = out.data_mut();
        for o in 0..self.out_c {
            let plane = &mut od[o * oh * ow..(o + 1) * oh * ow];
            plane.iter_mut().for_each(|v| *v = bias[o]);
            for i in 0..self.in_c {
                let src = &input[i * ih * iw..(i + 1) * ih * iw];
                for ky in 0..kh {
                    for kx in 0..kw {
                        let wv = wts[((o * self.in_c + i) * kh + ky) * kw + kx];
                        // Output columns whose input column ox*sw + kx - pl is inside [0, iw).
                        let lo = if pl > kx { (pl - kx).div_ceil(sw) } else { 0 };
                        let hi = if iw + pl > kx { ((iw + pl - kx - 1) / sw + 1).min(ow) } else { 0 };
                        if lo >= hi {
                            continue;
                        }
                        for oy in 0..oh {
                            let iy = oy * sh + ky;
                            if iy < pt || iy - pt >= ih {
                                continue;
                            }
                            let row = &src[(iy - pt) * iw..(iy - pt + 1) * iw];
                            let orow = &mut plane[oy * ow..(oy + 1) * ow];
                            if sw == 1 {
                                let start = lo + kx - pl;
                                for (d, s) in orow[lo..hi].iter_mut().zip(&row[start..start + hi - lo]) {
                                    *d += wv * *s;
                                }
                            } else {
                                for ox in lo..hi {
                                    orow[ox] += wv * row[ox * sw + kx - pl];
                                }
                            }
                        }
                    }
                }
            }
        }
        out
    }
}

/// Per-channel `y = x·scale + shift`: an inference-time batch norm. On a
/// `[C, H, W]` input the channel is the first axis; on a `[D]` input each
/// element is its own channel.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelAffine {
    /// Scale per channel.
    pub scale: Weights,
    /// Shift per channel.
    pub shift: Weights,
}

impl ChannelAffine {
    pub(crate) fn check(&self, input: &[usize]) -> Result<(), String> {
        let c = self.scale.len();
        if self.shift.len() != c {
            return Err("scale and shift differ in length".into());
        }
        match input {
            [ch, _, _] | [ch] if *ch == c => Ok(()),
            _ => Err(format!("{c} channels do not match input {input:?}")),
        }
    }

    pub(crate) fn forward<S: Scalar>(&self, x: &Tensor<S>) -> Tensor<S> {
        let (scale, shift) = (S::weights(&self.scale), S::weights(&self.shift));
        let per = x.data().len() / scale.len().max(1);
        let mut out = x.clone();
        for (i, v) in out.data_mut().iter_mut().enumerate() {
            let c = i / per;
            *v = *v * scale[c] + shift[c];
        }
        out
    }
}

/// Batch normalisation parameters as exported by training frameworks.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNorm {
    /// γ per channel.
    pub gamma: Vec<f64>,
    /// β per channel.
    pub beta: Vec<f64>,
    /// Running mean per channel.
    pub mean: Vec<f64>,
    /// Running variance per channel.
    pub var: Vec<f64>,
    /// ε added to the variance.
    pub eps: f64,
}

impl BatchNorm {
    /// The equivalent per-channel affine map: `scale = γ/√(var+ε)`,
    /// `shift = β − mean·scale`.
    pub fn to_affine(&self) -> ChannelAffine {
        let scale: Vec<f64> = self.gamma.iter().zip(&self.var).map(|(g, v)| g / (v + self.eps).sqrt()).collect();
        let shift = self.beta.iter().zip(&self.mean).zip(&scale).map(|((b, m), s)| b - m * s).collect();
        ChannelAffine { scale: scale.into(), shift: Weights::new(shift) }
    }
}

/// Window of a max or average pool (no padding; floor on the output size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2d {
    /// Window height and width.
    pub kernel: (usize, usize),
    /// Vertical and horizontal stride.
    pub stride: (usize, usize),
}

impl Pool2d {
    /// A `k×k` window with stride `k`.
    pub fn square(k: usize) -> Self {
        Pool2d { kernel: (k, k), stride: (k, k) }
    }

    /// Output shape for input `[c, h, w]`, or why it does not fit.
    pub fn out_shape(&self, input: &[usize]) -> Result<Vec<usize>, String> {
        let (kh, kw) = self.kernel;
        let (sh, sw) = self.stride;
        if kh == 0 || kw == 0 || sh == 0 || sw == 0 {
            return Err("zero window or stride".into());
        }
        let &[c, h, w] = input else {
            return Err(format!("expects [C, H, W] input, got {input:?}"));
        };
        if h < kh || w < kw {
            return Err(format!("window {kh}x{kw} larger than input {h}x{w}"));
        }
        Ok(vec![c, (h - kh) / sh + 1, (w - kw) / sw + 1])
    }

    /// Calls `f(output index, window values)` for every output position.
    fn windows<S: Scalar>(&self, x: &Tensor<S>, out: &[usize], mut f: impl FnMut(usize, &mut Vec<S>)) {
        let (h, w) = (x.shape()[1], x.shape()[2]);
        let (oh, ow) = (out[1], out[2]);
        let mut buf = Vec::with_capacity(self.kernel.0 * self.kernel.1);
        for c in 0..out[0] {
            let plane = &x.data()[c * h * w..(c + 1) * h * w];
            for oy in 0..oh {
                for ox in 0..ow {
                    buf.clear();
                    for ky in 0..self.kernel.0 {
                        let row = (oy * self.stride.0 + ky) * w + ox * self.stride.1;
                        buf.extend_from_slice(&plane[row..row + self.kernel.1]);
                    }
                    f((c * oh + oy) * ow + ox, &mut buf);
                }
            }
        }
    }

    /// Max pool: each window reduced as a balanced tree of pairwise maxima.
    pub(crate) fn max_forward<S: Scalar, A: Activation<S> + ?Sized>(
        &self,
        x: &Tensor<S>,
        out_shape: &[usize],
        act: &A,
        site: usize,
    ) -> Tensor<S> {
        let mut out = Tensor::zeros(out_shape.to_vec());
        let od = out.data_mut();
        self.windows(x, out_shape, |i, buf| {
            let mut n = buf.len();
            while n > 1 {
                let half = n / 2;
                for j in 0..half {
                    buf[j] = act.max(site, buf[2 * j], buf[2 * j + 1]);
                }
                if n % 2 == 1 {
                    buf[half] = buf[n - 1];
                }
                n = n.div_ceil(2);
            }
            od[i] = buf[0];
        });
        out
    }

    /// Average pool.
    pub(crate) fn avg_forward<S: Scalar>(&self, x: &Tensor<S>, out_shape: &[usize]) -> Tensor<S> {
        let mut out = Tensor::zeros(out_shape.to_vec());
        let inv = S::from_f64(1.0 / (self.kernel.0 * self.kernel.1) as f64);
        let od = out.data_mut();
        self.windows(x, out_shape, |i, buf| {
            let mut s = S::default();
            for &v in buf.iter() {
                s += v;
            }
            od[i] = s * inv;
        });
        out
    }
}

/// Fully connected layer, weights `[out, in]` row-major, on a `[in]` input.
#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    /// Output size.
    pub out_dim: usize,
    /// Input size.
    pub in_dim: usize,
    /// Weights, `out·in` values.
    pub weight: Weights,
    /// Bias, `out` values.
    pub bias: Weights,
}

impl Linear {
    /// Output shape for `input`, or why it does not fit.
    pub fn out_shape(&self, input: &[usize]) -> Result<Vec<usize>, String> {
        if self.weight.len() != self.out_dim * self.in_dim || self.bias.len() != self.out_dim {
            return Err("weight or bias length does not match the declared shape".into());
        }
        if input != [self.in_dim] {
            return Err(format!("expects [{}] input, got {input:?}", self.in_dim));
        }
        Ok(vec![self.out_dim])
    }

    pub(crate) fn forward<S: Scalar>(&self, x: &Tensor<S>) -> Tensor<S> {
        let w = S::weights(&self.weight);
        let b = S::weights(&self.bias);
        let data = (0..self.out_dim)
            .map(|o| {
                let row = &w[o * self.in_dim..(o + 1) * self.in_dim];
                let mut s = b[o];
                for (a, v) in row.iter().zip(x.data()) {
                    s += *a * *v;
                }
                s
            })
            .collect();
        Tensor::new(vec![self.out_dim], data).expect("length out_dim")
    }
}
