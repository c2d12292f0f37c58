//! Plaintext matrix × encrypted vector by the diagonal method, with
//! baby-step giant-step and hoisted baby rotations.
//!
//! A matrix over `slots` entries is stored by its non-zero generalized
//! diagonals: `M = Σ_d diag(α_d)·R^d` with `(R^d v)_i = v_{i+d}` (a left
//! rotation). Writing `d = G + b`, `M v = Σ_G R^G (Σ_b diag(rot_{−G} α_d) R^b v)`:
//! the baby rotations `R^b v` share one decomposition of `c_1` (hoisting), and
//! only the few giant steps pay a full key switch. One level is consumed.
//!
//! Baby steps need no key of their own: `R^b v` is made from `R^{b−p} v`
//! by one hop `R^p`, p the lowest power-of-two multiple of the transform's
//! unit in b, so the babies `1..m` (in units) need the ⌈log2 m⌉ keys
//! `1, 2, 4, …` instead of m − 1. They are made a generation at a time, the
//! children of one parent sharing its decomposition: a transform with 7
//! babies pays 4 decompositions instead of 1 and keeps 3 keys instead of 7
//! (bootstrapping's keys sit at the top of the chain, where a key is 70 MB).
//!
//! Giant steps by Horner's rule: when the giant steps on each side of 0 are
//! the consecutive multiples `m, 2m, …, k·m` (every FFT stage group and
//! every dense matrix), `Σ_k R^{km} x_k = R^m(x_1 + R^m(x_2 + …))` takes the
//! same k key switches with the one key `m` (and `−m` on the other side)
//! instead of k keys. A left-aligned transform ([`LinearTransform::left_aligned`])
//! rotates its output so that all its giants are on one side, and owes that
//! rotation to the next map: bootstrapping's CoeffsToSlots then needs only
//! the positive keys m.

use crate::ciphertext::Ciphertext;
use crate::encoding::Encoder;
use crate::error::{CkksError, Result};
use crate::eval::{Evaluator, PlainDotSum};
use crate::keys::public::GaloisKeys;
use num_complex::Complex64;
use std::collections::BTreeMap;

/// A sparse-diagonal complex matrix acting on `slots` values.
#[derive(Clone, Debug, PartialEq)]
pub struct DiagMatrix {
    slots: usize,
    /// Diagonal index d in `0..slots` → `α_d`.
    diags: BTreeMap<usize, Vec<Complex64>>,
}

impl DiagMatrix {
    /// The zero matrix.
    pub fn zero(slots: usize) -> Self {
        Self { slots, diags: BTreeMap::new() }
    }

    /// The identity.
    pub fn identity(slots: usize) -> Self {
        let mut m = Self::zero(slots);
        m.diags.insert(0, vec![Complex64::new(1.0, 0.0); slots]);
        m
    }

    /// From a dense row-major matrix (tests, small transforms).
    pub fn from_dense(rows: &[Vec<Complex64>]) -> Self {
        let slots = rows.len();
        let mut m = Self::zero(slots);
        for d in 0..slots {
            let diag: Vec<Complex64> = (0..slots).map(|i| rows[i][(i + d) % slots]).collect();
            if diag.iter().any(|z| z.norm_sqr() != 0.0) {
                m.diags.insert(d, diag);
            }
        }
        m
    }

    /// Number of values it acts on.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Non-zero diagonal indices (left-rotation amounts in `0..slots`).
    pub fn diagonals(&self) -> impl Iterator<Item = usize> + '_ {
        self.diags.keys().copied()
    }

    /// Adds `value` at row i, column `(i + d) mod slots`.
    pub fn add_entry(&mut self, d: i64, i: usize, value: Complex64) {
        let d = d.rem_euclid(self.slots as i64) as usize;
        let slots = self.slots;
        self.diags.entry(d).or_insert_with(|| vec![Complex64::new(0.0, 0.0); slots])[i] += value;
    }

    /// The rotation `R^g` over `slots` values (`(R^g v)_i = v_{i+g}`).
    pub fn rotation(slots: usize, g: i64) -> Self {
        let mut m = Self::zero(slots);
        m.diags.insert(g.rem_euclid(slots as i64) as usize, vec![Complex64::new(1.0, 0.0); slots]);
        m
    }

    /// The diagonal matrix `diag(values)`.
    pub fn diagonal(values: Vec<Complex64>) -> Self {
        let mut m = Self::zero(values.len());
        m.diags.insert(0, values);
        m
    }

    /// This matrix acting on `slots`-slot vectors that repeat with period
    /// `self.slots()` (`slots` a multiple of it): the same diagonals, each
    /// repeated. Its output repeats with the same period.
    ///
    /// On such vectors `R^d` and `R^{d − period}` agree; a diagonal above
    /// half the period keeps its signed index (−1 stays −1, not
    /// `period − 1`), so the extension's diagonals are as contiguous as the
    /// original's and a BSGS plan of it needs the same rotations.
    pub fn periodic_extension(&self, slots: usize) -> Self {
        assert!(slots.is_multiple_of(self.slots), "{slots} slots do not extend a period of {}", self.slots);
        let reps = slots / self.slots;
        let diags = self.diags.iter().map(|(&d, v)| {
            let signed = if d > self.slots / 2 { d + slots - self.slots } else { d };
            (signed, v.iter().copied().cycle().take(v.len() * reps).collect())
        });
        Self { slots, diags: diags.collect() }
    }

    /// Multiplies every entry by `c`.
    pub fn scale(&mut self, c: Complex64) {
        self.diags.values_mut().for_each(|d| d.iter_mut().for_each(|z| *z *= c));
    }

    /// `self · other` (apply `other` first): `diag(α_a)R^a·diag(β_b)R^b = diag(α_a ⊙ rot_a β_b) R^{a+b}`.
    pub fn compose(&self, other: &DiagMatrix) -> DiagMatrix {
        assert_eq!(self.slots, other.slots, "matrix sizes differ");
        let n = self.slots;
        let mut out = DiagMatrix::zero(n);
        for (&a, alpha) in &self.diags {
            for (&b, beta) in &other.diags {
                let d = (a + b) % n;
                let acc = out.diags.entry(d).or_insert_with(|| vec![Complex64::new(0.0, 0.0); n]);
                for i in 0..n {
                    acc[i] += alpha[i] * beta[(i + a) % n];
                }
            }
        }
        out.diags.retain(|_, v| v.iter().any(|z| z.norm_sqr() > 0.0));
        out
    }

    /// `M v` in the clear (reference for tests and planning).
    pub fn apply(&self, v: &[Complex64]) -> Vec<Complex64> {
        let n = self.slots;
        let mut out = vec![Complex64::new(0.0, 0.0); n];
        for (&d, alpha) in &self.diags {
            for i in 0..n {
                out[i] += alpha[i] * v[(i + d) % n];
            }
        }
        out
    }
}

/// A [`DiagMatrix`] with its baby-step giant-step split, ready to run on
/// ciphertexts of `matrix.slots()` slots.
#[derive(Clone, Debug)]
pub struct LinearTransform {
    /// Values the matrix acts on. The matrix itself is not kept: its
    /// diagonals live (rotated) in `plan` only, 150 MB at full slots for
    /// bootstrapping's transforms ([`LinearTransform::matrix`] rebuilds it).
    slots: usize,
    /// Giant step G → [(baby b, rot_{−G} α_{G+b})].
    plan: BTreeMap<i64, Vec<(i64, Vec<Complex64>)>>,
    /// The gcd of the diagonal indices: every baby is a multiple of it.
    unit: i64,
    /// Giant-step size m when the giants are Horner-shaped (see the module
    /// doc): the rotations by ±m are then the only giant keys.
    horner: Option<i64>,
    /// A rotation applied to the result (0: none), see
    /// [`LinearTransform::then_rotate`].
    post: i64,
    /// How the babies are made.
    hops: BabyHops,
}

/// `Some(m)` if the non-zero giants on each side of 0 are exactly the
/// consecutive multiples `m, 2m, …` (resp. `−m, −2m, …`) of the step m.
fn horner_step(giants: impl IntoIterator<Item = i64>, m: i64) -> Option<i64> {
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    for g in giants {
        match g.signum() {
            1 => pos.push(g),
            -1 => neg.push(-g),
            _ => {}
        }
    }
    let consecutive = |mut v: Vec<i64>| {
        v.sort_unstable();
        v.iter().enumerate().all(|(k, &g)| g == (k as i64 + 1) * m)
    };
    (consecutive(pos) && consecutive(neg)).then_some(m)
}

/// How baby steps are made from one another: the choice between keys and
/// decompositions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BabyHops {
    /// Baby b from `b − p`, p the lowest power-of-two multiple of the unit
    /// in b: babies 1…7 need the keys 1, 2, 4 and 4 decompositions.
    PowersOfTwo,
    /// Baby b from `b − unit`: one key for all babies, a decomposition per
    /// baby. For transforms whose keys are large (bootstrapping's, at the
    /// top of the chain), where a key costs more than a decomposition.
    Unit,
}

/// The hop that makes baby `b` (a positive multiple of `unit`; a negative
/// `unit` walks the other way) from its parent `b − hop`.
pub fn hop(b: i64, unit: i64, hops: BabyHops) -> i64 {
    match hops {
        BabyHops::PowersOfTwo => {
            let k = b / unit;
            (k & k.wrapping_neg()) * unit
        }
        BabyHops::Unit => unit,
    }
}

/// Every baby rotation the transform computes: the babies themselves and
/// the intermediate nodes of their hop chains (without 0).
pub fn baby_nodes(babies: impl IntoIterator<Item = i64>, unit: i64, hops: BabyHops) -> std::collections::BTreeSet<i64> {
    let mut nodes = std::collections::BTreeSet::new();
    for mut b in babies {
        while b != 0 && nodes.insert(b) {
            b -= hop(b, unit, hops);
        }
    }
    nodes
}

impl LinearTransform {
    /// Splits the diagonals `d = G + b` with the baby-step size that
    /// minimizes key switches (a hoisted baby rotation counts half a giant).
    pub fn new(matrix: DiagMatrix) -> Self {
        Self::plan(matrix, true, BabyHops::PowersOfTwo)
    }

    /// `(E, g)` with `M = R^g·E`: E is M with its output rotated by −g, g
    /// the diagonal that starts M's diagonals read cyclically (the one after
    /// the widest gap), so that E's diagonals are `0..=span` and its giant
    /// steps are m, 2m, …: Horner's rule with the one key m, where M needs
    /// ±m. The rotation R^g is owed to whoever applies the next map (a chain
    /// of transforms folds it into the next matrix; slot-wise maps and
    /// rotations commute with it). `hops` chooses how its babies are made.
    pub fn left_aligned(matrix: DiagMatrix, hops: BabyHops) -> (Self, i64) {
        let n = matrix.slots;
        let diags: Vec<usize> = matrix.diags.keys().copied().collect();
        // The widest cyclic gap between consecutive diagonals ends at g.
        let g = (0..diags.len())
            .max_by_key(|&i| {
                let prev = if i == 0 { diags[diags.len() - 1] } else { diags[i - 1] };
                ((diags[i] + n - prev - 1) % n, std::cmp::Reverse(i))
            })
            .map_or(0, |i| diags[i]) as i64;
        let g = if g > n as i64 / 2 { g - n as i64 } else { g };
        let aligned = DiagMatrix::rotation(n, -g).compose(&matrix);
        (Self::plan(aligned, false, hops), g)
    }

    /// The split with diagonal indices read as signed, in (−n/2, n/2] (the
    /// ±2^k structure of FFT stages), or as they are, in [0, n).
    fn plan(matrix: DiagMatrix, signed: bool, hops: BabyHops) -> Self {
        let n = matrix.slots as i64;
        let signed: Vec<i64> =
            matrix.diags.keys().map(|&d| if signed && d as i64 > n / 2 { d as i64 - n } else { d as i64 }).collect();
        let unit = signed.iter().filter(|&&d| d != 0).map(|d| d.unsigned_abs()).fold(0u64, gcd).max(1) as i64;
        let split = |m: i64, d: i64| {
            let b = d.rem_euclid(m);
            (d - b, b)
        };
        let mut best = (f64::MAX, unit);
        let mut m = unit;
        while m <= 2 * n {
            let mut giants = std::collections::BTreeSet::new();
            let mut babies = std::collections::BTreeSet::new();
            for &d in &signed {
                let (g, b) = split(m, d);
                giants.insert(g);
                babies.insert(b);
            }
            // A baby made by a hop is an inner product and a ModDown plus,
            // for a parent other than the input, its decomposition: about
            // half a key switch each way (powers of two: most babies share
            // a parent; unit hops: every baby is the next one's parent).
            let weight = match hops {
                BabyHops::PowersOfTwo => 0.5,
                BabyHops::Unit => 1.0,
            };
            let cost = giants.iter().filter(|&&g| g != 0).count() as f64
                + weight * baby_nodes(babies.iter().copied(), unit, hops).len() as f64;
            if cost < best.0 {
                best = (cost, m);
            }
            m *= 2;
        }
        let m = best.1;
        let mut plan: BTreeMap<i64, Vec<(i64, Vec<Complex64>)>> = BTreeMap::new();
        for (&d, alpha) in signed.iter().zip(matrix.diags.values()) {
            let (g, b) = split(m, d);
            let shift = g.rem_euclid(n) as usize;
            // rot_{−G}(α)_i = α_{i−G}
            let n = n as usize;
            let rotated: Vec<Complex64> = (0..n).map(|i| alpha[(i + n - shift) % n]).collect();
            plan.entry(g).or_default().push((b, rotated));
        }
        let horner = horner_step(plan.keys().copied(), m);
        Self { slots: matrix.slots, plan, unit, horner, post: 0, hops }
    }

    /// The matrix it applies, rebuilt from the plan (for tests and
    /// plaintext references).
    pub fn matrix(&self) -> DiagMatrix {
        let n = self.slots;
        let mut m = DiagMatrix::zero(n);
        for (&g, terms) in &self.plan {
            let shift = g.rem_euclid(n as i64) as usize;
            for (b, rotated) in terms {
                // rotated_i = α_{i−G}, so α_j = rotated_{j+G}.
                let d = (g + b).rem_euclid(n as i64) as usize;
                let acc = m.diags.entry(d).or_insert_with(|| vec![Complex64::new(0.0, 0.0); n]);
                for (j, a) in acc.iter_mut().enumerate() {
                    *a += rotated[(j + shift) % n];
                }
            }
        }
        if self.post != 0 {
            m = DiagMatrix::rotation(n, self.post).compose(&m);
        }
        m
    }

    /// The transform `R^r·M`: one more key switch on the unrescaled result.
    /// What a chain of left-aligned transforms ends with: a rotation by an
    /// arbitrary r that the last matrix would otherwise absorb into its
    /// diagonals (breaking their power-of-two structure).
    pub fn then_rotate(mut self, r: i64) -> Self {
        let n = self.slots as i64;
        self.post = (self.post + r).rem_euclid(n);
        if self.post > n / 2 {
            self.post -= n;
        }
        self
    }

    /// The rotation `r` of [`then_rotate`](Self::then_rotate) (0 if none).
    pub fn post_rotation(&self) -> i64 {
        self.post
    }

    /// Rotation steps (left, signed) the transform needs Galois keys for:
    /// the giant steps (±m only, by Horner's rule, where they allow it) and
    /// the power-of-two hops of the babies.
    pub fn rotations(&self) -> Vec<i64> {
        let mut r: Vec<i64> = match self.horner {
            Some(m) => self.plan.keys().map(|&g| g.signum() * m).collect(),
            None => self.plan.keys().copied().collect(),
        };
        r.extend(self.baby_nodes().into_iter().map(|b| hop(b, self.unit, self.hops)));
        r.push(self.post);
        r.sort_unstable();
        r.dedup();
        r.retain(|&x| x != 0);
        r
    }

    /// How many times one application uses each rotation's key (the
    /// Horner step once per giant on its side, a baby hop once per node).
    fn key_uses(&self) -> BTreeMap<i64, usize> {
        let mut uses = BTreeMap::new();
        for &g in self.plan.keys().filter(|&&g| g != 0) {
            *uses.entry(self.horner.map_or(g, |m| g.signum() * m)).or_default() += 1;
        }
        for b in self.baby_nodes() {
            *uses.entry(hop(b, self.unit, self.hops)).or_default() += 1;
        }
        if self.post != 0 {
            *uses.entry(self.post).or_default() += 1;
        }
        uses
    }

    /// Number of (baby, giant) rotations one application costs (babies
    /// include the intermediate nodes of their hop chains).
    pub fn rotation_counts(&self) -> (usize, usize) {
        let post = usize::from(self.post != 0);
        (self.baby_nodes().len(), self.plan.keys().filter(|&&g| g != 0).count() + post)
    }

    /// Non-zero diagonals: the plaintext products one application costs.
    pub fn diagonal_count(&self) -> usize {
        self.plan.values().map(Vec::len).sum()
    }

    fn baby_nodes(&self) -> std::collections::BTreeSet<i64> {
        baby_nodes(self.plan.values().flatten().map(|(b, _)| *b), self.unit, self.hops)
    }

    /// `M·ct`, one level down, landing on exactly `target_scale`.
    pub fn apply(
        &self,
        ev: &Evaluator,
        encoder: &Encoder,
        ct: &Ciphertext,
        gk: &GaloisKeys,
        target_scale: f64,
    ) -> Result<Ciphertext> {
        let raw = self.apply_unrescaled(ev, encoder, ct, gk, target_scale)?;
        ev.rescale_to(&raw, target_scale)
    }

    /// `M·ct` before its rescale (scale `target_scale·q_l`), so that a
    /// following key switch (e.g. a conjugation) adds its noise at the
    /// large scale, where the rescale then divides it by q_l.
    pub fn apply_unrescaled(
        &self,
        ev: &Evaluator,
        encoder: &Encoder,
        ct: &Ciphertext,
        gk: &GaloisKeys,
        target_scale: f64,
    ) -> Result<Ciphertext> {
        if ct.slots() != self.slots {
            return Err(CkksError::InvalidSlots(format!(
                "transform over {} slots applied to a ciphertext of {} slots",
                self.slots,
                ct.slots()
            )));
        }
        let l = ct.level();
        if l == 0 {
            return Err(CkksError::LevelExhausted { needed: 1, level: 0 });
        }
        if self.plan.is_empty() {
            return Err(CkksError::InvalidParameters("linear transform with no diagonals".into()));
        }
        // Fail before any work if a key is missing.
        for s in self.rotations() {
            let g = ev.context().galois_element(s);
            if g != 1 {
                gk.get(g, Some(s), l)?;
            }
        }
        // Keys used more than once (the Horner step, the unit hop) are
        // expanded for the duration: their `a` is generated once, not per use.
        let ctx = ev.context();
        let reused: Vec<u64> =
            self.key_uses().into_iter().filter(|&(_, k)| k > 1).map(|(r, _)| ctx.galois_element(r)).collect();
        let gk = &gk.expanded(ctx, &reused, l);
        let q_l = ctx.params().q()[l] as f64;
        let pt_scale = target_scale * q_l / ct.scale();
        let babies = self.make_babies(ev, ct, gk)?;
        // Σ_b diag ⊙ R^b ct for one giant step.
        let inner = |terms: &[(i64, Vec<Complex64>)]| -> Result<Ciphertext> {
            let mut inner = PlainDotSum::new(ev);
            for (b, diag) in terms {
                inner.push(&babies[b], encoder.encode(diag, self.slots, l, pt_scale)?)?;
            }
            Ok(inner.finish()?.expect("every giant step has a term"))
        };
        let add = |acc: Option<Ciphertext>, x: Ciphertext| -> Result<Ciphertext> {
            match acc {
                None => Ok(x),
                Some(a) => ev.add(&a, &x),
            }
        };
        let mut acc: Option<Ciphertext> = None;
        match self.horner {
            None => {
                for (&g, terms) in &self.plan {
                    let mut x = inner(terms)?;
                    if g != 0 {
                        x = ev.rotate(&x, g, gk)?;
                    }
                    acc = Some(add(acc, x)?);
                }
            }
            Some(m) => {
                if let Some(terms) = self.plan.get(&0) {
                    acc = Some(inner(terms)?);
                }
                // Each side from its farthest giant inwards: y ← R^{±m}(y) + x_k,
                // with c_0 kept over Q·P until the chain ends.
                for side in [m, -m] {
                    let mut y: Option<crate::eval::rotate::LazyC0> = None;
                    let mut giants: Vec<_> = self.plan.iter().filter(|(&g, _)| g.signum() == side.signum()).collect();
                    giants.sort_by_key(|(g, _)| std::cmp::Reverse(g.abs()));
                    for (_, terms) in giants {
                        let x = inner(terms)?;
                        y = Some(match y {
                            None => ev.lazy_c0(&x)?,
                            Some(y) => ev.lazy_rotate_add(y, side, gk, Some(&x))?,
                        });
                    }
                    if let Some(y) = y {
                        acc = Some(add(acc, ev.lazy_finish(ev.lazy_rotate_add(y, side, gk, None)?))?);
                    }
                }
            }
        }
        let acc = acc.expect("non-empty plan");
        if self.post != 0 {
            return ev.rotate(&acc, self.post, gk);
        }
        Ok(acc)
    }
}

impl LinearTransform {
    /// `R^b ct` for every baby node (see [`rotations_by_hops`]).
    fn make_babies(&self, ev: &Evaluator, ct: &Ciphertext, gk: &GaloisKeys) -> Result<BTreeMap<i64, Ciphertext>> {
        rotations_by_hops(ev, ct, self.baby_nodes(), |b| b - hop(b, self.unit, self.hops), gk)
    }
}

/// `R^r ct` for every `r` of `nodes` (and `ct` itself at 0), a generation at
/// a time: each node from `parent(r)` — 0 or another node — by one rotation
/// `r − parent(r)`, the children of one parent sharing its decomposition
/// (hoisting). With `parent(r) = r − lowbit(r)` the nodes `1..m` need the
/// ⌈log2 m⌉ keys `1, 2, 4, …` and a decomposition per parent.
pub fn rotations_by_hops(
    ev: &Evaluator,
    ct: &Ciphertext,
    nodes: std::collections::BTreeSet<i64>,
    parent: impl Fn(i64) -> i64,
    gk: &GaloisKeys,
) -> Result<BTreeMap<i64, Ciphertext>> {
    let mut made: BTreeMap<i64, Ciphertext> = BTreeMap::from([(0, ct.clone())]);
    let mut todo = nodes;
    todo.remove(&0);
    while !todo.is_empty() {
        let mut by_parent: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for &b in &todo {
            let p = parent(b);
            if made.contains_key(&p) {
                by_parent.entry(p).or_default().push(b);
            }
        }
        if by_parent.is_empty() {
            return Err(CkksError::InvalidParameters(format!("rotations {todo:?} have no computed parent")));
        }
        for (p, children) in by_parent {
            let from = &made[&p];
            let dec = ev.decompose_for_rotation(from)?;
            let rotated: Vec<(i64, Ciphertext)> = children
                .iter()
                .map(|&b| Ok((b, ev.rotate_decomposed(from, &dec, b - p, gk)?)))
                .collect::<Result<_>>()?;
            for (b, r) in rotated {
                todo.remove(&b);
                made.insert(b, r);
            }
        }
    }
    Ok(made)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `M = R^g·E` for a left-aligned transform, whose diagonals start at 0
    /// even when M's wrap around (here 60…63 and 0…5 of 64), and
    /// `then_rotate(r)` is `R^r·M`.
    #[test]
    fn left_aligned_and_then_rotate_keep_the_matrix() {
        let mut m = DiagMatrix::zero(64);
        for (k, d) in [60i64, 61, 63, 0, 2, 5].into_iter().enumerate() {
            for i in 0..64 {
                m.add_entry(d, i, Complex64::new(k as f64 + 1.0, i as f64 * 0.5));
            }
        }
        let v: Vec<Complex64> = (0..64).map(|i| Complex64::new(i as f64, 1.0)).collect();
        let (e, g) = LinearTransform::left_aligned(m.clone(), BabyHops::PowersOfTwo);
        assert_eq!(g, -4);
        assert_eq!(e.matrix().diagonals().collect::<Vec<_>>(), vec![0, 1, 3, 4, 6, 9]);
        assert!(e.rotations().iter().all(|&r| r > 0));
        let back = DiagMatrix::rotation(64, g).compose(&e.matrix());
        let (a, b) = (back.apply(&v), m.apply(&v));
        assert!(a.iter().zip(&b).all(|(x, y)| (x - y).norm() < 1e-9));
        let r = LinearTransform::new(m.clone()).then_rotate(7);
        let (a, b) = (r.matrix().apply(&v), DiagMatrix::rotation(64, 7).compose(&m).apply(&v));
        assert!(a.iter().zip(&b).all(|(x, y)| (x - y).norm() < 1e-9));
        assert!(r.rotations().contains(&7));
    }

    /// Horner's rule needs the giants on each side to be m, 2m, … without
    /// gaps; anything else keeps one key per giant step.
    #[test]
    fn horner_step_only_for_consecutive_giants() {
        assert_eq!(horner_step([0, 8, 16, -8, -16, -24], 8), Some(8));
        assert_eq!(horner_step([0, 8], 8), Some(8));
        assert_eq!(horner_step([0], 8), Some(8));
        assert_eq!(horner_step([0, 8, 24], 8), None);
        assert_eq!(horner_step([-16, 0, 8], 8), None);
        // A sparse matrix: diagonals 0, 1 and 40 of 64 keep their own giant.
        let mut m = DiagMatrix::zero(64);
        for d in [0, 1, 40] {
            m.add_entry(d, 3, Complex64::new(1.0, 0.0));
        }
        let lt = LinearTransform::new(m);
        let (_, giants) = lt.rotation_counts();
        assert_eq!(lt.rotations().iter().filter(|&&r| r != 1).count(), giants);
    }
}
