"""The code that runs *inside* the sandbox: sandbox.py starts it once per program, as `python -I -S`.

sandbox.py is the only caller and holds the threat model. This file imports almost nothing beyond the
interpreter's built-in modules (posix, not os; _ctypes, not ctypes; no resource): its start-up time is most
of the cost of one sandboxed program, so each import that is avoided says why.

Processes, in namespace mode (the other modes are the same tree without the namespaces, see sandbox.py):

    caller   sandbox.run_tests: writes the job to P0's stdin, reads P0's and P1's lines from stdout
     P0      root, outside the new namespaces: unshare, hide directories, private /tmp, the work directory,
             fork P1, then wait. When the caller closes our stdin (all read, a failure, a timeout, or the
             caller died) P0 kills P1. It says "done" once nothing of the program is left.
      P1     PID 1 of the new PID namespace, still root: compiles the code once, then for each test forks T,
             enforces the wall clock and the output caps, kills whatever T left (kill(-1)), writes the record.
       T     one test: own session, stdin = the test input, rlimits, the job's own uid, no new privileges,
             then the program.

Protocol. Job on stdin: b"<length>\n" + marshal.dumps(dict) (see sandbox._Run). On stdout: P0's line
b"mode <isolation> <work directory>\n"; then P1's record per test, b"<index> <status> <exit> <n_out> <n_err>\n"
+ out + err, where status is ok | timeout | output_limit | memory_exceeded | syntax_error | runtime_error |
wrong_answer, out the program's stdout (stdin and assert tests) or its returned value as JSON (functional
tests) and err the tail of its stderr; finally P0's job["done"] line. T tells P1 how the program ended with
one tag byte on fd 3: D finished, R + JSON returned value, U value not JSON-serialisable, M MemoryError.
The program can write to fd 3 too: see "Not covered" in sandbox.py.
"""
import builtins
import errno
import gc
import marshal
import posix  # the C half of os: importing os itself would cost ~1 ms, a tenth of the interpreter's start-up
import select
import sys
import time

gc.disable()  # nothing here needs it before the program runs (T turns it back on); saves start-up time

SIGKILL, SIGXCPU = 9, 24
# Linux constants from sched.h, sys/mount.h and sys/prctl.h (neither os nor ctypes names them on 3.11).
CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = 0x20000, 0x8000000, 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x8, 0x1000, 0x4000, 0x40000
PR_SET_PDEATHSIG, PR_SET_KEEPCAPS, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 8, 36, 38
CAP_DAC_READ_SEARCH, _LINUX_CAPABILITY_VERSION_3 = 2, 0x20080522  # linux/capability.h
EXIT_SETUP_FAILED = 71  # T could not be set up (a sandbox problem, reported as runtime_error with a note)

# asm-generic/resource.h (x86-64, arm64, riscv): the resource module would cost ~0.5 ms to import.
RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_CORE, RLIMIT_NPROC, RLIMIT_AS = 0, 1, 4, 6, 9
json = None  # imported in P1 only when there are functional tests
_libc = None


def _libc_call(name, *args):
    """Call a libc function that returns 0 on success (unshare, mount, prctl, capset, setrlimit); raise
    OSError otherwise. Arguments: ints, bytes (as a pointer) or None (NULL). Uses _ctypes directly, as
    ctypes.CDLL does: importing the ctypes package would cost ~2 ms, a fifth of the interpreter's start-up."""
    global _libc
    import _ctypes
    if _libc is None:
        class CInt(_ctypes._SimpleCData):
            _type_ = "i"

        class Function(_ctypes.CFuncPtr):
            _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
            _restype_ = CInt

        class Libc:
            _handle = _ctypes.dlopen(None, _ctypes.RTLD_LOCAL)

        _libc = (Function, Libc, {})
    function_type, library, functions = _libc
    if name not in functions:
        functions[name] = function_type((name, library))
    if functions[name](*args) != 0:
        err = _ctypes.get_errno()
        raise OSError(err, f"{name}{args}: {posix.strerror(err)}")


def _native(*values, size=4):
    """Unsigned ints packed as a C struct of them (size 4: uint32, size 8: unsigned long on 64-bit)."""
    return b"".join(v.to_bytes(size, sys.byteorder) for v in values)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[posix.write(fd, view):]


def main():
    job = _read_job()
    mode = _isolate(job)
    workdir = _make_workdir(job, mode)
    _write_all(1, f"mode {mode} {workdir}\n".encode())
    if mode != "namespaces":
        # Orphans of the program are reparented to us instead of the system's init, so we can reap them and
        # know when they are all gone.
        _libc_call("prctl", PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    pid = posix.fork()
    if pid == 0:
        _p1_main(job, mode)  # never returns
    _supervise(pid, job, mode)


def _read_job():
    data = bytearray()
    while b"\n" not in data:
        chunk = posix.read(0, 1 << 16)
        if not chunk:
            raise SystemExit("sandbox harness: no job on stdin")
        data += chunk
    header, _, data = bytes(data).partition(b"\n")
    size, data = int(header), bytearray(data)
    while len(data) < size:
        chunk = posix.read(0, min(1 << 20, size - len(data)))
        if not chunk:
            raise SystemExit("sandbox harness: truncated job")
        data += chunk
    return marshal.loads(bytes(data))


# ---------------------------------------------------------------- P0: isolation and supervision

def _isolate(job):
    """Enter the strongest isolation this process may create; returns its name (see sandbox.py)."""
    if posix.geteuid() != 0:
        return "none"
    if job["isolation"] == "uid":
        return "uid"
    try:
        _libc_call("unshare", CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWNS)
    except OSError as e:
        if job["isolation"] == "namespaces":
            raise
        print(f"sandbox: no namespaces ({e}); falling back to uid isolation", file=sys.stderr)
        return "uid"
    _hide_directories(job["hide"])
    for path in job["private_tmp"]:  # fresh, size-limited and gone with the namespace
        if _is_dir(path):
            options = b"size=%d,mode=1777" % job["private_tmp_bytes"]
            _libc_call("mount", b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options)
    return "namespaces"


def _make_workdir(job, mode):
    """A fresh directory only the program's uid may use; it becomes the cwd, HOME and TMPDIR of everything
    below. In namespace mode it lies on the private tmpfs (nothing to remove); otherwise the caller removes it."""
    workdir = f"{job['tmp_root'].rstrip('/')}/sandbox-{posix.urandom(6).hex()}"
    posix.mkdir(workdir, 0o700)
    if mode != "none":
        posix.chown(workdir, job["uid"], job["uid"])
    posix.chdir(workdir)
    for name in (b"HOME", b"TMPDIR"):  # for the C environment and for os.environ once the program imports os
        posix.putenv(name, workdir.encode())
        posix.environ[name] = workdir.encode()
    return workdir


def _hide_directories(hide):
    """Cover each directory in `hide` with an empty read-only-for-others tmpfs, then mount back the
    paths under it that the program needs (the interpreter, site-packages).

    Needed because the program runs as an unprivileged uid: an interpreter under a private home (/root here)
    would be unreadable, and everything else in such a directory should stay invisible anyway."""
    # Private propagation first: without it these mounts would leak into the caller's mount namespace.
    _libc_call("mount", None, b"/", None, MS_REC | MS_PRIVATE, None)
    for top, keep in hide:
        fds = [posix.open(p, posix.O_PATH | posix.O_DIRECTORY) for p in keep]  # still reachable once covered
        _libc_call("mount", b"tmpfs", top.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"size=1m,mode=755")
        for path, fd in zip(keep, fds):
            _make_dirs(path)
            _libc_call("mount", f"/proc/self/fd/{fd}".encode(), path.encode(), None, MS_BIND | MS_REC, None)
            posix.close(fd)


def _is_dir(path):
    try:
        return posix.stat(path).st_mode & 0o170000 == 0o040000
    except OSError:
        return False


def _make_dirs(path):
    parts = path.strip("/").split("/")
    for n in range(1, len(parts) + 1):
        try:
            posix.mkdir("/" + "/".join(parts[:n]), 0o755)
        except FileExistsError:
            pass


def _supervise(pid, job, mode):
    """P0: wait until P1 exits, or kill it when the caller closes our stdin; then clean up and exit."""
    pidfd = posix.pidfd_open(pid)
    watch = [0, pidfd]
    while True:
        ready, _, _ = select.select(watch, [], [])
        if pidfd in ready:
            break
        if not posix.read(0, 1 << 16):  # EOF: the caller has what it needs, gave up, or died
            posix.kill(pid, SIGKILL)    # P1 is our unreaped child, so this pid cannot have been reused
            watch = [pidfd]
    posix.waitpid(pid, 0)
    # In namespace mode P1's death already killed everything in its PID namespace (the kernel does that
    # before P1 becomes a zombie). Otherwise orphans were reparented to us (subreaper) and we kill them.
    if mode != "namespaces":
        _kill_and_reap(mode, job["uid"], root=posix.getpid())
    # "done" tells the caller that nothing of the program is left. Our own exit then tears down the
    # namespaces (a mount namespace waits for an RCU grace period, several ms): the caller need not wait.
    try:
        _write_all(1, job["done"])
    except BrokenPipeError:  # the caller did not wait: it knew from P1's last record
        pass
    posix._exit(0)


def _kill_all(mode, uid, root):
    """SIGKILL every process the program started (does not reap)."""
    if mode == "namespaces":
        if posix.getpid() == 1:  # never broadcast outside our own PID namespace
            try:
                posix.kill(-1, SIGKILL)  # from PID 1: every other process in the namespace
            except ProcessLookupError:
                pass
    elif mode == "uid":
        # A helper that becomes the job's uid and broadcasts SIGKILL reaches exactly the processes of that
        # uid, wherever they are in the process tree, without scanning /proc.
        helper = posix.fork()
        if helper == 0:
            try:
                posix.setresuid(uid, uid, uid)
                posix.kill(-1, SIGKILL)
            finally:
                posix._exit(0)
        posix.waitpid(helper, 0)
    else:
        for pid in _descendants(root):
            try:
                posix.kill(pid, SIGKILL)
            except ProcessLookupError:
                pass


def _descendants(root):
    """Pids of all descendants of `root`, from /proc (used only without namespaces and without root)."""
    children = {}
    for name in posix.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(name))
    found, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            found.append(child)
            stack.append(child)
    return found


def _kill_and_reap(mode, uid, root, patience_s=5.0):
    """Kill and reap until we have no children left. As PID 1 or as a subreaper every process the program
    started is our descendant, and a descendant whose parent died becomes our child: so no children
    left means nothing left."""
    give_up = time.monotonic() + patience_s
    while time.monotonic() < give_up:
        _kill_all(mode, uid, root)
        try:
            while posix.waitpid(-1, posix.WNOHANG)[0]:
                pass
        except ChildProcessError:
            return
        time.sleep(0.001)


# ---------------------------------------------------------------- P1: one test after another

def _p1_main(job, mode):
    try:
        _libc_call("prctl", PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)  # if P0 dies, so do we
        if mode == "namespaces":
            # A /proc of our own PID namespace: the program sees only its own processes.
            _libc_call("mount", b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
        _run_all(job, mode)
    except BaseException:
        sys.excepthook(*sys.exc_info())  # a harness bug: ends up in the verdict's stderr_tail
        sys.stderr.flush()
        posix._exit(70)
    posix._exit(0)


def _run_all(job, mode):
    global json
    if any(kind == "functional" for kind, _ in job["tests"]):
        import json
    sys.path.extend(job["site_dirs"])  # -S left site-packages out; the program may import numpy etc.
    sys.set_int_max_str_digits(0)      # LiveCodeBench ran on Pythons without this limit
    if not hasattr(builtins, "exit"):  # -S also leaves out site's exit() and quit()
        builtins.exit = builtins.quit = sys.exit
    try:
        code = compile(job["code"], "<solution>", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError) as e:
        _write_record(0, "syntax_error", 1, b"", f"{type(e).__name__}: {e}".encode())
        return
    prelude = compile(job["prelude"], "<prelude>", "exec") if job["prelude"] else None
    for name in job["prelude_modules"]:  # import once here, not once per test
        __import__(name)
    for index, (kind, text) in enumerate(job["tests"]):
        status, exit_code, out, err = _run_test(job, mode, kind, text, code, prelude)
        _write_record(index, status, exit_code, out, err)
        if status != "ok" and job["stop_on_failure"]:
            return


def _write_record(index, status, exit_code, out, err):
    _write_all(1, b"%d %s %d %d %d\n" % (index, status.encode(), exit_code, len(out), len(err)) + out + err)


def _stdin_fd(text):
    """A read-only fd holding exactly `text`: the test's stdin, seekable like a redirected file."""
    fd = posix.memfd_create("stdin")
    _write_all(fd, text.encode())
    read_only = posix.open(f"/proc/self/fd/{fd}", posix.O_RDONLY)  # a fresh open file description at offset 0
    posix.close(fd)
    return read_only


def _run_test(job, mode, kind, text, code, prelude):
    """Fork T for one test and supervise it; returns (status, exit code, out, stderr tail)."""
    args = [json.loads(line) for line in text.strip().split("\n")] if kind == "functional" and text.strip() else []
    test_code = compile(text, "<test>", "exec") if kind == "assert" else None
    prelude = prelude if kind != "assert" else None  # HumanEval/MBPP programs run exactly as written
    stdin = _stdin_fd(text if kind == "stdin" else "")
    out_r, out_w = posix.pipe()
    err_r, err_w = posix.pipe()
    event_r, event_w = posix.pipe()
    with open("/proc/self/statm", "rb") as f:  # the program's memory limit is on top of what we use now
        base_vm = int(f.read().split()[0]) * posix.sysconf("SC_PAGE_SIZE")
    pid = posix.fork()
    if pid == 0:
        _child(job, mode, stdin, out_w, err_w, event_w, base_vm)
        _run_candidate(kind, code, prelude, test_code, args, job["func_name"])  # never returns
    for fd in (stdin, out_w, err_w, event_w):
        posix.close(fd)
    try:
        exit_code, reason, out, err, event = _collect(job, mode, pid, out_r, err_r, event_r)
    finally:
        for fd in (out_r, err_r, event_r):
            posix.close(fd)
    status = _classify(kind, exit_code, reason, event)
    if status != "ok":
        out = b""  # only a finished run's output is graded; a flood stays here
    elif kind == "functional":
        out = event[1:]
    if exit_code == EXIT_SETUP_FAILED:
        err += b"\n[sandbox] could not set up the test process"
    return status, exit_code, bytes(out), bytes(err)


def _collect(job, mode, pid, out_r, err_r, event_r):
    """Read T's stdout, stderr and event pipes until T and everything it started are gone, killing them at
    the wall-clock deadline or as soon as an output cap is passed (so a flood never piles up in memory).
    Returns (exit code, why we killed it or None, stdout, stderr tail, event bytes)."""
    limit, tail = job["output_limit"], job["stderr_tail"]
    deadline = time.monotonic() + job["timeout_s"]
    out, err, event = bytearray(), bytearray(), bytearray()
    buffers = {out_r: out, err_r: err, event_r: event}
    open_fds = set(buffers)
    n_err, exit_code, reason = 0, None, None
    pidfd = posix.pidfd_open(pid)
    try:
        while exit_code is None or open_fds:
            running = exit_code is None and reason is None
            watch = list(open_fds) + ([pidfd] if exit_code is None else [])
            ready, _, _ = select.select(watch, [], [], max(0.0, deadline - time.monotonic()) if running else 5.0)
            if not ready:
                if not running:  # everything was killed, yet a pipe never closed: stop waiting
                    break
                reason = "timeout"
                _kill_all(mode, job["uid"], posix.getpid())
                continue
            for fd in ready:
                if fd == pidfd:  # T is done: reap it, then kill what it left behind so the pipes close
                    exit_code = posix.waitstatus_to_exitcode(posix.waitpid(pid, 0)[1])
                    _kill_all(mode, job["uid"], posix.getpid())
                    continue
                data = posix.read(fd, 1 << 16)
                if not data:
                    open_fds.discard(fd)
                elif reason is None:  # once killed we only drain
                    buffers[fd] += data
                    if fd == err_r:
                        n_err += len(data)
                        del err[:max(0, len(err) - tail)]
                    if len(out) > limit or n_err > limit or len(event) > limit + 1:
                        reason = "output_limit"
                        _kill_all(mode, job["uid"], posix.getpid())
    finally:
        posix.close(pidfd)
    if exit_code is None:
        exit_code = posix.waitstatus_to_exitcode(posix.waitpid(pid, 0)[1])
    _kill_and_reap(mode, job["uid"], posix.getpid())
    return exit_code, reason, out, err, bytes(event)


def _classify(kind, exit_code, reason, event):
    """Status of one test from how T ended; whether the output is right is decided by the caller."""
    if reason is not None:
        return reason
    if event[:1] == b"M":
        return "memory_exceeded"
    if exit_code == -SIGXCPU:  # the CPU-time rlimit
        return "timeout"
    if exit_code != 0:
        return "runtime_error"
    if kind == "functional":  # must have returned a value: exiting early is not an answer
        return {b"R": "ok", b"U": "wrong_answer"}.get(event[:1], "runtime_error")
    if kind == "assert":      # the test program must have run to its end
        return "ok" if event == b"D" else "runtime_error"
    return "ok"


# ---------------------------------------------------------------- T: the test process

def _child(job, mode, stdin, out_w, err_w, event_w, base_vm):
    """Turn this fork of P1 into the sandboxed test process; exits with EXIT_SETUP_FAILED on any error."""
    try:
        posix.setsid()
        for fd, target in ((stdin, 0), (out_w, 1), (err_w, 2), (event_w, 3)):
            posix.dup2(fd, target)
        posix.closerange(4, 1 << 20)  # nothing of P1's (its job, its record pipe) stays reachable
        _set_limits(job, mode, base_vm)
        if mode != "namespaces":
            _block_sockets()  # before the uid drop: _socket may not be importable afterwards
        if mode != "none":
            _drop_to_uid(job["uid"], keep_read_access=mode == "uid" and job["interpreter_private"])
        _libc_call("prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)  # setuid binaries cannot give root back
        sys.stdin = sys.__stdin__ = open(0, "r", encoding="utf-8", closefd=False)
        sys.stdout = sys.__stdout__ = open(1, "w", encoding="utf-8", closefd=False)
        sys.stderr = sys.__stderr__ = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False,
                                           buffering=1)
    except BaseException:
        try:
            sys.excepthook(*sys.exc_info())
            sys.stderr.flush()
        finally:
            posix._exit(EXIT_SETUP_FAILED)


def _set_limits(job, mode, base_vm):
    cpu_s = int(job["timeout_s"]) + 2  # a backstop: the wall clock in _collect normally fires first
    max_procs = job["max_processes"]
    if mode == "none":  # RLIMIT_NPROC counts every process of the uid, and here that is the caller's uid
        max_procs += sum(1 for name in posix.listdir("/proc") if name.isdigit())
    for limit, value in ((RLIMIT_AS, base_vm + job["memory_bytes"]),
                         (RLIMIT_CPU, cpu_s),
                         (RLIMIT_FSIZE, job["file_size_limit"]),
                         (RLIMIT_NPROC, max_procs),
                         (RLIMIT_CORE, 0)):
        hard = value + 1 if limit == RLIMIT_CPU else value  # SIGXCPU first, then SIGKILL
        _libc_call("setrlimit", limit, _native(value, hard, size=8))


def _drop_to_uid(uid, keep_read_access):
    """Become the job's unprivileged uid. keep_read_access keeps CAP_DAC_READ_SEARCH (read any file) for
    uid mode on machines whose interpreter other users cannot read (namespace mode mounts it instead)."""
    if keep_read_access:
        _libc_call("prctl", PR_SET_KEEPCAPS, 1, 0, 0, 0)
    posix.setgroups([])
    posix.setresgid(uid, uid, uid)
    posix.setresuid(uid, uid, uid)
    if keep_read_access:
        read_search = 1 << CAP_DAC_READ_SEARCH  # struct __user_cap_header_struct, then 2 x __user_cap_data_struct
        header = _native(_LINUX_CAPABILITY_VERSION_3, 0)
        data = _native(read_search, read_search, 0, 0, 0, 0)  # effective, permitted, inheritable
        _libc_call("capset", header, data)


def _block_sockets():
    """Fallback when there is no network namespace: refuse to create sockets in this interpreter."""
    import _socket

    class NoNetwork(_socket.socket):
        __slots__ = ()  # socket.socket adds its own slots, __weakref__ among them

        def __init__(self, *args, **kwargs):
            raise PermissionError(errno.EACCES, "network access is disabled in the sandbox")

    _socket.socket = _socket.SocketType = NoNetwork  # socket.socket subclasses this when first imported
    sys.modules.pop("socket", None)


def _run_candidate(kind, code, prelude, test_code, args, func_name):
    """Run the candidate in a fresh namespace, report how it ended on fd 3, and exit. Never returns."""
    namespace = {"__name__": "__main__" if kind == "stdin" else "solution", "__builtins__": builtins}
    gc.enable()
    try:
        if kind != "assert":
            sys.setrecursionlimit(50000)  # as LiveCodeBench's prelude does
        if prelude is not None:
            exec(prelude, namespace)
        exec(code, namespace)
        if kind == "functional":
            _finish(_call_function(namespace, func_name, args))
        elif kind == "assert":
            exec(test_code, namespace)
        _finish(b"D")
    except SystemExit:
        # LiveCodeBench grades a stdin program that calls exit() on what it printed until then; anywhere
        # else exiting means the function never returned or the test program never finished.
        if kind == "stdin":
            _finish(b"D")
        _flush_and_exit(0)
    except MemoryError:
        _write_all(3, b"M")
        posix._exit(1)
    except BaseException:
        sys.excepthook(*sys.exc_info())
        _flush_and_exit(1)


def _call_function(namespace, func_name, args):
    """LiveCodeBench's functional call: Solution().<func_name>(*args) if the code defines class Solution,
    else the top-level function. The value goes back as JSON, which also turns tuples into lists."""
    solution = namespace.get("Solution")
    function = getattr(solution(), func_name) if isinstance(solution, type) else namespace[func_name]
    value = function(*args)
    try:
        return b"R" + json.dumps(value).encode()
    except (TypeError, ValueError, RecursionError):
        return b"U"


def _finish(event):
    """Normal end: wait for non-daemon threads as the interpreter would, flush, report `event`, exit 0."""
    try:
        threading = sys.modules.get("threading")
        if threading is not None:
            for thread in threading.enumerate():
                if thread is not threading.current_thread() and not thread.daemon:
                    thread.join()
        sys.stdout.flush()
        _write_all(3, event)
    except MemoryError:
        _write_all(3, b"M")
        posix._exit(1)
    except BaseException:
        sys.excepthook(*sys.exc_info())
        _flush_and_exit(1)
    _flush_and_exit(0)


def _flush_and_exit(code):
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    posix._exit(code)


if __name__ == "__main__":
    main()
