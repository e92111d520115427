"""PyTorch's side of the LSTM benchmark: the same shapes as tickloop-lstm's `forward`
example (batch 1,000 × 60 steps × 5 features, hidden 128, linear head), CPU, printed as JSON.

Usage: python lstm_torch.py [threads] [train_windows epochs [features hidden window]]
With train_windows, also times a whole training run: that many windows, shuffled into
batches of 64, for `epochs` epochs (MAE, AdamW) — what `tickloop train --model lstm`
does with the same numbers, less data collection, validation and saving.
"""
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
result = {"library": f"pytorch {torch.__version__} (CPU)", "threads": threads, "batch": batch,
          "window": window, "features": features, "hidden": hidden,
          "forward_median_secs": times[len(times) // 2], "forward_min_secs": times[0],
          "train_step_batch64_secs": steps[len(steps) // 2]}

if len(sys.argv) > 3:
    n, epochs = int(sys.argv[2]), int(sys.argv[3])
    f, h, w = (int(v) for v in sys.argv[4:7]) if len(sys.argv) > 6 else (features, hidden, window)
    torch.manual_seed(7)
    lstm = torch.nn.LSTM(f, h, batch_first=True)
    head = torch.nn.Linear(h, 1)
    opt = torch.optim.AdamW(list(lstm.parameters()) + list(head.parameters()), lr=1e-3)
    data, labels = torch.randn(n, w, f), torch.randn(n)
    t = time.perf_counter()
    for _ in range(epochs):
        for idx in torch.randperm(n).split(64):
            opt.zero_grad()
            loss = (forward(data[idx]) - labels[idx]).abs().mean()
            loss.backward()
            opt.step()
    result.update({"train_windows": n, "train_epochs": epochs, "train_secs": time.perf_counter() - t})

print(json.dumps(result))
