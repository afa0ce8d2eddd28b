"""train_grpo.py: GRPO for code models, with a verifiable reward (tests pass) or an intrinsic one, in one file.

The algorithm exactly as implemented (DESIGN.md; verl-style GRPO). One training step:

  1. rollout     Take the next `--prompts-per-step` problems (a seeded shuffle of the training set, reshuffled
                 each epoch) and sample `--group-size` (N) completions for each at temperature T and
                 `--top-p` with model.sample (prefill once per prompt, KV cache copied to the group).
  2. score       The per-token signals of every completion under logits / T, recorded by the sampler from the
                 log-softmax that drew each token (no second forward; `--rescore` recomputes them with
                 model.score): log-prob lp_old, entropy, self-certainty, probability disparity. lp_old is
                 the "old policy" of the ratio below. The reward r_i comes from
                 rewards.compute_rewards(--reward). Every completion is also graded against its tests,
                 whatever the reward, so `train/pass_rate` shows the true accuracy of intrinsic runs.
  3. advantage   A_i = (r_i - mean_g r) / (std_g r + 1e-6), std unbiased, per group of N (`--no-std-norm`:
                 A_i = r_i - mean_g r, Dr. GRPO). Every token of completion i gets A_i.
  4. update      `--ppo-epochs` (E) passes over the rollout, each split into shuffled minibatches of
                 `--minibatch-size` completions; one AdamW step per minibatch (gradients accumulated over
                 micro-batches of at most `--micro-batch-size` rows of one prompt, and with
                 `--micro-batch-tokens` at most that many completion positions, which changes memory, not
                 the result; the shared prompt is forwarded once per micro-batch):
                   ratio_t = exp(lp_t - lp_old_t)
                   loss_t  = max(-A ratio_t, -A clip(ratio_t, 1 - clip_low, 1 + clip_high))
                   loss_t  = min(loss_t, -dual_clip * A)                      for A < 0 (dual clip)
                   loss_t += kl_beta * (exp(lp_ref - lp) - (lp_ref - lp) - 1) when kl_beta > 0 (k3 estimator,
                             against the frozen initial policy)
                 aggregated by `--loss-agg`: token-mean (sum over the minibatch's tokens / their count),
                 seq-mean-token-mean (mean over sequences of each sequence's token mean), or
                 seq-mean-token-sum-norm (sum / (rows x max_new_tokens), Dr. GRPO). Then the gradient norm
                 is clipped to `--grad-clip`. The learning rate rises linearly over `--warmup-steps` training
                 steps, then stays constant. With E = 1 and one minibatch the ratio is 1 and this is the
                 on-policy policy gradient.
  5. log         One flat dict per step (names in DESIGN.md, "Metrics") appended to RUN/metrics.jsonl (mirrored
                 to TensorBoard / W&B with `--report-to`), one group of full completions to RUN/samples.jsonl.
  6. eval        Every `--eval-every` steps (and before the first step): lcb_eval.evaluate on `--val-data`
                 with `--eval-n` samples at `--eval-temperature`; report in RUN/eval/step-K.json.
  7. checkpoint  Every `--save-every` steps and at the end: RUN/ckpt-K (safetensors weights, optimizer, step),
                 written to a temporary directory and renamed, so a kill never leaves a corrupt checkpoint.

The variants (DESIGN.md, "GRPO variants"; each off by default, its formula a function next to policy_loss):
  --dynamic-sampling         DAPO: drop the groups whose rewards are all equal and sample further prompts (at
                             most --max-resample-rounds rounds); dropped groups top up a step left short
  --overlong-buffer L        DAPO: r += F x clamp((max_new_tokens - L - |y|) / L, -1, 0), F = --overlong-penalty
  --mask-truncated           completions cut at --max-new-tokens without EOS get loss mask 0 (still in metrics)
  --importance-level sequence  GSPO: s_i = exp(mean_t (lp_t - lp_old_t)) clipped to [1 - 3e-4, 1 + 4e-4] by
                             default, no dual clip, one loss per sequence, sequences averaged
  --scale-rewards batch|none A divided by the std of the whole rollout's rewards, or not at all (--no-std-norm)
  --entropy-coef C           loss -= C x the token-mean entropy (of logits / T) of the current policy
  --length-penalty-min L     the study's short-response penalty: r -= alpha x max(0, L - |y|) / L, per completion
  --lora-rank r              y = W x + (alpha / r) B A x on --lora-targets, W frozen (lora.py); the KL reference
                             is the model with its adapters off; checkpoints hold the merged weights

Choices a paper leaves open, as implemented: the signals use logits / T (`--signal-temperature raw` uses the
raw logits); intrinsic rewards are means over tokens (`--reward-reduce sum` for the sum); minibatches count
completions, not prompts; randomness comes from seeds derived from (--seed, step), so `--resume` continues a
killed run with the same metrics as an uninterrupted one. Under torchrun each rank rolls out whole groups of its
share of the prompts and the update equals one process's update on the union (DDP, or FSDP2 with --fsdp;
distributed.py). The run directory's files are written by rundir.py, and the flags are checked by train_config.py.
`--precision bf16` keeps fp32 master weights and AdamW state: sampling and evaluation use a bf16 copy refreshed
after each update, the update's forward and backward run on that copy (under torchrun: bf16 autocast) with the
gradients accumulated in fp32, and log-probs, signals and the loss are fp32 (DESIGN.md, "Precision"); the
default is bf16 on CUDA and fp32 on CPUs without fast bf16 matmuls.

Run:
  python train_grpo.py --reward entropy                  # embedded Qwen2.5-Coder-0.5B on the embedded problems
  python train_grpo.py --reward verifiable --steps 100 --out runs/rlvr
  python train_grpo.py --resume runs/rlvr                # continue a killed run
  python train_grpo.py --reward verifiable --init-from runs/entropy/ckpt-20   # RLIF -> RLVR
  python train_grpo.py --reward verifiable --dynamic-sampling --clip-high 0.28 --overlong-buffer 64   # DAPO-like
  torchrun --nproc_per_node=4 train_grpo.py --reward verifiable --prompts-per-step 64 --group-size 16
"""
from __future__ import annotations

import copy
import dataclasses
import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

import distributed as D
import lora as L
import model as M
import rewards as R
import rundir
import train_config
from distributed import Dist, unwrap


def flag(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass
class Config:
    # ---- model and data
    model: str = flag(M.DEFAULT_MODEL, f"model: {' or '.join(M.EMBEDDED_MODELS)} (embedded), an HF id, or a local "
                                       "directory")
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
    clip_low: float | None = flag(None, "ratio clip below: 1 - clip_low (default 0.2; 3e-4 with GSPO)")
    clip_high: float | None = flag(None, "ratio clip above: 1 + clip_high (default 0.2; 4e-4 with GSPO)")
    dual_clip: float = flag(3.0, "dual-clip constant c for negative advantages (loss <= -c A)")
    kl_beta: float = flag(0.0, "weight of the k3 KL to the initial policy (0: no reference model)")
    ppo_epochs: int = flag(1, "passes over each rollout (E)")
    minibatch_size: int | None = flag(None, "completions per optimizer step (default: the whole rollout)")
    micro_batch_size: int = flag(4, "completions per forward/backward (memory only; gradients accumulate)")
    micro_batch_tokens: int = flag(0, "also cap a micro-batch at this many completion positions (rows x its "
                                      "longest answer): memory follows answer length; 0: no cap")
    loss_agg: str | None = flag(None, "token-mean (default) | seq-mean-token-mean (GSPO's) | seq-mean-token-sum-norm")
    no_std_norm: bool = flag(False, "alias of --scale-rewards none (Dr. GRPO)")
    # ---- GRPO variants (DESIGN.md, "GRPO variants"); every default keeps the algorithm above
    dynamic_sampling: bool = flag(False, "DAPO: keep only groups whose rewards differ, resample prompts to refill")
    max_resample_rounds: int = flag(3, "dynamic sampling: resampling rounds before topping up with dropped groups")
    overlong_buffer: int = flag(0, "DAPO soft overlong punishment over the last L tokens (0: off)")
    overlong_penalty: float = flag(1.0, "soft overlong punishment: r += F x R_len, R_len in [-1, 0]")
    mask_truncated: bool = flag(False, "completions cut at --max-new-tokens without EOS get no loss (still logged)")
    importance_level: str = flag("token", "token: a ratio per token; sequence: GSPO's sequence ratio")
    scale_rewards: str = flag("group", "advantage / group std (group), / rollout std (batch), or not (none)")
    entropy_coef: float = flag(0.0, "entropy bonus: loss -= C x token-mean entropy of the current policy")
    length_penalty_min: int = flag(0, "short-response penalty: r -= alpha x max(0, L - |y|) / L (0: off)")
    length_penalty_alpha: float = flag(1.0, "short-response penalty weight alpha")
    lora_rank: int = flag(0, "LoRA rank r on the decoder's linear layers, base frozen (0: full fine-tuning)")
    lora_alpha: float = flag(16.0, "LoRA: the update is (alpha / r) B A")
    lora_targets: str = flag(",".join(L.DEFAULT_TARGETS), "LoRA: names of the decoder linear layers to adapt")
    # ---- evaluation, checkpoints, run
    eval_every: int = flag(10, "evaluate every k steps (0: never)")
    eval_n: int = flag(4, "samples per validation problem")
    eval_temperature: float = flag(0.8, "validation sampling temperature")
    eval_limit: int | None = flag(None, "evaluate on the first k validation problems only")
    skip_first_eval: bool = flag(False, "no evaluation at step 0 (runs that start from the same weights share it)")
    save_every: int = flag(10, "checkpoint every k steps and at the end (0: never, nothing to resume from)")
    seed: int = flag(0, "seed of problem order, sampling and the random reward")
    out: str | None = flag(None, "run directory (default runs/<reward>-<time>)")
    resume: str | None = flag(None, "continue the run in this directory from its last checkpoint")
    init_from: str | None = flag(None, "start from the weights of RUN/ckpt-K, with a fresh optimizer")
    device: str | None = flag(None, "cpu or cuda (default: cuda when available)")
    precision: str | None = flag(None, "fp32 or bf16 compute; master weights and AdamW state are fp32 either way "
                                       "(default: bf16 on CUDA, and on CPUs where bf16 matmuls are faster)")
    rescore: bool = flag(False, "recompute lp_old and the signals with a forward pass after sampling (default: the "
                                "sampler's own, recorded while drawing each token from the same weights)")
    grad_checkpointing: bool = flag(False, "recompute activations in backward: less memory, ~30% slower")
    fsdp: bool = flag(False, "under torchrun: shard parameters, gradients and optimizer state (FSDP2) "
                             "instead of replicating them (DDP)")
    min_isolation: str | None = flag(None, "refuse to run programs below this sandbox isolation: portable < uid "
                                           "< userns < namespaces (default: $SANDBOX_MIN_ISOLATION, else any)")
    report_to: tuple[str, ...] = flag(("none",), "also send the metrics to: none, tensorboard, wandb (several)")

    def __post_init__(self):
        """Defaults that depend on another flag, resolved here so that config.json holds what ran."""
        gspo = self.importance_level == "sequence"  # GSPO's own clip range (Zheng et al. 2025) and aggregation
        self.clip_low = (3e-4 if gspo else 0.2) if self.clip_low is None else self.clip_low
        self.clip_high = (4e-4 if gspo else 0.2) if self.clip_high is None else self.clip_high
        self.loss_agg = self.loss_agg or ("seq-mean-token-mean" if gspo else "token-mean")
        if self.no_std_norm and self.scale_rewards == "group":  # the alias
            self.scale_rewards = "none"
        names = [self.report_to] if isinstance(self.report_to, str) else self.report_to
        self.report_to = tuple(part for name in names for part in name.split(",") if part)


def parse_config(argv=None) -> Config:
    """The command line as a Config, refused with one line per problem (train_config.validate) when bad."""
    return train_config.parse(Config, argv)


# ----------------------------------------------------------------------------------------------------------
# Algorithm: rollout and score (with --dynamic-sampling, filtered and refilled)

@dataclass
class Rollout:
    """One step's completions and everything the update needs. Rows are prompt-major groups of N."""
    samples: M.Samples
    problems: list                  # one lcb_eval.Problem per row
    signals: dict[str, torch.Tensor]  # (B, T) each: logprob (= lp_old), entropy, self_certainty, prob_disparity
    rewards: torch.Tensor           # (B,) with the length terms (--overlong-buffer, --length-penalty-min)
    advantages: torch.Tensor | None  # (B,) set by the advantage phase
    passed: torch.Tensor            # (B,) 1.0 when the completion passes every test
    reward_info: dict
    loss_mask: torch.Tensor | None = None  # (B, T) completion mask, rows cut without EOS zeroed by --mask-truncated


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


def rollout(policy, tokenizer, problems: list, cfg: Config, step: int, draw: int = 0) -> Rollout:
    """Sample, score and reward N completions of each problem. draw > 0: a resampling round of the same step
    (--dynamic-sampling), with a sampler seed and a random-reward seed of its own."""
    import lcb_eval
    prompts = [lcb_eval.build_prompt(p, tokenizer) for p in problems]
    samples = M.sample(policy, tokenizer, prompts, n=cfg.group_size, max_new_tokens=cfg.max_new_tokens,
                       temperature=cfg.temperature, top_p=cfg.top_p,
                       seed=(sampling_seed(cfg, step) + draw * 2**40) % 2**63)
    rows = [p for p in problems for _ in range(cfg.group_size)]
    # Signals from the sampling policy before any update: these are lp_old and the intrinsic rewards' inputs.
    # The sampler recorded them while drawing, from the same weights and logits / T, so by default no second
    # forward pass is spent on them (--rescore computes them again, as model.score).
    signal_T = R.score_temperature(cfg.signal_temperature, cfg.temperature)
    signals = samples.signals()
    if cfg.rescore:
        signals = M.score(policy, samples.input_ids, samples.attention_mask, samples.completion_mask,
                          temperature=cfg.temperature, fused=policy.device.type == "cuda", group_size=cfg.group_size)
    if signal_T != cfg.temperature:  # "raw": rewards read signals of the raw logits; lp_old stays at logits / T
        raw = M.score(policy, samples.input_ids, samples.attention_mask, samples.completion_mask, temperature=signal_T,
                      group_size=cfg.group_size)
        signals = {**raw, "logprob": signals["logprob"]}
    verdicts = lcb_eval.grade_many(rows, samples.texts)
    ctx = R.RewardContext(signals=signals, mask=samples.completion_mask, texts=samples.texts, problems=rows,
                          group_size=cfg.group_size, step=step, seed=cfg.seed + draw * 2**20, verdicts=verdicts)
    options = dict(reduce=cfg.reward_reduce, signal_temperature=cfg.signal_temperature,
                   fraction=cfg.verifiable_fraction, intrinsic=cfg.hybrid_intrinsic,
                   switch_step=cfg.hybrid_switch_step, mix_alpha=cfg.hybrid_mix_alpha)
    rewards, info = R.compute_rewards(cfg.reward, ctx, **options)                       # (B,)
    lengths = samples.lengths.float()                                                   # (B,)
    if cfg.overlong_buffer:
        overlong = cfg.overlong_penalty * overlong_reward(lengths, cfg.max_new_tokens, cfg.overlong_buffer)  # (B,)
        rewards, info = rewards + overlong, {**info, "reward/overlong_penalty": float(overlong.mean())}
    if cfg.length_penalty_min:
        short = cfg.length_penalty_alpha * short_response_penalty(lengths, cfg.length_penalty_min)  # (B,)
        rewards, info = rewards - short, {**info, "reward/length_penalty": float(short.mean())}
    passed = torch.tensor([float(v.passed) for v in verdicts])                          # (B,)
    loss_mask = samples.completion_mask.clone()                                         # (B, T)
    if cfg.mask_truncated:
        loss_mask[~samples.stopped] = 0                                                 # cut at max_new_tokens
    return Rollout(samples, rows, signals, rewards, None, passed, info, loss_mask)


def collect_rollout(policy, tokenizer, train_set: list, problems: list, cfg: Config, step: int,
                    rank: int = 0) -> tuple[Rollout, dict]:
    """The step's rollout. With --dynamic-sampling, DAPO's filter (Yu et al. 2025, section 3.2): keep the groups
    whose rewards are not all equal; while fewer than len(problems) are kept and rounds are left, sample as many
    further problems as groups are missing (seeded, none twice in a step). When the budget runs out, the first
    dropped groups (A = 0: no policy gradient) top the step up, so every step and rank has the same rows.
    reward/* info is that of the step's own problems (the first round)."""
    ro = rollout(policy, tokenizer, problems, cfg, step)
    if not cfg.dynamic_sampling:
        return ro, {}
    wanted, n, info = len(problems), cfg.group_size, ro.reward_info
    kept, dropped, drawn = [], [], list(problems)
    for draw in range(1, cfg.max_resample_rounds + 2):
        signal = groups_with_signal(ro.rewards, n)                                      # (G,)
        kept += [(ro, g) for g in range(signal.numel()) if signal[g]]
        dropped += [(ro, g) for g in range(signal.numel()) if not signal[g]]
        if len(kept) >= wanted or draw > cfg.max_resample_rounds:
            break
        extra = resample_problems(train_set, drawn, wanted - len(kept), cfg, step, draw, rank)
        if not extra:
            break
        drawn += extra
        ro = rollout(policy, tokenizer, extra, cfg, step, draw)
    ro = dataclasses.replace(take_groups((kept + dropped)[:wanted], n), reward_info=info)
    return ro, {"train/kept_groups": min(len(kept), wanted), "train/resampled_prompts": len(drawn) - wanted}


def resample_problems(train_set: list, drawn: list, count: int, cfg: Config, step: int, draw: int, rank: int) -> list:
    """`count` problems for resampling round `draw` of step `step`: a seeded shuffle, skipping those drawn."""
    seed = ((cfg.seed * 1_000_003 + step) * 1009 + draw) * 101 + rank
    order = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(seed))
    seen = {id(p) for p in drawn}
    return [train_set[i] for i in order.tolist() if id(train_set[i]) not in seen][:count]


def take_groups(picks: list[tuple[Rollout, int]], n: int) -> Rollout:
    """One Rollout of the picked groups [(rollout, group index)], re-padded to common widths (prompts on the left)."""
    def part(get, left=False):  # the picked rows of each rollout (a list, or tensors padded to one width)
        chunks = [None if get(ro) is None else get(ro)[g * n:(g + 1) * n] for ro, g in picks]
        if chunks[0] is None or isinstance(chunks[0], list):
            return None if chunks[0] is None else [x for chunk in chunks for x in chunk]
        width = max(c.size(-1) for c in chunks)
        pad = lambda c: (width - c.size(1), 0) if left else (0, width - c.size(1))  # noqa: E731
        return torch.cat([torch.nn.functional.pad(c, pad(c)) if c.dim() == 2 else c for c in chunks])

    s = M.Samples(*(part(lambda ro: getattr(ro.samples, f.name), f.name.startswith("prompt_"))
                    for f in dataclasses.fields(M.Samples)))
    signals = {k: part(lambda ro: ro.signals[k]) for k in picks[0][0].signals}
    return Rollout(s, part(lambda ro: ro.problems), signals, part(lambda ro: ro.rewards), None,
                   part(lambda ro: ro.passed), picks[0][0].reward_info, part(lambda ro: ro.loss_mask))


# ----------------------------------------------------------------------------------------------------------
# Algorithm: the loss, and the variants' formulas (advantage scaling, reward shaping, GSPO ratio, DAPO filter)

def policy_loss(logprobs, old_logprobs, advantages, mask, cfg: Config, ref_logprobs=None, n_rows=None, n_tokens=None,
                entropy=None):
    """Clipped GRPO loss of one micro-batch, aggregated as --loss-agg over its minibatch.

    logprobs, old_logprobs, ref_logprobs, mask, entropy: (b, T); advantages: (b,). n_rows / n_tokens: the size
    of the whole minibatch (rows, real tokens), so micro-batch losses add up to the minibatch loss. Returns
    (loss, stats) with stats summed over this micro-batch's tokens: clipped tokens, approx-KL, policy, KL,
    entropy. --importance-level sequence (GSPO): the ratio of every token of row i is s_i (sequence_ratio), no
    dual clip; the row's loss is then the same on each of its tokens, so seq-mean-token-mean averages
    sequences. entropy (the current policy's H_t, with --entropy-coef): loss -= coef x sum_t H_t / n_tokens.
    """
    mask = mask.float()                                                     # (b, T)
    adv = advantages[:, None]                                               # (b, 1)
    log_ratio = logprobs - old_logprobs                                     # (b, T)
    if cfg.importance_level == "sequence":
        ratio = sequence_ratio(log_ratio, mask).expand_as(log_ratio)        # (b, T) s_i on every token of row i
    else:
        ratio = torch.exp(log_ratio)                                        # (b, T)
    unclipped = -adv * ratio                                                # (b, T)
    clipped = -adv * torch.clamp(ratio, 1 - cfg.clip_low, 1 + cfg.clip_high)  # (b, T)
    per_token = torch.maximum(unclipped, clipped)                           # (b, T)
    if cfg.importance_level == "token":
        dual = torch.minimum(per_token, -cfg.dual_clip * adv)               # (b, T) caps the loss when A < 0
        per_token = torch.where(adv < 0, dual, per_token)                   # (b, T)
    policy_part = per_token
    kl = torch.zeros_like(per_token)                                        # (b, T)
    if cfg.kl_beta > 0:
        delta = ref_logprobs - logprobs                                     # (b, T)
        kl = torch.exp(delta) - delta - 1                                   # (b, T) k3, >= 0
        per_token = per_token + cfg.kl_beta * kl                            # (b, T)
    n_rows = n_rows or mask.size(0)
    n_tokens = n_tokens or mask.sum()
    loss = aggregate(per_token, mask, cfg.loss_agg, n_rows, n_tokens, cfg.max_new_tokens)  # ()
    entropy_sum = 0.0
    if entropy is not None:
        entropy_sum = (entropy * mask).sum()                                # ()
        loss = loss - cfg.entropy_coef * entropy_sum / n_tokens             # () bonus: token mean over the minibatch
    stats = {
        "clipped": ((unclipped < clipped).float() * mask).sum().item(),
        "approx_kl": (0.5 * log_ratio.detach() ** 2 * mask).sum().item(),
        "policy": aggregate(policy_part.detach(), mask, cfg.loss_agg, n_rows, n_tokens, cfg.max_new_tokens).item(),
        "kl": (kl.detach() * mask).sum().item(),
        "entropy": float(entropy_sum.detach()) if entropy is not None else 0.0,
    }
    return loss, stats


def sequence_ratio(log_ratio, mask):
    """GSPO's importance ratio (Zheng et al. 2025): s_i = exp((1/|y_i|) sum_t M_t (lp_t - lp_old,t)), the
    length-normalised sequence likelihood ratio. log_ratio, mask: (b, T) -> (b, 1)."""
    lengths = mask.sum(-1, keepdim=True).clamp(min=1)                       # (b, 1)
    return torch.exp((log_ratio * mask).sum(-1, keepdim=True) / lengths)   # (b, 1)


def scaled_advantages(rewards, group_size: int, scale: str, rollout_std=None):
    """--scale-rewards: A_i = (r_i - mean_g r) / D, one scalar per completion, every token of it gets A_i.
        group  D = std_g r + 1e-6     the group's unbiased std (GRPO, the default)
        batch  D = std r + 1e-6       the unbiased std over the whole rollout, every rank's rows (rollout_std)
        none   D = 1                  (Dr. GRPO, Liu et al. 2025)
    A group whose rewards are all equal gets exactly 0. rewards (B,) -> (B,)."""
    if scale == "group":
        return R.group_advantages(rewards, group_size)                      # (B,)
    centred = R.group_advantages(rewards, group_size, std_norm=False)      # (B,) r - mean_g r
    if scale == "batch":
        rollout_std = rewards.float().std() if rollout_std is None else rollout_std
        return centred / (rollout_std + 1e-6)                               # (B,)
    return centred


def overlong_reward(lengths, max_new_tokens: int, buffer: int):
    """DAPO's soft overlong punishment (Yu et al. 2025, section 3.4), L_max = max_new_tokens, L_c = buffer:
        R_len = 0 if |y| <= L_max - L_c;  ((L_max - L_c) - |y|) / L_c if L_max - L_c < |y| <= L_max;  -1 beyond.
    The trainer adds --overlong-penalty x R_len to r. lengths (B,) -> (B,)."""
    return ((max_new_tokens - buffer - lengths) / buffer).clamp(min=-1.0, max=0.0)  # (B,)


def short_response_penalty(lengths, min_length: int):
    """The study's short-response penalty (appendix G.4): max(0, L_min - |y|) / L_min, one scalar per completion;
    the trainer subtracts --length-penalty-alpha x it from r before the advantage. The study's code broadcast
    the score over tokens and summed, so its reward grew with length; here r stays one number per completion.
    lengths (B,) -> (B,)."""
    return (min_length - lengths).clamp(min=0) / min_length                 # (B,)


def groups_with_signal(rewards, group_size: int):
    """DAPO's dynamic-sampling filter: True for the groups whose rewards are not all equal (std_g r > 0).
    rewards (B,) -> (G,) bool."""
    grouped = rewards.view(-1, group_size)                                  # (G, N)
    return (grouped != grouped[:, :1]).any(dim=1)                           # (G,)


def aggregate(per_token, mask, mode: str, n_rows: int, n_tokens, max_new_tokens: int):
    """Reduce (b, T) per-token losses of a micro-batch to its share of the minibatch loss."""
    if mode == "token-mean":
        return (per_token * mask).sum() / n_tokens
    if mode == "seq-mean-token-mean":
        return ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1)).sum() / n_rows
    if mode == "seq-mean-token-sum-norm":
        return (per_token * mask).sum() / (n_rows * max_new_tokens)
    raise ValueError(f"unknown --loss-agg {mode!r}; valid: {', '.join(train_config.LOSS_AGGREGATIONS)}")


# ----------------------------------------------------------------------------------------------------------
# Algorithm: the update

def update(policy, reference, optimizer, ro: Rollout, cfg: Config, step: int, dist: Dist = None,
           twin: torch.nn.Module | None = None) -> dict:
    """E epochs over shuffled minibatches of the rollout; one optimizer step per minibatch.

    Under torchrun each rank holds rollout rows of its own; a minibatch is --minibatch-size rows in all,
    minibatch / world on each rank. The loss is normalised by the whole minibatch's token and row counts, and
    multiplied by world because DDP and FSDP average the ranks' gradients: the step equals one process's step
    on the union of the rows. reference None with kl_beta > 0: the policy with its LoRA adapters off.
    twin (--precision bf16 in one process): the policy's bf16 sampling copy. The forward and backward run on it
    instead of under autocast, each micro-batch's gradients are added into the fp32 master gradients
    (add_twin_grads), and the optimizer steps the fp32 master weights; the caller refreshes the twin.
    """
    dist = dist or Dist()
    model = policy if twin is None else twin                               # what the forward and backward run on
    scratch = None
    if twin is not None:
        masters = dict(unwrap(policy).named_parameters())
        for name, p in twin.named_parameters():
            p.requires_grad_(masters[name].requires_grad)
        scratch = torch.empty(max(p.numel() for p in twin.parameters() if p.requires_grad))  # fp32, reused
    s = ro.samples
    mask = s.completion_mask if ro.loss_mask is None else ro.loss_mask     # (B, T) tokens that get a loss
    B, T = s.completion_ids.shape
    local_minibatch = (cfg.minibatch_size or B * dist.world) // dist.world
    ref_lp = None
    if cfg.kl_beta > 0:
        ref_lp = torch.zeros(B, T, device=next(policy.parameters()).device)  # (B, T)
        # under the update's autocast, so that the reference is computed as the policy is (at step 1 they agree)
        with torch.no_grad(), L.adapters_off(unwrap(model)) as base, autocast(cfg, model):
            for micro in micro_batches(torch.arange(B), cfg.group_size, cfg.micro_batch_size, s.lengths,
                                       cfg.micro_batch_tokens):
                lp = micro_logprobs(base if reference is None else reference, s, micro, cfg.temperature)  # (b, t)
                ref_lp[micro, :lp.size(1)] = lp
    order_gen = torch.Generator().manual_seed(cfg.seed * 31337 + step + 1009 * dist.rank)
    totals = dict.fromkeys(("clipped", "approx_kl", "policy", "kl", "entropy", "tokens"), 0.0)
    grad_norms = []
    model.train()
    for _ in range(cfg.ppo_epochs):
        order = torch.randperm(B, generator=order_gen)
        for start in range(0, B, local_minibatch):
            rows = order[start:start + local_minibatch]
            n_tokens = max(dist.all_sum([float(mask[rows].sum())])[0], 1.0)
            optimizer.zero_grad(set_to_none=True)
            stats = minibatch_grads(policy, model, ro, mask, rows, n_tokens, ref_lp, cfg, dist, twin, scratch)
            for k in ("clipped", "approx_kl", "kl", "policy", "entropy"):
                totals[k] += stats[k]
            grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.grad_clip)  # frozen: no grad
            optimizer.step()
            grad_norms.append(float(grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm))
            totals["tokens"] += n_tokens / dist.world  # summed over ranks below
    model.eval()
    if twin is not None:
        twin.zero_grad(set_to_none=True)  # its memory back for sampling
    clipped, approx_kl, policy_sum, kl, entropy_sum, tokens = dist.all_sum(
        [totals["clipped"], totals["approx_kl"], totals["policy"], totals["kl"], totals["entropy"], totals["tokens"]])
    return {
        "loss/policy": policy_sum / len(grad_norms),
        "loss/kl": kl / tokens,
        "train/clip_frac": clipped / tokens,
        "train/approx_kl": approx_kl / tokens,
        "train/grad_norm": sum(grad_norms) / len(grad_norms),
        **({"loss/entropy": entropy_sum / tokens} if cfg.entropy_coef else {}),
    }


def minibatch_grads(policy, model, ro: Rollout, mask, rows, n_tokens: float, ref_lp, cfg: Config, dist: Dist,
                    twin=None, scratch=None) -> dict:
    """Accumulate one minibatch's gradient (rows of the rollout) into the policy's .grad, micro-batch by
    micro-batch, forward and backward on `model` (the policy, or its bf16 twin; see update). Returns the
    micro-batches' summed loss statistics.

    In one process a prompt split over micro-batches is forwarded once (M.SharedPrompt; with gradient
    checkpointing each row forwards its prompt).
    """
    s = ro.samples
    micros = micro_batches(rows, cfg.group_size, cfg.micro_batch_size, s.lengths, cfg.micro_batch_tokens)
    share = dist.world == 1 and not getattr(unwrap(model), "is_activation_checkpointing", False)
    shared = None  # the current prompt's forward, shared by its micro-batches
    sums = dict.fromkeys(("clipped", "approx_kl", "kl", "policy", "entropy"), 0.0)
    with autocast(cfg, model):  # one context per optimizer step: each weight is cast to bf16 once
        for i, micro in enumerate(micros):
            if share and (shared is None or not shared.uses_left):
                group = int(micro[0]) // cfg.group_size  # micro-batches come prompt by prompt
                uses = sum(int(m[0]) // cfg.group_size == group for m in micros[i:])
                shared = M.SharedPrompt(model, prompt_of(s, micro), uses) if uses > 1 else None
            with dist.no_sync(policy, last=i == len(micros) - 1):
                if cfg.entropy_coef:
                    lp, entropy = micro_logprobs(model, s, micro, cfg.temperature, True, shared)  # (b, t) each
                else:
                    lp, entropy = micro_logprobs(model, s, micro, cfg.temperature, shared=shared), None  # (b, t)
                t, dev = lp.size(1), lp.device  # rewards graded on the CPU meet a GPU's log-probs
                loss, stats = policy_loss(lp, ro.signals["logprob"][micro, :t].to(dev), ro.advantages[micro].to(dev),
                                          mask[micro, :t].to(dev), cfg, None if ref_lp is None else ref_lp[micro, :t],
                                          len(rows) * dist.world, n_tokens, entropy)
                if shared is not None and not shared.uses_left:  # its last micro-batch: the prompt's backward,
                    loss = loss + shared.pending()               # with the earlier ones' share (world is 1)
                (loss * dist.world).backward()
            if twin is not None:
                add_twin_grads(policy, twin, scratch)
            for k in sums:
                sums[k] += stats[k]
    return sums


def autocast(cfg: Config, model):
    """--precision bf16 on fp32 weights (under torchrun): matmuls in bf16 on the fp32 master weights; log-probs and
    loss stay fp32 (the model casts its logits with .float() before the log-softmax). fp32, or a bf16 model (the
    twin): no-op."""
    weight = next(model.parameters())
    return torch.autocast(weight.device.type, dtype=torch.bfloat16,
                          enabled=cfg.precision == "bf16" and weight.dtype == torch.float32)


def add_twin_grads(policy, twin, scratch: torch.Tensor) -> None:
    """Add the bf16 twin's gradients into the policy's fp32 gradients and zero the twin's, so that a minibatch's
    micro-batches accumulate in fp32. scratch: a reused fp32 buffer of at least the largest weight's size; a cast
    copy into it plus an fp32 add took 32 ms for 136M elements, an in-place add of the bf16 tensor 165 ms."""
    copies = dict(twin.named_parameters())
    for name, master in unwrap(policy).named_parameters():
        grad = copies[name].grad
        if grad is None:
            continue
        if master.grad is None:
            master.grad = grad.float()
        else:
            master.grad.add_(scratch[:grad.numel()].view_as(grad).copy_(grad))
        grad.zero_()


def micro_batches(rows: torch.Tensor, group_size: int, size: int, lengths: torch.Tensor | None = None,
                  max_tokens: int = 0) -> list[torch.Tensor]:
    """Split a minibatch's rows into micro-batches of at most `size` rows that share one prompt.

    Rows are prompt-major (row // group_size is the prompt), so a micro-batch's prompt is forwarded once
    (micro_logprobs). With `lengths` (completion lengths, (B,)), each prompt's rows are sorted by length first,
    so a micro-batch is computed up to its own longest completion and little padding is (lengths 36..251 in
    one group of 8 otherwise cost 8 x 251 positions for 961 tokens). Without it, rows keep their shuffled order.
    max_tokens > 0 (with lengths): a micro-batch also holds at most max_tokens completion positions (its rows
    x its longest completion), so that memory follows the answers' length: short answers share a micro-batch
    (and one forward of their prompt), long ones are split (a row longer than max_tokens goes alone).
    How the rows are split does not change the minibatch's gradient: each micro-batch's loss is normalised by
    the whole minibatch's counts.
    """
    by_prompt: dict[int, list[int]] = {}
    for row in rows.tolist():
        by_prompt.setdefault(row // group_size, []).append(row)
    if lengths is not None:
        by_prompt = {k: sorted(group, key=lambda row: int(lengths[row])) for k, group in by_prompt.items()}
    capped = bool(max_tokens) and lengths is not None
    micros = []
    for group in by_prompt.values():
        current: list[int] = []
        for row in group:  # capped, so ascending length: the row joining is the micro-batch's longest
            if current and (len(current) == size or capped and (len(current) + 1) * int(lengths[row]) > max_tokens):
                micros.append(torch.tensor(current))
                current = []
            current.append(row)
        micros.append(torch.tensor(current))
    return micros


def micro_logprobs(model, s: M.Samples, micro: torch.Tensor, temperature: float, entropy: bool = False,
                   shared: M.SharedPrompt | None = None):
    """Differentiable log-probs (b, t) of the completions of rows `micro` (one prompt), t = their longest length;
    entropy=True: (log-probs, token entropies), both (b, t). shared: the prompt's forward, made once for this
    micro-batch and the next ones of the same prompt (M.SharedPrompt).

    Columns past the longest completion hold only padding and are not computed. With gradient checkpointing,
    HF turns the KV cache off in training, so the prompt is then forwarded once per row (completion_logprobs).
    """
    t = max(int(s.completion_mask[micro].sum(-1).max()), 1)
    completions = s.completion_ids[micro, :t]                                # (b, t)
    if getattr(unwrap(model), "is_activation_checkpointing", False) and model.training:
        ids = torch.cat([s.prompt_ids[micro], completions], 1)               # (b, P+t)
        mask = torch.cat([s.prompt_mask[micro], s.completion_mask[micro, :t]], 1)
        return M.completion_logprobs(model, ids, mask, t, temperature=temperature, entropy=entropy)
    if not (s.prompt_ids[micro] == s.prompt_ids[micro[:1]]).all():
        raise ValueError(f"micro-batch rows {micro.tolist()} do not share one prompt (rows must be prompt-major groups)")
    return M.group_logprobs(model, prompt_of(s, micro), completions, temperature=temperature, entropy=entropy,
                            shared=shared)


def prompt_of(s: M.Samples, micro: torch.Tensor) -> torch.Tensor:
    """The prompt of micro-batch rows `micro` (its first row's), without padding: (P,)."""
    return s.prompt_ids[micro[0]][s.prompt_mask[micro[0]].bool()]


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


def eval_metrics(report: dict | None) -> dict:
    """eval/avg@k, eval/pass@k, eval/response_length, and the text metrics split by correct / incorrect
    ({} for ranks other than 0, which get no report)."""
    if report is None:
        return {}
    k = report["config"]["n"]
    samples = [s for p in report["problems"] for s in p["samples"]]
    metrics = {f"eval/avg@{k}": report["avg"], f"eval/pass@{k}": report["pass_at_k"][str(k)],
               "eval/response_length": sum(s["tokens"] for s in samples) / max(len(samples), 1)}
    for label, keep in (("correct", True), ("incorrect", False)):
        texts = [s["text"] for s in samples if s["passed"] == keep]
        for name, value in R.text_metrics(texts).items():
            metrics[f"eval/{name.split('/')[1]}_{label}"] = value
    return metrics


# ----------------------------------------------------------------------------------------------------------
# The loop

@dataclass
class Run:
    """What the loop holds: the policy being trained and everything around it."""
    dir: Path
    cfg: Config
    dist: Dist
    policy: torch.nn.Module     # DDP/FSDP-wrapped under torchrun
    reference: torch.nn.Module | None  # None without KL, and under LoRA (the policy with its adapters off)
    tokenizer: object
    optimizer: torch.optim.Optimizer
    start: int                  # steps already done (resume)
    sampler: torch.nn.Module | None = None  # bf16 copy of the policy for rollouts and evaluation (--precision bf16)
    kept_memory: bool = False   # M.keep_freed_memory is on (a CPU run), until M.release_freed_memory turns it off

    def sampling_model(self) -> torch.nn.Module:
        return self.sampler if self.sampler is not None else unwrap(self.policy)


def setup(cfg: Config) -> Run:
    """Run directory, model (+ reference), optimizer; resume state. Every rank runs this."""
    run = rundir.run_dir(cfg)
    if cfg.resume:
        saved = json.loads((run / "config.json").read_text())
        saved.pop("dtype", None)  # runs from before --precision (whose bf16 trained pure bf16 weights)
        cfg = Config(**{**saved, "resume": cfg.resume})  # the run's own settings, its seed included
    dist = D.init_distributed(cfg)
    cfg.precision = M.choose_precision(cfg.precision, cfg.device or M.default_device())
    # a step's large tensors reuse pages the last one touched (bf16 update 17.0 -> 13.7 s); see train_step
    kept_memory = (cfg.device or M.default_device()) == "cpu" and M.keep_freed_memory()
    resume_from = rundir.last_checkpoint(run) if cfg.resume else None
    if dist.main:
        run.mkdir(parents=True, exist_ok=True)
        (run / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=1))
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    # Master weights fp32 always (DESIGN.md "Precision"); bf16 is a compute dtype: a bf16 copy for sampling,
    # scoring, evaluation and the update's forward and backward (autocast under torchrun), refreshed after each update.
    policy, tokenizer = M.load_model(cfg.model, device=cfg.device, dtype=torch.float32)
    if cfg.init_from:
        rundir.load_weights(policy, Path(cfg.init_from))
    bf16 = cfg.precision == "bf16"
    reference = None
    if cfg.kl_beta > 0 and not cfg.lora_rank:  # the frozen initial policy (after --init-from); forward only
        reference = M.bf16_copy(policy) if bf16 else copy.deepcopy(policy).requires_grad_(False)
    # Under LoRA a checkpoint's model.safetensors is merged: the run resumes from the base and its adapters.
    if resume_from is not None and not cfg.lora_rank:
        rundir.load_weights(policy, resume_from)
    if cfg.lora_rank:
        L.add_adapters(policy, cfg.lora_rank, cfg.lora_alpha, cfg.lora_targets.split(","))
        if resume_from is not None:
            L.load_adapters(policy, resume_from)
    sampler = M.bf16_copy(policy) if bf16 and not (cfg.fsdp and dist.world > 1) else None
    if cfg.grad_checkpointing:
        for module in (policy, sampler):  # the update runs on the bf16 sampler in one process
            if module is not None:
                module.gradient_checkpointing_enable()
    policy = D.wrap_for_training(policy, cfg, dist)
    trainable = [p for p in policy.parameters() if p.requires_grad]  # every parameter, or the LoRA adapters
    # fused: one vectorised loop over each weight instead of a chain of tensor ops (CPU and CUDA); on the CPU its
    # step took 0.05 s against 0.25-0.42 s per 40M weights (one thread). FSDP's sharded weights keep the default.
    optimizer = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay,
                                  fused=not (cfg.fsdp and dist.world > 1))
    start = 0
    if resume_from is not None:
        D.load_optimizer(policy, optimizer, torch.load(resume_from / "optimizer.pt", map_location="cpu"), cfg)
        start = json.loads((resume_from / "state.json").read_text())["step"]
        rng = torch.load(resume_from / "rng.pt", weights_only=False)
        torch.set_rng_state(rng["torch"])
        random.setstate(rng["python"])
    if dist.main:
        rundir.truncate_log(run / "metrics.jsonl", start)
        rundir.truncate_log(run / "samples.jsonl", start)
    return Run(run, cfg, dist, policy, reference, tokenizer, optimizer, start, sampler, kept_memory)


def train(cfg: Config) -> Path:
    import lcb_eval
    from tqdm import tqdm
    r = setup(cfg)
    cfg = r.cfg
    train_set, val_set = lcb_eval.load_problems(cfg.data), lcb_eval.load_problems(cfg.val_data)
    log = r.dist.main
    mirrors = rundir.Mirrors(cfg, r.dir) if log else None
    if log:
        trained = sum(p.numel() for p in r.policy.parameters() if p.requires_grad)
        print(f"run directory: {r.dir}  ({len(train_set)} training, {len(val_set)} validation problems; "
              f"reward {cfg.reward}; {cfg.prompts_per_step}x{cfg.group_size} completions per step; "
              f"{trained:,} trained parameters{f'; {r.dist.world} ranks' if r.dist.world > 1 else ''})")
    if r.start == 0 and cfg.eval_every and not cfg.skip_first_eval:
        with D.sampling_weights(r.policy, cfg, r.dist):
            metrics = eval_metrics(rundir.evaluate(r.sampling_model(), r.tokenizer, val_set, cfg, r.dir, 0, r.dist))
        if log:
            rundir.append_jsonl(r.dir / "metrics.jsonl", {"step": 0, **metrics})
            mirrors.log(0, metrics)
    bar = tqdm(range(r.start, cfg.steps), initial=r.start, total=cfg.steps, desc="grpo", file=sys.stdout,
               disable=not log)
    for step in bar:
        metrics = train_step(r, train_set, step)
        done = step + 1
        if cfg.eval_every and (done % cfg.eval_every == 0 or done == cfg.steps):
            with D.sampling_weights(r.policy, cfg, r.dist):
                report = rundir.evaluate(r.sampling_model(), r.tokenizer, val_set, cfg, r.dir, done, r.dist)
            metrics.update(eval_metrics(report))
        if log:
            rundir.append_jsonl(r.dir / "metrics.jsonl", {"step": done, **metrics})
            mirrors.log(done, metrics)
            bar.write(rundir.compact_line(done, metrics))
        if cfg.save_every and (done % cfg.save_every == 0 or done == cfg.steps):
            lora_scale = cfg.lora_alpha / cfg.lora_rank if cfg.lora_rank else None  # checkpoints merge LoRA
            rundir.save_checkpoint(r.dir, done, r.policy, r.tokenizer, r.optimizer, r.dist, lora_scale)
    if log:
        mirrors.close()
        print(f"done: metrics in {r.dir / 'metrics.jsonl'}, checkpoints in {r.dir}/ckpt-*")
    if r.dist.world > 1:
        import torch.distributed as td
        td.barrier()  # every rank done with its collectives before any tears the process group down
        td.destroy_process_group()
    return r.dir


def train_step(r: Run, train_set: list, step: int) -> dict:
    """One GRPO step: rollout -> score -> advantage -> update; returns its metrics (all ranks' rows)."""
    cfg, dist = r.cfg, r.dist
    device = next(r.policy.parameters()).device
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    # rollout and score (with --dynamic-sampling: filtered groups, refilled)
    problems = step_problems(train_set, cfg, step)[dist.rank::dist.world]  # whole groups stay on one rank
    with D.sampling_weights(r.policy, cfg, dist):
        ro, sampling_info = collect_rollout(r.sampling_model(), r.tokenizer, train_set, problems, cfg, step, dist.rank)
    # advantage (--scale-rewards batch: the std of every rank's rewards)
    rollout_std = None
    if cfg.scale_rewards == "batch":
        rollout_std = torch.tensor([x for part in dist.gather(ro.rewards.tolist()) for x in part]).std()
    ro = dataclasses.replace(ro, advantages=scaled_advantages(ro.rewards, cfg.group_size, cfg.scale_rewards,
                                                              rollout_std))
    t1 = time.perf_counter()
    # update
    for group in r.optimizer.param_groups:
        group["lr"] = learning_rate(cfg, step)
    losses = update(r.policy, r.reference, r.optimizer, ro, cfg, step, dist, twin=r.sampler if dist.world == 1 else None)
    if r.sampler is not None:
        M.copy_weights(unwrap(r.policy), r.sampler)  # the bf16 sampling copy follows the fp32 master weights
    if r.kept_memory and M.release_freed_memory():  # grown past 70% of the machine: no longer keep freed memory
        r.kept_memory = False
    t2 = time.perf_counter()
    # metrics of every rank's rows
    parts = dist.gather((row_records(ro), ro.reward_info, sampling_info))
    rows = {k: [v for part in parts for v in part[0][k]] for k in parts[0][0]}
    reward_info = {k: sum(part[1][k] for part in parts) / len(parts) for k in parts[0][1]}
    sampled = {k: sum(part[2][k] for part in parts) for k in parts[0][2]}  # counts: summed over ranks
    if dist.main:
        rundir.append_jsonl(r.dir / "samples.jsonl", rundir.samples_record(ro, step + 1, r.tokenizer, cfg.group_size))
    tokens = sum(rows["length"])
    memory = {"perf/cuda_peak_gib": torch.cuda.max_memory_allocated(device) / 2**30} if cuda else {}
    return {**step_metrics(rows, reward_info, cfg), **sampled, **losses, "train/lr": learning_rate(cfg, step),
            "perf/rollout_s": t1 - t0, "perf/update_s": t2 - t1, "perf/tokens_per_s": tokens / (t1 - t0), **memory}


def main(argv=None):
    train(parse_config(argv))


if __name__ == "__main__":
    import cli
    cli.run(main)
