"""Rewards for GRPO on code: one scalar per completion, the group advantage, and the text metrics.

Every reward of the study (DESIGN.md, "Rewards") is a function `fn(ctx, opts) -> (rewards (B,), info)` and one
entry of `REWARDS`; `compute_rewards(name, ctx, **options)` is the only call the trainer makes. B is the number
of completions in the rollout (prompts × group size), T the number of completion positions.

Intrinsic rewards (RLIF) reduce the per-token signals of model.score() over the response tokens:
    r = (1/L) Σ_t M_t s_t      L = Σ_t M_t, M = completion mask (1 = real response token)
    s_t = SC_t (self_certainty, Intuitor), −H_t (token_entropy, entropy minimisation / RENT),
          lp_t (trajectory_entropy, entropy minimisation's sequence-level variant), PD_t (prob_disparity).
Where the literature differs, the alternative is an option (RewardOptions):
    reduce="sum"               r = Σ_t M_t s_t (the entropy-minimisation paper's variant; it rewards short answers
                               when s_t < 0 and long ones when s_t > 0).
    signal_temperature="raw"   signals from the raw logits instead of logits/T. The signals are computed by
                               model.score(), so this option acts there: the trainer passes
                               `temperature=score_temperature(opts.signal_temperature, T)` to score().
Rewards beyond the study: `majority` (label-free execution agreement, in the spirit of TTRL's majority vote)
and `hybrid` (an intrinsic reward, then or mixed with the verifiable one).

Imports torch only; sandbox.py and lcb_eval.py are imported inside the rewards that run programs.
"""
from __future__ import annotations

import os
import string
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor

# ------------------------------------------------------------------------------------------------------------
# Inputs and options


@dataclass
class RewardContext:
    """Everything a reward may read about one rollout (B rows, prompt-major: rows i*N..i*N+N-1 share prompt i)."""
    signals: dict[str, Tensor] | None = None  # model.score() output: "logprob", "entropy", "self_certainty",
    #                                           "prob_disparity", each (B, T), zero where mask is 0
    mask: Tensor | None = None                # (B, T) completion mask, 1 = sampled token up to and including EOS
    texts: list[str] = field(default_factory=list)    # B decoded completions
    problems: list[Any] = field(default_factory=list)  # B lcb_eval.Problem, one per row (repeated within a group)
    group_size: int = 1                       # N, completions per prompt
    step: int = 0                             # training step (hybrid's schedule, random's seed)
    seed: int = 0                             # base seed of the run (random)
    verdicts: list[Any] | None = None         # optional lcb_eval.grade_many(problems, texts) result, one per row:
    #                                           the trainer grades every rollout for train/pass_rate anyway, and
    #                                           passing the verdicts here saves running the programs twice.


@dataclass
class RewardOptions:
    """Named choices; `compute_rewards(name, ctx, **options)` builds this, so a misspelt option is a TypeError."""
    reduce: str = "mean"                 # intrinsic: "mean" or "sum" over response tokens
    signal_temperature: str = "sampling"  # "sampling": signals from logits/T (default); "raw": from raw logits.
    #                                       Acts in model.score(); see score_temperature().
    fraction: bool = False               # verifiable: fraction of tests passed instead of all-or-nothing
    timeout_s: float = 6.0               # verifiable / majority: per-test time limit (LiveCodeBench default)
    workers: int | None = None           # majority: programs run at once (default: CPU count)
    intrinsic: str = "self_certainty"    # hybrid: the label-free reward used before the switch / in the mix
    switch_step: int | None = None       # hybrid: intrinsic for steps < switch_step, verifiable after;
    #                                      None selects the fixed mix below
    mix_alpha: float = 0.5               # hybrid mix: alpha * standardised intrinsic + (1 − alpha) * verifiable


REDUCTIONS = ("mean", "sum")
SIGNAL_TEMPERATURES = ("sampling", "raw")


def score_temperature(signal_temperature: str, sampling_temperature: float) -> float:
    """The temperature to pass to model.score() for the signals: T ("sampling") or 1.0 ("raw", the raw logits)."""
    if signal_temperature not in SIGNAL_TEMPERATURES:
        raise ValueError(f"signal_temperature must be one of {SIGNAL_TEMPERATURES}, got {signal_temperature!r}")
    return sampling_temperature if signal_temperature == "sampling" else 1.0


# ------------------------------------------------------------------------------------------------------------
# Intrinsic rewards (RLIF): reductions of per-token signals over the response


def reduce_over_tokens(values: Tensor, mask: Tensor, reduce: str = "mean") -> Tensor:
    """(B, T) values, (B, T) mask -> (B,): Σ_t M_t v_t, divided by L = Σ_t M_t for "mean".

    Positions with mask 0 never matter, even if they hold NaN or inf; an empty response (L = 0) gives 0.
    """
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
    keep = mask.bool()                                                 # (B, T)
    total = torch.where(keep, values.float(), 0.0).sum(dim=-1)         # (B,)
    if reduce == "sum":
        return total
    length = keep.sum(dim=-1).clamp(min=1)                             # (B,) clamp: empty response -> 0 / 1 = 0
    return total / length                                              # (B,)


def self_certainty(ctx: RewardContext, opts: RewardOptions) -> tuple[Tensor, dict]:
    """r = (1/L) Σ_t SC_t, SC_t = logsumexp(z_t) − (1/V) Σ_j z_tj = KL(U ‖ p_t) + log V.  -> (B,)

    Intuitor (Zhao et al., "Learning to Reason without External Rewards", 2025), constant log V dropped.
    """
    return reduce_over_tokens(ctx.signals["self_certainty"], ctx.mask, opts.reduce), {}


def token_entropy(ctx: RewardContext, opts: RewardOptions) -> tuple[Tensor, dict]:
    """r = −(1/L) Σ_t H_t, H_t = −Σ_j p_tj log p_tj.  -> (B,)

    Token-level entropy minimisation (Agarwal et al., "The Unreasonable Effectiveness of Entropy Minimization",
    2025; RENT, Prabhudesai et al., 2025): confident tokens are rewarded.
    """
    return -reduce_over_tokens(ctx.signals["entropy"], ctx.mask, opts.reduce), {}


def trajectory_entropy(ctx: RewardContext, opts: RewardOptions) -> tuple[Tensor, dict]:
    """r = (1/L) Σ_t lp_t, lp_t = log p_t(y_t): minus the per-token trajectory entropy estimate.  -> (B,)

    Trajectory-level entropy minimisation (Agarwal et al., 2025): likely responses are rewarded.
    """
    return reduce_over_tokens(ctx.signals["logprob"], ctx.mask, opts.reduce), {}


def prob_disparity(ctx: RewardContext, opts: RewardOptions) -> tuple[Tensor, dict]:
    """r = (1/L) Σ_t PD_t, PD_t = p_t(1) − p_t(2), the gap between the two largest probabilities.  -> (B,)"""
    return reduce_over_tokens(ctx.signals["prob_disparity"], ctx.mask, opts.reduce), {}


# ------------------------------------------------------------------------------------------------------------
# Verifiable reward (RLVR) and the random control


def verifiable(ctx: RewardContext, opts: RewardOptions) -> tuple[Tensor, dict]:
    """r = 1 if the extracted program passes every test of its problem, else 0.  -> (B,)

    fraction=True: r = n_passed / n_tests. LiveCodeBench grading stops at the first failing test, so n_passed
    counts the tests passed before the first failure (a lower bound on the tests the program would pass).
    Uses ctx.verdicts when given, else grades with lcb_eval.grade_many (extract last fenced block + sandbox).
    """
    verdicts = ctx.verdicts
    if verdicts is None:
        import lcb_eval  # imported here so that rewards.py needs only torch
        verdicts = lcb_eval.grade_many(ctx.problems, ctx.texts, timeout_s=opts.timeout_s)
    if opts.fraction:
        scores = [v.n_passed / max(len(p.tests), 1) for v, p in zip(verdicts, ctx.problems)]
    else:
        scores = [1.0 if v.passed else 0.0 for v in verdicts]
    return torch.tensor(scores), {}


def random_seed(seed: int, step: int) -> int:
    """One seed per (run seed, step): reproducible, and different at every step of a run."""
    return (seed * 1_000_003 + step) % 2**63


def random(ctx: RewardContext, opts: RewardOptions) -> tuple[Tensor, dict]:
    """r ~ Bernoulli(0.5), independent per row, from a torch.Generator seeded by random_seed(seed, step).  -> (B,)

    The study's control: a reward that carries no information about the response.
    """
    generator = torch.Generator().manual_seed(random_seed(ctx.seed, ctx.step))
    batch_size = len(ctx.texts) if ctx.mask is None else ctx.mask.shape[0]
    return (torch.rand(batch_size, generator=generator) < 0.5).float(), {}


# ------------------------------------------------------------------------------------------------------------
# Majority: label-free agreement of program behaviour (beyond the study)


def output_signature(outputs: list[str | None]) -> tuple | None:
    """A program's behaviour on the test inputs: per input, its stripped output lines (as the stdin grader
    compares them). None when the program errored or timed out on any input."""
    if any(out is None for out in outputs):
        return None
    return tuple(tuple(line.strip() for line in out.strip().splitlines()) for out in outputs)


def majority_from_signatures(signatures: list[tuple | None], group_size: int) -> tuple[Tensor, list[int | None]]:
    """Rewards 1 for the members of each group's largest behaviour class that is not an error (None), else 0.

    signatures: B behaviours, groups of group_size consecutive rows. Ties between equally large classes go to
    the class seen first in row order (as Counter.most_common, TTRL's majority vote); a group whose
    programs all error gets 0 everywhere. Returns rewards (B,) and, per group, the row index of the first
    member of the winning class (None when all errored), so the caller can check that behaviour's correctness.
    """
    rewards = torch.zeros(len(signatures))
    winners: list[int | None] = []
    for start in range(0, len(signatures), group_size):
        group = signatures[start:start + group_size]
        counts = Counter(sig for sig in group if sig is not None)   # insertion order = row order
        if not counts:
            winners.append(None)
            continue
        majority, _ = counts.most_common(1)[0]
        members = [start + i for i, sig in enumerate(group) if sig == majority]
        rewards[members] = 1.0
        winners.append(members[0])
    return rewards, winners


def program_signatures(problems: list, texts: list[str], timeout_s: float,
                       workers: int | None = None) -> list[tuple | None]:
    """Runs each completion's program on its problem's test inputs only (never the expected outputs) and
    returns its output_signature; no extractable code counts as an error. Identical programs run once.

    Assert-style tests (HumanEval) are refused: their "input" is checking code holding the expected values.
    """
    import lcb_eval  # imported here so that rewards.py needs only torch
    import sandbox

    if any(test["testtype"] == "assert" for problem in problems for test in problem.tests):
        raise ValueError("majority needs stdin or functional tests; assert tests embed the expected outputs")
    codes = [lcb_eval.extract_code(text) for text in texts]

    def run(row: int) -> tuple | None:
        problem = problems[row]
        inputs = [test["input"] for test in problem.tests]
        testtype = problem.tests[0]["testtype"] if problem.tests else "stdin"
        outputs = sandbox.run_outputs(codes[row], inputs, testtype=testtype,
                                      func_name=problem.func_name, timeout_s=timeout_s)
        return output_signature(outputs)

    # one run per distinct (problem, program); sampling often repeats a program within a group
    first_row: dict[tuple, int] = {}
    for row, code in enumerate(codes):
        if code:
            first_row.setdefault((id(problems[row]), code), row)
    unique_rows = list(first_row.values())
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        results = dict(zip(unique_rows, pool.map(run, unique_rows)))
    return [results[first_row[(id(problems[row]), code)]] if code else None for row, code in enumerate(codes)]


def majority(ctx: RewardContext, opts: RewardOptions) -> tuple[Tensor, dict]:
    """Label-free: r = 1 if the program behaves like the largest non-error class of its group, else 0.  -> (B,)

    Behaviour = the program's outputs on the problem's test inputs (output_signature); the expected outputs
    are never read for the reward. Logged with the hidden outputs (the verdicts), for monitoring only:
        reward/majority_label_acc   TTRL's label accuracy: the fraction of groups whose majority (winning)
                                    behaviour passes the tests; a group with no winner counts as not correct
        reward/majority_reward_acc  TTRL's reward accuracy: the fraction of completions whose majority reward
                                    equals the verifiable one (1 = passes every test)
        reward/majority_size        mean fraction of a group in its winning class
        reward/majority_error_frac  fraction of programs that errored, timed out or had no code
    (the two accuracies of Zuo et al. 2025, "TTRL: Test-Time Reinforcement Learning", in its analysis). The
    trainer passes the verdicts it computed for train/pass_rate; without them every completion is graded here.
    """
    signatures = program_signatures(ctx.problems, ctx.texts, opts.timeout_s, opts.workers)
    rewards, winners = majority_from_signatures(signatures, ctx.group_size)
    verdicts = ctx.verdicts
    if verdicts is None:
        import lcb_eval
        verdicts = lcb_eval.grade_many(ctx.problems, ctx.texts, timeout_s=opts.timeout_s)
    passed = torch.tensor([float(v.passed) for v in verdicts])                  # (B,)
    correct = sum(verdicts[row].passed for row in winners if row is not None)
    info = {
        "reward/majority_label_acc": correct / max(len(winners), 1),
        "reward/majority_reward_acc": (rewards == passed).float().mean().item() if len(signatures) else 0.0,
        "reward/majority_size": rewards.sum().item() / max(len(signatures), 1),
        "reward/majority_error_frac": sum(sig is None for sig in signatures) / max(len(signatures), 1),
    }
    return rewards, info


# ------------------------------------------------------------------------------------------------------------
# Hybrid: label-free first, verifiable after; or a fixed mix (beyond the study)


def hybrid(ctx: RewardContext, opts: RewardOptions) -> tuple[Tensor, dict]:
    """Two schedules of an intrinsic reward r_int (opts.intrinsic) and the verifiable reward r_ver.  -> (B,)

    switch_step = K:   r = r_int for step < K, r = r_ver from step K on (the study's RLIF -> RLVR question,
                       in one run).
    switch_step None:  r = alpha * z_int + (1 − alpha) * r_ver, where z_int = (r_int − group mean) /
                       (group std + 1e-6) (group_advantages). Standardising within the group makes the intrinsic
                       part unit-free (SC is O(10), −H is O(1)) and of the same spread as a 0/1 reward, so
                       alpha means the same thing for every intrinsic signal.
    """
    if opts.intrinsic in ("hybrid", "verifiable") or opts.intrinsic not in REWARDS:
        raise ValueError(f"hybrid's intrinsic reward must be a label-free reward, got {opts.intrinsic!r}")
    if opts.switch_step is not None:
        name = opts.intrinsic if ctx.step < opts.switch_step else "verifiable"
        rewards, info = REWARDS[name](ctx, opts)
        return rewards, {**info, "reward/hybrid_intrinsic_weight": float(name != "verifiable")}
    intrinsic_rewards, intrinsic_info = REWARDS[opts.intrinsic](ctx, opts)
    verifiable_rewards, verifiable_info = verifiable(ctx, opts)
    standardised = group_advantages(intrinsic_rewards, ctx.group_size)                  # (B,)
    rewards = opts.mix_alpha * standardised + (1 - opts.mix_alpha) * verifiable_rewards  # (B,)
    return rewards, {**intrinsic_info, **verifiable_info, "reward/hybrid_intrinsic_weight": opts.mix_alpha}


# ------------------------------------------------------------------------------------------------------------
# The table of rewards and the one entry point

REWARDS: dict[str, Callable[[RewardContext, RewardOptions], tuple[Tensor, dict]]] = {
    "verifiable": verifiable,
    "self_certainty": self_certainty,
    "token_entropy": token_entropy,
    "entropy": token_entropy,  # alias used by the study's CLI
    "trajectory_entropy": trajectory_entropy,
    "prob_disparity": prob_disparity,
    "random": random,
    "majority": majority,
    "hybrid": hybrid,
}


def compute_rewards(name: str, ctx: RewardContext, **options) -> tuple[Tensor, dict]:
    """Reward `name` for every row of the rollout: (rewards (B,) float32, info dict of floats for logging).

    options are RewardOptions fields; an unknown name raises ValueError listing the valid names.
    """
    if name not in REWARDS:
        raise ValueError(f"unknown reward {name!r}; valid rewards: {', '.join(REWARDS)}")
    opts = RewardOptions(**options)
    score_temperature(opts.signal_temperature, 1.0)  # validates the option's value
    rewards, info = REWARDS[name](ctx, opts)
    return rewards.float(), info


# ------------------------------------------------------------------------------------------------------------
# Group advantage (GRPO)


def group_advantages(rewards: Tensor, group_size: int, std_norm: bool = True) -> Tensor:
    """(B,) rewards, groups of group_size consecutive rows -> (B,) advantages.

    A_i = (r_i − mean_g r) / (std_g r + 1e-6), std unbiased (verl's GRPO); std_norm=False gives r_i − mean_g r
    (Dr. GRPO). A group whose rewards are all equal gets exactly 0, whatever rounding in the mean.
    """
    if rewards.numel() % group_size != 0:
        raise ValueError(f"{rewards.numel()} rewards do not split into groups of {group_size}")
    grouped = rewards.float().view(-1, group_size)                    # (G, N)
    centred = grouped - grouped.mean(dim=1, keepdim=True)             # (G, N)
    if std_norm:
        centred = centred / (grouped.std(dim=1, keepdim=True) + 1e-6)  # (G, N) unbiased std
    all_equal = (grouped == grouped[:, :1]).all(dim=1, keepdim=True)  # (G, 1)
    return torch.where(all_equal, 0.0, centred).view(-1)              # (B,)


def frac_zero_std_groups(rewards: Tensor, group_size: int) -> float:
    """Fraction of groups whose rewards are all equal (they give no learning signal): reward/frac_zero_std_groups."""
    grouped = rewards.view(-1, group_size)                            # (G, N)
    return (grouped == grouped[:, :1]).all(dim=1).float().mean().item()


# ------------------------------------------------------------------------------------------------------------
# Text metrics (DESIGN.md, "Metrics")

# The one list of reasoning words behind text/thinking_words; matched as whole words after lowercasing and
# replacing punctuation with spaces (so "Let's" counts "let", "step-by-step" counts "step" twice).
THINKING_WORDS = (
    "think", "reason", "analyze", "wait", "verify", "check", "step", "hmm", "however", "alternatively",
    "first", "then", "because", "therefore", "let", "consider", "maybe", "perhaps", "actually", "recall",
)
_THINKING_SET = frozenset(THINKING_WORDS)
_PUNCTUATION_TO_SPACE = str.maketrans(string.punctuation, " " * len(string.punctuation))


def thinking_words(text: str) -> int:
    """Number of words of text that are in THINKING_WORDS (lowercased, punctuation stripped)."""
    words = text.lower().translate(_PUNCTUATION_TO_SPACE).split()
    return sum(word in _THINKING_SET for word in words)


def repetition_ratio(text: str, n: int = 20) -> float:
    """1 − unique/total over the whitespace-word n-grams of text; 0 when it has fewer than n words."""
    words = text.split()
    if len(words) < n:
        return 0.0
    ngrams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    return 1.0 - len(set(ngrams)) / len(ngrams)


def response_lengths(mask: Tensor) -> Tensor:
    """(B, T) completion mask -> (B,) response length in tokens (EOS included, padding not)."""
    return mask.long().sum(dim=-1)


def text_metrics(texts: list[str]) -> dict[str, float]:
    """Means over the responses of the text metrics, under their metrics.jsonl names."""
    count = max(len(texts), 1)
    return {
        "text/thinking_words": sum(thinking_words(t) for t in texts) / count,
        "text/repetition_ratio": sum(repetition_ratio(t) for t in texts) / count,
    }
