//! `tickloop train --model seasonal`: fits the alert rules' seasonal baseline on a lake date
//! range, saves it as `models/seasonal/vN/` and shows the fit.

use std::path::PathBuf;

use anyhow::{Context, bail};
use tickloop_alerts::{SeasonalCard, SeasonalParams};
use tickloop_core::Source;
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
    print!("{}", baseline.describe());
    println!("fitted on {total} ticks in {secs:.2} s; saved {} to {}", baseline.id(), dir.display());
    println!("use it: [pipeline.alerts] baseline = \"{}\"", model_dir.display());
    Ok(())
}
