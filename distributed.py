"""distributed.py: the torchrun plumbing of train_grpo.py (DDP, FSDP2) and the full state its checkpoints hold.

The algorithm does not live here. The loop makes one call per phase:
  init_distributed(cfg)            join the process group when launched by torchrun; Dist() otherwise
  wrap_for_training(policy, ...)   DDP (replicated) or FSDP2 (sharded, --fsdp); the model as is in one process
  sampling_weights(policy, ...)    context: FSDP2 shards gathered, so sampling and scoring can call submodules
  state_dicts / load_optimizer     full (unsharded) model and optimizer state, whichever world size wrote it
A single process (no torchrun) makes no collective call. On CPUs the backend is gloo, on GPUs nccl.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch

import model as M
from cli import UserError


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
        if self.world > 1 and not last and hasattr(policy, "no_sync"):
            return policy.no_sync()
        return contextlib.nullcontext()


def _collective_device() -> str:
    import torch.distributed as td
    return "cuda" if td.get_backend() == "nccl" else "cpu"


def init_distributed(cfg) -> Dist:
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
        raise UserError(f"--prompts-per-step and --minibatch-size must divide by the {dist.world} ranks")
    return dist


def wrap_for_training(policy, cfg, dist: Dist):
    """DDP (replicated weights, all-reduced gradients) or FSDP2 (sharded) under torchrun; as is otherwise."""
    if dist.world == 1:
        return policy
    if cfg.fsdp:
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
        # bf16: gathered weights (and so sampling and the update's matmuls) in bf16, shards and reductions fp32
        mp = {"mp_policy": MixedPrecisionPolicy(torch.bfloat16, torch.float32)} if cfg.precision == "bf16" else {}
        for layer in policy.get_decoder().layers:
            fully_shard(layer, **mp)
        fully_shard(policy, **mp)
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


def sampling_weights(policy, cfg, dist: Dist):
    """Sampling and scoring call the model's submodules directly: FSDP must gather its shards first."""
    return full_weights(policy) if cfg.fsdp and dist.world > 1 else contextlib.nullcontext()


def state_dicts(policy, optimizer, dist: Dist) -> tuple[dict, dict]:
    """Full (unsharded) model and optimizer state, keyed by parameter name, on every rank's CPU."""
    if dist.world == 1:
        return policy.state_dict(), optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict
    return get_state_dict(policy, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def load_optimizer(policy, optimizer, state: dict, cfg) -> None:
    """Load a checkpoint's optimizer state, whichever world size wrote it.

    One process or DDP writes and reads states indexed by parameter position (torch's own format); FSDP reads
    and writes them keyed by parameter name, so each format is converted to the other where needed. Positions
    count the trainable parameters only (the optimizer's; under LoRA, the adapters).
    """
    names = [n for n, p in unwrap(policy).named_parameters() if p.requires_grad]
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
