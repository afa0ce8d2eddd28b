"""Run untrusted, model-written programs against tests: isolated, fast, and graded as LiveCodeBench grades.

    verdict = run_tests(code, tests, func_name=None, timeout_s=6.0, memory_mb=1024)  # -> Verdict
    verdicts = run_many([{"code": ..., "tests": ..., "func_name": ...}, ...])        # parallel, input order
    outputs = run_outputs(code, inputs, testtype="stdin")  # raw outputs, never sees expected outputs
    require_isolation("userns")  # UserError (one line, exit 2) below that mode (train_grpo, lcb_eval flag)

Grading (DESIGN.md "Evaluation", as lcb_runner/evaluation/testing_util.py)
- A test is {"input", "output", "testtype"}. Malformed tests raise ValueError naming the field, before anything runs.
- stdin: the input is the program's stdin. Both outputs are stripped, split into lines, each line stripped; the
  line counts must match and each pair be equal, or else equal element-wise as Decimals (exact: "1.50" == "1.5",
  "0.3333" != "0.33333"). Like LiveCodeBench, a program that calls exit() is graded on what it printed. Output
  that is not UTF-8 is a wrong answer.
- functional: one JSON argument per input line; calls Solution().<func_name>(*args) when the code defines class
  Solution, else the top-level function. The value comes back as JSON (so tuples become lists, nested ones too,
  and dict keys strings; a value JSON cannot encode, e.g. a set, is a wrong answer) and must == the parsed
  expected output. Integers of more than MAX_INT_DIGITS (20,000) digits compare as their digits.
- assert (HumanEval/MBPP): the input is a test program. sandbox_asserts.py interprets it here, in the caller;
  each call of a function of the program becomes a call the sandbox makes, whose result comes back as plain
  data, and the assertions are evaluated here; a false one is a wrong answer. (All of HumanEval's 164 tests
  convert; one that does not runs as written after the candidate, in its namespace: see Not covered.) The
  programs themselves run as written; stdin and functional programs get LiveCodeBench's import prelude (from typing
  import *, from collections import *, ..., sys.setrecursionlimit(50000)), of which only the lines binding a
  name the code mentions are executed: every such name ends up bound exactly as with all.
- timeout_s is per test (wall clock). A program passes only if every test passes; grading stops at the first
  failure. A program that exits before printing, before returning, or before the test program ends, fails.

Grading that the program cannot forge. The verdict is computed here from three things only: how the test
process ended as its supervisor saw it (exit status or signal, time, output sizes); the program's stdout
(stdin tests); and values parsed here, under size limits, from the report the test process writes on fd 3
each time the program's function returns. Values are plain data (None, bool, int, float, str, and lists,
tuples and dicts of those), rebuilt here from JSON, so no object of the program's, and no __eq__ of its own,
takes part in a comparison; anything else is a wrong answer. The harness writes the report with references
it took before the program ran (json's C encoder, posix.write, type), so patching json, sys, builtins or posix
changes nothing. The program can still write to fd 3 itself (from a thread, an atexit hook or an excepthook,
or by reaching into the harness's frames): what it can put there is a value per call, exactly what it could
have returned, or else a malformed report, which fails; and a test counts as finished only when the report
ends as the harness ends it and the process exits 0, so exiting early fails. To pass, a program must answer
with the expected values, and those never enter the sandbox. Nor can it reach the records its supervisor
(P1) sends us: P1 is another uid, or holds capabilities the program lacks and is not dumpable, so neither
ptrace nor /proc/<pid>/fd opens its descriptors.

How a program runs (details in sandbox_harness.py)
Each program gets a fresh process tree forked from a zygote (one `python -I -S` per caller process that
imports the prelude's modules once and does nothing else), never the caller's process, never a process that
ran another program. The tree's first process creates the namespaces and a new root file system; PID 1 of the
new PID namespace forks one test process per test: own session, stdin exactly the test input (a read-only
memfd), stdout, stderr and a report pipe read by PID 1 under caps, rlimits (address space, CPU time, file
size, processes, no core files), no capabilities (as root: an unused uid of its own), no new privileges, and
an environment of PATH, HOME, TMPDIR and the locale. PID 1 writes a test's record only after killing and
reaping everything the test started. A trivial program costs less than an interpreter start
(scripts/sandbox_throughput.py measures it).

Isolation modes, strongest first (isolation() names the one in use; SANDBOX_ISOLATION=<mode> forces one, and
require_isolation() or SANDBOX_MIN_ISOLATION=<mode> refuses to run below one):
- namespaces: root with CAP_SYS_ADMIN (this project's machines): new PID, network, mount and IPC namespaces,
  the new root, a private uid per program.
- userns: a normal user on Linux with unprivileged user namespaces (most distributions): the same namespaces
  inside a new user namespace and the same new root; the program runs without capabilities.
- uid: root without namespaces (e.g. a default Docker container): a private uid, rlimits, no new root.
- portable: a normal user without namespaces, or macOS: a new session killed as a whole, rlimits where the
  OS has them, the scrubbed environment, a private work directory. It says once, loudly, what it lacks.

Threat model
The programs come from a policy being optimised against these very tests: assume each one tries whatever raises
its reward or breaks the run, by design or by accident. Covered, in the modes marked x (each line is a key of
THREAT_MODEL, which is parsed from this table; tests/test_sandbox.py marks its tests with these keys and runs
each in every mode that claims it, as root and as a throwaway normal user):

    line            namespaces  userns  uid  portable
    processes           x         x      x      x
    time                x         x      x      x
    memory              x         x      x      x
    output              x         x      x      x
    workdir             x         x      x      x
    private-tmp         x         x      .      .
    caller-files        x         x      x      .
    hidden              x         x      .      .
    environment         x         x      x      x
    proc                x         x      x      .
    network             x         x      .      .
    signals             x         x      x      .
    descriptors         x         x      x      x
    grading             x         x      x      .
    odd-programs        x         x      x      x

- processes: a fork bomb is capped by RLIMIT_NPROC (MAX_PROCESSES); it, a flood of child processes, and an
  orphan that double-forks and calls setsid to outlive its parent, are all gone when the verdict returns.
- time: the wall-clock timeout is enforced with SIGKILL, so a program that ignores or replaces signal
  handlers, or sleeps, still times out; RLIMIT_CPU is a second limit.
- memory: RLIMIT_AS gives memory_exceeded; the caller's memory is unaffected.
- output: stdout, stderr and returned values are capped at OUTPUT_LIMIT_BYTES while being read: an endless
  print ends in output_limit at once, and nothing of it piles up in the caller.
- workdir: a fresh work directory (cwd, HOME, TMPDIR), gone afterwards; files are at most FILE_SIZE_LIMIT_BYTES.
- private-tmp: /tmp, /var/tmp and /dev/shm are the program's own size-limited tmpfs: nothing written there is
  seen by another program or outlives it, and filling the disk fills only them.
- caller-files: files the caller owns cannot be overwritten, removed or have their mode changed.
- hidden: the program sees only /usr, a few files of /etc, device nodes and the interpreter's directories,
  read-only, besides its own /tmp: not this project (whose data holds expected outputs), not $HOME or /root
  (but for the way to an interpreter that lies there), not the caller's files, not other programs' files.
- environment: scrubbed; a secret in the caller's environment is not in the program's.
- proc: the caller's environment and command line cannot be read through /proc either, nor its session
  keyring reached (the program gets an empty one).
- network: none, not even 127.0.0.1 (an empty network namespace).
- signals: the program cannot signal, kill or ptrace the caller, the sandbox's own processes, or other programs.
- descriptors: stdin holds exactly the test input, and no other file descriptor but the outputs and the
  report pipe is open.
- grading: the verdict cannot be forged (see "Grading that the program cannot forge" above): early exit(0),
  atexit and excepthook tricks, writes to the report pipe, racing threads, patched json, sys or builtins, an
  object whose __eq__ always says True, printing text that looks like the harness protocol: none turns a
  failing program into a pass; expected outputs never enter the sandbox.
- odd-programs: a segfault (runtime_error), output that is not UTF-8 (wrong_answer), a huge integer, a thread
  bomb, a flood of stderr, stopping itself with SIGSTOP (timeout): each gets an honest status, and the next
  program is unaffected.
Not covered:
- the kernel: no seccomp filter; the program may make any system call its uid may (e.g. create a user
  namespace where the kernel allows it); kernel exploits and side channels are out of scope; kernel memory
  (pipes, page tables, the private tmpfs) is not limited (no cgroups), and RLIMIT_AS is per process, so a
  program may hold MAX_PROCESSES x memory_mb.
- the zygote: every program of one caller process has the same string hash seed (so the same set order), as
  forks of one interpreter; nothing else carries over from the zygote, which never runs a program.
- assert tests: a test the interpreter in sandbox_asserts.py cannot express (none of HumanEval's 164;
  sandbox_asserts.plan says which construct it lacks) runs as written in the program's process, where the
  program can forge its outcome. A function the test calls but does not define is the program's, as under
  HumanEval's own harness; lcb_eval puts the helpers of HumanEval's prompts (HumanEval/10, 32, 38, 50) in
  the test, so that the program cannot redefine what the test checks with.
- userns: outside its namespaces the program has the caller's uid, so it shares the caller's per-user
  kernel limits (pipe buffers, inotify watches, keyrings).
- uid: everything world-readable (this project included) is readable and the host's process list visible;
  files written to world-writable directories outside PRIVATE_TMP_DIRS persist (those are swept afterwards);
  the socket refusal is inside the interpreter only (ctypes or a subprocess get around it); where others
  cannot read the interpreter (here /root/.pyenv) the program keeps CAP_DAC_READ_SEARCH, i.e. reads any file.
- portable: the program runs as the caller: it can read and write whatever the caller can (this project's
  expected outputs, $HOME), signal or ptrace the caller's processes (and so forge a verdict), reach the
  network through ctypes or a subprocess (sockets are refused inside the interpreter only), and fill the
  disk. On macOS (untested here) RLIMIT_AS is not enforced and an orphan that leaves the session survives.
"""
from __future__ import annotations

import functools
import json
import os
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import sandbox_asserts
import sandbox_process
from cli import UserError
from sandbox_process import IsolationError  # noqa: F401  (part of this module's API)

TESTTYPES = ("stdin", "functional", "assert")
STATUSES = ("passed", "wrong_answer", "timeout", "runtime_error", "memory_exceeded", "syntax_error",
            "output_limit", "no_code")
MODES = ("portable", "uid", "userns", "namespaces")  # isolation modes, weakest first


def _threat_model(doc: str) -> dict[str, tuple[str, ...]]:
    """The table in this docstring: {line: modes that claim it}."""
    table = doc.split("    line            ", 1)[1].split("\n\n", 1)[0].splitlines()
    modes = table[0].split()
    return {row.split()[0]: tuple(m for m, mark in zip(modes, row.split()[1:]) if mark == "x") for row in table[1:]}


THREAT_MODEL = _threat_model(__doc__)

# Limits for every program (module constants so a test or a caller can change them).
OUTPUT_LIMIT_BYTES = 16 << 20     # stdout (or the returned values' JSON) and stderr, each, per test
FILE_SIZE_LIMIT_BYTES = 64 << 20  # largest file the program may write (RLIMIT_FSIZE); size of its /tmp, /dev/shm
MAX_PROCESSES = 64                # processes and threads of one program at once (RLIMIT_NPROC)
STDERR_TAIL_BYTES = 2000          # how much of stderr a Verdict keeps
RUN_OUTPUTS_MEMORY_MB = 1024
# "auto" uses the strongest isolation available; a mode's name demands it (fail rather than fall back), e.g.
# SANDBOX_ISOLATION=uid pytest tests/test_sandbox.py to exercise the fallback as root.
ISOLATION = os.environ.get("SANDBOX_ISOLATION", "auto")
# Runs refuse to start below this mode (see require_isolation).
MIN_ISOLATION = os.environ.get("SANDBOX_MIN_ISOLATION") or MODES[0]
# Never visible to a program, even under a directory the new root shows (namespaced modes): this project,
# whose data holds the expected outputs, should it lie under the interpreter's directories.
HIDDEN_DIRS = (os.path.dirname(os.path.abspath(__file__)),)
# World-writable directories that uid mode sweeps of the program's files afterwards.
PRIVATE_TMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")


@dataclass
class Verdict:
    passed: bool
    status: str                 # one of STATUSES: "passed" or the first failing test's outcome
    first_failure: int | None   # index of the first failing test; None when passed
    outcomes: list[str]         # per-test status of the tests that ran, in order (grading stops at the first failure)
    stderr_tail: str            # end of the stderr of the last test that ran (the failing one), and why it failed
    wall_s: float

    @property
    def n_passed(self) -> int:
        """Number of leading tests that passed."""
        return self.first_failure if self.first_failure is not None else len(self.outcomes)


# ---------------------------------------------------------------------------------------------- public API

def run_tests(code: str | None, tests: list[dict], *, func_name: str | None = None, timeout_s: float = 6.0,
              memory_mb: int = 1024) -> Verdict:
    """Run `code` on `tests` ({"input", "output", "testtype"} dicts) in a fresh sandbox and grade it as
    LiveCodeBench does. timeout_s is per test (wall clock); memory_mb is the address space the program may
    add to the interpreter's. Malformed tests raise ValueError before anything runs; IsolationError when the
    sandbox refuses to run at all."""
    checked = _check_tests(tests, func_name, timeout_s, memory_mb)
    return _run_checked(code, checked, func_name, timeout_s, memory_mb)


def run_many(jobs: list[dict], workers: int | None = None) -> list[Verdict]:
    """run_tests for every job (a dict of run_tests keyword arguments) on `workers` parallel sandboxes
    (default: one per core). Results are in input order. All jobs are checked before any runs; after that a
    job that fails in any way yields a failed Verdict and never affects the others (IsolationError, which
    would fail them all, is raised)."""
    checked = []
    for i, job in enumerate(jobs):
        unknown = set(job) - {"code", "tests", "func_name", "timeout_s", "memory_mb"}
        if unknown or "code" not in job or "tests" not in job:
            raise ValueError(f"jobs[{i}]: needs 'code' and 'tests', unknown keys {sorted(unknown)}")
        options = {"func_name": job.get("func_name"), "timeout_s": job.get("timeout_s", 6.0),
                   "memory_mb": job.get("memory_mb", 1024)}
        try:
            checked.append((job["code"], _check_tests(job["tests"], **options), options))
        except ValueError as e:
            raise ValueError(f"jobs[{i}]: {e}") from None

    def run_one(item):
        code, tests, options = item
        try:
            return _run_checked(code, tests, **options)
        except IsolationError:
            raise
        except Exception as e:  # a sandbox failure (e.g. out of file descriptors) fails this job only
            return Verdict(False, "runtime_error", 0, [], f"[sandbox] {type(e).__name__}: {e}", 0.0)

    with ThreadPoolExecutor(max(1, min(workers or os.cpu_count() or 1, len(jobs)))) as pool:
        return list(pool.map(run_one, checked))


def run_outputs(code: str | None, inputs: list[str], *, testtype: str, func_name: str | None = None,
                timeout_s: float = 6.0) -> list[str | None]:
    """Run `code` on each input and return its raw output (stdout, or the returned value as JSON for
    functional tests), None where it failed, timed out or printed something that is not UTF-8. Never sees
    expected outputs: the label-free "majority" reward uses this. (Assert tests hold their expected values,
    so they are refused.)"""
    if testtype == "assert":
        raise ValueError("testtype: run_outputs takes stdin or functional tests; assert tests hold the expected values")
    tests = [{"input": text, "testtype": testtype} for text in inputs]
    checked = _check_tests(tests, func_name, timeout_s, RUN_OUTPUTS_MEMORY_MB, need_output=False, allow_empty=True)
    outputs: list[str | None] = [None] * len(inputs)
    if not inputs or not code or not code.strip():
        return outputs
    with _start(code, checked, func_name, timeout_s, RUN_OUTPUTS_MEMORY_MB, stop_on_failure=False) as run:
        for index, status, out, _ in run.records():
            if status != "ok":
                continue
            if testtype == "functional":
                values = _parse_report(out)
                if values and values[1] and len(values[0]) == 1 and values[0][0] is not None:
                    outputs[index] = values[0][0].decode()
            else:
                try:
                    outputs[index] = out.decode("utf-8")
                except UnicodeDecodeError:
                    pass
    return outputs


def isolation() -> str:
    """The isolation in use: one of MODES (see the module docstring). Taken from the last run, or from a
    one-off probe."""
    if _last_mode is None:
        probe = run_tests("pass", [{"input": "", "output": "", "testtype": "stdin"}])
        if _last_mode is None:
            raise RuntimeError(f"the sandbox harness does not start: {probe.stderr_tail}")
    return _last_mode


def require_isolation(minimum: str | None = None) -> str | None:
    """Refuse to go on below `minimum` isolation (default: $SANDBOX_MIN_ISOLATION; neither set: no check,
    returns None): a UserError (one line, exit 2 from the CLIs), else the mode in use. From then on every run refuses
    too (raises IsolationError). Order, weakest first: portable < uid < userns < namespaces."""
    global MIN_ISOLATION, _last_mode
    minimum = minimum or os.environ.get("SANDBOX_MIN_ISOLATION")
    if not minimum:
        return None
    if minimum not in MODES:
        raise UserError(f"unknown sandbox isolation {minimum!r}: expected one of {', '.join(MODES)} (weakest first)")
    MIN_ISOLATION, _last_mode = minimum, None  # isolation() then probes, and the harness refuses below the minimum
    try:
        return isolation()
    except IsolationError as e:
        raise UserError(str(e)) from None


def network_protection() -> str:
    """"netns" (an empty network namespace: nothing, not even 127.0.0.1, is reachable) or "socket-block"
    (the sandboxed interpreter refuses to create sockets; best effort, see the module docstring)."""
    return "netns" if isolation() in ("namespaces", "userns") else "socket-block"


# ---------------------------------------------------------------------------------------------- checking

def _check_tests(tests, func_name, timeout_s, memory_mb, *, need_output=True, allow_empty=False):
    """Validate the tests; returns [(kind, payload, expected)]: stdin (input, expected text), functional (input,
    parsed expected output), calls (sandbox_asserts.Plan.calls, the Plan), assert (test program, None: one
    the interpreter cannot express). Raises ValueError naming the offending field."""
    if not isinstance(timeout_s, (int, float)) or not timeout_s > 0:
        raise ValueError(f"timeout_s: must be a positive number, got {timeout_s!r}")
    if not isinstance(memory_mb, int) or memory_mb <= 0:
        raise ValueError(f"memory_mb: must be a positive integer, got {memory_mb!r}")
    if not isinstance(tests, (list, tuple)) or not (tests or allow_empty):
        raise ValueError("tests: must be a non-empty list of {'input', 'output', 'testtype'} dicts")
    checked = []
    for i, test in enumerate(tests):
        where = f"tests[{i}]"
        if not isinstance(test, dict):
            raise ValueError(f"{where}: must be a dict, got {type(test).__name__}")
        for field in ("testtype", "input") + (("output",) if need_output and test.get("testtype") != "assert" else ()):
            if field not in test:
                raise ValueError(f"{where}['{field}']: missing")
        kind, text = test["testtype"], test["input"]
        if kind not in TESTTYPES:
            raise ValueError(f"{where}['testtype']: {kind!r} is not one of {TESTTYPES}")
        if not isinstance(text, str):
            raise ValueError(f"{where}['input']: must be a string, got {type(text).__name__}")
        expected = test.get("output")
        if need_output and kind != "assert" and not isinstance(expected, str):
            raise ValueError(f"{where}['output']: must be a string, got {type(expected).__name__}")
        if kind == "functional":
            expected = _check_functional(where, text, expected if need_output else None, func_name)
        elif kind == "assert":
            try:
                compile(text, f"<{where}>", "exec")
            except (SyntaxError, ValueError) as e:
                raise ValueError(f"{where}['input']: the assert test is not valid Python ({e})") from None
            plan = _assert_plan(text)
            if plan is not None:
                kind, text, expected = "calls", plan.calls, plan
        checked.append((kind, text, expected))
    return checked


@functools.lru_cache(maxsize=1024)
def _assert_plan(test: str) -> sandbox_asserts.Plan | None:
    """The test as remote calls (a group of samples shares its problem's test: plan it once)."""
    try:
        return sandbox_asserts.plan(test)
    except sandbox_asserts.Unsupported:
        return None


def _check_functional(where, text, expected, func_name):
    """LiveCodeBench functional test: one JSON value per input line, the output one JSON value."""
    if not func_name or not isinstance(func_name, str):
        raise ValueError(f"func_name: required for functional tests ({where})")
    for n, line in enumerate(text.strip().split("\n") if text.strip() else []):
        try:
            json.loads(line)
        except ValueError:
            raise ValueError(f"{where}['input']: line {n + 1} is not JSON: {line[:80]!r}") from None
    if expected is None:
        return None
    try:
        return _json_loads(expected)
    except ValueError:
        raise ValueError(f"{where}['output']: not JSON: {expected[:80]!r}") from None


# ---------------------------------------------------------------------------------------------- grading

def _run_checked(code, checked, func_name, timeout_s, memory_mb) -> Verdict:
    start = time.perf_counter()
    if not code or not code.strip():
        return Verdict(False, "no_code", 0, [], "", time.perf_counter() - start)
    outcomes, stderr_tail = [], ""
    with _start(code, checked, func_name, timeout_s, memory_mb, stop_on_failure=True) as run:
        for index, status, out, err in run.records():
            kind, _, expected = checked[index]
            outcome, why = _grade(kind, expected, status, out)
            outcomes.append(outcome)
            stderr_tail = err.decode("utf-8", "replace") + (f"\n[grader] {why}" if why else "")
            if outcome != "passed":
                break
    first_failure = next((i for i, outcome in enumerate(outcomes) if outcome != "passed"), None)
    passed = first_failure is None and len(outcomes) == len(checked)
    if not passed and first_failure is None:  # the harness stopped reporting without a failure: count as one
        first_failure = len(outcomes)
        outcomes.append("runtime_error")
    status = "passed" if passed else outcomes[first_failure]
    return Verdict(passed, status, first_failure, outcomes, stderr_tail, time.perf_counter() - start)


def _grade(kind, expected, status, out: bytes) -> tuple[str, str | None]:
    """One test's outcome, and why it failed where the program's stderr would not say, from how the test
    process ended (`status`, as its supervisor saw it) and what it printed or reported (`out`)."""
    if kind == "calls":
        return _grade_calls(expected, status, out)
    if status != "ok":
        return status, None
    if kind == "stdin":
        try:
            text = out.decode("utf-8")
        except UnicodeDecodeError:
            return "wrong_answer", "the output is not UTF-8"
        return ("passed", None) if stdout_matches(text, expected) else ("wrong_answer", None)
    report = _parse_report(out)
    if report is None:
        return "wrong_answer", "malformed report (something wrote to the report pipe)"
    values, finished = report
    if not finished:
        return "runtime_error", "exited before " + ("returning" if kind == "functional" else "the test program ended")
    if kind == "assert":  # run as written: only its completion counts (see Not covered)
        return ("passed", None) if not values else ("wrong_answer", "malformed report")
    if len(values) != 1 or values[0] is None:
        return "wrong_answer", "the returned value is not JSON" if values == [None] else "malformed report"
    try:
        value = _json_loads(values[0])
    except (ValueError, RecursionError):
        return "wrong_answer", "malformed report"
    return ("passed", None) if value == expected else ("wrong_answer", None)


def _grade_calls(plan, status, out):
    """An assert-style test: check the plan's assertions on the values the program returned."""
    report = _parse_report(out)
    if report is None:  # cut short by a kill, or something else wrote to the report pipe
        return (status, None) if status != "ok" else ("wrong_answer", "malformed report")
    texts, finished = report
    values = [sandbox_asserts.NOT_PLAIN if text is None else _decode_plain(text) for text in texts]
    try:
        sandbox_asserts.check(plan, values)
    except sandbox_asserts.AssertionFailed as e:
        return "wrong_answer", str(e)
    except sandbox_asserts.MissingResult:
        return (status, None) if status != "ok" else ("runtime_error", "exited before the test program ended")
    if status != "ok":  # every assertion held, but the program did not end well (a thread kept it running)
        return status, None
    return ("passed", None) if finished else ("runtime_error", "exited before the test program ended")


def _parse_report(report: bytes) -> tuple[list[bytes | None], bool] | None:
    """A test process's report (sandbox_harness's protocol): ([JSON text of each value, None where it was not
    plain data], whether it ended with b"D"); None when malformed."""
    values, i = [], 0
    while i < len(report):
        tag = report[i:i + 1]
        if tag == b"V":
            newline = report.find(b"\n", i, i + 12)
            digits = report[i + 1:newline]
            if newline < 0 or not digits.isdigit() or newline + 1 + int(digits) > len(report):
                return None
            values.append(report[newline + 1:newline + 1 + int(digits)])
            i = newline + 1 + int(digits)
        elif tag == b"U":
            values.append(None)
            i += 1
        elif tag in (b"D", b"M") and i == len(report) - 1:
            return values, tag == b"D"
        else:
            return None
    return values, False


class _HugeInt:
    """An integer of more than MAX_INT_DIGITS digits (converting it would take the caller seconds): kept as
    its digits, equal only to the same digits."""
    __slots__ = ("digits",)

    def __init__(self, digits):
        self.digits = digits

    def __eq__(self, other):
        return isinstance(other, _HugeInt) and other.digits == self.digits

    def __hash__(self):
        return hash(self.digits)

    def __repr__(self):
        return f"<int of {len(self.digits.lstrip('-'))} digits>"


MAX_INT_DIGITS = 20_000  # a JSON integer up to this long becomes an int (in ~3 ms); a longer one stays digits


def _parse_int(digits: str):
    """int(digits), also past Python's 4300-digit limit for str -> int, by halves (subquadratic)."""
    if len(digits) > MAX_INT_DIGITS:
        return _HugeInt(digits)
    if digits.startswith("-"):
        return -_parse_int(digits[1:])
    if len(digits) <= 4000:
        return int(digits)
    half = len(digits) // 2
    return _parse_int(digits[:-half]) * 10 ** half + _parse_int(digits[-half:])


def _json_loads(text):
    return json.loads(text, parse_int=_parse_int)


def _decode_plain(text: bytes):
    """A value the harness wrote as tagged JSON (sandbox_harness._tagged_json): plain data rebuilt here, or
    NOT_PLAIN if the text is anything else."""
    def tagged(obj):
        if len(obj) == 1 and type(obj.get("t")) is list:
            return tuple(obj["t"])
        if len(obj) == 1 and type(obj.get("d")) is list and all(type(p) is list and len(p) == 2 for p in obj["d"]):
            return dict(obj["d"])
        raise ValueError("not a tagged value")
    try:
        return json.loads(text, object_hook=tagged, parse_int=_parse_int)
    except (ValueError, TypeError, RecursionError):  # TypeError: an unhashable dict key
        return sandbox_asserts.NOT_PLAIN


def stdout_matches(output: str, expected: str) -> bool:
    """LiveCodeBench's stdin comparison: strip both, split into lines, strip each line; the same number of
    lines, and each pair equal exactly or else element-wise as Decimals ("1.50" == "1.5", but no tolerance:
    "0.3333" != "0.33333")."""
    got, want = _stripped_lines(output), _stripped_lines(expected)
    if len(got) != len(want):
        return False
    for line, reference in zip(got, want):
        if line == reference:
            continue
        try:
            if [Decimal(x) for x in line.split()] != [Decimal(x) for x in reference.split()]:
                return False
        except InvalidOperation:
            return False
    return True


def _stripped_lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().split("\n")]


# LiveCodeBench prepends these lines to every program (lcb_runner/evaluation/testing_util.py, import_string).
_LCB_PRELUDE = [f"from {m} import *" for m in (
    "string", "re", "datetime", "collections", "heapq", "bisect", "copy", "math", "random", "statistics",
    "itertools", "functools", "operator", "io", "sys", "json", "builtins", "typing")] + [f"import {m}" for m in (
    "string", "re", "datetime", "collections", "heapq", "bisect", "copy", "math", "random", "statistics",
    "itertools", "functools", "operator", "io", "sys", "json")]


@functools.lru_cache(maxsize=1)
def _prelude_bindings() -> list[tuple[str, str, frozenset]]:
    """(line, module, names the line binds) for each prelude line."""
    import importlib
    bindings = []
    for line in _LCB_PRELUDE:
        name = line.split()[1]
        if line.startswith("import "):
            bindings.append((line, name, frozenset([name])))
        else:
            module = importlib.import_module(name)
            names = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
            bindings.append((line, name, frozenset(names)))
    return bindings


def _prelude_modules() -> list[str]:
    """The prelude's modules, which the zygote imports once for every program."""
    return sorted({module for _, module, _ in _prelude_bindings()} - {"builtins"})


def _prelude(code: str) -> tuple[str, list[str]]:
    """The part of LiveCodeBench's prelude that matters to `code`: the lines that bind a name the code
    mentions, in the original order, so every such name ends up bound exactly as with the full prelude.
    (The zygote has imported the modules; executing all 34 lines would still cost a few ms per test.)"""
    mentioned = set(re.findall(r"[A-Za-z_]\w*", code))
    lines = [(line, module) for line, module, names in _prelude_bindings() if names & mentioned]
    return "\n".join(line for line, _ in lines), sorted({m for _, m in lines} - {"builtins"})


# ---------------------------------------------------------------------------------------------- running

_last_mode: str | None = None
_warned_portable = False


def _start(code, checked, func_name, timeout_s, memory_mb, *, stop_on_failure) -> sandbox_process.Run:
    """One program's sandbox, started with its job (sandbox_harness.py describes the job and the records)."""
    if MIN_ISOLATION not in MODES:
        raise IsolationError(f"SANDBOX_MIN_ISOLATION={MIN_ISOLATION!r} is not one of {', '.join(MODES)}")
    prelude, modules = _prelude(code) if any(kind in ("stdin", "functional") for kind, _, _ in checked) else ("", [])
    job = {"code": code, "tests": [(kind, payload) for kind, payload, _ in checked], "func_name": func_name,
           "timeout_s": float(timeout_s), "memory_bytes": memory_mb << 20, "stop_on_failure": stop_on_failure,
           "output_limit": OUTPUT_LIMIT_BYTES, "stderr_tail": STDERR_TAIL_BYTES,
           "file_size_limit": FILE_SIZE_LIMIT_BYTES, "max_processes": MAX_PROCESSES,
           "isolation": ISOLATION, "acceptable": MODES[MODES.index(MIN_ISOLATION):],
           "root": sandbox_process.root_plan(tuple(HIDDEN_DIRS), FILE_SIZE_LIMIT_BYTES), "stage": tempfile.gettempdir(),
           "interpreter_private": sandbox_process.interpreter_private(), "site_dirs": sandbox_process.site_dirs(),
           "tmp_root": tempfile.gettempdir(), "prelude": prelude, "prelude_modules": modules}
    return sandbox_process.Run(job, on_mode=_note_mode, preload=_prelude_modules(), sweep_dirs=PRIVATE_TMP_DIRS)


def _note_mode(mode, reason):
    """Remember the mode a run reported; the first time it is portable, say loudly what that lacks."""
    global _last_mode, _warned_portable
    _last_mode = mode
    if mode == "portable" and not _warned_portable:
        _warned_portable = True
        lacking = [line for line, modes in THREAT_MODEL.items() if "portable" not in modes]
        print(f"\n*** sandbox: PORTABLE isolation ({reason}). Programs run as YOU: they can read and write your files "
              f"(this project's expected outputs, $HOME), signal or ptrace your processes (and so forge a grade), "
              f"use the network outside Python's socket module, and fill the disk. Not covered here: "
              f"{', '.join(lacking)} (see sandbox.py). Use Linux user namespaces, or set "
              f"SANDBOX_MIN_ISOLATION=userns to refuse to run like this. ***\n", file=sys.stderr, flush=True)
