"""scripts/gpu_check.py: a few GRPO steps on a CUDA GPU, timed, with the peak GPU memory of each step.

    python scripts/gpu_check.py                                # the converted default model (qwen2.5-coder-0.5b)
    python scripts/gpu_check.py --config-dir DIR --out DIR     # random weights of the shape DIR/config.json gives

`--config-dir` is for a GPU machine without the model packages: a directory holding a model's config.json and
tokenizer files (not its weights) is enough, and the model is built with random weights of that shape. Such a
model rarely stops on its own, so every answer runs to --max-new-tokens: its step times bound the real model's
from above (the real model's answers are shorter), and its memory is the most a step of that shape needs.

Each precision in --precisions runs `train_grpo.py` for --steps steps (no evaluation) and prints, per step, the
rollout and update seconds and `perf/cuda_peak_gib` (torch.cuda.max_memory_allocated during the step); the
first step includes CUDA's warm-up, so the summary quotes the median of the later ones. The summary goes to
OUT/gpu_check.json.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import cli  # noqa: E402


def random_model_dir(config_dir: Path, dest: Path, seed: int = 0) -> Path:
    """A model directory with random weights of config_dir's shape, and config_dir's tokenizer files."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    if not (config_dir / "config.json").exists():
        raise cli.UserError(f"{config_dir / 'config.json'} does not exist; --config-dir needs a model's "
                         f"config.json and tokenizer files")
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(config_dir), dtype=torch.float32)
    dest.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(dest)
    for f in config_dir.iterdir():
        if f.is_file() and f.name not in ("config.json", "model.safetensors"):
            shutil.copy(f, dest / f.name)
    return dest


def run(model: str, precision: str, args, work: Path) -> dict:
    """Train args.steps steps in this process; the per-step timings and peak memory from metrics.jsonl."""
    import gc

    import torch
    import train_grpo
    gc.collect()  # the previous precision's model and optimizer: gone before this one's memory is measured
    if args.device == "cuda":
        torch.cuda.empty_cache()
    out = work / f"run-{precision}"
    flags = ["--model", model, "--precision", precision, "--device", args.device, "--reward", args.reward,
             "--steps", str(args.steps), "--prompts-per-step", str(args.prompts_per_step),
             "--group-size", str(args.group_size), "--max-new-tokens", str(args.max_new_tokens),
             "--micro-batch-size", str(args.micro_batch_size), "--eval-every", "0", "--save-every", "0",
             "--lr", "1e-6", "--seed", "0", "--out", str(out)]
    started = time.perf_counter()
    train_grpo.main(flags)
    wall = time.perf_counter() - started
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    steps = [{"step": r["step"], "rollout_s": r["perf/rollout_s"], "update_s": r["perf/update_s"],
              "step_s": r["perf/rollout_s"] + r["perf/update_s"], "cuda_peak_gib": r.get("perf/cuda_peak_gib"),
              "length_mean": r.get("response/length_mean"), "clipped": r.get("response/clipped_ratio")}
             for r in rows if "perf/rollout_s" in r]
    later = steps[1:] or steps
    peaks = [s["cuda_peak_gib"] for s in steps if s["cuda_peak_gib"] is not None]
    shutil.rmtree(out, ignore_errors=True)  # the checkpoint (fp32 weights and AdamW state) is not needed
    return {"precision": precision, "steps": steps, "wall_s": wall,
            "median_step_s_after_first": statistics.median(s["step_s"] for s in later),
            "median_rollout_s_after_first": statistics.median(s["rollout_s"] for s in later),
            "median_update_s_after_first": statistics.median(s["update_s"] for s in later),
            "max_cuda_peak_gib": max(peaks) if peaks else None,
            "gpu": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu", "torch": torch.__version__}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--model", default="qwen2.5-coder-0.5b", help="embedded name, HF id or directory")
    ap.add_argument("--config-dir", type=Path, help="random weights of this config's shape (see above)")
    ap.add_argument("--precisions", nargs="+", default=["bf16", "fp32"], choices=["bf16", "fp32"])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--prompts-per-step", type=int, default=2)
    ap.add_argument("--group-size", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--micro-batch-size", type=int, default=8)
    ap.add_argument("--reward", default="verifiable")
    ap.add_argument("--device", default="cuda", help="cuda; cpu only to try the script itself")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "gpu_check")
    args = ap.parse_args(argv)
    import torch
    if args.device == "cuda" and not torch.cuda.is_available():
        raise cli.UserError("no CUDA GPU visible to torch; this check is for a GPU machine")
    if args.steps < 2:
        raise cli.UserError(f"--steps must be >= 2 (the first step is CUDA's warm-up), got {args.steps}")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = str(random_model_dir(args.config_dir, work / "model")) if args.config_dir else args.model
        results = {"model": args.model if not args.config_dir else f"random weights, shape of {args.config_dir}",
                   "shape": f"{args.prompts_per_step} prompts x {args.group_size}, {args.max_new_tokens} tokens, "
                            f"micro-batch {args.micro_batch_size}, reward {args.reward}",
                   "runs": [run(model, p, args, work) for p in args.precisions]}
    (args.out / "gpu_check.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"\n{results['model']}; {results['shape']}")
    for r in results["runs"]:
        print(f"  {r['precision']}: {r['median_step_s_after_first']:.2f} s/step after the first "
              f"(rollout {r['median_rollout_s_after_first']:.2f} s, update {r['median_update_s_after_first']:.2f} s),"
              f" peak {r['max_cuda_peak_gib'] or 0:.1f} GiB on {r['gpu']}")


if __name__ == "__main__":
    cli.run(main)
