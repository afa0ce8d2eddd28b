"""The caller's side of a sandboxed run, plumbing for sandbox.py (which holds the threat model): the zygote that
forks one harness per program, one run's pipes and records, the new root's file system, uid mode's uids.

sandbox_harness.py is the other side, and its docstring describes the processes and the protocol."""
from __future__ import annotations

import atexit
import functools
import json
import marshal
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

_STARTUP_GRACE_S = 5.0  # extra time for the first record: namespaces, compile, imports
_RECORD_GRACE_S = 2.0   # the harness enforces timeout_s; the caller waits this much longer before giving up
_HARNESS_STATUSES = {"ok", "timeout", "output_limit", "memory_exceeded", "syntax_error", "runtime_error"}


class IsolationError(RuntimeError):
    """The sandbox refuses to run programs: the isolation available is below the minimum required, or the
    mode SANDBOX_ISOLATION asks for cannot be set up here."""


class Run:
    """One program's sandbox: start it with the job, read one record per test, and on exit make sure every
    process is gone and every file removed."""

    def __init__(self, job, *, on_mode, preload, sweep_dirs):
        """job: what sandbox_harness reads, but "uid" and "done" (added here). on_mode(mode, reason) hears the
        mode the harness set up; preload: modules the zygote imports; sweep_dirs: uid mode's PRIVATE_TMP_DIRS."""
        self.timeout_s, self.n_tests, self.stop_on_failure = job["timeout_s"], len(job["tests"]), job["stop_on_failure"]
        self.output_limit, self.stderr_tail = job["output_limit"], job["stderr_tail"]
        self.on_mode, self.sweep_dirs = on_mode, sweep_dirs
        self.uid = _uids.acquire() if os.geteuid() == 0 else None
        self.pidfd, self.stdin, self.reader, self.stderr = None, None, None, None
        self.mode, self.workdir, self.harness_stderr = None, None, b""
        self.finished = False  # the harness has run its last test; so nothing of the program is left
        self.done = b"done %s\n" % os.urandom(8).hex().encode()  # P0's last line: everything is gone
        try:
            payload = marshal.dumps({**job, "uid": self.uid, "done": self.done})
            self.pid, self.pidfd, self.stdin, stdout, self.stderr = start_harness(preload)
            self.reader = _Reader(stdout)
            try:
                _write_all(self.stdin, b"%d\n" % len(payload) + payload)
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
        deadline = time.monotonic() + self.timeout_s + _STARTUP_GRACE_S + _RECORD_GRACE_S
        header = self.reader.line(deadline, 8000) or b""
        if header.startswith(b"error "):  # the harness refuses: nothing of the program ran
            self._stop()
            raise IsolationError(header[6:].decode(errors="replace"))
        if header.startswith(b"mode "):
            try:
                info = json.loads(header[5:])
                self.mode, self.workdir, reason = info["mode"], info["workdir"], info["reason"]
            except (ValueError, KeyError, TypeError):
                self.mode = None
            else:
                self.on_mode(self.mode, reason)
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
            if record[1] != "ok" and self.stop_on_failure:
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
                0 <= n_out <= self.output_limit + 1 and 0 <= n_err <= self.stderr_tail + 100):
            return None  # not a record our harness writes
        out, err = self.reader.exact(n_out, deadline), self.reader.exact(n_err, deadline)
        if out is None or err is None:
            return None
        return index, status, out, err

    def _stop(self):
        """Close the harness's stdin, which makes P0 kill everything, and wait for its "done": from then on no
        process of the program exists. In the namespaced modes a harness that has run its last test left
        nothing behind, so there is nothing to wait for. (The zygote reaps P0.)"""
        if self.stdin is None:
            return
        os.close(self.stdin)
        self.stdin = None
        if self.finished and self.mode in ("namespaces", "userns"):
            return  # otherwise P0 still kills after P1 (uid mode: by uid): wait, or it could hit the uid's next user
        deadline = time.monotonic() + 10.0
        while self.reader.fill(deadline):  # skip records we did not ask for, up to "done" and the end
            del self.reader.buf[:-len(self.done)]
        clean = self.reader.at_eof and self.reader.buf.endswith(self.done)
        self.harness_stderr = _read_available(self.stderr)[-self.stderr_tail:]
        if not clean:  # P0 is stuck or died early: kill it (P1 follows it, and with P1 its PID namespace)
            if self.pidfd is not None:
                try:
                    signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if self.uid is not None:
                _kill_uid(self.uid)

    def close(self):
        try:
            self._stop()
        finally:
            for fd in (self.reader.fd if self.reader else None, self.stderr, self.pidfd):
                if fd is not None:
                    os.close(fd)
            self.reader = self.stderr = self.pidfd = None
            if (self.workdir and self.mode not in ("namespaces", "userns")
                    and os.path.basename(self.workdir).startswith("sandbox-") and os.path.isdir(self.workdir)):
                shutil.rmtree(self.workdir, ignore_errors=True)  # in the namespaced modes it was private
            if self.uid is not None:
                if self.mode == "uid":
                    _remove_files_of(self.uid, self.sweep_dirs)
                _uids.release(self.uid)
                self.uid = None


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_available(fd) -> bytes:
    if fd is None:
        return b""
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


# ---------------------------------------------------------------------------------------------- the zygote

_BOOTSTRAP = ("import sys; sys.path.insert(0, {dir!r}); import sandbox_harness; del sys.path[0]; "
              "sandbox_harness.zygote({fd}, {modules!r})")
# The program's whole environment (the harness adds HOME and TMPDIR): nothing of the caller's gets through.
SCRUBBED_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
                 "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class _Zygote:
    """The caller's end of sandbox_harness.zygote: a `python -I -S` started once per caller process that
    forks one harness (P0) per program. Forking it costs a fraction of an interpreter start."""

    def __init__(self, modules):
        self.owner, self.lock = os.getpid(), threading.Lock()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _BOOTSTRAP.format(dir=os.path.dirname(os.path.abspath(__file__)),
                                                                     fd=theirs.fileno(), modules=modules)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, cwd="/", env=SCRUBBED_ENV,
                start_new_session=True, pass_fds=[theirs.fileno()])
        finally:
            theirs.close()
        self.socket, self.buf = ours, b""
        if self._reply(timeout_s=60.0) != b"ready":
            self.close()
            raise RuntimeError(f"the sandbox's zygote did not start (exit status {self.proc.poll()})")

    def _reply(self, timeout_s):
        self.socket.settimeout(timeout_s)
        while b"\n" not in self.buf:
            chunk = self.socket.recv(4096)
            if not chunk:
                raise ConnectionResetError("the sandbox's zygote is gone")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def spawn(self, fds) -> int:
        """Fork a P0 with `fds` as its stdin, stdout and stderr; returns its pid."""
        with self.lock:
            socket.send_fds(self.socket, [b"r"], fds)
            pid = int(self._reply(timeout_s=30.0))
        if pid < 0:
            raise OSError(-pid, f"the sandbox's zygote could not fork: {os.strerror(-pid)}")
        return pid

    def close(self):
        self.socket.close()  # the zygote exits when it reads the end of the socket
        try:
            self.proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


_zygote: _Zygote | None = None
_zygote_lock = threading.Lock()


def start_harness(preload):
    """Pipes for one harness and the harness forked from the zygote (started, importing `preload`, if need be):
    returns (pid, its pidfd or None, our end of its stdin, of its stdout, of its stderr)."""
    global _zygote
    job_r, job_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        for attempt in (0, 1):
            with _zygote_lock:
                if _zygote is not None and _zygote.owner != os.getpid():
                    _zygote.socket.close()  # a forked caller: the parent's zygote stays the parent's
                    _zygote = None
                if _zygote is None or _zygote.proc.poll() is not None:
                    _zygote = _Zygote(preload)  # first use, or the zygote died: a fresh one
                zygote = _zygote
            try:
                pid = zygote.spawn([job_r, out_w, err_w])
                break
            except OSError as e:  # the zygote is gone or hangs (EPIPE, ECONNRESET, timeout): once more, afresh
                if attempt or e.errno not in (None, 32, 104):
                    raise
                with _zygote_lock:
                    if _zygote is zygote:
                        _zygote = None
                zygote.close()
    except BaseException:
        for fd in (job_w, out_r, err_r):
            os.close(fd)
        raise
    finally:
        for fd in (job_r, out_w, err_w):
            os.close(fd)
    try:  # P0 waits for its job before anything else, so this pid is still P0's
        pidfd = os.pidfd_open(pid) if hasattr(os, "pidfd_open") else None
    except ProcessLookupError:
        pidfd = None
    return pid, pidfd, job_w, out_r, err_r


@atexit.register
def _stop_zygote():
    if _zygote is not None and _zygote.owner == os.getpid():
        _zygote.close()


# ---------------------------------------------------------------------------------------------- the file system

# What of /etc a program sees: what the dynamic loader, locale and time zone need (and /etc/alternatives,
# which commands in /usr/bin link through).
_ETC = ("alternatives", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "passwd", "group", "nsswitch.conf")
_DEVICES = ("null", "zero", "full", "random", "urandom")


@functools.lru_cache(maxsize=4)
def root_plan(hidden_dirs: tuple[str, ...], tmp_bytes: int) -> list[tuple]:
    """The operations that build a program's root file system in the namespaced modes (run by
    sandbox_harness._build_root on an empty tmpfs): read-only binds of the system directories, of _ETC and
    of the interpreter's directories; an empty tmpfs over each hidden directory that lies under those
    (mounting back what the interpreter needs); device nodes; a private /tmp and /dev/shm of tmp_bytes each."""
    ops, shown = [], []

    def show(path, source=None):
        if not any(_is_under(path, top) for top in shown):
            ops.append(("bind", source or path, path, False))
            shown.append(path)

    for path in [f"/{name}" for name in ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")] + \
                [f"/etc/{name}" for name in _ETC]:
        if os.path.islink(path):
            ops.append(("symlink", os.readlink(path), path))
        elif os.path.exists(path):
            show(path)
    needed = interpreter_paths()
    for path in needed:
        show(path, os.path.realpath(path))
    for hidden in sorted({os.path.realpath(d) for d in hidden_dirs if os.path.isdir(d)}):
        if any(_is_under(hidden, top) and hidden != top for top in shown):
            ops.append(("tmpfs", hidden, 4096, 0o755))
            ops += [("bind", os.path.realpath(p), p, False) for p in needed if _is_under(p, hidden) and p != hidden]
    ops.append(("tmpfs", "/dev", 64 << 10, 0o755))
    ops += [("bind", f"/dev/{name}", f"/dev/{name}", True) for name in _DEVICES if os.path.exists(f"/dev/{name}")]
    ops += [("symlink", "/proc/self/fd", "/dev/fd")]
    ops += [("symlink", f"/proc/self/fd/{fd}", f"/dev/{name}") for fd, name in enumerate(("stdin", "stdout", "stderr"))]
    ops += [("tmpfs", "/dev/shm", tmp_bytes, 0o1777), ("read-only", "/dev"), ("tmpfs", "/tmp", tmp_bytes, 0o1777),
            ("dir", "/var"), ("symlink", "/tmp", "/var/tmp"), ("dir", "/proc")]
    return ops


@functools.lru_cache(maxsize=1)
def interpreter_paths() -> list[str]:
    """The interpreter's directories (prefixes, site-packages), as Python names them and where they really
    are, outermost first."""
    dirs = {sys.base_prefix, sys.prefix, sys.base_exec_prefix, sys.exec_prefix, *site_dirs()}
    paths = {p for d in dirs if os.path.isdir(d) for p in (os.path.abspath(d), os.path.realpath(d))} - {"/"}
    return sorted(paths, key=lambda p: (p.count("/"), p))


@functools.lru_cache(maxsize=1)
def site_dirs() -> list[str]:
    return [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and os.path.isdir(p)]


@functools.lru_cache(maxsize=1)
def interpreter_private() -> bool:
    """Whether some directory on the way to the interpreter is closed to other users (uid mode then keeps
    CAP_DAC_READ_SEARCH for the program)."""
    for path in interpreter_paths():
        parts = path.split("/")
        if any(not os.stat("/".join(parts[:n])).st_mode & 0o001 for n in range(2, len(parts) + 1)):
            return True
    return False


def _is_under(path, top):
    return path == top or path.startswith(top.rstrip("/") + "/")


# ---------------------------------------------------------------------------------------------- uid mode

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


def _remove_files_of(uid, directories):
    """Without namespaces the program may write to the shared temp directories; remove what it left."""
    for top in directories:
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
