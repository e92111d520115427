//! The loops of [`FeatureSet::update_run`](crate::FeatureSet::update_run): one indicator
//! over a run of inputs, writing one column of a row-major block of feature rows.
//!
//! Each loop calls the indicator's own streaming update, so a run's values are the
//! tick-by-tick values by construction (same operations, same order); what changes is
//! where the state lives. A loop moves the indicator into a local for the run and back at
//! its end: a local whose address never escapes is split into registers, where an
//! indicator behind a reference is reloaded and stored for every tick.

/// A value an indicator can be swapped with for the length of a run, so the run works on
/// a local whose address never escapes (which the compiler splits into registers) rather
/// than on the indicator behind a reference. Never observed: the run puts the indicator
/// back before it returns.
pub(crate) trait Vacant {
    const VACANT: Self;
}

/// Feeds `inputs` to `state` with `step`, writing each value to column `col` of `rows`
/// (rows `stride` wide); returns the last value (`NaN` for no inputs).
#[inline(never)]
pub(crate) fn column<S: Vacant, X>(
    state: &mut S,
    inputs: impl Iterator<Item = X>,
    rows: &mut [f64],
    stride: usize,
    col: usize,
    mut step: impl FnMut(&mut S, X) -> f64,
) -> f64 {
    let mut local = std::mem::replace(state, S::VACANT);
    let mut last = f64::NAN;
    for (row, x) in rows.chunks_exact_mut(stride).zip(inputs) {
        last = step(&mut local, x);
        row[col] = last;
    }
    *state = local;
    last
}

/// [`column`] for an indicator with three outputs; an output no feature reads (`None`) is
/// computed but not written.
#[inline(never)]
pub(crate) fn columns3<S: Vacant, X>(
    state: &mut S,
    inputs: impl Iterator<Item = X>,
    rows: &mut [f64],
    stride: usize,
    cols: [Option<usize>; 3],
    mut step: impl FnMut(&mut S, X) -> (f64, f64, f64),
) -> [f64; 3] {
    let mut local = std::mem::replace(state, S::VACANT);
    let mut last = [f64::NAN; 3];
    for (row, x) in rows.chunks_exact_mut(stride).zip(inputs) {
        let (a, b, c) = step(&mut local, x);
        last = [a, b, c];
        for (col, v) in cols.iter().zip(last) {
            if let Some(col) = *col {
                row[col] = v;
            }
        }
    }
    *state = local;
    last
}
