"""scripts/calibrate.py: the base model's pass rate on every embedded problem, and the study's calibrated pool.

    python scripts/calibrate.py                       # both splits, 8 samples each at T = 1.0, 384 new tokens
    python scripts/calibrate.py --split val --n 8      # one split

A GRPO group has a learning signal only when its rewards differ, so the study trains on problems the base model
sometimes solves and sometimes fails (0 < passes < n), and validates on problems calibrated the same way, so that
accuracy can both rise and fall. Results go to docs/study/calibration/: SPLIT.jsonl (one line per problem: passes,
statuses, lengths, truncation; appended as each batch of problems is graded, so an interrupted run continues
where it stopped), and pool_SPLIT.jsonl (the pool's problem rows, in the schema --data reads).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cli import UserError  # noqa: E402

OUT = ROOT / "docs" / "study" / "calibration"


def summary_row(record: dict) -> dict:
    """What calibration keeps of one problem of an lcb_eval report (texts are left out)."""
    samples = record["samples"]
    return {"question_id": record["question_id"], "difficulty": record["difficulty"],
            "platform": record["platform"], "passed": record["num_correct"], "n": len(samples),
            "statuses": [s["status"] for s in samples], "tokens": [s["tokens"] for s in samples],
            "truncated": sum(s["clipped"] for s in samples)}


def read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise UserError(f"{path}:{number}: not JSON ({err.msg}); delete the line to measure it again")
    return rows


def in_pool(row: dict) -> bool:
    """Sometimes solved and sometimes failed by the base model: its groups have reward variance."""
    return 0 < row["passed"] < row["n"]


def calibrate(split: str, args, model, tokenizer, out: Path) -> list[dict]:
    import lcb_eval
    problems = lcb_eval.load_problems(f"embedded:{split}")
    path = out / f"{split}.jsonl"
    done = {r["question_id"] for r in read_rows(path)}
    todo = [p for p in problems if p.question_id not in done]
    print(f"{split}: {len(done)} problems measured, {len(todo)} to go", flush=True)
    for start in range(0, len(todo), args.batch):
        batch = todo[start:start + args.batch]
        t0 = time.time()
        report = lcb_eval.evaluate(model, tokenizer, batch, n=args.n, temperature=args.temperature,
                                   max_new_tokens=args.max_new_tokens, seed=args.seed + len(done) + start,
                                   batch_size=args.batch, progress=False)
        with open(path, "a") as f:
            for record in report["problems"]:
                f.write(json.dumps(summary_row(record)) + "\n")
        print(f"{split}: {len(done) + start + len(batch)}/{len(problems)} problems, "
              f"{time.time() - t0:.0f} s for {len(batch)}", flush=True)
    rows = read_rows(path)
    order = {p.question_id: p for p in problems}
    pool = [order[r["question_id"]] for r in rows if in_pool(r) and r["question_id"] in order]
    source = lcb_eval.DATA_DIR / f"embedded_{split}.jsonl"
    lines = {json.loads(line)["question_id"]: line for line in source.read_text().splitlines() if line.strip()}
    (out / f"pool_{split}.jsonl").write_text("".join(lines[p.question_id] + "\n" for p in pool))
    return rows


def describe(split: str, rows: list[dict]) -> str:
    n = rows[0]["n"] if rows else 0
    hist = [sum(r["passed"] == k for r in rows) for k in range(n + 1)]
    samples = sum(r["n"] for r in rows)
    truncated = sum(r["truncated"] for r in rows) / max(samples, 1)
    mean = sum(r["passed"] for r in rows) / max(samples, 1)
    return (f"{split}: {len(rows)} problems, mean pass rate {mean:.3f}, pool (0 < passes < {n}) "
            f"{sum(in_pool(r) for r in rows)}, passes histogram {hist}, truncated {truncated:.3f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=("train", "val", "both"), default="both")
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--n", type=int, default=8, help="samples per problem (>= 8 for the study)")
    parser.add_argument("--temperature", type=float, default=1.0, help="the training temperature")
    parser.add_argument("--max-new-tokens", type=int, default=384)
    parser.add_argument("--batch", type=int, default=4, help="problems per sampling batch (rows = batch x n)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", default=None,
                        help="fp32 or bf16 sampling (default: bf16 where this CPU runs it faster)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.n < 2 or args.batch < 1 or args.max_new_tokens < 1:
        raise UserError("need --n >= 2, --batch >= 1 and --max-new-tokens >= 1")
    import torch

    import model as M
    args.out.mkdir(parents=True, exist_ok=True)
    precision = M.choose_precision(args.precision, "cpu")
    model, tokenizer = M.load_model(args.model, "cpu", dtype=torch.bfloat16 if precision == "bf16" else torch.float32)
    for split in (("train", "val") if args.split == "both" else (args.split,)):
        print(describe(split, calibrate(split, args, model, tokenizer, args.out)), flush=True)


if __name__ == "__main__":
    import cli
    cli.run(main)
