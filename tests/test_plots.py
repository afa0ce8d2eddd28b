"""plots.py: figures from synthetic run directories and reports, collapse steps on hand numbers, bad inputs."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import plots as P

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TITLES = ["validation accuracy (avg@4)", "response length", "reward", "thinking words", "repetition ratio",
          "trajectory entropy", "token entropy", "self-certainty", "probability disparity",
          "validation response length", "training pass rate", "truncated (no EOS)"]
TRAIN_KEYS = ["reward/mean", "train/pass_rate", "response/length_mean", "text/thinking_words",
              "text/repetition_ratio", "signal/trajectory_entropy", "signal/token_entropy",
              "signal/self_certainty", "signal/prob_disparity", "response/clipped_ratio"]


def write_run(root: Path, name: str, *, lengths=(50, 80, 100, 60, 45, 40), accuracy=(0.2, 0.4, 0.3, 0.1),
              drop=(), **config) -> Path:
    """A run directory as train_grpo.py writes it: eval at step 0 and every 2 steps, training metrics from step 1.

    `lengths` is response/length_mean at steps 1..; `accuracy` is eval/avg@4 at steps 0, 2, 4, ...;
    keys in `drop` are left out of every line."""
    run = root / name
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"reward": "entropy", "temperature": 1.0, "group_size": 4,
                                                 "out": str(run), **config}))
    evals = {2 * i: {"eval/avg@4": a, "eval/pass@4": min(1.0, 2 * a), "eval/response_length": 90.0 - 10 * i}
             for i, a in enumerate(accuracy)}
    lines = [{"step": 0, **evals[0]}]
    for step, length in enumerate(lengths, start=1):
        record = {"step": step, **{k: 0.1 * step for k in TRAIN_KEYS}, "response/length_mean": length}
        lines.append({**record, **evals.get(step, {})})
    lines = [{k: v for k, v in line.items() if k not in drop} for line in lines]
    (run / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return run


def panels(fig):
    """The titled axes of a figure (the grid's legend slot has no title), by title."""
    return {ax.get_title(): ax for ax in fig.axes if ax.get_title()}


# ---- the panel grid -------------------------------------------------------------------------------------------

def test_grid_has_every_panel_with_one_line_per_run(tmp_path):
    runs = [write_run(tmp_path, "a"), write_run(tmp_path, "b", temperature=1.2)]
    fig = P.plot_runs(runs)
    assert list(panels(fig)) == TITLES
    for title, ax in panels(fig).items():
        assert len(ax.lines) == 2, title


def test_grid_png_is_a_valid_non_empty_image(tmp_path):
    run = write_run(tmp_path, "a")
    out = P.main([str(run), "--out", str(tmp_path / "figs" / "grid.png")])
    data = out.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 10_000


def test_pdf_by_extension(tmp_path):
    run = write_run(tmp_path, "a")
    out = P.main([str(run), "--metric", "reward/mean", "--out", str(tmp_path / "reward.pdf")])
    data = out.read_bytes()
    assert data[:5] == b"%PDF-" and len(data) > 1000


def test_lines_follow_the_logged_points(tmp_path):
    """Training metrics from step 1 on; eval metrics at the evaluation steps only (0, 2, 4, 6)."""
    fig = P.plot_runs([write_run(tmp_path, "a")])
    length = panels(fig)["response length"].lines[0]
    accuracy = panels(fig)["validation accuracy (avg@4)"].lines[0]
    assert list(length.get_xdata()) == [1, 2, 3, 4, 5, 6]
    assert list(length.get_ydata()) == [50, 80, 100, 60, 45, 40]
    assert list(accuracy.get_xdata()) == [0, 2, 4, 6]
    assert list(accuracy.get_ydata()) == [0.2, 0.4, 0.3, 0.1]


def test_missing_metric_leaves_the_panel_titled_and_empty(tmp_path):
    runs = [write_run(tmp_path, "a", drop={"signal/prob_disparity", "text/thinking_words"}),
            write_run(tmp_path, "b", drop={"signal/prob_disparity"}, temperature=1.2)]
    by_title = panels(P.plot_runs(runs))
    nobody = by_title["probability disparity"]
    assert len(nobody.lines) == 0 and [t.get_text() for t in nobody.texts] == ["no data"]
    assert len(by_title["thinking words"].lines) == 1  # only run b logged it
    assert len(by_title["thinking words"].texts) == 0


def test_one_metric_only(tmp_path):
    runs = [write_run(tmp_path, "a"), write_run(tmp_path, "b", temperature=1.2)]
    fig = P.plot_runs(runs, metric="signal/token_entropy")
    assert [ax.get_title() for ax in fig.axes] == ["token entropy"]
    assert len(fig.axes[0].lines) == 2
    fig = P.plot_runs(runs, metric="eval/avg@k")
    assert [ax.get_title() for ax in fig.axes] == ["validation accuracy (avg@4)"]


def test_unknown_metric_is_an_empty_panel_and_a_warning(tmp_path, capsys):
    run = write_run(tmp_path, "a")
    P.main([str(run), "--metric", "signal/nope", "--out", str(tmp_path / "x.png")])
    assert "no run logged 'signal/nope'" in capsys.readouterr().err


# ---- labels and smoothing -------------------------------------------------------------------------------------

def test_labels_name_the_reward_and_the_settings_that_differ(tmp_path):
    runs = [P.load_run(write_run(tmp_path, "a", temperature=0.8)),
            P.load_run(write_run(tmp_path, "b", temperature=1.2)),
            P.load_run(write_run(tmp_path, "c", temperature=1.2, reward="verifiable", micro_batch_tokens=768))]
    # "out" and micro_batch_tokens differ too, but where a run was written and how it was computed do not label it
    assert P.run_labels(runs) == ["entropy, T=0.8", "entropy, T=1.2", "verifiable, T=1.2"]
    assert P.run_labels(runs[:1]) == ["entropy"]


def test_identical_settings_are_told_apart_by_directory(tmp_path):
    runs = [P.load_run(write_run(tmp_path, "a")), P.load_run(write_run(tmp_path, "b"))]
    assert P.run_labels(runs) == ["entropy (a)", "entropy (b)"]


def test_legend_carries_the_labels(tmp_path):
    runs = [write_run(tmp_path, "a", kl_beta=0.0), write_run(tmp_path, "b", kl_beta=0.001)]
    fig = P.plot_runs(runs)
    legend = next(ax.get_legend() for ax in fig.axes if ax.get_legend())
    assert [t.get_text() for t in legend.get_texts()] == ["entropy, β=0", "entropy, β=0.001"]


def test_moving_average_is_trailing_on_hand_numbers():
    np.testing.assert_allclose(P.moving_average([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5])
    np.testing.assert_allclose(P.moving_average([3, 6, 9, 0], 3), [3, 4.5, 6, 5])
    np.testing.assert_allclose(P.moving_average([1, 2], 1), [1, 2])


def test_smoothing_applies_to_training_metrics_not_to_evals(tmp_path):
    fig = P.plot_runs([write_run(tmp_path, "a", lengths=(10, 20, 30, 40))], smooth=2)
    assert list(panels(fig)["response length"].lines[0].get_ydata()) == [10, 15, 25, 35]
    assert list(panels(fig)["validation accuracy (avg@4)"].lines[0].get_ydata()) == [0.2, 0.4, 0.3]


# ---- collapse -------------------------------------------------------------------------------------------------

def test_collapse_step_on_hand_numbers():
    steps = [1, 2, 3, 4, 5]
    assert P.collapse_step(steps, [10, 20, 30, 14, 5], 0.5) == 4   # 14 < 0.5 * 30
    assert P.collapse_step(steps, [10, 20, 30, 15, 16], 0.5) is None  # 15 is not below 15
    assert P.collapse_step(steps, [4, 1, 5, 6, 7], 0.5) == 2       # the running peak may be the first point
    assert P.collapse_step(steps, [10, 9, 7.9, 1, 1], 0.8) == 3    # 9 >= 8, 7.9 < 8
    assert P.collapse_step(steps, [0, 0, 0, 0, 0], 0.5) is None    # never above zero: nothing to collapse from
    assert P.collapse_step([], [], 0.5) is None


def test_collapse_marker_at_the_hand_computed_step(tmp_path):
    """Length 50, 80, 100, 60, 45, 40 at steps 1..6: 45 < 0.5 * 100 first, at step 5.
    Accuracy 0.2, 0.4, 0.3, 0.1 at steps 0, 2, 4, 6: 0.1 < 0.5 * 0.4 first, at step 6."""
    fig = P.plot_runs([write_run(tmp_path, "a")], collapse=0.5)
    by_title = panels(fig)
    for title, point in (("response length", [5, 45]), ("validation accuracy (avg@4)", [6, 0.1])):
        ax = by_title[title]
        markers = [c for c in ax.collections if c.get_gid() == "collapse"]
        assert [list(m.get_offsets()[0]) for m in markers] == [point]
        assert len(ax.lines) == 1  # the marker is not counted as a line
    assert not [c for c in by_title["reward"].collections if c.get_gid() == "collapse"]


def test_collapse_fraction_and_cli_report(tmp_path, capsys):
    """With fraction 0.9 the length collapses at step 4 (60 < 90); the CLI prints each run's step."""
    run = write_run(tmp_path, "a")
    P.main([str(run), "--collapse", "0.9", "--out", str(tmp_path / "c.png")])
    out = capsys.readouterr().out
    assert "response/length_mean at step 4" in out and "eval/avg@4 at step 4" in out  # 0.3 < 0.36


def test_no_collapse_no_marker(tmp_path):
    fig = P.plot_runs([write_run(tmp_path, "a", lengths=(10, 20, 30), accuracy=(0.1, 0.2))], collapse=0.5)
    assert not [c for ax in fig.axes for c in ax.collections if c.get_gid() == "collapse"]


# ---- pass@k ---------------------------------------------------------------------------------------------------

def write_report(path: Path, pass_at_k: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"avg": pass_at_k["1"], "pass_at_k": pass_at_k, "problems": []}))
    return path


def test_passk_curves_one_line_per_report(tmp_path):
    early = write_report(tmp_path / "runA" / "eval" / "step-0.json", {"1": 0.1, "2": 0.18, "4": 0.3, "3": 0.25})
    late = write_report(tmp_path / "final.json", {"1": 0.2, "2": 0.3})
    fig = P.plot_passk([early, late])
    ax = fig.axes[0]
    assert ax.get_title() == "pass@k" and len(ax.lines) == 2
    assert list(ax.lines[0].get_xdata()) == [1, 2, 3, 4]           # sorted by k as a number
    assert list(ax.lines[0].get_ydata()) == [0.1, 0.18, 0.25, 0.3]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["runA step 0", "final"]


def test_passk_reads_the_report_lcb_eval_writes(tmp_path):
    """The format contract: a report from lcb_eval.summarize plots as pass@k for k = 1..n."""
    import lcb_eval
    sample = {"tokens": 10, "clipped": False, "status": "passed"}
    records = [{"num_correct": c, "samples": [sample] * 4, "difficulty": "easy", "platform": "atcoder"}
               for c in (0, 1, 4)]
    report = lcb_eval.summarize(records, n=4)
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    line = P.plot_passk([path]).axes[0].lines[0]
    assert list(line.get_xdata()) == [1, 2, 3, 4]
    np.testing.assert_allclose(line.get_ydata(), [report["pass_at_k"][str(k)] for k in range(1, 5)])
    assert line.get_ydata()[0] == pytest.approx((0 + 0.25 + 1) / 3)  # pass@1 = mean fraction correct


def test_passk_cli_writes_png(tmp_path):
    report = write_report(tmp_path / "r.json", {"1": 0.5, "2": 0.75})
    out = P.main(["passk", str(report), "--out", str(tmp_path / "passk.png")])
    assert out.read_bytes()[:8] == PNG_SIGNATURE


def test_passk_rejects_a_file_that_is_not_a_report(tmp_path):
    bad = tmp_path / "metrics.json"
    bad.write_text(json.dumps({"avg": 0.3}))
    with pytest.raises(P.PlotInputError, match="metrics.json.*pass_at_k"):
        P.plot_passk([bad])


# ---- bad inputs -----------------------------------------------------------------------------------------------

def test_not_a_run_directory_is_named(tmp_path):
    with pytest.raises(P.PlotInputError, match="nowhere is not a run directory"):
        P.load_run(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    script = Path(__file__).resolve().parents[1] / "plots.py"
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "empty"), "--out", str(tmp_path / "x.png")],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "MPLBACKEND": ""})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert re.fullmatch(r"error: .*empty is not a run directory: it has no metrics.jsonl\n", done.stderr)


def test_malformed_line_names_file_and_line(tmp_path):
    run = write_run(tmp_path, "a")
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 7, "reward/mean": 0.\n')
    with pytest.raises(P.PlotInputError, match=r"a[/\\]metrics.jsonl:8: not a JSON object"):
        P.load_run(run)
    (run / "metrics.jsonl").write_text('{"step": 1}\n[1, 2]\n')
    with pytest.raises(P.PlotInputError, match=r"metrics.jsonl:2: expected a JSON object"):
        P.load_run(run)


def test_bad_flags_are_refused(tmp_path):
    run = str(write_run(tmp_path, "a"))
    for flags in (["--smooth", "0"], ["--collapse", "1.5"]):
        with pytest.raises(SystemExit):
            P.main([run, *flags])


def test_cli_runs_headless_as_a_script(tmp_path):
    """The real command line in a fresh interpreter with no display (Agg is chosen by plots.py itself)."""
    run = write_run(tmp_path, "a")
    out = tmp_path / "grid.png"
    env = {"PATH": "/usr/bin:/bin", "MPLBACKEND": "", "MPLCONFIGDIR": str(tmp_path / "mpl")}
    script = Path(__file__).resolve().parents[1] / "plots.py"
    done = subprocess.run([sys.executable, str(script), str(run), "--out", str(out)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes()[:8] == PNG_SIGNATURE


def test_seeds_of_one_setting_are_one_colour_with_mean_and_band(tmp_path):
    """Two seeds of a setting: one line at their mean (hand numbers), a fill between their min and max, one
    legend entry; a setting with one seed stays a plain line."""
    runs = [write_run(tmp_path, "a0", seed=0, lengths=(10, 20, 30)),
            write_run(tmp_path, "a1", seed=1, lengths=(30, 40, 50, 60), micro_batch_tokens=768),  # same setting
            write_run(tmp_path, "b0", seed=0, lengths=(5, 5, 5), temperature=1.2)]
    fig = P.plot_runs(runs, seeds_as_band=True)
    length = panels(fig)["response length"]
    assert len(length.lines) == 2
    assert list(length.lines[0].get_xdata()) == [1, 2, 3]  # the steps both seeds logged
    assert list(length.lines[0].get_ydata()) == [20.0, 30.0, 40.0]
    bands = length.collections
    assert len(bands) == 1  # only the two-seed setting has a band
    ys = bands[0].get_paths()[0].vertices[:, 1]
    assert ys.min() == 10.0 and ys.max() == 50.0
    legend = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert legend == ["entropy, T=1 (2 seeds)", "entropy, T=1.2"]
