"""scripts/testtime.py: picking one answer of k at test time, from lcb_eval reports.

    python scripts/testtime.py evaluate --model RUN/ckpt-40 --data FILE --n 16 --out REPORT  # lcb_eval + annotate
    python scripts/testtime.py annotate --data FILE REPORT...   # add each sample's behaviour (runs its program)
    python scripts/testtime.py curves REPORT...                 # print the curves of the reports pooled

For k = 1..n, four ways to end with one answer from k samples of the same problem:
  pass@k        an oracle that keeps a passing sample if any passes (the ceiling; lcb_eval.pass_at_k)
  random        any one of them: avg@n, whatever k
  most certain  the one with the highest mean self-certainty (lcb_eval.best_of_k, the study's selection)
  majority      the largest class of programs that behave the same on the problem's test inputs (outputs
                only, never the expected ones; errors never win), as the label-free majority reward groups
                them (rewards.program_signatures); a tie between classes counts each class equally, and k
                samples that all error fall back to a random one
Each is the expectation over the C(n, k) ways to draw k of the n samples: exact where C(n, k) <= DRAWS, else
the mean of DRAWS draws from a generator seeded by the problem and k (the same numbers on every run).

Majority needs each sample's behaviour, which an lcb_eval report does not hold: `annotate` runs the programs
on the test inputs once and stores a short hash of the behaviour in each sample ("behaviour", None for an
error), so that the report (scripts/study.py --report) reads it from git without running anything.
"""
from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import random
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cli import UserError  # noqa: E402

DRAWS = 2000
METHODS = ("pass@k", "random", "most certain", "majority")
PAIRS = (("most certain", "random"), ("majority", "random"), ("majority", "most certain"))


# ----------------------------------------------------------------------------------------------------------
# Behaviours: which samples' programs do the same thing

def behaviour_hash(signature: tuple | None) -> str | None:
    """A short, stable name of a program's behaviour (rewards.output_signature); None for an error."""
    if signature is None:
        return None
    return hashlib.sha1(json.dumps(signature).encode()).hexdigest()[:16]


def annotate(report: dict, problems: list, timeout_s: float = 6.0, workers: int | None = None) -> int:
    """Add "behaviour" to every sample of report (in place), running each distinct program on its problem's
    test inputs; problems: lcb_eval.Problem, found by question_id. Returns the number of samples annotated."""
    import rewards
    by_id = {p.question_id: p for p in problems}
    missing = [r["question_id"] for r in report["problems"] if r["question_id"] not in by_id]
    if missing:
        raise UserError(f"annotate: {len(missing)} problem(s) of the report are not in the data, e.g. {missing[0]!r}: "
                        "pass the --data the report was evaluated on")
    rows = [(by_id[r["question_id"]], s) for r in report["problems"] for s in r["samples"]]
    signatures = rewards.program_signatures([p for p, _ in rows], [s["text"] for _, s in rows], timeout_s, workers)
    for (_, sample), signature in zip(rows, signatures):
        sample["behaviour"] = behaviour_hash(signature)
    return len(rows)


# ----------------------------------------------------------------------------------------------------------
# Selection: the expected pass of each way of picking one of k samples

def majority_pick(passed: list[bool], behaviour: list[str | None]) -> float:
    """Expected pass of the majority pick among these samples: the largest non-error behaviour class (ties:
    each tied class equally likely), a random sample when every one errored."""
    classes: dict[str, list[bool]] = {}
    for p, b in zip(passed, behaviour):
        if b is not None:
            classes.setdefault(b, []).append(p)
    if not classes:
        return sum(passed) / len(passed)
    top = max(len(members) for members in classes.values())
    tied = [members for members in classes.values() if len(members) == top]
    return sum(sum(members) / len(members) for members in tied) / len(tied)


def expected_over_draws(n: int, k: int, value, key: str) -> float:
    """Mean of value(indices) over the k-subsets of range(n): all of them if there are at most DRAWS,
    else DRAWS seeded by key (a string: random.Random seeds it the same in every process)."""
    if math.comb(n, k) <= DRAWS:
        subsets = list(itertools.combinations(range(n), k))
    else:
        rng = random.Random(f"{key}/{k}")
        subsets = [rng.sample(range(n), k) for _ in range(DRAWS)]
    return sum(value(s) for s in subsets) / len(subsets)


def problem_curves(problem: dict, ks: list[int]) -> dict[str, list[float]]:
    """Per method, the expected pass of one problem's pick for each k (its samples: passed, self_certainty
    and, for majority, behaviour)."""
    import lcb_eval
    samples = problem["samples"]
    n, passed = len(samples), [bool(s["passed"]) for s in samples]
    certainty = [s["self_certainty"] for s in samples]
    out = {"pass@k": [lcb_eval.pass_at_k(n, sum(passed), k) for k in ks],
           "random": [sum(passed) / n for _ in ks],
           "most certain": [lcb_eval.best_of_k(certainty, passed, k) for k in ks]}
    if all("behaviour" in s for s in samples):
        behaviour = [s["behaviour"] for s in samples]
        out["majority"] = [expected_over_draws(
            n, k, lambda idx: majority_pick([passed[i] for i in idx], [behaviour[i] for i in idx]),
            problem["question_id"]) for k in ks]
    return out


def curves(problems: list[dict], ks: list[int] | None = None) -> dict:
    """The methods' curves averaged over problems, with each point's standard error over problems:
    {"n", "ks", "problems", METHOD: [mean per k], METHOD + " se": [...], "differences": {"A - B": (mean, se)}}
    (majority only if every sample has a behaviour); the differences are paired over problems at the largest
    k, so the spread between problems cancels."""
    if not problems:
        raise UserError("curves: no problems")
    n = min(len(p["samples"]) for p in problems)
    if any(len(p["samples"]) != n for p in problems):
        raise UserError("curves: the problems have different numbers of samples; pool whole reports")
    ks = ks or list(range(1, n + 1))
    per_problem = [problem_curves(p, ks) for p in problems]
    out = {"n": n, "ks": ks, "problems": len(problems)}
    for method in METHODS:
        if not all(method in c for c in per_problem):
            continue
        columns = list(zip(*(c[method] for c in per_problem)))  # per k, the problems' values
        out[method] = [statistics.mean(col) for col in columns]
        out[method + " se"] = [statistics.stdev(col) / math.sqrt(len(col)) if len(col) > 1 else 0.0
                               for col in columns]
    # paired over problems at the largest k: a method against another on the same samples
    out["differences"] = {}
    for a, b in PAIRS:
        if all(a in c and b in c for c in per_problem):
            d = [c[a][-1] - c[b][-1] for c in per_problem]
            out["differences"][f"{a} - {b}"] = (statistics.mean(d), statistics.stdev(d) / math.sqrt(len(d))
                                                if len(d) > 1 else 0.0)
    return out


def pool(reports: list[dict]) -> list[dict]:
    """The problems of several reports of the same problems (e.g. different sampling seeds), each problem's
    samples concatenated in report order."""
    if not reports:
        raise UserError("pool: no reports")
    order = [r["question_id"] for r in reports[0]["problems"]]
    pooled = {qid: {"question_id": qid, "samples": []} for qid in order}
    for i, report in enumerate(reports):
        ids = [r["question_id"] for r in report["problems"]]
        if sorted(ids) != sorted(order):
            raise UserError(f"pool: report {i + 1} has other problems than report 1; pool reports of one problem set")
        for r in report["problems"]:
            pooled[r["question_id"]]["samples"] += r["samples"]
    return list(pooled.values())


def table(rows: list[tuple[str, dict]], shown=(1, 2, 4, 8, 16)) -> str:
    """Markdown: per labelled curves and method, the expected pass at each k in shown (blank beyond that
    row's n) and at its own largest k, with the standard error over problems there."""
    ks = [k for k in shown if any(k in c["ks"] for _, c in rows)]
    lines = ["| samples | method | " + " | ".join(f"k={k}" for k in ks) + " | at the largest k ± s.e. |",
             "|---|---|" + "---|" * len(ks) + "---|"]
    for label, c in rows:
        for method in METHODS:
            if method in c:
                cells = [f"{c[method][c['ks'].index(k)]:.3f}" if k in c["ks"] else "" for k in ks]
                lines.append(f"| {label} ({c['problems']} x {c['n']}) | {method} | " + " | ".join(cells)
                             + f" | k={c['ks'][-1]}: {c[method][-1]:.3f} ± {c[method + ' se'][-1]:.3f} |")
    lines += ["", "Paired over problems, at each row's largest k (mean ± s.e.):", "",
              "| samples | " + " | ".join(f"{a} - {b}" for a, b in PAIRS) + " |", "|---|" + "---|" * len(PAIRS)]
    for label, c in rows:
        diffs = c["differences"]
        lines.append(f"| {label} (k={c['ks'][-1]}) | " + " | ".join(
            f"{diffs[f'{a} - {b}'][0]:+.3f} ± {diffs[f'{a} - {b}'][1]:.3f}" if f"{a} - {b}" in diffs else ""
            for a, b in PAIRS) + " |")
    return "\n".join(lines)


def figure(rows: list[tuple[str, dict]]):
    """One panel per labelled curves: each method against k, with a band of two standard errors."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(rows), figsize=(4.2 * len(rows), 3.6), layout="constrained", squeeze=False,
                             sharey=True)
    for ax, (label, c) in zip(axes[0], rows):
        for method in METHODS:
            if method in c:
                mean, se = c[method], c[method + " se"]
                ax.plot(c["ks"], mean, marker=".", label=method)
                ax.fill_between(c["ks"], [m - 2 * s for m, s in zip(mean, se)], [m + 2 * s for m, s in zip(mean, se)],
                                alpha=0.15)
        ax.set_title(f"{label}\n({c['problems']} problems x {c['n']} samples)", fontsize="small")
        ax.set_xlabel("k (samples drawn)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("expected pass of the answer kept")
    axes[0][0].legend(fontsize="small")
    return fig


# ----------------------------------------------------------------------------------------------------------
# Command line

def read_report(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{path} does not exist") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: not an lcb_eval report (line {e.lineno}: {e.msg})") from None


def write_json(path: Path, data: dict) -> None:
    """Write whole or not at all: a half-written report would lose the evaluation."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(path)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("evaluate", help="lcb_eval.py with its arguments, then annotate its report (--data, --out "
                   "required)")
    an = sub.add_parser("annotate", help="add each sample's behaviour to reports (in place)")
    an.add_argument("reports", nargs="+", type=Path)
    an.add_argument("--data", required=True, help="the problems the reports were evaluated on (lcb_eval --data)")
    an.add_argument("--timeout", type=float, default=6.0)
    cu = sub.add_parser("curves", help="print the curves of the reports pooled (same problems)")
    cu.add_argument("reports", nargs="+", type=Path)
    args, rest = parser.parse_known_args(argv)  # evaluate passes the rest to lcb_eval
    if rest and args.command != "evaluate":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    import lcb_eval
    if args.command == "evaluate":
        if "--out" not in rest or "--data" not in rest:
            raise UserError("evaluate: pass lcb_eval's --data and --out (the report to annotate)")
        lcb_eval.main(rest)
        out, data = Path(rest[rest.index("--out") + 1]), rest[rest.index("--data") + 1]
        report = read_report(out)
        count = annotate(report, lcb_eval.load_problems(data))
        write_json(out, report)
        print(f"{out}: {count} samples annotated with their behaviour")
    elif args.command == "annotate":
        problems = lcb_eval.load_problems(args.data)
        for path in args.reports:
            report = read_report(path)
            count = annotate(report, problems, args.timeout)
            write_json(path, report)
            print(f"{path}: {count} samples annotated with their behaviour")
    else:
        c = curves(pool([read_report(p) for p in args.reports]))
        print(table([(" + ".join(f"{p.parent.parent.name}/{p.stem}" for p in args.reports), c)]))


if __name__ == "__main__":
    import cli
    cli.run(main)
