"""scripts/calibrate.py: what it keeps of a report, which problems enter the pool, and a bad line named."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import calibrate as C  # noqa: E402


def record(qid, passed):
    return {"question_id": qid, "difficulty": "easy", "platform": "embedded", "num_correct": sum(passed),
            "samples": [{"passed": p, "status": "passed" if p else "wrong_answer", "tokens": 10 + i,
                         "clipped": i == 0, "text": "long text"} for i, p in enumerate(passed)]}


def test_pool_is_the_problems_sometimes_solved():
    rows = [C.summary_row(record(q, p)) for q, p in
            (("a", [1, 1, 1, 1]), ("b", [0, 0, 0, 0]), ("c", [1, 0, 0, 0]), ("d", [1, 1, 1, 0]))]
    assert [r["question_id"] for r in rows if C.in_pool(r)] == ["c", "d"]
    assert rows[2] == {"question_id": "c", "difficulty": "easy", "platform": "embedded", "passed": 1, "n": 4,
                       "statuses": ["passed", "wrong_answer", "wrong_answer", "wrong_answer"],
                       "tokens": [10, 11, 12, 13], "truncated": 1}  # no texts kept
    # 16 samples, 8 passes; histogram of passes per problem over 0..4; 4 of 16 samples truncated
    assert C.describe("train", rows) == ("train: 4 problems, mean pass rate 0.500, pool (0 < passes < 4) 2, "
                                         "passes histogram [1, 1, 0, 1, 1], truncated 0.250")


def test_a_bad_line_is_named(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps({"question_id": "a"}) + "\n{oops\n")
    with pytest.raises(C.UserError, match=r"train.jsonl:2: not JSON"):
        C.read_rows(path)
    assert C.read_rows(tmp_path / "missing.jsonl") == []
