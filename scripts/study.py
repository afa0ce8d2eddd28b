"""scripts/study.py: the study's experiments at laptop scale, run end to end, then tables and figures.

    python scripts/study.py                  # every run (about 2 h on 2 CPU cores), then the report
    python scripts/study.py --quick          # every experiment with tiny settings (under 15 min here)
    python scripts/study.py --report         # only the report, from finished runs
    python scripts/study.py --only main      # one experiment (or run names)

Experiments (docs/study.md discusses the results):
  main         verifiable (RLVR), self_certainty, token_entropy, trajectory_entropy, prob_disparity, random
  beyond       majority and hybrid (self-certainty mixed with the verifiable reward), the rewards the study
               does not have, against the same baseline
  sensitivity  self_certainty with T = 0.8 / 1.2, KL beta > 0, a half and a double group size, E = 3 epochs,
               each for SENSITIVITY_STEPS steps (compared with the main self_certainty run at the same step)
  rlif_rlvr    verifiable training from the base model, and from self_certainty's checkpoints at an early and
               at the last step (the verifiable reward here is the fraction of tests passed: with pass/fail
               only, this model's groups are almost always all-zero and the runs would not move)
  test time    no runs of its own: pass@k (k = 1..eval_n) of every evaluation, and whether keeping the most
               self-certain of k samples beats a random choice (lcb_eval.best_of_k)

Every run shares the settings in SCALES except what its experiment varies, and the same seed, so runs differ
only by what is compared. All runs from the base model start from the same weights and sample the same
validation completions at step 0, so only the first one evaluates step 0 (--skip-first-eval elsewhere);
the rlif_rlvr runs start from checkpoints that their source run evaluated at the same step and seed.

Runs go to --runs (checkpoints included; runs already finished are skipped, so an interrupted study continues
where it stopped); --jobs runs in parallel with cores / jobs threads each (OMP_NUM_THREADS overrides). The report copies each run's
config.json, metrics.jsonl and eval reports (small files) to --docs/runs/, draws the figures with plots.py
and writes --docs/results.md.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cli import UserError  # noqa: E402

# Settings shared by every run (train_grpo.py flags). "full" is sized so the whole study fits about two hours
# of this 2-core CPU; "quick" only proves that every experiment runs.
SCALES = {
    "full": dict(steps=12, prompts_per_step=2, group_size=4, max_new_tokens=128, lr=3e-5, warmup_steps=2,
                 eval_every=6, eval_limit=12, eval_n=8, save_every=12, seed=0),
    "quick": dict(steps=2, prompts_per_step=2, group_size=4, max_new_tokens=24, lr=2e-5, warmup_steps=1,
                  eval_every=1, eval_limit=2, eval_n=2, save_every=2, seed=0),
}
RLVR_STEPS = {"full": 4, "quick": 1}  # verifiable steps after the RLIF -> RLVR switch
SENSITIVITY_STEPS = {"full": 6, "quick": 2}  # compared with the first steps of the main self_certainty run
BEYOND_STEPS = {"full": 6, "quick": 2}       # likewise, against the main verifiable and self_certainty runs
SENSITIVITY_REWARD = "self_certainty"


@dataclass
class Spec:
    """One training run: its name (also its directory), experiment and flags beyond the shared settings."""
    name: str
    experiment: str
    flags: dict = field(default_factory=dict)
    after: str | None = None  # a run that must finish first (this one starts from its checkpoint)


def study_specs(scale: str) -> list[Spec]:
    base = SCALES[scale]
    steps, n = base["steps"], base["group_size"]
    early = base["eval_every"]  # a checkpoint step that the source run also evaluated
    specs = [Spec(r, "main", {"reward": r}) for r in
             ("verifiable", "self_certainty", "token_entropy", "trajectory_entropy", "prob_disparity", "random")]
    specs[1].flags["save_every"] = early  # the rlif_rlvr source keeps an early checkpoint too
    rlvr = {"reward": "verifiable", "verifiable_fraction": True, "steps": RLVR_STEPS[scale],
            "save_every": RLVR_STEPS[scale], "eval_every": RLVR_STEPS[scale]}
    source = specs[1].name
    specs += [Spec("rlvr-from-base", "rlif_rlvr", dict(rlvr)),
              Spec(f"rlvr-from-{source}-{early}", "rlif_rlvr", {**rlvr, "init_from": f"{source}/ckpt-{early}"},
                   after=source),
              Spec(f"rlvr-from-{source}-{steps}", "rlif_rlvr", {**rlvr, "init_from": f"{source}/ckpt-{steps}"},
                   after=source)]
    sensitivity = [Spec(f"{SENSITIVITY_REWARD}-{label}", "sensitivity",
                        {"reward": SENSITIVITY_REWARD, "steps": SENSITIVITY_STEPS[scale], **flags})
                   for label, flags in [("T0.8", {"temperature": 0.8}), ("T1.2", {"temperature": 1.2}),
                                        (f"N{n // 2}", {"group_size": n // 2}), (f"N{n * 2}", {"group_size": n * 2}),
                                        ("kl0.005", {"kl_beta": 0.005}), ("E3", {"ppo_epochs": 3})]]
    beyond = [Spec("majority", "beyond", {"reward": "majority", "steps": BEYOND_STEPS[scale]}),
              Spec("hybrid", "beyond", {"reward": "hybrid", "hybrid_intrinsic": SENSITIVITY_REWARD,
                                        "steps": BEYOND_STEPS[scale]})]
    # In the order they run: the study's own questions (temperature and group size first) before the rest.
    return specs + sensitivity[:3] + beyond[:1] + sensitivity[3:] + beyond[1:]


def command(spec: Spec, scale: str, runs: Path, first: bool) -> list[str]:
    """The train_grpo.py command line of one run."""
    flags = {**SCALES[scale], **spec.flags}
    if "init_from" in flags:
        flags["init_from"] = str(runs / flags["init_from"])
    if not first:
        flags["skip_first_eval"] = True
    argv = [sys.executable, str(ROOT / "train_grpo.py")]
    for key, value in flags.items():
        if value is True:
            argv.append("--" + key.replace("_", "-"))
        elif value is not False:
            argv += ["--" + key.replace("_", "-"), str(value)]
    return argv + ["--out", str(runs / spec.name)]


def is_done(runs: Path, spec: Spec | str) -> bool:
    """Finished: marked DONE by run_all, or its final checkpoint is complete (a run finished by an earlier,
    interrupted run_all)."""
    run = runs / (spec if isinstance(spec, str) else spec.name)
    if (run / "DONE").exists():
        return True
    config = run / "config.json"
    return config.exists() and (run / f"ckpt-{json.loads(config.read_text())['steps']}" / "state.json").exists()


class Adopted:
    """A run still going in a process this driver did not start (an earlier driver was stopped and its runs
    kept going): it holds a slot until that process exits, and succeeded if its final checkpoint is there."""

    def __init__(self, runs: Path, name: str):
        self.runs, self.name, self.returncode = runs, name, None

    def poll(self):
        pattern = f"--out {self.runs / self.name}$"
        alive = subprocess.run(["pgrep", "-f", "--", pattern], capture_output=True).returncode == 0
        if not alive:
            self.returncode = 0 if is_done(self.runs, self.name) else 1
        return self.returncode


def run_all(specs: list[Spec], scale: str, runs: Path, jobs: int, keep_checkpoints: bool = False) -> list[str]:
    """Run the specs, `jobs` at a time, each after the run it starts from; returns the names that failed.

    A finished run's checkpoints are deleted (1.6 GB each) unless another run starts from them or
    keep_checkpoints is set: the study needs only the metrics and evaluation reports.
    """
    needed = {s.flags["init_from"] for s in specs if "init_from" in s.flags}
    runs.mkdir(parents=True, exist_ok=True)
    threads = int(os.environ.get("OMP_NUM_THREADS") or max(1, (os.cpu_count() or 1) // jobs))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false"}
    first_from_base = next(s.name for s in specs if "init_from" not in s.flags)
    waiting = [s for s in specs if not is_done(runs, s)]
    running: dict[str, tuple[subprocess.Popen | Adopted, float]] = {}
    for spec in list(waiting):  # runs an earlier driver left going
        if (runs / spec.name).exists() and Adopted(runs, spec.name).poll() is None:
            waiting.remove(spec)
            running[spec.name] = (Adopted(runs, spec.name), time.time())
            print(f"adopt {spec.name}: still running in another process", flush=True)
    failed: list[str] = []
    print(f"{len(specs) - len(waiting) - len(running)} of {len(specs)} runs already done; {len(waiting)} to run, "
          f"{jobs} at a time with {threads} thread(s) each; logs in {runs}/<run>.log", flush=True)
    while waiting or running:
        for spec in list(waiting):
            if len(running) >= jobs:
                break
            if is_done(runs, spec):  # finished meanwhile by another process
                waiting.remove(spec)
            elif spec.after and spec.after in failed:
                waiting.remove(spec)
                failed.append(spec.name)
                print(f"skip {spec.name}: {spec.after} failed", flush=True)
            elif spec.after is None or is_done(runs, spec.after):
                waiting.remove(spec)
                shutil.rmtree(runs / spec.name, ignore_errors=True)  # an unfinished earlier attempt
                argv = command(spec, scale, runs, first=spec.name == first_from_base)
                log = open(runs / f"{spec.name}.log", "w")
                print(f"start {spec.name}: {' '.join(argv[1:])}", flush=True)
                running[spec.name] = (subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT),
                                      time.time())
        time.sleep(2)
        for name, (proc, started) in list(running.items()):
            if proc.poll() is None:
                continue
            del running[name]
            minutes = (time.time() - started) / 60
            if proc.returncode == 0:
                (runs / name / "DONE").write_text(f"{minutes:.1f} min\n")
                for ckpt in (runs / name).glob("ckpt-*"):
                    if not keep_checkpoints and f"{name}/{ckpt.name}" not in needed:
                        shutil.rmtree(ckpt)
                print(f"done  {name} ({minutes:.1f} min)", flush=True)
            else:
                failed.append(name)
                tail = (runs / f"{name}.log").read_text().splitlines()[-15:]
                print(f"FAILED {name} (exit {proc.returncode}); end of its log:\n  " + "\n  ".join(tail), flush=True)
    return failed


# ----------------------------------------------------------------------------------------------------------
# Report: tables and figures from the finished runs

def avg_key(rows: list[dict]) -> str | None:
    return next((k for r in rows for k in r if k.startswith("eval/avg@")), None)


STUDY_METRICS = [("reward/mean", "reward"), ("train/pass_rate", "pass rate"), ("response/length_mean", "length"),
                 ("response/clipped_ratio", "clipped"), ("signal/token_entropy", "entropy"),
                 ("signal/self_certainty", "certainty"), ("text/repetition_ratio", "repetition")]


def run_summary(run: Path, base_eval: tuple[int, float] | None, window: int = 3, max_step: int | None = None) -> dict:
    """Validation accuracy (start, peak with its step, final) and first/last means of the training metrics,
    over the steps up to max_step (default: all); run_summary.summarize does the averaging."""
    import run_summary as summary_lib
    out = summary_lib.summarize(run, window, STUDY_METRICS, max_step)
    evals = out.pop("eval")
    if base_eval and (not evals or evals[0][0] != 0):
        evals = [base_eval] + evals  # the shared step-0 evaluation of the starting weights
    peak = max(evals, key=lambda e: e[1]) if evals else (None, float("nan"))
    out.update({"evals": evals, "val start": evals[0][1] if evals else float("nan"), "val peak": peak[1],
                "peak step": peak[0], "val final": evals[-1][1] if evals else float("nan")})
    if max_step is not None:
        out["run"] = f"{run.name} (steps 1-{max_step})"
    return out


def summary_table(summaries: list[dict]) -> str:
    first_last = ["reward", "pass rate", "length", "clipped", "entropy", "certainty", "repetition"]
    lines = ["| run | steps | val start | val peak (step) | val final | "
             + " | ".join(f"{c} (first → last)" for c in first_last) + " | median s/step |",
             "|---" * (len(first_last) + 6) + "|"]
    for s in summaries:
        cells = [s["run"], str(s["steps"]), f"{s['val start']:.3f}", f"{s['val peak']:.3f} ({s['peak step']})",
                 f"{s['val final']:.3f}"]
        for c in first_last:
            a, b = s[c]
            cells.append(f"{a:.3f} → {b:.3f}" if c in ("pass rate", "clipped", "repetition") else f"{a:.2f} → {b:.2f}")
        cells.append(f"{s['s/step']:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def selection_row(label: str, report: dict) -> str:
    """pass@k, and keeping the most self-certain of k samples against a random one (= avg@n), per report."""
    import lcb_eval
    n = report["n"]
    ks = [k for k in (1, 2, 4, 8) if k <= n]
    picked = {k: sum(lcb_eval.best_of_k([s["self_certainty"] for s in p["samples"]],
                                        [s["passed"] for s in p["samples"]], k) for p in report["problems"])
              / max(len(report["problems"]), 1) for k in ks}
    return (f"| {label} | " + " | ".join(f"{report['pass_at_k'][str(k)]:.3f}" for k in ks) + f" | {report['avg']:.3f} | "
            + " | ".join(f"{picked[k]:.3f}" for k in ks[1:]) + " |")


def selection_table(reports: list[tuple[str, dict]]) -> str:
    n = reports[0][1]["n"]
    ks = [k for k in (1, 2, 4, 8) if k <= n]
    head = ("| evaluation | " + " | ".join(f"pass@{k}" for k in ks) + " | random pick (avg) | "
            + " | ".join(f"most certain of {k}" for k in ks[1:]) + " |")
    return "\n".join([head, "|---" * (2 * len(ks) + 1) + "|"] + [selection_row(label, r) for label, r in reports])


def starting_eval(spec: Spec, runs: Path, base_eval):
    """(0, avg) of the weights a run starts from: the shared base evaluation, or for a run started from
    SOURCE/ckpt-K, the source run's evaluation at step K."""
    import plots
    if "init_from" not in spec.flags:
        return base_eval
    source, ckpt = spec.flags["init_from"].split("/")
    rows = plots.read_metrics(runs / source / "metrics.jsonl")
    key = avg_key(rows)
    return next(((0, r[key]) for r in rows if r["step"] == int(ckpt[5:]) and key in r), None)


def with_starting_eval(run: Path, spec: Spec, runs: Path, base_row: dict | None):
    """The run loaded for plots.py, with the evaluation of its starting weights (every eval/* value) as its
    step-0 point when it skipped its own: the same weights and seed give the same samples. The starting
    evaluation is the base run's step 0, or for a run from SOURCE/ckpt-K the source's evaluation at step K."""
    import plots
    loaded = plots.load_run(run)
    source = base_row
    if "init_from" in spec.flags:
        name, ckpt = spec.flags["init_from"].split("/")
        source = next((r for r in plots.read_metrics(runs / name / "metrics.jsonl") if r["step"] == int(ckpt[5:])), None)
    start = {k: v for k, v in (source or {}).items() if k.startswith("eval/")}
    if start and not any(r["step"] == 0 and any(k.startswith("eval/") for k in r) for r in loaded.records):
        loaded.records.insert(0, {"step": 0, **start})
    return loaded


def copy_small_files(run: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "metrics.jsonl"):
        shutil.copy(run / name, dest / name)
    if (run / "eval").is_dir():
        shutil.copytree(run / "eval", dest / "eval", dirs_exist_ok=True)


def report(specs: list[Spec], runs: Path, docs: Path) -> Path:
    import plots
    done = [s for s in specs if is_done(runs, s)]
    if not done:
        raise UserError(f"no finished runs in {runs}: run the study first (python scripts/study.py)")
    for s in done:
        copy_small_files(runs / s.name, docs / "runs" / s.name)
    base = next((s for s in done if "init_from" not in s.flags and (runs / s.name / "eval" / "step-0.json").exists()),
                None)
    base_rows = plots.read_metrics(runs / base.name / "metrics.jsonl") if base else []
    key = avg_key(base_rows)
    base_eval = next(((0, r[key]) for r in base_rows if r["step"] == 0 and key in r), None) if key else None
    sections = ["# Study results (generated by scripts/study.py --report)", "",
                "Validation: avg@n on the first eval_limit problems of embedded:val. Step 0 is the shared "
                f"evaluation of the base model (run {base.name if base else '?'}). First/last: means of the "
                "first and last 3 training steps.", ""]
    summaries = {}
    for experiment in dict.fromkeys(s.experiment for s in done):
        group = [s for s in done if s.experiment == experiment]
        for s in group:
            summaries[s.name] = run_summary(runs / s.name, starting_eval(s, runs, base_eval))
        reference = [] if experiment in ("main", "rlif_rlvr") else [s for s in done if s.name == SENSITIVITY_REWARD
                                                                 or (experiment == "beyond" and s.name == "verifiable")]
        shown = reference + group
        horizon = max(summaries[s.name]["steps"] for s in group)  # the reference over the same steps
        rows = [run_summary(runs / s.name, base_eval, max_step=horizon) if s in reference else summaries[s.name]
                for s in shown]
        sections += [f"## {experiment}", "", summary_table(rows), ""]
        figure = docs / f"{experiment}.png"
        base_row = next((r for r in base_rows if r["step"] == 0), None)
        plots.save(plots.plot_runs([with_starting_eval(runs / s.name, s, runs, base_row) for s in shown],
                                   collapse=0.5), figure)
        sections += [f"![{experiment}]({figure.name})", ""]
    paths = [runs / base.name / "eval" / "step-0.json"] if base else []  # base model, then each run's last
    for s in done:
        evals = sorted((runs / s.name / "eval").glob("step-*.json"), key=lambda p: int(p.stem[5:]))
        if evals and s.experiment in ("main", "beyond"):
            paths.append(evals[-1])
    if paths:
        reports = [("base model (step 0)" if i == 0 and base else f"{p.parent.parent.name} step {p.stem[5:]}",
                    json.loads(p.read_text())) for i, p in enumerate(paths)]
        plots.save(plots.plot_passk(paths), docs / "passk.png")
        sections += ["## Test time: pass@k and self-certainty selection", "",
                     "Most certain of k: expected pass when k of the n samples are drawn at random and the one "
                     "with the highest mean self-certainty is kept (lcb_eval.best_of_k); a random pick is avg@n.",
                     "", selection_table(reports), "", "![pass@k](passk.png)", ""]
    (docs / "summaries.json").write_text(json.dumps(summaries, indent=1))
    out = docs / "results.md"
    out.write_text("\n".join(sections))
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny settings: every experiment in minutes")
    parser.add_argument("--only", nargs="+", help="experiments or run names to run (default: all)")
    parser.add_argument("--report", action="store_true", help="only write the report from finished runs")
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel (threads = cores / jobs each)")
    parser.add_argument("--keep-checkpoints", action="store_true",
                        help="keep every run's checkpoints (default: only those another run starts from)")
    parser.add_argument("--runs", type=Path, help="run directories (default runs/study or runs/study-quick)")
    parser.add_argument("--docs", type=Path, help="report directory (default docs/study or runs/study-quick/docs)")
    args = parser.parse_args(argv)
    scale = "quick" if args.quick else "full"
    runs = args.runs or ROOT / ("runs/study-quick" if args.quick else "runs/study")
    docs = args.docs or (runs / "docs" if args.quick else ROOT / "docs/study")
    specs = study_specs(scale)
    if args.only:
        unknown = set(args.only) - {s.name for s in specs} - {s.experiment for s in specs}
        if unknown:
            raise UserError(f"--only: unknown experiment or run {', '.join(sorted(unknown))}; "
                             f"experiments: {', '.join(dict.fromkeys(s.experiment for s in specs))}")
        chosen = [s for s in specs if s.name in args.only or s.experiment in args.only]
        # a source run is added unless its directory exists (finished, or still running in another process)
        needed = {s.after for s in chosen if s.after and not (runs / s.after).exists()}
        specs_to_run = [s for s in specs if s in chosen or s.name in needed]
    else:
        specs_to_run = specs
    started = time.time()
    failed = [] if args.report else run_all(specs_to_run, scale, runs, args.jobs, args.keep_checkpoints)
    print(f"runs: {(time.time() - started) / 60:.1f} min", flush=True)
    out = report(specs, runs, docs)
    print(f"report: {out} ({(time.time() - started) / 60:.1f} min in all)")
    if failed:
        raise SystemExit(f"failed runs: {', '.join(failed)} (logs in {runs})")


if __name__ == "__main__":
    import cli
    cli.run(main)
