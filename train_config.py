"""train_config.py: train_grpo.py's command line: every Config field as a flag, and the checks that refuse bad settings.

Plumbing, kept apart from the algorithm: train_grpo.Config lists the settings with their defaults and help;
parse() turns argv into a Config, and validate() names every problem of a bad one in one line (exit status 2
through cli.run) before any model is loaded or any file written.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import typing
from pathlib import Path

import model as M
import rewards as R
import rundir

LOSS_AGGREGATIONS = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm")
IMPORTANCE_LEVELS = ("token", "sequence")
REWARD_SCALINGS = ("group", "batch", "none")
REPORTERS = ("none", "tensorboard", "wandb")


def parse(config_class, argv=None):
    """Every field of config_class becomes a flag (--field-name, its help from the field); the result is validated."""
    parser = argparse.ArgumentParser(description="GRPO for code with verifiable or intrinsic rewards.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    hints = typing.get_type_hints(config_class)
    for f in dataclasses.fields(config_class):
        name = "--" + f.name.replace("_", "-")
        if hints[f.name] is bool:
            parser.add_argument(name, action="store_true", help=f.metadata["help"])
        elif typing.get_origin(hints[f.name]) is tuple:
            parser.add_argument(name, nargs="+", default=f.default, help=f.metadata["help"])
        else:
            kind = next(t for t in typing.get_args(hints[f.name]) or (hints[f.name],) if t is not type(None))
            parser.add_argument(name, type=kind, default=f.default, help=f.metadata["help"])
    cfg = config_class(**vars(parser.parse_args(argv)))
    validate(cfg)
    return cfg


def validate(cfg) -> None:
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
    for name in ("eval_every", "save_every", "warmup_steps", "weight_decay", "grad_clip", "micro_batch_tokens"):
        if getattr(cfg, name) < 0:
            problems.append(f"--{name.replace('_', '-')} must be >= 0, got {getattr(cfg, name)}")
    if cfg.eval_limit is not None and cfg.eval_limit < 1:
        problems.append(f"--eval-limit must be >= 1, got {cfg.eval_limit}")
    if cfg.group_size == 1 and cfg.scale_rewards == "group":
        problems.append("--group-size 1 has no group std to normalise by: use a larger group or "
                        "--scale-rewards none (--no-std-norm)")
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
    for name in ("data", "val_data"):
        spec = getattr(cfg, name)
        if spec.endswith((".jsonl", ".json")) and not Path(spec).exists():
            problems.append(f"--{name.replace('_', '-')} {spec}: the file does not exist")
    if cfg.resume and rundir.last_checkpoint(Path(cfg.resume)) is None:
        problems.append(f"--resume {cfg.resume}: no finished checkpoint (ckpt-K/state.json) there; start the run "
                        f"again with --out {cfg.resume}")
    if cfg.precision is not None and cfg.precision not in M.PRECISIONS:
        problems.append(f"--precision {cfg.precision!r} is not one of: {', '.join(M.PRECISIONS)}")
    problems += validate_variants(cfg)
    if problems:
        raise M.UserError("; ".join(problems))
    import sandbox
    sandbox.require_isolation(cfg.min_isolation)  # a one-line UserError below it; no check when unset


def validate_variants(cfg) -> list[str]:
    """The GRPO variants' flags: values, and combinations the implementation does not define."""
    problems = []
    for name, valid in (("importance_level", IMPORTANCE_LEVELS), ("scale_rewards", REWARD_SCALINGS)):
        if getattr(cfg, name) not in valid:
            problems.append(f"--{name.replace('_', '-')} {getattr(cfg, name)!r} is not one of: {', '.join(valid)}")
    if cfg.importance_level == "sequence" and cfg.loss_agg != "seq-mean-token-mean":
        problems.append(f"--importance-level sequence (GSPO) has one loss per sequence and averages sequences; "
                        f"--loss-agg {cfg.loss_agg} is not defined for it (use seq-mean-token-mean, its default)")
    if cfg.no_std_norm and cfg.scale_rewards != "none":
        problems.append(f"--no-std-norm is --scale-rewards none; it contradicts --scale-rewards {cfg.scale_rewards}")
    if cfg.dynamic_sampling and cfg.group_size == 1:
        problems.append("--dynamic-sampling keeps groups whose rewards differ: a group of 1 never does")
    if min(cfg.max_resample_rounds, cfg.length_penalty_min, cfg.lora_rank, cfg.overlong_penalty,
           cfg.length_penalty_alpha) < 0 or cfg.lora_alpha <= 0:
        problems.append("--max-resample-rounds, --length-penalty-min/-alpha, --lora-rank, --overlong-penalty must be "
                        ">= 0 and --lora-alpha > 0")
    if not 0 <= cfg.overlong_buffer <= cfg.max_new_tokens:
        problems.append(f"--overlong-buffer must be between 0 and --max-new-tokens ({cfg.max_new_tokens})")
    if cfg.lora_rank and cfg.fsdp:
        problems.append("--lora-rank with --fsdp is not supported (LoRA runs under DDP or in one process)")
    if cfg.lora_rank and not [t for t in cfg.lora_targets.split(",") if t]:
        problems.append("--lora-targets names no layer")
    for name in cfg.report_to:
        if name not in REPORTERS:
            problems.append(f"--report-to {name!r} is not one of: {', '.join(REPORTERS)}")
        elif name != "none" and importlib.util.find_spec(name) is None:  # wandb is optional, never required
            problems.append(f"--report-to {name}: the {name} package is not installed (pip install {name})")
    return problems
