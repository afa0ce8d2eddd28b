"""train_grpo.py: GRPO for code models, with a verifiable reward (tests pass) or an intrinsic one, in one file.

The algorithm exactly as implemented (DESIGN.md; verl-style GRPO). One training step:

  1. rollout     Take the next `--prompts-per-step` problems (a seeded shuffle of the training set, reshuffled
                 each epoch) and sample `--group-size` (N) completions for each at temperature T and
                 `--top-p` with model.sample (prefill once per prompt, KV cache copied to the group).
  2. score       With the sampling policy and no gradient, compute the per-token signals of every completion
                 under logits / T (model.score): log-prob lp_old, entropy, self-certainty, probability
                 disparity. lp_old is the "old policy" of the ratio below. The reward r_i comes from
                 rewards.compute_rewards(--reward). Every completion is also graded against its tests, whatever
                 the reward, so `train/pass_rate` shows the true accuracy of intrinsic runs.
  3. advantage   A_i = (r_i - mean_g r) / (std_g r + 1e-6), std unbiased, per group of N (`--no-std-norm`:
                 A_i = r_i - mean_g r, Dr. GRPO). Every token of completion i gets A_i.
  4. update      `--ppo-epochs` (E) passes over the rollout, each split into shuffled minibatches of
                 `--minibatch-size` completions; one AdamW step per minibatch (gradients accumulated over
                 micro-batches of `--micro-batch-size` rows, which changes memory, not the result):
                   ratio_t = exp(lp_t - lp_old_t)
                   loss_t  = max(-A ratio_t, -A clip(ratio_t, 1 - clip_low, 1 + clip_high))
                   loss_t  = min(loss_t, -dual_clip * A)                      for A < 0 (dual clip)
                   loss_t += kl_beta * (exp(lp_ref - lp) - (lp_ref - lp) - 1) when kl_beta > 0 (k3 estimator,
                             against the frozen initial policy)
                 aggregated by `--loss-agg`: token-mean (sum over the minibatch's tokens / their count),
                 seq-mean-token-mean (mean over sequences of each sequence's token mean), or
                 seq-mean-token-sum-norm (sum / (rows x max_new_tokens), Dr. GRPO). Then the gradient norm is
                 clipped to `--grad-clip`. The learning rate rises linearly over `--warmup-steps` training
                 steps, then stays constant. With E = 1 and one minibatch the ratio is 1 and this is the
                 on-policy policy gradient.
  5. log         One flat dict per step (names in DESIGN.md, "Metrics") appended to RUN/metrics.jsonl, and one
                 group of full completions per step to RUN/samples.jsonl.
  6. eval        Every `--eval-every` steps (and before the first step): lcb_eval.evaluate on `--val-data`
                 with `--eval-n` samples at `--eval-temperature`; report in RUN/eval/step-K.json.
  7. checkpoint  Every `--save-every` steps and at the end: RUN/ckpt-K (safetensors weights, optimizer, step),
                 written to a temporary directory and renamed, so a kill never leaves a corrupt checkpoint.

Choices a paper leaves open, as implemented: the signals use logits / T (`--signal-temperature raw` uses the
raw logits); intrinsic rewards are means over tokens (`--reward-reduce sum` for the sum); minibatches count
completions, not prompts; randomness comes from seeds derived from (--seed, step), so `--resume` continues a
killed run with the same metrics as an uninterrupted one.

Run:
  python train_grpo.py --reward entropy                  # embedded SmolLM2-135M on the embedded problems, CPU
  python train_grpo.py --reward verifiable --steps 100 --out runs/rlvr
  python train_grpo.py --resume runs/rlvr                # continue a killed run
  python train_grpo.py --reward verifiable --init-from runs/entropy/ckpt-20   # RLIF -> RLVR
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import shutil
import sys
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path

import torch

import model as M
import rewards as R


def flag(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass
class Config:
    # ---- model and data
    model: str = flag("smollm2-135m", "model: smollm2-135m (embedded), an HF id, or a local directory")
    data: str = flag("embedded:train", "training problems: embedded:train, a .jsonl file, lcb:release_v5, humaneval")
    val_data: str = flag("embedded:val", "validation problems, same forms as --data")
    reward: str = flag("verifiable", f"reward: one of {', '.join(R.REWARDS)}")
    reward_reduce: str = flag("mean", "intrinsic rewards: mean or sum over response tokens")
    signal_temperature: str = flag("sampling", "signals from logits/T (sampling) or from the raw logits (raw)")
    verifiable_fraction: bool = flag(False, "verifiable: reward the fraction of tests passed, not all-or-nothing")
    hybrid_intrinsic: str = flag("self_certainty", "hybrid: the label-free reward it starts from or mixes in")
    hybrid_switch_step: int | None = flag(None, "hybrid: intrinsic reward before this step, verifiable after "
                                                "(unset: the fixed mix below)")
    hybrid_mix_alpha: float = flag(0.5, "hybrid mix: alpha x group-standardised intrinsic + (1 - alpha) x verifiable")
    # ---- rollout
    steps: int = flag(30, "training steps")
    prompts_per_step: int = flag(4, "problems per step")
    group_size: int = flag(4, "completions per problem (N)")
    temperature: float = flag(1.0, "sampling temperature T (signals use logits / T too)")
    top_p: float = flag(1.0, "nucleus sampling threshold")
    max_new_tokens: int = flag(256, "completion length limit")
    # ---- optimisation
    lr: float = flag(1e-5, "AdamW learning rate after warm-up")
    warmup_steps: int = flag(2, "steps of linear learning-rate warm-up")
    weight_decay: float = flag(0.1, "AdamW weight decay")
    grad_clip: float = flag(1.0, "gradient-norm clip")
    clip_low: float = flag(0.2, "ratio clip below: 1 - clip_low")
    clip_high: float = flag(0.2, "ratio clip above: 1 + clip_high")
    dual_clip: float = flag(3.0, "dual-clip constant c for negative advantages (loss <= -c A)")
    kl_beta: float = flag(0.0, "weight of the k3 KL to the initial policy (0: no reference model)")
    ppo_epochs: int = flag(1, "passes over each rollout (E)")
    minibatch_size: int | None = flag(None, "completions per optimizer step (default: the whole rollout)")
    micro_batch_size: int = flag(4, "completions per forward/backward (memory only; gradients accumulate)")
    loss_agg: str = flag("token-mean", "token-mean | seq-mean-token-mean | seq-mean-token-sum-norm")
    no_std_norm: bool = flag(False, "advantage r - mean instead of (r - mean) / std (Dr. GRPO)")
    # ---- evaluation, checkpoints, run
    eval_every: int = flag(10, "evaluate every k steps (0: never)")
    eval_n: int = flag(4, "samples per validation problem")
    eval_temperature: float = flag(0.8, "validation sampling temperature")
    eval_limit: int | None = flag(None, "evaluate on the first k validation problems only")
    save_every: int = flag(10, "checkpoint every k steps (and at the end)")
    seed: int = flag(0, "seed of problem order, sampling and the random reward")
    out: str | None = flag(None, "run directory (default runs/<reward>-<time>)")
    resume: str | None = flag(None, "continue the run in this directory from its last checkpoint")
    init_from: str | None = flag(None, "start from the weights of RUN/ckpt-K, with a fresh optimizer")
    device: str | None = flag(None, "cpu or cuda (default: cuda when available)")
    dtype: str | None = flag(None, "float32 or bfloat16 (default: bfloat16 on cuda, float32 on cpu)")
    grad_checkpointing: bool = flag(False, "recompute activations in backward: less memory, ~30% slower")


LOSS_AGGREGATIONS = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm")


# ----------------------------------------------------------------------------------------------------------
# Plumbing: configuration

def parse_config(argv=None) -> Config:
    parser = argparse.ArgumentParser(description="GRPO for code with verifiable or intrinsic rewards.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    hints = typing.get_type_hints(Config)
    for f in dataclasses.fields(Config):
        name = "--" + f.name.replace("_", "-")
        if hints[f.name] is bool:
            parser.add_argument(name, action="store_true", help=f.metadata["help"])
        else:
            kind = next(t for t in typing.get_args(hints[f.name]) or (hints[f.name],) if t is not type(None))
            parser.add_argument(name, type=kind, default=f.default, help=f.metadata["help"])
    cfg = Config(**vars(parser.parse_args(argv)))
    validate(cfg)
    return cfg


def validate(cfg: Config) -> None:
    """Refuse unknown or inconsistent settings before any work starts."""
    rollout = cfg.prompts_per_step * cfg.group_size
    problems = []
    if cfg.reward not in R.REWARDS:
        problems.append(f"--reward {cfg.reward!r} is not one of: {', '.join(R.REWARDS)}")
    if cfg.loss_agg not in LOSS_AGGREGATIONS:
        problems.append(f"--loss-agg {cfg.loss_agg!r} is not one of: {', '.join(LOSS_AGGREGATIONS)}")
    if cfg.reward_reduce not in R.REDUCTIONS:
        problems.append(f"--reward-reduce must be one of {R.REDUCTIONS}")
    if cfg.signal_temperature not in R.SIGNAL_TEMPERATURES:
        problems.append(f"--signal-temperature must be one of {R.SIGNAL_TEMPERATURES}")
    for name in ("steps", "prompts_per_step", "group_size", "max_new_tokens", "ppo_epochs", "micro_batch_size",
                 "eval_n"):
        if getattr(cfg, name) < 1:
            problems.append(f"--{name.replace('_', '-')} must be >= 1, got {getattr(cfg, name)}")
    if cfg.group_size == 1 and not cfg.no_std_norm:
        problems.append("--group-size 1 has no group std to normalise by: use a larger group or --no-std-norm")
    if cfg.minibatch_size is not None and not 1 <= cfg.minibatch_size <= rollout:
        problems.append(f"--minibatch-size {cfg.minibatch_size} must be between 1 and the rollout size "
                        f"{rollout} (prompts-per-step x group-size)")
    if cfg.temperature <= 0:
        problems.append("--temperature must be > 0 (the signals divide the logits by it)")
    if not 0 < cfg.top_p <= 1:
        problems.append("--top-p must be in (0, 1]")
    if cfg.lr <= 0 or cfg.clip_low < 0 or cfg.clip_high < 0 or cfg.kl_beta < 0 or cfg.dual_clip <= 1:
        problems.append("need --lr > 0, --clip-low/--clip-high/--kl-beta >= 0 and --dual-clip > 1")
    if cfg.resume and cfg.init_from:
        problems.append("--resume and --init-from exclude each other")
    if cfg.init_from and not (Path(cfg.init_from) / "model.safetensors").exists():
        problems.append(f"--init-from {cfg.init_from}: no model.safetensors there (expected RUN/ckpt-K)")
    if problems:
        raise SystemExit("error: " + "\n       ".join(problems))


# ----------------------------------------------------------------------------------------------------------
# Algorithm: rollout, score, advantage

@dataclass
class Rollout:
    """One step's completions and everything the update needs. Rows are prompt-major groups of N."""
    samples: M.Samples
    problems: list                  # one lcb_eval.Problem per row
    signals: dict[str, torch.Tensor]  # (B, T) each: logprob (= lp_old), entropy, self_certainty, prob_disparity
    rewards: torch.Tensor           # (B,)
    advantages: torch.Tensor        # (B,)
    passed: torch.Tensor            # (B,) 1.0 when the completion passes every test
    reward_info: dict


def step_problems(train_set: list, cfg: Config, step: int) -> list:
    """The problems of training step `step`: a reshuffle of the training set per epoch, seeded by --seed."""
    start = step * cfg.prompts_per_step
    picked = []
    for position in range(start, start + cfg.prompts_per_step):
        epoch, index = divmod(position, len(train_set))
        order = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(cfg.seed * 7919 + epoch))
        picked.append(train_set[int(order[index])])
    return picked


def rollout(policy, tokenizer, problems: list, cfg: Config, step: int) -> Rollout:
    import lcb_eval
    prompts = [lcb_eval.build_prompt(p, tokenizer) for p in problems]
    samples = M.sample(policy, tokenizer, prompts, n=cfg.group_size, max_new_tokens=cfg.max_new_tokens,
                       temperature=cfg.temperature, top_p=cfg.top_p, seed=cfg.seed * 1_000_003 + step)
    rows = [p for p in problems for _ in range(cfg.group_size)]
    # Signals from the sampling policy before any update: these are lp_old and the intrinsic rewards' inputs.
    signal_T = R.score_temperature(cfg.signal_temperature, cfg.temperature)
    signals = M.score(policy, samples.input_ids, samples.attention_mask, samples.completion_mask,
                      temperature=cfg.temperature, fused=policy.device.type == "cuda")
    if signal_T != cfg.temperature:  # "raw": rewards read signals of the raw logits; lp_old stays at logits / T
        raw = M.score(policy, samples.input_ids, samples.attention_mask, samples.completion_mask, temperature=signal_T)
        signals = {**raw, "logprob": signals["logprob"]}
    verdicts = lcb_eval.grade_many(rows, samples.texts)
    ctx = R.RewardContext(signals=signals, mask=samples.completion_mask, texts=samples.texts, problems=rows,
                          group_size=cfg.group_size, step=step, seed=cfg.seed, verdicts=verdicts)
    options = dict(reduce=cfg.reward_reduce, signal_temperature=cfg.signal_temperature,
                   fraction=cfg.verifiable_fraction, intrinsic=cfg.hybrid_intrinsic,
                   switch_step=cfg.hybrid_switch_step, mix_alpha=cfg.hybrid_mix_alpha)
    rewards, info = R.compute_rewards(cfg.reward, ctx, **options)                       # (B,)
    advantages = R.group_advantages(rewards, cfg.group_size, std_norm=not cfg.no_std_norm)  # (B,)
    passed = torch.tensor([float(v.passed) for v in verdicts])                          # (B,)
    return Rollout(samples, rows, signals, rewards, advantages, passed, info)


# ----------------------------------------------------------------------------------------------------------
# Algorithm: the loss

def policy_loss(logprobs, old_logprobs, advantages, mask, cfg: Config, ref_logprobs=None, n_rows=None, n_tokens=None):
    """Clipped GRPO loss of one micro-batch, aggregated as --loss-agg over its minibatch.

    logprobs, old_logprobs, ref_logprobs, mask: (b, T); advantages: (b,). n_rows / n_tokens: the size of the
    whole minibatch (rows, real tokens), so micro-batch losses add up to the minibatch loss. Returns
    (loss, stats) with stats summed over this micro-batch's tokens: clipped tokens, approx-KL, policy, KL.
    """
    mask = mask.float()                                                     # (b, T)
    adv = advantages[:, None]                                               # (b, 1)
    log_ratio = logprobs - old_logprobs                                     # (b, T)
    ratio = torch.exp(log_ratio)                                            # (b, T)
    unclipped = -adv * ratio                                                # (b, T)
    clipped = -adv * torch.clamp(ratio, 1 - cfg.clip_low, 1 + cfg.clip_high)  # (b, T)
    per_token = torch.maximum(unclipped, clipped)                           # (b, T)
    dual = torch.minimum(per_token, -cfg.dual_clip * adv)                   # (b, T) caps the loss when A < 0
    per_token = torch.where(adv < 0, dual, per_token)                       # (b, T)
    policy_part = per_token
    kl = torch.zeros_like(per_token)                                        # (b, T)
    if cfg.kl_beta > 0:
        delta = ref_logprobs - logprobs                                     # (b, T)
        kl = torch.exp(delta) - delta - 1                                   # (b, T) k3, >= 0
        per_token = per_token + cfg.kl_beta * kl                            # (b, T)
    n_rows = n_rows or mask.size(0)
    n_tokens = n_tokens or mask.sum()
    loss = aggregate(per_token, mask, cfg.loss_agg, n_rows, n_tokens, cfg.max_new_tokens)  # ()
    stats = {
        "clipped": ((unclipped < clipped).float() * mask).sum().item(),
        "approx_kl": (0.5 * log_ratio.detach() ** 2 * mask).sum().item(),
        "policy": aggregate(policy_part.detach(), mask, cfg.loss_agg, n_rows, n_tokens, cfg.max_new_tokens).item(),
        "kl": (kl.detach() * mask).sum().item(),
    }
    return loss, stats


def aggregate(per_token, mask, mode: str, n_rows: int, n_tokens, max_new_tokens: int):
    """Reduce (b, T) per-token losses of a micro-batch to its share of the minibatch loss."""
    if mode == "token-mean":
        return (per_token * mask).sum() / n_tokens
    if mode == "seq-mean-token-mean":
        return ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1)).sum() / n_rows
    if mode == "seq-mean-token-sum-norm":
        return (per_token * mask).sum() / (n_rows * max_new_tokens)
    raise ValueError(f"unknown --loss-agg {mode!r}; valid: {', '.join(LOSS_AGGREGATIONS)}")


# ----------------------------------------------------------------------------------------------------------
# Algorithm: the update

def update(policy, reference, optimizer, ro: Rollout, cfg: Config, step: int) -> dict:
    """E epochs over shuffled minibatches of the rollout; one optimizer step per minibatch."""
    s = ro.samples
    B, T = s.completion_ids.shape
    minibatch = cfg.minibatch_size or B
    ref_lp = None
    if cfg.kl_beta > 0:
        with torch.no_grad():
            ref_lp = M.completion_logprobs(reference, s.input_ids, s.attention_mask, T, temperature=cfg.temperature)
    order_gen = torch.Generator().manual_seed(cfg.seed * 31337 + step)
    totals = {"clipped": 0.0, "approx_kl": 0.0, "policy": 0.0, "kl": 0.0, "grad_norm": 0.0}
    n_updates, tokens_seen = 0, 0
    policy.train()
    for _ in range(cfg.ppo_epochs):
        order = torch.randperm(B, generator=order_gen)
        for start in range(0, B, minibatch):
            rows = order[start:start + minibatch]
            n_tokens = s.completion_mask[rows].sum().clamp(min=1)
            optimizer.zero_grad(set_to_none=True)
            for micro in rows.split(cfg.micro_batch_size):
                lp = M.completion_logprobs(policy, s.input_ids[micro], s.attention_mask[micro], T,
                                           temperature=cfg.temperature)            # (b, T)
                loss, stats = policy_loss(lp, ro.signals["logprob"][micro], ro.advantages[micro],
                                          s.completion_mask[micro], cfg,
                                          None if ref_lp is None else ref_lp[micro], len(rows), n_tokens)
                loss.backward()
                for k in ("clipped", "approx_kl", "kl"):
                    totals[k] += stats[k]
                totals["policy"] += stats["policy"]
            grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.grad_clip)
            optimizer.step()
            totals["grad_norm"] += float(grad_norm)
            n_updates += 1
            tokens_seen += int(n_tokens)
    policy.eval()
    return {
        "loss/policy": totals["policy"] / n_updates,
        "loss/kl": totals["kl"] / tokens_seen,
        "train/clip_frac": totals["clipped"] / tokens_seen,
        "train/approx_kl": totals["approx_kl"] / tokens_seen,
        "train/grad_norm": totals["grad_norm"] / n_updates,
    }


def learning_rate(cfg: Config, step: int) -> float:
    """Linear warm-up over --warmup-steps training steps, then constant (the study's schedule)."""
    return cfg.lr * min(1.0, (step + 1) / max(cfg.warmup_steps, 1))


# ----------------------------------------------------------------------------------------------------------
# Metrics (every formula of metrics.jsonl is here or in rewards.text_metrics)

def step_metrics(ro: Rollout, cfg: Config) -> dict:
    """The per-step training metrics of DESIGN.md ("Metrics") from one rollout."""
    s, mask = ro.samples, ro.samples.completion_mask.bool()                 # mask (B, T)
    lengths = s.lengths.float()                                             # (B,)

    def token_mean(x):  # token-level mean over every real completion token of the rollout
        return float(x[mask].mean()) if mask.any() else 0.0

    metrics = {
        "reward/mean": float(ro.rewards.mean()),
        "reward/std": float(ro.rewards.std()) if ro.rewards.numel() > 1 else 0.0,
        "reward/frac_zero_std_groups": R.frac_zero_std_groups(ro.rewards, cfg.group_size),
        "train/pass_rate": float(ro.passed.mean()),
        "response/length_mean": float(lengths.mean()),
        "response/length_min": float(lengths.min()),
        "response/length_max": float(lengths.max()),
        "response/clipped_ratio": float((~s.stopped).float().mean()),  # hit max_new_tokens without EOS
        "signal/token_entropy": token_mean(ro.signals["entropy"]),
        "signal/self_certainty": token_mean(ro.signals["self_certainty"]),
        "signal/trajectory_entropy": -token_mean(ro.signals["logprob"]),
        "signal/prob_disparity": token_mean(ro.signals["prob_disparity"]),
        **R.text_metrics(s.texts),
    }
    metrics.update({k: float(v) for k, v in ro.reward_info.items()})
    return metrics


# ----------------------------------------------------------------------------------------------------------
# Plumbing: run directory, checkpoints, evaluation

def run_dir(cfg: Config) -> Path:
    if cfg.resume:
        return Path(cfg.resume)
    return Path(cfg.out or f"runs/{cfg.reward}-{time.strftime('%Y%m%d-%H%M%S')}")


def last_checkpoint(run: Path) -> Path | None:
    done = [p for p in run.glob("ckpt-*") if (p / "state.json").exists() and p.name[5:].isdigit()]
    return max(done, key=lambda p: int(p.name[5:]), default=None)


def save_checkpoint(run: Path, step: int, policy, tokenizer, optimizer) -> Path:
    """RUN/ckpt-<step>: weights (safetensors, loadable by load_model), tokenizer, optimizer, step.

    Written into a temporary directory and renamed: a kill leaves either the old or the new checkpoint,
    never half of one. state.json is written last and marks the checkpoint as complete.
    """
    final = run / f"ckpt-{step}"
    tmp = run / f".ckpt-{step}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    policy.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
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
        raise SystemExit(f"error: {checkpoint} does not match --model: missing {missing[:3]}, unexpected {unexpected[:3]}")


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


def evaluate(policy, tokenizer, val_set: list, cfg: Config, run: Path, step: int) -> dict:
    """lcb_eval on the validation problems; returns eval/* metrics and writes the full report."""
    import lcb_eval
    problems = val_set[: cfg.eval_limit] if cfg.eval_limit else val_set
    report = lcb_eval.evaluate(policy, tokenizer, problems, n=cfg.eval_n, temperature=cfg.eval_temperature,
                               max_new_tokens=cfg.max_new_tokens, seed=cfg.seed)
    (run / "eval").mkdir(exist_ok=True)
    (run / "eval" / f"step-{step}.json").write_text(json.dumps(report, indent=1))
    return eval_metrics(report, cfg.eval_n)


def eval_metrics(report: dict, k: int) -> dict:
    """eval/avg@k, eval/pass@k, eval/response_length, and the text metrics split by correct / incorrect."""
    samples = [s for p in report["problems"] for s in p["samples"]]
    metrics = {f"eval/avg@{k}": report["avg"], f"eval/pass@{k}": report["pass_at_k"][str(k)],
               "eval/response_length": sum(s["tokens"] for s in samples) / max(len(samples), 1)}
    for label, keep in (("correct", True), ("incorrect", False)):
        texts = [s["text"] for s in samples if s["passed"] == keep]
        for name, value in R.text_metrics(texts).items():
            metrics[f"eval/{name.split('/')[1]}_{label}"] = value
    return metrics


def samples_record(ro: Rollout, step: int, tokenizer, group_size: int) -> dict:
    """The first group of the step in full, for eyeballing."""
    first = ro.samples.prompt_ids[0][ro.samples.prompt_mask[0].bool()]
    return {"step": step, "question_id": ro.problems[0].question_id, "prompt": tokenizer.decode(first),
            "completions": [{"text": ro.samples.texts[i], "reward": float(ro.rewards[i]),
                             "advantage": float(ro.advantages[i]), "passed": bool(ro.passed[i])}
                            for i in range(group_size)]}


# ----------------------------------------------------------------------------------------------------------
# The loop

def train(cfg: Config) -> Path:
    import lcb_eval
    from tqdm import tqdm
    run = run_dir(cfg)
    resume_from = last_checkpoint(run) if cfg.resume else None
    if cfg.resume:
        saved = json.loads((run / "config.json").read_text())
        cfg = Config(**{**saved, "resume": cfg.resume})  # the run's own settings, its seed included
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=1))
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    policy, tokenizer = M.load_model(cfg.model, device=cfg.device, dtype=cfg.dtype)
    if cfg.init_from:
        load_weights(policy, Path(cfg.init_from))
    if cfg.grad_checkpointing:
        policy.gradient_checkpointing_enable()
        policy.config.use_cache = False
    reference = None
    if cfg.kl_beta > 0:  # the frozen initial policy (after --init-from), for the KL term
        reference = M.load_model(cfg.model, device=cfg.device, dtype=cfg.dtype)[0]
        reference.load_state_dict(policy.state_dict())
        reference.requires_grad_(False)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start = 0
    if resume_from is not None:
        load_weights(policy, resume_from)
        optimizer.load_state_dict(torch.load(resume_from / "optimizer.pt", map_location=policy.device))
        start = json.loads((resume_from / "state.json").read_text())["step"]
        rng = torch.load(resume_from / "rng.pt", weights_only=False)
        torch.set_rng_state(rng["torch"])
        random.setstate(rng["python"])
    truncate_log(run / "metrics.jsonl", start)
    truncate_log(run / "samples.jsonl", start)
    train_set, val_set = lcb_eval.load_problems(cfg.data), lcb_eval.load_problems(cfg.val_data)
    print(f"run directory: {run}  ({len(train_set)} training, {len(val_set)} validation problems; "
          f"reward {cfg.reward}; {cfg.prompts_per_step}x{cfg.group_size} completions per step)")
    if start == 0 and cfg.eval_every:
        append_jsonl(run / "metrics.jsonl", {"step": 0, **evaluate(policy, tokenizer, val_set, cfg, run, 0)})
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc="grpo", file=sys.stdout)
    for step in bar:
        metrics = train_step(policy, reference, tokenizer, optimizer, train_set, cfg, step, run)
        done = step + 1
        if cfg.eval_every and (done % cfg.eval_every == 0 or done == cfg.steps):
            metrics.update(evaluate(policy, tokenizer, val_set, cfg, run, done))
        append_jsonl(run / "metrics.jsonl", {"step": done, **metrics})
        bar.write(compact_line(done, metrics))
        if done % cfg.save_every == 0 or done == cfg.steps:
            save_checkpoint(run, done, policy, tokenizer, optimizer)
    print(f"done: metrics in {run / 'metrics.jsonl'}, checkpoints in {run}/ckpt-*")
    return run


def train_step(policy, reference, tokenizer, optimizer, train_set, cfg: Config, step: int, run: Path) -> dict:
    """One GRPO step: rollout -> score -> advantage -> update; returns its metrics."""
    t0 = time.perf_counter()
    ro = rollout(policy, tokenizer, step_problems(train_set, cfg, step), cfg, step)
    t1 = time.perf_counter()
    for group in optimizer.param_groups:
        group["lr"] = learning_rate(cfg, step)
    losses = update(policy, reference, optimizer, ro, cfg, step)
    t2 = time.perf_counter()
    append_jsonl(run / "samples.jsonl", samples_record(ro, step + 1, tokenizer, cfg.group_size))
    return {**step_metrics(ro, cfg), **losses, "train/lr": learning_rate(cfg, step),
            "perf/rollout_s": t1 - t0, "perf/update_s": t2 - t1,
            "perf/tokens_per_s": float(ro.samples.lengths.sum()) / (t1 - t0)}


def compact_line(step: int, m: dict) -> str:
    line = (f"step {step:4d} | reward {m['reward/mean']:+.3f} | pass {m['train/pass_rate']:.2f} | "
            f"len {m['response/length_mean']:5.1f} | H {m['signal/token_entropy']:.3f} | "
            f"SC {m['signal/self_certainty']:.2f} | {m['perf/rollout_s'] + m['perf/update_s']:.0f}s")
    evals = [f"{k[5:]} {v:.3f}" for k, v in m.items() if k.startswith("eval/avg@")]
    return line + (" | " + evals[0] if evals else "")


def main(argv=None):
    train(parse_config(argv))


if __name__ == "__main__":
    main()
