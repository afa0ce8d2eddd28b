"""torchrun support on the CPU (gloo): DDP update equivalence, reduced metrics, resuming on another world size."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

import distributed as D
import model as M
import train_grpo as G
from conftest import tiny_model

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fixed_rollout(rows: int = 8, prompt_len: int = 5, completion_len: int = 6) -> G.Rollout:
    """A rollout made up without sampling: random tokens, ragged completion masks, off-policy old log-probs."""
    g = torch.Generator().manual_seed(0)
    prompt_ids = torch.randint(3, 200, (rows // 4, prompt_len), generator=g).repeat_interleave(4, 0)  # groups of 4
    completion_ids = torch.randint(3, 200, (rows, completion_len), generator=g)
    lengths = torch.randint(2, completion_len + 1, (rows,), generator=g)
    completion_mask = (torch.arange(completion_len)[None] < lengths[:, None]).long()
    samples = M.Samples(prompt_ids, torch.ones_like(prompt_ids), completion_ids, completion_mask,
                        torch.zeros(rows, completion_len), [""] * rows, torch.ones(rows, dtype=torch.bool))
    with torch.no_grad():
        lp = M.completion_logprobs(tiny_model(), samples.input_ids, samples.attention_mask, completion_len)
    old = (lp + 0.3 * torch.randn(lp.shape, generator=g)) * completion_mask
    advantages = torch.randn(rows, generator=g)
    return G.Rollout(samples, [None] * rows, {"logprob": old}, advantages, advantages, advantages, {})


def one_update(rank: int, world: int, port: int, out: str, fsdp: bool = False, lora: bool = False) -> None:
    # SGD without clipping: the parameter change is proportional to the gradient, so a wrong scale shows
    # (Adam's first step and norm clipping would both hide it).
    cfg = G.Config(micro_batch_size=2, lr=0.5, max_new_tokens=6, grad_clip=1e9, fsdp=fsdp,
                   lora_rank=4 if lora else 0, kl_beta=0.1 if lora else 0.0)
    policy = tiny_model()
    if lora:  # adapters with B != 0 (so A has a gradient too) and a KL to the base: DDP over the adapters only
        import lora as L
        torch.manual_seed(1)
        with torch.no_grad():
            for p in L.add_adapters(policy, 4, 8.0, L.DEFAULT_TARGETS)[1::2]:
                p.normal_(0, 0.1)
    optimizer_params = lambda: [p for p in policy.parameters() if p.requires_grad]  # noqa: E731
    dist = D.Dist()
    ro = fixed_rollout()
    if world > 1:
        import torch.distributed as td
        td.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
        dist = D.Dist(rank, world)
        policy = D.wrap_for_training(policy, cfg, dist)
        share = slice(rank * 4, rank * 4 + 4)
        s = ro.samples
        ro = G.Rollout(M.Samples(s.prompt_ids[share], s.prompt_mask[share], s.completion_ids[share],
                                 s.completion_mask[share], s.logprobs[share], s.texts[share], s.stopped[share]),
                       ro.problems[share], {"logprob": ro.signals["logprob"][share]}, ro.rewards[share],
                       ro.advantages[share], ro.passed[share], {})
    optimizer = torch.optim.SGD(optimizer_params(), lr=cfg.lr)
    start = {k: v.clone() for k, v in policy.state_dict().items()} if world == 1 else None
    stats = G.update(policy, None, optimizer, ro, cfg, step=0, dist=dist)
    params = D.state_dicts(policy, optimizer, dist)[0]  # gathered from the shards under FSDP
    if rank == 0:
        torch.save({"params": params, "stats": stats, "start": start}, out)
    if world > 1:
        td.barrier()  # both ranks done with every collective before either tears gloo down
        td.destroy_process_group()


@pytest.mark.parametrize("fsdp, lora", [(False, False), (True, False), (False, True)], ids=["ddp", "fsdp", "ddp-lora"])
def test_two_rank_update_equals_one_process_on_the_union(tmp_path, fsdp, lora):
    one, two = tmp_path / "one.pt", tmp_path / "two.pt"
    one_update(0, 1, 0, str(one), lora=lora)
    mp.spawn(one_update, args=(2, free_port(), str(two), fsdp, lora), nprocs=2, join=True)
    a, b = torch.load(one), torch.load(two)
    for name, value in a["params"].items():
        torch.testing.assert_close(b["params"][name], value, atol=1e-5, rtol=0, msg=name)
    for key in ("loss/policy", "loss/kl", "train/clip_frac", "train/approx_kl", "train/grad_norm"):
        assert b["stats"][key] == pytest.approx(a["stats"][key], rel=1e-4, abs=1e-7), key
    moved = sum(float((a["params"][n] - a["start"][n]).abs().max()) for n in a["params"])
    assert moved > 0


def torchrun(args: list[str], nproc: int = 2) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--master_port",
           str(free_port()), str(ROOT / "train_grpo.py"), *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_two_rank_run_logs_reduced_metrics_once_and_resumes_in_one_process(tiny_model_dir, tmp_path):
    run = tmp_path / "ddp"
    done = torchrun(["--model", tiny_model_dir, "--reward", "entropy", "--steps", "2", "--prompts-per-step", "2",
                     "--group-size", "2", "--max-new-tokens", "8", "--micro-batch-size", "2", "--eval-every", "2",
                     "--eval-limit", "3", "--eval-n", "2", "--save-every", "2", "--out", str(run)])
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 1, 2]  # once per step, not once per rank
    assert all(r["train/completions"] == 4 for r in rows[1:])  # both ranks' rows: 2 prompts x 2
    report = json.loads((run / "eval" / "step-2.json").read_text())
    assert report["num_problems"] == 3  # evaluation split across ranks and gathered
    # The checkpoint written by 2 ranks resumes in one process, without torchrun.
    config = run / "config.json"
    config.write_text(config.read_text().replace('"steps": 2', '"steps": 3'))
    G.main(["--resume", str(run)])
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 1, 2, 3]
    assert rows[3]["train/completions"] == 4


def test_fsdp_checkpoint_resumes_in_one_process(tiny_model_dir, tmp_path):
    run = tmp_path / "fsdp"
    done = torchrun(["--model", tiny_model_dir, "--reward", "entropy", "--steps", "1", "--prompts-per-step", "2",
                     "--group-size", "2", "--max-new-tokens", "8", "--micro-batch-size", "2", "--eval-every", "0",
                     "--fsdp", "--out", str(run)])
    assert done.returncode == 0, done.stderr[-3000:]
    state = torch.load(run / "ckpt-1" / "optimizer.pt")
    assert all(isinstance(k, str) for k in state["state"])  # FSDP writes its optimizer state by parameter name
    config = run / "config.json"
    config.write_text(config.read_text().replace('"steps": 1', '"steps": 2'))
    G.main(["--resume", str(run)])
    resumed = torch.load(run / "ckpt-2" / "optimizer.pt")
    assert all(s["step"] == 2 for s in resumed["state"].values())  # Adam's moments carried over, not restarted
