//! Weights move between tickloop and PyTorch both ways: the safetensors file holds
//! `torch.nn.LSTM`'s state-dict names and gate order, and both sides compute the same
//! outputs from it. The golden files were written by PyTorch 2.15
//! (`python crates/lstm/tests/torch_compat.py golden crates/lstm/tests/data`, through
//! `deploy/pytorch/tickloop_lstm.py`), so the first test needs no torch; the second runs
//! PyTorch on weights tickloop saved when `TORCH_PYTHON` names a Python with torch.

use std::path::PathBuf;

use candle_core::{Device, Tensor};
use tickloop_lstm::Lstm;

fn data() -> PathBuf {
    tickloop_testkit::manifest_dir().join("tests/data")
}

struct Case {
    shape: Vec<usize>,
    x: Vec<f32>,
    y: Vec<f32>,
}

fn golden() -> Case {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data().join("torch_lstm.json")).unwrap()).unwrap();
    let floats = |key: &str| json[key].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
    let shape = json["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    Case { shape, x: floats("x"), y: floats("y") }
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (k, (a, b)) in got.iter().zip(want).enumerate() {
        assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{what}, window {k}: {a} vs PyTorch's {b}");
    }
}

#[test]
fn weights_saved_by_pytorch_give_pytorchs_outputs_on_every_path() {
    let case = golden();
    let model = Lstm::load(&data().join("torch_lstm.safetensors"), &Device::Cpu).unwrap();
    assert_eq!((model.inputs(), model.hidden()), (3, 8));
    let window = case.shape[1];
    assert_close(&model.predict(&case.x, window, &Device::Cpu).unwrap(), &case.y, "the inference path");
    let x = Tensor::from_slice(&case.x, case.shape.as_slice(), &Device::Cpu).unwrap();
    assert_close(&model.forward(&x, None, 1).unwrap().to_vec1().unwrap(), &case.y, "the fused training layer");
    assert_close(&model.forward_reference(&x, None).unwrap().to_vec1().unwrap(), &case.y, "Candle's cell");
}

#[test]
fn weights_saved_by_tickloop_give_the_same_outputs_in_pytorch() {
    let Some(python) = std::env::var_os("TORCH_PYTHON") else {
        tickloop_testkit::skip("TORCH_PYTHON is not set (a Python with torch and safetensors)");
        return;
    };
    let case = golden();
    let dir = tempfile::tempdir().unwrap();
    let model = Lstm::init(3, 8, 99, &Device::Cpu).unwrap();
    let weights = dir.path().join("model.safetensors");
    model.save(&weights).unwrap();
    let out = std::process::Command::new(python)
        .arg(tickloop_testkit::manifest_dir().join("tests/torch_compat.py"))
        .arg("check")
        .arg(&weights)
        .arg(data().join("torch_lstm.json"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let theirs: Vec<f32> = serde_json::from_slice(&out.stdout).unwrap();
    let ours = model.predict(&case.x, case.shape[1], &Device::Cpu).unwrap();
    assert_close(&ours, &theirs, "tickloop's weights in PyTorch");
}
