//! The server side of encrypted inference: the compiled model and the
//! engine that runs it on ciphertexts with evaluation keys only.
//!
//! Affine maps run as baby-step giant-step diagonal transforms (Halevi–Shoup
//! diagonals, BSGS with hoisted baby steps): for every input ciphertext the
//! baby rotations are computed once from one key-switch decomposition and
//! shared by every output ciphertext and every term — and by the next steps
//! that map the same values (a max-pool's phases: one baby-step size is
//! chosen for the whole group, see `choose_baby_step`); each output then pays
//! one giant rotation per giant step and a single rescale. The baby-step
//! size is chosen per group of maps to minimize key switches.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use hecnn_approx::composite::CompositeSign;
use hecnn_ckks::circuits::poly::PolyEvaluator;
use hecnn_ckks::circuits::{BootstrapKeys, Bootstrapper, CompositeCircuit};
use hecnn_ckks::{Ciphertext, Complex64, Encoder, EvaluationKeySet, Evaluator, PlainDotSum, RelinKey};
use rayon::prelude::*;
use serde::Serialize;

use super::circuit::{Circuit, Step};
use super::client::InferenceSpec;
use super::error::CnnError;
use super::plan::{LevelBudget, Plan};

/// Relative cost of a hoisted baby rotation against a full rotation (the
/// decomposition is shared; each baby pays an inner product and a ModDown).
const BABY_COST: f64 = 0.6;

/// Largest baby-step size tried.
const MAX_BABY: i64 = 4096;

/// Entries of one diagonal: `(output position, weight)`.
pub type DiagEntries = Vec<(u32, f64)>;

/// One output ciphertext's program: giant step → `(baby index, diagonal)`.
pub type GiantSteps = BTreeMap<i64, Vec<(usize, DiagEntries)>>;

/// A diagonal's key: (output ciphertext, term, input ciphertext, offset δ).
type DiagKey = (u32, usize, u32, i64);

/// Baby rotations kept across the affine steps of a group: (value, input
/// ciphertext, level) → baby step → rotated ciphertext (0: the input).
type BabyCache = HashMap<(usize, u32, usize), BTreeMap<i64, Ciphertext>>;

/// A compiled affine map: diagonals grouped for BSGS.
#[derive(Clone, Debug)]
pub struct AffineProgram {
    /// Baby rotations: `(term, input ciphertext, baby step in positions)`.
    pub babies: Vec<(usize, u32, i64)>,
    /// Per output ciphertext: giant step → `(baby index, entries (position, weight))`.
    pub outs: Vec<GiantSteps>,
    /// Per output ciphertext: bias entries `(position, value)`.
    pub bias: Vec<Vec<(u32, f64)>>,
}

impl AffineProgram {
    /// Rotation steps (in positions) this map uses.
    pub fn rotations(&self) -> BTreeSet<i64> {
        let mut r: BTreeSet<i64> = self.babies.iter().map(|b| b.2).collect();
        r.extend(self.outs.iter().flat_map(|o| o.keys().copied()));
        r.remove(&0);
        r
    }
}

/// The model as the server runs it: circuit, scale factors, composite
/// sign, affine programs and the level plan.
#[derive(Clone, Debug)]
pub struct CompiledModel {
    /// The lowered circuit.
    pub circuit: Circuit,
    /// Scale factor per class (stored value = actual / factor).
    pub factors: Vec<f64>,
    /// The composite sign in use.
    pub sign: CompositeSign,
    /// The same sign, ready for ciphertexts.
    pub composite: CompositeCircuit,
    /// Per step, the compiled affine map (None for other steps).
    pub programs: Vec<Option<AffineProgram>>,
    /// Largest |score| the client accepts (calibration × margin).
    pub score_bound: f64,
    /// Which rotation keys the client makes.
    pub key_mode: KeyMode,
    /// The α values tried when α was chosen, with the fraction of
    /// validation predictions each kept (empty when α was given).
    pub alpha_search: Vec<(u32, f64)>,
}

/// Which rotation keys a model asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize)]
pub enum KeyMode {
    /// One key per rotation the affine maps use: the fewest key switches
    /// (hoisted baby steps), but a key each — at N = 2^16 and 45 levels a
    /// key is ≈ 0.25 GB, and a CNN uses dozens of rotations.
    Exact,
    /// Keys for `±2^k·B` only: every rotation is a chain of power-of-two
    /// hops (its non-adjacent form), baby steps built one hop from another.
    /// A fraction of the keys, for ≈ 2–3× the key switches.
    #[default]
    PowerOfTwo,
}

/// Counts of one encrypted run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunStats {
    /// Ciphertext bootstraps.
    pub bootstraps: usize,
    /// Seconds in affine maps.
    pub seconds_linear: f64,
    /// Seconds in ReLU and max.
    pub seconds_activation: f64,
    /// Seconds in bootstrapping.
    pub seconds_bootstrap: f64,
    /// Rotations (key switches) in affine maps, power-of-two hops counted one by one.
    pub rotations: usize,
    /// Plaintext diagonals encoded and multiplied.
    pub diagonals: usize,
    /// Per step: kind, model node, input level, seconds.
    pub steps: Vec<(&'static str, usize, usize, f64)>,
}

impl CompiledModel {
    /// Compiles `circuit` with `factors` (from calibration) and `sign`.
    pub fn new(
        circuit: Circuit,
        factors: Vec<f64>,
        sign: CompositeSign,
        score_bound: f64,
        key_mode: KeyMode,
    ) -> Result<Self, CnnError> {
        if key_mode == KeyMode::PowerOfTwo && !circuit.geo.batch.is_power_of_two() {
            return Err(CnnError::Calibration(format!(
                "power-of-two rotation keys need a power-of-two batch, not {}",
                circuit.geo.batch
            )));
        }
        if factors.len() != circuit.classes || factors.iter().any(|f| !(f.is_finite() && *f > 0.0)) {
            return Err(CnnError::Calibration(format!("{} factors for {} classes", factors.len(), circuit.classes)));
        }
        let composite = CompositeCircuit::from_sign(&sign)?;
        let programs = compile_programs(&circuit, &factors, key_mode);
        Ok(Self { circuit, factors, sign, composite, programs, score_bound, key_mode, alpha_search: Vec::new() })
    }

    /// Levels one ReLU or pairwise max consumes.
    pub fn relu_depth(&self) -> usize {
        self.composite.relu_depth()
    }

    /// Levels the whole circuit consumes without bootstrapping.
    pub fn depth(&self) -> usize {
        let budget = LevelBudget { top: usize::MAX / 2, after_bootstrap: None, relu_depth: self.relu_depth() };
        Plan::new(&self.circuit, budget).map_or(usize::MAX, |p| p.depth)
    }

    /// Every rotation step (in slots) the evaluation keys must cover.
    pub fn rotation_steps(&self) -> Vec<i64> {
        let b = self.circuit.geo.batch as i64;
        let slots = self.circuit.geo.slots as i64;
        let mut all = BTreeSet::new();
        for p in self.programs.iter().flatten() {
            match self.key_mode {
                KeyMode::Exact => all.extend(p.rotations().into_iter().map(|r| r * b)),
                KeyMode::PowerOfTwo => {
                    for &(_, _, baby) in &p.babies {
                        all.extend(naf(baby * b, slots));
                    }
                    for g in p.outs.iter().flat_map(|o| o.keys()) {
                        all.extend(naf(g * b, slots));
                    }
                }
            }
        }
        all.remove(&0);
        all.into_iter().collect()
    }

    /// What the client needs to encrypt and decrypt (no weights).
    pub fn spec(&self) -> InferenceSpec {
        let c = &self.circuit;
        let out = &c.values[c.output];
        InferenceSpec {
            slots: c.geo.slots,
            batch: c.geo.batch,
            input_shape: c.input_shape.clone(),
            input_positions: c.values[0].layout.pos.clone(),
            input_cts: c.values[0].layout.cts,
            input_factor: self.factors[c.values[0].class],
            output_positions: out.layout.pos.clone(),
            output_cts: out.layout.cts,
            output_factor: self.factors[out.class],
            score_bound: self.score_bound,
            rotations: self.rotation_steps(),
        }
    }
}

/// One affine step's diagonals: (out ct, term, in ct, δ) → entries.
fn diagonals_of(
    circuit: &Circuit,
    factors: &[f64],
    out: usize,
    terms: &[(usize, super::circuit::Rows)],
) -> HashMap<DiagKey, DiagEntries> {
    let out_info = &circuit.values[out];
    let s_out = factors[out_info.class];
    let mut diags: HashMap<DiagKey, DiagEntries> = HashMap::new();
    for (t, (v, rows)) in terms.iter().enumerate() {
        let inl = &circuit.values[*v].layout;
        let ratio = factors[circuit.values[*v].class] / s_out;
        for (o, row) in rows.iter().enumerate() {
            let (co, po) = out_info.layout.pos[o];
            for &(k, w) in row {
                let (ci, pi) = inl.pos[k as usize];
                diags.entry((co, t, ci, pi as i64 - po as i64)).or_default().push((po, w * ratio));
            }
        }
    }
    diags
}

/// The baby-step size for a group of affine steps that read the same
/// values (a max-pool's phases): babies are computed once for the group
/// (the engine shares them), giants are paid per output ciphertext, so the
/// split is chosen on the union. `members` holds each step's diagonal keys.
fn choose_baby_step(members: &[Vec<DiagKey>], batch: i64, slots: i64, key_mode: KeyMode) -> i64 {
    let span = members.iter().flatten().map(|k| k.3.abs()).max().unwrap_or(0) + 1;
    let cost_of = |m: i64| -> f64 {
        let mut babies: BTreeSet<(usize, u32, i64)> = BTreeSet::new();
        let mut giants: BTreeSet<(usize, u32, i64)> = BTreeSet::new();
        for (member, keys) in members.iter().enumerate() {
            for &(co, t, ci, d) in keys {
                let (g, b) = split(d, m);
                if b != 0 {
                    babies.insert((t, ci, b));
                }
                if g != 0 {
                    giants.insert((member, co, g));
                }
            }
        }
        match key_mode {
            KeyMode::Exact => BABY_COST * babies.len() as f64 + giants.len() as f64,
            KeyMode::PowerOfTwo => {
                // Each baby is one hop from its predecessor (memoized), so a
                // baby costs one key switch per new element of the closure.
                let mut closure: BTreeSet<(usize, u32, i64)> = BTreeSet::new();
                for &(t, ci, b) in &babies {
                    let mut x = b;
                    while x != 0 && closure.insert((t, ci, x)) {
                        x -= lowest_naf_digit(x);
                    }
                }
                closure.len() as f64 + giants.iter().map(|&(_, _, g)| naf(g * batch, slots).len() as f64).sum::<f64>()
            }
        }
    };
    // Baby-step sizes 1..MAX_BABY, and "babies only" (every diagonal one
    // rotation of the input, no giant step).
    let mut best = (cost_of(2 * span + 1), 2 * span + 1);
    for m in 1..=span.min(MAX_BABY) {
        let c = cost_of(m);
        if c < best.0 {
            best = (c, m);
        }
    }
    best.1
}

/// Groups the diagonals of one affine step for BSGS with baby step `m`.
fn build_program(
    circuit: &Circuit,
    factors: &[f64],
    out: usize,
    diags: HashMap<DiagKey, DiagEntries>,
    bias: &[f64],
    m: i64,
) -> AffineProgram {
    let out_info = &circuit.values[out];
    let s_out = factors[out_info.class];
    let mut baby_index: BTreeMap<(usize, u32, i64), usize> = BTreeMap::new();
    let mut outs: Vec<GiantSteps> = vec![BTreeMap::new(); out_info.layout.cts];
    let mut sorted: Vec<_> = diags.into_iter().collect();
    sorted.sort_by_key(|e| e.0);
    for ((co, t, ci, d), entries) in sorted {
        let (g, b) = split(d, m);
        let next = baby_index.len();
        let idx = *baby_index.entry((t, ci, b)).or_insert(next);
        outs[co as usize].entry(g).or_default().push((idx, entries));
    }
    let mut babies = vec![(0, 0, 0); baby_index.len()];
    for (k, i) in baby_index {
        babies[i] = k;
    }
    let mut bias_out = vec![Vec::new(); out_info.layout.cts];
    for (o, &b) in bias.iter().enumerate() {
        if b != 0.0 {
            let (co, po) = out_info.layout.pos[o];
            bias_out[co as usize].push((po, b / s_out));
        }
    }
    AffineProgram { babies, outs, bias: bias_out }
}

/// Compiles every affine step; consecutive steps reading the same values
/// share one baby-step size (see [`choose_baby_step`]).
fn compile_programs(circuit: &Circuit, factors: &[f64], key_mode: KeyMode) -> Vec<Option<AffineProgram>> {
    let steps = &circuit.steps;
    let mut programs: Vec<Option<AffineProgram>> = vec![None; steps.len()];
    let mut i = 0;
    while i < steps.len() {
        if !matches!(steps[i], Step::Affine { .. }) {
            i += 1;
            continue;
        }
        let mut end = i + 1;
        while end < steps.len() && same_affine_inputs(&steps[i], &steps[end]) {
            end += 1;
        }
        let diags: Vec<HashMap<DiagKey, DiagEntries>> = steps[i..end]
            .iter()
            .map(|s| match s {
                Step::Affine { out, terms, .. } => diagonals_of(circuit, factors, *out, terms),
                _ => unreachable!("the group holds affine steps only"),
            })
            .collect();
        let keys: Vec<Vec<DiagKey>> = diags.iter().map(|d| d.keys().copied().collect()).collect();
        let m = choose_baby_step(&keys, circuit.geo.batch as i64, circuit.geo.slots as i64, key_mode);
        for (k, d) in diags.into_iter().enumerate() {
            if let Step::Affine { out, bias, .. } = &steps[i + k] {
                programs[i + k] = Some(build_program(circuit, factors, *out, d, bias, m));
            }
        }
        i = end;
    }
    programs
}

/// Whether two steps are affine maps of the same input values (in order).
fn same_affine_inputs(a: &Step, b: &Step) -> bool {
    matches!((a, b), (Step::Affine { .. }, Step::Affine { .. })) && a.inputs() == b.inputs()
}

/// Runs a [`CompiledModel`] on ciphertexts with evaluation keys only.
pub struct Engine<'a> {
    model: &'a CompiledModel,
    keys: &'a EvaluationKeySet,
    plan: Plan,
    ev: Evaluator,
    encoder: Encoder,
    bootstrapper: Option<Bootstrapper>,
    rotations: std::sync::atomic::AtomicUsize,
    diagonals: std::sync::atomic::AtomicUsize,
}

impl<'a> Engine<'a> {
    /// Plans the model on the keys' parameters (bootstrapping if the key set
    /// has bootstrapping keys) and checks every rotation key is there.
    pub fn new(model: &'a CompiledModel, keys: &'a EvaluationKeySet) -> Result<Self, CnnError> {
        let ctx = keys.context();
        if ctx.n() / 2 != model.circuit.geo.slots {
            return Err(CnnError::Ciphertexts(format!(
                "the model is compiled for {} slots, the keys' ring has {}",
                model.circuit.geo.slots,
                ctx.n() / 2
            )));
        }
        if let Some(step) = keys.galois().first_missing_rotation(ctx, &model.rotation_steps()) {
            return Err(CnnError::Ciphertexts(format!("the Galois keys lack rotation {step}")));
        }
        let bootstrapper = match keys.bootstrap() {
            Some(bk) if bk.slots().contains(&(ctx.n() / 2)) => {
                Some(Bootstrapper::new(ctx, hecnn_ckks::circuits::BootstrapConfig::default(), &[ctx.n() / 2])?)
            }
            _ => None,
        };
        // With bootstrapping, the levels above `levels_left` belong to the
        // bootstrap's own circuit (CoeffsToSlots, EvalMod): fresh inputs
        // start where a bootstrap ends.
        let after_bootstrap = bootstrapper.as_ref().map(|b| b.levels_left());
        let budget = LevelBudget {
            top: after_bootstrap.unwrap_or(ctx.max_level()),
            after_bootstrap,
            relu_depth: model.relu_depth(),
        };
        let plan = Plan::new(&model.circuit, budget)?;
        Ok(Self {
            model,
            keys,
            plan,
            ev: Evaluator::new(ctx),
            encoder: Encoder::new(ctx),
            bootstrapper,
            rotations: Default::default(),
            diagonals: Default::default(),
        })
    }

    /// The level plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Level the client encrypts at (the chain's top, or where a bootstrap
    /// ends when the keys bootstrap).
    pub fn input_level(&self) -> usize {
        self.bootstrapper.as_ref().map_or(self.keys.context().max_level(), |b| b.levels_left())
    }

    /// Runs the circuit on the input ciphertexts (fresh, at the top level,
    /// scale Δ); `progress(done, total)` after each step.
    pub fn run(
        &self,
        input: Vec<Ciphertext>,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<(Vec<Ciphertext>, RunStats), CnnError> {
        let c = &self.model.circuit;
        let delta = self.keys.context().params().scale();
        if input.len() != c.values[0].layout.cts {
            return Err(CnnError::Ciphertexts(format!(
                "{} input ciphertexts, the circuit takes {}",
                input.len(),
                c.values[0].layout.cts
            )));
        }
        for (i, ct) in input.iter().enumerate() {
            if ct.slots() != c.geo.slots || (ct.scale() / delta - 1.0).abs() > 1e-9 {
                return Err(CnnError::Ciphertexts(format!(
                    "input ciphertext {i}: {} slots at scale 2^{:.2}, expected {} at 2^{:.2}",
                    ct.slots(),
                    ct.scale().log2(),
                    c.geo.slots,
                    delta.log2()
                )));
            }
        }
        let input = input
            .iter()
            .map(|ct| self.ev.drop_to_level(ct, self.input_level().min(ct.level())))
            .collect::<Result<Vec<_>, _>>()?;
        let mut vals: Vec<Option<Vec<Ciphertext>>> = vec![None; c.values.len()];
        vals[0] = Some(input);
        let mut stats = RunStats::default();
        let readers = last_readers(c);
        let mut babies = BabyCache::new();
        for (i, step) in c.steps.iter().enumerate() {
            let entry = &self.plan.entries[i];
            for &(v, _) in &entry.bootstrap {
                babies.retain(|k, _| k.0 != v);
                let t = std::time::Instant::now();
                let cts = vals[v].take().expect("computed");
                stats.bootstraps += cts.len();
                vals[v] = Some(self.bootstrap(cts)?);
                stats.seconds_bootstrap += t.elapsed().as_secs_f64();
            }
            let t = std::time::Instant::now();
            let get = |v: usize| vals[v].as_ref().expect("inputs precede readers");
            let out = match step {
                Step::Affine { terms, .. } => {
                    let prog = self.model.programs[i].as_ref().expect("affine step has a program");
                    let inputs: Vec<(usize, &Vec<Ciphertext>)> = terms.iter().map(|(v, _)| (*v, get(*v))).collect();
                    let r = self.affine(prog, &inputs, delta, &mut babies)?;
                    // Babies serve the next step only if it maps the same values.
                    if !c.steps.get(i + 1).is_some_and(|next| same_affine_inputs(step, next)) {
                        babies.clear();
                    }
                    stats.seconds_linear += t.elapsed().as_secs_f64();
                    r
                }
                Step::Relu { input, .. } => {
                    let rlk = self.step_relin_key(get(*input));
                    let r = get(*input)
                        .par_iter()
                        .map(|ct| {
                            let pe = PolyEvaluator::new(&self.ev, &rlk);
                            self.model.composite.relu(&pe, ct, delta)
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    stats.seconds_activation += t.elapsed().as_secs_f64();
                    r
                }
                Step::Max { inputs, .. } | Step::ReluMax { inputs, .. } => {
                    let fused = matches!(step, Step::ReluMax { .. });
                    let (a, b) = (get(inputs[0]), get(inputs[1]));
                    let rlk = self.step_relin_key(a.iter().chain(b));
                    let r = a
                        .par_iter()
                        .zip(b)
                        .map(|(x, y)| {
                            let pe = PolyEvaluator::new(&self.ev, &rlk);
                            let c = &self.model.composite;
                            if fused {
                                c.relu_max(&pe, x, y, delta)
                            } else {
                                c.max(&pe, x, y, delta)
                            }
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    stats.seconds_activation += t.elapsed().as_secs_f64();
                    r
                }
                Step::Reshape { input, .. } => get(*input).clone(),
            };
            stats.steps.push((step.kind(), step.node(), entry.level_in, t.elapsed().as_secs_f64()));
            vals[step.out()] = Some(out);
            // Free values no later step reads.
            for v in step.inputs() {
                if readers[v] == i && v != c.output {
                    vals[v] = None;
                }
            }
            progress(i + 1, c.steps.len());
        }
        use std::sync::atomic::Ordering::Relaxed;
        stats.rotations = self.rotations.swap(0, Relaxed);
        stats.diagonals = self.diagonals.swap(0, Relaxed);
        Ok((vals[c.output].take().expect("output computed"), stats))
    }

    /// The relinearization key with its `a` parts generated once, up to
    /// the highest level among `cts`, for one activation step: its
    /// composite polynomials relinearize many times per ciphertext, and a
    /// seeded key would regenerate `a` at each (a fifth of a key switch).
    /// Held for the step only (≈ 17 MB at level 11 of `bootstrappable`).
    fn step_relin_key<'c>(&self, cts: impl IntoIterator<Item = &'c Ciphertext>) -> RelinKey {
        let level = cts.into_iter().map(Ciphertext::level).max().unwrap_or(0);
        self.keys.relin().expanded(self.keys.context(), level)
    }

    fn has_key(&self, steps: i64) -> bool {
        let ctx = self.keys.context();
        ctx.galois_element(steps) == 1 || self.keys.galois().first_missing_rotation(ctx, &[steps]).is_none()
    }

    /// Rotation by `steps` slots: its own key if there is one, else the
    /// power-of-two hops of its non-adjacent form.
    fn rotate_any(&self, ct: &Ciphertext, steps: i64) -> Result<Ciphertext, CnnError> {
        use std::sync::atomic::Ordering::Relaxed;
        let gk = self.keys.galois();
        if self.has_key(steps) {
            self.rotations.fetch_add(1, Relaxed);
            return Ok(self.ev.rotate(ct, steps, gk)?);
        }
        let mut out = ct.clone();
        for hop in naf(steps, self.model.circuit.geo.slots as i64) {
            self.rotations.fetch_add(1, Relaxed);
            out = self.ev.rotate(&out, hop, gk)?;
        }
        Ok(out)
    }

    /// Adds baby rotations `b·B` of `memo[0]` to `memo` with power-of-two
    /// keys: `rot_b` is one hop (the lowest digit of `b`'s non-adjacent form)
    /// from its parent `b − digit`, an earlier baby or an intermediate node.
    /// Nodes are made a generation at a time, and the children of one parent
    /// share its decomposition (hoisting): at N = 2^16 a decomposition is
    /// about half a key switch, and a parent such as 0 or ±8 has many
    /// children (±1, ±2, ±4, … are all hops from 0).
    fn extend_by_hops(&self, memo: &mut BTreeMap<i64, Ciphertext>, steps: &[i64], batch: i64) -> Result<(), CnnError> {
        let mut needed: BTreeSet<i64> = BTreeSet::new();
        for &b in steps {
            let mut x = b;
            while !memo.contains_key(&x) && needed.insert(x) {
                x -= lowest_naf_digit(x);
            }
        }
        let gk = self.keys.galois();
        while !needed.is_empty() {
            let mut by_parent: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
            for &x in &needed {
                let parent = x - lowest_naf_digit(x);
                if memo.contains_key(&parent) {
                    by_parent.entry(parent).or_default().push(x);
                }
            }
            if by_parent.is_empty() {
                // Unreachable: every chain ends at a node of `memo` (0 at least).
                return Err(CnnError::Ciphertexts(format!("baby rotations {needed:?} have no computed parent")));
            }
            let made: Vec<Vec<(i64, Ciphertext)>> = by_parent
                .par_iter()
                .map(|(parent, children)| {
                    let ct = &memo[parent];
                    let dec = self.ev.decompose_for_rotation(ct)?;
                    children
                        .par_iter()
                        .map(|&x| {
                            self.rotations.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let hop = (x - parent) * batch;
                            Ok((x, self.ev.rotate_decomposed(ct, &dec, hop, gk)?))
                        })
                        .collect::<Result<Vec<_>, CnnError>>()
                })
                .collect::<Result<_, CnnError>>()?;
            for (x, ct) in made.into_iter().flatten() {
                needed.remove(&x);
                memo.insert(x, ct);
            }
        }
        Ok(())
    }

    /// Level a bootstrap brings a ciphertext to (`None`: the keys cannot bootstrap).
    pub fn level_after_bootstrap(&self) -> Option<usize> {
        self.bootstrapper.as_ref().map(Bootstrapper::levels_left)
    }

    /// Bootstraps full-slot ciphertexts, two real ones per bootstrap (what
    /// the plan does between steps; encrypted transfer learning refreshes
    /// the backbone's output with it before repacking).
    pub fn bootstrap(&self, cts: Vec<Ciphertext>) -> Result<Vec<Ciphertext>, CnnError> {
        let (boot, bk): (&Bootstrapper, &BootstrapKeys) = match (&self.bootstrapper, self.keys.bootstrap()) {
            (Some(b), Some(k)) => (b, k),
            _ => return Err(CnnError::Ciphertexts("the plan bootstraps but there are no bootstrapping keys".into())),
        };
        let rlk = self.keys.relin();
        let low: Vec<Ciphertext> = cts.iter().map(|ct| self.ev.drop_to_level(ct, 0)).collect::<Result<_, _>>()?;
        let mut out = Vec::with_capacity(low.len());
        for pair in low.chunks(2) {
            match pair {
                [a, b] => {
                    let (x, y) = boot.bootstrap_real_pair(a, b, rlk, bk)?;
                    out.push(x);
                    out.push(y);
                }
                [a] => out.push(boot.bootstrap(a, rlk, bk)?),
                _ => unreachable!("chunks of 2"),
            }
        }
        Ok(out)
    }

    fn affine(
        &self,
        prog: &AffineProgram,
        inputs: &[(usize, &Vec<Ciphertext>)],
        delta: f64,
        cache: &mut BabyCache,
    ) -> Result<Vec<Ciphertext>, CnnError> {
        let geo = &self.model.circuit.geo;
        let batch = geo.batch as i64;
        let level = inputs.iter().flat_map(|v| v.1.iter()).map(|c| c.level()).min().expect("non-empty input");
        if level == 0 {
            return Err(hecnn_ckks::CkksError::LevelExhausted { needed: 1, level: 0 }.into());
        }
        // Baby rotations: one decomposition per input ciphertext, and none
        // for babies an earlier step of the group already made.
        let mut groups: BTreeMap<(usize, u32), Vec<usize>> = BTreeMap::new();
        for (i, &(t, ci, _)) in prog.babies.iter().enumerate() {
            groups.entry((t, ci)).or_default().push(i);
        }
        let gk = self.keys.galois();
        for (&(t, ci), idx) in &groups {
            let (value, cts) = inputs[t];
            let memo = match cache.entry((value, ci, level)) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(BTreeMap::from([(0, self.ev.drop_to_level(&cts[ci as usize], level)?)]))
                }
            };
            let missing: Vec<i64> = idx
                .iter()
                .map(|&i| prog.babies[i].2)
                .filter(|b| !memo.contains_key(b))
                .collect::<BTreeSet<i64>>()
                .into_iter()
                .collect();
            if missing.is_empty() {
                continue;
            }
            if missing.iter().all(|&b| self.has_key(b * batch)) {
                let ct = &memo[&0];
                let dec = self.ev.decompose_for_rotation(ct)?;
                let rotated: Vec<Ciphertext> = missing
                    .par_iter()
                    .map(|&b| {
                        self.rotations.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        self.ev.rotate_decomposed(ct, &dec, b * batch, gk)
                    })
                    .collect::<Result<_, _>>()?;
                memo.extend(missing.into_iter().zip(rotated));
            } else {
                self.extend_by_hops(memo, &missing, batch)?;
            }
        }
        let babies: Vec<&Ciphertext> =
            prog.babies.iter().map(|&(t, ci, b)| &cache[&(inputs[t].0, ci, level)][&b]).collect();
        let q_l = self.keys.context().params().q()[level] as f64;
        let slots = geo.slots;
        let pt_scale = q_l; // inputs at Δ: Δ·q_l, rescaled by q_l, lands on exactly Δ.
        prog.outs
            .par_iter()
            .zip(&prog.bias)
            .map(|(giants, bias)| {
                // Giant steps in parallel too: a layer with one output
                // ciphertext (conv2, the dense head) has no other parallelism
                // above the limb loops.
                let terms = giants
                    .par_iter()
                    .map(|(&g, list)| {
                        let mut inner = PlainDotSum::new(&self.ev);
                        for (bi, entries) in list {
                            let mut diag = vec![Complex64::new(0.0, 0.0); slots];
                            for &(p, w) in entries {
                                let base = (p as i64 + g) * batch;
                                for b in 0..batch {
                                    diag[(base + b).rem_euclid(slots as i64) as usize].re = w;
                                }
                            }
                            self.diagonals.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            inner.push(babies[*bi], self.encoder.encode(&diag, slots, level, pt_scale)?)?;
                        }
                        let inner = inner.finish()?.expect("giant has terms");
                        if g == 0 {
                            return Ok(inner);
                        }
                        self.rotate_any(&inner, g * batch)
                    })
                    .collect::<Result<Vec<Ciphertext>, CnnError>>()?;
                let mut acc: Option<Ciphertext> = None;
                for t in terms {
                    acc = Some(match acc {
                        None => t,
                        Some(x) => self.ev.add(&x, &t)?,
                    });
                }
                let acc = match acc {
                    Some(a) => a,
                    // An all-zero output ciphertext: zero times any input.
                    None => {
                        let zero =
                            self.encoder.encode(&vec![Complex64::new(0.0, 0.0); slots], slots, level, pt_scale)?;
                        self.ev.mul_plain(&self.ev.drop_to_level(&inputs[0].1[0], level)?, &zero)?
                    }
                };
                let out = self.ev.rescale_to(&acc, delta)?;
                if bias.is_empty() {
                    return Ok(out);
                }
                let mut b = vec![0.0; slots];
                for &(p, v) in bias {
                    for k in 0..batch as usize {
                        b[p as usize * batch as usize + k] = v;
                    }
                }
                let pt = self.encoder.encode_real(&b, slots, out.level(), out.scale())?;
                Ok(self.ev.add_plain(&out, &pt)?)
            })
            .collect()
    }
}

/// Index of the last step reading each value (usize::MAX if none).
fn last_readers(c: &Circuit) -> Vec<usize> {
    let mut r = vec![usize::MAX; c.values.len()];
    for (i, s) in c.steps.iter().enumerate() {
        for v in s.inputs() {
            r[v] = i;
        }
    }
    r
}

/// `d = g + b` with `b` in `(−m/2, m/2]`: signed baby steps, so small
/// negative offsets (a kernel's left and upper taps) need no giant step.
fn split(d: i64, m: i64) -> (i64, i64) {
    let mut b = d.rem_euclid(m);
    if 2 * b > m {
        b -= m;
    }
    (d - b, b)
}

/// The lowest non-zero digit (`±2^k`) of the non-adjacent form of `x ≠ 0`.
fn lowest_naf_digit(x: i64) -> i64 {
    let k = x.trailing_zeros();
    let sign = if (x >> k) & 3 == 1 { 1 } else { -1 };
    sign << k
}

/// Non-adjacent form of a rotation by `steps` slots out of `slots`: signed
/// powers of two, at most one in two bits non-zero, summing to `steps`
/// modulo `slots`.
pub fn naf(steps: i64, slots: i64) -> Vec<i64> {
    let mut n = steps.rem_euclid(slots);
    if n > slots / 2 {
        n -= slots;
    }
    let mut out = Vec::new();
    let mut bit = 1i64;
    while n != 0 {
        if n & 1 != 0 {
            let d = 2 - n.rem_euclid(4);
            out.push(d * bit);
            n -= d;
        }
        n /= 2;
        bit *= 2;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::naf;

    #[test]
    fn naf_sums_to_the_step_with_sparse_digits() {
        for s in [-32769i64, -100, -7, -1, 0, 1, 3, 7, 28, 29, 896, 1000, 16383, 16384, 40000] {
            let d = naf(s, 32768);
            assert_eq!(d.iter().sum::<i64>().rem_euclid(32768), s.rem_euclid(32768), "{s}");
            assert!(d.iter().all(|x| x.unsigned_abs().is_power_of_two()));
            assert!(d.len() <= 9, "{s}: {d:?}");
        }
        assert_eq!(naf(7, 1024), vec![-1, 8]);
    }

    #[test]
    fn naf_digits_peel_off_one_at_a_time() {
        for x in [-29i64, -4, -3, -1, 1, 3, 5, 7, 28, 29, 100] {
            let mut y = x;
            let mut digits = Vec::new();
            while y != 0 {
                let d = super::lowest_naf_digit(y);
                digits.push(d);
                y -= d;
            }
            assert_eq!(digits, naf(x, 1 << 20), "{x}");
        }
        assert_eq!(super::split(-3, 8), (0, -3));
        assert_eq!(super::split(13, 8), (16, -3));
    }
}
