"""Tests of rewards.py: every formula against numbers worked out by hand, one property per test.

The hand example (used throughout): a vocabulary of 3 words, a response of 2 tokens, sampling temperature T = 1.

    step 1: logits z_1 = (0, 0, ln 2), sampled token y_1 = word 3
        p_1 = e^z / Σ e^z = (1, 1, 2) / 4 = (1/4, 1/4, 1/2);  logsumexp(z_1) = ln 4
        H_1  = −Σ p log p = 2 · (1/4) ln 4 + (1/2) ln 2 = ln 2 + (1/2) ln 2 = (3/2) ln 2
        SC_1 = logsumexp(z_1) − mean(z_1) = ln 4 − (ln 2)/3 = (5/3) ln 2
        lp_1 = log p_1(word 3) = ln(1/2) = −ln 2
        PD_1 = 1/2 − 1/4 = 1/4
    step 2: logits z_2 = (0, 0, 0), sampled token y_2 = word 1
        p_2 = (1/3, 1/3, 1/3);  logsumexp(z_2) = ln 3
        H_2 = ln 3;  SC_2 = ln 3 − 0 = ln 3;  lp_2 = −ln 3;  PD_2 = 0

    mean rewards (L = 2):
        self_certainty     = ((5/3) ln 2 + ln 3) / 2
        token_entropy      = −((3/2) ln 2 + ln 3) / 2
        trajectory_entropy = (−ln 2 − ln 3) / 2 = −(ln 6) / 2
        prob_disparity     = (1/4 + 0) / 2 = 1/8
    sum rewards: twice the mean rewards.
"""
import math
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import rewards
from rewards import (
    REWARDS, RewardContext, compute_rewards, frac_zero_std_groups, group_advantages, majority_from_signatures,
    output_signature, repetition_ratio, response_lengths, score_temperature, thinking_words,
)

LN2, LN3 = math.log(2), math.log(3)
HAND_LOGITS = [[0.0, 0.0, LN2], [0.0, 0.0, 0.0]]
HAND_TOKENS = [2, 0]
HAND_MEAN = {
    "self_certainty": ((5 / 3) * LN2 + LN3) / 2,
    "token_entropy": -((3 / 2) * LN2 + LN3) / 2,
    "entropy": -((3 / 2) * LN2 + LN3) / 2,
    "trajectory_entropy": -math.log(6) / 2,
    "prob_disparity": 1 / 8,
}
INTRINSIC = list(HAND_MEAN)


def naive_signals(logits_steps, tokens, temperature=1.0):
    """Per-token signals with plain Python math, straight from DESIGN.md's table (independent of model.score)."""
    out = {"logprob": [], "entropy": [], "self_certainty": [], "prob_disparity": []}
    for logits, token in zip(logits_steps, tokens):
        z = [value / temperature for value in logits]
        lse = math.log(sum(math.exp(v) for v in z))
        p = [math.exp(v - lse) for v in z]
        top = sorted(p, reverse=True)
        out["logprob"].append(z[token] - lse)
        out["entropy"].append(-sum(pj * math.log(pj) for pj in p))
        out["self_certainty"].append(lse - sum(z) / len(z))
        out["prob_disparity"].append(top[0] - top[1])
    return out


def hand_context(temperature=1.0, pad_to=4, pad_value=0.0):
    """Rows: 0 = the full hand example; 1 = only its first token; 2 = an empty response. T = pad_to positions,
    the positions with mask 0 filled with pad_value."""
    steps = naive_signals(HAND_LOGITS, HAND_TOKENS, temperature)
    lengths = [2, 1, 0]
    signals = {key: torch.full((3, pad_to), pad_value) for key in steps}
    mask = torch.zeros(3, pad_to, dtype=torch.long)
    for row, length in enumerate(lengths):
        mask[row, :length] = 1
        for key, values in steps.items():
            signals[key][row, :length] = torch.tensor(values[:length])
    return RewardContext(signals=signals, mask=mask, texts=[""] * 3, group_size=1)


# ------------------------------------------------------------------------------------------------------------
# Intrinsic rewards


def test_naive_signals_match_hand_numbers():
    """The test's own naive computation agrees with the closed forms of the module docstring."""
    s = naive_signals(HAND_LOGITS, HAND_TOKENS)
    assert s["entropy"] == pytest.approx([1.5 * LN2, LN3])
    assert s["self_certainty"] == pytest.approx([(5 / 3) * LN2, LN3])
    assert s["logprob"] == pytest.approx([-LN2, -LN3])
    assert s["prob_disparity"] == pytest.approx([0.25, 0.0])


@pytest.mark.parametrize("name", INTRINSIC)
def test_intrinsic_mean_on_hand_example(name):
    """Mean over response tokens: row 0 = hand value, row 1 = its first token's value, empty row 2 = 0 (not NaN)."""
    rewards_, _ = compute_rewards(name, hand_context())
    first_token = {"self_certainty": (5 / 3) * LN2, "token_entropy": -1.5 * LN2, "entropy": -1.5 * LN2,
                   "trajectory_entropy": -LN2, "prob_disparity": 0.25}[name]
    assert rewards_.shape == (3,)
    assert rewards_.tolist() == pytest.approx([HAND_MEAN[name], first_token, 0.0], abs=1e-6)


@pytest.mark.parametrize("name", INTRINSIC)
def test_intrinsic_sum_is_mean_times_length(name):
    """reduce="sum" (entropy-minimisation paper's variant) = L × mean: 2× for the 2-token row, 1× for 1 token."""
    ctx = hand_context()
    mean, _ = compute_rewards(name, ctx)
    total, _ = compute_rewards(name, ctx, reduce="sum")
    assert total.tolist() == pytest.approx([2 * mean[0].item(), mean[1].item(), 0.0], abs=1e-6)
    assert total[0].item() == pytest.approx(2 * HAND_MEAN[name], abs=1e-6)


@pytest.mark.parametrize("name", INTRINSIC)
@pytest.mark.parametrize("pad_value", [123.0, -1e9, float("nan"), float("inf")])
def test_masked_positions_never_change_reward(name, pad_value):
    """Values at mask-0 positions (padding, after EOS), even NaN or inf, give the same rewards as zeros."""
    for reduce in ("mean", "sum"):
        clean, _ = compute_rewards(name, hand_context(pad_value=0.0), reduce=reduce)
        dirty, _ = compute_rewards(name, hand_context(pad_value=pad_value), reduce=reduce)
        assert torch.equal(clean, dirty)


def test_padding_length_never_changes_reward():
    """The same responses padded to 2 or to 9 positions get the same rewards."""
    for name in INTRINSIC:
        short, _ = compute_rewards(name, hand_context(pad_to=2))
        long, _ = compute_rewards(name, hand_context(pad_to=9))
        assert torch.allclose(short, long)


def test_signal_temperature_option():
    """signal_temperature picks the temperature passed to model.score(): T ("sampling") or 1.0 ("raw").

    At T = 2 the hand example's step 1 becomes z/T = (0, 0, ln2 / 2): logsumexp = ln(2 + √2), mean = ln2 / 6, so
    SC_1 = ln(2 + √2) − ln2 / 6; step 2 (all zeros) is unchanged, SC_2 = ln 3. Reward = (SC_1 + SC_2) / 2,
    which differs from the raw-logit value ((5/3) ln 2 + ln 3) / 2.
    """
    assert score_temperature("sampling", 0.7) == 0.7
    assert score_temperature("raw", 0.7) == 1.0
    with pytest.raises(ValueError):
        score_temperature("logits", 0.7)
    with pytest.raises(ValueError):
        compute_rewards("self_certainty", hand_context(), signal_temperature="logits")
    hot, _ = compute_rewards("self_certainty", hand_context(temperature=score_temperature("sampling", 2.0)))
    raw, _ = compute_rewards("self_certainty", hand_context(temperature=score_temperature("raw", 2.0)))
    assert hot[0].item() == pytest.approx((math.log(2 + math.sqrt(2)) - LN2 / 6 + LN3) / 2, abs=1e-6)
    assert raw[0].item() == pytest.approx(HAND_MEAN["self_certainty"], abs=1e-6)


# ------------------------------------------------------------------------------------------------------------
# Group advantage


def test_group_advantages_known_numbers():
    """Group (1, 0, 0, 0): mean 1/4, unbiased std = sqrt((0.75² + 3·0.25²)/3) = sqrt(0.25) = 1/2,
    so A = (0.75, −0.25, −0.25, −0.25) / (0.5 + 1e-6) ≈ (1.5, −0.5, −0.5, −0.5). Group (2, 2, 2, 2): A = 0."""
    r = torch.tensor([1.0, 0.0, 0.0, 0.0, 2.0, 2.0, 2.0, 2.0])
    adv = group_advantages(r, group_size=4)
    expected = [0.75 / (0.5 + 1e-6), -0.25 / (0.5 + 1e-6), -0.25 / (0.5 + 1e-6), -0.25 / (0.5 + 1e-6)]
    assert adv[:4].tolist() == pytest.approx(expected, rel=1e-6)
    assert torch.equal(adv[4:], torch.zeros(4))
    assert frac_zero_std_groups(r, 4) == 0.5


def test_group_advantages_without_std_norm():
    """std_norm=False (Dr. GRPO): A = r − group mean = (0.75, −0.25, −0.25, −0.25, 0, 0, 0, 0)."""
    r = torch.tensor([1.0, 0.0, 0.0, 0.0, 2.0, 2.0, 2.0, 2.0])
    adv = group_advantages(r, group_size=4, std_norm=False)
    assert adv.tolist() == pytest.approx([0.75, -0.25, -0.25, -0.25, 0, 0, 0, 0])


def test_equal_group_is_exactly_zero_despite_rounding():
    """Regression: the float32 mean of eight 0.3s is not exactly 0.3, so a naive (r − mean)/(std + 1e-6) gives
    advantages of about ±0.03 (a rounding error of 3e-8 amplified by 1e6); an all-equal group must give 0."""
    r = torch.tensor([0.3] * 8 + [0.1] * 8)
    for std_norm in (True, False):
        assert torch.equal(group_advantages(r, 8, std_norm=std_norm), torch.zeros(16))
    assert frac_zero_std_groups(r, 8) == 1.0


def test_group_advantages_rejects_ragged_groups():
    with pytest.raises(ValueError):
        group_advantages(torch.zeros(5), group_size=2)


# ------------------------------------------------------------------------------------------------------------
# Random control


def test_random_reproducible_per_step_and_fair():
    """Same (seed, step) -> same rewards; another step or seed -> other rewards; mean of 20 000 draws ≈ 0.5
    (standard error 0.0035, tolerance 0.02)."""
    ctx = lambda seed, step: RewardContext(mask=torch.ones(20_000, 1), seed=seed, step=step)  # noqa: E731
    a, _ = compute_rewards("random", ctx(0, 3))
    assert torch.equal(a, compute_rewards("random", ctx(0, 3))[0])
    assert not torch.equal(a, compute_rewards("random", ctx(0, 4))[0])
    assert not torch.equal(a, compute_rewards("random", ctx(1, 3))[0])
    assert set(a.unique().tolist()) == {0.0, 1.0}
    assert abs(a.mean().item() - 0.5) < 0.02


# ------------------------------------------------------------------------------------------------------------
# Verifiable, with injected verdicts (grading itself is exercised through the sandbox further down)


def fake_verdict(passed, n_passed):
    return SimpleNamespace(passed=passed, n_passed=n_passed)


def verdict_context():
    """Three rows of a problem with 4 tests: passes all, passes 3 then fails, fails the first test."""
    problem = SimpleNamespace(tests=[{"input": "", "output": "", "testtype": "stdin"}] * 4, func_name=None)
    verdicts = [fake_verdict(True, 4), fake_verdict(False, 3), fake_verdict(False, 0)]
    return RewardContext(texts=["a", "b", "c"], problems=[problem] * 3, verdicts=verdicts, group_size=3)


def test_verifiable_all_or_nothing_and_fraction():
    """All-or-nothing: (1, 0, 0). fraction=True: n_passed / 4 = (1, 3/4, 0)."""
    assert compute_rewards("verifiable", verdict_context())[0].tolist() == [1.0, 0.0, 0.0]
    assert compute_rewards("verifiable", verdict_context(), fraction=True)[0].tolist() == [1.0, 0.75, 0.0]


# ------------------------------------------------------------------------------------------------------------
# Hybrid


def hybrid_context(step):
    """Hand-example rows 0 and 1 plus a third copy of row 0, as one group of 3, with verdicts (0, 1, 1)."""
    ctx = hand_context()
    ctx.signals = {k: torch.stack([v[0], v[1], v[0]]) for k, v in ctx.signals.items()}
    ctx.mask = torch.stack([ctx.mask[0], ctx.mask[1], ctx.mask[0]])
    vctx = verdict_context()
    ctx.problems, ctx.texts, ctx.group_size, ctx.step = vctx.problems, vctx.texts, 3, step
    ctx.verdicts = [fake_verdict(False, 0), fake_verdict(True, 4), fake_verdict(True, 4)]
    return ctx


def test_hybrid_switches_from_intrinsic_to_verifiable():
    """switch_step=5: steps 0..4 give the intrinsic reward (here token_entropy), step 5 on the verifiable one."""
    before, info = compute_rewards("hybrid", hybrid_context(step=4), intrinsic="token_entropy", switch_step=5)
    assert torch.allclose(before, compute_rewards("token_entropy", hybrid_context(step=4))[0])
    assert info["reward/hybrid_intrinsic_weight"] == 1.0
    after, info = compute_rewards("hybrid", hybrid_context(step=5), intrinsic="token_entropy", switch_step=5)
    assert after.tolist() == [0.0, 1.0, 1.0]
    assert info["reward/hybrid_intrinsic_weight"] == 0.0


def test_hybrid_fixed_mix_standardises_the_intrinsic_part():
    """Mix: r = α z + (1 − α) v, z = group-standardised intrinsic. Prob. disparity rows = (1/8, 1/4, 1/8):
    mean 1/6, unbiased std = sqrt(((1/24)² + (1/12)² + (1/24)²) / 2) = 1/(8√3), so z ≈ (−1/√3, 2/√3, −1/√3).
    With α = 0.25 and v = (0, 1, 1): r ≈ (−0.25/√3, 0.5/√3 + 0.75, −0.25/√3 + 0.75)."""
    mixed, _ = compute_rewards("hybrid", hybrid_context(step=0), intrinsic="prob_disparity", mix_alpha=0.25)
    s3 = math.sqrt(3)
    assert mixed.tolist() == pytest.approx([-0.25 / s3, 0.5 / s3 + 0.75, -0.25 / s3 + 0.75], abs=1e-4)


def test_hybrid_rejects_a_labelled_intrinsic():
    with pytest.raises(ValueError):
        compute_rewards("hybrid", hybrid_context(step=0), intrinsic="verifiable")


# ------------------------------------------------------------------------------------------------------------
# Majority: grouping logic on crafted behaviours


def test_majority_grouping_on_crafted_groups():
    """Groups of 4 (None = error): (A, B, A, None) -> A wins; (None, None, None, B) -> the largest class is the
    errors, the largest non-error class is B; (None × 4) -> no winner, all 0; (A, B, B, A) tie -> first seen, A."""
    A, B = (("1",),), (("2",),)
    signatures = [A, B, A, None, None, None, None, B, None, None, None, None, A, B, B, A]
    got, winners = majority_from_signatures(signatures, group_size=4)
    assert got.tolist() == [1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1]
    assert winners == [0, 7, None, 12]


def test_output_signature_normalises_like_the_grader():
    """Trailing spaces, trailing newlines and CRLF do not change behaviour; any None (error) is an error."""
    assert output_signature(["1 2 \n3\n", "x"]) == output_signature(["1 2\r\n3", "x\n"])
    assert output_signature(["1", "2"]) != output_signature(["1", "3"])
    assert output_signature(["1", None]) is None


class NoOutputs(dict):
    """A test case whose expected output may not be read (the label-free reward must never look at it)."""

    def __getitem__(self, key):
        if key == "output":
            raise AssertionError("majority read an expected output")
        return super().__getitem__(key)


def test_majority_runs_programs_on_inputs_only(monkeypatch):
    """With a fake sandbox: programs see only the inputs, identical programs run once, no code is an error."""
    calls = []

    def fake_run_outputs(code, inputs, *, testtype, func_name=None, timeout_s=6.0):
        calls.append(code)
        return [str(eval(code.replace("x", i))) for i in inputs]  # the "program" is an expression in x

    monkeypatch.setitem(sys.modules, "sandbox", SimpleNamespace(run_outputs=fake_run_outputs))
    monkeypatch.setitem(sys.modules, "lcb_eval", SimpleNamespace(extract_code=lambda t: t or None))
    tests = [NoOutputs(input="2", output="4", testtype="stdin"), NoOutputs(input="3", output="6", testtype="stdin")]
    problem = SimpleNamespace(tests=tests, func_name=None)
    texts = ["x*2", "x+x", "x*2", "", "x**2", "x*2"]  # behaviours: D, D, D, error, S, D (x+x == x*2)
    ctx = RewardContext(texts=texts, problems=[problem] * 6, group_size=6, verdicts=[fake_verdict(True, 2)] * 6)
    got, info = compute_rewards("majority", ctx, workers=2)
    assert got.tolist() == [1, 1, 1, 0, 0, 1]
    assert sorted(calls) == sorted(["x*2", "x+x", "x**2"])  # "x*2" ran once for its three rows
    assert info["reward/majority_label_acc"] == 1.0  # the winning behaviour D passes (every verdict passes here)
    assert info["reward/majority_reward_acc"] == pytest.approx(4 / 6)  # rows 3, 4 get 0 but pass
    assert info["reward/majority_error_frac"] == pytest.approx(1 / 6)


def test_majority_refuses_assert_tests(monkeypatch):
    """HumanEval's assert tests hold the expected values in their input: running them would read the labels."""
    monkeypatch.setitem(sys.modules, "sandbox", SimpleNamespace(run_outputs=None))
    monkeypatch.setitem(sys.modules, "lcb_eval", SimpleNamespace(extract_code=lambda t: t))
    problem = SimpleNamespace(tests=[{"input": "assert f(1) == 2", "output": "", "testtype": "assert"}], func_name="f")
    with pytest.raises(ValueError, match="assert"):
        compute_rewards("majority", RewardContext(texts=["def f(x): return 2"], problems=[problem], group_size=1))


# ------------------------------------------------------------------------------------------------------------
# Real programs through sandbox.py and lcb_eval.py (skipped until those modules exist)

SUM_TESTS = [{"input": "1 2\n", "output": "3\n", "testtype": "stdin"},
             {"input": "5 7\n", "output": "12\n", "testtype": "stdin"}]


def fenced(code):
    return f"Here is my solution.\n```python\n{code}\n```\n"


def sum_problem():
    lcb_eval = pytest.importorskip("lcb_eval")
    return lcb_eval.Problem(question_id="sum", question_title="Sum", question_content="Print a + b.",
                            platform="test", contest_id="0", contest_date="2024-01-01", starter_code="",
                            difficulty="easy", public_tests=SUM_TESTS[:1], private_tests=SUM_TESTS[1:],
                            func_name=None)


RIGHT = fenced("a, b = map(int, input().split())\nprint(a + b)")
RIGHT_TOO = fenced("print(sum(int(t) for t in input().split()))")
WRONG = fenced("a, b = map(int, input().split())\nprint(a * b)")
CRASH = fenced("a, b = map(int, input().split())\nprint(a // 0)")


def test_majority_with_real_programs():
    """Group 1: two correct programs (different code, same behaviour), one wrong, no code -> the correct pair
    wins. Group 2: three crashes and one wrong program -> the largest class is the errors, so the wrong program
    is the majority (label-free!): the logged label accuracy is 1/2. Reward accuracy: group 1 agrees with the
    verdicts (1, 1, 0, 0) on all 4 rows, group 2 (verdicts all 0) on the 3 rows the wrong program did not win: 7/8."""
    pytest.importorskip("sandbox")
    problem = sum_problem()
    texts = [RIGHT, RIGHT_TOO, WRONG, "no code here", CRASH, CRASH, WRONG, CRASH]
    ctx = RewardContext(texts=texts, problems=[problem] * 8, group_size=4)
    got, info = compute_rewards("majority", ctx, timeout_s=5.0, workers=2)
    assert got.tolist() == [1, 1, 0, 0, 0, 0, 1, 0]
    assert info["reward/majority_label_acc"] == 0.5
    assert info["reward/majority_reward_acc"] == pytest.approx(7 / 8)


def test_majority_with_real_functional_programs():
    """LeetCode-style problem (call Solution().add): a method and a plain function that both add agree; the
    one that subtracts is alone -> (1, 1, 0), and the winning behaviour is correct."""
    pytest.importorskip("sandbox")
    lcb_eval = pytest.importorskip("lcb_eval")
    tests = [{"input": "1\n2", "output": "3", "testtype": "functional"},
             {"input": "5\n-7", "output": "-2", "testtype": "functional"}]
    problem = lcb_eval.Problem(question_id="add", question_title="Add", question_content="Return a + b.",
                               platform="test", contest_id="0", contest_date="2024-01-01",
                               starter_code="class Solution:\n    def add(self, a, b):", difficulty="easy",
                               public_tests=tests[:1], private_tests=tests[1:], func_name="add")
    texts = [fenced("class Solution:\n    def add(self, a, b):\n        return a + b"),
             fenced("def add(a, b):\n    return b + a"),
             fenced("class Solution:\n    def add(self, a, b):\n        return a - b")]
    ctx = RewardContext(texts=texts, problems=[problem] * 3, group_size=3)
    got, info = compute_rewards("majority", ctx, workers=2)
    assert got.tolist() == [1, 1, 0]
    assert info["reward/majority_label_acc"] == 1.0
    assert info["reward/majority_reward_acc"] == 1.0


def test_verifiable_with_real_programs():
    """RIGHT passes both tests; WRONG fails the first (1·2 = 2 ≠ 3) -> fraction 0; a program right only on the
    first test gets fraction 1/2; no code gets 0."""
    pytest.importorskip("sandbox")
    problem = sum_problem()
    first_only = fenced("input()\nprint(3)")
    texts = [RIGHT, WRONG, first_only, "no code"]
    ctx = RewardContext(texts=texts, problems=[problem] * 4, group_size=4)
    assert compute_rewards("verifiable", ctx)[0].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert compute_rewards("verifiable", ctx, fraction=True)[0].tolist() == [1.0, 0.0, 0.5, 0.0]


# ------------------------------------------------------------------------------------------------------------
# The table, the entry point, the imports


def test_every_reward_of_the_study_is_in_the_table():
    assert set(REWARDS) == {"verifiable", "self_certainty", "token_entropy", "entropy", "trajectory_entropy",
                            "prob_disparity", "random", "majority", "hybrid"}
    assert REWARDS["entropy"] is REWARDS["token_entropy"]


def test_unknown_reward_name_lists_valid_names():
    with pytest.raises(ValueError, match="self_certainty") as error:
        compute_rewards("certainty", hand_context())
    assert "certainty" in str(error.value) and "verifiable" in str(error.value)


def test_unknown_option_is_an_error():
    with pytest.raises(TypeError):
        compute_rewards("self_certainty", hand_context(), reduction="sum")
    with pytest.raises(ValueError):
        compute_rewards("self_certainty", hand_context(), reduce="max")


def test_rewards_imports_with_torch_alone():
    """Regression guard: sandbox and lcb_eval are imported only inside the rewards that run programs."""
    code = "import sys, rewards; assert 'sandbox' not in sys.modules and 'lcb_eval' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=Path(rewards.__file__).parent, check=True)


# ------------------------------------------------------------------------------------------------------------
# Text metrics


def test_thinking_words_on_hand_example():
    """"Hmm, wait. Let's think step-by-step: first, check the reasoning!" -> hmm, wait, let (from "Let's"),
    think, step, step, first, check = 8; "reasoning" is not the word "reason"."""
    assert thinking_words("Hmm, wait. Let's think step-by-step: first, check the reasoning!") == 8
    assert thinking_words("") == 0
    assert "think" in rewards.THINKING_WORDS and len(rewards.THINKING_WORDS) == len(set(rewards.THINKING_WORDS))


def test_repetition_ratio_on_hand_examples():
    """n = 2 on "a b a b a": 2-grams (a b), (b a), (a b), (b a) -> 2 unique of 4 -> 1 − 2/4 = 0.5.
    "a b c d": 3 distinct 2-grams -> 0. Fewer words than n -> 0. 40 repeats of one word with n = 20:
    21 identical 20-grams -> 1 − 1/21."""
    assert repetition_ratio("a b a b a", n=2) == 0.5
    assert repetition_ratio("a b c d", n=2) == 0.0
    assert repetition_ratio("only five words are here") == 0.0
    assert repetition_ratio(" ".join(["x"] * 40)) == pytest.approx(1 - 1 / 21)


def test_response_lengths_and_text_metrics():
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    assert response_lengths(mask).tolist() == [3, 1, 0]
    metrics = rewards.text_metrics(["wait wait", "think", "a b a b a"])
    assert metrics["text/thinking_words"] == 1.0
    assert metrics["text/repetition_ratio"] == 0.0  # n = 20: every text is shorter
