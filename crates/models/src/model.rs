//! What every trained model shares, whatever its kind: the card saved beside its weights
//! (`config.json`), the [`Predictor`] interface the live runner, the backtest and the model
//! server call, and the artifact directory layout `models/<name>/<version>/`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use tickloop_core::Timestamp;

use crate::{Evaluation, Normalizer};

/// The file name of a model's card inside its version directory.
pub const CARD_FILE: &str = "config.json";

/// Bumped when the card's meaning changes; older cards are refused with a clear message.
pub const CARD_FORMAT: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Lstm,
    Gbm,
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModelKind::Lstm => "lstm",
            ModelKind::Gbm => "gbm",
        })
    }
}

/// Where the training data came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataRange {
    /// The lake (or other source) description.
    pub source: String,
    /// First and last UTC day, inclusive (`YYYY-MM-DD`).
    pub from: String,
    pub to: String,
    pub rows: usize,
    pub symbols: usize,
}

/// How a model's raw output becomes the log return it predicts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Target {
    /// The output is the return (cards written before targets were recorded).
    #[default]
    Return,
    /// The output is the return in units of the horizon's expected volatility,
    /// `σ · sqrt(horizon)`, with σ the per-second realised volatility in input column
    /// `column` of the window's newest row. A calm and a wild symbol then share one scale:
    /// the model learns one relation instead of fitting the wild symbols' noise, and its
    /// outputs rank symbols the way their expected moves do.
    VolatilityUnits { column: usize },
}

/// The event-time span a model's training rows and their labels covered: from the first
/// training row to the end of the last one's label horizon. A backtest whose traded window
/// reaches into it is (at least partly) in-sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainedSpan {
    #[serde(with = "tickloop_core::rfc3339")]
    pub from: Timestamp,
    #[serde(with = "tickloop_core::rfc3339")]
    pub to: Timestamp,
}

/// Everything needed to use a model correctly, saved as `config.json` beside its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelCard {
    pub format: u32,
    pub name: String,
    pub version: u32,
    pub kind: ModelKind,
    /// Pipeline feature names, in the order of the model's input columns. Price-level
    /// features are seen relative to the close (`tickloop_features::Scale`).
    pub features: Vec<String>,
    /// Rows per input window (1 for tabular models).
    pub window: usize,
    /// The label: log return over this many seconds after the row.
    pub horizon_secs: u32,
    /// Fitted on the training window only.
    pub normalizer: Normalizer,
    /// The weights file inside the version directory.
    pub weights: String,
    pub data: DataRange,
    pub seed: u64,
    pub git_commit: Option<String>,
    /// The model's hyperparameters as it was trained.
    pub params: serde_json::Value,
    /// Scores on the validation window, beside the baselines.
    pub validation: Evaluation,
    /// What the model's output means ([`ModelCard::to_return`]).
    #[serde(default)]
    pub target: Target,
    /// What the training rows covered (cards written before it was recorded fall back to
    /// the data range's days: see [`ModelCard::trained_span`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trained_on: Option<TrainedSpan>,
}

impl ModelCard {
    /// Values per window: `window × features`.
    pub fn window_len(&self) -> usize {
        self.window * self.features.len()
    }

    /// Checks that this model can read rows laid out as `available` (the pipeline's feature
    /// names) and returns, for each model input, its column there.
    pub fn columns_in(&self, available: &[String]) -> Result<Vec<usize>, ModelError> {
        let missing: Vec<String> = self.features.iter().filter(|f| !available.contains(f)).cloned().collect();
        if !missing.is_empty() {
            return Err(ModelError::FeatureMismatch { model: self.id(), missing, available: available.to_vec() });
        }
        Ok(self.features.iter().map(|f| available.iter().position(|a| a == f).expect("checked")).collect())
    }

    /// The log return predicted by raw `output` for `window` (one window of raw model
    /// inputs, oldest row first); 0 where the volatility it is scaled by is unknown or zero.
    pub fn to_return(&self, output: f64, window: &[f64]) -> f64 {
        match self.target {
            Target::Return => output,
            Target::VolatilityUnits { column } => {
                let newest = &window[window.len() - self.features.len()..];
                let sigma = newest[column];
                if sigma.is_finite() && sigma > 0.0 {
                    output * sigma * f64::from(self.horizon_secs).sqrt()
                } else {
                    0.0
                }
            }
        }
    }

    /// The span the model learnt from: [`ModelCard::trained_on`], or for older cards the
    /// whole days of the data range (`YYYY-MM-DD` to the end of the last day); `None` when
    /// neither says.
    pub fn trained_span(&self) -> Option<TrainedSpan> {
        if let Some(span) = self.trained_on {
            return Some(span);
        }
        let day = |d: &str| Timestamp::parse(&format!("{d}T00:00:00Z")).ok();
        let (from, last) = (day(&self.data.from)?, day(&self.data.to)?);
        Some(TrainedSpan { from, to: last.add_nanos(86_400 * tickloop_core::NANOS_PER_SECOND) })
    }

    /// The part of `[from, to]` (a backtest's traded window) that the model trained on, if
    /// any: a result there is in-sample.
    pub fn overlap_with_training(&self, from: Timestamp, to: Timestamp) -> Option<TrainedSpan> {
        let span = self.trained_span()?;
        let (start, end) = (span.from.max(from), span.to.min(to));
        (start < end || (start == end && span.from <= from && from < span.to))
            .then_some(TrainedSpan { from: start, to: end })
    }

    /// `name/vN`, the version an output record names.
    pub fn id(&self) -> String {
        format!("{}/v{}", self.name, self.version)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(
        "model {model} needs features the pipeline does not compute: {} (the pipeline has: {})",
        missing.join(", "),
        available.join(", ")
    )]
    FeatureMismatch { model: String, missing: Vec<String>, available: Vec<String> },
    #[error("input has {got} values, expected a multiple of {per_window} ({window} rows × {features} features)")]
    InputShape { got: usize, per_window: usize, window: usize, features: usize },
    #[error("{path}: {reason}")]
    Artifact { path: PathBuf, reason: String },
    #[error("{0}")]
    Backend(String),
}

impl ModelError {
    pub fn artifact(path: &Path, reason: impl fmt::Display) -> Self {
        ModelError::Artifact { path: path.to_owned(), reason: reason.to_string() }
    }
}

/// A trained model ready to predict. Inputs are raw model inputs (after the scale
/// transform, before normalisation): the predictor applies its own normaliser, so callers
/// cannot pair a model with the wrong statistics.
pub trait Predictor: Send + Sync + fmt::Debug {
    fn card(&self) -> &ModelCard;

    /// Predicts `windows.len() / card().window_len()` windows laid out back to back, each
    /// `window` rows of `features` values, oldest row first.
    fn predict(&self, windows: &[f64]) -> Result<Vec<f64>, ModelError>;

    /// Writes the weights and the card into the version directory `dir`.
    fn save(&self, dir: &Path) -> Result<(), ModelError>;

    /// The number of windows in `windows`, or the error a caller should see.
    fn window_count(&self, windows: &[f64]) -> Result<usize, ModelError> {
        let card = self.card();
        let per = card.window_len();
        if per == 0 || !windows.len().is_multiple_of(per) {
            return Err(ModelError::InputShape {
                got: windows.len(),
                per_window: per,
                window: card.window,
                features: card.features.len(),
            });
        }
        Ok(windows.len() / per)
    }
}

/// Writes `card` into `dir` (created if needed).
pub fn save_card(dir: &Path, card: &ModelCard) -> Result<(), ModelError> {
    std::fs::create_dir_all(dir).map_err(|e| ModelError::artifact(dir, e))?;
    let path = dir.join(CARD_FILE);
    let json = serde_json::to_vec_pretty(card).expect("a card serialises");
    std::fs::write(&path, json).map_err(|e| ModelError::artifact(&path, e))
}

/// Writes a model version: the weights (by `write_weights`, given the weights path the card
/// names) and then the card, into `dir` (created if needed).
pub fn save_version(
    dir: &Path,
    card: &ModelCard,
    write_weights: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<(), ModelError> {
    std::fs::create_dir_all(dir).map_err(|e| ModelError::artifact(dir, e))?;
    let path = dir.join(&card.weights);
    write_weights(&path).map_err(|e| ModelError::artifact(&path, e))?;
    save_card(dir, card)
}

/// Reads the card of the model version in `dir`.
pub fn load_card(dir: &Path) -> Result<ModelCard, ModelError> {
    let path = dir.join(CARD_FILE);
    let bytes = std::fs::read(&path).map_err(|e| ModelError::artifact(&path, e))?;
    let card: ModelCard = serde_json::from_slice(&bytes).map_err(|e| ModelError::artifact(&path, e))?;
    if card.format != CARD_FORMAT {
        return Err(ModelError::artifact(
            &path,
            format!("card format {} is not supported (this build reads {CARD_FORMAT})", card.format),
        ));
    }
    Ok(card)
}

/// The version directories (`v1`, `v2`, …) under a model's directory, in version order.
pub fn versions(model_dir: &Path) -> Vec<(u32, PathBuf)> {
    let mut out: Vec<(u32, PathBuf)> = std::fs::read_dir(model_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.strip_prefix('v')?.parse().ok()?;
            Some((v, e.path()))
        })
        .collect();
    out.sort();
    out
}

/// The directory the next version of a model goes to, and its number.
pub fn next_version(model_dir: &Path) -> (u32, PathBuf) {
    let v = versions(model_dir).last().map_or(1, |(v, _)| v + 1);
    (v, model_dir.join(format!("v{v}")))
}

/// Resolves what a user names as a model: a version directory (holding `config.json`), or
/// a model directory, meaning its latest version.
pub fn resolve(path: &Path) -> Result<PathBuf, ModelError> {
    if path.join(CARD_FILE).is_file() {
        return Ok(path.to_owned());
    }
    match versions(path).pop() {
        Some((_, dir)) if dir.join(CARD_FILE).is_file() => Ok(dir),
        _ => Err(ModelError::artifact(path, format!("no {CARD_FILE} here and no version directories (v1, v2, …)"))),
    }
}

/// `predictions/<symbol>/<model>/<ts_event>`: one id per symbol, window and model version,
/// so a replay after a crash yields the same ids and downstream consumers can de-duplicate.
pub fn prediction_id(symbol: &str, p: &tickloop_core::Prediction) -> String {
    id_of(symbol, p, &p.ts_event)
}

fn id_of(symbol: &str, p: &tickloop_core::Prediction, ts_event: &dyn fmt::Display) -> String {
    format!("predictions/{symbol}/{}/{ts_event}", p.model_version)
}

/// A prediction as JSON, the same wherever it is published (the `predictions` topic, a
/// backtest's `predictions.jsonl`): id, model, prob_up (where the model gives one), return,
/// symbol, ts_event, keys in that (sorted) order; a non-finite value is `null`. Serialised
/// straight to its writer: a year's replay of 1,000 symbols writes ~100 M of them.
#[derive(Debug, Serialize)]
pub struct PredictionJson<'a> {
    id: String,
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    prob_up: Option<f64>,
    #[serde(rename = "return")]
    value: Option<f64>,
    symbol: &'a str,
    ts_event: String,
}

impl<'a> PredictionJson<'a> {
    pub fn new(symbol: &'a str, p: &'a tickloop_core::Prediction) -> Self {
        // Formatted once, for the id and its own field.
        let ts_event = p.ts_event.to_string();
        PredictionJson {
            id: id_of(symbol, p, &ts_event),
            model: &p.model_version,
            prob_up: p.prob_up,
            value: p.value.is_finite().then_some(p.value),
            symbol,
            ts_event,
        }
    }
}

/// [`PredictionJson`]'s bytes, as serde_json writes them, appended to `out` without
/// building its strings: a backtest's `predictions.jsonl` gets one line a symbol a minute
/// (~100 M over a year of 1,000 symbols), where the id's and the stamp's formatting and
/// allocations were most of a line's cost (~4 % of a GBM replay). A proptest holds the
/// bytes equal to serde_json's for any symbol, model, time and value.
pub fn write_prediction_json(symbol: &str, p: &tickloop_core::Prediction, out: &mut Vec<u8>) {
    let ts_event = p.ts_event.rfc3339();
    out.extend_from_slice(b"{\"id\":\"predictions/");
    json_string_contents(symbol, out);
    out.push(b'/');
    json_string_contents(&p.model_version, out);
    out.push(b'/');
    out.extend_from_slice(ts_event.as_bytes());
    out.extend_from_slice(b"\",\"model\":\"");
    json_string_contents(&p.model_version, out);
    out.push(b'"');
    if let Some(prob_up) = p.prob_up {
        out.extend_from_slice(b",\"prob_up\":");
        json_number(prob_up, out);
    }
    out.extend_from_slice(b",\"return\":");
    json_number(p.value, out);
    out.extend_from_slice(b",\"symbol\":\"");
    json_string_contents(symbol, out);
    out.extend_from_slice(b"\",\"ts_event\":\"");
    out.extend_from_slice(ts_event.as_bytes());
    out.extend_from_slice(b"\"}");
}

/// `text` escaped as inside a JSON string, as serde_json escapes it: copied as it is
/// unless it holds a quote, a backslash or a control character (symbols and model ids
/// never do).
fn json_string_contents(text: &str, out: &mut Vec<u8>) {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.extend_from_slice(text.as_bytes());
    } else {
        let start = out.len();
        serde_json::to_writer(&mut *out, text).expect("a Vec takes any write");
        // Without the quotes serde_json put around it.
        out.pop();
        out.remove(start);
    }
}

/// `value` as serde_json writes an `f64`: its shortest round-tripping digits, or `null`
/// when not finite.
fn json_number(value: f64, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, &value).expect("a Vec takes any write");
}

/// [`PredictionJson`] as a JSON object, for publishers that add fields of their own.
pub fn prediction_json(symbol: &str, p: &tickloop_core::Prediction) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(PredictionJson::new(symbol, p)) {
        Ok(serde_json::Value::Object(map)) => map,
        other => unreachable!("a struct serialises to an object, not {other:?}"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testing::card;

    #[test]
    fn a_backtest_overlapping_the_training_span_is_found_and_one_after_it_is_not() {
        let at = |t: &str| Timestamp::parse(t).unwrap();
        // testing::card's data range is the day 2024-01-02; an older card has no span.
        let mut c = card(&["log_return"]);
        let whole_day = c.trained_span().unwrap();
        assert_eq!((whole_day.from, whole_day.to), (at("2024-01-02T00:00:00Z"), at("2024-01-03T00:00:00Z")));
        c.trained_on = Some(TrainedSpan { from: at("2024-01-02T14:30:00Z"), to: at("2024-01-02T19:43:00Z") });
        let overlap = c.overlap_with_training(at("2024-01-02T14:30:00Z"), at("2024-01-02T21:00:00Z")).unwrap();
        assert_eq!((overlap.from, overlap.to), (at("2024-01-02T14:30:00Z"), at("2024-01-02T19:43:00Z")));
        assert_eq!(c.overlap_with_training(at("2024-01-02T19:43:00Z"), at("2024-01-02T21:00:00Z")), None);
        assert_eq!(c.overlap_with_training(at("2024-01-03T14:30:00Z"), at("2024-01-03T21:00:00Z")), None);
        let one_tick = c.overlap_with_training(at("2024-01-02T15:00:00Z"), at("2024-01-02T15:00:00Z"));
        assert!(one_tick.is_some(), "a single traded second inside the span is in-sample");
        c.data.from = "sim".into();
        c.trained_on = None;
        assert_eq!(c.trained_span(), None, "no span known: nothing claimed");
    }

    #[test]
    fn a_feature_the_pipeline_lacks_is_named() {
        let c = card(&["log_return", "rsi_14"]);
        let have = vec!["sma_60".to_string(), "rsi_14".to_string(), "log_return".to_string()];
        assert_eq!(c.columns_in(&have).unwrap(), vec![2, 1]);
        let err = c.columns_in(&have[..2]).unwrap_err().to_string();
        assert!(err.contains("m/v1 needs features the pipeline does not compute: log_return"), "{err}");
    }

    #[test]
    fn versions_count_up_and_resolve_to_the_latest() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("m");
        assert_eq!(next_version(&dir).0, 1);
        assert!(resolve(&dir).is_err());
        for _ in 0..2 {
            let (v, path) = next_version(&dir);
            save_card(&path, &ModelCard { version: v, ..card(&["log_return"]) }).unwrap();
        }
        let latest = resolve(&dir).unwrap();
        assert_eq!(load_card(&latest).unwrap().version, 2);
        assert_eq!(resolve(&dir.join("v1")).unwrap(), dir.join("v1"));
    }

    proptest::proptest! {
        #[test]
        fn the_line_written_directly_is_serde_jsons(
            symbol in "\\PC{0,8}|[A-Z\"\\\\\u{0}-\u{1f}]{0,6}",
            model_version in "[a-z]{1,5}/v[0-9]{1,3}|\\PC{0,10}",
            nanos in proptest::prelude::any::<i64>(),
            value in proptest::prelude::any::<f64>(),
            prob_up in proptest::option::of(proptest::prelude::any::<f64>()),
        ) {
            let p = tickloop_core::Prediction {
                symbol: tickloop_core::SymbolId::new(0),
                ts_event: Timestamp::from_nanos(nanos),
                model_version,
                value,
                prob_up,
            };
            let mut line = b"kept".to_vec();
            write_prediction_json(&symbol, &p, &mut line);
            let expected = serde_json::to_string(&PredictionJson::new(&symbol, &p)).unwrap();
            proptest::prop_assert_eq!(String::from_utf8(line).unwrap(), format!("kept{expected}"));
        }
    }

    #[test]
    fn a_prediction_line_has_sorted_keys_null_for_a_non_finite_value_and_the_same_fields_as_the_object() {
        let mut p = tickloop_core::Prediction {
            symbol: tickloop_core::SymbolId::new(3),
            ts_event: Timestamp::parse("2024-01-02T14:45:00Z").unwrap(),
            model_version: "gbm/v1".into(),
            value: 3.372192122616255e-5,
            prob_up: None,
        };
        let line = |p: &tickloop_core::Prediction| serde_json::to_string(&PredictionJson::new("AAMJ", p)).unwrap();
        assert_eq!(
            line(&p),
            r#"{"id":"predictions/AAMJ/gbm/v1/2024-01-02T14:45:00Z","model":"gbm/v1","return":0.00003372192122616255,"symbol":"AAMJ","ts_event":"2024-01-02T14:45:00Z"}"#
        );
        assert_eq!(prediction_id("AAMJ", &p), "predictions/AAMJ/gbm/v1/2024-01-02T14:45:00Z");
        p.value = f64::NAN;
        p.prob_up = Some(0.25);
        let with_prob = line(&p);
        assert!(with_prob.contains(r#""prob_up":0.25,"return":null,"#), "{with_prob}");
        assert_eq!(serde_json::to_string(&prediction_json("AAMJ", &p)).unwrap(), with_prob);
    }
}
