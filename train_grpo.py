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
                 micro-batches of at most `--micro-batch-size` rows of one prompt, which changes memory, not
                 the result; the shared prompt is forwarded once per micro-batch):
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
killed run with the same metrics as an uninterrupted one. Under torchrun each rank rolls out whole groups of its
share of the prompts and the update equals one process's update on the union (DDP, or FSDP2 with --fsdp).

Run:
  python train_grpo.py --reward entropy                  # embedded SmolLM2-135M on the embedded problems, CPU
  python train_grpo.py --reward verifiable --steps 100 --out runs/rlvr
  python train_grpo.py --resume runs/rlvr                # continue a killed run
  python train_grpo.py --reward verifiable --init-from runs/entropy/ckpt-20   # RLIF -> RLVR
  torchrun --nproc_per_node=4 train_grpo.py --reward verifiable --prompts-per-step 64 --group-size 16
"""
from __future__ import annotations

import argparse
import dataclasses
import json
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
    skip_first_eval: bool = flag(False, "no evaluation at step 0 (runs that start from the same weights share it)")
    save_every: int = flag(10, "checkpoint every k steps (and at the end)")
    seed: int = flag(0, "seed of problem order, sampling and the random reward")
    out: str | None = flag(None, "run directory (default runs/<reward>-<time>)")
    resume: str | None = flag(None, "continue the run in this directory from its last checkpoint")
    init_from: str | None = flag(None, "start from the weights of RUN/ckpt-K, with a fresh optimizer")
    device: str | None = flag(None, "cpu or cuda (default: cuda when available)")
    dtype: str | None = flag(None, "float32 or bfloat16 (default: bfloat16 on cuda, float32 on cpu)")
    grad_checkpointing: bool = flag(False, "recompute activations in backward: less memory, ~30% slower")
    fsdp: bool = flag(False, "under torchrun: shard parameters, gradients and optimizer state (FSDP2) "
                             "instead of replicating them (DDP)")
    min_isolation: str | None = flag(None, "refuse to run programs below this sandbox isolation: portable < uid "
                                           "< userns < namespaces (default: $SANDBOX_MIN_ISOLATION, else any)")


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
    import sandbox
    sandbox.require_isolation(cfg.min_isolation)  # a one-line SystemExit below it; no check when unset


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


def sampling_seed(cfg: Config, step: int) -> int:
    """Seed of step `step`'s sampler. Kept apart from rewards.random_seed: the same seed would hand the random
    reward the very uniforms that drew each row's first token, tying the "random" control to the response."""
    return (cfg.seed * 2_000_029 + step + 7_777) % 2**63


def rollout(policy, tokenizer, problems: list, cfg: Config, step: int) -> Rollout:
    import lcb_eval
    prompts = [lcb_eval.build_prompt(p, tokenizer) for p in problems]
    samples = M.sample(policy, tokenizer, prompts, n=cfg.group_size, max_new_tokens=cfg.max_new_tokens,
                       temperature=cfg.temperature, top_p=cfg.top_p, seed=sampling_seed(cfg, step))
    rows = [p for p in problems for _ in range(cfg.group_size)]
    # Signals from the sampling policy before any update: these are lp_old and the intrinsic rewards' inputs.
    signal_T = R.score_temperature(cfg.signal_temperature, cfg.temperature)
    signals = M.score(policy, samples.input_ids, samples.attention_mask, samples.completion_mask,
                      temperature=cfg.temperature, fused=policy.device.type == "cuda", group_size=cfg.group_size)
    if signal_T != cfg.temperature:  # "raw": rewards read signals of the raw logits; lp_old stays at logits / T
        raw = M.score(policy, samples.input_ids, samples.attention_mask, samples.completion_mask, temperature=signal_T,
                      group_size=cfg.group_size)
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

def update(policy, reference, optimizer, ro: Rollout, cfg: Config, step: int, dist: "Dist" = None) -> dict:
    """E epochs over shuffled minibatches of the rollout; one optimizer step per minibatch.

    Under torchrun each rank holds rollout rows of its own; a minibatch is --minibatch-size rows in all,
    minibatch / world on each rank. The loss is normalised by the whole minibatch's token and row counts, and
    multiplied by world because DDP and FSDP average the ranks' gradients: the step equals one process's step
    on the union of the rows.
    """
    dist = dist or Dist()
    s = ro.samples
    B, T = s.completion_ids.shape
    local_minibatch = (cfg.minibatch_size or B * dist.world) // dist.world
    ref_lp = None
    if cfg.kl_beta > 0:
        ref_lp = torch.zeros(B, T)                                          # (B, T)
        with torch.no_grad():
            for micro in micro_batches(torch.arange(B), cfg.group_size, cfg.micro_batch_size):
                lp = micro_logprobs(reference, s, micro, cfg.temperature)   # (b, t)
                ref_lp[micro, :lp.size(1)] = lp
    order_gen = torch.Generator().manual_seed(cfg.seed * 31337 + step + 1009 * dist.rank)
    totals = dict.fromkeys(("clipped", "approx_kl", "policy", "kl", "tokens"), 0.0)
    grad_norms = []
    policy.train()
    for _ in range(cfg.ppo_epochs):
        order = torch.randperm(B, generator=order_gen)
        for start in range(0, B, local_minibatch):
            rows = order[start:start + local_minibatch]
            n_tokens = max(dist.all_sum([float(s.completion_mask[rows].sum())])[0], 1.0)
            optimizer.zero_grad(set_to_none=True)
            micros = micro_batches(rows, cfg.group_size, cfg.micro_batch_size)
            for i, micro in enumerate(micros):
                with dist.no_sync(policy, last=i == len(micros) - 1):
                    lp = micro_logprobs(policy, s, micro, cfg.temperature)             # (b, t), t <= T
                    t = lp.size(1)
                    loss, stats = policy_loss(lp, ro.signals["logprob"][micro, :t], ro.advantages[micro],
                                              s.completion_mask[micro, :t], cfg,
                                              None if ref_lp is None else ref_lp[micro, :t],
                                              len(rows) * dist.world, n_tokens)
                    (loss * dist.world).backward()
                for k in ("clipped", "approx_kl", "kl", "policy"):
                    totals[k] += stats[k]
            grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.grad_clip)
            optimizer.step()
            grad_norms.append(float(grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm))
            totals["tokens"] += n_tokens / dist.world  # summed over ranks below
    policy.eval()
    clipped, approx_kl, policy_sum, kl, tokens = dist.all_sum(
        [totals["clipped"], totals["approx_kl"], totals["policy"], totals["kl"], totals["tokens"]])
    return {
        "loss/policy": policy_sum / len(grad_norms),
        "loss/kl": kl / tokens,
        "train/clip_frac": clipped / tokens,
        "train/approx_kl": approx_kl / tokens,
        "train/grad_norm": sum(grad_norms) / len(grad_norms),
    }


def micro_batches(rows: torch.Tensor, group_size: int, size: int) -> list[torch.Tensor]:
    """Split a minibatch's rows into micro-batches of at most `size` rows that share one prompt.

    Rows are prompt-major (row // group_size is the prompt), so a micro-batch's prompt is forwarded once
    (micro_logprobs). Within a prompt, rows keep their shuffled order. How the rows are split does not change
    the minibatch's gradient: each micro-batch's loss is normalised by the whole minibatch's counts.
    """
    by_prompt: dict[int, list[int]] = {}
    for row in rows.tolist():
        by_prompt.setdefault(row // group_size, []).append(row)
    return [torch.tensor(group[i:i + size]) for group in by_prompt.values() for i in range(0, len(group), size)]


def micro_logprobs(model, s: M.Samples, micro: torch.Tensor, temperature: float) -> torch.Tensor:
    """Differentiable log-probs (b, t) of the completions of rows `micro` (one prompt), t = their longest length.

    Columns past the longest completion hold only padding and are not computed. With gradient checkpointing,
    HF turns the KV cache off in training, so the prompt is then forwarded once per row (completion_logprobs).
    """
    t = max(int(s.completion_mask[micro].sum(-1).max()), 1)
    completions = s.completion_ids[micro, :t]                                # (b, t)
    if getattr(unwrap(model), "is_activation_checkpointing", False) and model.training:
        ids = torch.cat([s.prompt_ids[micro], completions], 1)               # (b, P+t)
        mask = torch.cat([s.prompt_mask[micro], s.completion_mask[micro, :t]], 1)
        return M.completion_logprobs(model, ids, mask, t, temperature=temperature)
    if not (s.prompt_ids[micro] == s.prompt_ids[micro[:1]]).all():
        raise ValueError(f"micro-batch rows {micro.tolist()} do not share one prompt (rows must be prompt-major groups)")
    prompt = s.prompt_ids[micro[0]][s.prompt_mask[micro[0]].bool()]           # (P,) without padding
    return M.group_logprobs(model, prompt, completions, temperature=temperature)


def learning_rate(cfg: Config, step: int) -> float:
    """Linear warm-up over --warmup-steps training steps, then constant (the study's schedule)."""
    return cfg.lr * min(1.0, (step + 1) / max(cfg.warmup_steps, 1))


# ----------------------------------------------------------------------------------------------------------
# Metrics (every formula of metrics.jsonl is here or in rewards.text_metrics)



def row_records(ro: Rollout) -> dict:
    """Per-completion numbers behind the step metrics: plain lists, so ranks can gather them."""
    mask = ro.samples.completion_mask.float()                               # (B, T)
    return {
        "reward": ro.rewards.tolist(), "passed": ro.passed.tolist(), "text": ro.samples.texts,
        "length": ro.samples.lengths.tolist(), "stopped": ro.samples.stopped.tolist(),
        **{f"sum_{k}": (ro.signals[k] * mask).sum(-1).tolist() for k in M.SIGNAL_NAMES},  # (B,) each
    }


def step_metrics(rows: dict, reward_info: dict, cfg: Config) -> dict:
    """The per-step training metrics of DESIGN.md ("Metrics") from the rows of every rank."""
    rewards = torch.tensor(rows["reward"])                                  # (B,)
    lengths = torch.tensor(rows["length"], dtype=torch.float)               # (B,)
    n_tokens = max(float(lengths.sum()), 1.0)

    def token_mean(name):  # token-level mean over every real completion token of the rollout
        return sum(rows[f"sum_{name}"]) / n_tokens

    return {
        "reward/mean": float(rewards.mean()),
        "reward/std": float(rewards.std()) if rewards.numel() > 1 else 0.0,
        "reward/frac_zero_std_groups": R.frac_zero_std_groups(rewards, cfg.group_size),
        "train/pass_rate": sum(rows["passed"]) / len(rows["passed"]),
        "train/completions": len(rows["passed"]),  # rows of the step, over all ranks
        "response/length_mean": float(lengths.mean()),
        "response/length_min": float(lengths.min()),
        "response/length_max": float(lengths.max()),
        "response/clipped_ratio": 1 - sum(rows["stopped"]) / len(rows["stopped"]),  # hit max_new_tokens, no EOS
        "signal/token_entropy": token_mean("entropy"),
        "signal/self_certainty": token_mean("self_certainty"),
        "signal/trajectory_entropy": -token_mean("logprob"),
        "signal/prob_disparity": token_mean("prob_disparity"),
        **R.text_metrics(rows["text"]),
        **reward_info,
    }


# ----------------------------------------------------------------------------------------------------------
# Plumbing: torch.distributed under torchrun. A single process (no torchrun) makes no collective call.

@dataclass
class Dist:
    """Rank `rank` of `world` processes; Dist() is the single process."""
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def all_sum(self, values: list[float]) -> list[float]:
        if self.world == 1:
            return values
        import torch.distributed as td
        total = torch.tensor(values, dtype=torch.float64, device=_collective_device())
        td.all_reduce(total)
        return total.tolist()

    def gather(self, obj) -> list:
        """Every rank's obj in rank order ([obj] in one process)."""
        if self.world == 1:
            return [obj]
        import torch.distributed as td
        out = [None] * self.world
        td.all_gather_object(out, obj)
        return out

    def no_sync(self, policy, last: bool):
        """Skip DDP's gradient all-reduce on all but the last micro-batch of a minibatch."""
        import contextlib
        if self.world > 1 and not last and hasattr(policy, "no_sync"):
            return policy.no_sync()
        return contextlib.nullcontext()


def _collective_device() -> str:
    import torch.distributed as td
    return "cuda" if td.get_backend() == "nccl" else "cpu"


def init_distributed(cfg: Config) -> Dist:
    """Join the process group when launched by torchrun (nccl on GPUs, gloo on CPUs)."""
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return Dist()
    import torch.distributed as td
    use_cuda = (cfg.device or M.default_device()).startswith("cuda")
    if use_cuda:
        local_rank = int(os.environ["LOCAL_RANK"])
        torch.cuda.set_device(local_rank)
        cfg.device = f"cuda:{local_rank}"
    td.init_process_group("nccl" if use_cuda else "gloo")
    dist = Dist(td.get_rank(), td.get_world_size())
    if cfg.prompts_per_step % dist.world or (cfg.minibatch_size or 0) % dist.world:
        raise SystemExit(f"error: --prompts-per-step and --minibatch-size must divide by the {dist.world} ranks")
    return dist


def wrap_for_training(policy, cfg: Config, dist: Dist):
    """DDP (replicated weights, all-reduced gradients) or FSDP2 (sharded) under torchrun; as is otherwise."""
    if dist.world == 1:
        return policy
    if cfg.fsdp:
        from torch.distributed.fsdp import fully_shard
        for layer in policy.get_decoder().layers:
            fully_shard(layer)
        fully_shard(policy)
        with torch.no_grad():  # FSDP initialises on the first forward, which must go through the root
            policy(input_ids=torch.zeros(1, 1, dtype=torch.long, device=policy.device))
        policy.reshard()  # the root keeps its gathered weights after a forward; the optimizer needs the shards
        return policy
    from torch.nn.parallel import DistributedDataParallel
    return DistributedDataParallel(policy)


def unwrap(policy):
    """The HF model inside a DDP wrapper (an FSDP2 model is its own module)."""
    return getattr(policy, "module", policy)


class full_weights:
    """Context: FSDP2 parameters gathered, so sampling and scoring can call submodules directly."""

    def __init__(self, policy):
        from torch.distributed.fsdp import FSDPModule
        self.modules = [m for m in policy.modules() if isinstance(m, FSDPModule)]

    def __enter__(self):
        for m in self.modules:
            m.unshard()

    def __exit__(self, *exc):
        for m in self.modules:
            m.reshard()


def state_dicts(policy, optimizer, dist: Dist) -> tuple[dict, dict]:
    """Full (unsharded) model and optimizer state, keyed by parameter name, on every rank's CPU."""
    if dist.world == 1:
        return policy.state_dict(), optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict
    return get_state_dict(policy, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def load_optimizer(policy, optimizer, state: dict, cfg: Config) -> None:
    """Load a checkpoint's optimizer state, whichever world size wrote it.

    One process or DDP writes and reads states indexed by parameter position (torch's own format); FSDP reads
    and writes them keyed by parameter name, so each format is converted to the other where needed.
    """
    names = [n for n, _ in unwrap(policy).named_parameters()]
    keyed_by_name = any(isinstance(k, str) for k in state["state"])
    if cfg.fsdp and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict
        if not keyed_by_name:
            state = _rekey(state, lambda i: names[i])
        set_optimizer_state_dict(policy, optimizer, state, options=StateDictOptions(full_state_dict=True))
        return
    if keyed_by_name:
        position = {n: i for i, n in enumerate(names)}
        state = _rekey(state, lambda name: position[name])
    optimizer.load_state_dict(state)


def _rekey(state: dict, key) -> dict:
    return {"state": {key(k): v for k, v in state["state"].items()},
            "param_groups": [{**g, "params": [key(p) for p in g["params"]]} for g in state["param_groups"]]}


# ----------------------------------------------------------------------------------------------------------
# Plumbing: run directory, checkpoints, evaluation

def run_dir(cfg: Config) -> Path:
    if cfg.resume:
        return Path(cfg.resume)
    return Path(cfg.out or f"runs/{cfg.reward}-{time.strftime('%Y%m%d-%H%M%S')}")


def last_checkpoint(run: Path) -> Path | None:
    done = [p for p in run.glob("ckpt-*") if (p / "state.json").exists() and p.name[5:].isdigit()]
    return max(done, key=lambda p: int(p.name[5:]), default=None)


def save_checkpoint(run: Path, step: int, policy, tokenizer, optimizer, dist: Dist = None) -> Path:
    """RUN/ckpt-<step>: weights (safetensors, loadable by load_model), tokenizer, optimizer, RNG states, step.

    Written into a temporary directory and renamed: a kill leaves either the old or the new checkpoint,
    never half of one. state.json is written last and marks the checkpoint as complete. Under torchrun every
    rank takes part in gathering the full state; rank 0 writes it, so it loads on any world size.
    """
    dist = dist or Dist()
    model_state, optimizer_state = state_dicts(policy, optimizer, dist)
    final = run / f"ckpt-{step}"
    if not dist.main:
        return final
    tmp = run / f".ckpt-{step}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
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


def evaluate(policy, tokenizer, val_set: list, cfg: Config, run: Path, step: int, dist: Dist = None) -> dict:
    """lcb_eval on the validation problems (split across ranks); eval/* metrics on rank 0, {} elsewhere."""
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
        return {}
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

@dataclass
class Run:
    """What the loop holds: the policy being trained and everything around it."""
    dir: Path
    cfg: Config
    dist: Dist
    policy: torch.nn.Module     # DDP/FSDP-wrapped under torchrun
    reference: torch.nn.Module | None
    tokenizer: object
    optimizer: torch.optim.Optimizer
    start: int                  # steps already done (resume)


def setup(cfg: Config) -> Run:
    """Run directory, model (+ reference), optimizer; resume state. Every rank runs this."""
    run = run_dir(cfg)
    if cfg.resume:
        saved = json.loads((run / "config.json").read_text())
        cfg = Config(**{**saved, "resume": cfg.resume})  # the run's own settings, its seed included
    dist = init_distributed(cfg)
    resume_from = last_checkpoint(run) if cfg.resume else None
    if dist.main:
        run.mkdir(parents=True, exist_ok=True)
        (run / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=1))
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    policy, tokenizer = M.load_model(cfg.model, device=cfg.device, dtype=cfg.dtype)
    for checkpoint in (Path(cfg.init_from) if cfg.init_from else None, resume_from):
        if checkpoint is not None:
            load_weights(policy, checkpoint)
    reference = None
    if cfg.kl_beta > 0:  # the frozen initial policy (after --init-from), for the KL term
        reference = M.load_model(cfg.model, device=cfg.device, dtype=cfg.dtype)[0]
        if cfg.init_from:
            load_weights(reference, Path(cfg.init_from))
        reference.requires_grad_(False)
    if cfg.grad_checkpointing:
        policy.gradient_checkpointing_enable()
    policy = wrap_for_training(policy, cfg, dist)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start = 0
    if resume_from is not None:
        load_optimizer(policy, optimizer, torch.load(resume_from / "optimizer.pt", map_location="cpu"), cfg)
        start = json.loads((resume_from / "state.json").read_text())["step"]
        rng = torch.load(resume_from / "rng.pt", weights_only=False)
        torch.set_rng_state(rng["torch"])
        random.setstate(rng["python"])
    if dist.main:
        truncate_log(run / "metrics.jsonl", start)
        truncate_log(run / "samples.jsonl", start)
    return Run(run, cfg, dist, policy, reference, tokenizer, optimizer, start)


def train(cfg: Config) -> Path:
    import lcb_eval
    from tqdm import tqdm
    r = setup(cfg)
    cfg = r.cfg
    train_set, val_set = lcb_eval.load_problems(cfg.data), lcb_eval.load_problems(cfg.val_data)
    log = r.dist.main
    if log:
        print(f"run directory: {r.dir}  ({len(train_set)} training, {len(val_set)} validation problems; "
              f"reward {cfg.reward}; {cfg.prompts_per_step}x{cfg.group_size} completions per step"
              f"{f'; {r.dist.world} ranks' if r.dist.world > 1 else ''})")
    if r.start == 0 and cfg.eval_every and not cfg.skip_first_eval:
        with _sampling_weights(r):
            metrics = evaluate(unwrap(r.policy), r.tokenizer, val_set, cfg, r.dir, 0, r.dist)
        if log:
            append_jsonl(r.dir / "metrics.jsonl", {"step": 0, **metrics})
    bar = tqdm(range(r.start, cfg.steps), initial=r.start, total=cfg.steps, desc="grpo", file=sys.stdout,
               disable=not log)
    for step in bar:
        metrics = train_step(r, train_set, step)
        done = step + 1
        if cfg.eval_every and (done % cfg.eval_every == 0 or done == cfg.steps):
            with _sampling_weights(r):
                metrics.update(evaluate(unwrap(r.policy), r.tokenizer, val_set, cfg, r.dir, done, r.dist))
        if log:
            append_jsonl(r.dir / "metrics.jsonl", {"step": done, **metrics})
            bar.write(compact_line(done, metrics))
        if done % cfg.save_every == 0 or done == cfg.steps:
            save_checkpoint(r.dir, done, r.policy, r.tokenizer, r.optimizer, r.dist)
    if log:
        print(f"done: metrics in {r.dir / 'metrics.jsonl'}, checkpoints in {r.dir}/ckpt-*")
    if r.dist.world > 1:
        import torch.distributed as td
        td.destroy_process_group()
    return r.dir


def _sampling_weights(r: Run):
    """Sampling and scoring call the model's submodules directly: FSDP must gather its shards first."""
    import contextlib
    return full_weights(r.policy) if r.cfg.fsdp and r.dist.world > 1 else contextlib.nullcontext()


def train_step(r: Run, train_set: list, step: int) -> dict:
    """One GRPO step: rollout -> score -> advantage -> update; returns its metrics (all ranks' rows)."""
    cfg, dist = r.cfg, r.dist
    t0 = time.perf_counter()
    problems = step_problems(train_set, cfg, step)[dist.rank::dist.world]  # whole groups stay on one rank
    with _sampling_weights(r):
        ro = rollout(unwrap(r.policy), r.tokenizer, problems, cfg, step)
    t1 = time.perf_counter()
    for group in r.optimizer.param_groups:
        group["lr"] = learning_rate(cfg, step)
    losses = update(r.policy, r.reference, r.optimizer, ro, cfg, step, dist)
    t2 = time.perf_counter()
    parts = dist.gather((row_records(ro), ro.reward_info))
    rows = {k: [v for part, _ in parts for v in part[k]] for k in parts[0][0]}
    reward_info = {k: sum(info[k] for _, info in parts) / len(parts) for k in parts[0][1]}
    if dist.main:
        append_jsonl(r.dir / "samples.jsonl", samples_record(ro, step + 1, r.tokenizer, cfg.group_size))
    tokens = sum(rows["length"])
    return {**step_metrics(rows, reward_info, cfg), **losses, "train/lr": learning_rate(cfg, step),
            "perf/rollout_s": t1 - t0, "perf/update_s": t2 - t1, "perf/tokens_per_s": tokens / (t1 - t0)}


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
