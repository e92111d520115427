//! The loops of [`FeatureSet::update_run`](crate::FeatureSet::update_run): one indicator
//! over a run of inputs, writing its columns of a row-major block of feature rows.
//!
//! Each loop calls the indicator's own streaming update, so a run's values are the
//! tick-by-tick values by construction (same operations, same order); what changes is
//! where the state lives. A loop moves the indicator into a local for the run and back at
//! its end: a local whose address never escapes is split into registers, where an
//! indicator behind a reference is reloaded and stored for every tick.
//!
//! A loop may carry several symbols at once (lanes): the same indicator of `L` symbols,
//! stepped side by side while every lane has input. Most indicators are a recurrence
//! whose next value waits on the last (an EMA's multiply and add): one
//! symbol's loop runs at the speed of that chain and leaves the core's other units idle,
//! while independent chains of other symbols fill them. Each lane still sees its own
//! inputs in order through the same update, so its values do not depend on its neighbours.

/// `1 / n`, to multiply by where a window's mean would divide by its length `n`.
///
/// A division costs 4–5 cycles of throughput and 13+ of latency on the cores we measure; a
/// multiply one and three. In a run the window's length is loop-invariant, so the compiler
/// computes this once per run and each value costs a multiply (in runs: Bollinger 5.1 → 3.0
/// ns a value, `volume_z_300` 8.3 → 6.0). The result may differ from the quotient in the
/// last bit (against TA-Lib's golden vectors, which divide: SMAs within 5e-15 relative,
/// the bands within 1.3e-10, where the variance's cancellation magnifies an ulp of the
/// mean); a run and the tick-by-tick update share it, so they agree to the bit.
#[inline(always)]
pub(crate) fn reciprocal(n: usize) -> f64 {
    1.0 / n as f64
}

/// A value an indicator can be swapped with for the length of a run, so the run works on
/// a local whose address never escapes (which the compiler splits into registers) rather
/// than on the indicator behind a reference. Never observed: the run puts the indicator
/// back before it returns.
pub(crate) trait Vacant {
    const VACANT: Self;
}

/// Feeds each lane's `inputs` to its state with `step`, writing output `k` of each input
/// to column `cols[k]` of the lane's `rows` (rows `stride` wide; an output no feature reads,
/// `None`, is computed but not written); returns each lane's last outputs (`NaN` for no
/// inputs). Lanes step together for as many inputs as the shortest has, then each finishes
/// alone.
#[inline(never)]
pub(crate) fn columns<S: Vacant, X, I: Iterator<Item = X>, const K: usize, const L: usize>(
    states: [&mut S; L],
    inputs: [I; L],
    rows: [&mut [f64]; L],
    stride: usize,
    cols: [Option<usize>; K],
    step: impl FnMut(&mut S, X) -> [f64; K],
) -> [[f64; K]; L] {
    // Where every output is read (every single-output indicator, most of the others), the
    // columns are fixed for the run: the loop writes each without asking again whether and
    // where (an option's test, a bounds check and the stride's reload a value: a tenth of
    // a rolling extreme's instructions).
    let every = cols.map(|col| col.filter(|&c| c < stride));
    if every.iter().all(Option::is_some) {
        let every = every.map(|col| col.unwrap_or_default());
        stepped(states, inputs, rows, stride, step, |row: &mut [f64], values: [f64; K]| {
            for (&col, v) in every.iter().zip(values) {
                row[col] = v;
            }
        })
    } else {
        stepped(states, inputs, rows, stride, step, |row: &mut [f64], values: [f64; K]| {
            for (col, v) in cols.iter().zip(values) {
                if let Some(slot) = col.and_then(|c| row.get_mut(c)) {
                    *slot = v;
                }
            }
        })
    }
}

/// [`columns`]' loop, with `put` writing a row's outputs.
#[inline(always)]
fn stepped<S: Vacant, X, I: Iterator<Item = X>, const K: usize, const L: usize>(
    states: [&mut S; L],
    inputs: [I; L],
    rows: [&mut [f64]; L],
    stride: usize,
    mut step: impl FnMut(&mut S, X) -> [f64; K],
    put: impl Fn(&mut [f64], [f64; K]),
) -> [[f64; K]; L] {
    let mut states = states;
    let mut locals: [S; L] = states.each_mut().map(|s| std::mem::replace(&mut **s, S::VACANT));
    let mut last = [[f64::NAN; K]; L];
    let together = rows.iter().map(|r| r.len() / stride.max(1)).min().unwrap_or(0);
    let mut inputs = inputs.into_iter();
    let mut lanes = rows.map(|r| r.chunks_exact_mut(stride).zip(inputs.next().expect("one input per lane")));
    // Lanes by constant index (not a loop over lanes), so each lane's state stays a set of
    // scalars the compiler keeps in registers. Two step together (what replays use); lanes
    // past the second, if any, finish alone in the loop below, with the same values.
    macro_rules! step_lane {
        ($lane:literal) => {
            if $lane < L {
                if let Some((row, x)) = lanes[$lane].next() {
                    last[$lane] = step(&mut locals[$lane], x);
                    put(row, last[$lane]);
                }
            }
        };
    }
    for _ in 0..together {
        step_lane!(0);
        step_lane!(1);
    }
    for (lane, rest) in lanes.iter_mut().enumerate() {
        for (row, x) in rest {
            last[lane] = step(&mut locals[lane], x);
            put(row, last[lane]);
        }
    }
    for (state, local) in states.into_iter().zip(locals) {
        *state = local;
    }
    last
}
