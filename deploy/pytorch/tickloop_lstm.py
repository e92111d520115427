"""tickloop's LSTM in PyTorch: load a `model.safetensors` that `tickloop train --model lstm`
wrote (or write one tickloop serves), with the same outputs.

The weights file holds `torch.nn.LSTM`'s own state-dict names and gate order (i, f, g, o):
`weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0`, plus the head, `linear.weight`
and `linear.bias`, and `skip.weight`, a linear path from the window's last input row to
the output (zeros when trained without it). Inputs are the normalised feature windows,
(batch, window, features), oldest row first; the output is in units of the card's
`params.target_scale` (multiply by it, after subtracting `params.output_offset`).

    model = TickloopLstm.load("models/lstm/v1/model.safetensors")
    y = model(x)  # (batch,)
    model.save("model.safetensors")  # loads back into tickloop

Needs torch and safetensors.
"""
import torch
from safetensors.torch import load_file, save_file


class TickloopLstm(torch.nn.Module):
    def __init__(self, inputs: int, hidden: int):
        super().__init__()
        self.lstm = torch.nn.LSTM(inputs, hidden, batch_first=True)
        self.linear = torch.nn.Linear(hidden, 1)
        self.skip = torch.nn.Linear(inputs, 1, bias=False)
        torch.nn.init.zeros_(self.skip.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return (self.linear(out[:, -1, :]) + self.skip(x[:, -1, :])).squeeze(-1)

    def tickloop_state_dict(self) -> dict:
        """The tensors under tickloop's (PyTorch's own) names."""
        state = {f"{k}": v for k, v in self.lstm.state_dict().items()}
        state["linear.weight"] = self.linear.weight
        state["linear.bias"] = self.linear.bias
        state["skip.weight"] = self.skip.weight
        return {k: v.detach().contiguous().float() for k, v in state.items()}

    @classmethod
    def load(cls, path: str) -> "TickloopLstm":
        state = load_file(path)
        hidden4, inputs = state["weight_ih_l0"].shape
        model = cls(inputs, hidden4 // 4)
        model.lstm.load_state_dict({k: state[k] for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")})
        model.linear.load_state_dict({"weight": state["linear.weight"], "bias": state["linear.bias"]})
        if "skip.weight" in state:  # older files have no skip path: zeros
            model.skip.load_state_dict({"weight": state["skip.weight"]})
        return model

    def save(self, path: str) -> None:
        save_file(self.tickloop_state_dict(), path)
