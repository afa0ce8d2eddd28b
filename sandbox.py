"""Run untrusted, model-written programs against tests: isolated, fast, and graded as LiveCodeBench grades.

    verdict = run_tests(code, tests, func_name=None, timeout_s=6.0, memory_mb=1024)  # -> Verdict
    verdicts = run_many([{"code": ..., "tests": ..., "func_name": ...}, ...])        # parallel, input order
    outputs = run_outputs(code, inputs, testtype="stdin")  # raw outputs, never sees expected outputs

Grading (DESIGN.md "Evaluation", as lcb_runner/evaluation/testing_util.py)
- A test is {"input", "output", "testtype"}. Malformed tests raise ValueError naming the field, before anything runs.
- stdin: the input is the program's stdin. Both outputs are stripped, split into lines, each line stripped; the
  line counts must match and each pair be equal, or else equal element-wise as Decimals (exact: "1.50" == "1.5",
  "0.3333" != "0.33333"). Like LiveCodeBench, a program that calls exit() is graded on what it printed.
- functional: one JSON argument per input line; calls Solution().<func_name>(*args) when the code defines class
  Solution, else the top-level function. The value comes back as JSON (so tuples become lists, nested ones too,
  and dict keys strings; a value JSON cannot encode, e.g. a set, is a wrong answer) and must == the parsed
  expected output.
- assert (HumanEval/MBPP): the input is a test program run after the candidate in its namespace; the test passes
  if it runs to its end. These run exactly as written; stdin and functional programs get LiveCodeBench's import
  prelude (from typing import *, from collections import *, ..., sys.setrecursionlimit(50000)), of which only
  the lines binding a name the code mentions are executed: every such name ends up bound exactly as with all.
- timeout_s is per test (wall clock). A program passes only if every test passes; grading stops at the first
  failure. A program that exits before printing, before returning, or before the test program ends, fails.

How a program runs (details in sandbox_harness.py)
Each program gets a fresh `python -I -S` of its own, never the caller's process. Its first process (root)
creates new PID, network, mount and IPC namespaces and forks PID 1 of the new PID namespace, which forks one test
process per test: own session, stdin exactly the test input (a read-only memfd), stdout, stderr and a report
pipe read by PID 1 under caps, rlimits (address space, CPU time, file size, processes, no core files), an unused
uid of its own with no groups and no new privileges, and an environment of PATH, HOME, TMPDIR and the locale.
PID 1 writes a test's record only after killing and reaping everything the test started (kill(-1) from PID 1
reaches the whole namespace). If the caller stops early, it waits until PID 1 is dead, which the kernel allows
only once every process in its namespace is. The caller grades: expected outputs never enter the sandbox.
A trivial program costs about one interpreter start (scripts/sandbox_throughput.py measures it).

Isolation modes: isolation() says which one applied, network_protection() which network protection
- "namespaces" (root with CAP_SYS_ADMIN, as on this project's machines): everything listed as covered below.
- "uid" (root without namespaces, e.g. a default Docker container; SANDBOX_ISOLATION=uid forces it): the
  private uid, rlimits and timeouts; processes killed by uid; sockets refused inside the interpreter only;
  the caller removes the work directory and the uid's files in PRIVATE_TMP_DIRS. Not hidden: HIDDEN_DIRS.
- "none" (not root): rlimits, timeouts, socket refusal, and cleanup of the program's process tree (we are its
  subreaper). The program runs as the caller's uid and can signal the caller, change its files and read its
  /proc/<pid>/environ: for trusted code only.

Threat model
The programs come from a policy being optimised against these very tests: assume each one tries whatever raises
its reward or breaks the run, by design or by accident.
Covered (each line is a test in tests/test_sandbox.py; [modes] where it does not hold in every mode):
- processes: a fork bomb is capped by RLIMIT_NPROC (MAX_PROCESSES) and, like a flood of child processes or an
  orphan that double-forks and calls setsid to outlive its parent, is gone when the verdict returns;
- time: the wall-clock timeout is enforced with SIGKILL, so a program that ignores or replaces signal handlers,
  or sleeps, still times out; RLIMIT_CPU is a second limit;
- memory: RLIMIT_AS gives memory_exceeded; the caller's memory is unaffected;
- output: stdout, stderr and the returned value are capped at OUTPUT_LIMIT_BYTES while being read: an endless
  print ends in output_limit at once, and nothing of it piles up in the caller;
- files: a fresh work directory, gone afterwards; private, size-limited /tmp, /var/tmp, /dev/shm, /run/lock
  [namespaces] (swept of the uid's files otherwise [uid]); files the caller owns cannot be overwritten
  [namespaces, uid]; files are at most FILE_SIZE_LIMIT_BYTES; HIDDEN_DIRS (by default this project, whose data
  holds expected outputs) and private homes (/root) are invisible [namespaces];
- environment: scrubbed; a secret in the caller's environment is invisible, also through /proc [namespaces, uid];
- network: none, not even 127.0.0.1 [namespaces: an empty network namespace]; otherwise socket creation is
  refused inside the interpreter, best effort;
- signals: the program cannot signal or kill the caller or other programs [namespaces, uid];
- stdin holds exactly the test input, and no other file descriptor but the outputs and the report pipe is open;
- grading: expected outputs never enter the sandbox; printing text that looks like the harness protocol is
  just output.
Not covered:
- the kernel: no seccomp filter; the program may make any system call its uid may (e.g. create a user
  namespace where the kernel allows it); kernel exploits and side channels are out of scope;
- reading: world-readable files outside HIDDEN_DIRS (/etc, /usr, ...) are readable; in uid mode on a machine
  whose interpreter other users cannot read (here /root/.pyenv) the program keeps CAP_DAC_READ_SEARCH, i.e. can
  read every file, and in uid mode it sees the host's process list;
- memory: RLIMIT_AS is per process, so a program may hold MAX_PROCESSES x memory_mb plus the private tmpfs
  (4 x FILE_SIZE_LIMIT_BYTES); kernel memory (pipes, page tables) is not limited (no cgroups);
- forging: an assert test's pass is reported by the test process itself, so a program that finds its report
  pipe (fd 3) can claim "finished" and exit 0. stdin and functional grading depend on nothing the program says
  about itself other than its own output;
- uid mode: files written to world-writable directories outside PRIVATE_TMP_DIRS persist, and ctypes or a
  subprocess get around the socket refusal; "none" mode: see above.
"""
from __future__ import annotations

import functools
import json
import marshal
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

TESTTYPES = ("stdin", "functional", "assert")
STATUSES = ("passed", "wrong_answer", "timeout", "runtime_error", "memory_exceeded", "syntax_error",
            "output_limit", "no_code")

# Limits for every program (module constants so a test or a caller can change them).
OUTPUT_LIMIT_BYTES = 16 << 20     # stdout (or a returned value's JSON) and stderr, each, per test
FILE_SIZE_LIMIT_BYTES = 64 << 20  # largest file the program may write (RLIMIT_FSIZE)
MAX_PROCESSES = 64                # processes and threads of one program at once (RLIMIT_NPROC)
STDERR_TAIL_BYTES = 2000          # how much of stderr a Verdict keeps
RUN_OUTPUTS_MEMORY_MB = 1024
# "auto" uses the strongest isolation available; "namespaces" demands it (fail rather than fall back) and
# "uid" skips the namespaces (to exercise the fallback, e.g. SANDBOX_ISOLATION=uid pytest tests/test_sandbox.py).
ISOLATION = os.environ.get("SANDBOX_ISOLATION", "auto")
# Directories the program must not see even when other users may read them (namespace mode only): by
# default this project, whose data files hold the expected outputs.
HIDDEN_DIRS = (os.path.dirname(os.path.abspath(__file__)),)
# World-writable directories that get a fresh, private, size-limited tmpfs in namespace mode (the program's
# work directory is created in the first); without namespaces, the caller removes what the program left there.
PRIVATE_TMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")

_STARTUP_GRACE_S = 5.0  # extra time for the first record: interpreter start, namespaces, compile, imports
_RECORD_GRACE_S = 2.0   # the harness enforces timeout_s; the caller waits this much longer before giving up


@dataclass
class Verdict:
    passed: bool
    status: str                 # one of STATUSES: "passed" or the first failing test's outcome
    first_failure: int | None   # index of the first failing test; None when passed
    outcomes: list[str]         # per-test status of the tests that ran, in order (grading stops at the first failure)
    stderr_tail: str            # end of the stderr of the last test that ran (the failing one)
    wall_s: float

    @property
    def n_passed(self) -> int:
        """Number of leading tests that passed."""
        return self.first_failure if self.first_failure is not None else len(self.outcomes)


# ---------------------------------------------------------------------------------------------- public API

def run_tests(code: str | None, tests: list[dict], *, func_name: str | None = None, timeout_s: float = 6.0,
              memory_mb: int = 1024) -> Verdict:
    """Run `code` on `tests` ({"input", "output", "testtype"} dicts) in a fresh sandboxed interpreter and
    grade it as LiveCodeBench does. timeout_s is per test (wall clock); memory_mb is the address space the
    program may add to the interpreter's. Malformed tests raise ValueError before anything runs."""
    checked = _check_tests(tests, func_name, timeout_s, memory_mb)
    return _run_checked(code, checked, func_name, timeout_s, memory_mb)


def run_many(jobs: list[dict], workers: int | None = None) -> list[Verdict]:
    """run_tests for every job (a dict of run_tests keyword arguments) on `workers` parallel sandboxes
    (default: one per core). Results are in input order. All jobs are checked before any runs; after that a
    job that fails in any way yields a failed Verdict and never affects the others."""
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
        except Exception as e:  # a sandbox failure (e.g. out of file descriptors) fails this job only
            return Verdict(False, "runtime_error", 0, [], f"[sandbox] {type(e).__name__}: {e}", 0.0)

    with ThreadPoolExecutor(max(1, min(workers or os.cpu_count() or 1, len(jobs)))) as pool:
        return list(pool.map(run_one, checked))


def run_outputs(code: str | None, inputs: list[str], *, testtype: str, func_name: str | None = None,
                timeout_s: float = 6.0) -> list[str | None]:
    """Run `code` on each input and return its raw output (stdout, or the returned value as JSON for
    functional tests), None where it failed or timed out. Never sees expected outputs: the label-free
    "majority" reward uses this."""
    tests = [{"input": text, "testtype": testtype} for text in inputs]
    checked = _check_tests(tests, func_name, timeout_s, RUN_OUTPUTS_MEMORY_MB, need_output=False, allow_empty=True)
    outputs: list[str | None] = [None] * len(inputs)
    if not inputs or not code or not code.strip():
        return outputs
    with _Run(code, checked, func_name, timeout_s, RUN_OUTPUTS_MEMORY_MB, stop_on_failure=False) as run:
        for index, status, out, _ in run.records():
            if status == "ok":
                outputs[index] = out.decode("utf-8", "replace")
    return outputs


def isolation() -> str:
    """The isolation this machine gives: "namespaces" (PID, network, mount and IPC namespaces plus a
    private uid), "uid" (a private uid only) or "none" (rlimits and process-tree cleanup only); see the
    module docstring. Taken from the last run, or from a one-off probe."""
    if _last_mode is None:
        probe = run_tests("pass", [{"input": "", "output": "", "testtype": "stdin"}])
        if _last_mode is None:
            raise RuntimeError(f"the sandbox harness does not start: {probe.stderr_tail}")
    return _last_mode


def network_protection() -> str:
    """"netns" (an empty network namespace: nothing, not even 127.0.0.1, is reachable) or "socket-block"
    (the sandboxed interpreter refuses to create sockets; best effort, see the module docstring)."""
    return "netns" if isolation() == "namespaces" else "socket-block"


# ---------------------------------------------------------------------------------------------- checking

def _check_tests(tests, func_name, timeout_s, memory_mb, *, need_output=True, allow_empty=False):
    """Validate the tests; returns [(testtype, input, expected)] with functional outputs parsed from JSON.
    Raises ValueError naming the offending field."""
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
        checked.append((kind, text, expected))
    return checked


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
        return json.loads(expected)
    except ValueError:
        raise ValueError(f"{where}['output']: not JSON: {expected[:80]!r}") from None


# ---------------------------------------------------------------------------------------------- grading

def _run_checked(code, checked, func_name, timeout_s, memory_mb) -> Verdict:
    start = time.perf_counter()
    if not code or not code.strip():
        return Verdict(False, "no_code", 0, [], "", time.perf_counter() - start)
    outcomes, stderr_tail = [], ""
    with _Run(code, checked, func_name, timeout_s, memory_mb, stop_on_failure=True) as run:
        for index, status, out, err in run.records():
            kind, _, expected = checked[index]
            outcomes.append(_grade(kind, expected, status, out))
            stderr_tail = err.decode("utf-8", "replace")
            if outcomes[-1] != "passed":
                break
    first_failure = next((i for i, outcome in enumerate(outcomes) if outcome != "passed"), None)
    passed = first_failure is None and len(outcomes) == len(checked)
    if not passed and first_failure is None:  # the harness stopped reporting without a failure: count as one
        first_failure = len(outcomes)
        outcomes.append("runtime_error")
    status = "passed" if passed else outcomes[first_failure]
    return Verdict(passed, status, first_failure, outcomes, stderr_tail, time.perf_counter() - start)


def _grade(kind, expected, status, out: bytes) -> str:
    """One test's outcome from the harness status and the program's output."""
    if status != "ok":
        return status
    if kind == "assert":
        return "passed"
    if kind == "functional":
        try:
            value = json.loads(out)
        except ValueError:
            return "wrong_answer"
        return "passed" if value == expected else "wrong_answer"
    return "passed" if stdout_matches(out.decode("utf-8", "replace"), expected) else "wrong_answer"


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


# ---------------------------------------------------------------------------------------------- running

_BOOTSTRAP = ("import sys; sys.path.insert(0, {dir!r}); import sandbox_harness; del sys.path[0]; "
              "sandbox_harness.main()")
_HARNESS_STATUSES = {"ok", "timeout", "output_limit", "memory_exceeded", "syntax_error", "runtime_error",
                     "wrong_answer"}
_last_mode: str | None = None


class _Run:
    """One sandboxed interpreter for one program: start it with the job, read one record per test, and on
    exit make sure every process is gone and every file removed."""

    def __init__(self, code, checked, func_name, timeout_s, memory_mb, *, stop_on_failure):
        _reap_exited()
        self.timeout_s, self.n_tests, self.stop_on_failure = timeout_s, len(checked), stop_on_failure
        self.uid = _uids.acquire() if os.geteuid() == 0 else None
        self.proc, self.mode, self.workdir, self.harness_stderr = None, None, None, b""
        self.finished = False  # the harness has run its last test; so nothing of the program is left
        self.done = b"done %s\n" % os.urandom(8).hex().encode()  # P0's last line: everything is gone
        try:
            prelude, modules = _prelude(code) if any(kind != "assert" for kind, _, _ in checked) else ("", [])
            job = {"code": code, "tests": [(kind, text) for kind, text, _ in checked], "func_name": func_name,
                   "timeout_s": float(timeout_s), "memory_bytes": memory_mb << 20, "stop_on_failure": stop_on_failure,
                   "output_limit": OUTPUT_LIMIT_BYTES, "stderr_tail": STDERR_TAIL_BYTES,
                   "file_size_limit": FILE_SIZE_LIMIT_BYTES, "max_processes": MAX_PROCESSES, "uid": self.uid,
                   "isolation": ISOLATION, "hide": _hide_plan(tuple(HIDDEN_DIRS)),
                   "interpreter_private": _interpreter_private(),
                   "site_dirs": _site_dirs(), "tmp_root": tempfile.gettempdir(), "private_tmp": PRIVATE_TMP_DIRS,
                   "private_tmp_bytes": FILE_SIZE_LIMIT_BYTES, "prelude": prelude, "prelude_modules": modules,
                   "done": self.done}
            payload = marshal.dumps(job)
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _BOOTSTRAP.format(dir=os.path.dirname(os.path.abspath(__file__)))],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/",
                env=_SCRUBBED_ENV, start_new_session=True)
            self.reader = _Reader(self.proc.stdout.fileno())
            try:
                self.proc.stdin.write(b"%d\n" % len(payload) + payload)
                self.proc.stdin.flush()
            except BrokenPipeError:  # the harness died at once; records() reports it
                pass
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def records(self):
        """Yield (index, status, out, err) per test as the harness reports them. If the harness goes silent
        (a test outlived its deadline plus grace) or dies, yield one last failed record for that test."""
        global _last_mode
        deadline = time.monotonic() + self.timeout_s + _STARTUP_GRACE_S + _RECORD_GRACE_S
        header = (self.reader.line(deadline, 4200) or b"").decode(errors="replace").split(" ", 2)
        if len(header) == 3 and header[0] == "mode":
            _last_mode = self.mode = header[1]
            self.workdir = header[2]
        for index in range(self.n_tests):
            record = self._read_record(index, deadline) if self.mode else None
            if record is None:
                status = "timeout" if self.reader.timed_out else "runtime_error"
                self._stop()
                yield index, status, b"", b"[sandbox] harness ended without a result: " + self.harness_stderr
                return
            # P1 writes a record only after killing and reaping everything the test started, and it stops
            # after the last test or, when asked to, after a failure it detected itself.
            self.finished = index == self.n_tests - 1 or (record[1] != "ok" and self.stop_on_failure)
            yield record
            if record[1] not in ("ok", "wrong_answer") and self.stop_on_failure:
                return
            deadline = time.monotonic() + self.timeout_s + _RECORD_GRACE_S

    def _read_record(self, index, deadline):
        header = self.reader.line(deadline, 200)
        try:
            got_index, status, _, n_out, n_err = header.split()
            got_index, n_out, n_err, status = int(got_index), int(n_out), int(n_err), status.decode()
        except (AttributeError, ValueError):
            return None
        if got_index != index or status not in _HARNESS_STATUSES or not (
                0 <= n_out <= OUTPUT_LIMIT_BYTES + 1 and 0 <= n_err <= STDERR_TAIL_BYTES + 100):
            return None  # not a record our harness writes
        out, err = self.reader.exact(n_out, deadline), self.reader.exact(n_err, deadline)
        if out is None or err is None:
            return None
        return index, status, out, err

    def _stop(self):
        """Close the harness's stdin, which makes P0 kill everything, and wait for its "done": from then on no
        process of the program exists. In namespace mode a harness that has run its last test left nothing
        behind, so there is nothing to wait for. P0 itself is reaped later (its exit is slow, see the harness)."""
        if self.proc is None or self.proc.stdin.closed:
            return
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        if self.finished and self.mode == "namespaces":
            return  # without namespaces P0 still kills by uid after P1: wait, or it could hit the uid's next user
        deadline = time.monotonic() + 10.0
        while self.reader.fill(deadline):  # skip records we did not ask for, up to "done" and the end
            del self.reader.buf[:-len(self.done)]
        clean = self.reader.at_eof and self.reader.buf.endswith(self.done)
        self.harness_stderr = _read_available(self.proc.stderr.fileno())[-STDERR_TAIL_BYTES:]
        if not clean:  # P0 is stuck or died early: kill it and whatever it may have left
            try:
                os.killpg(self.proc.pid, 9)
            except ProcessLookupError:
                pass
            self.proc.wait()
            if self.uid is not None:
                _kill_uid(self.uid)

    def close(self):
        try:
            self._stop()
        finally:
            if self.proc is not None:
                self.proc.stdout.close()
                self.proc.stderr.close()
                with _exiting_lock:
                    _exiting.append(self.proc)
            if self.workdir and os.path.basename(self.workdir).startswith("sandbox-") and os.path.isdir(self.workdir):
                shutil.rmtree(self.workdir, ignore_errors=True)  # not in namespace mode: it was private
            if self.uid is not None:
                if self.mode != "namespaces":
                    _remove_files_of(self.uid)
                _uids.release(self.uid)


_exiting: list[subprocess.Popen] = []  # harness processes that said "done" and are still exiting
_exiting_lock = threading.Lock()


def _reap_exited():
    with _exiting_lock:
        _exiting[:] = [proc for proc in _exiting if proc.poll() is None]


def _read_available(fd) -> bytes:
    os.set_blocking(fd, False)
    chunks = []
    try:
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    except BlockingIOError:
        pass
    return b"".join(chunks)


class _Reader:
    """Buffered reads from the harness's stdout with a deadline and size caps (never trusts lengths)."""

    def __init__(self, fd):
        self.fd, self.buf, self.timed_out, self.at_eof = fd, bytearray(), False, False

    def fill(self, deadline) -> bool:
        remaining = deadline - time.monotonic()
        if self.at_eof or remaining <= 0 or not select.select([self.fd], [], [], remaining)[0]:
            self.timed_out = not self.at_eof
            return False
        data = os.read(self.fd, 1 << 20)
        self.buf += data
        self.at_eof = not data
        return bool(data)

    def line(self, deadline, max_len):
        while b"\n" not in self.buf[:max_len]:
            if len(self.buf) > max_len or not self.fill(deadline):
                return None
        line, _, rest = bytes(self.buf).partition(b"\n")
        self.buf = bytearray(rest)
        return line

    def exact(self, n, deadline):
        while len(self.buf) < n:
            if not self.fill(deadline):
                return None
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data


# The program's whole environment (the harness adds HOME and TMPDIR): nothing of the caller's gets through.
_SCRUBBED_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
                 "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


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


def _prelude(code: str) -> tuple[str, list[str]]:
    """The part of LiveCodeBench's prelude that matters to `code`: the lines that bind a name the code
    mentions, in the original order, so every such name ends up bound exactly as with the full prelude.
    Importing all 18 modules would cost ~25 ms per program, more than starting the interpreter."""
    mentioned = set(re.findall(r"[A-Za-z_]\w*", code))
    lines = [(line, module) for line, module, names in _prelude_bindings() if names & mentioned]
    return "\n".join(line for line, _ in lines), sorted({m for _, m in lines} - {"builtins"})


@functools.lru_cache(maxsize=1)
def _interpreter_dirs() -> list[str]:
    dirs = {sys.base_prefix, sys.prefix, sys.base_exec_prefix, sys.exec_prefix, *_site_dirs()}
    return sorted({os.path.realpath(d) for d in dirs if os.path.isdir(d)})


@functools.lru_cache(maxsize=1)
def _site_dirs() -> list[str]:
    return [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and os.path.isdir(p)]


def _private_ancestor(path) -> str | None:
    """The first directory on the way to `path` that other users cannot enter, if any."""
    parts = path.split("/")
    for n in range(2, len(parts) + 1):
        ancestor = "/".join(parts[:n])
        if not os.stat(ancestor).st_mode & 0o001:
            return ancestor
    return None


@functools.lru_cache(maxsize=1)
def _interpreter_private() -> bool:
    return any(_private_ancestor(path) for path in _interpreter_dirs())


@functools.lru_cache(maxsize=4)
def _hide_plan(hidden_dirs: tuple[str, ...]) -> list[tuple[str, list[str]]]:
    """[(directory to cover with an empty tmpfs, paths under it to mount back)] for namespace mode: every
    directory on the way to the interpreter that other users cannot enter (the program runs as another
    uid), and `hidden_dirs`."""
    needed = _interpreter_dirs()
    tops = {os.path.realpath(d) for d in hidden_dirs if os.path.isdir(d)}
    tops |= {_private_ancestor(path) for path in needed} - {None}
    tops = {t for t in tops if t != "/" and not any(_is_under(t, o) and t != o for o in tops)}
    outermost = [p for p in needed if not any(p != q and _is_under(p, q) for q in needed)]
    return [(top, [p for p in outermost if _is_under(p, top)]) for top in sorted(tops)]


def _is_under(path, top):
    return path == top or path.startswith(top.rstrip("/") + "/")


class _UidPool:
    """Unused uids for programs when we are root: one per running program, so programs cannot signal,
    ptrace or share RLIMIT_NPROC with each other or with us. Derived from our pid, so two trainers on one
    machine do not share them."""
    BASE = 2_000_000_000

    def __init__(self):
        self._lock, self._free, self._next = threading.Lock(), [], 0

    def acquire(self) -> int:
        with self._lock:
            if self._free:
                return self._free.pop()
            if self._next >= 999:
                raise RuntimeError("more than 999 programs at once")
            self._next += 1
            return self.BASE + (os.getpid() % 1_000_000) * 1000 + self._next

    def release(self, uid: int):
        with self._lock:
            self._free.append(uid)


_uids = _UidPool()


def _remove_files_of(uid):
    """Without namespaces the program may write to the shared temp directories; remove what it left."""
    for top in PRIVATE_TMP_DIRS:
        try:
            entries = list(os.scandir(top))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
            except OSError:
                pass


def _kill_uid(uid):
    """Backstop if the harness itself got stuck: SIGKILL every process of the program's uid."""
    subprocess.run(["/bin/sh", "-c", "kill -9 -1"], user=uid, group=uid, extra_groups=[], env={}, cwd="/",
                   stderr=subprocess.DEVNULL, check=False)
