"""scripts/testtime.py: majority / most-certain / random picks of one of k samples, checked by hand."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import testtime as T  # noqa: E402

import cli  # noqa: E402


def sample(passed, behaviour="x", certainty=1.0):
    return {"passed": passed, "behaviour": behaviour, "self_certainty": certainty, "text": ""}


def test_majority_pick_by_hand():
    assert T.majority_pick([True, True, False], ["a", "a", "b"]) == 1.0     # a wins 2:1
    assert T.majority_pick([True, False], ["a", "b"]) == 0.5                # a tie: each class counts half
    assert T.majority_pick([False, True, True], [None, "b", "b"]) == 1.0    # errors never win
    assert T.majority_pick([False, True], [None, None]) == 0.5             # all errored: a random one
    assert T.majority_pick([False, False, True], [None, None, "c"]) == 1.0  # one program ran: it wins over errors


def test_majority_curve_by_hand():
    """Behaviours a, a, b, error, c with passes T, T, F, F, F. k = 1: each sample alone (errors fall back to
    themselves) = 2/5. k = 2, the 10 pairs: {0,1} a 1; {0,2} {0,4} {1,2} {1,4} ties of a with b or c 1/2 each;
    {0,3} {1,3} a 1; {2,3} b 0; {2,4} tie b, c 0; {3,4} c 0 -> 5/10. k = 5: a has two, wins -> 1."""
    problem = {"question_id": "p", "samples": [sample(True, "a"), sample(True, "a"), sample(False, "b"),
                                               sample(False, None), sample(False, "c")]}
    got = T.problem_curves(problem, [1, 2, 5])
    assert got["majority"] == pytest.approx([0.4, 0.5, 1.0])
    assert got["random"] == pytest.approx([0.4] * 3)
    assert got["pass@k"][-1] == 1.0 and got["pass@k"][0] == pytest.approx(0.4)


def test_most_certain_curve_by_hand():
    """Certainties 3, 2, 1 with passes F, T, T. k = 2: the pairs {0,1} {0,2} keep sample 0 (fails), {1,2}
    keeps sample 1 (passes) -> 1/3; k = 3 keeps sample 0 -> 0; k = 1 = avg = 2/3."""
    problem = {"question_id": "p", "samples": [sample(False, certainty=3.0), sample(True, certainty=2.0),
                                               sample(True, certainty=1.0)]}
    assert T.problem_curves(problem, [1, 2, 3])["most certain"] == pytest.approx([2 / 3, 1 / 3, 0.0])


def test_draws_exact_below_the_limit_and_seeded_above(monkeypatch):
    # exact: the 6 pairs of 4 samples, 3 of them hold sample 0
    assert T.expected_over_draws(4, 2, lambda idx: 0 in idx, "q") == 0.5
    monkeypatch.setattr(T, "DRAWS", 400)
    value = lambda idx: 0 in idx  # noqa: E731  P(sample 0 among 5 of 12) = 5/12
    first = T.expected_over_draws(12, 5, value, "q")  # C(12, 5) = 792 > 400: drawn
    assert first == T.expected_over_draws(12, 5, value, "q")       # the same draws for the same problem and k
    assert first == pytest.approx(5 / 12, abs=0.08)


def test_curves_average_over_problems_with_their_standard_error():
    problems = [{"question_id": "p", "samples": [sample(True), sample(True)]},
                {"question_id": "q", "samples": [sample(False, None), sample(False, None)]}]
    c = T.curves(problems)
    assert c["ks"] == [1, 2] and c["random"] == [0.5, 0.5]
    assert c["random se"][0] == pytest.approx(0.5)  # stdev(1, 0) / sqrt(2)
    assert "majority" in c
    # paired at k = 2: majority - random per problem is 1 - 1 = 0 and 0 - 0 = 0
    assert c["differences"]["majority - random"] == (0.0, 0.0)
    del problems[0]["samples"][0]["behaviour"]
    assert "majority" not in T.curves(problems)  # not every sample annotated: no majority curve
    assert "majority - random" not in T.curves(problems)["differences"]
    assert "majority - random" not in T.curves(problems[::-1])["differences"]  # whichever problem lacks it
    problems[1]["samples"].append(sample(True))
    with pytest.raises(cli.UserError, match="different numbers of samples"):
        T.curves(problems)


def test_pool_concatenates_samples_per_problem():
    a = {"problems": [{"question_id": "p", "samples": [sample(True)]}, {"question_id": "q", "samples": [sample(False)]}]}
    b = {"problems": [{"question_id": "q", "samples": [sample(True)]}, {"question_id": "p", "samples": [sample(False)]}]}
    pooled = T.pool([a, b])
    assert [p["question_id"] for p in pooled] == ["p", "q"]
    assert [s["passed"] for s in pooled[0]["samples"]] == [True, False]
    with pytest.raises(cli.UserError, match="other problems"):
        T.pool([a, {"problems": [{"question_id": "r", "samples": []}]}])


def test_annotate_runs_the_programs_and_names_behaviours(tmp_path):
    """Two programs that add (different code) share a behaviour, one that multiplies has its own, a crash
    has none; the report is written back with the field and its evaluation intact."""
    pytest.importorskip("sandbox")
    lcb_eval = pytest.importorskip("lcb_eval")
    tests = [{"input": "1 2\n", "output": "3\n", "testtype": "stdin"},
             {"input": "4 5\n", "output": "9\n", "testtype": "stdin"}]
    problem = lcb_eval.Problem(question_id="sum", question_title="Sum", question_content="Print a + b.",
                               platform="test", contest_id="0", contest_date="2024-01-01", starter_code="",
                               difficulty="easy", public_tests=tests[:1], private_tests=tests[1:], func_name=None)
    fence = "```python\n{}\n```".format
    texts = [fence("a, b = map(int, input().split())\nprint(a + b)"), fence("print(sum(map(int, input().split())))"),
             fence("a, b = map(int, input().split())\nprint(a * b)"), fence("print(1 // 0)")]
    report = {"avg": 0.5, "problems": [{"question_id": "sum", "samples": [{"text": t, "passed": i < 2}
                                                                          for i, t in enumerate(texts)]}]}
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    data = tmp_path / "problems.jsonl"
    row = {f: getattr(problem, f) for f in ("question_id", "question_title", "question_content", "platform",
                                            "contest_id", "contest_date", "starter_code", "difficulty")}
    row.update(public_test_cases=json.dumps(tests[:1]), private_test_cases=json.dumps(tests[1:]), metadata="{}")
    data.write_text(json.dumps(row) + "\n")
    T.main(["annotate", "--data", str(data), str(path)])
    got = json.loads(path.read_text())
    behaviours = [s["behaviour"] for s in got["problems"][0]["samples"]]
    assert behaviours[0] == behaviours[1] and behaviours[0] is not None
    assert behaviours[2] not in (None, behaviours[0])
    assert behaviours[3] is None
    assert got["avg"] == 0.5
    with pytest.raises(cli.UserError, match="not in the data"):
        T.annotate({"problems": [{"question_id": "other", "samples": []}]}, [problem])


def test_paired_differences_by_hand():
    """Problem p: certainties 2, 1 with passes F, T (most certain of 2 keeps the failure: 0, random 1/2);
    problem q: passes T, T (both 1). most certain - random: -1/2 and 0: mean -1/4, s.e. stdev(-1/2, 0)/sqrt(2)
    = 1/4."""
    problems = [{"question_id": "p", "samples": [sample(False, "a", 2.0), sample(True, "b", 1.0)]},
                {"question_id": "q", "samples": [sample(True, "c", 2.0), sample(True, "c", 1.0)]}]
    mean, se = T.curves(problems)["differences"]["most certain - random"]
    assert mean == pytest.approx(-0.25) and se == pytest.approx(0.25)


def test_evaluate_passes_lcb_eval_its_arguments_then_annotates(tmp_path, monkeypatch):
    """testtime.py evaluate --model M --data D --n 16 --out R: lcb_eval gets exactly those arguments (the
    driver's test-time runs), then R is annotated in place."""
    lcb_eval = pytest.importorskip("lcb_eval")
    out, seen = tmp_path / "r.json", []

    def fake_main(argv):
        seen.append(argv)
        out.write_text(json.dumps({"problems": [{"question_id": "q", "samples": []}]}))
    monkeypatch.setattr(lcb_eval, "main", fake_main)
    monkeypatch.setattr(lcb_eval, "load_problems", lambda data: [])
    monkeypatch.setattr(T, "annotate", lambda report, problems: report.update(annotated=True) or 0)
    argv = ["--model", "ckpt", "--data", "d.jsonl", "--n", "16", "--out", str(out)]
    T.main(["evaluate"] + argv)
    assert seen == [argv]
    assert json.loads(out.read_text())["annotated"] is True
    with pytest.raises(SystemExit):
        T.main(["curves", str(out), "--n", "3"])  # other commands still refuse unknown arguments
