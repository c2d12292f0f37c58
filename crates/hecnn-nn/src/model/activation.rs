//! Pluggable non-linearities.
//!
//! Homomorphic encryption evaluates only polynomials, so ReLU and max are
//! replaced there by `ReLU(x) = x·(1 + sgn x)/2` and
//! `max(a, b) = ((a + b) + (a − b)·sgn(a − b))/2` with a polynomial `sgn`
//! (Lee et al.). The model calls its non-linearities through [`Activation`],
//! so the same network runs exactly ([`Exact`]) or with the approximation
//! ([`SignApprox`]) — the *approximation simulator* — and the accuracy loss
//! is known before anything is encrypted. Max-pooling always reduces a window
//! as a balanced tree of pairwise maxima, the shape the encrypted circuit has.

use super::tensor::Scalar;

/// The non-linear operations of a model. `site` is the index of the node
/// being evaluated, so an implementation can use per-layer bounds.
pub trait Activation<S: Scalar>: Sync {
    /// ReLU of `x` at node `site`.
    fn relu(&self, site: usize, x: S) -> S;
    /// Maximum of `a` and `b` at max-pool node `site`.
    fn max(&self, site: usize, a: S, b: S) -> S;
}

/// Exact ReLU and max.
#[derive(Clone, Copy, Debug, Default)]
pub struct Exact;

impl<S: Scalar> Activation<S> for Exact {
    #[inline]
    fn relu(&self, _site: usize, x: S) -> S {
        if x > S::default() {
            x
        } else {
            S::default()
        }
    }
    #[inline]
    fn max(&self, _site: usize, a: S, b: S) -> S {
        if b > a {
            b
        } else {
            a
        }
    }
}

/// ReLU and max built from an approximate sign `p` on `[-1, 1]`:
/// `relu(x) = x·(1 + p(x/B))/2`, `max(a, b) = ((a+b) + (a−b)·p((a−b)/B))/2`,
/// where the bound `B` of node `site` is `bounds[site]` (inputs are divided
/// by it so they fall in `[-1, 1]`; choose it from
/// [`Model::activation_ranges`](super::Model::activation_ranges) with margin;
/// a max-pool's differences are at most its input's `max − min`).
/// [`crate::simulate`] chooses the bounds and counts out-of-range arguments.
///
/// ```
/// use hecnn_nn::model::{Activation, SignApprox};
/// let exact_sign = SignApprox::new(|t: f64| t.signum(), vec![4.0]);
/// assert_eq!(Activation::<f64>::relu(&exact_sign, 0, -1.5), 0.0);
/// assert_eq!(Activation::<f64>::max(&exact_sign, 0, 1.0, 3.0), 3.0);
/// ```
pub struct SignApprox<F> {
    sign: F,
    bounds: Vec<f64>,
}

impl<F: Fn(f64) -> f64 + Sync> SignApprox<F> {
    /// `sign` approximates sgn on `[-1, 1]`; `bounds[i]` is the bound `B` of
    /// node `i` (entries of nodes that are not ReLU/max-pool are unused).
    pub fn new(sign: F, bounds: Vec<f64>) -> Self {
        SignApprox { sign, bounds }
    }

    fn bound(&self, site: usize) -> f64 {
        self.bounds.get(site).copied().unwrap_or(1.0)
    }
}

impl<S: Scalar, F: Fn(f64) -> f64 + Sync> Activation<S> for SignApprox<F> {
    fn relu(&self, site: usize, x: S) -> S {
        let x = x.to_f64();
        S::from_f64(x * (1.0 + (self.sign)(x / self.bound(site))) / 2.0)
    }
    fn max(&self, site: usize, a: S, b: S) -> S {
        let (a, b) = (a.to_f64(), b.to_f64());
        let d = a - b;
        S::from_f64(((a + b) + d * (self.sign)(d / self.bound(site))) / 2.0)
    }
}
