"""rundir.py: what train_grpo.py writes to and reads from a run directory, apart from the algorithm.

  RUN/config.json         every flag, written once (train_grpo.setup)
  RUN/metrics.jsonl       one line per step, the source of truth (append_jsonl); mirrored to TensorBoard
                          (RUN/tensorboard) and/or W&B by Mirrors when --report-to asks, never otherwise
  RUN/samples.jsonl       one full group of completions per step
  RUN/eval/step-K.json    lcb_eval reports
  RUN/ckpt-K/             save_checkpoint: safetensors weights loadable by model.load_model and lcb_eval.py
                          (merged W + (alpha / r) B A under LoRA, with adapters.safetensors beside them),
                          tokenizer, optimizer.pt, rng.pt, and state.json, written last
On --resume, truncate_log drops the lines logged after the last complete checkpoint.
"""
from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import time
from pathlib import Path

import torch

import lora as L
from cli import UserError
from distributed import Dist, state_dicts, unwrap


def run_dir(cfg) -> Path:
    if cfg.resume:
        return Path(cfg.resume)
    return Path(cfg.out or f"runs/{cfg.reward}-{time.strftime('%Y%m%d-%H%M%S')}")


def last_checkpoint(run: Path) -> Path | None:
    done = [p for p in run.glob("ckpt-*") if (p / "state.json").exists() and p.name[5:].isdigit()]
    return max(done, key=lambda p: int(p.name[5:]), default=None)


def save_checkpoint(run: Path, step: int, policy, tokenizer, optimizer, dist: Dist = None,
                    lora_scale: float | None = None) -> Path:
    """RUN/ckpt-<step>: weights (safetensors, loadable by load_model), tokenizer, optimizer, RNG states, step.

    Written into a temporary directory and renamed: a kill leaves either the old or the new checkpoint,
    never half of one. state.json is written last and marks the checkpoint as complete. Under torchrun every
    rank takes part in gathering the full state; rank 0 writes it, so it loads on any world size. With LoRA
    (lora_scale = alpha / r) the weights are merged, W + (alpha / r) B A, so the checkpoint loads as a plain
    model; the adapters are written beside them for --resume.
    """
    dist = dist or Dist()
    model_state, optimizer_state = state_dicts(policy, optimizer, dist)
    final = run / f"ckpt-{step}"
    if not dist.main:
        return final
    tmp = run / f".ckpt-{step}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if lora_scale is not None:
        from safetensors.torch import save_file
        save_file(L.adapter_state(model_state), tmp / L.ADAPTER_FILE)
        model_state = L.merged_state(model_state, lora_scale)
    unwrap(policy).save_pretrained(tmp, state_dict=model_state, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    torch.save(optimizer_state, tmp / "optimizer.pt")
    # The loop draws its randomness from generators seeded by (--seed, step); the global states are saved
    # too, for any code a user adds that draws from them.
    torch.save({"torch": torch.get_rng_state(), "python": random.getstate()}, tmp / "rng.pt")
    (tmp / "state.json").write_text(json.dumps({"step": step}))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return final


def load_weights(policy, checkpoint: Path) -> None:
    from safetensors.torch import load_file
    state = load_file(checkpoint / "model.safetensors", device=str(policy.device))
    missing, unexpected = policy.load_state_dict(state, strict=False)
    # Tied embeddings are saved once; anything else missing means the checkpoint is of another model.
    missing = [k for k in missing if k != "lm_head.weight"]
    if missing or unexpected:
        raise UserError(f"{checkpoint} does not match --model: missing {missing[:3]}, unexpected {unexpected[:3]}")


def truncate_log(path: Path, last_step: int) -> None:
    """Drop lines logged after the checkpoint we resume from, so metrics.jsonl has each step once."""
    if not path.exists():
        return
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    kept = [line for line in lines if json.loads(line).get("step", 0) <= last_step]
    path.write_text("".join(line + "\n" for line in kept))


def append_jsonl(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def evaluate(policy, tokenizer, val_set: list, cfg, run: Path, step: int, dist: Dist = None) -> dict | None:
    """lcb_eval on the validation problems, split across ranks: the report, written to RUN/eval/step-K.json on
    rank 0 (None elsewhere); train_grpo.eval_metrics turns it into eval/* metrics."""
    import lcb_eval
    dist = dist or Dist()
    problems = val_set[: cfg.eval_limit] if cfg.eval_limit else val_set
    mine = problems[dist.rank::dist.world]
    report = lcb_eval.evaluate(policy, tokenizer, mine, n=cfg.eval_n, temperature=cfg.eval_temperature,
                               max_new_tokens=cfg.max_new_tokens, seed=cfg.seed * 7 + dist.rank,
                               progress=dist.main)
    if dist.world > 1:
        records = [r for part in dist.gather(report["problems"]) for r in part]
        report = {**lcb_eval.summarize(records, cfg.eval_n), "config": report["config"]}
    if not dist.main:
        return None
    (run / "eval").mkdir(exist_ok=True)
    (run / "eval" / f"step-{step}.json").write_text(json.dumps(report, indent=1))
    return report


def samples_record(ro, step: int, tokenizer, group_size: int) -> dict:
    """The first group of the step in full (a line of RUN/samples.jsonl), for eyeballing. ro: a train_grpo.Rollout."""
    first = ro.samples.prompt_ids[0][ro.samples.prompt_mask[0].bool()]
    return {"step": step, "question_id": ro.problems[0].question_id, "prompt": tokenizer.decode(first),
            "completions": [{"text": ro.samples.texts[i], "reward": float(ro.rewards[i]),
                             "advantage": float(ro.advantages[i]), "passed": bool(ro.passed[i])}
                            for i in range(group_size)]}


def compact_line(step: int, m: dict) -> str:
    """The one line printed per step."""
    line = (f"step {step:4d} | reward {m['reward/mean']:+.3f} | pass {m['train/pass_rate']:.2f} | "
            f"len {m['response/length_mean']:5.1f} | H {m['signal/token_entropy']:.3f} | "
            f"SC {m['signal/self_certainty']:.2f} | {m['perf/rollout_s'] + m['perf/update_s']:.0f}s")
    evals = [f"{k[5:]} {v:.3f}" for k, v in m.items() if k.startswith("eval/avg@")]
    return line + (" | " + evals[0] if evals else "")


class Mirrors:
    """--report-to: every metric of metrics.jsonl (the source of truth) also goes to TensorBoard (RUN/tensorboard)
    and/or W&B (project $WANDB_PROJECT, default grpo-code). Nothing is sent anywhere unless asked."""

    def __init__(self, cfg, run: Path):
        self.tensorboard = self.wandb = None
        if "tensorboard" in cfg.report_to:
            from torch.utils.tensorboard import SummaryWriter
            self.tensorboard = SummaryWriter(str(run / "tensorboard"))
        if "wandb" in cfg.report_to:
            import wandb
            self.wandb = wandb.init(project=os.environ.get("WANDB_PROJECT", "grpo-code"), name=run.name,
                                    dir=str(run), config=dataclasses.asdict(cfg))

    def log(self, step: int, metrics: dict) -> None:
        numbers = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
        if self.tensorboard is not None:
            for key, value in numbers.items():
                self.tensorboard.add_scalar(key, value, step)
            self.tensorboard.flush()
        if self.wandb is not None:
            self.wandb.log(numbers, step=step)

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()
        if self.wandb is not None:
            self.wandb.finish()
