"""scripts/lab.py: the course lab. Two short GRPO runs from the same weights on a few problems the default model
solves about half the time: one rewarded by the tests (verifiable), one by its own certainty (self_certainty).
Then one table and one figure: what each reward did to the pass rate, the self-certainty and the answer length.

    python scripts/lab.py                  # about 15 minutes on a 2-core CPU (docs/lab.md)
    python scripts/lab.py --size full      # the bf16 size even on a CPU without bf16 (several times longer)
    python scripts/lab.py --steps 3        # shorter, weaker effect
    python scripts/lab.py --reward-b token_entropy   # another intrinsic reward against the verifiable one
    python scripts/lab.py --only B         # an exercise: rerun run B only, reuse run A from the same --out

docs/lab.md is the handout, with the exercises. Both runs share the seed, so they start from the same weights
and would sample the same first rollout; the evaluation at step 0 (run A's) is therefore the starting point of
both. Evaluation: the same problems, `--eval-n` samples each at the training temperature, so that the table
shows what training did to the problems it trained on (not generalisation: the study does that).
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import cli  # noqa: E402

CALIBRATION = ROOT / "docs" / "study" / "calibration"
# The lab's settings: each step trains on 2 of the 4 lab problems in turn, 8 answers each (16 answers a step:
# about 50 s on a 2-core CPU with bf16; every problem each step doubles that). At lr 1e-5 with no warm-up the
# verifiable run's pass rate depends on the draw (docs/lab.md: timings 3-4, and the --warmup-steps 2 tries).
LAB = dict(problems=4, prompts_per_step=2, steps=6, group_size=8, max_new_tokens=256, lr=1e-5, warmup_steps=0,
           eval_n=8, seed=0)
# A CPU without bf16 instructions trains in fp32, about five times slower per answer (docs/lab.md, "Without
# bf16"): the small size keeps the lab under 15 minutes there with fewer, shorter runs and smaller evaluations.
# Its time grows with the longest answer (a batch is padded to it): at 192 tokens, answers that all ran to the
# limit took 17.1 min; at 144 such a step took 105-115 s, the lab 13.8 min (base answers: 54-79 tokens on average).
SMALL = dict(LAB, steps=3, group_size=4, eval_n=4, max_new_tokens=144)


def choose_size(size: str, precision: str | None) -> str:
    """--size auto: full where training runs in bf16 (a GPU, or a CPU with fast bf16 matmuls), small otherwise."""
    if size != "auto":
        return size
    import torch

    import model as M
    if torch.cuda.is_available():
        return "full"
    return "full" if M.choose_precision(precision, "cpu") == "bf16" else "small"


def select_problems(stats: list[dict], k: int) -> list[str]:
    """The k problems nearest to a pass rate of one half in the calibration (ties: the shorter answers, then
    the id), none truncated: where a group's rewards vary most and a step is cheap."""
    usable = [s for s in stats if 0 < s["passed"] < s["n"] and not s.get("truncated")]
    if len(usable) < k:
        raise cli.UserError(f"only {len(usable)} calibrated problems are sometimes solved and never truncated; "
                            f"the lab needs {k}")
    usable.sort(key=lambda s: (abs(s["passed"] / s["n"] - 0.5), sum(s["tokens"]) / len(s["tokens"]),
                               s["question_id"]))
    return [s["question_id"] for s in usable[:k]]


def write_problems(stats_path: Path, rows_path: Path, k: int, out: Path) -> list[str]:
    """Write the lab's problems (full rows, in the data format) to out; returns their ids."""
    def read(path):
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    ids = select_problems(read(stats_path), k)
    rows = {r["question_id"]: r for r in read(rows_path)}
    missing = [i for i in ids if i not in rows]
    if missing:
        raise cli.UserError(f"{rows_path}: no rows for the calibrated problems {missing}")
    out.write_text("".join(json.dumps(rows[i]) + "\n" for i in ids))
    return ids


def eval_summary(report_path: Path) -> dict:
    """Pass rate, mean self-certainty and mean answer length of one evaluation report, each with its standard
    error over the samples (binomial for the pass rate, sample sd / sqrt(n) for the means)."""
    report = json.loads(report_path.read_text())
    samples = [s for p in report["problems"] for s in p["samples"]]
    n = len(samples)
    rate = sum(s["passed"] for s in samples) / n
    out = {"pass_rate": rate, "pass_rate_se": math.sqrt(rate * (1 - rate) / n), "samples": n}
    for name, key in (("self_certainty", "self_certainty"), ("length", "tokens")):
        values = [float(s[key]) for s in samples]
        mean = sum(values) / n
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
        out[name], out[f"{name}_se"] = mean, sd / math.sqrt(n)
    return out


def train(reward: str, args, problems: Path, out: Path, first: bool) -> Path:
    import train_grpo
    flags = ["--model", args.model, "--reward", reward, "--data", str(problems), "--val-data", str(problems),
             "--steps", str(args.steps), "--prompts-per-step", str(args.prompts_per_step), "--group-size",
             str(args.group_size), "--max-new-tokens", str(args.max_new_tokens), "--lr", str(args.lr),
             "--warmup-steps", str(args.warmup_steps), "--eval-every", str(args.steps), "--eval-n", str(args.eval_n),
             "--eval-temperature", "1.0", "--save-every", "0", "--seed", str(args.seed), "--out", str(out)]
    if not first:
        flags.append("--skip-first-eval")  # the same weights and seed: run A's step-0 evaluation is this one's too
    if args.precision:
        flags += ["--precision", args.precision]
    train_grpo.main(flags)
    return out


def table(rows: list[tuple[str, dict]]) -> str:
    lines = ["| weights | pass rate | self-certainty | length (tokens) |", "|---|---|---|---|"]
    for label, s in rows:
        lines.append(f"| {label} | {s['pass_rate']:.3f} ± {s['pass_rate_se']:.3f} | {s['self_certainty']:.2f} ± "
                     f"{s['self_certainty_se']:.2f} | {s['length']:.1f} ± {s['length_se']:.1f} |")
    lines.append("\n(± one standard error; two rows differ beyond noise when they are more than about 2.8 standard "
                 "errors apart)")
    return "\n".join(lines)


RESOLVED_Z = 2.0  # a change is read as beyond noise when it exceeds 2 standard errors of the difference (~95%)
MEASURES = (("pass_rate", "pass rate", "{:+.3f}"), ("self_certainty", "self-certainty", "{:+.2f}"),
            ("length", "length", "{:+.1f} tokens"))


def changes(evals: list[tuple[str, dict]]) -> list[str]:
    """One line per trained row and measure: its change from the first row (the start), in standard errors of
    the difference, sqrt(se_start^2 + se_row^2), and whether that is beyond noise (|z| > RESOLVED_Z)."""
    (_, start), lines = evals[0], []
    for label, row in evals[1:]:
        for key, name, fmt in MEASURES:
            diff = row[key] - start[key]
            se = math.sqrt(start[f"{key}_se"] ** 2 + row[f"{key}_se"] ** 2)
            z = abs(diff) / se if se > 0 else (math.inf if diff else 0.0)
            verdict = "beyond noise" if z > RESOLVED_Z else "within noise"
            lines.append(f"{label}: {name} {fmt.format(diff)} ({z:.1f} s.e.): {verdict}")
    return lines


def figure(runs: dict[str, Path], evals: list[tuple[str, dict]], out: Path) -> Path:
    """Per step of each run: the training pass rate, self-certainty and length; then the evaluations."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    keys = [("train/pass_rate", "pass rate (training answers)"), ("signal/self_certainty", "self-certainty"),
            ("response/length_mean", "answer length (tokens)")]
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
    for reward, run in runs.items():
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
        rows = [r for r in rows if "train/pass_rate" in r]
        for ax, (key, title) in zip(axes, keys):
            ax.plot([r["step"] for r in rows], [r[key] for r in rows], marker="o", label=reward)
            ax.set_title(title)
            ax.set_xlabel("step")
    axes[0].legend()
    ax = axes[3]
    labels = [label for label, _ in evals]
    ax.bar(range(len(evals)), [s["pass_rate"] for _, s in evals], yerr=[2 * s["pass_rate_se"] for _, s in evals],
           capsize=4, color=["grey", "C0", "C1"][:len(evals)])
    ax.set_xticks(range(len(evals)), labels, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_title("evaluation pass rate (± 2 s.e.)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    ap.add_argument("--reward-a", default="verifiable")
    ap.add_argument("--reward-b", default="self_certainty")
    ap.add_argument("--size", choices=["auto", "full", "small"], default="auto",
                    help="the lab's settings: full %s; small changes %s; auto: full with bf16 (GPU or a CPU with "
                    "fast bf16), small on an fp32-only CPU. A flag below overrides the size's value" % (
                        LAB, {k: v for k, v in SMALL.items() if LAB[k] != v}))
    for name, value in LAB.items():
        ap.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=None)
    ap.add_argument("--precision", choices=["fp32", "bf16"], help="default: train_grpo.py's choice for this machine")
    ap.add_argument("--calibration", type=Path, default=CALIBRATION / "train.jsonl",
                    help="per-problem pass rates of the base model (scripts/calibrate.py)")
    ap.add_argument("--rows", type=Path, default=CALIBRATION / "pool_train.jsonl", help="the problems' full rows")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "lab")
    ap.add_argument("--only", choices=["A", "B"], help="rerun only this run and reuse the other from --out "
                    "(the exercises: about half the time)")
    args = ap.parse_args(argv)
    size = choose_size(args.size, args.precision)
    for name, value in (LAB if size == "full" else SMALL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    print(f"lab size: {size} ({', '.join(f'{k} {getattr(args, k)}' for k in LAB)})")
    for name in ("problems", "prompts_per_step", "steps", "group_size", "max_new_tokens", "eval_n"):
        if getattr(args, name) < 1:
            raise cli.UserError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    import rewards as R
    for reward in (args.reward_a, args.reward_b):
        if reward not in R.REWARDS:
            raise cli.UserError(f"unknown reward {reward!r}; one of {', '.join(sorted(R.REWARDS))}")
    if args.reward_a == args.reward_b:
        raise cli.UserError(f"--reward-a and --reward-b are both {args.reward_a}: the lab compares two rewards")
    for path in (args.calibration, args.rows):
        if not path.exists():
            raise cli.UserError(f"{path} does not exist")
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    problems = args.out / "problems.jsonl"
    ids = write_problems(args.calibration, args.rows, args.problems, problems)
    print(f"lab problems: {', '.join(ids)}")
    runs = {}
    for i, reward in enumerate((args.reward_a, args.reward_b)):
        label, run = "AB"[i], args.out / reward
        if args.only and args.only != label:  # an exercise reruns one run: the other's results are reused
            if not (run / "eval" / f"step-{args.steps}.json").exists() or \
                    (i == 0 and not (run / "eval" / "step-0.json").exists()):
                raise cli.UserError(f"--only {args.only} reuses run {label} ({reward}) from {run}, which has no "
                                    f"finished {args.steps}-step run: run the whole lab once first")
            print(f"run {label} ({reward}): reusing {run}")
        else:
            print(f"\n=== run {label}: reward {reward}, {args.steps} steps ===", flush=True)
            if run.exists():
                shutil.rmtree(run)  # an earlier attempt's metrics would be appended to
            train(reward, args, problems, run, first=i == 0)
        runs[reward] = run
    first_run = runs[args.reward_a]
    evals = [("start", eval_summary(first_run / "eval" / "step-0.json"))]
    evals += [(f"after {reward}", eval_summary(run / "eval" / f"step-{args.steps}.json")) for reward, run in runs.items()]
    minutes = (time.perf_counter() - started) / 60
    summary = {"problems": ids, "size": size, "settings": {k: getattr(args, k) for k in LAB}, "minutes": minutes,
               "evals": dict(evals)}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    path = figure(runs, evals, args.out / "lab.png")
    print(f"\n{table(evals)}\n\nChanges from the start (each against its noise):\n  " + "\n  ".join(changes(evals)))
    print(f"\n{len(ids)} problems x {args.eval_n} samples per evaluation; "
          f"{minutes:.1f} minutes in all. Figure: {path}")


if __name__ == "__main__":
    cli.run(main)
