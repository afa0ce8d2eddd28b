"""scripts/study_report.py: the study's report, from the published runs alone (what git holds).

    python scripts/study.py --report     # calls report() here: docs/study/results.md and the figures

Reads docs/study/runs/NAME/ (config.json, metrics.jsonl, eval/*.json, samples.jsonl) for the runs that
scripts/study.py defines, and writes results.md, summaries.json and the figures (plots.py). Nothing here trains
or evaluates a model, so a clean clone regenerates byte-identical tables.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cli import UserError  # noqa: E402
from study import EVALUATIONS, ROOT, SENSITIVITY_REWARD, Spec, seed_of  # noqa: E402

FIGURE_SMOOTH = 5  # training curves in the figures: moving average over 5 steps (one step's 16 answers are noisy),
#                    collapse markers on the smoothed curve; evaluations and tables are not smoothed


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


def base_evaluations(done: list[Spec], runs: Path) -> dict[int, dict]:
    """Per training seed, the metrics row of the shared step-0 evaluation of the base model (its first run)."""
    import plots
    rows = {}
    for s in done:
        if s.experiment == "noise" or "init_from" in s.flags or seed_of(s) in rows:
            continue
        row = next((r for r in plots.read_metrics(runs / s.name / "metrics.jsonl")
                    if r["step"] == 0 and avg_key([r])), None)
        if row:
            rows[seed_of(s)] = row
    return rows


def noise_section(done: list[Spec], runs: Path, base_rows: dict[int, dict]) -> tuple[list[str], float]:
    """The base model evaluated with several sampling seeds (the training seeds' step 0, and the noise runs):
    their spread, and the smallest difference between two evaluations it resolves, 2 x sqrt(2) x sd (a 95%
    interval of the difference of two independent evaluations). Returns (lines, resolution)."""
    import statistics
    points = [(f"step 0 of the seed-{seed} runs", row[avg_key([row])]) for seed, row in sorted(base_rows.items())]
    for s in done:
        path = runs / s.name / "eval" / "step-0.json"
        if s.experiment == "noise" and path.exists():
            points.append((f"{s.name} (lcb_eval --seed {seed_of(s)})", json.loads(path.read_text())["avg"]))
    if len(points) < 2:
        return [], float("nan")
    values = [v for _, v in points]
    sd = statistics.stdev(values)
    resolution = 2 * 2**0.5 * sd
    lines = ["## Noise: the base model evaluated with different sampling seeds", "",
             "| evaluation | avg@n |", "|---|---|"] + [f"| {label} | {v:.3f} |" for label, v in points] + [
        "", f"mean {statistics.mean(values):.3f}, sd {sd:.3f}, range {min(values):.3f}-{max(values):.3f} over "
        f"{len(values)} evaluations; two evaluations must differ by more than 2·√2·sd = **{resolution:.3f}** to be "
        "told apart (95%). Training seeds add their own spread: see the seed columns below.", ""]
    return lines, resolution


def reward_table(done: list[Spec], summaries: dict, resolution: float) -> str:
    """Per reward of the main comparison: every seed's validation start -> peak -> final, the change, and what
    the change is against the resolution (rises / falls / flat)."""
    lines = ["| reward | seeds | val start | val peak (step) per seed | val final per seed | final - start "
             "(mean) | verdict |", "|---|---|---|---|---|---|---|"]
    for reward in dict.fromkeys(s.flags["reward"] for s in done if s.experiment == "main"):
        group = [summaries[s.name] for s in done if s.experiment == "main" and s.flags["reward"] == reward]
        deltas = [g["val final"] - g["val start"] for g in group]
        mean = sum(deltas) / len(deltas)
        verdict = "flat (within noise)"
        if all(d > resolution for d in deltas) or (len(deltas) > 1 and mean > resolution and min(deltas) > 0):
            verdict = "rises"
        elif all(d < -resolution for d in deltas) or (len(deltas) > 1 and mean < -resolution and max(deltas) < 0):
            verdict = "falls"
        elif max(deltas) > resolution and min(deltas) < -resolution:
            verdict = "seeds disagree (one rises, one falls)"
        lines.append(f"| {reward} | {len(group)} | " + ", ".join(f"{g['val start']:.3f}" for g in group) + " | "
                     + ", ".join(f"{g['val peak']:.3f} ({g['peak step']})" for g in group) + " | "
                     + ", ".join(f"{g['val final']:.3f}" for g in group) + f" | {mean:+.3f} | {verdict} |")
    return "\n".join(lines)


SHOWN_CHARS = 700  # of each sample shown beside the base model's


def seed_start(spec: Spec, main: list[Spec], runs: Path) -> Path | None:
    """The step-0 evaluation report of spec's run, or where it skipped its own, that of the first of the main
    runs with its seed that has one (the same weights and seed: the same samples on one machine)."""
    return next((runs / o.name / "eval" / "step-0.json" for o in [spec] + main
                 if seed_of(o) == seed_of(spec) and (runs / o.name / "eval" / "step-0.json").exists()), None)


def samples_section(done: list[Spec], runs: Path) -> list[str]:
    """For each main reward (its first seed): one validation problem's first sample at step 0 and at the run's
    last evaluation, side by side in the text, to see what training did to the outputs."""
    import html
    lines = []
    main = [s for s in done if s.experiment == "main"]
    for s in main:
        if seed_of(s) != min(seed_of(o) for o in main):
            continue
        evals = sorted((runs / s.name / "eval").glob("step-*.json"), key=lambda p: int(p.stem[5:]))
        start = seed_start(s, main, runs)
        if not evals or start is None or evals[-1].stem == "step-0":
            continue
        before, after = json.loads(start.read_text()), json.loads(evals[-1].read_text())
        problem = next((p for p in after["problems"] if p["question_id"] == before["problems"][0]["question_id"]),
                       after["problems"][0])
        base = next(p for p in before["problems"] if p["question_id"] == problem["question_id"])
        lines += [f"<details><summary>{s.flags['reward']}: {problem['question_id']}, step 0 and "
                  f"{evals[-1].stem.replace('-', ' ')}</summary>", ""]
        for label, sample in (("step 0", base["samples"][0]), (evals[-1].stem.replace("-", " "), problem["samples"][0])):
            text = sample["text"][:SHOWN_CHARS] + (" [...]" if len(sample["text"]) > SHOWN_CHARS else "")
            lines += [f"{label}: {sample['status']}, {sample['tokens']} tokens", "",
                      f"<pre>{html.escape(text)}</pre>", ""]
        lines += ["</details>", ""]
    return (["## Samples: the same validation problem before and after", ""] + lines) if lines else []


def kinds_section(done: list[Spec], runs: Path) -> list[str]:
    """Validation pass rate by the kind of test (stdin programs, or a function called with arguments) at the
    seed's step 0 and at each main run's last evaluation: the two kinds fail in different ways (a stub for a
    function, a bare answer or the prompt repeated for stdin), which the overall avg hides. The kinds come
    from the validation file the run's config names (in git, relative to the repository)."""
    import lcb_eval
    main = [s for s in done if s.experiment == "main"]
    rows, kinds = [], {}
    for s in main:
        config = runs / s.name / "config.json"
        val = ROOT / (json.loads(config.read_text()).get("val_data", "") if config.exists() else "")
        evals = sorted((runs / s.name / "eval").glob("step-*.json"), key=lambda p: int(p.stem[5:]))
        start = seed_start(s, main, runs)
        if not val.is_file() or not evals or start is None:
            continue
        if val not in kinds:
            kinds[val] = {p.question_id: p.tests[0]["testtype"] for p in lcb_eval.load_file(val)}
        cells = []
        for path in (start, evals[-1]):
            passed, n = {}, {}
            for problem in json.loads(path.read_text())["problems"]:
                kind = kinds[val][problem["question_id"]]
                n[kind] = n.get(kind, 0) + len(problem["samples"])
                passed[kind] = passed.get(kind, 0) + sum(x["passed"] for x in problem["samples"])
            cells.append({k: (passed[k] / n[k], n[k]) for k in n})
        row = [f"{k} {cells[0][k][0]:.3f} → {cells[1][k][0]:.3f} ({cells[1][k][1]})" for k in sorted(cells[1])
               if k in cells[0]]
        rows.append(f"| {s.name} | {evals[-1].stem[5:]} | {'; '.join(row)} |")
    if not rows:
        return []
    return ["## Validation by kind of problem", "",
            "Pass rate (avg over samples) from the seed's step 0 to the run's last evaluation, by the kind of test; "
            "in brackets the number of answers of that kind.", "",
            "| run | last step | pass rate by kind |", "|---|---|---|"] + rows + [""]


def report(specs: list[Spec], docs: Path) -> Path:
    """docs/results.md and the figures, from the published runs under docs/runs/ alone (what git holds)."""
    import plots
    runs = docs / "runs"
    done = [s for s in specs if (runs / s.name / "DONE").exists()]
    if not done:
        raise UserError(f"no finished runs in {runs}: run the study first (python scripts/study.py)")
    base_rows = base_evaluations(done, runs)
    noise, resolution = noise_section(done, runs, base_rows)
    sections = ["# Study results (generated by scripts/study.py --report)", "",
                "Validation: avg@n on the validation problems of the runs' config. Step 0 is the shared evaluation "
                "of the base model by the first run of each seed. First/last: means of the first and last 3 "
                "training steps.", ""] + noise
    summaries = {}
    trained = [s for s in done if s.experiment not in EVALUATIONS]
    for experiment in dict.fromkeys(s.experiment for s in trained):
        group = [s for s in trained if s.experiment == experiment]
        for s in group:
            summaries[s.name] = run_summary(runs / s.name, starting_eval(s, runs, base_eval(base_rows, s)))
        if experiment == "main":
            reference = []
        elif experiment == "rlif_rlvr":  # RLVR from the base: the main verifiable runs over the same steps
            reference = [s for s in trained if s.experiment == "main" and s.flags["reward"] == "verifiable"]
        else:
            reference = [s for s in trained if s.experiment == "main" and seed_of(s) == 0 and (
                s.flags["reward"] == SENSITIVITY_REWARD or (experiment == "beyond" and s.flags["reward"] == "verifiable"))]
        shown = reference + group
        horizon = max(summaries[s.name]["steps"] for s in group)  # the reference over the same steps
        rows = [run_summary(runs / s.name, base_eval(base_rows, s), max_step=horizon) if s in reference
                else summaries[s.name] for s in shown]
        sections += [f"## {experiment}", ""]
        if experiment == "main":
            sections += [reward_table(group, summaries, resolution), ""]
        sections += [summary_table(rows), ""]
        figure = docs / f"{experiment}.png"
        plots.save(plots.plot_runs([with_starting_eval(runs / s.name, s, runs, base_rows.get(seed_of(s)))
                                    for s in shown], smooth=FIGURE_SMOOTH, collapse=0.5,
                                   seeds_as_band=experiment == "main"), figure)
        sections += [f"![{experiment}]({figure.name})", ""]
    sections += kinds_section(trained, runs)
    sections += samples_section(trained, runs)
    sections += testtime_section(done, runs, base_rows, docs)
    (docs / "summaries.json").write_text(json.dumps(summaries, indent=1))
    out = docs / "results.md"
    out.write_text("\n".join(sections))
    return out


def testtime_section(done: list[Spec], runs: Path, base_rows: dict[int, dict], docs: Path) -> list[str]:
    """Picking one of k answers (scripts/testtime.py): the base model's evaluations pooled (the noise runs and
    each seed's step 0: n = 4 each), every main and beyond run's last evaluation (k <= 4), and the test-time
    evaluations of checkpoints (n = TESTTIME_N); a table and testtime.png (the curves with n >= 8)."""
    import plots
    import testtime
    base = [runs / s.name / "eval" / "step-0.json" for s in done if s.experiment == "noise"]
    base += [runs / s.name / "eval" / "step-0.json" for s in done
             if s.experiment not in EVALUATIONS and "init_from" not in s.flags and seed_of(s) in base_rows
             and (runs / s.name / "eval" / "step-0.json").exists()]
    base = [r for r in (json.loads(p.read_text()) for p in base) if r.get("problems")]
    rows = [("base model", testtime.curves(testtime.pool(base)))] if base else []
    for s in done:
        if s.experiment in ("main", "beyond"):  # the run's last evaluation, if it has one after step 0
            evals = sorted((runs / s.name / "eval").glob("step-*.json"), key=lambda p: int(p.stem[5:]))
            last = json.loads(evals[-1].read_text()) if evals and evals[-1].stem != "step-0" else {}
            if last.get("problems"):
                rows.append((f"{s.name} {evals[-1].stem.replace('-', ' ')}", testtime.curves(last["problems"])))
        elif s.experiment == "testtime" and (runs / s.name / "eval" / "testtime.json").exists():
            source, ckpt = s.flags["init_from"].split("/")
            rows.append((f"{source} step {ckpt[5:]}", testtime.curves(json.loads(
                (runs / s.name / "eval" / "testtime.json").read_text())["problems"])))
    if not rows:
        return []
    lines = ["## Test time: pass@k, and keeping the most certain, the majority or a random answer of k", "",
             "Expected pass of the one answer kept from k samples drawn from a problem's n (scripts/testtime.py): "
             "pass@k keeps a passing one if any (the ceiling), random any one (avg@n), most certain the highest "
             "mean self-certainty, majority the largest class of programs with the same outputs on the test "
             "inputs. ± one standard error over problems.", "", testtime.table(rows), ""]
    wide = [(label, c) for label, c in rows if c["n"] >= 8]
    if wide:
        plots.save(testtime.figure(wide), docs / "testtime.png")
        lines += ["![test time](testtime.png)", ""]
    return lines


def base_eval(base_rows: dict[int, dict], spec: Spec) -> tuple[int, float] | None:
    """(0, avg) of the base model's step-0 evaluation with the spec's seed."""
    row = base_rows.get(seed_of(spec))
    return (0, row[avg_key([row])]) if row else None
