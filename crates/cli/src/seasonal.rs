//! `tickloop train --model seasonal`: fits the alert rules' seasonal baseline on a lake date
//! range, saves it as `models/seasonal/vN/` and shows the fit.

use std::path::PathBuf;

use anyhow::Context;
use tickloop_alerts::{SeasonalCard, SeasonalParams};
use tickloop_models::DataRange;

use crate::train::TrainArgs;

pub fn train(args: &TrainArgs) -> anyhow::Result<()> {
    let data = &args.data;
    let params: SeasonalParams = match &data.params {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            toml::from_str(&text).with_context(|| format!("{}: seasonal parameters", p.display()))?
        }
        None => SeasonalParams::default(),
    };
    let lake = data.lake.open()?;
    let model_dir = args.out.clone().unwrap_or_else(|| PathBuf::from("models/seasonal"));
    let name = model_dir.file_name().and_then(|n| n.to_str()).unwrap_or("seasonal").to_owned();
    let (version, dir) = tickloop_models::next_version(&model_dir);
    let fitted = tickloop_registry::fit_seasonal(&lake, &data.lake.lake, data.range()?, params.clone(), |range| {
        let range = DataRange { from: data.from.clone(), to: data.to.clone(), ..range };
        SeasonalCard { git_commit: tickloop_runs::git_commit(), ..SeasonalCard::new(&name, version, range, params) }
    })?;
    let (baseline, total, secs) = (fitted.baseline, fitted.ticks, fitted.secs);
    baseline.save(&dir).with_context(|| format!("saving the baseline to {}", dir.display()))?;
    print!("{}", baseline.describe());
    println!("fitted on {total} ticks in {secs:.2} s; saved {} to {}", baseline.id(), dir.display());
    println!("use it: [pipeline.alerts] baseline = \"{}\"", model_dir.display());
    Ok(())
}
