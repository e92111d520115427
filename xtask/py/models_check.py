"""The model-quality bar of issue #25, read from `tickloop evaluate --json` reports.

Usage: models_check.py SEED=KIND:report.json ...  (one argument per seed and model kind)

For each report: the pooled walk-forward score, the baselines on the same rows, and the
simulator's ceiling filter paired with the model's rows. A model meets the bar on a seed
when it beats every baseline on directional accuracy and IC and reaches at least 80 % of
the own-price filter's directional edge over 50 %. Standard library only.
"""

import json
import sys

BAR = 0.80


def main(args):
    rows = []
    for arg in args:
        seed, rest = arg.split("=", 1)
        kind, path = rest.split(":", 1)
        with open(path) as f:
            report = json.load(f)
        model = report["pooled"]["model"]
        baselines = report["pooled"]["baselines"]
        paired = (report.get("against_ceiling") or {}).get("paired")
        beats = all(
            model["directional_accuracy"] > b["directional_accuracy"] and model["ic"] > b["ic"] for b in baselines
        )
        edge = ic_share = None
        if paired:
            own = paired["own_prices"]
            if own["directional_accuracy"] > 0.5:
                edge = (paired["model"]["directional_accuracy"] - 0.5) / (own["directional_accuracy"] - 0.5)
            if own["ic"] > 0:
                ic_share = paired["model"]["ic"] / own["ic"]
        best_dir = max(b["directional_accuracy"] for b in baselines)
        best_ic = max(b["ic"] for b in baselines)
        meets = beats and edge is not None and edge >= BAR
        rows.append((seed, kind, model, paired, best_dir, best_ic, edge, ic_share, beats, meets))

    print("| seed | model | dir. | IC | filter own (same rows) | best baseline dir. / IC | edge | IC share | beats baselines | meets the bar |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    pct = lambda x: "–" if x is None else f"{x * 100:.0f} %"
    for seed, kind, model, paired, best_dir, best_ic, edge, ic_share, beats, meets in rows:
        own = paired["own_prices"] if paired else None
        filt = f"{own['directional_accuracy'] * 100:.2f} % / {own['ic']:.3f}" if own else "–"
        print(
            f"| {seed} | {kind} | {model['directional_accuracy'] * 100:.2f} % | {model['ic']:.3f} | {filt} | "
            f"{best_dir * 100:.2f} % / {best_ic:.3f} | {pct(edge)} | {pct(ic_share)} | {'yes' if beats else 'no'} | "
            f"{'yes' if meets else 'no'} |"
        )
    for kind in sorted({r[1] for r in rows}):
        ok = all(r[9] for r in rows if r[1] == kind)
        print(f"{kind}: {'meets' if ok else 'does not meet'} the bar on every seed")


if __name__ == "__main__":
    main(sys.argv[1:])
