"""scripts/study.py: the study's experiments on the default model (Qwen2.5-Coder-0.5B), then tables and figures.

    python scripts/study.py --only main      # the main comparison: 6 rewards x 2 seeds x 40 steps (~12 h here)
    python scripts/study.py                  # every experiment
    python scripts/study.py --quick          # every experiment with tiny settings on SmolLM2 (minutes)
    python scripts/study.py --report         # only the report, from the published runs in docs/study/runs

Experiments (docs/study.md discusses the results):
  main         verifiable (RLVR), self_certainty, token_entropy, trajectory_entropy, prob_disparity, random,
               each with the training seeds SEEDS; with it go the noise evaluations (the base model evaluated
               with NOISE_SEEDS sampling seeds), which state the smallest difference the comparison resolves
  beyond       majority and hybrid (self-certainty mixed with the verifiable reward), the rewards the study
               does not have, against the same baseline
  sensitivity  self_certainty with T = 0.8 / 1.2, KL beta > 0, a half and a double group size, E = 3 epochs,
               each for SENSITIVITY_STEPS steps (compared with the main self_certainty run at the same step)
  rlif_rlvr    verifiable training for RLVR_STEPS steps from an early and the last checkpoint of the seed-0 runs
               of RLIF_SOURCES (self_certainty, token_entropy), against the main verifiable runs' first
               RLVR_STEPS steps (RLVR from the base, same settings): does an intrinsic run recover?
  testtime     checkpoints evaluated with TESTTIME_N samples per problem (scripts/testtime.py evaluate: each
               sample's behaviour annotated); the report compares pass@k with keeping the most self-certain,
               the majority (execution behaviour) or a random answer of k, for the base model (its noise and
               step-0 evaluations pooled), every run's last evaluation, and these checkpoints

Every run shares the settings in SCALES except what its experiment varies. Runs with the same seed start from
the same weights and sample the same validation completions at step 0, so only the first run of each seed
evaluates step 0 (--skip-first-eval elsewhere); the rlif_rlvr runs start from checkpoints that their source
run evaluated at the same step and seed.

Runs go to --runs with their checkpoints (6 GB each; only the newest is kept while a run goes). A finished run
is skipped and an interrupted one continues from its last checkpoint, so the driver can be stopped and started
again. When a run finishes, its small files (config.json, metrics.jsonl, eval reports, a trimmed samples.jsonl)
are published to --docs/runs/NAME, for git. The report (scripts/study_report.py) reads only --docs/runs: it
draws the figures with plots.py and writes --docs/results.md, the same from a clean clone.
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

# Settings shared by every run (train_grpo.py flags). "full" is the study on the default model (Qwen2.5-Coder-0.5B),
# on the calibrated pools (scripts/calibrate.py: problems the base model sometimes solves and sometimes fails),
# with settings from the pilot in docs/study.md; "quick" only proves that every experiment runs (SmolLM2).
POOLS = "docs/study/calibration"
SCALES = {
    "full": dict(steps=40, prompts_per_step=2, group_size=8, max_new_tokens=384, lr=1e-6, warmup_steps=2,
                 eval_every=10, eval_n=4, save_every=5, seed=0, micro_batch_size=8, micro_batch_tokens=768,
                 data=f"{POOLS}/pool_train.jsonl", val_data=f"{POOLS}/pool_val.jsonl"),
    "quick": dict(model="smollm2-135m", steps=2, prompts_per_step=2, group_size=4, max_new_tokens=24, lr=2e-5,
                  warmup_steps=1, eval_every=1, eval_limit=2, eval_n=2, save_every=2, seed=0),
}
SEEDS = {"full": (0, 1), "quick": (0, 1)}  # the main comparison's training seeds (problem order, sampling, random)
NOISE_SEEDS = {"full": (100, 101, 102, 103), "quick": (100, 101)}  # extra step-0 evaluations of the base model
RLVR_STEPS = {"full": 10, "quick": 1}  # verifiable steps after the RLIF -> RLVR switch
SENSITIVITY_STEPS = {"full": 20, "quick": 2}  # compared with the first steps of the main self_certainty run
BEYOND_STEPS = {"full": 20, "quick": 2}       # likewise, against the main verifiable and self_certainty runs
SENSITIVITY_REWARD = "self_certainty"
RLIF_SOURCES = ("self_certainty", "token_entropy")  # rlif_rlvr: verifiable training from their seed-0 checkpoints
TESTTIME_N = {"full": 16, "quick": 4}  # samples per validation problem in a test-time evaluation of a checkpoint
MAIN_REWARDS = ("verifiable", "self_certainty", "token_entropy", "trajectory_entropy", "prob_disparity", "random")


EVALUATIONS = ("noise", "testtime")  # experiments that only evaluate (lcb_eval), no training


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
    early = base["eval_every"]  # a checkpoint step that the source run also evaluates
    seeds = SEEDS[scale]
    # the noise evaluations first (minutes), then the comparison seed-major: a whole first seed before the second
    specs = [Spec(f"noise-s{seed}", "noise", {"seed": seed}) for seed in NOISE_SEEDS[scale]]
    specs += [Spec(f"{r}-s{seed}", "main", {"reward": r, "seed": seed}) for seed in seeds for r in MAIN_REWARDS]
    rlvr = {"reward": "verifiable", "steps": RLVR_STEPS[scale], "save_every": RLVR_STEPS[scale],
            "eval_every": RLVR_STEPS[scale]}
    # RLVR from the base over the same steps is the main verifiable runs' first RLVR_STEPS steps (the same
    # settings: the learning rate is constant after the warm-up, so a run's length does not change its start)
    for reward in RLIF_SOURCES:  # from an early checkpoint (before a peak) and the last one, of two rewards
        source = f"{reward}-s{seeds[0]}"
        specs += [Spec(f"rlvr-from-{source}-{step}", "rlif_rlvr", {**rlvr, "init_from": f"{source}/ckpt-{step}"},
                       after=source) for step in (early, steps)]
    # test time: more samples per problem from trained checkpoints (the base model's are the noise evaluations).
    # self_certainty's from its second seed: the first seed's checkpoints were lost with a machine before these
    # evaluations ran (checkpoints are never committed, so a dependent must run in its source's session).
    tested = [(f"{SENSITIVITY_REWARD}-s{seeds[-1]}", early), (f"{SENSITIVITY_REWARD}-s{seeds[-1]}", steps),
              (f"verifiable-s{seeds[-1]}", steps), (f"token_entropy-s{seeds[0]}", steps)]
    specs += [Spec(f"testtime-{source}-{step}", "testtime", {"init_from": f"{source}/ckpt-{step}"}, after=source)
              for source, step in tested]
    for spec in specs:  # a dependent's checkpoint must be one its source writes: every save_every steps, or the last
        if "init_from" in spec.flags:
            source, step = spec.flags["init_from"].split("/ckpt-")
            src = next(s for s in specs if s.name == source)
            if int(step) % src.flags.get("save_every", base["save_every"]) and int(step) != base["steps"]:
                src.flags["save_every"] = int(step)
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


def seed_of(spec: Spec) -> int:
    return spec.flags.get("seed", 0)


def first_runs(specs: list[Spec]) -> set[str]:
    """The runs that evaluate step 0: per seed, the first run from the base weights. The others with that seed
    skip it (--skip-first-eval): the same weights and evaluation seed give the same samples."""
    first: dict[int, str] = {}
    for s in specs:
        if s.experiment != "noise" and "init_from" not in s.flags:
            first.setdefault(seed_of(s), s.name)
    return set(first.values())


def command(spec: Spec, scale: str, runs: Path, first: bool) -> list[str]:
    """The command line of one run: train_grpo.py, or for an evaluation spec lcb_eval.py with the validation
    settings of the runs: noise on the base model (its report is the run's eval/step-0.json), testtime on a
    checkpoint with TESTTIME_N samples, through testtime.py, which annotates the behaviours
    (eval/testtime.json)."""
    flags = {**SCALES[scale], **spec.flags}
    if spec.experiment in EVALUATIONS:
        if spec.experiment == "noise":
            head, model, n, report = [str(ROOT / "lcb_eval.py")], flags.get("model", "qwen2.5-coder-0.5b"), \
                flags["eval_n"], "step-0.json"
        else:
            head, model, n, report = [str(ROOT / "scripts" / "testtime.py"), "evaluate"], \
                str(runs / flags["init_from"]), TESTTIME_N[scale], "testtime.json"
        return [sys.executable, *head, "--model", model, "--data", flags.get("val_data", "embedded:val"),
                "--n", str(n), "--temperature", str(flags.get("eval_temperature", 0.8)), "--max-new-tokens",
                str(flags["max_new_tokens"]), "--seed", str(flags["seed"]),
                "--out", str(runs / spec.name / "eval" / report)] + \
            (["--limit", str(flags["eval_limit"])] if flags.get("eval_limit") else [])
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


def checkpoints(run: Path) -> list[Path]:
    """The complete checkpoints of a run (state.json is written last), oldest first."""
    return sorted((c for c in run.glob("ckpt-*") if (c / "state.json").exists()), key=lambda c: int(c.name[5:]))


def is_done(runs: Path, spec: Spec | str) -> bool:
    """Finished: marked DONE by run_all, or its final checkpoint is complete (a run finished by an earlier,
    interrupted run_all)."""
    run = runs / (spec if isinstance(spec, str) else spec.name)
    if (run / "DONE").exists():
        return True
    config = run / "config.json"
    return config.exists() and (run / f"ckpt-{json.loads(config.read_text())['steps']}" / "state.json").exists()


def finished(runs: Path, docs: Path | None, spec: Spec | str) -> bool:
    """Done here (is_done), or published to git by an earlier session (docs/runs/NAME/DONE): not run again,
    though a new machine has none of its files under runs/."""
    name = spec if isinstance(spec, str) else spec.name
    return is_done(runs, name) or (docs is not None and (docs / "runs" / name / "DONE").exists())


def resumable(runs: Path, spec: Spec) -> bool:
    """An interrupted training run with a complete checkpoint: run_all continues it with --resume."""
    return spec.experiment not in EVALUATIONS and (runs / spec.name / "config.json").exists() and \
        bool(checkpoints(runs / spec.name))


def needed_checkpoints(specs: list[Spec], runs: Path, docs: Path | None) -> set[str]:
    """The checkpoints (SOURCE/ckpt-K) that an unfinished run of the study starts from or evaluates."""
    return {s.flags["init_from"] for s in specs if "init_from" in s.flags and not finished(runs, docs, s)}


def prune_checkpoints(run: Path, needed: set[str]) -> None:
    """Keep a run's newest complete checkpoint (to resume from) and those another run starts from: each is
    6 GB (fp32 weights and AdamW state)."""
    for ckpt in checkpoints(run)[:-1]:
        if f"{run.name}/{ckpt.name}" not in needed:
            shutil.rmtree(ckpt, ignore_errors=True)


SAMPLE_TEXT_CHARS = 1200  # trimmed samples.jsonl: each completion's text cut to this many characters


def publish(run: Path, dest: Path) -> None:
    """A finished run's small files, for git: config.json, metrics.jsonl, evaluation reports, DONE, and
    samples.jsonl trimmed (prompts dropped, texts cut to SAMPLE_TEXT_CHARS). Never checkpoints."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "metrics.jsonl", "DONE"):
        if (run / name).exists():
            shutil.copy(run / name, dest / name)
    if (run / "eval").is_dir():
        shutil.copytree(run / "eval", dest / "eval", dirs_exist_ok=True)
    if (run / "samples.jsonl").exists():
        lines = []
        for line in (run / "samples.jsonl").read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                record.pop("prompt", None)
                for c in record.get("completions", []):
                    c["text"] = c["text"][:SAMPLE_TEXT_CHARS]
                lines.append(json.dumps(record) + "\n")
        (dest / "samples.jsonl").write_text("".join(lines))
    annotate_evaluations(run, dest)


def annotate_evaluations(run: Path, dest: Path) -> None:
    """Each sample's behaviour in the published evaluation reports (scripts/testtime.py), for the majority
    pick at test time; runs each program on the validation inputs once (seconds). The problems are the run's
    validation data (config.json), or the data the report names. A failure is reported, not raised: the run's
    files are published either way."""
    import lcb_eval
    import testtime
    config = json.loads((run / "config.json").read_text()) if (run / "config.json").exists() else {}
    for path in sorted((dest / "eval").glob("*.json")):
        report = json.loads(path.read_text())
        if all("behaviour" in s for p in report.get("problems", []) for s in p["samples"]):
            continue
        data = report.get("config", {}).get("data") or config.get("val_data") or "embedded:val"
        if ":" not in data and not Path(data).is_absolute():
            data = str(ROOT / data)  # the runs' paths are relative to the repository
        try:
            testtime.annotate(report, lcb_eval.load_problems(data))
            testtime.write_json(path, report)
        except Exception as e:  # noqa: BLE001 (the published run matters more than its annotation)
            print(f"warning: {path}: behaviours not annotated ({type(e).__name__}: {e})", flush=True)


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


def run_all(specs: list[Spec], scale: str, runs: Path, jobs: int, keep_checkpoints: bool = False,
            docs: Path | None = None, max_runs: int | None = None, needed: set[str] | None = None,
            first: set[str] | None = None) -> list[str]:
    """Run the specs, `jobs` at a time, each after the run it starts from; returns the names that failed.

    An interrupted run with a complete checkpoint continues from it (--resume); one without starts again.
    While a run goes, only its newest checkpoint is kept (and those another run starts from); when it finishes,
    its checkpoints are deleted unless another run starts from them or keep_checkpoints is set, and its small
    files are published to docs/runs/NAME (publish) for git. max_runs: start (or adopt) at most this many runs,
    then wait for them and return (what fits in the time left of a session). needed: the checkpoints
    (SOURCE/ckpt-K) to keep (default: those the specs start from); pass those of every unfinished run of the
    study, or a driver that runs only some experiments deletes a checkpoint that another one needs. first: the
    runs that evaluate step 0 (default: first_runs(specs)); pass those of the whole study, or a driver that runs
    only a later run of a seed evaluates its step 0 again.

    A run that starts from a checkpoint goes first once its source has finished (the checkpoint may not outlive
    the session); one whose checkpoint is gone (its source finished on another machine) is skipped with a
    message, not failed.
    """
    if needed is None:
        needed = {s.flags["init_from"] for s in specs if "init_from" in s.flags}
    runs.mkdir(parents=True, exist_ok=True)
    threads = int(os.environ.get("OMP_NUM_THREADS") or max(1, (os.cpu_count() or 1) // jobs))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false"}
    first = first_runs(specs) if first is None else first

    def done(spec: Spec | str) -> bool:
        return finished(runs, docs, spec)

    waiting = [s for s in specs if not done(s)]
    running: dict[str, tuple[subprocess.Popen | Adopted, float]] = {}
    for spec in list(waiting):  # runs an earlier driver left going
        if (runs / spec.name).exists() and Adopted(runs, spec.name).poll() is None:
            waiting.remove(spec)
            running[spec.name] = (Adopted(runs, spec.name), time.time())
            print(f"adopt {spec.name}: still running in another process", flush=True)
    failed: list[str] = []
    print(f"{len(specs) - len(waiting) - len(running)} of {len(specs)} runs already done; {len(waiting)} to run, "
          f"{jobs} at a time with {threads} thread(s) each; logs in {runs}/<run>.log", flush=True)
    launched = len(running)
    while waiting or running:
        for spec in sorted(waiting, key=lambda s: s.after is None):  # stable: dependents first, else in order
            if max_runs is not None and launched >= max_runs:
                waiting.clear()  # the rest waits for the next driver
                break
            if len(running) >= jobs:
                break
            if done(spec):  # finished meanwhile by another process
                waiting.remove(spec)
            elif spec.after and spec.after in failed:
                waiting.remove(spec)
                failed.append(spec.name)
                print(f"skip {spec.name}: {spec.after} failed", flush=True)
            elif spec.after and done(spec.after) and "init_from" in spec.flags and \
                    not (runs / spec.flags["init_from"] / "model.safetensors").exists():
                waiting.remove(spec)
                print(f"skip {spec.name}: its checkpoint {runs / spec.flags['init_from']} is gone (the source finished "
                      f"on another machine or was pruned); run the source again to make it", flush=True)
            elif spec.after is None or done(spec.after):
                waiting.remove(spec)
                running[spec.name] = (launch(spec, scale, runs, env, spec.name in first), time.time())
                launched += 1
        time.sleep(2)
        for name, (proc, started) in list(running.items()):
            if proc.poll() is None:
                if not keep_checkpoints:
                    prune_checkpoints(runs / name, needed)
                continue
            del running[name]
            if not close(runs / name, proc.returncode, time.time() - started, docs, needed, keep_checkpoints):
                failed.append(name)
    return failed


def launch(spec: Spec, scale: str, runs: Path, env: dict, first: bool) -> subprocess.Popen:
    """Start a run in its own process, logging to runs/NAME.log: from its newest complete checkpoint if it
    has one (--resume), else from the start (an unfinished earlier attempt without a checkpoint is removed)."""
    if resumable(runs, spec):
        argv = [sys.executable, str(ROOT / "train_grpo.py"), "--resume", str(runs / spec.name)]
        print(f"resume {spec.name} from {checkpoints(runs / spec.name)[-1].name}", flush=True)
    else:
        shutil.rmtree(runs / spec.name, ignore_errors=True)
        argv = command(spec, scale, runs, first=first)
        print(f"start {spec.name}: {' '.join(argv[1:])}", flush=True)
    (runs / spec.name).mkdir(parents=True, exist_ok=True)
    log = open(runs / f"{spec.name}.log", "a")
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def close(run: Path, returncode: int, seconds: float, docs: Path | None, needed: set[str],
          keep_checkpoints: bool) -> bool:
    """A run's process has exited: if it succeeded, mark it DONE, delete the checkpoints no other run needs and
    publish its small files to docs/runs/NAME; if not, print the end of its log. Returns whether it succeeded."""
    if returncode != 0:
        tail = (run.parent / f"{run.name}.log").read_text().splitlines()[-15:]
        print(f"FAILED {run.name} (exit {returncode}); end of its log:\n  " + "\n  ".join(tail), flush=True)
        return False
    (run / "DONE").write_text(f"{seconds / 60:.1f} min\n")
    for ckpt in run.glob("ckpt-*"):
        if not keep_checkpoints and f"{run.name}/{ckpt.name}" not in needed:
            shutil.rmtree(ckpt)
    if docs is not None:
        publish(run, docs / "runs" / run.name)
    print(f"done  {run.name} ({seconds / 60:.1f} min)", flush=True)
    return True


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny settings: every experiment in minutes")
    parser.add_argument("--only", nargs="+", help="experiments or run names to run (default: all)")
    parser.add_argument("--report", action="store_true", help="only write the report from finished runs")
    parser.add_argument("--jobs", type=int, default=None,
                        help="runs in parallel, threads = cores / jobs each (default: 1; 2 with --quick). A Qwen run "
                             "peaks near 10 GB, so two need more than 24 GB")
    parser.add_argument("--keep-checkpoints", action="store_true",
                        help="keep every run's checkpoints (default: only those another run starts from)")
    parser.add_argument("--max-runs", type=int, help="start (or adopt) at most this many runs, then report and "
                        "exit: what fits in the time left (default: all)")
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
        chosen = [s for s in specs if s.name in args.only or s.experiment in args.only
                  or (s.experiment == "noise" and "main" in args.only)]  # main's noise evaluations go with it
        # a source run is added unless its directory exists (finished, or still running in another process)
        needed = {s.after for s in chosen if s.after and not (runs / s.after).exists()}
        specs_to_run = [s for s in specs if s in chosen or s.name in needed]
    else:
        specs_to_run = specs
    started = time.time()
    jobs = args.jobs or (2 if args.quick else 1)
    needed = needed_checkpoints(specs, runs, docs)
    failed = [] if args.report else run_all(specs_to_run, scale, runs, jobs, args.keep_checkpoints, docs,
                                            args.max_runs, needed, first_runs(specs))
    print(f"runs: {(time.time() - started) / 60:.1f} min", flush=True)
    import study_report  # the tables and figures (it imports this module's specs)
    out = study_report.report(specs, docs)
    print(f"report: {out} ({(time.time() - started) / 60:.1f} min in all)")
    if failed:
        raise SystemExit(f"failed runs: {', '.join(failed)} (logs in {runs})")


if __name__ == "__main__":
    import cli
    cli.run(main)
