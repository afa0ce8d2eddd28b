"""fastpath.py: the sampler's fast forward and the CPU kernels it leans on (plumbing: speed, not the algorithm).

model.sample decodes Llama-family models (SmolLM2, Qwen2.5) with fast_forward, our own forward over a
preallocated KVCache, instead of the HF forward and its per-call wrappers; its products go through the layout
that measured fastest on the CPUs we run on (packed bf16 weights, weight-first fp32 products, fp32 attention
for a decoded bf16 token). Each function says what it replaced and by how much, and the tests check each
against a float64 computation or the HF forward. model.py re-exports these names (model.fast_forward etc.).
keep_freed_memory is the trainer's process-wide glibc setting for large CPU tensors.
"""
from __future__ import annotations

import os
import sys

import torch
import torch.nn.functional as F


class KVCache:
    """Preallocated keys and values of every layer, (layers, rows, kv_heads, max_len, head_dim) each.

    Filled in place as tokens arrive; `length` is the number of columns written. Preallocating avoids the
    per-step concatenation (and its O(length) copy per layer) of a growing cache.
    """

    def __init__(self, layers, rows, kv_heads, max_len, head_dim, dtype, device):
        self.k = torch.zeros(layers, rows, kv_heads, max_len, head_dim, dtype=dtype, device=device)
        self.v = torch.zeros_like(self.k)
        self.length = 0

    def repeat_rows(self, n: int) -> None:
        """Copy each row's cache to n consecutive rows: one prompt's prefill serves its whole group."""
        self.k = self.k.repeat_interleave(n, dim=1)
        self.v = self.v.repeat_interleave(n, dim=1)

    def keep_rows(self, rows: torch.Tensor) -> None:
        """Keep only these rows (finished ones are dropped so decoding stops spending time on them)."""
        self.k = self.k[:, rows]
        self.v = self.v[:, rows]


FAST_PATH_MODELS = ("llama", "qwen2")  # pre-norm decoders with RoPE, GQA and SwiGLU (SmolLM2, Qwen2.5, R1-Distill)


def supports_fast_path(model) -> bool:
    """True for the architectures fast_forward reimplements (checked against HF's forward in the tests)."""
    config = model.config
    return config.model_type in FAST_PATH_MODELS and not getattr(config, "use_sliding_window", False)


def fast_forward(model, ids: torch.Tensor, positions: torch.Tensor, key_mask: torch.Tensor,
                 cache: KVCache, logits_out: torch.Tensor | None = None) -> torch.Tensor:
    """Forward the new tokens ids (B, L) through a Llama-family model with our KVCache; returns last logits (B, V).

    The same computation as the HF forward (same weights and modules), without its per-call wrappers and mask
    construction: on a CPU, decoding is dominated by that Python overhead, not by the matmuls.
    key_mask (B, cache length + L) marks the real (non-padding) key columns. Left-padded queries may attend to
    themselves so that no row of the attention is all-masked (which would give NaN). logits_out: a buffer of at
    least V * B elements for the logits, written in place (decoding reuses one instead of page-faulting a fresh one
    every token); the logits come back as a (B, V) view of it (see head_logits for its layout).
    """
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb
    body = model.get_decoder()
    B, L = ids.shape
    start, end = cache.length, cache.length + L
    x = body.embed_tokens(ids)                                                          # (B, L, H)
    cos, sin = body.rotary_emb(x, positions)                                            # (B, L, head_dim)
    if L == 1:
        allowed = key_mask[:, None, None, :end].bool()                                  # (B, 1, 1, end)
    else:  # prefill into an empty cache: causal, real keys only, and every query sees at least itself
        assert start == 0, "multi-token forwards are prefills of an empty cache"
        causal = torch.ones(L, L, dtype=torch.bool, device=ids.device).tril()           # (L, L)
        allowed = (causal & key_mask[:, None, :L].bool()) | torch.eye(L, dtype=torch.bool, device=ids.device)
        allowed = allowed[:, None]                                                      # (B, 1, L, L)
    for i, layer in enumerate(body.layers):
        attn = layer.self_attn
        h = layer.input_layernorm(x)                                                    # (B, L, H)
        q = linear(attn.q_proj, h).view(B, L, -1, attn.head_dim).transpose(1, 2)               # (B, heads, L, d)
        k = linear(attn.k_proj, h).view(B, L, -1, attn.head_dim).transpose(1, 2)               # (B, kv_heads, L, d)
        v = linear(attn.v_proj, h).view(B, L, -1, attn.head_dim).transpose(1, 2)               # (B, kv_heads, L, d)
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        cache.k[i, :, :, start:end] = k
        cache.v[i, :, :, start:end] = v
        out = attention(q, cache.k[i, :, :, :end], cache.v[i, :, :, :end], allowed, attn.scaling)  # (B, heads, L, d)
        x = x + linear(attn.o_proj, out.transpose(1, 2).reshape(B, L, -1))               # (B, L, H)
        x = x + decode_mlp(layer.mlp, layer.post_attention_layernorm(x))                # (B, L, H)
    cache.length = end
    head = model.get_output_embeddings()
    if logits_out is None or head.bias is not None:
        return head(body.norm(x[:, -1]))                                                # (B, V)
    return head_logits(head.weight, body.norm(x[:, -1]), logits_out)                    # (B, V), reused memory


def attention(q, k, v, allowed, scale: float) -> torch.Tensor:
    """Grouped-query attention of q (B, heads, L, d) over k, v (B, kv_heads, S, d), allowed (B, 1, L, S) bool.

    One decoded token (L = 1) in bf16 on a CPU is computed in fp32 and cast back: torch's CPU attention kernel
    took 8-10x longer in bf16 than in fp32 at these shapes (AMD EPYC with avx512_bf16, 2 threads, 16 rows, 250
    keys: 2.87 ms against 0.42 ms with the casts, which are O(keys) and cheap), 70 ms of a 190 ms decode step. The
    result differs from the bf16 kernel's by the final rounding to bf16 only. Prefills and training keep bf16.
    """
    if q.size(2) == 1 and q.dtype == torch.bfloat16 and q.device.type == "cpu":
        return F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=allowed, scale=scale,
                                              enable_gqa=True).to(q.dtype)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, scale=scale, enable_gqa=True)


def packs(weight: torch.Tensor) -> bool:
    """Whether linear() multiplies by this weight in oneDNN's packed layout: bf16 on a CPU, where it can."""
    return weight.dtype == torch.bfloat16 and weight.device.type == "cpu" and _ONEDNN_PACKING


_ONEDNN_PACKING = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def _packed(weight: torch.Tensor):
    """weight (N, K) reordered once into oneDNN's blocked layout, kept on the tensor and made again whenever
    the weight has changed in place since (its _version: the twin's refresh after each optimizer step)."""
    kept = getattr(weight, "_onednn_packed", None)
    if kept is None or kept[0] != weight._version:
        kept = (weight._version, torch.ops.mkldnn._reorder_linear_weight(weight.detach(), 16))
        weight._onednn_packed = kept
    return kept[1]


def linear(module, x: torch.Tensor) -> torch.Tensor:
    """module(x) for the sampler. A plain bf16 nn.Linear on a CPU multiplies with its weight packed once
    (_packed): torch's bf16 matmul reorders the whole weight on every call, which at decoding's few rows costs
    more than the product. Qwen2.5-Coder-0.5B's shapes, AMD EPYC with avx512_bf16, 2 threads, 8 rows: an MLP
    projection 0.43 -> 0.19 ms, the 151,936-wide head 23.4 -> 10.9 ms; packing the whole model about 0.4 s.
    The same products in bf16 with fp32 accumulation (tests: against float64). Anything else: module(x)."""
    if type(module) is not torch.nn.Linear or not packs(module.weight):
        return module(x)
    return _packed_product(x, module.weight, module.bias)


def _packed_product(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """x @ weight^T (+ bias) with the weight packed once (_packed): oneDNN's private linear op, called here only."""
    return torch.ops.mkldnn._linear_pointwise(x, _packed(weight), bias, "none", [], "")


def _weight_first(weight: torch.Tensor, rows: int, most: int) -> bool:
    """Whether to multiply a few rows as weight @ h^T (see head_logits and decode_mlp): fp32 on a CPU only."""
    return weight.dtype == torch.float32 and weight.device.type == "cpu" and 1 < rows <= most


def decode_mlp(mlp, h: torch.Tensor) -> torch.Tensor:
    """The SwiGLU MLP down(act(gate(h)) * up(h)) of h (B, L, H), as the module computes it.

    For one decoded token of 2-64 fp32 rows on a CPU, every product is taken weight-first on h^T (H, B), as in
    head_logits: the same numbers to rounding. BLAS's speed there depends on the layout of the small operand:
    up to 16 rows the activation goes to the down projection as the transposed view of a (B, I) block, above
    as an (I, B) block. Qwen2.5-Coder-0.5B's 24 MLPs (896 -> 4864 -> 896), AMD EPYC, 2 threads: 113 ms
    against the module's 145 at 8 rows, 137 against 180 at 16, 187 against 245 at 32, 295 against 355 at 64.
    bf16 on a CPU: each projection through linear() (packed weights), any number of rows and tokens.
    """
    B, L, _ = h.shape
    projections = (mlp.gate_proj, mlp.up_proj, mlp.down_proj)
    plain = all(type(p) is torch.nn.Linear and p.bias is None for p in projections)  # not LoRA-wrapped
    if plain and packs(mlp.down_proj.weight):
        return linear(mlp.down_proj, mlp.act_fn(linear(mlp.gate_proj, h)) * linear(mlp.up_proj, h))
    if L != 1 or not plain or not _weight_first(mlp.down_proj.weight, B, 64):
        return mlp(h)
    hT = h[:, 0].t()                                                                    # (H, B) view
    aT = mlp.act_fn(mlp.gate_proj.weight @ hT) * (mlp.up_proj.weight @ hT)              # (I, B)
    if B <= 16:
        aT = aT.t().contiguous().t()                                                    # (I, B) view of (B, I)
    return (mlp.down_proj.weight @ aT).t()[:, None]                                     # (B, 1, H) strided view


def head_logits(weight: torch.Tensor, h: torch.Tensor, buffer: torch.Tensor) -> torch.Tensor:
    """h (B, H) times the head weight (V, H) transposed, written into buffer (flat, at least V * B elements).

    For 2-32 rows of fp32 on a CPU the product is taken as weight @ h^T into a (V, B) block and returned as its
    (B, V) transposed view: the same numbers to rounding (the summation order may differ), but BLAS reads the
    151,936 x 896 head about twice as fast that way (AMD EPYC, 2 threads, 8 rows: 47 ms against 91 ms for
    h @ weight^T). Sampling 16 new tokens end to end: 16 rows 5.5 s against 6.7 s, 32 rows 8.1 against 9.4 s
    (medians of 3, alternating); at 64 rows the strided copy of the logits ate the gain. bf16 on a CPU: the
    packed weight of linear() (8 rows: 23.4 -> 10.9 ms), its product copied into buffer. Otherwise (a GPU) the
    usual (B, V) layout.
    """
    V, B = weight.size(0), h.size(0)
    if packs(weight):
        return buffer[:V * B].view(B, V).copy_(_packed_product(h, weight))              # (B, V), see linear()
    if _weight_first(weight, B, 32):
        return torch.mm(weight, h.t(), out=buffer[:V * B].view(V, B)).t()             # (B, V) strided view
    return torch.mm(h, weight.t(), out=buffer[:V * B].view(B, V))                      # (B, V)


def _glibc():
    """glibc through ctypes, or None (not Linux, or a C library without mallopt such as musl)."""
    import ctypes
    import ctypes.util
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's malloc.h


def keep_freed_memory() -> bool:
    """Let glibc serve large CPU tensors from its heap and keep what is freed for the next ones; True if it could.

    By default glibc maps every allocation over 32 MB afresh from the kernel and unmaps it when freed, so each big
    tensor of a training step (logits, activations, the gradients of the 151,936 x 896 embeddings) pays a page
    fault per 4 KB page when first written: a fresh 272 MB bf16 tensor took 82 ms to zero here, an add into one
    already written 14 ms. mallopt(M_MMAP_MAX, 0) keeps large allocations in the heap and M_TRIM_THRESHOLD = -1
    (read as the largest size) stops it from handing freed memory back, so the process keeps its high-water
    mark: the next micro-batch and step reuse pages already touched. The price is memory: the heap's holes are
    not returned (study shape, 4 steps: peak 17 GiB against 15), so the trainer calls release_freed_memory when
    the process grows past a share of the machine. Linux with glibc only; elsewhere a no-op.
    """
    libc = _glibc()
    return libc is not None and bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, -1))


def release_freed_memory(above: float = 0.7) -> bool:
    """When this process's resident memory exceeds `above` x the machine's memory: hand every freed page back
    (malloc_trim) and restore glibc's defaults for large allocations (undoing keep_freed_memory), so that a run
    that has grown close to the machine's limit is not killed for memory. True if it did."""
    libc = _glibc()
    if libc is None:
        return False
    page, total = os.sysconf("SC_PAGE_SIZE"), os.sysconf("SC_PHYS_PAGES")
    with open("/proc/self/statm") as f:
        resident = int(f.read().split()[1])
    if resident <= above * total:
        return False
    libc.mallopt(M_MMAP_MAX, 65536)                  # glibc's default: large allocations mapped again
    libc.mallopt(M_TRIM_THRESHOLD, 128 * 1024)       # glibc's default trim threshold
    libc.malloc_trim(0)
    print(f"memory: {resident * page / 2**30:.1f} GiB resident of {total * page / 2**30:.1f}: freed memory is "
          "handed back from now on (slower steps, no growth)", file=sys.stderr)
    return True
