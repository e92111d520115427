"""PyTorch's side of crates/lstm/tests/torch.rs.

`python torch_compat.py golden DIR`: a random TickloopLstm (deploy/pytorch), saved as
DIR/torch_lstm.safetensors, with inputs and PyTorch's outputs in DIR/torch_lstm.json (the
golden files the test reads without torch).
`python torch_compat.py check WEIGHTS INPUTS.json`: loads weights tickloop saved, prints
PyTorch's outputs for the inputs as JSON.
"""
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "deploy" / "pytorch"))
from tickloop_lstm import TickloopLstm  # noqa: E402

if sys.argv[1] == "golden":
    out = Path(sys.argv[2])
    torch.manual_seed(20261204)
    model = TickloopLstm(3, 8)
    torch.nn.init.uniform_(model.skip.weight, -0.5, 0.5)
    x = torch.randn(5, 7, 3)
    with torch.no_grad():
        y = model(x)
    model.save(str(out / "torch_lstm.safetensors"))
    json.dump({"shape": list(x.shape), "x": x.flatten().tolist(), "y": y.tolist(),
               "torch": torch.__version__}, open(out / "torch_lstm.json", "w"))
else:
    model = TickloopLstm.load(sys.argv[2])
    case = json.load(open(sys.argv[3]))
    x = torch.tensor(case["x"], dtype=torch.float32).reshape(case["shape"])
    with torch.no_grad():
        print(json.dumps(model(x).tolist()))
