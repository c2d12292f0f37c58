//! Cost model of evaluating a polynomial homomorphically, and the evaluation
//! plan itself: `hecnn-ckks`'s `PolyEvaluator` executes the [`EvalPlan`]
//! built here, so the products and depth this module reports are the ones
//! the ciphertext evaluator performs (one cost model for the degree search
//! and the evaluator).
//!
//! **Algorithm** (baby-step giant-step in the Chebyshev basis, Bossuat et
//! al. 2021), for `p = Σ c_i T_i` with support `S = {i : c_i ≠ 0}`:
//!
//! * **Powers.** `T_{2k} = 2 T_k^2 - 1` and, for `k` not a power of two,
//!   `T_k = 2 T_a T_{k-a} - T_{2a-k}` with `a` the largest power of two
//!   below `k`: one product each, and `T_k` sits at depth `ceil(log2 k)`.
//! * **Giant steps.** `p = q_0 + T_g q_1` with `g` the largest power of two
//!   `≤ deg p` (`T_i = 2 T_g T_{i-g} - T_{2g-i}` for `g < i < 2g`): one
//!   product; `q_1` must land one level above the node, `q_0` on it.
//! * **Leaves** `Σ c_i T_i` (degree `< 2^l`, the baby-step parameter `l`):
//!   scalar products and one rescale, so a leaf consumes one level on top of
//!   its deepest `T_i`. A leaf whose `T_i` sit too deep for the level it
//!   must land on (this happens only on the path that takes `q_1` at every
//!   split) is split once more, so the total depth is exactly
//!   `ceil(log2(d + 1))` for every degree, at the cost of a few products at
//!   degrees just below a power of two (`7, 15, 29, 31, 61, 63, ...`).
//!
//! The plan is structural: it depends only on the support `S` (which
//! coefficients are non-zero), not on the values. Products =
//! `#{T_k : k ≥ 2 computed}` + `#splits`; the baby-step parameter is the
//! one with the fewest products (the smallest on ties).
//!
//! [`nonscalar_mults`] is this count for an odd polynomial of degree `d`
//! (support = all odd indices `≤ d`): e.g. `d = 3 → 2`, `7 → 5`, `15 → 8`,
//! `27 → 10`, `31 → 12`, `63 → 17`. Scalar multiplications and additions are
//! not counted. [`crate::bsgs::eval_odd_bsgs`] evaluates a plan in plaintext
//! and counts its own products and depth, so the plan is checked against an
//! algorithm rather than assumed.

/// Multiplicative depth `ceil(log2(d + 1))` of a depth-optimal evaluation.
pub fn depth(d: usize) -> u32 {
    if d == 0 {
        return 0;
    }
    usize::BITS - d.leading_zeros()
}

/// Depth at which `T_k` is computed: `ceil(log2 k)` (0 for `k ≤ 1`).
pub fn power_depth(k: usize) -> u32 {
    if k <= 1 {
        0
    } else {
        usize::BITS - (k - 1).leading_zeros()
    }
}

/// The power-of-two split point of `T_k` (`k ≥ 2`): `T_k` is computed from
/// `T_a`, `T_{k-a}` and `T_{2a-k}` (`T_{k/2}` alone for a power of two).
pub fn power_split(k: usize) -> usize {
    1usize << (usize::BITS - 1 - k.leading_zeros())
}

/// One node of an [`EvalPlan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanNode {
    /// `Σ c_i T_i` over `terms` (ascending; `[1]` carries a constant): scalar
    /// products and one rescale, no ciphertext product.
    Leaf {
        /// Indices `i` of the `T_i` combined.
        terms: Vec<usize>,
    },
    /// `q_0 + T_g q_1`, one product.
    Split {
        /// Degree (last index of the support) of the polynomial split here.
        degree: usize,
        /// The giant step, a power of two `≤ degree`.
        g: usize,
        /// `q_1` (evaluated first), landing one level above this node.
        high: Box<PlanNode>,
        /// `q_0`, landing on this node's level.
        low: Box<PlanNode>,
    },
}

/// How a Chebyshev series is evaluated: the split tree, the powers `T_k` it
/// computes and what it costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalPlan {
    /// Degree: last index of the support (0 for a constant).
    pub degree: usize,
    /// Levels consumed: `max(1, ceil(log2(degree + 1)))` (a constant still
    /// takes the rescale that puts it on the target scale).
    pub depth: u32,
    /// Baby-step parameter: leaves have degree `< 2^baby_log`, unless they
    /// are `≤ 1`.
    pub baby_log: u32,
    /// The `T_k` with `k ≥ 2` the evaluation computes, ascending (one product each).
    pub powers: Vec<usize>,
    /// Number of giant-step splits (one product each).
    pub splits: u32,
    /// The split tree.
    pub root: PlanNode,
}

impl EvalPlan {
    /// Ciphertext × ciphertext products: `powers.len() + splits`.
    pub fn nonscalar_mults(&self) -> u32 {
        self.powers.len() as u32 + self.splits
    }

    /// The plan for support `support` (`support[i]`: is `c_i ≠ 0`) with
    /// baby-step parameter `baby_log` (clamped to `1..=depth`).
    pub fn with_baby_log(support: &[bool], baby_log: u32) -> Self {
        let degree = last_index(support);
        let depth = depth(degree).max(1);
        let baby_log = baby_log.clamp(1, depth);
        let mut b = Builder { baby_log, need: vec![false; degree.max(1) + 1], splits: 0 };
        let root = b.node(&support[..support.len().min(degree + 1)], depth);
        let mut powers = Vec::new();
        for k in (2..b.need.len()).rev() {
            if b.need[k] {
                // Dependencies are below k, so one downward pass closes the set.
                let a = power_split(k);
                let deps = if k == a { [k / 2, 0, 0] } else { [a, k - a, 2 * a - k] };
                for j in deps {
                    b.need[j] = true;
                }
                powers.push(k);
            }
        }
        powers.reverse();
        Self { degree, depth, baby_log, powers, splits: b.splits, root }
    }

    /// The plan with the fewest products over all baby-step parameters
    /// (the smallest parameter on ties).
    ///
    /// ```
    /// use hecnn_approx::cost::EvalPlan;
    /// let odd: Vec<bool> = (0..=31).map(|i| i % 2 == 1).collect();
    /// let p = EvalPlan::for_support(&odd);
    /// assert_eq!((p.degree, p.depth, p.baby_log, p.nonscalar_mults()), (31, 5, 3, 12));
    /// ```
    pub fn for_support(support: &[bool]) -> Self {
        let depth = depth(last_index(support)).max(1);
        let mut best: Option<Self> = None;
        for l in 1..=depth {
            let p = Self::with_baby_log(support, l);
            if best.as_ref().is_none_or(|b| p.nonscalar_mults() < b.nonscalar_mults()) {
                best = Some(p);
            }
        }
        best.unwrap_or_else(|| Self::with_baby_log(support, 1))
    }

    /// The plan of an odd polynomial of degree `d` (every odd coefficient
    /// up to `d` non-zero).
    pub fn odd(d: usize) -> Self {
        Self::for_support(&odd_support(d))
    }

    /// The plan of a polynomial of degree `d` with every coefficient non-zero.
    pub fn dense(d: usize) -> Self {
        Self::for_support(&vec![true; d + 1])
    }
}

fn last_index(support: &[bool]) -> usize {
    support.iter().rposition(|&s| s).unwrap_or(0)
}

fn odd_support(d: usize) -> Vec<bool> {
    (0..=d).map(|i| i % 2 == 1).collect()
}

struct Builder {
    baby_log: u32,
    /// `T_k` needed (before closing under the power recursion).
    need: Vec<bool>,
    splits: u32,
}

impl Builder {
    /// Plans `Σ_{i ∈ S} c_i T_i` landing `budget` levels below the input.
    fn node(&mut self, s: &[bool], budget: u32) -> PlanNode {
        let deg = last_index(s);
        let used: Vec<usize> = (1..=deg).filter(|&i| s[i]).collect();
        let fits = used.iter().all(|&i| power_depth(i) < budget);
        if deg <= 1 || (deg < (1usize << self.baby_log) && fits) {
            let terms = if used.is_empty() { vec![1] } else { used };
            for &i in &terms {
                self.need[i] = true;
            }
            return PlanNode::Leaf { terms };
        }
        // Giant steps always fit: `T_g` sits at depth log2(g) < budget
        // (the root's budget is ceil(log2(deg+1)), and each `q_1` halves g
        // while the budget drops by one).
        debug_assert!(power_depth(power_split(deg)) < budget);
        let g = power_split(deg);
        let mut q0 = s[..g].to_vec();
        let mut q1 = vec![false; deg - g + 1];
        q1[0] = s[g];
        for i in g + 1..=deg {
            if s[i] {
                q1[i - g] = true;
                q0[2 * g - i] = true;
            }
        }
        self.need[g] = true;
        self.splits += 1;
        let high = Box::new(self.node(&q1, budget - 1));
        let low = Box::new(self.node(&q0, budget));
        PlanNode::Split { degree: deg, g, high, low }
    }
}

/// Non-scalar multiplications of an odd degree-`d` polynomial with
/// baby-step parameter `l` (clamped to `1..=depth(d)`).
pub fn nonscalar_mults_with(d: usize, l: u32) -> u32 {
    if d <= 1 {
        return 0;
    }
    EvalPlan::with_baby_log(&odd_support(d), l).nonscalar_mults()
}

/// The baby-step parameter `l` that minimises the count (smallest on ties).
pub fn best_baby_step(d: usize) -> u32 {
    EvalPlan::odd(d).baby_log
}

/// Non-scalar multiplications of an odd degree-`d` polynomial under the
/// plan above, with the best baby-step parameter.
pub fn nonscalar_mults(d: usize) -> u32 {
    if d <= 1 {
        return 0;
    }
    EvalPlan::odd(d).nonscalar_mults()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depths() {
        assert_eq!(depth(1), 1);
        assert_eq!(depth(3), 2);
        assert_eq!(depth(7), 3);
        assert_eq!(depth(15), 4);
        assert_eq!(depth(27), 5);
        assert_eq!(depth(31), 5);
        assert_eq!(depth(63), 6);
        assert_eq!((power_depth(1), power_depth(2), power_depth(3), power_depth(4), power_depth(5)), (0, 1, 2, 2, 3));
    }

    #[test]
    fn mults_table() {
        let v: Vec<u32> = [3, 5, 7, 15, 27, 29, 31, 63, 127].iter().map(|&d| nonscalar_mults(d)).collect();
        assert_eq!(v, vec![2, 4, 5, 8, 10, 11, 12, 17, 23]);
        let all: Vec<u32> = (3..=127).step_by(2).map(nonscalar_mults).collect();
        assert!(all.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn degree_7_plan() {
        // p = q0 + T_4 q1. Baby steps T_3 (l = 2) would leave q1 (degree 3,
        // one level up) unable to use T_3 (depth 2): it is split at T_2 once
        // more, 5 products either way; l = 1 (the smaller) splits everything.
        assert_eq!(nonscalar_mults_with(7, 2), 5);
        let p = EvalPlan::odd(7);
        assert_eq!((p.baby_log, p.depth), (1, 3));
        assert_eq!(p.powers, vec![2, 4]);
        assert_eq!(p.splits, 3);
        let leaf = || Box::new(PlanNode::Leaf { terms: vec![1] });
        let q = || Box::new(PlanNode::Split { degree: 3, g: 2, high: leaf(), low: leaf() });
        assert_eq!(p.root, PlanNode::Split { degree: 7, g: 4, high: q(), low: q() });
    }
}
