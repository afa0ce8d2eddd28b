"""How fast is the sandbox? run_many on N trivial programs against a bare loop of
subprocess.run([sys.executable, "-c", ...]) at the same parallelism (issues 3 and 15 ask for >= 0.8x the bare
loop, as root and as a normal user; SANDBOX_ISOLATION=<mode> measures another mode).

    python scripts/sandbox_throughput.py [--n 200] [--workers 2] [--repeats 3]

Prints programs/s for both, each repeat and the medians, and the ratio of the medians. On a machine shared
with other work the numbers move; compare medians from the same invocation only.
"""
import argparse
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import sandbox  # noqa: E402


def bare_loop(n: int, workers: int) -> float:
    """Programs/s of plain fresh interpreters, no isolation, no grading."""
    def one(i):
        done = subprocess.run([sys.executable, "-c", f"print({i})"], capture_output=True)
        assert done.stdout == f"{i}\n".encode()

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(n)))
    return n / (time.perf_counter() - start)


def sandboxed(n: int, workers: int) -> float:
    """Programs/s of sandbox.run_many on the same programs, graded against their expected output."""
    jobs = [{"code": f"print({i})", "tests": [{"input": "", "output": f"{i}", "testtype": "stdin"}]} for i in range(n)]
    start = time.perf_counter()
    verdicts = sandbox.run_many(jobs, workers=workers)
    rate = n / (time.perf_counter() - start)
    assert all(v.passed for v in verdicts), [v for v in verdicts if not v.passed][:3]
    return rate


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="programs per measurement")
    parser.add_argument("--workers", type=int, default=None, help="parallel programs (default: all cores)")
    parser.add_argument("--repeats", type=int, default=3, help="measurements of each, interleaved")
    args = parser.parse_args()
    workers = args.workers or sandbox.os.cpu_count() or 1
    print(f"isolation={sandbox.isolation()} network={sandbox.network_protection()} n={args.n} workers={workers} "
          f"uid={sandbox.os.getuid()} load average={sandbox.os.getloadavg()[0]:.2f}")
    bare, boxed = [], []
    for repeat in range(args.repeats):
        bare.append(bare_loop(args.n, workers))
        boxed.append(sandboxed(args.n, workers))
        print(f"repeat {repeat}: bare {bare[-1]:7.1f} programs/s   sandbox {boxed[-1]:7.1f} programs/s")
    ratio = statistics.median(boxed) / statistics.median(bare)
    print(f"median: bare {statistics.median(bare):7.1f} programs/s   sandbox {statistics.median(boxed):7.1f} programs/s"
          f"   ratio {ratio:.2f}")


if __name__ == "__main__":
    main()
