//! `tickloop train --model seasonal`: fits the alert rules' seasonal baseline on a lake date
//! range, saves it as `models/seasonal/vN/` and shows the fit.

use std::path::PathBuf;

use anyhow::{Context, bail};
use tickloop_alerts::{SeasonalBaseline, SeasonalCard, SeasonalParams};
use tickloop_core::{Source, Timestamp};
use tickloop_lake::LakeSource;
use tickloop_models::DataRange;

use crate::train::TrainArgs;
use tickloop_registry::tick_bar;

pub fn train(args: &TrainArgs) -> anyhow::Result<()> {
    let data = &args.data;
    let params: SeasonalParams = match &data.params {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            toml::from_str(&text).with_context(|| format!("{}: seasonal parameters", p.display()))?
        }
        None => SeasonalParams::default(),
    };
    let (start, end) = data.range()?;
    let lake = data.lake.open()?;
    let mut source = LakeSource::open(&lake, start, end).with_context(|| format!("opening lake {}", data.lake.lake))?;
    let total = source.remaining_hint().unwrap_or(0);
    if total == 0 {
        bail!(
            "lake {} has no ticks from {start} to {end}: run `cargo xtask backtest` or `tickloop sim` first",
            data.lake.lake
        );
    }
    let model_dir = args.out.clone().unwrap_or_else(|| PathBuf::from("models/seasonal"));
    let name = model_dir.file_name().and_then(|n| n.to_str()).unwrap_or("seasonal").to_owned();
    let (version, dir) = tickloop_models::next_version(&model_dir);
    let data_range = DataRange {
        source: lake.description().to_owned(),
        from: data.from.clone(),
        to: data.to.clone(),
        rows: total as usize,
        symbols: source.symbols().len(),
    };
    let card = SeasonalCard {
        git_commit: tickloop_runs::git_commit(),
        ..SeasonalCard::new(&name, version, data_range, params.clone())
    };
    let bar = tick_bar(total, "seasonal");
    let started = std::time::Instant::now();
    let baseline = tickloop_alerts::fit_source(&mut source, params, card, |n| bar.set_position(n))?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    baseline.save(&dir).with_context(|| format!("saving the baseline to {}", dir.display()))?;
    print!("{}", describe(&baseline));
    println!("fitted on {total} ticks in {secs:.2} s; saved {} to {}", baseline.id(), dir.display());
    println!("use it: [pipeline.alerts] baseline = \"{}\"", model_dir.display());
    Ok(())
}

/// The fit as a person reads it: the universe's expected volume through the day, and the
/// interval one tick falls in.
fn describe(b: &SeasonalBaseline) -> String {
    use std::fmt::Write;
    let f = &b.card.fit;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "seasonal baseline: {} symbols over {} days ({} cells of {}), weekday effects {}",
        f.symbols,
        f.days,
        f.cells,
        b.card.params.bin,
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
    let p = &b.pooled;
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
