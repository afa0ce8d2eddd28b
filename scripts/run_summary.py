"""Print a markdown table of first and last values of the main metrics of run directories.

    python scripts/run_summary.py runs/entropy runs/verifiable

First/last are averaged over the first and last `--window` training steps (single steps are noisy with 16
completions per step); eval columns give the first and last evaluation.
"""
import argparse
import json
from pathlib import Path

METRICS = [("reward/mean", "reward"), ("train/pass_rate", "pass rate"), ("response/length_mean", "length"),
           ("signal/token_entropy", "token entropy"), ("signal/self_certainty", "self-certainty")]


def summarize(run: Path, window: int, metrics=METRICS, max_step: int | None = None) -> dict:
    """First/last means of `metrics` ((key, label) pairs), median s/step and (step, avg@k) of every evaluation,
    over the logged steps up to max_step (default: all)."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    rows = [r for r in rows if max_step is None or r["step"] <= max_step]
    train = [r for r in rows if "reward/mean" in r]
    evals = [r for r in rows if any(k.startswith("eval/avg@") for k in r)]
    mean = lambda rs, k: sum(r[k] for r in rs) / len(rs)  # noqa: E731
    out = {"run": run.name, "steps": train[-1]["step"] if train else 0}
    for key, label in metrics:
        out[label] = (mean(train[:window], key), mean(train[-window:], key))
    seconds = [r["perf/rollout_s"] + r["perf/update_s"] for r in train]
    out["s/step"] = sorted(seconds)[len(seconds) // 2] if seconds else float("nan")
    avg_key = next((k for k in evals[0] if k.startswith("eval/avg@")), None) if evals else None
    out["eval"] = [(r["step"], r[avg_key]) for r in evals] if avg_key else []
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--window", type=int, default=3, help="steps averaged for the first and last values")
    args = parser.parse_args(argv)
    labels = [label for _, label in METRICS]
    print("| run | steps | " + " | ".join(f"{label} (first → last)" for label in labels)
          + " | median s/step | validation avg@k by step |")
    print("|---" * (len(labels) + 4) + "|")
    for run in args.runs:
        s = summarize(run, args.window)
        cells = [f"{s[label][0]:.3f} → {s[label][1]:.3f}" for label in labels]
        evals = ", ".join(f"{step}: {value:.3f}" for step, value in s["eval"])
        print(f"| {s['run']} | {s['steps']} | " + " | ".join(cells) + f" | {s['s/step']:.0f} | {evals} |")


if __name__ == "__main__":
    main()
