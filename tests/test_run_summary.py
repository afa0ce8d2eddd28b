"""scripts/run_summary.py: first/last window means and the eval column on a synthetic run."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import run_summary  # noqa: E402


def test_first_and_last_window_means(tmp_path):
    rows = [{"step": 0, "eval/avg@4": 0.25}]
    for step in range(1, 7):
        rows.append({"step": step, "reward/mean": float(step), "train/pass_rate": 0.0, "response/length_mean": 10.0 * step,
                     "signal/token_entropy": 1.0, "signal/self_certainty": 2.0, "perf/rollout_s": step,
                     "perf/update_s": 1.0})
    rows[-1]["eval/avg@4"] = 0.5
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    s = run_summary.summarize(tmp_path, window=2)
    assert s["steps"] == 6
    assert s["reward"] == (1.5, 5.5)                 # mean of steps 1-2, of steps 5-6
    assert s["length"] == (15.0, 55.0)
    assert s["s/step"] == 5.0                        # median of 2..7 seconds (upper middle)
    assert s["eval"] == [(0, 0.25), (6, 0.5)]
