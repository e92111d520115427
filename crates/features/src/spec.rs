//! Features by name. A feature's name is its spec (`sma_300`, `macd_signal_12_26_9`), the same
//! in config files, parquet columns, model configs and strategy parameters.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::batch::Columns;
use crate::run::columns;
use crate::vwap::typical_price;
use crate::{
    Atr, Bollinger, Ema, Extreme, Indicator, Macd, Ohlcv, RealizedVol, Return, ReturnKind, RollingExtreme, Rsi, Sma,
    TrendZ, VolumeZScore, Vwap,
};

/// Which of MACD's three outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MacdOutput {
    Line,
    Signal,
    Hist,
}

/// Which Bollinger band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Band {
    Upper,
    Middle,
    Lower,
}

/// One named feature. Windows count ticks (or bars, when fed bars).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum FeatureSpec {
    /// `return`: close / previous close − 1.
    Return,
    /// `log_return`: ln(close / previous close).
    LogReturn,
    /// `sma_<n>`
    Sma(u32),
    /// `ema_<n>`, seeded with SMA(n).
    Ema(u32),
    /// `rsi_<n>`, Wilder.
    Rsi(u32),
    /// `atr_<n>`, Wilder.
    Atr(u32),
    /// `min_<n>` / `max_<n>` of closes.
    Min(u32),
    Max(u32),
    /// `realized_vol_<n>`: sqrt(mean r²) of the last n log returns.
    RealizedVol(u32),
    /// `volume_z_<n>`: z-score of volume against the previous n.
    VolumeZ(u32),
    /// `trend_z_<n>`: log close above its n-tick exponential average, volatility-normalised
    /// ([`TrendZ`]).
    TrendZ(u32),
    /// `vwap`: session VWAP, reset each UTC day.
    Vwap,
    /// `vwap_<n>`: rolling VWAP over n ticks.
    VwapRolling(u32),
    /// `macd_<f>_<s>_<g>`, `macd_signal_<f>_<s>_<g>`, `macd_hist_<f>_<s>_<g>`.
    Macd {
        fast: u32,
        slow: u32,
        signal: u32,
        output: MacdOutput,
    },
    /// `bb_upper_<n>_<k>`, `bb_middle_<n>_<k>`, `bb_lower_<n>_<k>`; k in thousandths
    /// (`bb_upper_20_2.5` is k = 2500).
    Bollinger {
        window: u32,
        k_milli: u32,
        band: Band,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownFeature(pub String);

impl fmt::Display for UnknownFeature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown feature {:?}: expected one of return, log_return, vwap, sma_N, ema_N, rsi_N, atr_N, min_N, \
             max_N, realized_vol_N, volume_z_N, trend_z_N, vwap_N, macd[_signal|_hist]_F_S_G, bb_(upper|middle|lower)_N_K",
            self.0
        )
    }
}

impl std::error::Error for UnknownFeature {}

/// A positive integer written canonically (no sign, no leading zero).
fn count(s: &str) -> Option<u32> {
    let n: u32 = s.parse().ok()?;
    (n >= 1 && s == n.to_string()).then_some(n)
}

/// A positive multiplier like `2` or `2.5`, in thousandths, written canonically.
fn milli(s: &str) -> Option<u32> {
    let x: f64 = s.parse().ok()?;
    let m = (x * 1000.0).round();
    ((1.0..1e9).contains(&m) && format_milli(m as u32) == s).then_some(m as u32)
}

fn format_milli(m: u32) -> String {
    if m.is_multiple_of(1000) {
        (m / 1000).to_string()
    } else {
        let text = format!("{}.{:03}", m / 1000, m % 1000);
        text.trim_end_matches('0').to_owned()
    }
}

impl FromStr for FeatureSpec {
    type Err = UnknownFeature;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownFeature(s.to_owned());
        match s {
            "return" => return Ok(FeatureSpec::Return),
            "log_return" => return Ok(FeatureSpec::LogReturn),
            "vwap" => return Ok(FeatureSpec::Vwap),
            _ => {}
        }
        type Windowed = fn(u32) -> FeatureSpec;
        let windowed: [(&str, Windowed); 10] = [
            ("sma_", FeatureSpec::Sma),
            ("ema_", FeatureSpec::Ema),
            ("rsi_", FeatureSpec::Rsi),
            ("atr_", FeatureSpec::Atr),
            ("min_", FeatureSpec::Min),
            ("max_", FeatureSpec::Max),
            ("realized_vol_", FeatureSpec::RealizedVol),
            ("volume_z_", FeatureSpec::VolumeZ),
            ("trend_z_", FeatureSpec::TrendZ),
            ("vwap_", FeatureSpec::VwapRolling),
        ];
        for (prefix, make) in &windowed {
            if let Some(rest) = s.strip_prefix(prefix) {
                return count(rest).map(make).ok_or_else(unknown);
            }
        }
        for (prefix, output) in
            [("macd_signal_", MacdOutput::Signal), ("macd_hist_", MacdOutput::Hist), ("macd_", MacdOutput::Line)]
        {
            if let Some(rest) = s.strip_prefix(prefix) {
                let parts: Vec<&str> = rest.split('_').collect();
                let [f, sl, g] = parts[..] else { return Err(unknown()) };
                let (fast, slow, signal) =
                    (count(f).ok_or_else(unknown)?, count(sl).ok_or_else(unknown)?, count(g).ok_or_else(unknown)?);
                return Ok(FeatureSpec::Macd { fast, slow, signal, output });
            }
        }
        for (prefix, band) in [("bb_upper_", Band::Upper), ("bb_middle_", Band::Middle), ("bb_lower_", Band::Lower)] {
            if let Some(rest) = s.strip_prefix(prefix) {
                let (n, k) = rest.split_once('_').ok_or_else(unknown)?;
                return Ok(FeatureSpec::Bollinger {
                    window: count(n).ok_or_else(unknown)?,
                    k_milli: milli(k).ok_or_else(unknown)?,
                    band,
                });
            }
        }
        Err(unknown())
    }
}

impl fmt::Display for FeatureSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FeatureSpec::Return => f.write_str("return"),
            FeatureSpec::LogReturn => f.write_str("log_return"),
            FeatureSpec::Vwap => f.write_str("vwap"),
            FeatureSpec::Sma(n) => write!(f, "sma_{n}"),
            FeatureSpec::Ema(n) => write!(f, "ema_{n}"),
            FeatureSpec::Rsi(n) => write!(f, "rsi_{n}"),
            FeatureSpec::Atr(n) => write!(f, "atr_{n}"),
            FeatureSpec::Min(n) => write!(f, "min_{n}"),
            FeatureSpec::Max(n) => write!(f, "max_{n}"),
            FeatureSpec::RealizedVol(n) => write!(f, "realized_vol_{n}"),
            FeatureSpec::VolumeZ(n) => write!(f, "volume_z_{n}"),
            FeatureSpec::TrendZ(n) => write!(f, "trend_z_{n}"),
            FeatureSpec::VwapRolling(n) => write!(f, "vwap_{n}"),
            FeatureSpec::Macd { fast, slow, signal, output } => {
                let name = match output {
                    MacdOutput::Line => "macd",
                    MacdOutput::Signal => "macd_signal",
                    MacdOutput::Hist => "macd_hist",
                };
                write!(f, "{name}_{fast}_{slow}_{signal}")
            }
            FeatureSpec::Bollinger { window, k_milli, band } => {
                let name = match band {
                    Band::Upper => "bb_upper",
                    Band::Middle => "bb_middle",
                    Band::Lower => "bb_lower",
                };
                write!(f, "{name}_{window}_{}", format_milli(k_milli))
            }
        }
    }
}

impl TryFrom<String> for FeatureSpec {
    type Error = UnknownFeature;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<FeatureSpec> for String {
    fn from(spec: FeatureSpec) -> String {
        spec.to_string()
    }
}

/// The unit a feature is measured in, which decides how a model sees it: a price level
/// (SMA, bands, VWAP) means nothing across symbols until it is taken relative to the close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Already comparable across symbols: returns, RSI, z-scores, realised volatility.
    Free,
    /// A price level: models see `value / close − 1`.
    PriceLevel,
    /// A difference of prices (MACD, ATR): models see `value / close`.
    PriceDifference,
}

impl Scale {
    /// The value a model sees for a feature of this scale at `close`.
    pub fn relative_to(self, value: f64, close: f64) -> f64 {
        match self {
            Scale::Free => value,
            Scale::PriceLevel => value / close - 1.0,
            Scale::PriceDifference => value / close,
        }
    }
}

impl FeatureSpec {
    pub fn scale(self) -> Scale {
        match self {
            FeatureSpec::Return
            | FeatureSpec::LogReturn
            | FeatureSpec::Rsi(_)
            | FeatureSpec::RealizedVol(_)
            | FeatureSpec::VolumeZ(_)
            | FeatureSpec::TrendZ(_) => Scale::Free,
            FeatureSpec::Sma(_)
            | FeatureSpec::Ema(_)
            | FeatureSpec::Min(_)
            | FeatureSpec::Max(_)
            | FeatureSpec::Vwap
            | FeatureSpec::VwapRolling(_)
            | FeatureSpec::Bollinger { .. } => Scale::PriceLevel,
            FeatureSpec::Atr(_) | FeatureSpec::Macd { .. } => Scale::PriceDifference,
        }
    }

    /// The indicator instance this feature reads and which of its outputs: the three MACD
    /// outputs of one parameter set share one instance, and so do the three bands.
    fn instance(self) -> (FeatureSpec, usize) {
        match self {
            FeatureSpec::Macd { fast, slow, signal, output } => {
                (FeatureSpec::Macd { fast, slow, signal, output: MacdOutput::Line }, output as usize)
            }
            FeatureSpec::Bollinger { window, k_milli, band } => {
                (FeatureSpec::Bollinger { window, k_milli, band: Band::Upper }, band as usize)
            }
            other => (other, 0),
        }
    }

    fn build(self) -> IndicatorState {
        let n = |w: u32| w as usize;
        match self {
            FeatureSpec::Return => IndicatorState::Return(Return::new(ReturnKind::Simple)),
            FeatureSpec::LogReturn => IndicatorState::Return(Return::new(ReturnKind::Log)),
            FeatureSpec::Sma(w) => IndicatorState::Sma(Sma::new(n(w))),
            FeatureSpec::Ema(w) => IndicatorState::Ema(Ema::new(n(w))),
            FeatureSpec::Rsi(w) => IndicatorState::Rsi(Rsi::new(n(w))),
            FeatureSpec::Atr(w) => IndicatorState::Atr(Atr::new(n(w))),
            FeatureSpec::Min(w) => IndicatorState::Extreme(RollingExtreme::new(n(w), Extreme::Min)),
            FeatureSpec::Max(w) => IndicatorState::Extreme(RollingExtreme::new(n(w), Extreme::Max)),
            FeatureSpec::RealizedVol(w) => IndicatorState::RealizedVol(RealizedVol::new(n(w))),
            FeatureSpec::VolumeZ(w) => IndicatorState::VolumeZ(VolumeZScore::new(n(w))),
            FeatureSpec::TrendZ(w) => IndicatorState::TrendZ(TrendZ::new(n(w))),
            FeatureSpec::Vwap => IndicatorState::Vwap(Vwap::session(0)),
            FeatureSpec::VwapRolling(w) => IndicatorState::Vwap(Vwap::rolling(n(w))),
            FeatureSpec::Macd { fast, slow, signal, .. } => {
                IndicatorState::Macd(Macd::new(n(fast), n(slow), n(signal)))
            }
            FeatureSpec::Bollinger { window, k_milli, .. } => {
                IndicatorState::Bollinger(Bollinger::new(n(window), f64::from(k_milli) / 1000.0))
            }
        }
    }
}

/// The running state of one indicator instance, with its latest outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum IndicatorState {
    Return(Return),
    Sma(Sma),
    Ema(Ema),
    Rsi(Rsi),
    Atr(Atr),
    Extreme(RollingExtreme),
    RealizedVol(RealizedVol),
    VolumeZ(VolumeZScore),
    TrendZ(TrendZ),
    Vwap(Vwap),
    Macd(Macd),
    Bollinger(Bollinger),
}

impl IndicatorState {
    fn update(&mut self, x: &Ohlcv, out: &mut [f64; 3]) {
        let c = x.close;
        out[0] = match self {
            IndicatorState::Return(i) => i.update(c),
            IndicatorState::Sma(i) => i.update(c),
            IndicatorState::Ema(i) => i.update(c),
            IndicatorState::Rsi(i) => i.update(c),
            IndicatorState::Extreme(i) => i.update(c),
            IndicatorState::RealizedVol(i) => i.update(c),
            IndicatorState::VolumeZ(i) => i.update(x.volume),
            IndicatorState::TrendZ(i) => i.update(c),
            IndicatorState::Atr(i) => i.update(x.high, x.low, c),
            IndicatorState::Vwap(i) => i.update(x.ts_nanos, x.high, x.low, c, x.volume),
            IndicatorState::Macd(i) => {
                let (line, signal, hist) = i.update(c);
                *out = [line, signal, hist];
                return;
            }
            IndicatorState::Bollinger(i) => {
                let (upper, middle, lower) = i.update(c);
                *out = [upper, middle, lower];
                return;
            }
        };
    }
}

/// The kind of loop an instance runs in: instances of one kind can share a loop as lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunKind {
    SimpleReturn,
    LogReturn,
    Sma,
    Ema,
    Rsi,
    Min,
    Max,
    RealizedVol,
    VolumeZ,
    TrendZ,
    Atr,
    Vwap,
    Macd,
    Bollinger,
}

/// Moves each lane's indicator out of its [`IndicatorState`] variant; every lane must hold
/// that variant (lanes are checked to share one [`RunKind`] first).
macro_rules! lanes {
    ($states:expr, $variant:ident) => {
        $states.map(|state| match state {
            IndicatorState::$variant(i) => i,
            _ => unreachable!("lanes share one run kind"),
        })
    };
}

impl RunKind {
    /// Whether stepping several symbols side by side pays: the recurrences whose chain of
    /// dependent operations (an EMA's multiply and add) sets their pace on one symbol. The
    /// others are bound by how many operations they issue (divisions, square roots, window
    /// upkeep, the true range), where a second lane only adds register pressure: measured
    /// slower in lanes. RSI and ATR gained from lanes while Wilder's smoothing divided
    /// (13+ cycles on the chain); multiplying, they run faster alone (3.5 → 3.2 and 3.1 →
    /// 2.6 ns a tick), and so does MACD (2.8 → 3.9 in lanes).
    fn gains_from_lanes(self) -> bool {
        matches!(self, RunKind::Ema)
    }
}

impl IndicatorState {
    fn run_kind(&self) -> RunKind {
        match self {
            IndicatorState::Return(i) if i.kind() == ReturnKind::Simple => RunKind::SimpleReturn,
            IndicatorState::Return(_) => RunKind::LogReturn,
            IndicatorState::Sma(_) => RunKind::Sma,
            IndicatorState::Ema(_) => RunKind::Ema,
            IndicatorState::Rsi(_) => RunKind::Rsi,
            IndicatorState::Extreme(i) if i.extreme() == Extreme::Min => RunKind::Min,
            IndicatorState::Extreme(_) => RunKind::Max,
            IndicatorState::RealizedVol(_) => RunKind::RealizedVol,
            IndicatorState::VolumeZ(_) => RunKind::VolumeZ,
            IndicatorState::TrendZ(_) => RunKind::TrendZ,
            IndicatorState::Atr(_) => RunKind::Atr,
            IndicatorState::Vwap(_) => RunKind::Vwap,
            IndicatorState::Macd(_) => RunKind::Macd,
            IndicatorState::Bollinger(_) => RunKind::Bollinger,
        }
    }

    /// [`IndicatorState::update`] over a run of each lane's inputs: output `k` of a lane's
    /// input `i` goes to its `rows[i * stride + cols[k]]`; returns each lane's last
    /// outputs. `derived` holds each lane's derived columns for the features that
    /// reads them. Every lane must be of one [`RunKind`].
    fn run<const L: usize>(
        states: [&mut IndicatorState; L],
        runs: [&Columns<'_>; L],
        derived: [&Derived; L],
        rows: [&mut [f64]; L],
        stride: usize,
        cols: [Option<usize>; 3],
    ) -> [[f64; 3]; L] {
        let kind = states.first().map(|s| s.run_kind());
        debug_assert!(states.iter().all(|s| Some(s.run_kind()) == kind), "lanes differ in kind");
        let closes = runs.map(|run| run.close.iter().copied());
        let closes_and = |column: fn(&Derived) -> &[f64]| {
            std::array::from_fn::<_, L, _>(|lane| runs[lane].close.iter().copied().zip(column(derived[lane])))
        };
        // One output: the loop over the lanes' `inputs` on the `$variant`'s indicators, each
        // step (always inlined, so the indicator stays in registers) giving the value written
        // to the first column.
        macro_rules! one_output {
            ($variant:ident, $inputs:expr, |$state:pat_param, $input:pat_param| $value:expr) => {
                columns(
                    lanes!(states, $variant),
                    $inputs,
                    rows,
                    stride,
                    [cols[0]],
                    #[inline(always)]
                    |$state, $input| [$value],
                )
                .map(|[v]| [v, f64::NAN, f64::NAN])
            };
        }
        // Three outputs (MACD's line, signal and histogram; the bands) of closes, each
        // written where a feature reads it.
        macro_rules! three_outputs {
            ($variant:ident) => {
                columns(
                    lanes!(states, $variant),
                    closes,
                    rows,
                    stride,
                    cols,
                    #[inline(always)]
                    |i, x| {
                        let (a, b, c) = i.update(x);
                        [a, b, c]
                    },
                )
            };
        }
        match kind {
            None => [[f64::NAN; 3]; L],
            Some(RunKind::SimpleReturn) => {
                one_output!(Return, closes_and(|d| &d.ratios), |r, (x, &ratio)| r.step(x, |_| ratio - 1.0))
            }
            Some(RunKind::LogReturn) => {
                one_output!(Return, closes_and(|d| &d.log_returns), |r, (x, &log_return)| r.step(x, |_| log_return))
            }
            Some(RunKind::Sma) => one_output!(Sma, closes, |i, x| i.update(x)),
            Some(RunKind::Ema) => one_output!(Ema, closes, |i, x| i.update(x)),
            Some(RunKind::Rsi) => one_output!(Rsi, closes, |i, x| i.update(x)),
            Some(RunKind::Min) => one_output!(Extreme, closes, |i, x| i.update_as::<false>(x)),
            Some(RunKind::Max) => one_output!(Extreme, closes, |i, x| i.update_as::<true>(x)),
            Some(RunKind::RealizedVol) => {
                let inputs = closes_and(|d| &d.log_returns);
                one_output!(RealizedVol, inputs, |r, (x, &log_return)| r.step(x, |_| log_return))
            }
            Some(RunKind::VolumeZ) => {
                one_output!(VolumeZ, runs.map(|run| run.volume.iter().copied()), |i, v| i.update(v))
            }
            Some(RunKind::TrendZ) => {
                let inputs = derived.map(|d| d.log_closes.iter().copied());
                one_output!(TrendZ, inputs, |i, log_close| i.step(log_close))
            }
            Some(RunKind::Atr) => {
                let inputs = runs.map(|run| run.high.iter().zip(run.low).zip(run.close));
                one_output!(Atr, inputs, |a, ((&h, &l), &c)| a.update(h, l, c))
            }
            Some(RunKind::Vwap) => {
                let inputs = std::array::from_fn::<_, L, _>(|lane| {
                    runs[lane].ts_nanos.iter().zip(&derived[lane].typical).zip(runs[lane].volume)
                });
                one_output!(Vwap, inputs, |a, ((&ts, &typical), &v)| a.step(ts, typical, v))
            }
            Some(RunKind::Macd) => three_outputs!(Macd),
            Some(RunKind::Bollinger) => three_outputs!(Bollinger),
        }
    }
}

/// A set of features for one symbol: the distinct indicator instances they need, each
/// updated once per input, and where each feature reads its value.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "SavedFeatureSet")]
pub struct FeatureSet {
    specs: Vec<FeatureSpec>,
    instances: Vec<IndicatorState>,
    /// Latest outputs per instance.
    values: Vec<[f64; 3]>,
    /// `(instance, output)` per feature, in the order of `specs`.
    slots: Vec<(usize, usize)>,
    /// Derived from `slots` (never saved): where a run writes each instance's outputs.
    plan: RunPlan,
    /// A run's derived columns (never saved).
    derived: Derived,
}

/// Columns of a run that several indicators read, computed once per run; buffers reused
/// between runs, not part of a set's state (equal sets may hold different ones, and a clone
/// starts with none).
#[derive(Debug, Default)]
struct Derived {
    /// `close / previous close` ([`Return::ratios`]): both returns, the log returns.
    ratios: Vec<f64>,
    /// `ln` of the ratios: `log_return`, `realized_vol_N`.
    log_returns: Vec<f64>,
    /// `(high + low + close) / 3`: every VWAP.
    typical: Vec<f64>,
    /// `ln(close)`: every trend.
    log_closes: Vec<f64>,
}

impl Derived {
    /// Fills the columns `set`'s indicators read from `run`.
    fn fill(&mut self, set: &FeatureSet, run: &Columns<'_>) {
        let kinds = || set.instances.iter().map(IndicatorState::run_kind);
        let prev = set.instances.iter().find_map(|state| match state {
            IndicatorState::Return(r) => Some(r.previous()),
            IndicatorState::RealizedVol(r) => Some(r.previous()),
            _ => None,
        });
        if let Some(prev) = prev {
            Return::ratios(prev, run.close, &mut self.ratios);
        }
        if kinds().any(|k| matches!(k, RunKind::LogReturn | RunKind::RealizedVol)) {
            Return::log_returns(&self.ratios, &mut self.log_returns);
        }
        if kinds().any(|k| k == RunKind::TrendZ) {
            self.log_closes.clear();
            self.log_closes.resize(run.close.len(), 0.0);
            tickloop_vecmath::ln_into(run.close, &mut self.log_closes);
        }
        if kinds().any(|k| k == RunKind::Vwap) {
            self.typical.clear();
            let (high, low, close) = (run.high, run.low, run.close);
            self.typical.extend(high.iter().zip(low).zip(close).map(|((&h, &l), &c)| typical_price(h, l, c)));
        }
    }
}

impl Clone for Derived {
    fn clone(&self) -> Self {
        Derived::default()
    }
}

impl PartialEq for Derived {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// The snapshot form of a [`FeatureSet`]: its fields without the derived [`RunPlan`], so
/// checkpoints keep the shape they had before runs existed.
#[derive(Serialize, Deserialize)]
struct SavedFeatureSet {
    specs: Vec<FeatureSpec>,
    instances: Vec<IndicatorState>,
    values: Vec<[f64; 3]>,
    slots: Vec<(usize, usize)>,
}

/// [`SavedFeatureSet`] borrowed, so a checkpoint serialises without cloning the windows.
#[derive(Serialize)]
struct SavedFeatureSetRef<'a> {
    specs: &'a [FeatureSpec],
    instances: &'a [IndicatorState],
    values: &'a [[f64; 3]],
    slots: &'a [(usize, usize)],
}

impl Serialize for FeatureSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SavedFeatureSetRef { specs: &self.specs, instances: &self.instances, values: &self.values, slots: &self.slots }
            .serialize(serializer)
    }
}

impl From<SavedFeatureSet> for FeatureSet {
    fn from(saved: SavedFeatureSet) -> Self {
        let plan = RunPlan::new(&saved.slots, saved.instances.len());
        FeatureSet {
            specs: saved.specs,
            instances: saved.instances,
            values: saved.values,
            slots: saved.slots,
            plan,
            derived: Derived::default(),
        }
    }
}

/// Where a run writes: per instance, the row column of each of its outputs that some
/// feature reads (the first such feature), and the features that repeat another's value.
#[derive(Debug, Clone, PartialEq, Default)]
struct RunPlan {
    columns: Vec<[Option<usize>; 3]>,
    /// `(column, copied from column)` for a feature whose `(instance, output)` an earlier
    /// feature already reads.
    copies: Vec<(usize, usize)>,
}

impl RunPlan {
    fn new(slots: &[(usize, usize)], instances: usize) -> Self {
        let mut columns = vec![[None; 3]; instances];
        let mut copies = Vec::new();
        for (column, &(i, k)) in slots.iter().enumerate() {
            let Some(first) = columns.get_mut(i).and_then(|c: &mut [Option<usize>; 3]| c.get_mut(k % 3)) else {
                continue;
            };
            match *first {
                Some(earlier) => copies.push((column, earlier)),
                None => *first = Some(column),
            }
        }
        RunPlan { columns, copies }
    }
}

impl FeatureSet {
    pub fn new(specs: &[FeatureSpec]) -> Self {
        let mut keys: Vec<FeatureSpec> = Vec::new();
        let mut slots = Vec::with_capacity(specs.len());
        // `sma_<n>` is the middle band of any `bb_*_<n>_*` in the set, the same SMA updated
        // the same way: it reads the band instead of keeping a second SMA of the same closes
        // (the default set has both at 20).
        let band_of = |n: u32| {
            specs
                .iter()
                .map(|s| s.instance().0)
                .find(|k| matches!(k, FeatureSpec::Bollinger { window, .. } if *window == n))
        };
        for spec in specs {
            let (key, output) = match spec.instance() {
                (FeatureSpec::Sma(n), _) if let Some(bands) = band_of(n) => (bands, Band::Middle as usize),
                instance => instance,
            };
            let index = keys.iter().position(|k| *k == key).unwrap_or_else(|| {
                keys.push(key);
                keys.len() - 1
            });
            slots.push((index, output));
        }
        FeatureSet::from(SavedFeatureSet {
            specs: specs.to_vec(),
            instances: keys.iter().map(|k| k.build()).collect(),
            values: vec![[f64::NAN; 3]; keys.len()],
            slots,
        })
    }

    pub fn specs(&self) -> &[FeatureSpec] {
        &self.specs
    }

    /// Feeds one input and appends every feature's value to `out`, in spec order.
    pub fn update(&mut self, x: &Ohlcv, out: &mut Vec<f64>) {
        let start = out.len();
        out.resize(start + self.slots.len(), f64::NAN);
        self.update_into(x, &mut out[start..]);
    }

    /// Feeds one input and writes every feature's value into `row` (one per spec, in spec
    /// order; `row.len()` must be `specs().len()`).
    pub fn update_into(&mut self, x: &Ohlcv, row: &mut [f64]) {
        for (state, values) in self.instances.iter_mut().zip(&mut self.values) {
            state.update(x, values);
        }
        let values = &self.values;
        for (slot, &(i, k)) in row.iter_mut().zip(&self.slots) {
            *slot = values.get(i).map_or(f64::NAN, |v| v[k % 3]);
        }
    }

    /// Feeds a run of inputs (one symbol's, oldest first) and writes each input's feature
    /// row into `rows` (`run.len()` rows of `specs().len()` values, row-major): the values
    /// and the state `update_into` would leave, bit for bit, computed indicator by
    /// indicator. Each indicator's loop keeps its state in registers and reads one input
    /// column, where the tick-by-tick update reloads every indicator's state for each tick.
    ///
    /// # Panics
    /// When the columns' lengths differ or `rows` is not `run.len() × specs().len()`.
    pub fn update_run(&mut self, run: &Columns<'_>, rows: &mut [f64]) {
        FeatureSet::update_runs([self], [run], [rows]);
    }

    /// [`FeatureSet::update_run`] for `L` symbols' sets at once, each with its own run and
    /// rows: when the sets compute the same features, each indicator's loop steps the `L`
    /// symbols side by side, so one symbol's recurrence fills the time another's waits on
    /// its last value (a replay computes a block's symbols two at a time). Each set's
    /// values and state are exactly those of its own `update_run`.
    ///
    /// # Panics
    /// As [`FeatureSet::update_run`], for any lane.
    pub fn update_runs<const L: usize>(sets: [&mut FeatureSet; L], runs: [&Columns<'_>; L], rows: [&mut [f64]; L]) {
        let mut sets = sets;
        let mut rows = rows;
        for ((set, run), rows) in sets.iter().zip(runs).zip(rows.iter()) {
            let (n, width) = (run.close.len(), set.slots.len());
            assert!(
                [run.ts_nanos.len(), run.open.len(), run.high.len(), run.low.len(), run.volume.len()]
                    .iter()
                    .all(|&len| len == n),
                "a run's columns differ in length"
            );
            assert_eq!(rows.len(), n * width, "a run writes {n} rows of {width} features");
        }
        let alike = sets.iter().all(|set| {
            set.slots == sets[0].slots
                && set.plan == sets[0].plan
                && set.instances.len() == sets[0].instances.len()
                && set.instances.iter().zip(&sets[0].instances).all(|(a, b)| a.run_kind() == b.run_kind())
        });
        if L > 1 && !alike {
            for ((set, run), rows) in sets.into_iter().zip(runs).zip(rows) {
                set.update_run(run, rows);
            }
            return;
        }
        let mut derived: [Derived; L] = sets.each_mut().map(|set| std::mem::take(&mut set.derived));
        for ((set, run), derived) in sets.iter().zip(runs).zip(&mut derived) {
            derived.fill(set, run);
        }
        let Some(first) = sets.first_mut() else { return };
        // Borrowed out of the first set for the loop (the sets are alike), put back below.
        let (width, plan) = (first.slots.len(), std::mem::take(&mut first.plan));
        for (instance, &cols) in plan.columns.iter().enumerate() {
            let in_lanes = sets.first().is_some_and(|set| set.instances[instance].run_kind().gains_from_lanes());
            if in_lanes {
                let states = sets.each_mut().map(|set| &mut set.instances[instance]);
                let lane_rows = rows.each_mut().map(|rows| &mut **rows);
                let last = IndicatorState::run(states, runs, derived.each_ref(), lane_rows, width, cols);
                for ((set, last), run) in sets.iter_mut().zip(last).zip(runs) {
                    if !run.close.is_empty() {
                        set.values[instance] = last;
                    }
                }
            } else {
                for (((set, run), rows), derived) in sets.iter_mut().zip(runs).zip(rows.iter_mut()).zip(&derived) {
                    let [last] =
                        IndicatorState::run([&mut set.instances[instance]], [run], [derived], [rows], width, cols);
                    if !run.close.is_empty() {
                        set.values[instance] = last;
                    }
                }
            }
        }
        for ((set, derived), rows) in sets.iter_mut().zip(derived).zip(rows) {
            set.derived = derived;
            if !plan.copies.is_empty() {
                for row in rows.chunks_exact_mut(width) {
                    for &(to, from) in &plan.copies {
                        row[to] = row[from];
                    }
                }
            }
        }
        if let Some(first) = sets.first_mut() {
            first.plan = plan;
        }
    }
}

/// Where each named feature sits in a feature vector. Built once, so per-tick code indexes
/// a slice instead of looking names up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureIndex {
    specs: Vec<FeatureSpec>,
}

impl FeatureIndex {
    pub fn new(specs: Vec<FeatureSpec>) -> Self {
        FeatureIndex { specs }
    }

    pub fn specs(&self) -> &[FeatureSpec] {
        &self.specs
    }

    pub fn position(&self, spec: FeatureSpec) -> Option<usize> {
        self.specs.iter().position(|&s| s == spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_typos_are_rejected() {
        for name in [
            "return",
            "log_return",
            "vwap",
            "sma_1",
            "sma_300",
            "ema_12",
            "rsi_14",
            "atr_14",
            "min_30",
            "max_30",
            "realized_vol_60",
            "volume_z_60",
            "trend_z_300",
            "vwap_300",
            "macd_12_26_9",
            "macd_signal_12_26_9",
            "macd_hist_12_26_9",
            "bb_upper_20_2",
            "bb_lower_20_2.5",
            "bb_middle_20_0.125",
        ] {
            assert_eq!(name.parse::<FeatureSpec>().unwrap().to_string(), name);
        }
        for bad in [
            "sma_0",
            "sma_",
            "sma_05",
            "SMA_5",
            "ema_x",
            "sma_x",
            "macd_12_26",
            "bb_upper_20",
            "bb_upper_20_2.0",
            "foo",
        ] {
            assert!(bad.parse::<FeatureSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn macd_outputs_share_one_instance() {
        let specs: Vec<FeatureSpec> = ["macd_12_26_9", "macd_signal_12_26_9", "sma_5", "macd_hist_12_26_9"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let set = FeatureSet::new(&specs);
        assert_eq!(set.instances.len(), 2);
    }

    /// `sma_<n>` reads the middle band of a `bb_*_<n>_*` in the set, with the values of an
    /// SMA of its own, tick by tick and in runs — through warm-up, a non-finite close (from
    /// which an SMA stays `NaN`) and windows that differ (`sma_3` keeps its own).
    #[test]
    fn an_sma_with_bands_of_its_window_reads_their_middle() {
        let parse = |names: &[&str]| names.iter().map(|s| s.parse().unwrap()).collect::<Vec<FeatureSpec>>();
        let shared = parse(&["sma_5", "bb_upper_5_2", "sma_3", "bb_lower_5_2"]);
        let set = FeatureSet::new(&shared);
        assert_eq!(set.instances.len(), 2, "sma_5 reads the bands; sma_3 is its own");
        let ohlcv = |i: usize| {
            let close = if i == 40 { f64::NAN } else { 100.0 + (i as f64 * 0.7).sin() * 3.0 + i as f64 * 0.01 };
            Ohlcv {
                ts_nanos: i as i64 * 1_000_000_000,
                open: close,
                high: close + 0.5,
                low: close - 0.5,
                close,
                volume: 10.0,
            }
        };
        let mut by_tick = set.clone();
        let mut separate = vec![
            FeatureSet::new(&parse(&["sma_5"])),
            FeatureSet::new(&parse(&["bb_upper_5_2"])),
            FeatureSet::new(&parse(&["sma_3"])),
            FeatureSet::new(&parse(&["bb_lower_5_2"])),
        ];
        let n = 60;
        let mut rows = Vec::new();
        for i in 0..n {
            let mut expected = Vec::new();
            for alone in &mut separate {
                alone.update(&ohlcv(i), &mut expected);
            }
            let mut got = Vec::new();
            by_tick.update(&ohlcv(i), &mut got);
            assert_eq!(
                got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                expected.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "tick {i}: {got:?} vs {expected:?}"
            );
            rows.extend(expected);
        }
        let ticks: Vec<Ohlcv> = (0..n).map(ohlcv).collect();
        let column = |f: fn(&Ohlcv) -> f64| ticks.iter().map(f).collect::<Vec<f64>>();
        let ts: Vec<i64> = ticks.iter().map(|t| t.ts_nanos).collect();
        let (open, high, low, close, volume) =
            (column(|t| t.open), column(|t| t.high), column(|t| t.low), column(|t| t.close), column(|t| t.volume));
        let run = Columns { ts_nanos: &ts, open: &open, high: &high, low: &low, close: &close, volume: &volume };
        let mut in_runs = set.clone();
        let mut got = vec![0.0; n * shared.len()];
        in_runs.update_run(&run, &mut got);
        assert_eq!(
            got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            rows.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }
}
