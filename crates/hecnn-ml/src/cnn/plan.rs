//! The level planner: where the levels go and where bootstraps must be.
//!
//! Each step consumes a known number of levels — an affine map 1, a ReLU
//! the composite sign's depth plus one, a pairwise max the same, a fused
//! ReLU-of-max one more. The planner walks the steps
//! in order and bootstraps a value only when the next step cannot run at
//! its level: on a chain this places the fewest bootstraps (each refresh
//! comes as late as possible, so it buys the most levels). Where a value
//! fans out into affine maps whose outputs would each need a refresh before
//! their activation (the phases of a max-pool), the shared input is
//! refreshed once instead. Values read by
//! several steps (residual connections) are refreshed once, for every later
//! reader. A step that needs more levels than the chain (or a bootstrap)
//! gives is refused with [`CnnError::TooDeep`], naming the node.

use serde::Serialize;

use super::circuit::{Circuit, Step};
use super::error::CnnError;

/// Level budget of the parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelBudget {
    /// Level of a fresh ciphertext.
    pub top: usize,
    /// Level after a bootstrap, if bootstrapping keys exist.
    pub after_bootstrap: Option<usize>,
    /// Levels of one ReLU or pairwise max.
    pub relu_depth: usize,
}

/// One line of the plan.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlanEntry {
    /// Step index.
    pub step: usize,
    /// `affine`, `relu`, `max`, `reshape`.
    pub kind: &'static str,
    /// Model node.
    pub node: usize,
    /// Values bootstrapped just before the step, with their ciphertext counts.
    pub bootstrap: Vec<(usize, usize)>,
    /// Input level (after any bootstrap).
    pub level_in: usize,
    /// Output level.
    pub level_out: usize,
}

/// Levels of every value and the bootstraps.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    /// Per step.
    pub entries: Vec<PlanEntry>,
    /// Ciphertext bootstraps per batch.
    pub bootstraps: usize,
    /// Levels the whole circuit consumes without bootstrapping.
    pub depth: usize,
    /// Level of the decrypted output.
    pub output_level: usize,
}

/// Levels a step consumes.
pub fn step_cost(step: &Step, relu_depth: usize) -> usize {
    match step {
        Step::Affine { .. } => 1,
        Step::Relu { .. } => relu_depth,
        Step::Max { .. } => relu_depth,
        Step::ReluMax { .. } => relu_depth + 1,
        Step::Reshape { .. } => 0,
    }
}

impl Plan {
    /// Plans `circuit` under `budget`.
    pub fn new(circuit: &Circuit, budget: LevelBudget) -> Result<Plan, CnnError> {
        let mut level = vec![usize::MAX; circuit.values.len()];
        let mut depth_of = vec![0usize; circuit.values.len()];
        level[0] = budget.top;
        let mut entries = Vec::with_capacity(circuit.steps.len());
        let mut bootstraps = 0;
        let (readers, feeds_activation) = reader_maps(circuit);
        for (i, step) in circuit.steps.iter().enumerate() {
            let cost = step_cost(step, budget.relu_depth);
            let inputs = step.inputs();
            let mut refreshed = Vec::new();
            // Fan-out lookahead: an affine map whose output cannot reach the
            // next activation without a bootstrap would make every such
            // reader refresh its own output (k phases of a max-pool: k
            // bootstraps); refreshing the shared input once is cheaper.
            if let (Step::Affine { .. }, Some(after)) = (step, budget.after_bootstrap) {
                for &v in &inputs {
                    let low = level[v] < budget.relu_depth + 1 && level[v] < after;
                    let later_cts: usize = readers[v]
                        .iter()
                        .filter(|&&j| j >= i && matches!(circuit.steps[j], Step::Affine { .. }))
                        .filter(|&&j| feeds_activation[circuit.steps[j].out()])
                        .map(|&j| circuit.values[circuit.steps[j].out()].layout.cts)
                        .sum();
                    let cts = circuit.values[v].layout.cts;
                    if low && later_cts > 0 && cts <= later_cts && after > budget.relu_depth {
                        level[v] = after;
                        bootstraps += cts;
                        refreshed.push((v, cts));
                    }
                }
            }
            let lowest = inputs.iter().map(|&v| level[v]).min().unwrap_or(budget.top);
            if lowest < cost {
                let too_deep = |available, bootstrapping| CnnError::TooDeep {
                    step: format!("step {i} ({}) of model node {}", step.kind(), step.node()),
                    needed: cost,
                    available,
                    bootstrapping,
                };
                let Some(after) = budget.after_bootstrap else {
                    return Err(too_deep(lowest, false));
                };
                if after < cost {
                    return Err(too_deep(after, true));
                }
                for &v in &inputs {
                    if level[v] < cost && !refreshed.iter().any(|r: &(usize, usize)| r.0 == v) {
                        level[v] = after;
                        let cts = circuit.values[v].layout.cts;
                        bootstraps += cts;
                        refreshed.push((v, cts));
                    }
                }
            }
            let level_in = inputs.iter().map(|&v| level[v]).min().unwrap_or(budget.top);
            let out = step.out();
            level[out] = level_in - cost;
            depth_of[out] = inputs.iter().map(|&v| depth_of[v]).max().unwrap_or(0) + cost;
            entries.push(PlanEntry {
                step: i,
                kind: step.kind(),
                node: step.node(),
                bootstrap: refreshed,
                level_in,
                level_out: level[out],
            });
        }
        Ok(Plan { entries, bootstraps, depth: depth_of[circuit.output], output_level: level[circuit.output] })
    }

    /// One line per step, e.g. `node 0 affine 45→44`, with bootstraps.
    pub fn lines(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|e| {
                let boot = if e.bootstrap.is_empty() {
                    String::new()
                } else {
                    let cts: usize = e.bootstrap.iter().map(|b| b.1).sum();
                    format!(" (after bootstrapping {cts} ciphertexts)")
                };
                format!("node {} {} {}→{}{boot}", e.node, e.kind, e.level_in, e.level_out)
            })
            .collect()
    }
}

/// For each value, the steps reading it; and whether a value is read by a
/// ReLU or max step.
fn reader_maps(circuit: &Circuit) -> (Vec<Vec<usize>>, Vec<bool>) {
    let mut readers = vec![Vec::new(); circuit.values.len()];
    let mut feeds = vec![false; circuit.values.len()];
    for (j, s) in circuit.steps.iter().enumerate() {
        for v in s.inputs() {
            readers[v].push(j);
            if matches!(s, Step::Relu { .. } | Step::Max { .. } | Step::ReluMax { .. }) {
                feeds[v] = true;
            }
        }
    }
    (readers, feeds)
}
