"""Shared fixtures: tiny random Llama and Qwen2 models built from a config (no download) and a toy tokenizer."""
import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
torch.set_num_threads(min(2, os.cpu_count() or 1))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: loads the real embedded default model (runs in CI)")
    config.addinivalue_line("markers", "covers(line): proves a line of sandbox.THREAT_MODEL, in each mode claiming it")


class ToyTokenizer:
    """A byte-level tokenizer: ids 0..2 are special (pad, bos, eos), byte b is id b + 3.

    Just enough of the HF tokenizer interface for model.sample and the trainer."""
    pad_token_id, bos_token_id, eos_token_id = 0, 1, 2
    chat_template = None
    padding_side = "left"
    vocab_size = 259

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [b + 3 for b in text.encode("utf-8")]}

    def decode(self, ids, skip_special_tokens=True):
        ids = ids.tolist() if hasattr(ids, "tolist") else ids
        return bytes(i - 3 for i in ids if i >= 3).decode("utf-8", errors="replace")

    def batch_decode(self, rows, skip_special_tokens=True):
        return [self.decode(r) for r in rows]

    def save_pretrained(self, path):  # run checkpoints call this; nothing to save for a toy tokenizer
        Path(path).mkdir(parents=True, exist_ok=True)


def tiny_model(kind: str = "llama", seed: int = 0, vocab_size: int = 259):
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config
    common = dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                  bos_token_id=1, eos_token_id=2, pad_token_id=0)
    config = LlamaConfig(**common) if kind == "llama" else Qwen2Config(**common, tie_word_embeddings=True)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    with torch.no_grad():  # sharpen the random model a little so sampled text is not uniform noise
        model.get_output_embeddings().weight.mul_(8.0)
    return model.eval()


@pytest.fixture(params=["llama", "qwen2"])
def model_and_tokenizer(request):
    return tiny_model(request.param), ToyTokenizer()


@pytest.fixture
def toy_tokenizer():
    return ToyTokenizer()


def byte_tokenizer():
    """A real HF fast tokenizer over bytes (no merges): ids 0..2 = <pad>, <s>, </s>; text round-trips."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, **{c: i + 3 for i, c in enumerate(alphabet)}}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", bos_token="<s>", eos_token="</s>")


def _model_dir(tmp_path_factory, kind: str) -> str:
    path = tmp_path_factory.mktemp(f"tiny-{kind}")
    tiny_model(kind).save_pretrained(path)
    byte_tokenizer().save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A local HF directory with a tiny random Llama and a byte tokenizer: what --model accepts."""
    return _model_dir(tmp_path_factory, "llama")


@pytest.fixture(scope="session")
def tied_model_dir(tmp_path_factory):
    """A tiny Qwen2 with its head tied to the embeddings, as the default model: every weight gets a gradient."""
    return _model_dir(tmp_path_factory, "qwen2")
