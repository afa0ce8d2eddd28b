"""scripts/study.py: every run's command is a valid train_grpo configuration, and the report's numbers."""
import json
import sys
from pathlib import Path

import pytest

import train_grpo as G

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import study  # noqa: E402
import study_report  # noqa: E402


@pytest.mark.parametrize("scale", ["full", "quick"])
def test_every_run_is_a_valid_config_differing_only_in_its_experiment(scale, tmp_path):
    specs = study.study_specs(scale)
    names = [s.name for s in specs]
    assert len(set(names)) == len(names)
    base = study.SCALES[scale]
    for spec in specs:  # the checkpoints the RLIF -> RLVR runs start from, as their source run leaves them
        if "init_from" in spec.flags:
            (tmp_path / spec.flags["init_from"]).mkdir(parents=True, exist_ok=True)
            (tmp_path / spec.flags["init_from"] / "model.safetensors").touch()
    first = study.first_runs(specs)
    assert first == {s.name for s in specs if s.experiment == "main" and s.flags["reward"] == "verifiable"}
    for spec in specs:
        argv = study.command(spec, scale, tmp_path, first=spec.name in first)
        if spec.experiment in study.EVALUATIONS:  # lcb_eval with the runs' validation settings
            assert argv[argv.index("--max-new-tokens") + 1] == str(base["max_new_tokens"])
            assert argv[argv.index("--data") + 1] == base.get("val_data", "embedded:val")
            if spec.experiment == "noise":  # the base model with its own seed
                assert argv[1].endswith("lcb_eval.py") and argv[argv.index("--seed") + 1] == str(spec.flags["seed"])
                continue
            # a checkpoint that its source writes and keeps, with more samples, behaviours annotated
            assert argv[1].endswith("testtime.py") and argv[2] == "evaluate"
            assert argv[argv.index("--n") + 1] == str(study.TESTTIME_N[scale]) and study.TESTTIME_N[scale] > base["eval_n"]
            model = Path(argv[argv.index("--model") + 1])
            assert model == tmp_path / spec.flags["init_from"] and spec.after == model.parent.name
            src = {**base, **next(s for s in specs if s.name == spec.after).flags}
            assert int(model.name[5:]) % src["save_every"] == 0 or int(model.name[5:]) == src["steps"]
            continue
        cfg = G.parse_config(argv[2:])  # validates too
        assert cfg.out == str(tmp_path / spec.name)
        assert cfg.skip_first_eval == (spec.name not in first)
        for key, value in base.items():  # the shared settings, except what the experiment varies
            expected = spec.flags.get(key, value)
            assert getattr(cfg, key) == expected, (spec.name, key)
        if cfg.init_from:
            source, ckpt = Path(cfg.init_from).parent.name, Path(cfg.init_from).name
            assert spec.after == source and Path(cfg.init_from).parent.parent == tmp_path
            step = int(ckpt[5:])
            src = {**base, **next(s for s in specs if s.name == source).flags}
            # the checkpoint is one the source writes, at a step it also evaluates (the shared evaluation)
            assert step % src["save_every"] == 0 or step == src["steps"]
            assert step % src["eval_every"] == 0 or step == src["steps"]
    experiments = {s.experiment for s in specs}
    assert experiments == {"main", "noise", "beyond", "sensitivity", "rlif_rlvr", "testtime"}
    rlif = {s.after for s in specs if s.experiment == "rlif_rlvr" and s.after}
    assert len([s for s in specs if s.experiment == "rlif_rlvr"]) >= 4 and len(rlif) >= 2  # the issue's minimum
    main = [(s.flags["reward"], s.flags["seed"]) for s in specs if s.experiment == "main"]
    assert sorted(main) == sorted((r, seed) for r in study.MAIN_REWARDS for seed in study.SEEDS[scale])
    assert len(study.SEEDS[scale]) >= 2


def test_the_full_scale_is_the_issue_s_study():
    """The main comparison on the default model from the base weights: calibrated pools, N >= 8, 40+ steps."""
    import model as M
    full = study.SCALES["full"]
    assert "model" not in full or full["model"] == M.DEFAULT_MODEL
    assert full["group_size"] >= 8 and full["steps"] >= 40
    assert full["data"].endswith("pool_train.jsonl") and full["val_data"].endswith("pool_val.jsonl")
    assert not any("init_from" in s.flags for s in study.study_specs("full") if s.experiment == "main")


def write_run(run: Path, rows: list[dict]) -> Path:
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / "config.json").write_text("{}")
    return run


def train_row(step, length, rollout_s=10.0, update_s=20.0, **extra):
    return {"step": step, "reward/mean": 0.0, "train/pass_rate": 0.25, "response/length_mean": length,
            "response/clipped_ratio": 0.5, "signal/token_entropy": 1.0, "signal/self_certainty": 20.0,
            "text/repetition_ratio": 0.0, "perf/rollout_s": rollout_s, "perf/update_s": update_s, **extra}


def test_run_summary_peak_final_and_first_last_means(tmp_path):
    rows = [train_row(1, 100), train_row(2, 90, update_s=40), train_row(3, 80, **{"eval/avg@8": 0.25}),
            train_row(4, 50), train_row(5, 40), train_row(6, 30, **{"eval/avg@8": 0.125})]
    summary = study_report.run_summary(write_run(tmp_path / "r", rows), base_eval=(0, 0.0625), window=2)
    assert summary["evals"] == [(0, 0.0625), (3, 0.25), (6, 0.125)]  # the shared step-0 evaluation first
    assert (summary["val start"], summary["val peak"], summary["peak step"], summary["val final"]) == \
        (0.0625, 0.25, 3, 0.125)
    assert summary["length"] == (95.0, 35.0)  # means of the first and of the last 2 steps
    assert summary["s/step"] == 30.0          # median of 30, 60, 30, 30, 30, 30
    assert summary["steps"] == 6


def test_selection_table_hand_example():
    """One problem, 4 samples, certainties 4 > 3 > 2 > 1 and only the second passes: a random pick is 1/4;
    the most certain of 2 is the second one when it is drawn with sample 3 or 4: 2 of the 6 pairs."""
    import testtime
    samples = [{"self_certainty": c, "passed": p} for c, p in [(4, False), (3, True), (2, False), (1, False)]]
    table = testtime.table([("x", testtime.curves([{"question_id": "q", "samples": samples}]))])
    rows = {r.split("|")[2].strip(): [c.strip() for c in r.strip("|").split("|")] for r in table.split("\n\n")[0].splitlines()[2:]}
    assert set(rows) == {"pass@k", "random", "most certain"}  # no behaviours: no majority row
    assert rows["most certain"][2:5] == ["0.250", "0.333", "0.000"]  # k = 1, 2, 4
    assert rows["pass@k"][2:5] == ["0.250", "0.500", "1.000"]
    assert rows["random"][-1] == "k=4: 0.250 ± 0.000"


def test_a_run_from_a_checkpoint_starts_at_its_source_evaluation(tmp_path):
    write_run(tmp_path / "src", [train_row(3, 80, **{"eval/avg@8": 0.5}), train_row(6, 70, **{"eval/avg@8": 0.375})])
    spec = study.Spec("rlvr", "rlif_rlvr", {"init_from": "src/ckpt-6"}, after="src")
    assert study_report.starting_eval(spec, tmp_path, base_eval=(0, 0.1)) == (0, 0.375)
    assert study_report.starting_eval(study.Spec("x", "main"), tmp_path, base_eval=(0, 0.1)) == (0, 0.1)


def test_a_run_with_its_final_checkpoint_counts_as_done(tmp_path):
    run = tmp_path / "r"
    (run / "ckpt-6").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"steps": 12}))
    (run / "ckpt-6" / "state.json").write_text("{}")
    assert not study.is_done(tmp_path, "r")  # an intermediate checkpoint only
    (run / "ckpt-12").mkdir()
    assert not study.is_done(tmp_path, "r")  # the final one, still being written
    (run / "ckpt-12" / "state.json").write_text("{}")
    assert study.is_done(tmp_path, "r")


def test_run_summary_up_to_a_step(tmp_path):
    rows = [train_row(s, 100 - 10 * s, **({"eval/avg@8": s / 10} if s % 2 == 0 else {})) for s in range(1, 7)]
    summary = study_report.run_summary(write_run(tmp_path / "r", rows), base_eval=None, window=1, max_step=4)
    assert summary["run"] == "r (steps 1-4)" and summary["steps"] == 4
    assert summary["evals"] == [(2, 0.2), (4, 0.4)] and summary["length"] == (90.0, 60.0)


def test_adopted_run_holds_its_slot_until_its_process_exits(tmp_path):
    import subprocess
    run = tmp_path / "r"
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "--out", str(run)])
    try:
        adopted = study.Adopted(tmp_path, "r")
        assert adopted.poll() is None
    finally:
        proc.kill()
        proc.wait()
    assert adopted.poll() == 1  # exited without its final checkpoint: failed


def test_runs_that_skipped_their_first_evaluation_are_drawn_from_their_starting_one(tmp_path):
    base_row = {"step": 0, "eval/avg@8": 0.1, "eval/response_length": 90.0}
    write_run(tmp_path / "src", [train_row(6, 70, **{"eval/avg@8": 0.3, "eval/response_length": 50.0})])
    write_run(tmp_path / "a", [train_row(1, 80)])
    write_run(tmp_path / "b", [train_row(1, 80)])
    a = study_report.with_starting_eval(tmp_path / "a", study.Spec("a", "main"), tmp_path, base_row)
    assert a.records[0] == base_row and a.records[1]["step"] == 1
    b = study_report.with_starting_eval(tmp_path / "b", study.Spec("b", "rlif_rlvr", {"init_from": "src/ckpt-6"}),
                                 tmp_path, base_row)
    assert b.records[0] == {"step": 0, "eval/avg@8": 0.3, "eval/response_length": 50.0}
    own = study_report.with_starting_eval(tmp_path / "src", study.Spec("src", "main"), tmp_path, None)
    assert [r["step"] for r in own.records] == [6]  # nothing to add without a starting evaluation


def ckpt(run: Path, step: int, complete: bool = True) -> Path:
    path = run / f"ckpt-{step}"
    path.mkdir(parents=True)
    if complete:
        (path / "state.json").write_text(json.dumps({"step": step}))
    return path


def test_an_interrupted_run_resumes_from_its_newest_complete_checkpoint(tmp_path):
    spec = study.Spec("r", "main", {"reward": "random"})
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"steps": 40}))
    assert not study.resumable(tmp_path, spec)  # no checkpoint yet: starts again
    ckpt(run, 5), ckpt(run, 10), ckpt(run, 15, complete=False)
    assert study.resumable(tmp_path, spec)
    assert [c.name for c in study.checkpoints(run)] == ["ckpt-5", "ckpt-10"]  # 15 is half-written
    assert not study.resumable(tmp_path, study.Spec("r", "noise", {}))  # an evaluation starts again


def test_pruning_keeps_the_newest_checkpoint_and_the_needed_ones(tmp_path):
    run = tmp_path / "sc"
    for step in (5, 10, 15, 20):
        ckpt(run, step)
    ckpt(run, 25, complete=False)  # being written: untouched
    study.prune_checkpoints(run, needed={"sc/ckpt-10"})
    assert sorted(p.name for p in run.glob("ckpt-*")) == ["ckpt-10", "ckpt-20", "ckpt-25"]


def test_publish_copies_small_files_and_trims_samples(tmp_path):
    run = write_run(tmp_path / "runs" / "r", [train_row(1, 80)])
    ckpt(run, 1)
    (run / "DONE").write_text("3.0 min\n")
    (run / "eval").mkdir()
    (run / "eval" / "step-0.json").write_text('{"avg": 0.5}')
    import lcb_eval
    problem = lcb_eval.load_problems("embedded:val")[0]  # the run's validation data (embedded:val by default)
    report = {"avg": 0.0, "problems": [{"question_id": problem.question_id, "samples": [
        {"text": "```python\nprint(1)\n```", "passed": False}]}]}
    (run / "eval" / "step-2.json").write_text(json.dumps(report))
    long = "x" * (study.SAMPLE_TEXT_CHARS + 50)
    (run / "samples.jsonl").write_text(json.dumps({"step": 1, "prompt": "p" * 5000, "completions": [
        {"text": long, "reward": 1.0}]}) + "\n")
    dest = tmp_path / "docs" / "runs" / "r"
    study.publish(run, dest)
    assert sorted(p.name for p in dest.iterdir()) == ["DONE", "config.json", "eval", "metrics.jsonl", "samples.jsonl"]
    published = json.loads((dest / "eval" / "step-2.json").read_text())["problems"][0]["samples"][0]
    assert "behaviour" in published  # annotated for the majority pick (the run's own copy is left as it was)
    assert "behaviour" not in json.loads((run / "eval" / "step-2.json").read_text())["problems"][0]["samples"][0]
    record = json.loads((dest / "samples.jsonl").read_text())
    assert "prompt" not in record and record["completions"][0] == {"text": long[:study.SAMPLE_TEXT_CHARS],
                                                                   "reward": 1.0}


def publish_fake(docs: Path, name: str, rows: list[dict], config: dict | None = None, report: dict | None = None):
    run = docs / "runs" / name
    run.mkdir(parents=True)
    (run / "DONE").write_text("1 min\n")
    if rows:
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (run / "config.json").write_text(json.dumps(config or {}))
    if report is not None:
        (run / "eval").mkdir()
        (run / "eval" / "step-0.json").write_text(json.dumps(report))


def test_noise_resolution_and_verdicts_by_hand(tmp_path):
    """Base evaluations 0.50 and 0.54 (the two seeds' step 0) and 0.46, 0.50 (noise runs): sd = 0.0327,
    resolution 2 sqrt(2) sd = 0.0924. A reward whose seeds end +0.20 and +0.12 rises; +0.05 and -0.01 is flat."""
    docs = tmp_path / "docs"
    specs = [study.Spec("noise-s100", "noise", {"seed": 100}), study.Spec("noise-s101", "noise", {"seed": 101})]
    for s, avg in zip(specs, (0.46, 0.50)):
        publish_fake(docs, s.name, [], report={"avg": avg})
    finals = {("verifiable", 0): 0.70, ("verifiable", 1): 0.66, ("random", 0): 0.55, ("random", 1): 0.53}
    for (reward, seed), final in finals.items():
        spec = study.Spec(f"{reward}-s{seed}", "main", {"reward": reward, "seed": seed})
        specs.append(spec)
        start = [{"step": 0, "eval/avg@4": (0.50, 0.54)[seed]}] if reward == "verifiable" else []
        publish_fake(docs, spec.name, start + [train_row(1, 80), train_row(2, 80, **{"eval/avg@4": final})],
                     config={"reward": reward, "seed": seed})
    rows = study_report.base_evaluations(specs, docs / "runs")
    assert {seed: row["eval/avg@4"] for seed, row in rows.items()} == {0: 0.50, 1: 0.54}
    lines, resolution = study_report.noise_section(specs, docs / "runs", rows)
    assert resolution == pytest.approx(2 * 2**0.5 * 0.032660, abs=1e-5)
    out = study_report.report(specs, docs)
    table = out.read_text()
    assert "| verifiable | 2 | 0.500, 0.540 |" in table and "| +0.160 | rises |" in table
    assert "| random | 2 | 0.500, 0.540 |" in table and "| +0.020 | flat (within noise) |" in table
    first = table
    assert study_report.report(specs, docs).read_text() == first  # regenerated identically
    assert (docs / "main.png").stat().st_size > 0


def test_kinds_section_splits_the_pass_rate_by_kind_of_test(tmp_path):
    """One function problem and one stdin problem (real rows of the validation pool), 4 answers each. Step 0
    (verifiable-s0's, shared by random-s0): function 3/4, stdin 1/4; verifiable-s0 at step 2: 2/4 and 4/4;
    random-s0 at step 2: 4/4 and 0/4."""
    pool = [json.loads(line) for line in (study.ROOT / "docs/study/calibration/pool_val.jsonl").read_text().splitlines()]
    function = next(r for r in pool if r["starter_code"])
    stdin = next(r for r in pool if not r["starter_code"])
    val = tmp_path / "val.jsonl"
    val.write_text(json.dumps(function) + "\n" + json.dumps(stdin) + "\n")

    def report(f_passed, s_passed):
        return {"problems": [{"question_id": row["question_id"], "samples": [{"passed": i < k} for i in range(4)]}
                             for row, k in ((function, f_passed), (stdin, s_passed))]}
    runs = tmp_path / "runs"
    specs = [study.Spec("verifiable-s0", "main", {"reward": "verifiable", "seed": 0}),
             study.Spec("random-s0", "main", {"reward": "random", "seed": 0})]
    for spec, last in zip(specs, (report(2, 4), report(4, 0))):
        (runs / spec.name / "eval").mkdir(parents=True)
        (runs / spec.name / "config.json").write_text(json.dumps({"val_data": str(val)}))
        (runs / spec.name / "eval" / "step-2.json").write_text(json.dumps(last))
    (runs / "verifiable-s0" / "eval" / "step-0.json").write_text(json.dumps(report(3, 1)))
    text = "\n".join(study_report.kinds_section(specs, runs))
    assert "| verifiable-s0 | 2 | functional 0.750 → 0.500 (4); stdin 0.250 → 1.000 (4) |" in text
    assert "| random-s0 | 2 | functional 0.750 → 1.000 (4); stdin 0.250 → 0.000 (4) |" in text
    # a run that evaluated its own step 0 (on another machine the same seed may sample otherwise) starts there
    (runs / "random-s0" / "eval" / "step-0.json").write_text(json.dumps(report(1, 3)))
    text = "\n".join(study_report.kinds_section(specs, runs))
    assert "| random-s0 | 2 | functional 0.250 → 1.000 (4); stdin 0.750 → 0.000 (4) |" in text


def test_reward_table_says_when_the_seeds_disagree():
    """Resolution 0.05: +0.13 and -0.19 average to -0.03, which is not "flat": one seed rises, one falls."""
    specs = [study.Spec(f"r-s{seed}", "main", {"reward": "r", "seed": seed}) for seed in (0, 1)]
    summaries = {"r-s0": {"val start": 0.61, "val final": 0.74, "val peak": 0.78, "peak step": 30},
                 "r-s1": {"val start": 0.58, "val final": 0.39, "val peak": 0.58, "peak step": 0}}
    row = study_report.reward_table(specs, summaries, 0.05).splitlines()[-1]
    assert row.endswith("| -0.030 | seeds disagree (one rises, one falls) |"), row
    summaries["r-s1"]["val final"] = 0.60  # +0.13 and +0.02: mean +0.075, both above zero
    assert study_report.reward_table(specs, summaries, 0.05).endswith("| +0.075 | rises |")


def test_samples_section_shows_the_same_problem_at_step_0_and_at_the_end(tmp_path):
    def report(text_a, status_a):
        return {"problems": [{"question_id": "q1", "samples": [{"text": text_a, "status": status_a, "tokens": 3}]},
                             {"question_id": "q2", "samples": [{"text": "other", "status": "passed", "tokens": 1}]}]}
    runs = tmp_path / "runs"
    a, b = study.Spec("verifiable-s0", "main", {"reward": "verifiable", "seed": 0}), \
        study.Spec("random-s0", "main", {"reward": "random", "seed": 0})
    for spec, last in ((a, report("print(1) <ok>", "passed")), (b, report("x" * 2000, "wrong_answer"))):
        (runs / spec.name / "eval").mkdir(parents=True)
        (runs / spec.name / "eval" / "step-40.json").write_text(json.dumps(last))
    (runs / a.name / "eval" / "step-0.json").write_text(json.dumps(report("def f(): pass", "runtime_error")))
    text = "\n".join(study_report.samples_section([a, b], runs))
    assert text.count("<details>") == 2 and "q2" not in text
    assert "step 0: runtime_error" in text and "step 40: passed" in text
    assert "print(1) &lt;ok&gt;" in text  # escaped inside <pre>
    assert "x" * study_report.SHOWN_CHARS + " [...]" in text and "x" * (study_report.SHOWN_CHARS + 1) not in text


def test_runs_published_by_an_earlier_session_are_not_run_again(tmp_path):
    docs, runs = tmp_path / "docs", tmp_path / "runs"
    specs = [study.Spec("a", "main", {"reward": "random"}), study.Spec("b", "main", {"reward": "random"})]
    for spec in specs:
        (docs / "runs" / spec.name).mkdir(parents=True)
        (docs / "runs" / spec.name / "DONE").write_text("61.0 min\n")
    assert study.finished(runs, docs, "a") and not study.finished(runs, None, "a")
    (docs / "runs" / "b" / "DONE").unlink()  # published without its mark: an unfinished run
    assert not study.finished(runs, docs, specs[1])
    (docs / "runs" / "b" / "DONE").write_text("61.0 min\n")
    assert study.run_all(specs, "quick", runs, jobs=1, docs=docs) == []
    assert not any((runs / s.name).exists() for s in specs)  # nothing started


def test_max_runs_starts_only_that_many_and_publishes_them(tmp_path, monkeypatch):
    monkeypatch.setattr(study, "command", lambda spec, scale, runs, first: [sys.executable, "-c", "pass"])
    specs = [study.Spec(name, "main", {"reward": "random"}) for name in ("a", "b", "c")]
    docs, runs = tmp_path / "docs", tmp_path / "runs"
    assert study.run_all(specs, "quick", runs, jobs=1, docs=docs, max_runs=2) == []
    assert [s.name for s in specs if study.finished(runs, docs, s)] == ["a", "b"]
    assert (docs / "runs" / "b" / "DONE").exists() and not (runs / "c").exists()
    assert study.run_all(specs, "quick", runs, jobs=1, docs=docs, max_runs=2) == []  # the next session: c
    assert study.finished(runs, docs, "c")


def test_only_a_later_run_of_a_seed_still_skips_step_0(tmp_path, monkeypatch):
    """--only trajectory_entropy-s1: verifiable-s1 (the seed's first run) evaluated step 0, so this one skips it."""
    firsts = {}

    def command(spec, scale, runs, first):
        firsts[spec.name] = first
        return [sys.executable, "-c", "pass"]
    monkeypatch.setattr(study, "command", command)
    monkeypatch.setattr(study_report, "report", lambda specs, docs: docs / "results.md")
    study.main(["--quick", "--only", "trajectory_entropy-s1", "--runs", str(tmp_path / "runs"),
                "--docs", str(tmp_path / "docs")])
    assert firsts == {"trajectory_entropy-s1": False}
    firsts.clear()
    study.main(["--quick", "--only", "verifiable-s1", "--runs", str(tmp_path / "runs2"),
                "--docs", str(tmp_path / "docs2")])
    assert firsts == {"verifiable-s1": True}


def test_a_run_from_a_checkpoint_goes_first_and_one_whose_checkpoint_is_gone_is_skipped(tmp_path, monkeypatch):
    """a finished in an earlier session: b (from a's checkpoint, here) starts before c, which was listed
    first; d's source finished on another machine (no checkpoint here): skipped, not failed."""
    order = tmp_path / "order"
    monkeypatch.setattr(study, "command", lambda spec, scale, runs, first: [
        sys.executable, "-c", f"open({str(order)!r}, 'a').write({spec.name!r} + ' ')"])
    docs, runs = tmp_path / "docs", tmp_path / "runs"
    for source in ("a", "e"):
        (docs / "runs" / source).mkdir(parents=True)
        (docs / "runs" / source / "DONE").write_text("60 min\n")
    (runs / "a" / "ckpt-10").mkdir(parents=True)
    (runs / "a" / "ckpt-10" / "model.safetensors").touch()
    specs = [study.Spec("a", "main", {"reward": "random"}), study.Spec("e", "main", {"reward": "random"}),
             study.Spec("c", "main", {"reward": "random"}),
             study.Spec("b", "rlif_rlvr", {"init_from": "a/ckpt-10"}, after="a"),
             study.Spec("d", "rlif_rlvr", {"init_from": "e/ckpt-10"}, after="e")]
    assert study.run_all(specs, "quick", runs, jobs=1, docs=docs) == []
    assert order.read_text().split() == ["b", "c"]
    assert not study.finished(runs, docs, "d")
    assert study.needed_checkpoints(specs, runs, docs) == {"e/ckpt-10"}  # b is done: a's checkpoint can go
