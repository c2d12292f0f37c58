//! Polynomials on ciphertexts, in the Chebyshev basis, at optimal depth.
//!
//! `p(t) = Σ c_k T_k(t)` for a ciphertext `t` with values in `[−1, 1]` is
//! evaluated by baby-step giant-step (Bossuat et al., Eurocrypt 2021):
//!
//! * **Powers.** `T_{a+b} = 2·T_a·T_b − T_{a−b}` with `a` a power of two. The
//!   subtrahend is multiplied by an integer constant at the product's scale
//!   *before* the rescale, so it costs neither a level nor a scale fix-up,
//!   and `T_k` sits at depth `ceil(log2 k)`.
//! * **Giant steps.** `p = q_0 + T_G·q_1` with `G` a power of two, recursively.
//! * **Leaves** `Σ c_i T_i` are one [`linear_combination`] whose constants are
//!   encoded so that the leaf lands *exactly* on the scale its parent needs
//!   (`target·q/scale(T_G)`), then one rescale. Scalar products ride on
//!   rescales that the structure needs anyway: no scale drift, no extra level.
//!
//! Every node is planned top-down with the level it must land on. A leaf
//! whose baby steps sit too deep for that level (only on the path that takes
//! the upper half at every split) is split once more, so the depth is exactly
//! `ceil(log2(d+1))` for every degree at the cost of a few products.
//!
//! The plan (split tree, baby-step size, the powers `T_k` computed) is
//! [`hecnn_approx::cost::EvalPlan`], the cost model the composite-sign degree
//! search optimises: this evaluator executes it node for node, so its
//! product count is the model's ([`hecnn_approx::cost::nonscalar_mults`] for
//! odd polynomials). A dry run of the plan over `(level, scale)` pairs
//! checks the level budget and the scales before any ciphertext work starts.
//!
//! [`linear_combination`]: crate::Evaluator::linear_combination

use crate::ciphertext::Ciphertext;
use crate::error::{CkksError, Result};
use crate::eval::Evaluator;
use crate::keys::public::RelinKey;
use hecnn_approx::cost::{EvalPlan, PlanNode};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Levels a degree-`d` polynomial consumes: `ceil(log2(d + 1))`, and 1 for a
/// constant (the result still needs the target scale, which takes a rescale).
///
/// ```
/// use hecnn_ckks::circuits::poly::depth;
/// assert_eq!((depth(0), depth(1), depth(7), depth(8), depth(255)), (1, 1, 3, 4, 8));
/// ```
pub fn depth(degree: usize) -> usize {
    hecnn_approx::cost::depth(degree).max(1) as usize
}

/// What an evaluation cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PolyStats {
    /// Ciphertext × ciphertext products (each one relinearization).
    pub nonscalar_mults: usize,
    /// Levels consumed.
    pub depth: usize,
    /// Baby-step parameter used (leaves have degree `< 2^baby_log`).
    pub baby_log: u32,
}

/// Evaluates Chebyshev series on ciphertexts with public keys only, and
/// counts the ciphertext products it makes (atomically: independent
/// polynomials of one circuit may run on several threads through it).
#[derive(Debug)]
pub struct PolyEvaluator<'a> {
    ev: &'a Evaluator,
    rlk: &'a RelinKey,
    mults: AtomicUsize,
}

impl<'a> PolyEvaluator<'a> {
    /// Evaluator with the relinearization key its products need.
    pub fn new(ev: &'a Evaluator, rlk: &'a RelinKey) -> Self {
        Self { ev, rlk, mults: AtomicUsize::new(0) }
    }

    /// Ciphertext products made through this evaluator so far.
    pub fn nonscalar_mults(&self) -> usize {
        self.mults.load(Ordering::Relaxed)
    }

    /// Records products made by a circuit on top of the polynomials.
    pub(crate) fn count(&self, products: usize) {
        self.mults.fetch_add(products, Ordering::Relaxed);
    }

    /// The underlying evaluator.
    pub fn evaluator(&self) -> &'a Evaluator {
        self.ev
    }

    /// The relinearization key.
    pub fn relin_key(&self) -> &'a RelinKey {
        self.rlk
    }

    /// `Σ coeffs[k]·T_k(t)` for `t = ct` (values in `[−1, 1]`), landing on
    /// exactly `target_scale` at level `ct.level() − depth(deg)`.
    ///
    /// ```
    /// use hecnn_ckks::circuits::poly::PolyEvaluator;
    /// # use hecnn_ckks::*;
    /// # let ctx = Context::new(Parameters::insecure_for_tests(11, &[50, 40, 40, 40], 3, 40).unwrap()).unwrap();
    /// # let sk = SecretKey::generate(&ctx);
    /// # let rlk = RelinKey::generate(&sk);
    /// # let (enc, dec) = (Encoder::new(&ctx), Decryptor::new(&sk));
    /// let ev = Evaluator::new(&ctx);
    /// let x = dec.encrypt_symmetric(&enc.encode_real(&[0.5], 1, 3, ctx.params().scale()).unwrap()).unwrap().expand(&ctx).unwrap();
    /// // 1 + 2 T_1 + 3 T_2 + 4 T_3 at x = 0.5: T_2 = -0.5, T_3 = -1
    /// let y = PolyEvaluator::new(&ev, &rlk).chebyshev(&x, &[1.0, 2.0, 3.0, 4.0], ctx.params().scale()).unwrap();
    /// assert_eq!(y.level(), 1);
    /// assert!((enc.decode_real(&dec.decrypt(&y).unwrap()).unwrap()[0] - (1.0 + 1.0 - 1.5 - 4.0)).abs() < 1e-6);
    /// ```
    pub fn chebyshev(&self, ct: &Ciphertext, coeffs: &[f64], target_scale: f64) -> Result<Ciphertext> {
        Ok(self.chebyshev_with_stats(ct, coeffs, target_scale)?.0)
    }

    /// [`chebyshev`](Self::chebyshev), also returning what it cost.
    pub fn chebyshev_with_stats(
        &self,
        ct: &Ciphertext,
        coeffs: &[f64],
        target_scale: f64,
    ) -> Result<(Ciphertext, PolyStats)> {
        let (plan, tree) = self.prepare(ct.level(), ct.scale(), coeffs, target_scale)?;
        let mut backend = Real { ev: self.ev, rlk: self.rlk, mults: 0 };
        let mut run = Run::new(&mut backend, ct.clone());
        let mut out = run.eval(&tree.root, &coeffs[..=plan.degree], ct.level() - plan.depth, target_scale)?;
        debug_assert_eq!(backend.mults, plan.nonscalar_mults);
        // Planned to land on the target; only float rounding of q·s/q differs.
        Evaluator::check_scales(out.scale, target_scale)?;
        out.scale = target_scale;
        let stats = PolyStats { nonscalar_mults: backend.mults, depth: plan.depth, baby_log: plan.baby_log };
        self.count(backend.mults);
        Ok((out, stats))
    }

    /// Checks the inputs, takes the plan of [`EvalPlan::for_support`] (the
    /// cost model's) and dry-runs it: typed errors (non-finite coefficient,
    /// too few levels, bad scale) come out here, before any ciphertext work.
    pub fn plan(&self, level: usize, scale: f64, coeffs: &[f64], target_scale: f64) -> Result<PolyPlan> {
        Ok(self.prepare(level, scale, coeffs, target_scale)?.0)
    }

    fn prepare(&self, level: usize, scale: f64, coeffs: &[f64], target_scale: f64) -> Result<(PolyPlan, EvalPlan)> {
        if coeffs.is_empty() {
            return Err(CkksError::InvalidParameters("polynomial with no coefficients".into()));
        }
        if let Some(index) = coeffs.iter().position(|c| !c.is_finite()) {
            return Err(CkksError::NonFinite { index });
        }
        if !(target_scale.is_finite() && target_scale > 1.0) {
            return Err(CkksError::ScaleOutOfBounds(format!("target scale {target_scale:e}")));
        }
        let degree = coeffs.iter().rposition(|&c| c != 0.0).unwrap_or(0);
        let depth = depth(degree);
        if level < depth {
            return Err(CkksError::LevelExhausted { needed: depth, level });
        }
        let support: Vec<bool> = coeffs[..=degree].iter().map(|&c| c != 0.0).collect();
        let tree = EvalPlan::for_support(&support);
        debug_assert_eq!((tree.degree, tree.depth as usize), (degree, depth));
        let q: Vec<f64> = self.ev.context().params().q().iter().map(|&q| q as f64).collect();
        let mut dry = Dry { q: &q, mults: 0 };
        Run::new(&mut dry, (level, scale)).eval(&tree.root, &coeffs[..=degree], level - depth, target_scale)?;
        let nonscalar_mults = tree.nonscalar_mults() as usize;
        debug_assert_eq!(dry.mults, nonscalar_mults);
        Ok((PolyPlan { degree, depth, baby_log: tree.baby_log, nonscalar_mults }, tree))
    }
}

/// The outcome of [`PolyEvaluator::plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolyPlan {
    /// Degree (index of the last non-zero coefficient).
    pub degree: usize,
    /// Levels the evaluation consumes.
    pub depth: usize,
    /// Chosen baby-step parameter.
    pub baby_log: u32,
    /// Ciphertext products it will take.
    pub nonscalar_mults: usize,
}

/// The three operations the recursion needs, on ciphertexts or on
/// `(level, scale)` pairs for planning.
trait Backend {
    type V: Clone;
    fn level(&self, v: &Self::V) -> usize;
    fn scale(&self, v: &Self::V) -> f64;
    /// The prime `q_level` (for planning scales).
    fn modulus(&self, level: usize) -> f64;
    /// `rescale(2·a·b − sub)`, or `rescale(2·a·b − 1)` without `sub`.
    fn chebyshev_step(&mut self, a: &Self::V, b: &Self::V, sub: Option<&Self::V>) -> Result<Self::V>;
    /// `rescale(Σ c_i·v_i + c0)` landing on `(level, scale)`.
    fn leaf(&mut self, terms: &[(&Self::V, f64)], c0: f64, level: usize, scale: f64) -> Result<Self::V>;
    /// `rescale(q1·tg) + q0`.
    fn giant_step(&mut self, q1: &Self::V, tg: &Self::V, q0: &Self::V) -> Result<Self::V>;
}

struct Real<'a> {
    ev: &'a Evaluator,
    rlk: &'a RelinKey,
    mults: usize,
}

impl Backend for Real<'_> {
    type V = Ciphertext;

    fn level(&self, v: &Ciphertext) -> usize {
        v.level()
    }

    fn scale(&self, v: &Ciphertext) -> f64 {
        v.scale()
    }

    fn modulus(&self, level: usize) -> f64 {
        self.ev.context().params().q()[level] as f64
    }

    fn chebyshev_step(&mut self, a: &Ciphertext, b: &Ciphertext, sub: Option<&Ciphertext>) -> Result<Ciphertext> {
        self.mults += 1;
        // −T_{a−b} at the product's scale, added inside the fused
        // relinearization and rescale; the −1 of T_{2a} after it (at scale
        // ≥ 2^40 its rounding is far below the product's noise).
        match sub {
            Some(s) => {
                let (scale, level) = (a.scale() * b.scale(), a.level().min(b.level()));
                let minus = self.ev.linear_combination(&[(s, -1.0)], scale, level)?;
                self.ev.mul_relin_add_rescale(a, b, self.rlk, 2, Some(&minus))
            }
            None => self.ev.add_const(&self.ev.mul_relin_add_rescale(a, b, self.rlk, 2, None)?, -1.0),
        }
    }

    fn leaf(&mut self, terms: &[(&Ciphertext, f64)], c0: f64, level: usize, scale: f64) -> Result<Ciphertext> {
        let q = self.ev.context().params().q()[level + 1] as f64;
        let sum = self.ev.linear_combination(terms, scale * q, level + 1)?;
        let sum = if c0 != 0.0 { self.ev.add_const(&sum, c0)? } else { sum };
        self.ev.rescale(&sum)
    }

    fn giant_step(&mut self, q1: &Ciphertext, tg: &Ciphertext, q0: &Ciphertext) -> Result<Ciphertext> {
        self.mults += 1;
        self.ev.add(&self.ev.mul_relin_rescale(q1, tg, self.rlk)?, q0)
    }
}

/// Planning backend: tracks levels and scales exactly as [`Real`] would.
struct Dry<'a> {
    q: &'a [f64],
    mults: usize,
}

impl Dry<'_> {
    fn product(&mut self, a: &(usize, f64), b: &(usize, f64)) -> Result<(usize, f64)> {
        self.mults += 1;
        let l = a.0.min(b.0);
        if l == 0 {
            return Err(CkksError::LevelExhausted { needed: 1, level: 0 });
        }
        Ok((l - 1, a.1 * b.1 / self.q[l]))
    }
}

impl Backend for Dry<'_> {
    type V = (usize, f64);

    fn level(&self, v: &(usize, f64)) -> usize {
        v.0
    }

    fn scale(&self, v: &(usize, f64)) -> f64 {
        v.1
    }

    fn modulus(&self, level: usize) -> f64 {
        self.q[level]
    }

    fn chebyshev_step(&mut self, a: &Self::V, b: &Self::V, _: Option<&Self::V>) -> Result<Self::V> {
        self.product(a, b)
    }

    fn leaf(&mut self, terms: &[(&Self::V, f64)], _: f64, level: usize, scale: f64) -> Result<Self::V> {
        match terms.iter().map(|(v, _)| v.0).min() {
            Some(l) if l > level => Ok((level, scale)),
            found => Err(CkksError::LevelExhausted { needed: level + 1, level: found.unwrap_or(0) }),
        }
    }

    fn giant_step(&mut self, q1: &Self::V, tg: &Self::V, q0: &Self::V) -> Result<Self::V> {
        let p = self.product(q1, tg)?;
        if p.0 != q0.0 || ((p.1 - q0.1) / p.1).abs() > crate::eval::SCALE_TOLERANCE {
            return Err(CkksError::ScaleMismatch { a: p.1, b: q0.1 });
        }
        Ok(p)
    }
}

/// One evaluation: the cache of `T_k` and the plan's recursion.
struct Run<'b, B: Backend> {
    backend: &'b mut B,
    /// `T_k` once computed (`t[1]` is the input).
    t: Vec<Option<B::V>>,
}

impl<'b, B: Backend> Run<'b, B> {
    fn new(backend: &'b mut B, input: B::V) -> Self {
        Self { backend, t: vec![None, Some(input)] }
    }

    /// `T_k` by the recursion of [`hecnn_approx::cost`]: `T_{2a} = 2 T_a^2 − 1`,
    /// else `T_k = 2 T_a T_{k−a} − T_{2a−k}` with `a` the largest power of two below `k`.
    fn ensure(&mut self, k: usize) -> Result<()> {
        if self.t.len() <= k {
            self.t.resize(k + 1, None);
        }
        if self.t[k].is_some() {
            return Ok(());
        }
        let a = hecnn_approx::cost::power_split(k);
        let v = if k == a {
            self.ensure(k / 2)?;
            let h = self.t[k / 2].as_ref().expect("ensured");
            self.backend.chebyshev_step(h, h, None)?
        } else {
            let b = k - a;
            for i in [a, b, a - b] {
                self.ensure(i)?;
            }
            let (ta, tb, tab) = (&self.t[a], &self.t[b], &self.t[a - b]);
            self.backend.chebyshev_step(ta.as_ref().expect("ensured"), tb.as_ref().expect("ensured"), tab.as_ref())?
        };
        self.t[k] = Some(v);
        Ok(())
    }

    /// `Σ c[k]·T_k` following `node`, landing on exactly `(level, scale)`.
    fn eval(&mut self, node: &PlanNode, c: &[f64], level: usize, scale: f64) -> Result<B::V> {
        let at = |i: usize| c.get(i).copied().unwrap_or(0.0);
        match node {
            PlanNode::Leaf { terms } => {
                for &i in terms {
                    self.ensure(i)?;
                }
                // Terms whose coefficient cancelled to zero are left out; a
                // constant still needs a ciphertext to carry it.
                let mut idx: Vec<usize> = terms.iter().copied().filter(|&i| at(i) != 0.0).collect();
                if idx.is_empty() {
                    idx.push(1);
                }
                let terms: Vec<(&B::V, f64)> =
                    idx.iter().map(|&i| (self.t[i].as_ref().expect("ensured"), at(i))).collect();
                self.backend.leaf(&terms, at(0), level, scale)
            }
            PlanNode::Split { degree, g, high, low } => {
                let (deg, g) = (*degree, *g);
                // p = q0 + T_G q1 with T_{G+j} = 2 T_G T_j − T_{G−j}.
                let mut q0: Vec<f64> = (0..g).map(at).collect();
                let mut q1 = vec![0.0; deg - g + 1];
                q1[0] = at(g);
                for i in g + 1..=deg {
                    q1[i - g] += 2.0 * at(i);
                    q0[2 * g - i] -= at(i);
                }
                self.ensure(g)?;
                let (tg_level, tg_scale) = {
                    let tg = self.t[g].as_ref().expect("ensured");
                    (self.backend.level(tg), self.backend.scale(tg))
                };
                if tg_level <= level {
                    return Err(CkksError::LevelExhausted { needed: level + 1, level: tg_level });
                }
                let q = self.backend.modulus(level + 1);
                let high = self.eval(high, &q1, level + 1, scale * q / tg_scale)?;
                let low = self.eval(low, &q0, level, scale)?;
                let tg = self.t[g].as_ref().expect("ensured");
                self.backend.giant_step(&high, tg, &low)
            }
        }
    }
}
