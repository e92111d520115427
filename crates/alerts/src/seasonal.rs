//! The seasonal baseline: what volume and volatility usually are at this time of day (and
//! day of week), per symbol, fitted from history — the role the original design gave
//! Prophet "for alerts", at a fraction of the cost.
//!
//! Real volume is strongly seasonal within the day: the open and the close trade several
//! times the midday volume. A rule that compares a tick only with the last few minutes fires
//! at every open; one that knows the season does not.
//!
//! The model is additive in log space, fitted per symbol by ridge-regularised backfitting:
//!
//! ```text
//! log(1 + volume) = level + trend · day + season[time-of-day bin] + weekday[d] + noise
//! log variance/s  = level'              + season'[time-of-day bin]
//! ```
//!
//! Time of day is a step function over bins (5 minutes by default) rather than Prophet's
//! Fourier series: the session's open is a step (pre-market to open is 5× on SPY within a
//! minute), which a truncated Fourier series smears over half an hour and rings around
//! (Gibbs), while bins shrunk toward the symbol's level by the ridge take it as it is. Each
//! cell (symbol, day, bin) enters as its median log volume and trimmed variance, so the
//! spikes and crashes in the history barely move the fit. Weekday effects are fitted once
//! there are two weeks of history. Intervals come from each bin's spread of one tick's log
//! volume around the fit and its day's own level (the rules follow the level themselves).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tickloop_core::{Span, Tick, Timestamp};

/// Bumped when the saved baseline's meaning changes.
pub const BASELINE_FORMAT: u32 = 1;
/// The profiles file inside a version directory (beside the card, `config.json`).
pub const PROFILES_FILE: &str = "profiles.json";
/// The card's `kind`.
pub const SEASONAL_KIND: &str = "seasonal";

/// How a baseline is fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeasonalParams {
    /// Width of a time-of-day bin.
    pub bin: Span,
    /// Ridge strength: a bin's effect is shrunk toward zero as if this many cells of zero
    /// effect had been seen beside its own.
    pub ridge_cells: f64,
    /// Fit weekday effects when the history spans at least this many days.
    pub weekly_min_days: u32,
    /// Backfitting passes.
    pub passes: u32,
}

impl Default for SeasonalParams {
    fn default() -> Self {
        SeasonalParams { bin: Span::secs(300), ridge_cells: 0.5, weekly_min_days: 14, passes: 25 }
    }
}

/// One symbol's (or the whole universe's) fitted season.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub symbol: String,
    /// Width of a bin, seconds.
    pub bin_secs: u32,
    /// The first fitted bin (bins counted from UTC midnight); times before or after the
    /// fitted bins take the nearest one.
    pub first_bin: u32,
    /// Seasonal effect on log(1 + volume) per bin, relative to `level`.
    pub log_volume: Vec<f32>,
    /// log of the variance per second of log returns, per bin (empty: unknown, as for the
    /// universe's pooled profile, whose symbols' volatilities differ).
    pub log_variance: Vec<f32>,
    /// Weekday effects (Monday first) on log volume; zeros when not fitted.
    pub weekday: [f32; 7],
    /// log(1 + volume) level on `ref_day` (UTC days since 1970), and its drift per day.
    pub level: f32,
    pub trend_per_day: f32,
    pub ref_day: i64,
    /// Standard deviation of one tick's log volume around the expectation, over the day.
    pub spread: f32,
    /// The same per bin: pre-market prints scatter far more than the session's minutes.
    pub spread_by_bin: Vec<f32>,
    pub days: u32,
    pub ticks: u64,
}

impl Profile {
    /// A season with no shape: every time of day expects the same volume (level 0) with
    /// `spread`, and the volatility is unknown. A starting point for hand-made profiles.
    pub fn flat(symbol: &str, bin_secs: u32, spread: f32) -> Profile {
        Profile {
            symbol: symbol.to_owned(),
            bin_secs,
            first_bin: 0,
            log_volume: vec![0.0; (86_400 / bin_secs.max(1)) as usize],
            log_variance: Vec::new(),
            weekday: [0.0; 7],
            level: 0.0,
            trend_per_day: 0.0,
            ref_day: 0,
            spread,
            spread_by_bin: Vec::new(),
            days: 0,
            ticks: 0,
        }
    }

    fn bin_of(&self, ts: Timestamp, len: usize) -> usize {
        let bin = ts.second_of_day() / i64::from(self.bin_secs) - i64::from(self.first_bin);
        bin.clamp(0, len as i64 - 1) as usize
    }

    /// The seasonal part of log(1 + volume) at `ts`: time of day and weekday, no level. The
    /// rules track the level themselves (a trailing median of what is left), so a symbol
    /// whose volume doubled since the fit is still judged by its season.
    pub fn log_volume_shape(&self, ts: Timestamp) -> f64 {
        let tod = self.log_volume[self.bin_of(ts, self.log_volume.len())];
        f64::from(tod + self.weekday[ts.weekday() as usize])
    }

    /// The full expectation of log(1 + volume) at `ts`: level, trend and season.
    pub fn expected_log_volume(&self, ts: Timestamp) -> f64 {
        let days = (ts.day_number() - self.ref_day) as f64;
        f64::from(self.level) + f64::from(self.trend_per_day) * days + self.log_volume_shape(ts)
    }

    /// How far one tick's log volume usually strays from the expectation at `ts`.
    pub fn log_volume_spread(&self, ts: Timestamp) -> f64 {
        match self.spread_by_bin.len() {
            0 => f64::from(self.spread),
            n => f64::from(self.spread_by_bin[self.bin_of(ts, n)]),
        }
    }

    /// Usual variance per second of log returns at this time of day, when known.
    pub fn variance_rate(&self, ts: Timestamp) -> Option<f64> {
        (!self.log_variance.is_empty())
            .then(|| f64::from(self.log_variance[self.bin_of(ts, self.log_variance.len())]).exp())
    }
}

/// What the baseline was fitted on and how well, saved as the version's `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeasonalCard {
    pub format: u32,
    pub kind: String,
    pub name: String,
    pub version: u32,
    pub weights: String,
    pub data: tickloop_models::DataRange,
    pub params: SeasonalParams,
    pub fit: FitSummary,
    pub git_commit: Option<String>,
}

impl SeasonalCard {
    /// The card of version `version` of `name`, fitted on `data` with `params`; the fit
    /// summary is filled in by [`SeasonalFitter::finish`], the commit by the caller.
    pub fn new(name: &str, version: u32, data: tickloop_models::DataRange, params: SeasonalParams) -> Self {
        SeasonalCard {
            format: BASELINE_FORMAT,
            kind: SEASONAL_KIND.into(),
            name: name.to_owned(),
            version,
            weights: PROFILES_FILE.into(),
            data,
            params,
            fit: FitSummary::default(),
            git_commit: None,
        }
    }

    /// `name/vN`.
    pub fn id(&self) -> String {
        format!("{}/v{}", self.name, self.version)
    }
}

/// How the fit went, for the card and `tickloop train`'s output.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FitSummary {
    pub symbols: usize,
    pub days: u32,
    pub cells: u64,
    pub weekly: bool,
    /// Median over symbols of the tick-level spread of log volume (the interval's half
    /// width is 1.96 times this).
    pub median_spread: f64,
    /// Share of the variance of cell medians of log volume that the fit explains (pooled).
    pub r2_log_volume: f64,
}

/// A fitted baseline: one profile per symbol, and the universe's pooled season for symbols
/// the fit never saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeasonalBaseline {
    pub card: SeasonalCard,
    /// Sorted by symbol.
    pub profiles: Vec<Profile>,
    pub pooled: Profile,
}

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("{path}: {reason}")]
    Artifact { path: PathBuf, reason: String },
    #[error("no ticks to fit a seasonal baseline on")]
    NoData,
    #[error(transparent)]
    Source(#[from] tickloop_core::SourceError),
}

fn artifact(path: &Path, reason: impl std::fmt::Display) -> BaselineError {
    BaselineError::Artifact { path: path.to_owned(), reason: reason.to_string() }
}

impl SeasonalBaseline {
    /// The fit as a person reads it: the universe's expected volume through the day, and the
    /// interval one tick falls in.
    pub fn describe(&self) -> String {
        use std::fmt::Write;
        let f = &self.card.fit;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "seasonal baseline: {} symbols over {} days ({} cells of {}), weekday effects {}",
            f.symbols,
            f.days,
            f.cells,
            self.card.params.bin,
            if f.weekly { "fitted" } else { "not fitted (under two weeks of history)" }
        );
        let spread = f.median_spread;
        let _ = writeln!(
            out,
            "fit explains {:.1} % of the variance of cell volumes; one tick's volume falls within {:.2}× .. {:.2}× of its expectation 95 % of the time",
            f.r2_log_volume * 100.0,
            (-1.96 * spread).exp(),
            (1.96 * spread).exp()
        );
        let p = &self.pooled;
        let _ = writeln!(out, "\n  time (UTC)   volume vs the day's level (all symbols)");
        let step = (1800 / p.bin_secs.max(1)).max(1) as usize;
        for (k, &effect) in p.log_volume.iter().enumerate().step_by(step) {
            let secs = (p.first_bin as usize + k) as i64 * i64::from(p.bin_secs);
            let ts = Timestamp::from_secs(secs);
            let s = ts.second_of_day();
            let _ = writeln!(out, "  {:02}:{:02}        {:>5.2}×", s / 3600, s % 3600 / 60, f64::from(effect).exp());
        }
        out
    }

    /// The symbol's own profile, or `None` when the fit never saw it.
    pub fn profile(&self, symbol: &str) -> Option<&Profile> {
        self.profile_index(symbol).map(|i| &self.profiles[i])
    }

    /// Where the symbol's own profile sits in `profiles`.
    pub fn profile_index(&self, symbol: &str) -> Option<usize> {
        self.profiles.binary_search_by(|p| p.symbol.as_str().cmp(symbol)).ok()
    }

    /// The symbol's profile, or the pooled one.
    pub fn profile_or_pooled(&self, symbol: &str) -> &Profile {
        self.profile(symbol).unwrap_or(&self.pooled)
    }

    pub fn id(&self) -> String {
        self.card.id()
    }

    /// Writes the profiles and the card into the version directory `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), BaselineError> {
        std::fs::create_dir_all(dir).map_err(|e| artifact(dir, e))?;
        let profiles = dir.join(&self.card.weights);
        let body = serde_json::to_vec(&(&self.profiles, &self.pooled)).expect("profiles serialise");
        std::fs::write(&profiles, body).map_err(|e| artifact(&profiles, e))?;
        let card = dir.join(tickloop_models::CARD_FILE);
        std::fs::write(&card, serde_json::to_vec_pretty(&self.card).expect("a card serialises"))
            .map_err(|e| artifact(&card, e))
    }

    /// Loads a version directory, or a model directory's latest version.
    pub fn load(path: &Path) -> Result<SeasonalBaseline, BaselineError> {
        let dir = tickloop_models::resolve(path).map_err(|e| artifact(path, e))?;
        let card_path = dir.join(tickloop_models::CARD_FILE);
        let bytes = std::fs::read(&card_path).map_err(|e| artifact(&card_path, e))?;
        let card: SeasonalCard = serde_json::from_slice(&bytes).map_err(|e| {
            artifact(
                &card_path,
                format!("not a seasonal baseline's card ({e}); train one with `tickloop train --model seasonal`"),
            )
        })?;
        if card.kind != SEASONAL_KIND || card.format != BASELINE_FORMAT {
            return Err(artifact(
                &card_path,
                format!(
                    "kind {:?} format {}: this build reads {SEASONAL_KIND:?} format {BASELINE_FORMAT}",
                    card.kind, card.format
                ),
            ));
        }
        let profiles_path = dir.join(&card.weights);
        let bytes = std::fs::read(&profiles_path).map_err(|e| artifact(&profiles_path, e))?;
        let (profiles, pooled): (Vec<Profile>, Profile) =
            serde_json::from_slice(&bytes).map_err(|e| artifact(&profiles_path, e))?;
        if !profiles.windows(2).all(|w| w[0].symbol < w[1].symbol) {
            return Err(artifact(&profiles_path, "profiles are not sorted by symbol"));
        }
        Ok(SeasonalBaseline { card, profiles, pooled })
    }
}

/// One (day, bin) cell of one symbol's history, summarised robustly.
#[derive(Debug, Clone, Copy)]
struct Cell {
    day: i64,
    bin: u32,
    ticks: u32,
    /// Median log(1 + volume).
    log_volume: f64,
    /// Median absolute deviation of log(1 + volume), scaled to a standard deviation.
    spread: f64,
    /// log variance per second of log returns (trimmed), when the cell had returns.
    log_variance: Option<f64>,
}

/// A symbol's history, one day of raw values at a time.
#[derive(Debug, Default)]
struct SymbolHistory {
    day: Option<i64>,
    /// Per bin of the current day: log volumes, and squared returns per second.
    today: std::collections::BTreeMap<u32, (Vec<f64>, Vec<f64>)>,
    last: Option<(i64, f64)>,
    cells: Vec<Cell>,
    ticks: u64,
}

/// E[z² · 1(|z| < q₀.₉)] / 0.9 for a standard normal z: what the mean of the lowest 90 % of
/// squared returns is, as a share of their variance.
const TRIMMED_SQUARES: f64 = 0.6231;
/// Returns over longer gaps (overnight, halts) say nothing about the bin's volatility.
const MAX_RETURN_GAP_NANOS: i64 = 3_600 * tickloop_core::NANOS_PER_SECOND;

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

impl SymbolHistory {
    fn close_day(&mut self) {
        let Some(day) = self.day else { return };
        for (bin, (mut volumes, mut squares)) in std::mem::take(&mut self.today) {
            let log_volume = median(&mut volumes);
            let mut deviations: Vec<f64> = volumes.iter().map(|v| (v - log_volume).abs()).collect();
            let spread = 1.4826 * median(&mut deviations);
            let log_variance = (!squares.is_empty()).then(|| {
                squares.sort_by(f64::total_cmp);
                let keep = (squares.len() * 9).div_ceil(10).max(1);
                let mean = squares[..keep].iter().sum::<f64>() / keep as f64;
                (mean / TRIMMED_SQUARES).max(1e-30).ln()
            });
            self.cells.push(Cell { day, bin, ticks: volumes.len() as u32, log_volume, spread, log_variance });
        }
    }

    fn push(&mut self, tick: &Tick, bin_secs: i64) {
        let ts = tick.ts_event;
        let day = ts.day_number();
        if self.day != Some(day) {
            self.close_day();
            self.day = Some(day);
            self.last = None;
        }
        let bin = (ts.second_of_day() / bin_secs) as u32;
        let (volumes, squares) = self.today.entry(bin).or_default();
        volumes.push(crate::level::volume_level(tick.volume.get().max(0.0)));
        let log_close = tick.close.get().ln();
        if let Some((last_ts, last_log)) = self.last {
            let dt = ts.as_nanos() - last_ts;
            if dt > 0 && dt <= MAX_RETURN_GAP_NANOS {
                squares.push((log_close - last_log).powi(2) / (dt as f64 / 1e9));
            }
        }
        self.last = Some((ts.as_nanos(), log_close));
        self.ticks += 1;
    }
}

/// Fits a [`SeasonalBaseline`] from clean ticks in any order within a symbol's day (the
/// lake's replay order or symbol by symbol).
#[derive(Debug)]
pub struct SeasonalFitter {
    params: SeasonalParams,
    symbols: Vec<SymbolHistory>,
}

impl SeasonalFitter {
    pub fn new(params: SeasonalParams) -> Self {
        SeasonalFitter { params, symbols: Vec::new() }
    }

    /// Feeds one clean tick; its symbol id indexes the names given to [`Self::finish`].
    pub fn push(&mut self, tick: &Tick) {
        let i = tick.symbol.index();
        if i >= self.symbols.len() {
            self.symbols.resize_with(i + 1, SymbolHistory::default);
        }
        self.symbols[i].push(tick, i64::from(self.params.bin.as_secs()));
    }

    /// Fits every symbol seen. `name(i)` names symbol id `i`; `card` is filled in with the
    /// fit's summary.
    pub fn finish(
        mut self,
        name: impl Fn(usize) -> String,
        mut card: SeasonalCard,
    ) -> Result<SeasonalBaseline, BaselineError> {
        let params = self.params.clone();
        let bin_secs = params.bin.as_secs();
        let mut all_days = std::collections::BTreeSet::new();
        for h in &mut self.symbols {
            h.close_day();
            all_days.extend(h.cells.iter().map(|c| c.day));
        }
        let weekly = all_days.len() as u32 >= params.weekly_min_days;
        let mut profiles = Vec::new();
        let (mut explained, mut total) = (0.0, 0.0);
        let mut cells = 0;
        for (i, h) in self.symbols.iter().enumerate() {
            if h.cells.is_empty() {
                continue;
            }
            cells += h.cells.len() as u64;
            let (profile, fit) = fit_symbol(name(i), &h.cells, h.ticks, &params, weekly);
            explained += fit.0;
            total += fit.1;
            profiles.push(profile);
        }
        if profiles.is_empty() {
            return Err(BaselineError::NoData);
        }
        profiles.sort_by(|a, b| a.symbol.cmp(&b.symbol));
        let pooled = pool(&profiles, bin_secs);
        let mut spreads: Vec<f64> = profiles.iter().map(|p| f64::from(p.spread)).collect();
        card.params = params;
        card.fit = FitSummary {
            symbols: profiles.len(),
            days: all_days.len() as u32,
            cells,
            weekly,
            median_spread: median(&mut spreads),
            r2_log_volume: if total > 0.0 { 1.0 - explained / total } else { 0.0 },
        };
        Ok(SeasonalBaseline { card, profiles, pooled })
    }
}

/// Fits a baseline on every tick of `source` that the default cleaning accepts; `progress`
/// hears the count of ticks read now and then.
pub fn fit_source(
    source: &mut dyn tickloop_core::Source,
    params: SeasonalParams,
    card: SeasonalCard,
    mut progress: impl FnMut(u64),
) -> Result<SeasonalBaseline, BaselineError> {
    let mut cleaner = tickloop_features::Cleaner::new(tickloop_features::CleaningPolicy::default());
    let mut fitter = SeasonalFitter::new(params);
    let mut read = 0u64;
    while let Some(tick) = source.next_tick()? {
        if let Ok(clean) = cleaner.check(&tick) {
            fitter.push(&clean);
        }
        read += 1;
        if read & 0xFFFF == 0 {
            progress(read);
        }
    }
    let symbols = source.symbols();
    fitter.finish(|i| symbols.name(tickloop_core::SymbolId::new(i as u32)).to_owned(), card)
}

/// One additive fit: `y = level + trend·(day - ref) + season[bin] + weekday[dow]` with
/// weights `w`, ridge on the season and weekday effects, by backfitting. Returns the terms
/// and the weighted residual sum of squares.
struct Additive {
    first_bin: u32,
    ref_day: i64,
    level: f64,
    trend: f64,
    season: Vec<f64>,
    weekday: [f64; 7],
    rss: f64,
    tss: f64,
}

/// The UTC weekday (Monday = 0) of a day number.
fn weekday_of(day: i64) -> usize {
    Timestamp::from_secs(day * 86_400).weekday() as usize
}

impl Additive {
    /// The fitted value of a (day, bin) cell.
    fn at(&self, day: i64, bin: u32) -> f64 {
        self.level
            + self.trend * (day - self.ref_day) as f64
            + self.season[(bin - self.first_bin) as usize]
            + self.weekday[weekday_of(day)]
    }
}

fn fit_additive(
    rows: &[(i64, u32, f64, f64)],
    ref_day: i64,
    bins: (u32, usize),
    params: &SeasonalParams,
    with_trend: bool,
    weekly: bool,
) -> Additive {
    let (first_bin, n_bins) = bins;
    let mean_w = rows.iter().map(|r| r.3).sum::<f64>() / rows.len() as f64;
    let ridge = params.ridge_cells * mean_w;
    let mut a = Additive {
        first_bin,
        ref_day,
        level: 0.0,
        trend: 0.0,
        season: vec![0.0; n_bins],
        weekday: [0.0; 7],
        rss: 0.0,
        tss: 0.0,
    };
    let dow = weekday_of;
    let x = |day: i64| (day - ref_day) as f64;
    for _ in 0..params.passes.max(1) {
        // Level and trend by weighted least squares on what the effects leave.
        let (mut sw, mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for &(day, bin, y, w) in rows {
            let r = y - a.season[(bin - first_bin) as usize] - a.weekday[dow(day)];
            let xd = x(day);
            sw += w;
            sx += w * xd;
            sy += w * r;
            sxx += w * xd * xd;
            sxy += w * xd * r;
        }
        let var_x = sxx - sx * sx / sw;
        a.trend = if with_trend && var_x > 1e-9 { (sxy - sx * sy / sw) / var_x } else { 0.0 };
        a.level = (sy - a.trend * sx) / sw;
        // Season, then weekday, each shrunk toward zero.
        let mut num = vec![0.0; n_bins];
        let mut den = vec![ridge; n_bins];
        for &(day, bin, y, w) in rows {
            let b = (bin - first_bin) as usize;
            num[b] += w * (y - a.level - a.trend * x(day) - a.weekday[dow(day)]);
            den[b] += w;
        }
        for b in 0..n_bins {
            a.season[b] = if den[b] > 0.0 { num[b] / den[b] } else { 0.0 };
        }
        if weekly {
            let (mut num, mut den) = ([0.0; 7], [ridge * n_bins as f64; 7]);
            for &(day, bin, y, w) in rows {
                let d = dow(day);
                num[d] += w * (y - a.level - a.trend * x(day) - a.season[(bin - first_bin) as usize]);
                den[d] += w;
            }
            for d in 0..7 {
                a.weekday[d] = num[d] / den[d];
            }
        }
    }
    let mean = rows.iter().map(|r| r.3 * r.2).sum::<f64>() / rows.iter().map(|r| r.3).sum::<f64>();
    let (mut rss, mut tss) = (0.0, 0.0);
    for &(day, bin, y, w) in rows {
        rss += w * (y - a.at(day, bin)).powi(2);
        tss += w * (y - mean).powi(2);
    }
    (a.rss, a.tss) = (rss, tss);
    a
}

fn fit_symbol(
    symbol: String,
    cells: &[Cell],
    ticks: u64,
    params: &SeasonalParams,
    weekly: bool,
) -> (Profile, (f64, f64)) {
    let first_bin = cells.iter().map(|c| c.bin).min().expect("cells");
    let last_bin = cells.iter().map(|c| c.bin).max().expect("cells");
    let n_bins = (last_bin - first_bin + 1) as usize;
    let mut days: Vec<i64> = cells.iter().map(|c| c.day).collect();
    days.sort_unstable();
    days.dedup();
    let ref_day = *days.last().expect("cells");
    let volume_rows: Vec<_> = cells.iter().map(|c| (c.day, c.bin, c.log_volume, f64::from(c.ticks))).collect();
    let volume = fit_additive(&volume_rows, ref_day, (first_bin, n_bins), params, true, weekly);
    let variance_rows: Vec<_> =
        cells.iter().filter_map(|c| Some((c.day, c.bin, c.log_variance?, f64::from(c.ticks)))).collect();
    let log_variance = if variance_rows.is_empty() {
        Vec::new()
    } else {
        let v = fit_additive(&variance_rows, ref_day, (first_bin, n_bins), params, false, false);
        v.season.iter().map(|s| (v.level + s) as f32).collect()
    };
    // One tick's spread: within its cell, and of the cell's median around the fit, per bin
    // and shrunk toward the whole day's like the season itself. The rules follow the level
    // as it moves (a trailing median), so the spread that matters is around each day's own
    // level: a busy day is not a day of spikes.
    let fit = |c: &Cell| volume.at(c.day, c.bin);
    let mut day_level: std::collections::BTreeMap<i64, (f64, f64)> = std::collections::BTreeMap::new();
    for c in cells {
        let e = day_level.entry(c.day).or_default();
        e.0 += f64::from(c.ticks) * (c.log_volume - fit(c));
        e.1 += f64::from(c.ticks);
    }
    // Mean squares, not medians: a bin has a dozen cells when a dozen days are fitted, and
    // where history saw real surges at a time of day, a surge then is less surprising.
    let (mut num, mut den) = (vec![0.0; n_bins], vec![0.0; n_bins]);
    for c in cells {
        let b = (c.bin - first_bin) as usize;
        let (sum, weight) = day_level[&c.day];
        let w = f64::from(c.ticks);
        num[b] += w * (c.spread.powi(2) + (c.log_volume - fit(c) - sum / weight).powi(2));
        den[b] += w;
    }
    let total_w: f64 = den.iter().sum();
    let overall = num.iter().sum::<f64>() / total_w;
    let ridge = params.ridge_cells * total_w / cells.len() as f64;
    let spread_by_bin: Vec<f32> =
        num.iter().zip(&den).map(|(n, d)| ((n + ridge * overall) / (d + ridge)).sqrt() as f32).collect();
    let profile = Profile {
        symbol,
        bin_secs: params.bin.as_secs(),
        first_bin,
        log_volume: volume.season.iter().map(|&s| s as f32).collect(),
        log_variance,
        weekday: volume.weekday.map(|w| w as f32),
        level: volume.level as f32,
        trend_per_day: volume.trend as f32,
        ref_day,
        spread: overall.sqrt() as f32,
        spread_by_bin,
        days: days.len() as u32,
        ticks,
    };
    (profile, (volume.rss, volume.tss))
}

/// The universe's season: per bin, the tick-weighted mean of the symbols' effects (each
/// relative to its own level), no volatility (it is each symbol's own).
fn pool(profiles: &[Profile], bin_secs: u32) -> Profile {
    let first_bin = profiles.iter().map(|p| p.first_bin).min().expect("profiles");
    let last_bin = profiles.iter().map(|p| p.first_bin + p.log_volume.len() as u32 - 1).max().expect("profiles");
    let n = (last_bin - first_bin + 1) as usize;
    let (mut num, mut den) = (vec![0.0f64; n], vec![0.0f64; n]);
    let (mut weekday, mut spread, mut total) = ([0.0f64; 7], 0.0, 0.0);
    for p in profiles {
        let w = p.ticks as f64;
        for (k, &s) in p.log_volume.iter().enumerate() {
            let b = (p.first_bin - first_bin) as usize + k;
            num[b] += w * f64::from(s);
            den[b] += w;
        }
        for (sum, &effect) in weekday.iter_mut().zip(&p.weekday) {
            *sum += w * f64::from(effect);
        }
        spread += w * f64::from(p.spread);
        total += w;
    }
    Profile {
        symbol: String::new(),
        bin_secs,
        first_bin,
        log_volume: num.iter().zip(&den).map(|(n, d)| if *d > 0.0 { (n / d) as f32 } else { 0.0 }).collect(),
        log_variance: Vec::new(),
        weekday: weekday.map(|w| (w / total) as f32),
        level: 0.0,
        trend_per_day: 0.0,
        ref_day: profiles.iter().map(|p| p.ref_day).max().unwrap_or(0),
        spread: (spread / total) as f32,
        spread_by_bin: Vec::new(),
        days: profiles.iter().map(|p| p.days).max().unwrap_or(0),
        ticks: profiles.iter().map(|p| p.ticks).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickloop_core::{NANOS_PER_SECOND, Rng, SymbolId};

    fn card() -> SeasonalCard {
        let data = tickloop_models::DataRange {
            source: "test".into(),
            from: "2024-01-01".into(),
            to: "2024-01-31".into(),
            rows: 0,
            symbols: 0,
        };
        SeasonalCard::new("seasonal", 1, data, SeasonalParams::default())
    }

    /// Minute bars over 20 weekdays with a known season: the open's step, a quiet midday,
    /// Friday busier than the rest, and one crazy spike in the history.
    fn history(symbol: u32, level: f64) -> Vec<Tick> {
        let mut rng = Rng::new(7, u64::from(symbol));
        let mut ticks = Vec::new();
        let start = Timestamp::parse("2024-01-01T00:00:00Z").unwrap();
        for day in 0..28 {
            let midnight = start.add_nanos(day * 86_400 * NANOS_PER_SECOND);
            if midnight.weekday() >= 5 {
                continue;
            }
            for minute in (13 * 60)..(21 * 60) {
                let ts = midnight.add_nanos(minute * 60 * NANOS_PER_SECOND);
                let season = if minute < 14 * 60 + 30 {
                    -1.5
                } else if minute < 15 * 60 {
                    1.0
                } else {
                    0.0
                };
                let friday = if midnight.weekday() == 4 { 0.5 } else { 0.0 };
                let spike = if day == 3 && minute == 16 * 60 { 5.0 } else { 0.0 };
                let lv = level + season + friday + spike + 0.3 * rng.normal();
                let mut t = Tick::at_price(SymbolId::new(symbol), ts, 100.0 * (1.0 + 0.001 * rng.normal()), 0.0);
                t.volume = tickloop_core::Volume(lv.exp() - 1.0);
                ticks.push(t);
            }
        }
        ticks
    }

    #[test]
    fn the_fit_recovers_the_season_and_ignores_one_spike() {
        let mut fitter = SeasonalFitter::new(SeasonalParams::default());
        for t in history(0, 8.0).iter().chain(&history(1, 5.0)) {
            fitter.push(t);
        }
        let b = fitter.finish(|i| ["AAA", "BBB"][i].to_owned(), card()).unwrap();
        assert!(b.card.fit.weekly, "20 weekdays over four weeks: {:?}", b.card.fit);
        let a = b.profile("AAA").unwrap();
        let at = |hm: &str, day: &str| Timestamp::parse(&format!("{day}T{hm}:00Z")).unwrap();
        let monday = "2024-01-08";
        let open = a.expected_log_volume(at("14:40", monday));
        let pre = a.expected_log_volume(at("13:30", monday));
        let midday = a.expected_log_volume(at("17:00", monday));
        assert!(
            (open - 9.0).abs() < 0.1 && (pre - 6.5).abs() < 0.1 && (midday - 8.0).abs() < 0.1,
            "{pre} {open} {midday}"
        );
        let friday = a.expected_log_volume(at("17:00", "2024-01-12"));
        assert!((friday - midday - 0.5).abs() < 0.1, "Friday's effect: {}", friday - midday);
        let spiked = a.expected_log_volume(at("16:00", "2024-01-04"));
        assert!((spiked - 8.0).abs() < 0.15, "the spike is one cell's median among many: {spiked}");
        assert!((a.spread - 0.3).abs() < 0.06, "spread {}", a.spread);
        assert!(b.profile("CCC").is_none());
        let pooled = b.profile_or_pooled("CCC");
        assert!(
            (pooled.log_volume_shape(at("14:40", monday)) - pooled.log_volume_shape(at("17:00", monday)) - 1.0).abs()
                < 0.1
        );
        assert!(pooled.variance_rate(at("17:00", monday)).is_none() && a.variance_rate(at("17:00", monday)).is_some());

        let dir = tempfile::tempdir().unwrap();
        b.save(&dir.path().join("v1")).unwrap();
        assert_eq!(SeasonalBaseline::load(dir.path()).unwrap(), b);
        std::fs::write(dir.path().join("v1").join("config.json"), "{\"format\": 1}").unwrap();
        let err = SeasonalBaseline::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("tickloop train --model seasonal"), "{err}");
    }
}
