"""PyTorch's side of the LSTM benchmark: the same shapes as tickloop-lstm's `forward`
example (batch 1,000 × 60 steps × 5 features, hidden 128, linear head), CPU, printed as JSON.
Usage: python lstm_torch.py [threads]"""
import json
import sys
import time

import torch

threads = int(sys.argv[1]) if len(sys.argv) > 1 else torch.get_num_threads()
torch.set_num_threads(threads)
torch.manual_seed(7)
batch, window, features, hidden = 1000, 60, 5, 128
lstm = torch.nn.LSTM(features, hidden, batch_first=True)
head = torch.nn.Linear(hidden, 1)
x = torch.randn(batch, window, features)


def forward(inp):
    out, _ = lstm(inp)
    return head(out[:, -1, :]).squeeze(-1)


with torch.no_grad():
    forward(x)
    times = []
    for _ in range(5):
        t = time.perf_counter()
        forward(x)
        times.append(time.perf_counter() - t)
times.sort()

opt = torch.optim.AdamW(list(lstm.parameters()) + list(head.parameters()), lr=1e-3)
xb, yb = x[:64], torch.zeros(64)
steps = []
for _ in range(11):
    t = time.perf_counter()
    opt.zero_grad()
    loss = (forward(xb) - yb).abs().mean()
    loss.backward()
    opt.step()
    steps.append(time.perf_counter() - t)
steps = sorted(steps[1:])
print(json.dumps({"library": f"pytorch {torch.__version__} (CPU)", "threads": threads, "batch": batch,
                  "window": window, "features": features, "hidden": hidden,
                  "forward_median_secs": times[len(times) // 2], "forward_min_secs": times[0],
                  "train_step_batch64_secs": steps[len(steps) // 2]}))
