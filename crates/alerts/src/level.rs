//! `ln(1 + volume)`, the level the volume rule compares, for the share counts ticks carry.
//!
//! glibc's `log1p` takes ~14 ns a call on this machine, the largest single cost of the
//! volume rule. Volumes are share counts, nearly always small whole numbers, so the level of
//! each small count is computed once, by the same function, and looked up: the same bits,
//! a load instead of a call. Anything else (fractions, `-0.0`, large counts) is computed as
//! before.

use std::sync::LazyLock;

/// Counts below this are looked up: 99.6 % of a simulated session's 1-second volumes
/// (1,000 symbols), in 128 KiB.
const TABLED: usize = 1 << 14;

/// `(k as f64).ln_1p()` for every count `k` below [`TABLED`].
static LEVELS: LazyLock<Box<[f64]>> = LazyLock::new(|| (0..TABLED).map(|k| (k as f64).ln_1p()).collect());

/// `volume.ln_1p()`, bit for bit.
#[inline]
pub(crate) fn volume_level(volume: f64) -> f64 {
    // Saturating: NaN gives 0 and ∞ `usize::MAX`, neither of which passes the bit test.
    let k = volume as usize;
    match LEVELS.get(k) {
        Some(&level) if (k as f64).to_bits() == volume.to_bits() => level,
        _ => volume.ln_1p(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn every_tabled_count_and_its_neighbours_give_log1p_bits() {
        for k in 0..TABLED + 2 {
            let v = k as f64;
            for x in [v, v.next_down(), v.next_up(), v + 0.5] {
                assert_eq!(volume_level(x).to_bits(), x.ln_1p().to_bits(), "at {x:e}");
            }
        }
        for x in [-0.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 1e300, TABLED as f64 * 4.0] {
            assert_eq!(volume_level(x).to_bits(), x.ln_1p().to_bits(), "at {x:e}");
        }
    }

    proptest! {
        #[test]
        fn any_volume_gives_log1p_bits(x in prop_oneof![any::<f64>(), 0.0f64..2e4, (0u32..40_000).prop_map(f64::from)]) {
            prop_assert_eq!(volume_level(x).to_bits(), x.ln_1p().to_bits());
        }
    }
}
