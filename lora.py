"""lora.py: LoRA adapters on the decoder's linear layers, written out (no peft), for train_grpo.py --lora-rank.

    y = W x + (alpha / r) B A x     W (out, in) frozen; A (r, in) Kaiming-uniform; B (out, r) zero
(Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models", eq. 3 and section 4.1). B = 0 makes the
adapted model start exactly at the base model; only A and B train, and the optimizer holds only them.
Adapters are kept in fp32 whatever the base's dtype (master weights are fp32, DESIGN.md "Precision").

What the trainer needs, and nothing more:
  add_adapters(model, rank, alpha, targets)  wrap every matching nn.Linear of the decoder layers; freeze the rest
  adapters_off(model)                        context: the base model alone (the KL reference, no second copy)
  merged_state(state, scale)                 a state dict with W + (alpha / r) B A under the base model's names,
                                             which any HF loader (model.load_model, lcb_eval.py) reads as usual
  adapter_state(state) / load_adapters       the adapters alone, written beside the merged weights to resume
"""
from __future__ import annotations

import contextlib
import math
from pathlib import Path

import torch
from torch import nn

from cli import UserError

DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
ADAPTER_FILE = "adapters.safetensors"


class LoRALinear(nn.Module):
    """A frozen nn.Linear `base` plus the low-rank update (alpha / r) B A; `enabled = False` gives the base."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        self.base = base
        self.scale = alpha / rank
        self.enabled = True
        device = base.weight.device
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features, device=device))   # (r, in)
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank, device=device))  # (out, r)
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # nn.Linear's own initialisation, as the paper's code

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)                                                   # (..., out)
        if not self.enabled:
            return out
        low = x.to(self.lora_A.dtype) @ self.lora_A.T                        # (..., r)
        return out + (self.scale * (low @ self.lora_B.T)).to(out.dtype)      # (..., out)


def add_adapters(model: nn.Module, rank: int, alpha: float, targets: list[str] | tuple[str, ...]) -> list[nn.Parameter]:
    """Replace each nn.Linear of the decoder layers whose name is in targets by a LoRALinear around it; freeze
    every other parameter. Returns the adapters' parameters (what the optimizer should hold)."""
    model.requires_grad_(False)
    found = set()
    for layer in model.get_decoder().layers:
        for name, module in list(layer.named_modules()):
            parent_name, _, leaf = name.rpartition(".")
            if isinstance(module, nn.Linear) and leaf in targets:
                setattr(layer.get_submodule(parent_name), leaf, LoRALinear(module, rank, alpha))
                found.add(leaf)
    missing = sorted(set(targets) - found)
    if missing:
        raise UserError(f"--lora-targets {','.join(missing)}: no such linear layer in the decoder layers "
                         f"of this model")
    return [p for p in model.parameters() if p.requires_grad]


@contextlib.contextmanager
def adapters_off(model: nn.Module):
    """The base model alone while inside (a model without adapters is unchanged)."""
    layers = [m for m in model.modules() if isinstance(m, LoRALinear)]
    for m in layers:
        m.enabled = False
    try:
        yield model
    finally:
        for m in layers:
            m.enabled = True


def merged_state(state: dict, scale: float) -> dict:
    """A state dict of an adapted model -> the base model's state dict with W' = W + scale B A (scale = alpha / r).

    `X.base.weight`, `X.lora_A`, `X.lora_B` become `X.weight`; `X.base.bias` becomes `X.bias`; the rest is kept."""
    merged = {}
    for key, value in state.items():
        if key.endswith((".lora_A", ".lora_B")):
            continue
        if ".base." in key and key.rpartition(".base.")[0] + ".lora_A" in state:
            prefix, _, leaf = key.rpartition(".base.")
            if leaf == "weight":
                update = scale * (state[prefix + ".lora_B"].float() @ state[prefix + ".lora_A"].float())  # (out, in)
                value = (value.float() + update.to(value.device)).to(value.dtype)
            key = f"{prefix}.{leaf}"
        merged[key] = value
    return merged


def adapter_state(state: dict) -> dict:
    """The adapters' tensors only (A and B of every wrapped layer), keyed as in the adapted model."""
    return {k: v.contiguous() for k, v in state.items() if k.endswith((".lora_A", ".lora_B"))}


def load_adapters(model: nn.Module, checkpoint: Path) -> None:
    from safetensors.torch import load_file
    saved = load_file(Path(checkpoint) / ADAPTER_FILE, device=str(next(model.parameters()).device))
    own = {k for k in model.state_dict() if k.endswith((".lora_A", ".lora_B"))}
    if set(saved) != own:
        raise UserError(f"{checkpoint}/{ADAPTER_FILE} does not match --lora-rank/--lora-targets: "
                         f"missing {sorted(own - set(saved))[:3]}, unexpected {sorted(set(saved) - own)[:3]}")
    model.load_state_dict(saved, strict=False)
