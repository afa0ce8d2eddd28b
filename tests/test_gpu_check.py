"""scripts/gpu_check.py: random weights of a config's shape, and the per-step timings it reads back."""
import json
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import gpu_check  # noqa: E402

import cli  # noqa: E402


def test_random_weights_of_the_config_s_shape_with_its_tokenizer(tied_model_dir, tmp_path):
    dest = gpu_check.random_model_dir(Path(tied_model_dir), tmp_path / "m", seed=1)
    ours, theirs = load_file(dest / "model.safetensors"), load_file(Path(tied_model_dir) / "model.safetensors")
    assert ours.keys() == theirs.keys()
    assert all(ours[k].shape == theirs[k].shape for k in ours)
    assert any(not (ours[k] == theirs[k]).all() for k in ours)  # new weights, not a copy
    assert (dest / "tokenizer.json").exists() and (dest / "config.json").exists()
    with pytest.raises(cli.UserError, match="config.json does not exist"):
        gpu_check.random_model_dir(tmp_path / "nothing", tmp_path / "m2")


def test_two_steps_report_each_step_and_the_median_after_the_first(tied_model_dir, tmp_path):
    gpu_check.main(["--config-dir", tied_model_dir, "--device", "cpu", "--precisions", "fp32", "--steps", "3",
                    "--prompts-per-step", "1", "--group-size", "2", "--max-new-tokens", "6", "--micro-batch-size", "2",
                    "--reward", "random", "--out", str(tmp_path / "out")])
    result = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    (run,) = result["runs"]
    assert [s["step"] for s in run["steps"]] == [1, 2, 3]
    later = sorted(s["step_s"] for s in run["steps"][1:])
    assert run["median_step_s_after_first"] == pytest.approx(sum(later) / 2)
    for s in run["steps"]:
        assert s["step_s"] == pytest.approx(s["rollout_s"] + s["update_s"]) and s["cuda_peak_gib"] is None
    with pytest.raises(cli.UserError, match="--steps must be >= 2"):
        gpu_check.main(["--device", "cpu", "--steps", "1", "--out", str(tmp_path / "o2")])
