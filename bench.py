"""bench.py: our trainer side by side with what users would pick instead, in one process, as ratios.

    python bench.py            # full run
    python bench.py --quick    # fewer repeats and shorter sampling, under 15 minutes here
    python bench.py --only sampling signals grpo sandbox

1. sampling  model.sample vs HF `generate` (same model, prompts, rows, max_new_tokens, T = 1) at 8 and 64 rows,
             on the default model (and smollm2-135m in the full run), in --precision; each decode step against
             the hardware bound max(bytes read / copy bandwidth, 2 x params x rows / matmul FLOP/s), both
             measured here.
2. signals   the chunked, compiled per-token signals (model.hidden_signals, fused) vs eager PyTorch on the full
             logits, time and peak memory (each measured in a fresh subprocess).
3. grpo      one GRPO step (rollout + update) of train_grpo on the default model, 2 prompts x 8 x 256 tokens,
             vs the same code in fp32 and vs TRL's GRPOTrainer configured the same way (needs
             `pip install -r requirements-bench.txt`). Each trainer first runs one untimed step: the first
             step's one-time costs (AdamW's state, first-touch page faults of gradients) are not a step's cost.
4. sandbox   sandbox.run_many vs a bare subprocess loop, programs/s.

Timings are medians of repeats; run on an idle machine (other processes distort them several-fold).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import model as M

ROOT = Path(__file__).resolve().parent
QUESTIONS = ["Write a Python function add(a, b).", "Reverse a string in Python.", "Count the vowels in a word.",
             "Sum a list of numbers.", "Check whether a number is prime.", "Return the largest of three numbers.",
             "Compute n factorial.", "Print FizzBuzz up to n."]
ROWS: list[dict] = []


def report(section, case, ours, baseline, unit, better="higher", note=""):
    ratio = (ours / baseline if better == "higher" else baseline / ours) if ours and baseline else float("nan")
    ROWS.append(dict(section=section, case=case, ours=ours, baseline=baseline, unit=unit, ratio=ratio, note=note))
    print(f"  {section:9s} {case:44s} ours {ours:10.3f}  baseline {baseline:10.3f} {unit:10s} x{ratio:5.2f} {note}",
          flush=True)


def timed(fn, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


# ---- hardware -------------------------------------------------------------------------------------------------

def hardware(precision: str = "fp32") -> dict:
    """Copy bandwidth (read + write bytes / s) and matmul FLOP/s in the given precision, as torch sees them."""
    src = torch.empty(64 * 2**20, dtype=torch.float32).fill_(1.0)   # 256 MB
    dst = torch.empty_like(src)
    dst.copy_(src)
    copy_s, _ = timed(lambda: dst.copy_(src), 5)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = torch.randn(2048, 2048, dtype=dtype), torch.randn(2048, 2048, dtype=dtype)
    a @ b
    mm_s, _ = timed(lambda: a @ b, 3 if precision == "bf16" else 5)
    return {"copy_bytes_per_s": 2 * src.numel() * 4 / copy_s, "matmul_flops": 2 * 2048**3 / mm_s,
            "precision": precision}


# ---- 1. sampling -------------------------------------------------------------------------------------------------

def decode_bound(model, rows: int, context: int, hw: dict) -> float:
    """Seconds per decode step the hardware allows: memory traffic or compute, whichever is larger."""
    c = model.config
    params = sum(p.numel() for p in model.parameters())
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    size = next(model.parameters()).element_size()                   # bytes per weight: 4 fp32, 2 bf16
    kv_bytes = 2 * c.num_hidden_layers * rows * c.num_key_value_heads * context * head_dim * size
    memory_s = (params * size + kv_bytes) / (hw["copy_bytes_per_s"] / 2)  # a copy moves each byte twice
    compute_s = 2 * params * rows / hw["matmul_flops"]
    return max(memory_s, compute_s)


def bench_sampling(quick: bool, hw: dict) -> None:
    dtype = torch.bfloat16 if hw["precision"] == "bf16" else torch.float32
    new_tokens = 32 if quick else 128
    names = [M.DEFAULT_MODEL] + ([] if quick else ["smollm2-135m"])
    for name in names:
        model, tokenizer = M.load_model(name, device="cpu", dtype=dtype)
        label = f"{name} {hw['precision']}"
        warm = [M.chat_prompt(tokenizer, [{"role": "user", "content": QUESTIONS[0]}])]
        M.sample(model, tokenizer, warm, n=2, max_new_tokens=4, seed=0)  # weights paged in, kernels set up: not timed
        for prompts_n, group in ((2, 4), (8, 8)):
            prompts = [M.chat_prompt(tokenizer, [{"role": "user", "content": q}]) for q in QUESTIONS[:prompts_n]]
            rows = prompts_n * group

            def ours():
                out = M.sample(model, tokenizer, prompts, n=group, max_new_tokens=new_tokens, temperature=1.0, seed=0)
                return out.completion_ids.size(1)

            def hf():
                enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
                with torch.no_grad():
                    out = model.generate(**enc, do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                                         max_new_tokens=new_tokens, num_return_sequences=group,
                                         pad_token_id=tokenizer.pad_token_id)
                return out.size(1) - enc["input_ids"].size(1)

            repeats = 1 if (quick or rows == 64 and "qwen" in name) else 2
            ours_s, ours_steps = timed(ours, repeats)
            hf_s, hf_steps = timed(hf, repeats)
            report("sampling", f"{label}, {rows} rows: row-tokens/s", rows * ours_steps / ours_s,
                   rows * hf_steps / hf_s, "tok/s")
            context = len(tokenizer(prompts[0], add_special_tokens=False)["input_ids"]) + new_tokens // 2
            bound = decode_bound(model, rows, context, hw)
            report("sampling", f"{label}, {rows} rows: decode step vs bound", ours_s / ours_steps * 1e3, bound * 1e3,
                   "ms", better="lower", note="baseline = hardware bound")


# ---- 2. signals --------------------------------------------------------------------------------------------------

def signals_child(variant: str, rows: int, vocab: int, hidden: int = 576) -> dict:
    """Run in a fresh process: time and peak-memory increase of one signal computation."""
    torch.manual_seed(0)
    h = torch.randn(rows, hidden) / hidden**0.5
    head = torch.nn.Linear(hidden, vocab, bias=False)
    targets = torch.randint(0, vocab, (rows,))
    with torch.no_grad():
        if variant == "fused":
            M.hidden_signals(h[:64], head, targets[:64], 1.0, fused=True)  # compile outside the timing
            fn = lambda: M.hidden_signals(h, head, targets, 1.0, fused=True)  # noqa: E731
        else:
            fn = lambda: M.token_signals(head(h), targets, 1.0)  # noqa: E731  the whole logits at once
        before = _memory_kib("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
        seconds, _ = timed(fn, 2)
        peak = _memory_kib("VmHWM")
    return {"seconds": seconds, "peak_bytes": max(peak - before, 0) * 1024}


def _memory_kib(field: str) -> int:
    """Resident memory of this process from /proc/self/status: VmRSS (now) or VmHWM (peak since reset)."""
    line = next(line for line in open("/proc/self/status") if line.startswith(field + ":"))
    return int(line.split()[1])


def run_signals_child(variant, rows, vocab) -> dict | None:
    cmd = [sys.executable, str(ROOT / "bench.py"), "--signals-child", variant, str(rows), str(vocab)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        return None  # out of memory, most likely
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_signals(quick: bool) -> None:
    for vocab in (49152, 151936):
        batch = 2 if quick else (8 if vocab == 49152 else 2)  # eager on (64, 512, V) needs 4 x 6.4-20 GB
        rows = batch * 512
        fused, eager = run_signals_child("fused", rows, vocab), run_signals_child("eager", rows, vocab)
        if fused and eager:
            report("signals", f"({batch}, 512, {vocab}): seconds", fused["seconds"], eager["seconds"], "s",
                   better="lower")
            report("signals", f"({batch}, 512, {vocab}): peak memory", fused["peak_bytes"] / 2**30,
                   eager["peak_bytes"] / 2**30, "GiB", better="lower")
        if not quick:  # ours at the full shape of the issue, where eager does not fit this machine
            full = run_signals_child("fused", 64 * 512, vocab)
            need = 4 * 64 * 512 * vocab * 4 / 2**30
            if full:
                report("signals", f"(64, 512, {vocab}): ours only", full["seconds"], float("nan"), "s",
                       note=f"peak {full['peak_bytes'] / 2**30:.2f} GiB; eager needs ~{need:.0f} GiB")


# ---- 3. a GRPO step ----------------------------------------------------------------------------------------------

def has_code_reward(texts) -> list[float]:
    """The benchmark's reward, the same for both trainers: 1 when the response contains a fenced code block."""
    return [1.0 if "```" in t else 0.0 for t in texts]


def ours_grpo_step(steps: int, precision: str, tokens: int) -> float:
    """Median seconds of one train_grpo step (rollout + update) over `steps` steps after an untimed one."""
    import rewards as R
    import train_grpo as G

    def reward(ctx, opts):
        return torch.tensor(has_code_reward(ctx.texts)), {}
    R.REWARDS["bench_has_code"] = reward
    with tempfile.TemporaryDirectory() as out:
        cfg = G.Config(reward="bench_has_code", prompts_per_step=2, group_size=8, max_new_tokens=tokens,
                       eval_every=0, micro_batch_size=4, out=out, device="cpu", precision=precision)
        run = G.setup(cfg)
        import lcb_eval
        problems = lcb_eval.load_problems("embedded:train")
        times = []
        for step in range(1 + steps):
            t0 = time.perf_counter()
            G.train_step(run, problems, step)
            times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


def trl_grpo_step(steps: int, precision: str, tokens: int) -> float | None:
    try:
        from trl import GRPOConfig, GRPOTrainer
    except ImportError:
        print("  grpo: TRL not installed (pip install -r requirements-bench.txt); skipped")
        return None
    from datasets import Dataset
    from transformers import AutoTokenizer, TrainerCallback
    import lcb_eval
    path = str(M.embedded_model_dir(M.DEFAULT_MODEL))
    problems = lcb_eval.load_problems("embedded:train")
    data = Dataset.from_list([{"prompt": lcb_eval.build_messages(p)} for p in problems[:2 * (1 + steps)]] * 8)
    tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
    times = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, *args, **kwargs):
            self.t0 = time.perf_counter()

        def on_step_end(self, *args, **kwargs):
            times.append(time.perf_counter() - self.t0)

    def reward(completions, **kwargs):
        return has_code_reward([c[-1]["content"] if isinstance(c, list) else c for c in completions])
    with tempfile.TemporaryDirectory() as out:
        # TRL's best CPU setting here: no vLLM, no gradient checkpointing, bf16 only where the CPU has it; the 16
        # completions are generated at once and trained in 4 accumulated micro-batches of 4 (one micro-batch of
        # 16 was killed for memory on this 24 GiB machine: its full logits alone take 4 GiB per copy)
        args = GRPOConfig(output_dir=out, per_device_train_batch_size=4, gradient_accumulation_steps=4,
                          num_generations=8, max_completion_length=tokens, beta=0.0, num_iterations=1, use_cpu=True,
                          learning_rate=1e-5, max_steps=1 + steps, logging_steps=1, report_to="none",
                          save_strategy="no", gradient_checkpointing=False, temperature=1.0, top_k=0,
                          bf16=precision == "bf16")
        trainer = GRPOTrainer(model=path, reward_funcs=reward, args=args, train_dataset=data,
                              processing_class=tokenizer, callbacks=[StepTimer()])
        trainer.train()
    return statistics.median(times[1:])  # after an untimed step, as ours


def bench_optimizer(repeats: int) -> None:
    """One AdamW step over the default model's weights (fp32 master weights and state, random gradients): the
    trainer's fused=True against torch's default (a chain of tensor ops per weight group)."""
    model, _ = M.load_model(M.DEFAULT_MODEL, device="cpu", dtype=torch.float32)
    params = list(model.parameters())
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    seconds = {}
    for fused in (True, False):
        optimizer = torch.optim.AdamW(params, lr=1e-6, weight_decay=0.1, fused=fused)
        optimizer.step()  # the first step allocates the state
        seconds[fused] = timed(optimizer.step, repeats)[0]
        del optimizer
    n = sum(p.numel() for p in params)
    report("grpo", f"{M.DEFAULT_MODEL} ({n / 1e6:.0f}M weights): AdamW step, fused vs default", seconds[True],
           seconds[False], "s", better="lower")


def bench_grpo(quick: bool, precision: str) -> None:
    """The issue's case is 2 prompts x 8 completions of up to 256 tokens (the full run); --quick uses 64 tokens
    and 2 timed steps (a step's answers, and so its time, vary between runs; the mean of 2 steadies the ratio)."""
    steps, tokens = (2, 64) if quick else (3, 256)  # timed steps (after an untimed one): quick takes the mean of 2
    bench_optimizer(3 if quick else 5)
    case = f"{M.DEFAULT_MODEL}, 2 prompts x 8, {tokens} tokens"
    ours = ours_grpo_step(steps, precision, tokens)
    if precision == "fp32":
        fp32, note = ours, "the default is fp32 on this CPU: the same run"
    else:
        fp32, note = ours_grpo_step(steps, "fp32", tokens), ""
    report("grpo", f"{case}: s/step ({precision}) vs our fp32", ours, fp32, "s", better="lower", note=note)
    trl = trl_grpo_step(steps, precision, tokens)
    report("grpo", f"{case}: s/step ({precision}) vs TRL", ours, trl or float("nan"), "s", better="lower",
           note="" if trl else "TRL not installed")


# ---- 4. sandbox --------------------------------------------------------------------------------------------------

def bench_sandbox(quick: bool) -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    from sandbox_throughput import bare_loop, sandboxed
    n, workers = (100 if quick else 200), os.cpu_count() or 1
    bare = statistics.median(bare_loop(n, workers) for _ in range(3))
    boxed = statistics.median(sandboxed(n, workers) for _ in range(3))
    report("sandbox", f"{n} trivial programs, {workers} workers", boxed, bare, "prog/s")


# ---- main --------------------------------------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller shapes and fewer repeats (about 10 minutes here)")
    parser.add_argument("--only", nargs="*", default=["sampling", "signals", "grpo", "sandbox"],
                        choices=["sampling", "signals", "grpo", "sandbox"], help="sections to run")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--signals-child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--precision", choices=M.PRECISIONS, default=None,
                        help="ours in fp32 or bf16 (default: the trainer's default on this machine)")
    args = parser.parse_args(argv)
    if args.signals_child:
        variant, rows, vocab = args.signals_child
        print(json.dumps(signals_child(variant, int(rows), int(vocab))))
        return
    precision = M.choose_precision(args.precision, "cpu")
    hw = hardware(precision)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if "model name" in line), "?") \
        if Path("/proc/cpuinfo").exists() else platform.processor()
    print(f"machine: {cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"copy {hw['copy_bytes_per_s'] / 1e9:.1f} GB/s, {precision} matmul {hw['matmul_flops'] / 1e9:.0f} GFLOP/s")
    start = time.perf_counter()
    sections = {"sampling": lambda: bench_sampling(args.quick, hw), "signals": lambda: bench_signals(args.quick),
                "grpo": lambda: bench_grpo(args.quick, precision), "sandbox": lambda: bench_sandbox(args.quick)}
    for name in args.only:
        print(f"[{name}]", flush=True)
        sections[name]()
    print("\n| section | case | ours | baseline | unit | ratio (>1: ours better) |\n|---|---|---|---|---|---|")
    for r in ROWS:
        print(f"| {r['section']} | {r['case']} | {r['ours']:.3g} | {r['baseline']:.3g} | {r['unit']} | "
              f"{r['ratio']:.2f} {r['note']} |")
    print(f"\ntotal {time.perf_counter() - start:.0f}s")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": cpu, "hardware": hw, "rows": ROWS}, indent=1))


if __name__ == "__main__":
    import cli
    cli.run(main)
