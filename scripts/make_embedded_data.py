"""Build the embedded problem set in data/ from the specs in scripts/embedded_problems.py.

    python scripts/make_embedded_data.py          # rewrites data/embedded_{train,val}.jsonl, data/solutions.jsonl

Each spec holds a statement, a reference solution and test inputs (hand-written edge cases, then seeded
random inputs until there are TESTS_PER_PROBLEM distinct ones). Expected outputs are computed here by running
the reference solution in-process, so a statement and its tests can never disagree by a typo; the test suite
then re-runs every reference solution through the sandbox (tests/test_lcb_eval.py).

Rows follow the LiveCodeBench schema (see DESIGN.md "Evaluation"): functional tests put one JSON argument per
input line and a JSON output; stdin tests hold raw text. Every other row stores its private tests as
base64(zlib(pickle(JSON string))), the way LiveCodeBench ships them, so both encodings are exercised.
Reference solutions go to data/solutions.jsonl only; prompts are built from the problem rows and never see them.

The output is deterministic: the same specs give byte-identical files.
"""
from __future__ import annotations

import base64
import contextlib
import io
import json
import pickle
import random
import re
import sys
import zlib
from datetime import date, timedelta
from pathlib import Path

import embedded_problems as specs

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
TESTS_PER_PROBLEM = 6
VAL_EVERY = 4                          # every 4th spec goes to validation: 25% val, spread over all topics
TRAIN_START, VAL_START = date(2023, 5, 7), date(2024, 8, 4)   # val is "later", like LCB's time windows
PROBLEMS_PER_CONTEST = 4


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


# ----------------------------------------------------------------------------------------------------------
# Running a reference solution in-process (trusted code written in this repo)

def call_functional(spec: specs.Spec, args: tuple):
    namespace: dict = {}
    exec(spec.solution, namespace)
    return getattr(namespace["Solution"](), spec.func_name)(*args)


def run_stdin(spec: specs.Spec, stdin_text: str) -> str:
    out = io.StringIO()
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin_text)
    try:
        with contextlib.redirect_stdout(out):
            exec(spec.solution, {"__name__": "__main__"})
    finally:
        sys.stdin = saved
    return out.getvalue()


def make_tests(spec: specs.Spec, seed: int) -> list[dict]:
    """Hand-written cases first, then random ones, deduplicated, each paired with the reference output."""
    rng = random.Random(seed)
    inputs = list(spec.cases)
    attempts = 0
    while len(inputs) < TESTS_PER_PROBLEM and spec.gen is not None and attempts < 200:
        candidate = spec.gen(rng)
        attempts += 1
        if candidate not in inputs:
            inputs.append(candidate)
    if len(inputs) < 5:
        raise ValueError(f"{spec.title}: only {len(inputs)} distinct tests")
    tests = []
    for value in inputs[:TESTS_PER_PROBLEM]:
        if spec.func_name:
            args = value if spec.n_params > 1 else (value,)
            output = call_functional(spec, args)
            tests.append({"input": "\n".join(json.dumps(a) for a in args),
                          "output": json.dumps(output), "testtype": "functional"})
        else:
            text = value if value.endswith("\n") else value + "\n"
            tests.append({"input": text, "output": run_stdin(spec, text), "testtype": "stdin"})
    return tests


# ----------------------------------------------------------------------------------------------------------
# Rendering a row

def examples_text(spec: specs.Spec, public: list[dict]) -> str:
    """LeetCode-style 'Example k' blocks for functional problems, AtCoder-style samples for stdin ones."""
    parts = []
    for k, test in enumerate(public, 1):
        if spec.func_name:
            args = ", ".join(f"{name} = {line}" for name, line in zip(spec.param_names, test["input"].split("\n")))
            parts.append(f"Example {k}:\n\nInput: {args}\nOutput: {test['output']}")
        else:
            parts.append(f"Sample Input {k}\n\n{test['input'].rstrip()}\n\nSample Output {k}\n\n{test['output'].rstrip()}")
    return "\n\n".join(parts)


def encode_private(tests: list[dict]) -> str:
    """LiveCodeBench's compressed form: base64(zlib(pickle(json string)))."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode("ascii")


def make_row(spec: specs.Spec, split: str, split_index: int) -> dict:
    """One LiveCodeBench-schema row; split_index orders the contests (4 problems a week) and picks the encoding."""
    tests = make_tests(spec, seed=zlib.crc32(spec.title.encode()))
    n_public = 2 if len(tests[0]["input"]) + len(tests[1]["input"]) < 120 else 1
    public, private = tests[:n_public], tests[n_public:]
    contest = split_index // PROBLEMS_PER_CONTEST
    day = (VAL_START if split == "val" else TRAIN_START) + timedelta(weeks=contest)
    content = spec.statement.strip() + "\n\n" + examples_text(spec, public)
    if spec.constraints:
        content += "\n\nConstraints:\n\n" + "\n".join(spec.constraints)
    private_field = encode_private(private) if split_index % 2 else json.dumps(private)
    return {
        "question_title": spec.title,
        "question_content": content,
        "platform": "embedded",
        "question_id": f"emb-{slug(spec.title)}",
        "contest_id": f"embedded-{split}-{contest + 1:02d}",
        "contest_date": f"{day.isoformat()}T00:00:00",
        "starter_code": spec.starter_code,
        "difficulty": spec.difficulty,
        "public_test_cases": json.dumps(public),
        "private_test_cases": private_field,
        "metadata": json.dumps({"func_name": spec.func_name} if spec.func_name else {}),
    }


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w") as f:
        for row in rows:
            f.write(json.dumps(row, sort_keys=True) + "\n")


def main() -> None:
    all_specs = specs.PROBLEMS
    titles = [s.title for s in all_specs]
    duplicates = {t for t in titles if titles.count(t) > 1}
    if duplicates:
        raise SystemExit(f"duplicate titles: {sorted(duplicates)}")
    train_specs = [s for i, s in enumerate(all_specs) if i % VAL_EVERY != VAL_EVERY - 1]
    val_specs = [s for i, s in enumerate(all_specs) if i % VAL_EVERY == VAL_EVERY - 1]
    train = [make_row(s, "train", j) for j, s in enumerate(train_specs)]
    val = [make_row(s, "val", j) for j, s in enumerate(val_specs)]
    DATA_DIR.mkdir(exist_ok=True)
    write_jsonl(DATA_DIR / "embedded_train.jsonl", train)
    write_jsonl(DATA_DIR / "embedded_val.jsonl", val)
    write_jsonl(DATA_DIR / "solutions.jsonl",
                [{"question_id": f"emb-{slug(s.title)}", "solution": s.solution} for s in all_specs])
    for name, rows in (("train", train), ("val", val)):
        stdin = sum(1 for r in rows if r["metadata"] == "{}")
        print(f"{name}: {len(rows)} problems, {stdin} stdin ({stdin / len(rows):.0%})")


if __name__ == "__main__":
    main()
