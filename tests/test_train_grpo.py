"""train_grpo.py: the loss on hand examples, end-to-end runs of the real CLI on a tiny model, resume, flags."""
import dataclasses
import json

import pytest
import torch

import rewards as R
import rundir
import train_config
import train_grpo as G


def cfg(**overrides):
    return G.Config(**overrides)


# ---- loss math ------------------------------------------------------------------------------------------------

def test_on_policy_ratio_is_one_and_gradient_is_policy_gradient():
    """E = 1, one minibatch: lp_old == lp, so ratio = 1 and d loss / d lp_t = -A_i / (number of tokens)."""
    lp = torch.tensor([[-1.0, -2.0, -0.5], [-0.3, -0.7, 0.0]], requires_grad=True)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    adv = torch.tensor([0.5, -2.0])
    loss, stats = G.policy_loss(lp, lp.detach(), adv, mask, cfg())
    loss.backward()
    want = torch.tensor([[-0.5, -0.5, -0.5], [2.0, 2.0, 0.0]]) / 5
    torch.testing.assert_close(lp.grad, want)
    assert stats["clipped"] == 0 and stats["approx_kl"] == 0
    # value: -(0.5*3 - 2*2)/5 = 0.5
    assert loss.item() == pytest.approx(0.5)


def test_clip_zeroes_gradient_outside_range_in_the_right_direction():
    """A > 0: a ratio above 1 + eps gets no gradient, below 1 - eps it still does (and vice versa for A < 0)."""
    old = torch.zeros(1, 4)
    lp = torch.log(torch.tensor([[1.5, 0.5, 1.1, 0.9]])).requires_grad_()
    for sign, dead in ((1.0, [0]), (-1.0, [1])):
        lp.grad = None
        loss, _ = G.policy_loss(lp, old, torch.tensor([sign]), torch.ones(1, 4), cfg(dual_clip=100.0))
        loss.backward()
        zero = (lp.grad[0] == 0).nonzero()[:, 0].tolist()
        assert zero == dead, (sign, lp.grad)


def test_clip_inside_its_range_changes_nothing_bitwise():
    """docs/lab.md, exercise 5: with ratios inside [1 - eps, 1 + eps] (one epoch: the ratio is 1 up to rounding)
    the clipped loss and its gradient equal the unclipped loss's bit for bit: max(u, c) ties with u == c, and
    autograd splits the tie's gradient 0.5 / 0.5 between the two equal branches, which add back exactly."""
    torch.manual_seed(0)
    old = torch.randn(3, 5)
    lp = (old + 0.05 * torch.randn(3, 5)).requires_grad_()              # ratios within about 0.9-1.1
    adv, mask = torch.tensor([1.3, -0.7, 0.4]), torch.ones(3, 5)
    ratio = torch.exp(lp.detach() - old)
    assert ((ratio > 0.8) & (ratio < 1.2)).all()
    loss, stats = G.policy_loss(lp, old, adv, mask, cfg())
    (grad_clipped,) = torch.autograd.grad(loss, lp)
    unclipped = (-adv[:, None] * torch.exp(lp - old) * mask).sum() / mask.sum()  # the loss without the clip
    (grad_plain,) = torch.autograd.grad(unclipped, lp)
    assert stats["clipped"] == 0
    assert torch.equal(loss, unclipped) and torch.equal(grad_clipped, grad_plain)
    # and the hand formula: d/d lp_t of -A e^(lp_t - old_t) / n = -A ratio_t / n
    torch.testing.assert_close(grad_clipped, -adv[:, None] * ratio / 15)


def test_dual_clip_caps_loss_for_negative_advantage():
    """A = -1, ratio 5: plain clipped loss = max(5, 1.2) = 5; dual clip c = 3 caps it at 3, with no gradient."""
    lp = torch.log(torch.tensor([[5.0]])).requires_grad_()
    loss, _ = G.policy_loss(lp, torch.zeros(1, 1), torch.tensor([-1.0]), torch.ones(1, 1), cfg(dual_clip=3.0))
    assert loss.item() == pytest.approx(3.0)
    loss.backward()
    assert lp.grad.item() == 0
    loss, _ = G.policy_loss(lp.detach(), torch.zeros(1, 1), torch.tensor([-1.0]), torch.ones(1, 1), cfg(dual_clip=10.0))
    assert loss.item() == pytest.approx(5.0)


def test_kl_is_zero_at_reference_and_k3_elsewhere():
    lp = torch.tensor([[-1.0, -2.0]])
    adv, mask = torch.zeros(1), torch.ones(1, 2)
    _, stats = G.policy_loss(lp, lp, adv, mask, cfg(kl_beta=0.1), ref_logprobs=lp.clone())
    assert stats["kl"] == 0
    ref = torch.tensor([[-1.5, -1.0]])
    loss, stats = G.policy_loss(lp, lp, adv, mask, cfg(kl_beta=0.1), ref_logprobs=ref)
    d = [-0.5, 1.0]  # lp_ref - lp
    k3 = [torch.exp(torch.tensor(x)).item() - x - 1 for x in d]
    assert stats["kl"] == pytest.approx(sum(k3), rel=1e-5)
    assert loss.item() == pytest.approx(0.1 * sum(k3) / 2, rel=1e-5)


def test_aggregation_modes_on_hand_numbers():
    """Row 0 has 2 tokens of loss 1 and 3; row 1 has 1 token of loss 5 (third column masked, value ignored)."""
    per_token = torch.tensor([[1.0, 3.0, 99.0], [5.0, 99.0, 99.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    assert G.aggregate(per_token, mask, "token-mean", 2, mask.sum(), 4).item() == pytest.approx(9 / 3)
    assert G.aggregate(per_token, mask, "seq-mean-token-mean", 2, mask.sum(), 4).item() == pytest.approx((2 + 5) / 2)
    assert G.aggregate(per_token, mask, "seq-mean-token-sum-norm", 2, mask.sum(), 4).item() == pytest.approx(9 / 8)


def test_micro_batches_add_up_to_the_minibatch_loss():
    lp = torch.randn(4, 5, generator=torch.Generator().manual_seed(0))
    old = lp + 0.1 * torch.randn(4, 5, generator=torch.Generator().manual_seed(1))
    mask = (torch.rand(4, 5, generator=torch.Generator().manual_seed(2)) > 0.3).long()
    adv = torch.tensor([1.0, -1.0, 0.5, -0.2])
    for mode in train_config.LOSS_AGGREGATIONS:
        c = cfg(loss_agg=mode, max_new_tokens=5)
        whole, _ = G.policy_loss(lp, old, adv, mask, c)
        parts = sum(G.policy_loss(lp[i:i + 2], old[i:i + 2], adv[i:i + 2], mask[i:i + 2], c,
                                  n_rows=4, n_tokens=mask.sum())[0] for i in (0, 2))
        assert parts.item() == pytest.approx(whole.item(), abs=1e-6), mode


def test_micro_batches_share_one_prompt_and_cover_the_rows():
    rows = torch.tensor([5, 0, 3, 6, 1, 2, 7, 4])  # a shuffled minibatch of two groups of 4
    micros = G.micro_batches(rows, group_size=4, size=3)
    assert [m.tolist() for m in micros] == [[5, 6, 7], [4], [0, 3, 1], [2]]


def test_micro_batches_sorted_by_length_pad_less():
    """With lengths, each prompt's rows are sorted by completion length before the split, so the positions
    computed (each micro-batch up to its longest row) drop from 3 x 9 + 1 x 8 + ... to the hand count below."""
    rows = torch.tensor([5, 0, 3, 6, 1, 2, 7, 4])
    lengths = torch.tensor([9, 1, 8, 2, 3, 7, 4, 6])  # row -> completion length
    micros = G.micro_batches(rows, group_size=4, size=2, lengths=lengths)
    assert [m.tolist() for m in micros] == [[4, 6], [7, 5], [1, 3], [2, 0]]
    assert sorted(r for m in micros for r in m.tolist()) == list(range(8))

    def cost(ms):
        return sum(len(m) * int(lengths[m].max()) for m in ms)
    # sorted: 2*4 + 2*7 + 2*2 + 2*9 = 44; in shuffled order: [5,6]=2*7, [7,4]=2*6, [0,3]=2*9, [1,2]=2*8 -> 60
    assert cost(micros) == 44 and cost(G.micro_batches(rows, group_size=4, size=2)) == 60


def test_micro_batches_with_a_token_cap_follow_the_answer_length():
    """--micro-batch-tokens: a micro-batch holds at most max_tokens completion positions (rows x its longest
    row) as well as at most `size` rows; hand-split below. Short answers share one micro-batch (one prompt
    forward), long ones go in pairs or alone; every row exactly once, each micro-batch within one prompt."""
    rows = torch.tensor([5, 0, 3, 6, 1, 2, 7, 4, 8, 9, 10, 11])  # three groups of 4, shuffled
    lengths = torch.tensor([9, 1, 8, 2, 3, 7, 4, 6, 30, 5, 5, 40])
    micros = G.micro_batches(rows, group_size=4, size=4, lengths=lengths, max_tokens=20)
    # group 0 sorted by length: 0(9) 1(1) 2(8) 3(2) -> 1, 3, 2, 0 = 1, 2, 8, 9: [1,3] (2x2=4), +2 -> 3x8=24 > 20
    # group 1: 4(3) 5(7) 6(4) 7(6) -> 4, 6, 7, 5 = 3, 4, 6, 7: [4,6] 2x4, +7 -> 3x6=18 ok, +5 -> 4x7=28 > 20
    # group 2: 8(30) 9(5) 10(5) 11(40) -> 9, 10, 8, 11: [9,10] 2x5, +8 -> 3x30 > 20; 8 alone (30 > 20); 11 alone
    assert [m.tolist() for m in micros] == [[4, 6, 7], [5], [1, 3], [2, 0], [9, 10], [8], [11]]  # prompts in order met
    assert all(len(m) * int(lengths[m].max()) <= 20 or len(m) == 1 for m in micros)
    assert sorted(r for m in micros for r in m.tolist()) == list(range(12))
    # without a cap (or without lengths) the row count alone decides, as before
    assert [m.tolist() for m in G.micro_batches(rows, 4, 4, lengths)] == [[4, 6, 7, 5], [1, 3, 2, 0], [9, 10, 8, 11]]
    assert len(G.micro_batches(rows, 4, 2, None, max_tokens=20)) == 6


def two_groups_of_three():
    """Samples of 2 prompts of different lengths (so left padding) x 3 ragged completions."""
    import model as M
    g = torch.Generator().manual_seed(0)
    group, T, rows = 3, 6, 6
    prompts = [torch.randint(3, 200, (n,), generator=g) for n in (4, 7)]  # different lengths: left padding
    prompt_ids = torch.zeros(rows, 7, dtype=torch.long)
    prompt_mask = torch.zeros(rows, 7, dtype=torch.long)
    for i in range(rows):
        p = prompts[i // group]
        prompt_ids[i, -p.numel():], prompt_mask[i, -p.numel():] = p, 1
    lengths = torch.tensor([6, 2, 4, 1, 3, 5])
    completion_mask = (torch.arange(T)[None] < lengths[:, None]).long()      # (rows, T)
    completion_ids = torch.randint(3, 200, (rows, T), generator=g) * completion_mask
    return M.Samples(prompt_ids, prompt_mask, completion_ids, completion_mask, torch.zeros(rows, T), [""] * rows,
                     torch.ones(rows, dtype=torch.bool))


@pytest.mark.parametrize("split", [dict(size=2), dict(size=3, max_tokens=8)])
def test_prompt_shared_logprobs_and_gradients_equal_the_padded_batch(split):
    """micro_logprobs (prompt forwarded once per micro-batch, trailing padding not computed) gives the
    log-probs and gradients of completion_logprobs on the whole left-padded batch, however the rows are split
    (by row count, or by a token cap too: [3, 4] then [5] of lengths 1, 3, 5; [1, 2] then [0] of 2, 4, 6)."""
    import model as M
    from conftest import tiny_model
    s, group, T = two_groups_of_three(), 3, 6
    completion_mask, lengths = s.completion_mask, s.lengths
    model = tiny_model()
    reference = M.completion_logprobs(model, s.input_ids, s.attention_mask, T) * completion_mask
    (reference.sum()).backward()
    expected_grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    total = 0.0
    for micro in G.micro_batches(torch.tensor([4, 0, 2, 5, 1, 3]), group, lengths=lengths, **split):
        lp = G.micro_logprobs(model, s, micro, 1.0)                          # (b, t)
        t = lp.size(1)
        assert t == int(lengths[micro].max())
        torch.testing.assert_close(lp * completion_mask[micro, :t], reference[micro, :t].detach(), atol=1e-5, rtol=0)
        total = total + (lp * completion_mask[micro, :t]).sum()
    total.backward()
    for name, param in model.named_parameters():
        torch.testing.assert_close(param.grad, expected_grads[name], atol=1e-5, rtol=1e-4)


def test_micro_logprobs_under_gradient_checkpointing():
    """HF turns the KV cache off under gradient checkpointing in training: the per-row path must be taken."""
    import model as M
    from conftest import tiny_model
    s, model = two_groups_of_three(), tiny_model()
    reference = M.completion_logprobs(model, s.input_ids, s.attention_mask, 6).detach() * s.completion_mask
    model.gradient_checkpointing_enable()
    model.train()
    micro = torch.tensor([3, 4, 5])
    lp = G.micro_logprobs(model, s, micro, 1.0)                               # (3, 5): longest is 5
    torch.testing.assert_close(lp * s.completion_mask[micro, :5], reference[micro, :5], atol=1e-5, rtol=0)


def test_micro_logprobs_refuses_rows_of_different_prompts():
    import model as M
    from conftest import tiny_model
    s = M.Samples(torch.tensor([[5, 6], [7, 8]]), torch.ones(2, 2, dtype=torch.long), torch.tensor([[9], [9]]),
                  torch.ones(2, 1, dtype=torch.long), torch.zeros(2, 1), ["", ""], torch.ones(2, dtype=torch.bool))
    with pytest.raises(ValueError, match="do not share one prompt"):
        G.micro_logprobs(tiny_model(), s, torch.tensor([0, 1]), 1.0)


def test_warmup_then_constant_lr():
    c = cfg(lr=1e-3, warmup_steps=4)
    assert [G.learning_rate(c, s) for s in range(6)] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3])


# ---- flags ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["--reward", "nope"], "is not one of"),
    (["--group-size", "1"], "--no-std-norm"),
    (["--minibatch-size", "100"], "rollout size"),
    (["--loss-agg", "mean"], "--loss-agg"),
    (["--temperature", "0"], "--temperature"),
    (["--init-from", "/nonexistent/ckpt-3"], "model.safetensors"),
    (["--steps", "-1"], "--steps must be >= 1, got -1"),
    (["--group-size", "0"], "--group-size must be >= 1, got 0"),
    (["--save-every", "-2"], "--save-every must be >= 0"),
    (["--precision", "fp16"], "--precision 'fp16' is not one of: fp32, bf16"),
    (["--resume", "/nonexistent/run"], "no finished checkpoint"),
    (["--min-isolation", "strong"], "unknown sandbox isolation 'strong'"),
])
def test_bad_flags_fail_before_any_work(argv, message, capsys):
    """A user's mistake ends in one line naming it, with exit status 2, before any model is loaded."""
    import cli
    with pytest.raises(SystemExit) as err:
        cli.run(G.main, argv)
    assert err.value.code == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith("error: ") and message in stderr and "Traceback" not in stderr


def test_every_config_field_is_a_flag_with_help(capsys):
    with pytest.raises(SystemExit):
        G.parse_config(["--help"])
    out = capsys.readouterr().out
    for f in G.dataclasses.fields(G.Config):
        assert "--" + f.name.replace("_", "-") in out


# ---- end to end ----------------------------------------------------------------------------------------------

TINY = ["--prompts-per-step", "2", "--group-size", "2", "--max-new-tokens", "8", "--micro-batch-size", "2",
        "--eval-limit", "2", "--eval-n", "2", "--save-every", "2"]

STEP_KEYS = ["reward/mean", "reward/std", "reward/frac_zero_std_groups", "train/pass_rate", "response/length_mean",
             "response/length_min", "response/length_max", "response/clipped_ratio", "signal/token_entropy",
             "signal/self_certainty", "signal/trajectory_entropy", "signal/prob_disparity", "text/thinking_words",
             "text/repetition_ratio", "loss/policy", "loss/kl", "train/clip_frac", "train/approx_kl",
             "train/grad_norm", "train/lr", "perf/rollout_s", "perf/update_s", "perf/tokens_per_s"]


def read_metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("reward", sorted(set(R.REWARDS)))
def test_two_steps_every_reward(reward, tiny_model_dir, tmp_path):
    run = tmp_path / reward
    G.main(["--model", tiny_model_dir, "--reward", reward, "--steps", "2", "--eval-every", "2",
            "--out", str(run), *TINY])
    rows = read_metrics(run)
    assert [r["step"] for r in rows] == [0, 1, 2]  # step 0: the evaluation before training
    extra = ["reward/majority_label_acc", "reward/majority_reward_acc"] if reward == "majority" else []  # TTRL's
    for row in rows[1:]:
        for key in STEP_KEYS + extra:
            assert key in row and row[key] == row[key] and abs(row[key]) != float("inf"), key
    assert "eval/avg@2" in rows[0] and "eval/avg@2" in rows[2]
    assert (run / "ckpt-2" / "model.safetensors").exists() and (run / "config.json").exists()
    assert len((run / "samples.jsonl").read_text().splitlines()) == 2


def _without_perf(rows):
    return [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in rows]


def test_resume_gives_the_same_metrics_as_a_straight_run(tiny_model_dir, tmp_path):
    common = ["--model", tiny_model_dir, "--reward", "entropy", "--eval-every", "0", "--lr", "1e-3", *TINY]
    G.main([*common, "--steps", "4", "--out", str(tmp_path / "straight")])
    G.main([*common, "--steps", "2", "--out", str(tmp_path / "killed")])
    # The killed run's config says 2 steps; a resumed run keeps the saved config, so extend it as a user would.
    cfg_path = tmp_path / "killed" / "config.json"
    cfg_path.write_text(cfg_path.read_text().replace('"steps": 2', '"steps": 4'))
    G.main(["--resume", str(tmp_path / "killed")])
    straight, resumed = read_metrics(tmp_path / "straight"), read_metrics(tmp_path / "killed")
    assert [r["step"] for r in resumed] == [1, 2, 3, 4]
    assert _without_perf(resumed) == _without_perf(straight)


def test_init_from_loads_weights_not_optimizer(tiny_model_dir, tmp_path):
    from safetensors.torch import load_file
    G.main(["--model", tiny_model_dir, "--reward", "entropy", "--steps", "2", "--eval-every", "0", "--lr", "1e-2",
            "--out", str(tmp_path / "a"), *TINY])
    ckpt = tmp_path / "a" / "ckpt-2"
    cfg_b = G.parse_config(["--model", tiny_model_dir, "--init-from", str(ckpt), "--out", str(tmp_path / "b")])
    import model as M
    policy, _ = M.load_model(cfg_b.model, device="cpu")
    before = {k: v.clone() for k, v in policy.state_dict().items()}
    rundir.load_weights(policy, ckpt)
    trained = load_file(ckpt / "model.safetensors")
    changed = [k for k in trained if not torch.equal(before[k], trained[k])]
    assert changed, "training at lr 1e-2 should have moved some weights"
    for k, v in trained.items():
        assert torch.equal(policy.state_dict()[k], v)
    # A fresh run started from it has a fresh optimizer: its first step's lr is the warm-up value.
    G.main(["--model", tiny_model_dir, "--init-from", str(ckpt), "--steps", "1", "--eval-every", "1",
            "--skip-first-eval", "--reward", "entropy", "--warmup-steps", "4", "--lr", "1e-3",
            "--out", str(tmp_path / "b"), *TINY])
    state = torch.load(tmp_path / "b" / "ckpt-1" / "optimizer.pt")
    assert all(s["step"] == 1 for s in state["state"].values())
    rows = read_metrics(tmp_path / "b")
    assert rows[0]["train/lr"] == pytest.approx(2.5e-4)
    # --skip-first-eval: no evaluation of the starting weights, the one after step 1 still runs
    assert [r["step"] for r in rows] == [1] and "eval/avg@2" in rows[0]
    assert sorted(p.name for p in (tmp_path / "b" / "eval").iterdir()) == ["step-1.json"]


def test_sampling_seed_is_not_the_random_reward_seed():
    """Regression: the sampler and the random reward were seeded alike, so the reward's Bernoulli draws reused
    the uniforms that picked each row's first token, and the "random" control depended on the response."""
    for seed in (0, 1, 12345):
        for step in range(50):
            assert G.sampling_seed(cfg(seed=seed), step) != R.random_seed(seed, step)


# ---- precision (DESIGN.md "Precision") -----------------------------------------------------------------------

def test_bf16_step_at_lr_1e6_keeps_every_update(tied_model_dir, tmp_path):
    """--precision bf16 keeps fp32 master weights: one step at lr 1e-6 moves at least 90% of the elements.
    The same updates added to bf16 weights (what --dtype bfloat16 trained) mostly round to nothing."""
    from safetensors.torch import load_file
    from pathlib import Path
    G.main(["--model", tied_model_dir, "--reward", "self_certainty", *TINY, "--steps", "1", "--eval-every", "0",
            "--lr", "1e-6", "--warmup-steps", "0", "--precision", "bf16", "--save-every", "1",
            "--out", str(tmp_path / "run")])
    assert json.loads((tmp_path / "run" / "config.json").read_text())["precision"] == "bf16"
    base = load_file(Path(tied_model_dir) / "model.safetensors")
    trained = load_file(tmp_path / "run" / "ckpt-1" / "model.safetensors")
    assert all(v.dtype == torch.float32 for v in trained.values())  # checkpoints hold the fp32 master weights
    changed = sum(int((trained[k] != base[k]).sum()) for k in base)
    total = sum(v.numel() for v in base.values())
    assert changed / total >= 0.9, changed / total
    pure = sum(int((base[k].bfloat16() + (trained[k] - base[k])).bfloat16().ne(base[k].bfloat16()).sum())
               for k in base)
    assert pure / total < 0.2, pure / total


def test_bf16_twin_update_under_gradient_checkpointing(tied_model_dir, tmp_path):
    """--grad-checkpointing with --precision bf16: the twin the update runs on recomputes its activations too,
    and the step still moves the fp32 master weights (checkpoint against the base)."""
    from safetensors.torch import load_file
    from pathlib import Path
    G.main(["--model", tied_model_dir, "--reward", "entropy", *TINY, "--steps", "1", "--eval-every", "0",
            "--precision", "bf16", "--grad-checkpointing", "--save-every", "1", "--out", str(tmp_path / "run")])
    run = G.setup(cfg(model=tied_model_dir, precision="bf16", grad_checkpointing=True, device="cpu",
                      out=str(tmp_path / "again")))
    assert run.sampler.is_activation_checkpointing and run.policy.is_activation_checkpointing
    base = load_file(Path(tied_model_dir) / "model.safetensors")
    trained = load_file(tmp_path / "run" / "ckpt-1" / "model.safetensors")
    assert sum(int((trained[k] != base[k]).sum()) for k in base) > 0


def test_bf16_logprobs_and_loss_agree_with_fp32(toy_tokenizer):
    """Under --precision bf16 the update's log-probs come out fp32 and within 0.05 (nats) of the fp32 path, the
    loss within 0.01; the bf16 sampling copy's recorded log-probs are within 0.05 of an fp32 score()."""
    import model as M
    from conftest import tiny_model
    policy = tiny_model("qwen2")
    samples = M.sample(policy, toy_tokenizer, ["def f(x):"], n=4, max_new_tokens=12, seed=3)
    rows = torch.arange(4)
    lp32 = G.micro_logprobs(policy, samples, rows, 1.0)
    with G.autocast(cfg(precision="bf16"), policy):
        lp16 = G.micro_logprobs(policy, samples, rows, 1.0)
    mask = samples.completion_mask[:, :lp32.size(1)]
    assert lp16.dtype == torch.float32
    assert 0 < (lp16 - lp32)[mask.bool()].abs().max() < 0.05  # bf16 really was used, and stayed close
    adv = torch.tensor([1.0, -1.0, 0.5, -0.5])
    loss32, _ = G.policy_loss(lp32, lp32.detach(), adv, mask, cfg())
    loss16, _ = G.policy_loss(lp16, lp32.detach(), adv, mask, cfg())
    assert abs(loss16.item() - loss32.item()) < 0.01
    twin = M.bf16_copy(policy)
    drawn = M.sample(twin, toy_tokenizer, ["def f(x):"], n=4, max_new_tokens=12, seed=3)
    exact = M.score(policy, drawn.input_ids, drawn.attention_mask, drawn.completion_mask)["logprob"]
    assert (drawn.logprobs - exact).abs().max() < 0.05


def test_sampling_copy_follows_the_master_weights():
    import model as M
    from conftest import tiny_model
    policy = tiny_model("qwen2")
    twin = M.bf16_copy(policy)
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(0.01)
    M.copy_weights(policy, twin)
    for (name, master), (_, copy) in zip(policy.named_parameters(), twin.named_parameters()):
        assert copy.dtype == torch.bfloat16 and torch.equal(copy, master.bfloat16()), name


def test_sampling_copy_casts_parameters_only():
    """bf16_copy rounds the weights, not the buffers: the rotary inverse frequencies stay the master's fp32
    values (as from_pretrained(dtype=bfloat16) leaves them), and a tied output head stays tied."""
    import model as M
    from conftest import tiny_model
    policy = tiny_model("qwen2")
    policy.tie_weights()
    twin = M.bf16_copy(policy)
    buffers = dict(policy.named_buffers())
    rotary = [name for name in buffers if "inv_freq" in name]
    assert rotary and all(buffers[n].dtype == torch.float32 for n in rotary)
    for name, buf in twin.named_buffers():
        assert buf.dtype == buffers[name].dtype and torch.equal(buf, buffers[name]), name
    assert not torch.equal(buffers[rotary[0]].bfloat16().float(), buffers[rotary[0]])  # a cast would round them
    assert all(p.dtype == torch.bfloat16 for p in twin.parameters())
    tied = policy.get_output_embeddings().weight is policy.get_input_embeddings().weight
    assert (twin.get_output_embeddings().weight is twin.get_input_embeddings().weight) == tied


def test_bf16_micro_batches_in_one_autocast_context_accumulate_every_gradient(toy_tokenizer):
    """update() keeps one autocast context over a minibatch's micro-batches, so each weight is cast to bf16 once
    and the cast is reused: the accumulated gradients equal those of a fresh context per micro-batch."""
    import model as M
    from conftest import tiny_model
    policy = tiny_model("qwen2")
    samples = M.sample(policy, toy_tokenizer, ["def f(x):"], n=4, max_new_tokens=12, seed=3)
    micros = [torch.tensor([0, 1]), torch.tensor([2, 3])]

    def backward(micro):
        G.micro_logprobs(policy, samples, micro, 1.0).sum().backward()

    def grads(shared: bool) -> dict:
        policy.zero_grad(set_to_none=True)
        if shared:
            with G.autocast(cfg(precision="bf16"), policy):
                for micro in micros:
                    backward(micro)
        else:
            for micro in micros:
                with G.autocast(cfg(precision="bf16"), policy):
                    backward(micro)
        return {n: p.grad.clone() for n, p in policy.named_parameters()}

    separate, shared = grads(False), grads(True)
    for name, g in separate.items():
        assert g.abs().sum() > 0, name  # every weight got a gradient (embeddings: the sampled tokens' rows)
        assert torch.allclose(shared[name], g, rtol=1e-3, atol=1e-5), name


def test_twin_gradients_accumulate_in_fp32(toy_tokenizer):
    """add_twin_grads: after each micro-batch's backward on the bf16 twin, the master's fp32 gradient gains the
    twin's bf16 gradient exactly (a float64 sum of the micro-batches' bf16 gradients), and the twin's are zeroed.
    Accumulating in bf16 instead would round the sum to 8 bits of mantissa."""
    import model as M
    from conftest import tiny_model
    policy = tiny_model("qwen2")
    samples = M.sample(policy, toy_tokenizer, ["def f(x):"], n=6, max_new_tokens=12, seed=3)
    twin = M.bf16_copy(policy).requires_grad_(True)
    scratch = torch.empty(max(p.numel() for p in twin.parameters()))
    expected = {name: torch.zeros_like(p, dtype=torch.float64) for name, p in policy.named_parameters()}
    for micro in (torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([4, 5])):
        G.micro_logprobs(twin, samples, micro, 1.0).sum().backward()
        for name, p in twin.named_parameters():
            expected[name] += p.grad.double()
        G.add_twin_grads(policy, twin, scratch)
        assert all(not p.grad.any() for p in twin.parameters())  # zeroed for the next micro-batch
    rounded = 0
    for name, p in policy.named_parameters():
        assert p.grad.dtype == torch.float32 and p.grad.abs().sum() > 0, name
        torch.testing.assert_close(p.grad.double(), expected[name], rtol=1e-6, atol=1e-9, msg=name)
        rounded += int((expected[name].bfloat16().double() != expected[name]).sum())
    assert rounded > 0  # a bf16 accumulator could not have held these sums


def test_bf16_twin_update_follows_the_fp32_update():
    """update(twin=...) (--precision bf16 in one process) moves the fp32 master weights as the fp32 update does, to
    bf16's precision: plain SGD without clipping, so the change is -lr x the gradient. The twin is left as it was
    (the caller refreshes it), without gradients."""
    import copy
    import model as M
    from conftest import tiny_model
    from test_distributed import fixed_rollout
    config = cfg(micro_batch_size=2, lr=0.5, max_new_tokens=6, grad_clip=1e9)
    ro = fixed_rollout()
    deltas, stats = {}, {}
    for mode in ("fp32", "twin"):
        policy = tiny_model()
        start = copy.deepcopy(policy.state_dict())
        twin = M.bf16_copy(policy) if mode == "twin" else None
        before = copy.deepcopy(twin.state_dict()) if twin is not None else None
        optimizer = torch.optim.SGD(policy.parameters(), lr=config.lr)
        calls = []
        if twin is not None:  # the forward and backward must run on the twin
            twin.register_forward_hook(lambda *args: calls.append(1))
        precision = "bf16" if mode == "twin" else "fp32"
        stats[mode] = G.update(policy, None, optimizer, ro, dataclasses.replace(config, precision=precision),
                               step=0, twin=twin)
        assert bool(calls) == (twin is not None)
        deltas[mode] = torch.cat([(p.detach() - start[n]).flatten() for n, p in policy.named_parameters()])
        if twin is not None:
            assert all(torch.equal(v, before[k]) for k, v in twin.state_dict().items())
            assert all(p.grad is None for p in twin.parameters())
            assert all(p.dtype == torch.float32 for p in policy.parameters())
    a, b = deltas["fp32"], deltas["twin"]
    assert a.norm() > 0 and not torch.equal(a, b)  # bf16 really ran
    assert torch.nn.functional.cosine_similarity(a, b, dim=0) > 0.99
    assert 0.95 < float(b.norm() / a.norm()) < 1.05
    assert stats["twin"]["loss/policy"] == pytest.approx(stats["fp32"]["loss/policy"], abs=0.02)


def test_micro_batches_sharing_their_prompt_step_as_one_batch():
    """In one process a prompt split over micro-batches is forwarded once (M.SharedPrompt): SGD steps with micro-
    batches of 1, 2 and 3 rows of each group of 4 move the weights as whole groups do (micro-batch size 4), and
    every group's prompt goes through the model once per step."""
    import copy
    from conftest import tiny_model
    from test_distributed import fixed_rollout
    ro = fixed_rollout(rows=8, prompt_len=9, completion_len=6)                    # 2 groups of 4
    deltas = {}
    for size in (4, 1, 2, 3):
        config = cfg(micro_batch_size=size, lr=0.5, max_new_tokens=6, grad_clip=1e9, group_size=4)
        policy = tiny_model().double()
        start = copy.deepcopy(policy.state_dict())
        prompts = []
        policy.register_forward_hook(lambda m, args, kwargs, out: prompts.append(kwargs["input_ids"].size(-1) == 9),
                                     with_kwargs=True)
        G.update(policy, None, torch.optim.SGD(policy.parameters(), lr=config.lr), ro, config, step=0)
        assert sum(prompts) == 2, size
        deltas[size] = torch.cat([(p.detach() - start[n]).flatten() for n, p in policy.named_parameters()])
    assert deltas[4].abs().sum() > 0
    for size in (1, 2, 3):
        torch.testing.assert_close(deltas[size], deltas[4], rtol=1e-9, atol=1e-12, msg=f"micro-batch size {size}")


def test_optimizer_step_is_adamw_by_hand(tied_model_dir, tmp_path):
    """The trainer's (fused) AdamW: the first step of AdamW with bias correction moves each weight by
    -lr * (wd * p + g / (|g| + eps)), written out here from the algorithm (Loshchilov & Hutter; torch's docs)."""
    run = G.setup(cfg(model=tied_model_dir, out=str(tmp_path / "run"), device="cpu", weight_decay=0.1))
    assert run.optimizer.defaults["fused"]
    group = run.optimizer.param_groups[0]
    group["lr"] = 1e-3
    torch.manual_seed(0)
    before = {}
    for p in run.policy.parameters():
        p.grad = torch.randn_like(p) * torch.rand(()) * 1e-2
        before[p] = p.detach().clone()
    run.optimizer.step()
    for p, p0 in before.items():
        g = p.grad
        want = p0 * (1 - 1e-3 * 0.1) - 1e-3 * g / (g.abs() + group["eps"])
        torch.testing.assert_close(p.detach(), want, rtol=1e-6, atol=1e-8)
