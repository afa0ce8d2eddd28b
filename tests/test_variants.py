"""The GRPO variants of train_grpo.py (DESIGN.md, "GRPO variants"), LoRA and --report-to: each formula on numbers
worked by hand, each flag one step of the real CLI on a tiny random model, and the combinations refused."""
import importlib.machinery
import json
import math
import sys
import types

import pytest
import torch

import lora as L
import model as M
import rewards as R
import train_grpo as G
from conftest import tiny_model


def cfg(**overrides):
    return G.Config(**overrides)


# ---- the formulas, by hand ---------------------------------------------------------------------------------

def test_overlong_reward_by_hand():
    """L_max = 10, L_c = 4: no penalty up to 6 tokens, then -1/4 per token, -1 at 10 and beyond."""
    lengths = torch.tensor([3.0, 6.0, 7.0, 9.0, 10.0, 12.0])
    got = G.overlong_reward(lengths, max_new_tokens=10, buffer=4)
    assert got.tolist() == pytest.approx([0.0, 0.0, -0.25, -0.75, -1.0, -1.0])


def test_short_response_penalty_by_hand():
    """L_min = 8: (8 - 2) / 8 for 2 tokens, nothing from 8 tokens on."""
    got = G.short_response_penalty(torch.tensor([2.0, 6.0, 8.0, 12.0]), min_length=8)
    assert got.tolist() == pytest.approx([0.75, 0.25, 0.0, 0.0])


def test_advantage_does_not_depend_on_length_when_the_reward_does_not():
    """A group of 4 with self-certainty 2 on every token of rows 0 and 1 (10 and 40 tokens) and 1 on rows 2 and 3
    (12 and 60 tokens), all longer than L_min = 8: r = (2, 2, 1, 1) whatever the lengths, so A = (a, a, -a, -a)
    with a = 0.5 / std(2, 2, 1, 1) = 0.5 / sqrt(1/3). The study's code summed a broadcast score over tokens; the
    sum over tokens (reduce="sum") shows what that does: rows 0 and 1 would get 20 and 80."""
    lengths = torch.tensor([10, 40, 12, 60])
    mask = (torch.arange(64)[None] < lengths[:, None]).float()                     # (4, 64)
    per_token = torch.tensor([2.0, 2.0, 1.0, 1.0])[:, None] * mask                  # (4, 64)
    signals = {"self_certainty": per_token}
    ctx = R.RewardContext(signals=signals, mask=mask, group_size=4)
    rewards, _ = R.compute_rewards("self_certainty", ctx)
    rewards = rewards - 0.5 * G.short_response_penalty(lengths.float(), 8)
    advantages = G.scaled_advantages(rewards, 4, "group")
    a = 0.5 / math.sqrt(1 / 3)
    assert advantages.tolist() == pytest.approx([a, a, -a, -a], rel=1e-5)
    summed, _ = R.compute_rewards("self_certainty", ctx, reduce="sum")
    assert summed.tolist() == [20.0, 80.0, 12.0, 60.0]


def test_reward_scalings_by_hand():
    """Two groups of 2, r = (1, 0 | 3, 3). group: (+-0.5 / sqrt(0.5), 0, 0); none: (+-0.5, 0, 0);
    batch: the std of (1, 0, 3, 3) is sqrt(6.75 / 3) = 1.5, so (+-1/3, 0, 0)."""
    rewards = torch.tensor([1.0, 0.0, 3.0, 3.0])
    half = 0.5 / math.sqrt(0.5)
    assert G.scaled_advantages(rewards, 2, "group").tolist() == pytest.approx([half, -half, 0, 0], rel=1e-5)
    assert G.scaled_advantages(rewards, 2, "none").tolist() == [0.5, -0.5, 0.0, 0.0]
    assert G.scaled_advantages(rewards, 2, "batch").tolist() == pytest.approx([1 / 3, -1 / 3, 0, 0], rel=1e-5)
    # under torchrun the std is over every rank's rewards, passed in
    assert G.scaled_advantages(rewards, 2, "batch", torch.tensor(0.5)).tolist() == pytest.approx([1, -1, 0, 0],
                                                                                                rel=1e-5)


def test_groups_with_signal():
    assert G.groups_with_signal(torch.tensor([1.0, 1, 1, 0, 1, 0, 5, 5, 5]), 3).tolist() == [False, True, False]


def test_gspo_ratio_clip_and_loss_by_hand():
    """Row 0 (A = +1): log-ratios 0.2, -0.1 (third token masked) -> s = exp(0.05) = 1.0513, above 1 + 4e-4, so
    its loss is -1.0004 with no gradient. Row 1 (A = -1): log-ratio 3e-4 on 3 tokens -> s = exp(3e-4) inside
    the range; loss +s. Sequences averaged: (-1.0004 + exp(3e-4)) / 2. d loss / d lp_t = s / (3 tokens x 2 rows)
    on row 1's tokens."""
    old = torch.zeros(2, 3)
    lp = torch.tensor([[0.2, -0.1, 9.0], [3e-4, 3e-4, 3e-4]], requires_grad=True)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    c = cfg(importance_level="sequence")
    assert (c.clip_low, c.clip_high, c.loss_agg) == (3e-4, 4e-4, "seq-mean-token-mean")
    torch.testing.assert_close(G.sequence_ratio(lp - old, mask.float()),
                               torch.tensor([[math.exp(0.05)], [math.exp(3e-4)]]))
    loss, stats = G.policy_loss(lp, old, torch.tensor([1.0, -1.0]), mask, c)
    assert loss.item() == pytest.approx((-1.0004 + math.exp(3e-4)) / 2, abs=1e-7)
    assert stats["clipped"] == 2  # row 0's two real tokens
    loss.backward()
    s1 = math.exp(3e-4)
    torch.testing.assert_close(lp.grad, torch.tensor([[0.0, 0.0, 0.0], [s1 / 6, s1 / 6, s1 / 6]]))


def test_gspo_on_policy_gradient_is_the_sequence_gradient_and_has_no_dual_clip():
    """lp = lp_old: s = 1 and d loss / d lp_t = -A_i / (|y_i| x rows). A = -1 with s = 5 inside a wide range:
    the loss is 5, not the dual clip's 3 (GSPO defines none)."""
    lp = torch.tensor([[-1.0, -2.0, -0.5], [-0.3, -0.7, 0.0]], requires_grad=True)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    loss, _ = G.policy_loss(lp, lp.detach(), torch.tensor([0.5, -2.0]), mask, cfg(importance_level="sequence"))
    loss.backward()
    torch.testing.assert_close(lp.grad, torch.tensor([[-0.5 / 6] * 3, [2.0 / 4, 2.0 / 4, 0.0]]))
    wide = cfg(importance_level="sequence", clip_low=0.9, clip_high=10.0)
    lp5 = torch.log(torch.tensor([[5.0]]))
    loss, _ = G.policy_loss(lp5, torch.zeros(1, 1), torch.tensor([-1.0]), torch.ones(1, 1), wide)
    assert loss.item() == pytest.approx(5.0)


def test_entropy_bonus_by_hand():
    """H = (1, 2 | 3, masked): token mean 6 / 3 = 2, so coef 0.1 lowers the loss by 0.2 and d loss / d H_t =
    -0.1 / 3 on real tokens."""
    lp = torch.zeros(2, 2)
    mask = torch.tensor([[1, 1], [1, 0]])
    entropy = torch.tensor([[1.0, 2.0], [3.0, 50.0]], requires_grad=True)
    c = cfg(entropy_coef=0.1)
    plain, _ = G.policy_loss(lp, lp, torch.tensor([1.0, -1.0]), mask, c)
    loss, stats = G.policy_loss(lp, lp, torch.tensor([1.0, -1.0]), mask, c, entropy=entropy)
    assert loss.item() == pytest.approx(plain.item() - 0.2)
    assert stats["entropy"] == pytest.approx(6.0)
    loss.backward()
    torch.testing.assert_close(entropy.grad, torch.tensor([[-0.1 / 3, -0.1 / 3], [-0.1 / 3, 0.0]]))


def test_group_logprobs_entropy_is_minus_sum_p_log_p():
    """The entropy the bonus uses, against -sum p log p of a plain forward's logits / T, per position."""
    model = tiny_model()
    prompt, completions = torch.tensor([5, 9, 13, 7]), torch.tensor([[20, 30, 40], [21, 31, 41]])
    lp, entropy = M.group_logprobs(model, prompt, completions, temperature=0.7, entropy=True)   # (2, 3) each
    ids = torch.cat([prompt.expand(2, -1), completions], 1)                                 # (2, 7)
    logits = model(input_ids=ids).logits[:, 3:6].float() / 0.7                              # (2, 3, V)
    logp = torch.log_softmax(logits, -1)
    torch.testing.assert_close(entropy, -(logp.exp() * logp).sum(-1), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(lp, logp.gather(-1, completions[..., None])[..., 0], atol=1e-5, rtol=1e-5)


# ---- dynamic sampling --------------------------------------------------------------------------------------

def fake_rollout(problems, rewards, prompt_len, completion_len, n=2):
    """A Rollout of len(problems) groups of n rows with the given rewards, prompts and completions of the given
    widths, every tensor filled with its row's problem id so that rows can be followed through take_groups."""
    rows = len(problems) * n
    tag = torch.tensor([p for p in problems for _ in range(n)], dtype=torch.float)           # (rows,)
    full = lambda width: tag[:, None].expand(rows, width).clone()                            # noqa: E731
    samples = M.Samples(full(prompt_len).long(), torch.ones(rows, prompt_len, dtype=torch.long),
                        full(completion_len).long(), torch.ones(rows, completion_len, dtype=torch.long),
                        full(completion_len), [f"text {p}" for p in tag.long().tolist()],
                        torch.ones(rows, dtype=torch.bool), full(completion_len))
    return G.Rollout(samples, [p for p in problems for _ in range(n)], {"logprob": full(completion_len)},
                     torch.tensor(rewards, dtype=torch.float), None, tag.clone(), {"reward/x": float(problems[0])},
                     torch.ones(rows, completion_len, dtype=torch.long))


def test_dynamic_sampling_keeps_varied_groups_refills_and_tops_up(monkeypatch):
    """Round 0, problems 1 2 3: only 2's rewards differ. Round 1 (2 missing): 4 differs, 5 does not. Round 2
    (1 missing): 6 does not. With --max-resample-rounds 2 the step keeps 2 and 4 and is topped up with the first
    dropped group, 1: 3 prompts resampled, 2 groups kept, rows re-padded (prompts of width 3, 5, 4 on the left)."""
    script = {(1, 2, 3): ([1, 1, 0, 1, 5, 5], 3, 2), (4, 5): ([0, 1, 2, 2], 5, 4), (6,): ([0, 0], 4, 1)}
    calls = []

    def scripted(policy, tokenizer, problems, config, step, draw=0):
        calls.append((tuple(problems), draw))
        return fake_rollout(problems, *script[tuple(problems)])

    monkeypatch.setattr(G, "rollout", scripted)
    monkeypatch.setattr(G, "resample_problems", lambda train, drawn, count, *a: [4, 5, 6][len(drawn) - 3:][:count])
    c = cfg(group_size=2, prompts_per_step=3, dynamic_sampling=True, max_resample_rounds=2)
    ro, info = G.collect_rollout(None, None, [], [1, 2, 3], c, step=0)
    assert [draw for _, draw in calls] == [0, 1, 2]
    assert info == {"train/kept_groups": 2, "train/resampled_prompts": 3}
    assert ro.problems == [2, 2, 4, 4, 1, 1]
    assert ro.rewards.tolist() == [0, 1, 0, 1, 1, 1]
    assert ro.reward_info == {"reward/x": 1.0}  # the step's own problems' reward info
    s = ro.samples
    assert s.prompt_ids.shape == (6, 5) and s.completion_ids.shape == (6, 4)
    assert s.prompt_ids[0].tolist() == [0, 0, 2, 2, 2] and s.prompt_mask[0].tolist() == [0, 0, 1, 1, 1]
    assert s.completion_ids[4].tolist() == [1, 1, 0, 0] and s.completion_mask[4].tolist() == [1, 1, 0, 0]
    assert ro.signals["logprob"][2].tolist() == [4, 4, 4, 4]
    assert s.texts == ["text 2"] * 2 + ["text 4"] * 2 + ["text 1"] * 2
    assert ro.loss_mask.sum(-1).tolist() == [2, 2, 4, 4, 2, 2]
    assert s.self_certainty[5].tolist() == [1, 1, 0, 0] and s.stopped.shape == (6,)


def test_dynamic_sampling_stops_when_enough_groups_are_kept(monkeypatch):
    monkeypatch.setattr(G, "rollout", lambda policy, tok, problems, config, step, draw=0:
                        fake_rollout(problems, [0, 1] * len(problems), 2, 2))
    ro, info = G.collect_rollout(None, None, [], [1, 2], cfg(group_size=2, dynamic_sampling=True), step=0)
    assert info == {"train/kept_groups": 2, "train/resampled_prompts": 0} and ro.problems == [1, 1, 2, 2]


def test_resampled_problems_are_seeded_and_new():
    train = [object() for _ in range(10)]
    c = cfg(seed=3)
    first = G.resample_problems(train, train[:4], 3, c, 5, 1, 0)
    assert first == G.resample_problems(train, train[:4], 3, c, 5, 1, 0) and len(first) == 3
    assert not set(map(id, first)) & set(map(id, train[:4]))
    assert first != G.resample_problems(train, train[:4], 3, c, 5, 2, 0)  # another round, another draw


# ---- LoRA --------------------------------------------------------------------------------------------------

def test_lora_linear_by_hand():
    """y = W x + b + (alpha / r) B A x, computed with plain matmuls; B = 0 at the start gives the base exactly."""
    torch.manual_seed(0)
    base = torch.nn.Linear(5, 3)
    layer = L.LoRALinear(base, rank=2, alpha=6.0)
    x = torch.randn(4, 5)
    assert torch.equal(layer(x), base(x))
    with torch.no_grad():
        layer.lora_B.copy_(torch.randn(3, 2))
    want = x @ base.weight.T + base.bias + 3.0 * (x @ layer.lora_A.T) @ layer.lora_B.T
    torch.testing.assert_close(layer(x), want)
    layer.enabled = False
    assert torch.equal(layer(x), base(x))


@pytest.mark.parametrize("kind", ["llama", "qwen2"])
def test_lora_adapters_train_alone_switch_off_and_merge(kind, tmp_path):
    """Only A and B train (r x (in + out) per wrapped layer); the base is unchanged at the start and under
    adapters_off; the merged state loads into a plain model that computes what the adapted one does; the
    fast sampler (which calls the projections directly) sees the adapters."""
    from transformers import AutoModelForCausalLM
    model = tiny_model(kind)
    ids = torch.randint(3, 200, (2, 7))
    base = model(input_ids=ids).logits
    params = L.add_adapters(model, 4, 8.0, ["q_proj", "down_proj"])
    # per layer: q_proj 32 -> 32, down_proj 64 -> 32; 2 layers
    assert sum(p.numel() for p in params) == 2 * (4 * (32 + 32) + 4 * (64 + 32))
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {n for n, _ in model.named_parameters()
                                                                           if "lora_" in n}
    assert torch.equal(model(input_ids=ids).logits, base)
    with torch.no_grad():
        for p in params:
            p.normal_(0, 0.2)
    adapted = model(input_ids=ids).logits
    assert not torch.allclose(adapted, base)
    with L.adapters_off(model):
        assert torch.equal(model(input_ids=ids).logits, base)
    model.save_pretrained(tmp_path, state_dict=L.merged_state(model.state_dict(), 8.0 / 4))
    merged = AutoModelForCausalLM.from_pretrained(tmp_path)
    torch.testing.assert_close(merged(input_ids=ids).logits, adapted, atol=1e-4, rtol=1e-4)
    tok = __import__("conftest").ToyTokenizer()
    fast = M.sample(model, tok, ["hello"], n=2, max_new_tokens=6, temperature=0.0001, seed=0, fast=True)
    naive = M.sample(merged, tok, ["hello"], n=2, max_new_tokens=6, temperature=0.0001, seed=0, fast=False)
    assert torch.equal(fast.completion_ids, naive.completion_ids)


def test_lora_unknown_target_is_named():
    with pytest.raises(M.UserError, match="qkv"):
        L.add_adapters(tiny_model(), 2, 4.0, ["q_proj", "qkv"])


# ---- flags: validation -------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["--importance-level", "sequence", "--loss-agg", "token-mean"], "not defined for it"),
    (["--importance-level", "sequence", "--loss-agg", "seq-mean-token-sum-norm"], "not defined for it"),
    (["--importance-level", "word"], "--importance-level"),
    (["--scale-rewards", "rank"], "--scale-rewards"),
    (["--no-std-norm", "--scale-rewards", "batch"], "contradicts"),
    (["--lora-rank", "8", "--fsdp"], "--fsdp is not supported"),
    (["--dynamic-sampling", "--group-size", "1", "--no-std-norm"], "group of 1"),
    (["--overlong-buffer", "300", "--max-new-tokens", "256"], "--overlong-buffer"),
    (["--report-to", "mlflow"], "--report-to 'mlflow'"),
])
def test_inconsistent_variant_flags_fail_before_any_work(argv, message):
    with pytest.raises(M.UserError) as err:
        G.parse_config(argv)
    assert message in str(err.value)


def test_wandb_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # importing it fails, as when it is not installed
    with pytest.raises(M.UserError) as err:
        G.parse_config(["--report-to", "tensorboard", "wandb"])
    assert "--report-to wandb: the wandb package is not installed (pip install wandb)" in str(err.value)


def test_defaults_keep_the_study_algorithm_and_aliases_resolve():
    c = G.parse_config([])
    assert (c.clip_low, c.clip_high, c.loss_agg, c.scale_rewards, c.importance_level) == \
        (0.2, 0.2, "token-mean", "group", "token")
    assert not (c.dynamic_sampling or c.mask_truncated or c.overlong_buffer or c.entropy_coef or c.lora_rank
                or c.length_penalty_min)
    assert G.parse_config(["--no-std-norm"]).scale_rewards == "none"
    assert G.parse_config(["--importance-level", "sequence", "--clip-high", "1e-3"]).clip_high == 1e-3
    assert G.parse_config(["--report-to", "none"]).report_to == ("none",)
    assert G.Config(report_to=["tensorboard,none"]).report_to == ("tensorboard", "none")


# ---- each flag, one step end to end ------------------------------------------------------------------------

ONE_STEP = ["--steps", "1", "--eval-every", "0", "--prompts-per-step", "2", "--group-size", "2",
            "--max-new-tokens", "8", "--micro-batch-size", "2", "--lr", "1e-3"]

FLAG_RUNS = {
    "dynamic-sampling": (["--reward", "random", "--dynamic-sampling", "--max-resample-rounds", "2"],
                         ["train/kept_groups", "train/resampled_prompts"]),
    "overlong": (["--overlong-buffer", "4", "--overlong-penalty", "0.5"], ["reward/overlong_penalty"]),
    "mask-truncated": (["--mask-truncated"], []),
    "gspo": (["--importance-level", "sequence"], []),
    "scale-batch": (["--scale-rewards", "batch"], []),
    "scale-none": (["--scale-rewards", "none"], []),
    "entropy": (["--entropy-coef", "0.01"], ["loss/entropy"]),
    "length-penalty": (["--reward", "entropy", "--length-penalty-min", "16", "--length-penalty-alpha", "0.5"],
                       ["reward/length_penalty"]),
    "lora": (["--lora-rank", "4", "--lora-alpha", "8", "--lora-targets", "q_proj,v_proj", "--kl-beta", "0.1"], []),
}  # --reward majority's label accuracy: test_train_grpo.test_two_steps_every_reward


def read_metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("name", list(FLAG_RUNS))
def test_each_variant_flag_runs_one_step(name, tiny_model_dir, tmp_path):
    argv, keys = FLAG_RUNS[name]
    run = tmp_path / name
    G.main(["--model", tiny_model_dir, *ONE_STEP, "--out", str(run), *argv])
    (row,) = read_metrics(run)
    for key in ["reward/mean", "loss/policy", "train/grad_norm", *keys]:
        assert key in row and math.isfinite(row[key]), key
    assert (run / "ckpt-1" / "model.safetensors").exists()


def test_dynamic_sampling_counts_in_a_real_run(tiny_model_dir, tmp_path):
    """--reward random, groups of 2: a group is dropped with probability 1/2; the step still trains on 2 groups."""
    run = tmp_path / "ds"
    G.main(["--model", tiny_model_dir, *ONE_STEP, "--out", str(run), "--reward", "random", "--dynamic-sampling",
            "--max-resample-rounds", "3"])
    for row in read_metrics(run):
        assert row["train/completions"] == 4 and 0 <= row["train/kept_groups"] <= 2
        assert row["reward/frac_zero_std_groups"] == pytest.approx(1 - row["train/kept_groups"] / 2)


def test_mask_truncated_masks_exactly_the_rows_cut_without_eos(tiny_model_dir):
    import lcb_eval
    policy, tokenizer = M.load_model(tiny_model_dir, device="cpu")
    problems = lcb_eval.load_problems("embedded:train")[:2]
    c = cfg(group_size=3, max_new_tokens=6, mask_truncated=True, reward="entropy")
    ro = G.rollout(policy, tokenizer, problems, c, step=0)
    assert ro.loss_mask[ro.samples.stopped].equal(ro.samples.completion_mask[ro.samples.stopped])
    assert ro.loss_mask[~ro.samples.stopped].sum() == 0
    assert (~ro.samples.stopped).any()  # 6 tokens of a random model: some rows are cut


def test_lora_run_reference_is_the_base_checkpoint_is_merged_and_resume_matches(tiny_model_dir, tmp_path):
    """Step 1 starts at B = 0, so the policy is the base and the KL is exactly 0; after a step it is not (the
    reference is the base, not the adapted policy). The checkpoint is a plain model (what lcb_eval.py loads)
    whose weights moved only in the adapted layers, the optimizer holds only the adapters, and a killed and
    resumed run logs what a straight one does."""
    from safetensors.torch import load_file
    common = ["--model", tiny_model_dir, *ONE_STEP, "--reward", "entropy", "--lora-rank", "4", "--lora-alpha", "8",
              "--kl-beta", "0.1", "--lr", "2e-2", "--save-every", "2", "--prompts-per-step", "1"]
    G.main([*common, "--steps", "3", "--out", str(tmp_path / "straight")])
    rows = read_metrics(tmp_path / "straight")
    assert rows[0]["loss/kl"] == 0 and rows[1]["loss/kl"] > 0
    base = load_file(f"{tiny_model_dir}/model.safetensors")
    ckpt = tmp_path / "straight" / "ckpt-3"
    merged = load_file(ckpt / "model.safetensors")
    assert set(merged) == set(base)
    moved = {k for k in base if not torch.equal(base[k], merged[k])}
    assert moved and all(k.rsplit(".", 2)[-2] in L.DEFAULT_TARGETS for k in moved), moved
    policy, _ = M.load_model(str(ckpt), device="cpu")  # lcb_eval.py's loader
    assert torch.equal(policy.state_dict()[sorted(moved)[0]], merged[sorted(moved)[0]])
    optimizer = torch.load(ckpt / "optimizer.pt")
    assert len(optimizer["state"]) == 2 * 2 * len(L.DEFAULT_TARGETS)  # A and B of 7 layers x 2 decoder layers
    G.main([*common, "--steps", "2", "--out", str(tmp_path / "killed")])
    config = tmp_path / "killed" / "config.json"
    config.write_text(config.read_text().replace('"steps": 2', '"steps": 3'))
    G.main(["--resume", str(tmp_path / "killed")])
    strip = lambda rs: [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in rs]  # noqa: E731
    assert strip(read_metrics(tmp_path / "killed")) == strip(rows)


def test_lora_under_gradient_checkpointing_gives_the_same_gradients():
    """HF's checkpointing with a frozen embedding: gradients must still reach the adapters inside the layers."""
    s = __import__("test_train_grpo").two_groups_of_three()
    grads = []
    for checkpointing in (False, True):
        model = tiny_model()
        params = L.add_adapters(model, 2, 4.0, L.DEFAULT_TARGETS)
        with torch.no_grad():
            for p in params[1::2]:
                p.normal_(0, 0.1)  # B != 0, so A gets a gradient too
        if checkpointing:
            model.gradient_checkpointing_enable()
        model.train()
        micro = torch.tensor([0, 1, 2])
        (G.micro_logprobs(model, s, micro, 1.0) * s.completion_mask[micro, :6]).sum().backward()
        grads.append([p.grad.clone() for p in params])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


# ---- reporting ---------------------------------------------------------------------------------------------

def test_tensorboard_gets_every_metric_of_metrics_jsonl(tiny_model_dir, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    run = tmp_path / "tb"
    G.main(["--model", tiny_model_dir, *ONE_STEP, "--out", str(run), "--report-to", "tensorboard"])
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    rows = read_metrics(run)
    assert set(events.Tags()["scalars"]) == {k for r in rows for k in r if k != "step"}
    for row in rows:
        got = {e.step: e.value for e in events.Scalars("reward/mean")}
        assert got[row["step"]] == pytest.approx(row["reward/mean"], rel=1e-6)


def test_wandb_gets_every_metric_when_installed(tiny_model_dir, tmp_path, monkeypatch):
    logged, runs = [], []
    fake = types.ModuleType("wandb")
    fake.__spec__ = importlib.machinery.ModuleSpec("wandb", None)
    fake.init = lambda **kw: runs.append(kw) or types.SimpleNamespace(
        log=lambda metrics, step: logged.append((step, metrics)), finish=lambda: None)
    monkeypatch.setitem(sys.modules, "wandb", fake)
    run = tmp_path / "wb"
    G.main(["--model", tiny_model_dir, *ONE_STEP, "--out", str(run), "--report-to", "wandb"])
    (row,) = read_metrics(run)
    assert runs[0]["name"] == "wb" and runs[0]["config"]["report_to"] == ("wandb",)
    assert logged == [(1, {k: v for k, v in row.items() if k != "step"})]


def test_a_cpu_run_stops_keeping_freed_memory_once_it_is_large(tiny_model_dir, tmp_path, monkeypatch):
    """train_grpo.setup turns M.keep_freed_memory on for a CPU run; after each step M.release_freed_memory is asked
    (it hands memory back past 70% of the machine), and once it has, it is not asked again."""
    import model as M
    calls = []
    monkeypatch.setattr(M, "release_freed_memory", lambda: calls.append(1) or True)
    G.main(["--model", tiny_model_dir, *ONE_STEP, "--steps", "2", "--out", str(tmp_path / "run"), "--device", "cpu"])
    assert len(read_metrics(tmp_path / "run")) == 2
    import fastpath
    assert calls == ([1] if fastpath._glibc() is not None else [])
