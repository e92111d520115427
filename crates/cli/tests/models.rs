//! Models end to end: train on a simulated lake with a planted signal, beat the baselines out
//! of sample, reproduce the weights bit for bit, pack for SageMaker and serve over real HTTP.

mod common;

use common::{ok, tickloop};

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tickloop_core::{Source, Timestamp};
use tickloop_models::invocation::{InvocationRequest, InvocationResponse};
use tickloop_models::{Evaluation, ModelCard, WindowBuffer};
use tickloop_pipeline::{AlertConfig, ModelInputs, Pipeline, PipelineConfig};

/// 32 symbols × 4 hours with a strong planted signal (an oracle reaches R² ≈ 0.33).
fn planted_lake(dir: &Path) -> PathBuf {
    let lake = dir.join("lake");
    let sim = ["sim", "--symbols", "32", "--duration", "4h", "--signal-strength", "0.1", "--lake"];
    let out = ok(tickloop().args(sim).arg(&lake));
    assert!(out.contains("planted signal"), "{out}");
    lake
}

fn card(dir: &Path) -> ModelCard {
    tickloop_models::load_card(dir).unwrap()
}

fn assert_beats_baselines(what: &str, e: &Evaluation) {
    assert!(e.model.rows > 500, "{what}: too few test rows: {e:?}");
    assert!(e.beats_baselines(), "{what} does not beat every baseline out of sample:\n{}", e.table(what));
}

#[test]
fn gbm_trains_reproducibly_beats_baselines_walks_forward_and_serves_sagemaker_style() {
    let dir = tempfile::tempdir().unwrap();
    let lake = planted_lake(dir.path());
    let models = dir.path().join("models/gbm");
    let train = |extra: &[&str]| {
        ok(tickloop()
            .args(["train", "--model", "gbm", "--stride", "5", "--lake"])
            .arg(&lake)
            .arg("--out")
            .arg(&models)
            .args(extra))
    };
    let out = train(&[]);
    assert!(out.contains("baseline: persistence") && out.contains("saved gbm/v1"), "{out}");
    assert!(out.contains("measured on these rounded prices"), "{out}");
    assert!(out.contains("on the same") && out.contains("of the own-price filter's edge"), "paired: {out}");
    train(&[]);
    let (v1, v2) = (models.join("v1"), models.join("v2"));
    assert_eq!(
        std::fs::read(v1.join("model.json")).unwrap(),
        std::fs::read(v2.join("model.json")).unwrap(),
        "same data and seed ⇒ identical booster"
    );
    let c = card(&v1);
    let trend = tickloop_features::FeatureSetDef::builtin("trend").unwrap().columns();
    assert_eq!(c.features, trend, "the trend feature set");
    assert_eq!((c.horizon_secs, c.window, c.seed), (60, 1, 42));
    assert_eq!(c.normalizer.mean.len(), trend.len());
    let trained = c.trained_on.expect("the card records what the training rows covered");
    assert!(trained.to < Timestamp::parse("2024-01-02T18:30:00Z").unwrap(), "the holdout is not in it: {trained:?}");
    assert_beats_baselines("gbm", &c.validation);

    // Walk-forward: out-of-sample only, each fold retrained.
    let json = dir.path().join("wf.json");
    ok(tickloop()
        .args(["evaluate", "--model", "gbm", "--stride", "5", "--folds", "3", "--lake"])
        .arg(&lake)
        .arg("--json")
        .arg(&json));
    let wf: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(wf["folds"].as_array().unwrap().len(), 3);
    let pooled: Evaluation = serde_json::from_value(wf["pooled"].clone()).unwrap();
    assert_beats_baselines("gbm walk-forward", &pooled);
    // The simulator replayed: its filter scored on the very rows the folds tested.
    let paired: tickloop_registry::Paired =
        serde_json::from_value(wf["against_ceiling"]["paired"].clone()).expect("paired with the ceiling");
    assert_eq!(paired.model, pooled.model, "the model's rows, all of them");
    assert!(paired.own_prices.ic > 0.05 && paired.own_prices.directional_accuracy > 0.52, "{paired:?}");
    assert!(paired.market_neutral.ic >= paired.own_prices.ic - 0.01, "{paired:?}");

    // SageMaker archive: artifacts at the root, read by an outside tool (tar).
    let archive = dir.path().join("model.tar.gz");
    ok(tickloop().args(["export-sagemaker", "--model"]).arg(&models).arg("--out").arg(&archive));
    let listing = Command::new("tar").arg("-tzf").arg(&archive).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&listing.stdout), "config.json\nmodel.json\n");
    let unpacked = dir.path().join("opt-ml-model");
    std::fs::create_dir_all(&unpacked).unwrap();
    assert!(Command::new("tar").arg("-xzf").arg(&archive).arg("-C").arg(&unpacked).status().unwrap().success());

    serve_and_check(&unpacked, &lake, &c);

    // A backtest trading the model's predictions: reproducible to the byte.
    let experiment = |with_model: bool| {
        let model = if with_model { format!("[model]\npath = \"{}\"\n", models.display()) } else { String::new() };
        format!(
            "name = \"gbm-trend\"\n[data]\nlake = \"{}\"\nstart = \"2024-01-02T14:30:00Z\"\nend = \"2024-01-02T18:30:00Z\"\n{model}[strategy]\nkind = \"model_trend\"\nthreshold_bps = 2.0\nallow_short = true\n",
            lake.display()
        )
    };
    let exp = dir.path().join("gbm-trend.toml");
    std::fs::write(&exp, experiment(true)).unwrap();
    let runs = dir.path().join("runs");
    for _ in 0..2 {
        let out = ok(tickloop().args(["backtest", "--experiment"]).arg(&exp).arg("--runs-dir").arg(&runs));
        assert!(out.contains("gbm/v2"), "{out}");
    }
    let reports: Vec<Vec<u8>> = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path().join("report.json")).unwrap())
        .collect();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0], reports[1], "same model, data and config ⇒ byte-identical report.json");
    let report: serde_json::Value = serde_json::from_slice(&reports[0]).unwrap();
    assert_eq!(report["model"], "gbm/v2");
    assert!(report["pipeline"]["predictions"].as_u64().unwrap() > 32 * 200, "{}", report["pipeline"]);
    assert!(report["metrics"]["trades"].as_u64().unwrap() > 0, "{}", report["metrics"]);
    // Model metrics in the report, measured on the same planted signal the evaluation saw.
    let accuracy = &report["model_accuracy"];
    assert!(accuracy["matured"].as_u64().unwrap() > 32 * 190, "{accuracy}");
    assert!(accuracy["directional_accuracy"].as_f64().unwrap() > 0.55, "the planted signal shows: {accuracy}");
    let run = std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap().path();
    let scatter = std::fs::read(run.join("predictions.png")).unwrap();
    assert!(scatter.starts_with(b"\x89PNG"), "predicted vs realised chart");
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(html.matches("class=\"pair\"").count() > 1_000, "the scatter has its dots");
    assert!(html.contains("<h2 id=\"deciles\">") && html.contains("<tr><td>10</td>"), "accuracy by decile");
    // The model trained on most of this window: every place a result is read says so.
    assert_eq!(report["in_sample"]["model"], "gbm/v2", "{}", report["in_sample"]);
    let share = report["in_sample"]["share_of_run"].as_f64().unwrap();
    assert!(share > 0.5 && share < 1.0, "training ended before the holdout: {share}");
    assert!(html.contains("id=\"in-sample\"") && html.contains("IN-SAMPLE"), "the page leads with the warning");
    let out = ok(tickloop().args(["backtest", "--experiment"]).arg(&exp).arg("--runs-dir").arg(&runs));
    assert!(out.contains("IN-SAMPLE"), "the summary warns: {out}");

    // Trading only the holdout, after the training span: no warning.
    let holdout = experiment(true).replace("start = \"2024-01-02T14:30:00Z\"", &format!("start = \"{}\"", trained.to));
    std::fs::write(&exp, holdout).unwrap();
    let out = ok(tickloop().args(["backtest", "--experiment"]).arg(&exp).arg("--runs-dir").arg(dir.path().join("oos")));
    assert!(!out.contains("IN-SAMPLE"), "out of sample: {out}");

    // A model strategy without a model is refused up front, saying what to add.
    std::fs::write(&exp, experiment(false)).unwrap();
    let out = tickloop().args(["backtest", "--experiment"]).arg(&exp).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("[model]"), "{stderr}");
}

/// Walk-forward backtest: each fold's booster learns only from data that ends an embargo
/// before its test window, trades only that window, and the report's metrics are the
/// chained test windows; the whole run reproduces to the byte from its manifest.
#[test]
fn a_walk_forward_backtest_retrains_per_fold_trades_out_of_sample_only_and_reproduces() {
    let dir = tempfile::tempdir().unwrap();
    let lake = planted_lake(dir.path());
    let exp = dir.path().join("wf.toml");
    std::fs::write(
        &exp,
        format!(
            r#"name = "wf"
[data]
lake = "{}"
start = "2024-01-02T14:30:00Z"
end = "2024-01-02T18:30:00Z"
[walk_forward]
folds = 3
embargo_secs = 120
warmup_secs = 600
[walk_forward.train]
model = "gbm"
stride = 10
[walk_forward.train.params]
iterations = 60
[strategy]
kind = "model_trend"
threshold_bps = 2.0
allow_short = true
"#,
            lake.display()
        ),
    )
    .unwrap();
    let runs = dir.path().join("runs");
    let out = ok(tickloop().args(["backtest", "--experiment"]).arg(&exp).arg("--runs-dir").arg(&runs));
    assert!(out.contains("out of sample only"), "{out}");
    let run = std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap().path();
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("report.json")).unwrap()).unwrap();
    let folds = report["walk_forward"].as_array().unwrap();
    assert!(report.get("in_sample").is_none(), "every fold trades after its model's training span");
    assert_eq!(folds.len(), 3);
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert_eq!(html.matches("<rect class=\"fold\"").count(), 3, "a bar per fold");
    assert!(std::fs::read(run.join("folds.png")).unwrap().starts_with(b"\x89PNG"));
    let ts = |v: &serde_json::Value| Timestamp::parse(v.as_str().unwrap()).unwrap();
    let mut chained = 1.0;
    let mut previous_rows = 0;
    for (k, fold) in folds.iter().enumerate() {
        let w = &fold["window"];
        let (train_to, test_from, test_to) = (ts(&w["train_to"]), ts(&w["test_from"]), ts(&w["test_to"]));
        assert_eq!(test_from.as_nanos() - train_to.as_nanos(), 120 * 1_000_000_000, "the embargo");
        // The model on disk says what it learned from: nothing at or after train_to.
        let fold_dir = run.join(format!("fold-{}", k + 1));
        let c = card(&fold_dir.join("model"));
        assert_eq!(Timestamp::parse(&c.data.to).unwrap(), train_to, "fold {}: {:?}", k + 1, c.data);
        assert_eq!(fold["model"], format!("fold/v{}", k + 1));
        let rows = fold["training_rows"].as_u64().unwrap();
        assert!(rows > previous_rows, "an expanding window trains on more each fold");
        previous_rows = rows;
        // The fold trades and scores its test window only.
        let fold_report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(fold_dir.join("report.json")).unwrap()).unwrap();
        for p in fold_report["equity"].as_array().unwrap() {
            let t = Timestamp::from_nanos(p["ts"].as_i64().unwrap());
            assert!(t >= test_from && t <= test_to, "fold {} sampled equity at {t}", k + 1);
        }
        assert_eq!(fold_report["metrics"], fold["metrics"]);
        chained *= 1.0 + fold["metrics"]["total_return"].as_f64().unwrap();
    }
    let total = report["metrics"]["total_return"].as_f64().unwrap();
    assert!((total - (chained - 1.0)).abs() < 1e-9, "test windows chain: {total} vs {}", chained - 1.0);
    // Out of sample, the planted signal still shows in the predictions the strategy traded.
    let accuracy = &report["model_accuracy"];
    assert!(accuracy["directional_accuracy"].as_f64().unwrap() > 0.55, "{accuracy}");
    assert!(report["metrics"]["trades"].as_u64().unwrap() > 0);

    let again = ok(tickloop().arg("backtest").arg("--reproduce").arg(&run).arg("--runs-dir").arg(&runs));
    assert!(again.contains("reproduced: report.json is byte-identical"), "{again}");
}

#[test]
fn lstm_trains_bit_for_bit_and_beats_baselines_on_the_planted_signal() {
    let dir = tempfile::tempdir().unwrap();
    let lake = planted_lake(dir.path());
    let models = dir.path().join("models/lstm");
    for _ in 0..2 {
        ok(tickloop()
            .args(["train", "--model", "lstm", "--hidden", "24", "--epochs", "6", "--window", "30"])
            .args(["--stride", "10", "--max-samples", "12000", "--lake"])
            .arg(&lake)
            .arg("--out")
            .arg(&models));
    }
    let weights = |v: &str| std::fs::read(models.join(v).join("model.safetensors")).unwrap();
    assert_eq!(weights("v1"), weights("v2"), "same data and seed ⇒ identical weights file");
    let c = card(&models.join("v1"));
    assert_eq!((c.window, c.features.len()), (30, 6), "the trend set");
    assert_beats_baselines("lstm", &c.validation);
}

/// Model inputs for the last full window of every symbol, built the way the live runner
/// builds them: the pipeline, [`ModelInputs`] and a [`WindowBuffer`].
fn live_windows(lake: &Path, card: &ModelCard) -> (Vec<f64>, Vec<String>) {
    let lake = tickloop_lake::Lake::local(lake);
    let start = Timestamp::parse("2024-01-02T14:30:00Z").unwrap();
    let mut source = tickloop_lake::LakeSource::open(&lake, start, start.add_nanos(20 * 60 * 1_000_000_000)).unwrap();
    let features: Vec<_> = card.features.iter().map(|f| f.parse().unwrap()).collect();
    let config = PipelineConfig { features, alerts: AlertConfig::none(), ..PipelineConfig::default() };
    let mut pipeline = Pipeline::new(&config);
    let inputs = ModelInputs::for_model(card, pipeline.features().specs()).unwrap();
    let mut buffer = WindowBuffer::new(card.window, card.features.len());
    let mut out = tickloop_core::Outputs::default();
    let mut row = Vec::new();
    while let Some(tick) = source.next_tick().unwrap() {
        out.clear();
        tickloop_core::Component::on_tick(&mut pipeline, &tick, &mut out);
        if let Some(clean) = out.tick {
            row.clear();
            inputs.write(&out.features, clean.close.get(), &mut row);
            buffer.push(clean.symbol.index(), &row);
        }
    }
    let mut windows = Vec::new();
    let mut symbols = Vec::new();
    for id in 0..source.symbols().len() {
        if buffer.write_window(id, &mut windows) {
            symbols.push(source.symbols().name(tickloop_core::SymbolId::new(id as u32)).to_owned());
        }
    }
    assert!(symbols.len() >= 10, "warm windows for most symbols");
    (windows, symbols)
}

/// One raw HTTP/1.1 exchange: (status code, body).
fn http(addr: &str, method: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let code = out[9..12].parse().unwrap();
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (code, body)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for_ping(addr: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut s) = TcpStream::connect(addr) {
            write!(s, "GET /ping HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            assert!(out.starts_with("HTTP/1.1 200"), "{out}");
            assert!(out.ends_with("\r\n\r\n"), "ping answers with an empty body: {out:?}");
            return;
        }
        assert!(child.try_wait().unwrap().is_none(), "serve-model exited early");
        assert!(Instant::now() < deadline, "serve-model did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A SageMaker training job in an emulated `/opt/ml`: hyperparameters as SageMaker writes
/// them, the lake as the `training` channel; the model it leaves in `model/` is served by
/// `serve-model` exactly as trained. A bad hyperparameter fails the job with its reason in
/// `output/failure`.
#[test]
fn sagemaker_train_in_an_emulated_opt_ml_tree_is_served_by_serve_model() {
    let dir = tempfile::tempdir().unwrap();
    let ml = dir.path().join("opt/ml");
    let lake = ml.join("input/data/training");
    ok(tickloop()
        .args(["sim", "--symbols", "12", "--duration", "1h", "--signal-strength", "0.1", "--lake"])
        .arg(&lake));
    std::fs::create_dir_all(ml.join("input/config")).unwrap();
    let hyperparameters = ml.join("input/config/hyperparameters.json");
    // The Python SDK JSON-quotes each value; the console and the CLI do not.
    std::fs::write(
        &hyperparameters,
        r#"{"model": "\"gbm\"", "iterations": "40", "stride": "5", "name": "trend", "sagemaker_region": "\"us-east-1\""}"#,
    )
    .unwrap();
    let out = ok(tickloop().arg("sagemaker-train").env("TICKLOOP_ML_ROOT", &ml));
    assert!(out.contains("saved trend/v1"), "{out}");
    let model = ml.join("model");
    let c = card(&model);
    assert_eq!((c.id(), c.kind.to_string()), ("trend/v1".to_owned(), "gbm".to_owned()));
    assert!(!ml.join("output/failure").exists());
    let (mut child, addr) = start_serving(&model);
    assert_serves_like_local(&addr, &model, &lake, &c);
    child.kill().unwrap();
    child.wait().unwrap();

    std::fs::write(&hyperparameters, r#"{"model": "gbm", "learning_rate_typo": "0.1"}"#).unwrap();
    let failed = tickloop().arg("sagemaker-train").env("TICKLOOP_ML_ROOT", &ml).output().unwrap();
    assert!(!failed.status.success());
    let reason = std::fs::read_to_string(ml.join("output/failure")).unwrap();
    assert!(reason.contains("--learning-rate-typo"), "{reason}");
    std::fs::remove_dir_all(&lake).unwrap();
    std::fs::write(&hyperparameters, "{}").unwrap();
    let failed = tickloop().arg("sagemaker-train").env("TICKLOOP_ML_ROOT", &ml).output().unwrap();
    assert!(!failed.status.success());
    let reason = std::fs::read_to_string(ml.join("output/failure")).unwrap();
    assert!(reason.contains("the \"training\" channel"), "{reason}");
}

/// `serve-model` on `model_dir`, up and answering /ping; returns it and its address.
fn start_serving(model_dir: &Path) -> (Child, String) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = tickloop()
        .args(["serve-model", "--max-body", "200000", "--model-dir"])
        .arg(model_dir)
        .env("SAGEMAKER_BIND_TO_PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_ping(&addr, &mut child);
    (child, addr)
}

/// The payload the live runner would send, answered as the local model answers it; returns
/// the windows and the local predictions.
fn assert_serves_like_local(addr: &str, model_dir: &Path, lake: &Path, card: &ModelCard) -> (Vec<f64>, Vec<f64>) {
    let (windows, symbols) = live_windows(lake, card);
    let request = InvocationRequest::from_windows(&windows, card.window, card.features.len(), &symbols);
    let (code, body) = http(addr, "POST", "/invocations", "application/json", &serde_json::to_vec(&request).unwrap());
    assert_eq!(code, 200, "{body}");
    let response: InvocationResponse = serde_json::from_str(&body).unwrap();
    let local = tickloop_registry::load(model_dir).unwrap();
    assert_eq!(response.model, local.card().id());
    let expected = tickloop_models::Predictor::predict(local.as_ref(), &windows).unwrap();
    let got: Vec<f64> = response.predictions.iter().map(|p| p.log_return).collect();
    assert_eq!(got, expected, "served predictions equal local ones");
    assert_eq!(response.predictions[0].symbol.as_deref(), Some(symbols[0].as_str()));
    (windows, expected)
}

fn serve_and_check(model_dir: &Path, lake: &Path, card: &ModelCard) {
    let (mut child, addr) = start_serving(model_dir);
    assert_eq!(tickloop_registry::load(model_dir).unwrap().card().id(), "gbm/v2", "the archive holds the latest");
    let (windows, expected) = assert_serves_like_local(&addr, model_dir, lake, card);
    // The live runner's remote-model client gets the same numbers.
    let remote = tickloop_serve::RemoteModel::new(card.clone(), &format!("http://{addr}"), None).unwrap();
    assert_eq!(tickloop_models::Predictor::predict(&remote, &windows).unwrap(), expected);

    // CSV in, the same numbers out.
    let csv: String = windows
        .chunks(card.window_len())
        .map(|w| w.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(",") + "\n")
        .collect();
    let (code, body) = http(&addr, "POST", "/invocations", "text/csv", csv.as_bytes());
    assert_eq!(code, 200, "{body}");

    // Every error status, each with a reason.
    let (code, body) = http(&addr, "POST", "/invocations", "application/json", b"{\"instances\": [");
    assert!(code == 400 && body.contains("malformed JSON"), "{code} {body}");
    let (code, body) =
        http(&addr, "POST", "/invocations", "application/json", br#"{"instances":[{"window":[[1.0,2.0]]}]}"#);
    assert!(code == 400 && body.contains("instance 0, row 0: 2 values"), "{code} {body}");
    let (code, body) = http(&addr, "POST", "/invocations", "text/csv", b"1,2,nope\n");
    assert!(code == 400 && body.contains("line 1"), "{code} {body}");
    let (code, body) = http(&addr, "POST", "/invocations", "application/json", &vec![b' '; 300_000]);
    assert!(code == 413 && body.contains("200000-byte limit"), "{code} {body}");
    let (code, _) = http(&addr, "POST", "/invocations", "text/plain", b"hello");
    assert_eq!(code, 415);
    assert_eq!(http(&addr, "GET", "/invocations", "text/plain", b"").0, 405);
    assert_eq!(http(&addr, "GET", "/nope", "text/plain", b"").0, 404);

    // An outside client, when the machine has one.
    if let Ok(out) = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &format!("http://{addr}/ping")])
        .output()
        && out.status.success()
    {
        assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
    }

    // SIGTERM: a clean stop, exit 0, in bounded time.
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "serve-model ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(status.success() && stderr.contains("stopped cleanly"), "{status}: {stderr}");
}
