"""scripts/lab.py: which problems the lab takes, its summary numbers, and a whole lab on a tiny model."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import lab  # noqa: E402

import cli  # noqa: E402


def stat(qid, passed, tokens=(50, 50), truncated=0, n=8):
    return {"question_id": qid, "passed": passed, "n": n, "tokens": list(tokens), "truncated": truncated}


def test_problems_nearest_one_half_then_shortest():
    stats = [stat("never", 0), stat("always", 8), stat("cut", 4, truncated=1), stat("q7", 7),
             stat("half-long", 4, tokens=(200, 200)), stat("half-short", 4, tokens=(20, 40)), stat("three", 3),
             stat("five", 5, tokens=(10, 10))]
    # |p - 1/2|: half-* 0, five and three 1/8 (five shorter), q7 3/8; never, always and cut are excluded
    assert lab.select_problems(stats, 4) == ["half-short", "half-long", "five", "three"]
    with pytest.raises(cli.UserError, match="only 5 calibrated problems"):
        lab.select_problems(stats, 6)


def test_eval_summary_by_hand(tmp_path):
    samples = [{"passed": True, "self_certainty": 2.0, "tokens": 10}, {"passed": False, "self_certainty": 4.0,
                                                                         "tokens": 30}]
    report = {"problems": [{"samples": samples}, {"samples": [dict(samples[0])] * 2}]}
    (tmp_path / "r.json").write_text(json.dumps(report))
    s = lab.eval_summary(tmp_path / "r.json")
    assert s["pass_rate"] == 0.75 and s["samples"] == 4
    assert s["pass_rate_se"] == pytest.approx((0.75 * 0.25 / 4) ** 0.5)
    assert s["self_certainty"] == pytest.approx(2.5) and s["length"] == pytest.approx(15.0)
    # sample sds by hand: certainties 2, 4, 2, 2 (mean 2.5): sqrt(3 / 3) = 1; lengths 10, 30, 10, 10: sqrt(300 / 3) = 10
    assert s["self_certainty_se"] == pytest.approx(1 / 2) and s["length_se"] == pytest.approx(10 / 2)


def test_changes_against_their_noise_by_hand():
    start = {"pass_rate": 0.5, "pass_rate_se": 0.09, "self_certainty": 27.6, "self_certainty_se": 0.14,
             "length": 80.0, "length_se": 6.0}
    after = {"pass_rate": 0.75, "pass_rate_se": 0.12, "self_certainty": 27.9, "self_certainty_se": 0.48,
             "length": 88.0, "length_se": 8.0}
    lines = lab.changes([("start", start), ("after verifiable", after)])
    # pass rate: 0.25 / sqrt(0.09^2 + 0.12^2) = 0.25 / 0.15 = 1.67 s.e. (3-4-5 triangle): within noise;
    # certainty: 0.3 / sqrt(0.14^2 + 0.48^2) = 0.3 / 0.5 = 0.6; length: 8 / sqrt(36 + 64) = 0.8
    assert lines == ["after verifiable: pass rate +0.250 (1.7 s.e.): within noise",
                     "after verifiable: self-certainty +0.30 (0.6 s.e.): within noise",
                     "after verifiable: length +8.0 tokens (0.8 s.e.): within noise"]
    surer = dict(after, self_certainty=25.1, pass_rate=0.5)  # -2.5 / 0.5 = 5 s.e.; pass rate unchanged
    lines = lab.changes([("start", start), ("after self_certainty", surer)])
    assert lines[0] == "after self_certainty: pass rate +0.000 (0.0 s.e.): within noise"
    assert lines[1] == "after self_certainty: self-certainty -2.50 (5.0 s.e.): beyond noise"
    # a pass rate of 0 or 1 has a zero binomial s.e.: a change between two such rows is beyond noise
    zero = dict(start, pass_rate=0.0, pass_rate_se=0.0)
    assert lab.changes([("start", zero), ("after", dict(zero, pass_rate=1.0))])[0].endswith("(inf s.e.): beyond noise")


def test_a_whole_lab_on_a_tiny_model(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "lab"
    lab.main(["--model", tiny_model_dir, "--problems", "2", "--steps", "1", "--group-size", "2",
              "--max-new-tokens", "8", "--eval-n", "2", "--precision", "fp32", "--out", str(out)])
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["evals"]) == ["start", "after verifiable", "after self_certainty"]
    printed = capsys.readouterr().out  # the table, then each change read against its noise
    assert "Changes from the start" in printed and "\n  ".join(lab.changes(list(summary["evals"].items()))) in printed
    assert len(summary["problems"]) == 2 and len((out / "problems.jsonl").read_text().splitlines()) == 2
    assert (out / "lab.png").stat().st_size > 10_000
    steps_b = [json.loads(line)["step"] for line in (out / "self_certainty" / "metrics.jsonl").read_text().splitlines()]
    assert steps_b == [1]  # no step-0 evaluation of its own: run A's is the shared start
    assert summary["evals"]["start"] == lab.eval_summary(out / "verifiable" / "eval" / "step-0.json")
    assert not list(out.glob("*/ckpt-*"))  # --save-every 0: no 6 GB checkpoints on a student's disk
    # an exercise: rerun B only; A's files are reused as they are
    a_metrics = (out / "verifiable" / "metrics.jsonl").read_text()
    (out / "self_certainty" / "marker").write_text("")
    lab.main(["--model", tiny_model_dir, "--problems", "2", "--steps", "1", "--group-size", "2",
              "--max-new-tokens", "8", "--eval-n", "2", "--precision", "fp32", "--out", str(out), "--only", "B"])
    assert (out / "verifiable" / "metrics.jsonl").read_text() == a_metrics
    assert not (out / "self_certainty" / "marker").exists()  # B ran again from scratch
    assert len((out / "self_certainty" / "metrics.jsonl").read_text().splitlines()) == 1


def test_user_errors_name_the_problem(tmp_path):
    with pytest.raises(cli.UserError, match="both verifiable"):
        lab.main(["--reward-b", "verifiable", "--out", str(tmp_path)])
    with pytest.raises(cli.UserError, match="unknown reward 'certainty'"):
        lab.main(["--reward-b", "certainty", "--out", str(tmp_path)])
    with pytest.raises(cli.UserError, match="run the whole lab once first"):
        lab.main(["--only", "B", "--out", str(tmp_path / "empty")])


def test_the_lab_settings_reach_the_trainer(tmp_path, monkeypatch):
    """Every lab setting is a flag of the trainer's (the warm-up too: the lab's default is none); run B skips
    its own step-0 evaluation."""
    import argparse

    import train_grpo
    seen = []
    monkeypatch.setattr(train_grpo, "main", lambda flags: seen.append(flags))
    args = argparse.Namespace(model="m", precision=None, **{**lab.LAB, "warmup_steps": 3, "lr": 2e-6})
    (tmp_path / "p.jsonl").write_text("")  # parse_config checks that the data files exist
    lab.train("verifiable", args, tmp_path / "p.jsonl", tmp_path / "a", first=True)
    lab.train("self_certainty", args, tmp_path / "p.jsonl", tmp_path / "b", first=False)
    cfg = train_grpo.parse_config(seen[0])
    assert (cfg.warmup_steps, cfg.lr, cfg.steps, cfg.group_size) == (3, 2e-6, lab.LAB["steps"], lab.LAB["group_size"])
    assert not cfg.skip_first_eval and train_grpo.parse_config(seen[1]).skip_first_eval
    assert lab.LAB["warmup_steps"] == 0


@pytest.mark.parametrize("argv, size, expected", [
    (["--precision", "fp32"], "small", {"steps": 3, "group_size": 4, "eval_n": 4, "max_new_tokens": 144}),
    (["--precision", "bf16"], "full", {"steps": 6, "group_size": 8, "eval_n": 8, "max_new_tokens": 256}),
    (["--precision", "fp32", "--size", "full"], "full", {"steps": 6, "group_size": 8}),
    (["--precision", "fp32", "--steps", "5"], "small", {"steps": 5, "group_size": 4}),  # a flag beats the size
])
def test_the_lab_size_follows_the_precision(argv, size, expected, tmp_path, monkeypatch, capsys):
    """fp32-only machines get the small lab unless asked otherwise; a flag given overrides the size's value."""
    seen = []

    class Stop(Exception):
        pass

    def fake_train(reward, args, problems, out, first):
        seen.append(args)
        raise Stop

    monkeypatch.setattr(lab, "train", fake_train)
    with pytest.raises(Stop):
        lab.main(argv + ["--out", str(tmp_path)])
    assert {k: getattr(seen[0], k) for k in expected} == expected
    assert f"lab size: {size} " in capsys.readouterr().out
    assert lab.choose_size("small", "bf16") == "small" and lab.choose_size("full", "fp32") == "full"
