"""plots.py: the study's figures from run directories and evaluation reports.

Reads what train_grpo.py writes into a run directory: `config.json` (the Config as JSON) and `metrics.jsonl`
(one flat dict per step; step 0 holds only the eval/* keys of the evaluation before training, and eval/* keys
appear only every --eval-every steps). Metric names and formulas: DESIGN.md, "Metrics".

  python plots.py runs/entropy runs/verifiable --out docs/grid.png     # the panel grid, one line per run
  python plots.py runs/* --metric signal/token_entropy --smooth 5 --out entropy.pdf
  python plots.py runs/* --collapse 0.5 --out grid.png                 # mark each run's collapse step
  python plots.py passk runs/a/eval/step-0.json runs/a/eval/step-30.json --out passk.png

Choices, stated once:
- Labels: a run is labelled by its reward, then the settings of config.json that differ between the runs
  shown (e.g. "entropy, T=1.2"); plumbing settings (output paths, device, memory knobs) are ignored.
- `--smooth W`: trailing moving average over the last W logged points (fewer at the start) of each training
  metric. eval/* curves have one point per evaluation and are drawn raw, with markers.
- `--collapse [F]`: the collapse step of a curve is the first logged step s whose value falls below F times
  the running peak, value(s) < F * max(value(s') for s' <= s); None when no step does. It is computed on the
  curve as drawn (after --smooth) and marked with an x and a dotted line in the run's colour. In the grid it
  marks response length and validation accuracy; with --metric it marks the metric drawn.
- The output format follows the extension of --out (.png, .pdf, ...). A panel whose metric no run logged
  is kept, titled, and says "no data".
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cli import UserError  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

# (metrics.jsonl key, panel title). A key ending in "@k" matches whichever k the run logged (eval/avg@4, ...).
PANELS = [
    ("eval/avg@k", "validation accuracy"),
    ("response/length_mean", "response length"),
    ("reward/mean", "reward"),
    ("text/thinking_words", "thinking words"),
    ("text/repetition_ratio", "repetition ratio"),
    ("signal/trajectory_entropy", "trajectory entropy"),
    ("signal/token_entropy", "token entropy"),
    ("signal/self_certainty", "self-certainty"),
    ("signal/prob_disparity", "probability disparity"),
    ("eval/response_length", "validation response length"),
    ("train/pass_rate", "training pass rate"),
    ("response/clipped_ratio", "truncated (no EOS)"),
]
COLLAPSE_METRICS = ("response/length_mean", "eval/avg@k")  # what --collapse marks in the grid

# Config fields that never label a run: where it was written and how it was computed, not what was trained.
UNLABELLED = {"out", "resume", "device", "dtype", "precision", "grad_checkpointing", "micro_batch_size",
              "micro_batch_tokens", "rescore", "fsdp", "min_isolation", "save_every", "skip_first_eval", "init_from",
              "report_to"}
SHORT_NAMES = {"temperature": "T", "group_size": "N", "kl_beta": "β", "ppo_epochs": "E"}  # DESIGN.md notation


class PlotInputError(UserError, ValueError):
    """An input that is not what train_grpo.py or lcb_eval.py writes; the message names the file."""


# ----------------------------------------------------------------------------------------------------------
# Reading runs

@dataclass
class Run:
    path: Path
    config: dict          # config.json, {} when absent
    records: list[dict]   # the lines of metrics.jsonl, in order

    def resolve(self, key: str) -> str | None:
        """The logged key that `key` names: itself, or for "eval/avg@k" the first eval/avg@<k> logged."""
        if not key.endswith("@k"):
            return key if any(key in r for r in self.records) else None
        prefix = key[:-1]
        found = {name for r in self.records for name in r if name.startswith(prefix) and name[len(prefix):].isdigit()}
        return min(found, key=lambda name: int(name[len(prefix):]), default=None)

    def series(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of every line that logged `key` with a finite number; empty arrays when none did."""
        name = self.resolve(key)
        points = [(r["step"], r[name]) for r in self.records if name in r and is_number(r[name])]
        steps, values = zip(*points) if points else ((), ())
        return np.array(steps, dtype=float), np.array(values, dtype=float)


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_metrics(path: Path) -> list[dict]:
    """The records of a metrics.jsonl file; a malformed line raises PlotInputError naming file and line."""
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise PlotInputError(f"{path}:{number}: not a JSON object ({e.msg})") from None
        if not isinstance(record, dict) or not is_number(record.get("step")):
            raise PlotInputError(f'{path}:{number}: expected a JSON object with a numeric "step"')
        records.append(record)
    return records


def load_run(path) -> Run:
    path = Path(path)
    metrics = path / "metrics.jsonl"
    if not metrics.is_file():
        raise PlotInputError(f"{path} is not a run directory: it has no metrics.jsonl")
    config_file = path / "config.json"
    try:
        config = json.loads(config_file.read_text()) if config_file.is_file() else {}
    except json.JSONDecodeError as e:
        raise PlotInputError(f"{config_file}: not valid JSON ({e.msg})") from None
    return Run(path, config, read_metrics(metrics))


def run_labels(runs: list[Run], by_directory: bool = True) -> list[str]:
    """Each run's reward, then the config settings that differ between the runs (e.g. "entropy, T=1.2")."""
    keys = sorted({k for r in runs for k in r.config} - UNLABELLED - {"reward"})
    differing = [k for k in keys if len({json.dumps(r.config.get(k)) for r in runs}) > 1]
    labels = []
    for run in runs:
        parts = [str(run.config.get("reward", run.path.name))]
        parts += [f"{SHORT_NAMES.get(k, k)}={format_value(run.config.get(k))}" for k in differing]
        labels.append(", ".join(parts))
    if by_directory and len(set(labels)) < len(labels):  # identical settings: the directory tells them apart
        labels = [f"{label} ({run.path.name})" for label, run in zip(labels, runs)]
    return labels


def format_value(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


# ----------------------------------------------------------------------------------------------------------
# Curves

def moving_average(values, window: int) -> np.ndarray:
    """Trailing mean over the last `window` points; the first points average what there is so far."""
    values = np.asarray(values, dtype=float)
    if window <= 1 or values.size == 0:
        return values
    sums = np.cumsum(np.insert(values, 0, 0.0))
    ends = np.arange(1, values.size + 1)
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


def collapse_step(steps, values, fraction: float = 0.5) -> int | None:
    """The first step s with values(s) < fraction * max(values up to and including s); None if none.

    The peak is the running maximum, so a drop is measured against the best value reached so far.
    Meant for non-negative curves (response length, accuracy): a curve that never rises above 0 never collapses.
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return None
    below = values < fraction * np.maximum.accumulate(values)
    return int(np.asarray(steps)[below.argmax()]) if below.any() else None


def curve(run: Run, key: str, smooth: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The curve drawn for one run: training metrics smoothed, eval/* metrics (one point per evaluation) raw."""
    steps, values = run.series(key)
    return steps, values if key.startswith("eval/") else moving_average(values, smooth)


# ----------------------------------------------------------------------------------------------------------
# Figures

def band(curves: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(steps, mean, min, max) of several runs' curves over the steps every one of them logged."""
    common = sorted(set.intersection(*(set(steps.tolist()) for steps, _ in curves)))
    stacked = np.array([[values[steps == s][0] for s in common] for steps, values in curves])  # (runs, steps)
    return np.array(common, dtype=float), stacked.mean(0), stacked.min(0), stacked.max(0)


def draw_panel(ax, runs: list, key: str, title: str, smooth: int = 1, collapse: float | None = None):
    """One metric over training steps, one line per run that logged it; "no data" when none did. An entry of
    `runs` that is a list of runs (seeds of one setting) is drawn as their mean with a min-max band."""
    groups = [entry if isinstance(entry, list) else [entry] for entry in runs]
    logged = sorted({name for group in groups for run in group if (name := run.resolve(key))})
    ax.set_title(f"{title} ({', '.join(n.split('/')[-1] for n in logged)})" if key.endswith("@k") and logged
                 else title)
    ax.set_xlabel("step")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for i, group in enumerate(groups):
        curves = [c for c in (curve(run, key, smooth) for run in group) if c[0].size]
        if not curves:
            continue
        steps, values, low, high = band(curves) if len(curves) > 1 else (*curves[0], None, None)
        if steps.size == 0:
            continue
        color = f"C{i % 10}"
        ax.plot(steps, values, color=color, marker="o" if key.startswith("eval/") else None, markersize=3)
        if low is not None:
            ax.fill_between(steps, low, high, color=color, alpha=0.2, linewidth=0)
        at = collapse_step(steps, values, collapse) if collapse is not None else None
        if at is not None:
            mark_collapse(ax, at, values[steps == at][0], color)
    if not logged:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="gray")
    ax.grid(alpha=0.3)


def mark_collapse(ax, step: float, value: float, color: str) -> None:
    # A scatter point and a vertical segment, so ax.lines keeps exactly one line per run.
    ax.scatter([step], [value], marker="x", s=60, color=color, zorder=3, gid="collapse")
    ax.vlines(step, 0, 1, transform=ax.get_xaxis_transform(), colors=color, linestyles=":", gid="collapse-line")


def legend_handles(labels: list[str]) -> list[Line2D]:
    return [Line2D([], [], color=f"C{i % 10}", label=label) for i, label in enumerate(labels)]


def plot_runs(runs, *, metric: str | None = None, smooth: int = 1, collapse: float | None = None,
              seeds_as_band: bool = False):
    """The panel grid (or, with `metric`, that one panel) for run directories (or loaded Runs); returns the Figure.
    seeds_as_band: runs whose settings differ only in --seed share one colour, drawn as mean and min-max band."""
    runs = [run if isinstance(run, Run) else load_run(run) for run in runs]
    if seeds_as_band:
        by_label: dict[str, list[Run]] = {}
        for run, label in zip(runs, run_labels([Run(r.path, {k: v for k, v in r.config.items() if k != "seed"},
                                                       r.records) for r in runs], by_directory=False)):
            by_label.setdefault(label, []).append(run)
        entries: list = list(by_label.values())
        labels = [f"{label} ({len(group)} seeds)" if len(group) > 1 else label for label, group in by_label.items()]
    else:
        entries, labels = runs, run_labels(runs)
    handles = legend_handles(labels)
    if metric is not None:
        fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
        draw_panel(ax, entries, metric, dict(PANELS).get(metric, metric), smooth, collapse)
        ax.legend(handles=handles, fontsize="small")
        return fig
    ncols = 4
    nrows = math.ceil((len(PANELS) + 1) / ncols)  # + 1: a free slot holds the legend
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3 * nrows), layout="constrained")
    axes = axes.ravel()
    for ax, (key, title) in zip(axes, PANELS):
        draw_panel(ax, entries, key, title, smooth, collapse if key in COLLAPSE_METRICS else None)
    for ax in axes[len(PANELS):]:
        ax.axis("off")
    axes[len(PANELS)].legend(handles=handles, loc="center", frameon=False)
    return fig


def load_report(path) -> dict:
    """An lcb_eval report with its "pass_at_k" dict (str(k) -> value)."""
    path = Path(path)
    try:
        report = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise PlotInputError(f"{path}: cannot read an lcb_eval report ({e})") from None
    if not isinstance(report, dict) or not isinstance(report.get("pass_at_k"), dict):
        raise PlotInputError(f'{path}: no "pass_at_k" dict; expected an lcb_eval report')
    return report


def report_label(path) -> str:
    """RUN/eval/step-K.json -> "RUN step K" (the trainer's layout); any other file -> its name without suffix."""
    path = Path(path)
    if path.parent.name == "eval" and path.stem.startswith("step-"):
        return f"{path.parent.parent.name} step {path.stem[5:]}"
    return path.stem


def plot_passk(report_paths):
    """pass@k against k, one line per lcb_eval report; returns the Figure."""
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    for path in report_paths:
        pass_at_k = load_report(path)["pass_at_k"]
        ks = sorted(pass_at_k, key=int)
        ax.plot([int(k) for k in ks], [pass_at_k[k] for k in ks], marker="o", label=report_label(path))
    ax.set_title("pass@k")
    ax.set_xlabel("k")
    ax.set_ylabel("pass@k")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


# ----------------------------------------------------------------------------------------------------------
# Plumbing: command line

def save(fig, out) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(out, dpi=150)  # the format follows the extension
    except ValueError as e:  # an extension matplotlib cannot write
        raise PlotInputError(f"--out {out}: {e}") from None
    finally:
        plt.close(fig)
    return out


def print_collapses(runs: list[Run], keys, smooth: int, fraction: float) -> None:
    for run, label in zip(runs, run_labels(runs)):
        for key in keys:
            steps, values = curve(run, key, smooth)
            if steps.size:
                at = collapse_step(steps, values, fraction)
                print(f"collapse: {label}: {run.resolve(key)} " + ("never" if at is None else f"at step {at}"))


def warn_missing(runs: list[Run], metric: str) -> None:
    if not any(run.resolve(metric) for run in runs):
        logged = sorted({k for run in runs for r in run.records for k in r} - {"step"})
        print(f"warning: no run logged {metric!r}; logged: {', '.join(logged)}", file=sys.stderr)


def parse_args(argv):
    if argv and argv[0] == "passk":
        parser = argparse.ArgumentParser(prog="plots.py passk", description="pass@k curves from lcb_eval reports.")
        parser.add_argument("reports", nargs="+", help="lcb_eval report files (e.g. RUN/eval/step-K.json)")
        parser.add_argument("--out", default="passk.png", help="output file; .png or .pdf")
        return "passk", parser.parse_args(argv[1:])
    parser = argparse.ArgumentParser(description="The study's figures from train_grpo.py run directories "
                                     "(`plots.py passk REPORT ...` for pass@k curves).")
    parser.add_argument("runs", nargs="+", help="run directories (each with metrics.jsonl)")
    parser.add_argument("--out", default="fig.png", help="output file; .png or .pdf")
    parser.add_argument("--metric", help="draw this one metrics.jsonl key only (eval/avg@k: any k)")
    parser.add_argument("--smooth", type=int, default=1, metavar="W", help="trailing moving average over W points")
    parser.add_argument("--collapse", type=float, nargs="?", const=0.5, default=None, metavar="FRACTION",
                        help="mark the first step below FRACTION x running peak (default 0.5; "
                        "put it after the run directories or give FRACTION)")
    args = parser.parse_args(argv)
    if args.smooth < 1 or (args.collapse is not None and not 0 < args.collapse <= 1):
        parser.error("need --smooth >= 1 and 0 < --collapse <= 1")
    return "runs", args


def main(argv=None):
    command, args = parse_args(sys.argv[1:] if argv is None else list(argv))
    if command == "passk":
        out = save(plot_passk(args.reports), args.out)
    else:
        runs = [load_run(d) for d in args.runs]
        out = save(plot_runs(runs, metric=args.metric, smooth=args.smooth, collapse=args.collapse), args.out)
        if args.metric:
            warn_missing(runs, args.metric)
        if args.collapse is not None:
            keys = [args.metric] if args.metric else COLLAPSE_METRICS
            print_collapses(runs, keys, args.smooth, args.collapse)
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    import cli
    cli.run(main)
