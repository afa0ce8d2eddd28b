"""THREAT MODEL PLACEHOLDER"""
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
    private uid), "uid" (a private uid only) or "none" (rlimits and process-group cleanup only).
    Taken from the last run, or from a one-off probe."""
    if _last_mode is None:
        run_tests("pass", [{"input": "", "output": "", "testtype": "stdin"}])
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
_HARNESS_STATUSES = {"ok", "timeout", "output_limit", "memory_exceeded", "syntax_error", "runtime_error", "wrong_answer"}
_last_mode: str | None = None


class _Run:
    """One sandboxed interpreter for one program: start it with the job, read one record per test, and on
    exit make sure every process is gone and every file removed."""

    def __init__(self, code, checked, func_name, timeout_s, memory_mb, *, stop_on_failure):
        self.timeout_s, self.n_tests, self.stop_on_failure = timeout_s, len(checked), stop_on_failure
        self.uid = _uids.acquire() if os.geteuid() == 0 else None
        self.proc = None
        self.workdir = tempfile.mkdtemp(prefix="sandbox-")
        try:
            if self.uid is not None:
                os.chown(self.workdir, self.uid, self.uid)
            prelude, modules = _prelude(code) if any(kind != "assert" for kind, _, _ in checked) else ("", [])
            job = {"code": code, "tests": [(kind, text) for kind, text, _ in checked], "func_name": func_name,
                   "timeout_s": float(timeout_s), "memory_bytes": memory_mb << 20, "stop_on_failure": stop_on_failure,
                   "output_limit": OUTPUT_LIMIT_BYTES, "stderr_tail": STDERR_TAIL_BYTES,
                   "file_size_limit": FILE_SIZE_LIMIT_BYTES, "max_processes": MAX_PROCESSES, "uid": self.uid,
                   "workdir": self.workdir, "isolation": ISOLATION, "hide": _hide_plan(), "site_dirs": _site_dirs(),
                   "prelude": prelude, "prelude_modules": modules}
            payload = marshal.dumps(job)
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _BOOTSTRAP.format(dir=os.path.dirname(os.path.abspath(__file__)))],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.workdir,
                env=_scrubbed_env(self.workdir), start_new_session=True)
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
        reader = _Reader(self.proc.stdout.fileno())
        deadline = time.monotonic() + self.timeout_s + _STARTUP_GRACE_S + _RECORD_GRACE_S
        mode = reader.line(deadline, 64)
        if mode is not None and mode.startswith(b"mode "):
            _last_mode = mode[5:].decode()
        for index in range(self.n_tests):
            record = self._read_record(reader, index, deadline) if mode is not None else None
            if record is None:
                status = "timeout" if reader.timed_out else "runtime_error"
                yield index, status, b"", self._harness_stderr()
                return
            yield record
            if record[1] not in ("ok", "wrong_answer") and self.stop_on_failure:
                return  # the harness stopped too
            deadline = time.monotonic() + self.timeout_s + _RECORD_GRACE_S

    def _read_record(self, reader, index, deadline):
        header = reader.line(deadline, 200)
        try:
            got_index, status, _, n_out, n_err = header.split()
            got_index, n_out, n_err, status = int(got_index), int(n_out), int(n_err), status.decode()
        except (AttributeError, ValueError):
            return None
        if got_index != index or status not in _HARNESS_STATUSES or not (
                0 <= n_out <= OUTPUT_LIMIT_BYTES + 1 and 0 <= n_err <= STDERR_TAIL_BYTES + 100):
            return None  # not a record our harness writes
        out, err = reader.exact(n_out, deadline), reader.exact(n_err, deadline)
        if out is None or err is None:
            return None
        return index, status, out, err

    def _harness_stderr(self):
        """What the harness itself printed (its own errors, not the program's), once it has exited."""
        self.close_process()
        try:
            os.set_blocking(self.proc.stderr.fileno(), False)
            data = self.proc.stderr.read(1 << 16) or b""
        except (OSError, ValueError):
            data = b""
        return b"[sandbox] harness ended without a result" + (b": " + data[-STDERR_TAIL_BYTES:] if data else b"")

    def close_process(self):
        """Close the harness's stdin, which makes P0 kill everything, and wait until it has."""
        if self.proc is None or self.proc.returncode is not None:
            return
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # P0 is stuck (never seen): kill its process group ourselves
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
            if self.uid is not None:
                _kill_uid(self.uid)

    def close(self):
        try:
            self.close_process()
        finally:
            if self.proc is not None:
                for stream in (self.proc.stdout, self.proc.stderr):
                    stream.close()
            shutil.rmtree(self.workdir, ignore_errors=True)
            if self.uid is not None:
                _remove_files_of(self.uid)
                _uids.release(self.uid)


class _Reader:
    """Buffered reads from the harness's stdout with a deadline and size caps (never trusts lengths)."""

    def __init__(self, fd):
        self.fd, self.buf, self.timed_out = fd, bytearray(), False

    def _fill(self, deadline) -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([self.fd], [], [], remaining)[0]:
            self.timed_out = True
            return False
        data = os.read(self.fd, 1 << 20)
        self.buf += data
        return bool(data)

    def line(self, deadline, max_len):
        while b"\n" not in self.buf[:max_len]:
            if len(self.buf) > max_len or not self._fill(deadline):
                return None
        line, _, rest = bytes(self.buf).partition(b"\n")
        self.buf = bytearray(rest)
        return line

    def exact(self, n, deadline):
        while len(self.buf) < n:
            if not self._fill(deadline):
                return None
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data


def _scrubbed_env(workdir):
    """The program's whole environment: nothing of the caller's (API keys, tokens, paths) gets through."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


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


def _interpreter_dirs() -> list[str]:
    dirs = {sys.base_prefix, sys.prefix, sys.base_exec_prefix, sys.exec_prefix, *_site_dirs()}
    return sorted({os.path.realpath(d) for d in dirs if os.path.isdir(d)})


@functools.lru_cache(maxsize=1)
def _site_dirs() -> list[str]:
    return [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and os.path.isdir(p)]


@functools.lru_cache(maxsize=1)
def _hide_plan() -> list[tuple[str, list[str]]]:
    """[(directory to cover with an empty tmpfs, paths under it to mount back)] for namespace mode: every
    directory on the way to the interpreter that other users cannot enter (the program runs as another
    uid), and HIDDEN_DIRS."""
    needed = _interpreter_dirs()
    tops = {os.path.realpath(d) for d in HIDDEN_DIRS if os.path.isdir(d)}
    for path in needed:
        parts = path.split("/")
        for n in range(2, len(parts) + 1):
            ancestor = "/".join(parts[:n])
            if not os.stat(ancestor).st_mode & 0o001:  # not searchable by others
                tops.add(ancestor)
                break
    tops = {t for t in tops if t != "/" and not any(_is_under(t, o) and t != o for o in tops)}
    return [(top, [p for p in needed if _is_under(p, top)]) for top in sorted(tops)]


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
    """The program may also write to the world-writable temp directories; remove what it left there."""
    for top in ("/tmp", "/var/tmp", "/dev/shm"):
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
    subprocess.run([sys.executable, "-I", "-S", "-c", "import os; os.kill(-1, 9)"], user=uid, group=uid,
                   extra_groups=[], env={}, check=False)
