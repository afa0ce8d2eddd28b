"""sandbox.py: LiveCodeBench grading, a verdict the program cannot forge, and the threat model line by line.

A test marked @covers(line) proves that line of sandbox.THREAT_MODEL: it runs once in every isolation mode this
user can have that claims the line (as root "namespaces" and "uid", as a normal user "userns" and "portable").
As root, test_sandbox_tests_pass_as_a_normal_user runs this file again as a throwaway unprivileged user, so
one run of the suite proves every line in every mode that claims it.

Hostile programs that try to outlive the sandbox leave a process whose command line holds a random token; the
tests look for it in /proc, which lists the processes of every PID namespace."""
import errno
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import sandbox
import sandbox_asserts
import sandbox_process

ROOT = Path(sandbox.__file__).resolve().parent
AS_ROOT = os.geteuid() == 0


def stdin_test(inp="", out=""):
    return {"input": inp, "output": out, "testtype": "stdin"}


def functional(inputs, output):
    return {"input": "\n".join(inputs), "output": output, "testtype": "functional"}


def assert_test(text):
    return {"input": text, "output": "", "testtype": "assert"}


def run(code, inp="", out="", **options):
    return sandbox.run_tests(code, [stdin_test(inp, out)], **options)


def output_of(code, inp="", **options):
    """The program's stdout on one stdin input (None if it failed)."""
    return sandbox.run_outputs(code, [inp], testtype="stdin", **options)[0]


def rss_mb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def token():
    return "sbxtoken" + os.urandom(8).hex()


def survivors(mark):
    """Pids of processes whose command line holds `mark`."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    if mark.encode() in f.read():
                        found.append(int(name))
            except OSError:
                pass
    return found


def next_program_runs():
    return run("print(6 * 7)", out="42").passed


# ------------------------------------------------------------------------------------------------ modes

def _modes_here():
    """The isolation modes this user can have, strongest first."""
    modes = []
    for mode in ("namespaces", "uid") if AS_ROOT else ("userns", "portable"):
        sandbox.ISOLATION = mode
        try:
            if run("print(1)", out="1").passed:
                modes.append(mode)
        except sandbox.IsolationError:
            pass
        finally:
            sandbox.ISOLATION = "auto"
    sandbox._last_mode = None
    return modes


MODES_HERE = _modes_here()


def covers(line):
    """This test proves `line` of the threat model: it runs in every mode here that claims it."""
    assert line in sandbox.THREAT_MODEL, line
    return pytest.mark.covers(line)


def pytest_generate_tests(metafunc):
    marker = metafunc.definition.get_closest_marker("covers")
    if marker is not None:
        assert "mode" in metafunc.fixturenames, f"{metafunc.function.__name__}: a @covers test takes `mode`"
        line = marker.args[0]
        modes = [m for m in MODES_HERE if m in sandbox.THREAT_MODEL[line]]
        metafunc.parametrize("mode", modes or [pytest.param(None, marks=pytest.mark.skip(
            reason=f"no isolation mode of this user ({', '.join(MODES_HERE)}) claims {line!r}"))], indirect=True)


@pytest.fixture
def mode(request, monkeypatch):
    monkeypatch.setattr(sandbox, "ISOLATION", request.param)
    return request.param


def test_every_threat_model_line_has_tests_and_a_description():
    tests = [f for name, f in globals().items() if name.startswith("test_") and hasattr(f, "pytestmark")]
    covered = {m.args[0] for f in tests for m in f.pytestmark if m.name == "covers"}
    assert covered == set(sandbox.THREAT_MODEL)
    for line in sandbox.THREAT_MODEL:
        assert f"\n- {line}: " in sandbox.__doc__, f"{line} has no description in sandbox.py's docstring"
    assert all(modes for modes in sandbox.THREAT_MODEL.values())


def test_modes_here_are_the_strongest_first_and_the_default_is_the_strongest(monkeypatch):
    assert MODES_HERE, "no isolation mode works here"
    monkeypatch.setattr(sandbox, "_last_mode", None)  # isolation() reports the last run's mode
    assert sandbox.isolation() == MODES_HERE[0]
    assert sandbox.network_protection() == ("netns" if MODES_HERE[0] in ("namespaces", "userns") else "socket-block")


def test_a_mode_this_user_cannot_have_is_refused_with_a_clear_error(monkeypatch):
    monkeypatch.setattr(sandbox, "ISOLATION", "userns" if AS_ROOT else "uid")
    with pytest.raises(sandbox.IsolationError, match="not available to"):
        run("print(1)", out="1")
    with pytest.raises(sandbox.IsolationError):  # run_many raises it rather than failing every job
        sandbox.run_many([{"code": "print(1)", "tests": [stdin_test("", "1")]}] * 2)


def test_minimum_isolation_refuses_to_run_below_it(monkeypatch):
    weakest = MODES_HERE[-1]
    monkeypatch.setattr(sandbox, "ISOLATION", weakest)
    stronger = sandbox.MODES[sandbox.MODES.index(weakest) + 1]
    monkeypatch.setattr(sandbox, "MIN_ISOLATION", stronger)
    with pytest.raises(sandbox.IsolationError, match=f"below the required '{stronger}'"):
        run("print(1)", out="1")
    monkeypatch.setattr(sandbox, "MIN_ISOLATION", weakest)
    assert run("print(1)", out="1").passed


def test_require_isolation_exits_with_one_line(monkeypatch):
    monkeypatch.setattr(sandbox, "MIN_ISOLATION", sandbox.MIN_ISOLATION)  # restored afterwards
    monkeypatch.delenv("SANDBOX_MIN_ISOLATION", raising=False)
    monkeypatch.setattr(sandbox, "_last_mode", None)
    assert sandbox.require_isolation(None) is None  # nothing asked for: no check
    assert sandbox.require_isolation(MODES_HERE[-1]) == MODES_HERE[0]
    with pytest.raises(sandbox.UserError, match="unknown sandbox isolation 'strong'"):
        sandbox.require_isolation("strong")
    monkeypatch.setattr(sandbox, "ISOLATION", MODES_HERE[-1])
    monkeypatch.setattr(sandbox, "_last_mode", None)
    monkeypatch.setenv("SANDBOX_MIN_ISOLATION", "namespaces")
    with pytest.raises(sandbox.UserError) as error:  # the CLIs print it as one line, exit status 2
        sandbox.require_isolation()
    message = str(error.value)
    assert "below the required 'namespaces'" in message and "\n" not in message


# ------------------------------------------------------------------------------------------------ stdin grading

def test_stdin_correct_program_passes():
    verdict = run("n = int(input())\nprint(n * 2)", "21\n", "42\n")
    assert (verdict.passed, verdict.status, verdict.first_failure, verdict.outcomes) == (True, "passed", None,
                                                                                         ["passed"])
    assert verdict.n_passed == 1 and verdict.wall_s > 0


def test_grading_stops_at_first_failure():
    tests = [stdin_test("1", "2"), stdin_test("2", "5"), stdin_test("3", "6")]
    verdict = sandbox.run_tests("print(int(input()) * 2)", tests)
    assert (verdict.passed, verdict.status, verdict.first_failure) == (False, "wrong_answer", 1)
    assert verdict.outcomes == ["passed", "wrong_answer"] and verdict.n_passed == 1


def test_stdin_comparison_strips_lines_and_compares_decimals_exactly():
    assert run("print('  1 2  ')\nprint('3')\n\n", out="1 2\n3").passed
    assert run("print('1.50 2')", out="1.5 2.000").passed          # the same decimals
    assert not run("print('0.3333')", out="0.33333").passed        # no tolerance, as in LiveCodeBench
    assert not run("print('1\\n2')", out="1 2").passed              # line structure matters
    assert not run("print('abc')", out="abd").passed


def test_stdin_comparison_function_matches_livecodebench_cases():
    assert sandbox.stdout_matches("1e2\n", "100")                  # Decimal("1e2") == Decimal("100")
    assert not sandbox.stdout_matches("nan", "NaN")                # NaN is never equal
    assert not sandbox.stdout_matches("1 2 3", "1 2")


def test_program_that_exits_early_without_output_fails():
    assert run("import sys\nsys.exit(0)\nprint(42)", out="42").status == "wrong_answer"
    assert run("import os\nos._exit(0)", out="42").status == "wrong_answer"


def test_exit_after_printing_is_graded_on_the_output_as_in_livecodebench():
    assert run("print(42)\nexit()", out="42").passed
    assert run("print(42)\nimport sys\nsys.exit(3)", out="42").passed


def test_syntax_runtime_and_no_code_statuses():
    syntax = run("def f(:\n  pass", out="1")
    assert (syntax.status, syntax.first_failure, syntax.outcomes) == ("syntax_error", 0, ["syntax_error"])
    crash = run("raise ValueError('boom')", out="1")
    assert crash.status == "runtime_error" and "ValueError: boom" in crash.stderr_tail
    assert run("import os\nos._exit(3)", out="").status == "runtime_error"
    for code in (None, "", "  \n"):
        verdict = run(code, out="1")
        assert (verdict.passed, verdict.status, verdict.outcomes) == (False, "no_code", [])


def test_threaded_main_is_waited_for():
    code = "import threading\nthreading.stack_size(1 << 26)\nthreading.Thread(target=lambda: print(7)).start()"
    assert run(code, out="7").passed


def test_deep_recursion_works_as_under_livecodebench_prelude():
    code = "def depth(n):\n    return 0 if n == 0 else 1 + depth(n - 1)\nprint(depth(20000))"
    assert run(code, out="20000").passed


def test_each_program_draws_its_own_random_numbers():
    """The zygote imported random for the prelude; a fork must not inherit its state."""
    code = "import random\nprint(random.random())"
    assert len({output_of(code) for _ in range(3)}) == 3


# ------------------------------------------------------------------------------------------------ functional and assert

def test_functional_top_level_function():
    code = "def add(a, b):\n    return a + b"
    assert sandbox.run_tests(code, [functional(["1", "2"], "3")], func_name="add").passed
    assert sandbox.run_tests(code, [functional(["1", "2"], "4")], func_name="add").status == "wrong_answer"


def test_functional_solution_class_and_prelude_names_without_imports():
    code = ("class Solution:\n"
            "    def twoSum(self, nums: List[int], target: int) -> List[int]:\n"
            "        seen = defaultdict(int)\n"
            "        for i, x in enumerate(nums):\n"
            "            if target - x in seen:\n"
            "                return [seen[target - x], i]\n"
            "            seen[x] = i\n")
    tests = [functional(["[2, 7, 11, 15]", "9"], "[0, 1]"), functional(["[3, 2, 4]", "6"], "[1, 2]")]
    verdict = sandbox.run_tests(code, tests, func_name="twoSum")
    assert verdict.passed, verdict


def test_functional_tuples_compare_as_lists_and_numbers_by_value():
    code = "def f(x):\n    return (x, (x, 1.0))"
    assert sandbox.run_tests(code, [functional(["2"], "[2, [2, 1]]")], func_name="f").passed


def test_functional_unserialisable_return_is_wrong_answer():
    code = "def f():\n    return {1, 2}"
    assert sandbox.run_tests(code, [functional([], "[1, 2]")], func_name="f").status == "wrong_answer"


def test_functional_that_exits_instead_of_returning_fails():
    for body in ("import os; os._exit(0)", "raise SystemExit(0)"):
        verdict = sandbox.run_tests(f"def f(x):\n    {body}", [functional(["1"], "1")], func_name="f")
        assert verdict.status == "runtime_error", body


def test_assert_tests_pass_on_every_assertion_and_fail_as_wrong_answer():
    code = "def inc(x):\n    return x + 1"
    good = assert_test("assert inc(1) == 2\nassert inc(-1) == 0")
    bad = assert_test("assert inc(1) == 3")
    assert sandbox.run_tests(code, [good]).passed
    verdict = sandbox.run_tests(code, [good, bad])
    assert (verdict.status, verdict.first_failure) == ("wrong_answer", 1)
    assert "assert inc(1) == 3" in verdict.stderr_tail and "returned 2" in verdict.stderr_tail


def test_humaneval_style_check_with_tolerance_loops_and_helpers():
    code = ("def encode(s):\n    return s[::-1]\n"
            "def decode(s):\n    return s[::-1]\n"
            "def mean(xs):\n    return sum(xs) / len(xs)\n")
    test = assert_test("import math\nimport random\n"
                       "def check(candidate):\n"
                       "    assert abs(candidate([1.0, 2.0, 4.0]) - 7 / 3) < 1e-6\n"
                       "    assert math.isclose(candidate([0.1, 0.2]), 0.15)\n"
                       "    for _ in range(5):\n"
                       "        s = ''.join(random.choice('abc') for _ in range(8))\n"
                       "        assert decode(encode(s)) == s\n"
                       "check(mean)\n")
    assert sandbox.run_tests(code, [test]).passed
    assert sandbox.run_tests(code.replace("len(xs)", "(len(xs) + 1)"), [test]).status == "wrong_answer"


def test_mbpp_style_asserts_with_and_sets_and_tolerances():
    code = "def squares(n):\n    return [i * i for i in range(n)]\ndef half(x):\n    return x / 2"
    test = assert_test("import math\n"
                       "assert squares(3) == [0, 1, 4] and squares(0) == []\n"
                       "assert set(squares(4)) == {9, 4, 1, 0}\n"
                       "assert math.isclose(half(1), 0.5, rel_tol=1e-9)\n"
                       "assert not squares(0) and len(squares(2)) == 2\n")
    assert sandbox._assert_plan(test["input"]) is not None
    assert sandbox.run_tests(code, [test]).passed
    assert sandbox.run_tests(code.replace("i * i", "i + i"), [test]).status == "wrong_answer"


def test_assert_candidate_that_exits_before_the_test_runs_fails():
    test = assert_test("def check(candidate):\n    assert candidate() is None\ncheck(f)")
    for code in ("import os\nos._exit(0)", "raise SystemExit(0)", "import sys\nsys.exit()",
                 "def f():\n    import os\n    os._exit(0)"):
        assert sandbox.run_tests(code, [test]).status == "runtime_error", code


def test_an_assert_test_the_interpreter_cannot_express_runs_as_written():
    text = "class Box:\n    pass\nassert f() == 1"
    with pytest.raises(sandbox_asserts.Unsupported):
        sandbox_asserts.plan(text)
    assert sandbox.run_tests("def f():\n    return 1", [assert_test(text)]).passed
    verdict = sandbox.run_tests("def f():\n    return 2", [assert_test(text)])
    assert verdict.status == "runtime_error" and "AssertionError" in verdict.stderr_tail


def test_expected_outputs_never_reach_the_program():
    """Grading happens in the caller: the expected output is nowhere in the program's memory or environment.
    The probe looks for anything shaped like the token; fed the token as input, it does find it."""
    secret = "leak" + os.urandom(16).hex()
    probe = ("import gc, os, re, sys\n"
             "shape = re.compile('lea' + 'k[0-9a-f]{32}')\n"
             "blob = sys.stdin.read() + repr([o for o in gc.get_objects() if isinstance(o, (dict, list, tuple))])\n"
             "blob += repr(dict(os.environ)) + open('/proc/self/cmdline').read()\n"
             "sys.stderr.write('found' if shape.search(blob) else 'clean')\n")
    verdict = run(probe, out=secret)
    assert verdict.status == "wrong_answer" and verdict.stderr_tail == "clean"
    assert run(probe, inp=secret, out=secret).stderr_tail == "found"
    verdict = sandbox.run_tests(probe + "def f():\n    return 0", [assert_test(f"assert f() == {secret!r}")])
    assert verdict.status == "wrong_answer" and verdict.stderr_tail.startswith("clean")


# ------------------------------------------------------------------------------------------------ malformed tests

@pytest.fixture
def nothing_may_run(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a program was started for malformed tests")
    monkeypatch.setattr(sandbox_process, "start_harness", refuse)


@pytest.mark.parametrize("tests, func_name, field", [
    ([{"output": "1", "testtype": "stdin"}], None, "tests[0]['input']"),
    ([stdin_test("1", "1"), {"input": "1", "testtype": "stdin"}], None, "tests[1]['output']"),
    ([{"input": "1", "output": "1"}], None, "tests[0]['testtype']"),
    ([{"input": "1", "output": "1", "testtype": "interactive"}], None, "tests[0]['testtype']"),
    ([functional(["[1, 2", "3"], "1")], "f", "tests[0]['input']"),
    ([functional(["1"], "not json")], "f", "tests[0]['output']"),
    ([functional(["1"], "1")], None, "func_name"),
    ([assert_test("assert (")], None, "tests[0]['input']"),
    ([], None, "tests"),
    ("print(1)", None, "tests"),
])
def test_malformed_tests_raise_before_anything_runs(nothing_may_run, tests, func_name, field):
    with pytest.raises(ValueError) as error:
        sandbox.run_tests("print(1)", tests, func_name=func_name)
    assert str(error.value).startswith(field)


def test_malformed_job_in_run_many_raises_before_anything_runs(nothing_may_run):
    jobs = [{"code": "print(1)", "tests": [stdin_test("", "1")]}, {"code": "print(1)", "tests": [{"input": ""}]}]
    with pytest.raises(ValueError, match=r"jobs\[1\]: tests\[0\]\['testtype'\]"):
        sandbox.run_many(jobs)


# ------------------------------------------------------------------------------------------------ processes

@covers("processes")
def test_fork_bomb_is_contained_and_gone(mode):
    mark = token()
    code = ("import os, time\n"
            "end = time.time() + 0.5\n"
            "while time.time() < end:\n"
            "    try:\n        os.fork()\n    except OSError:\n        pass\n"
            f"os.execv('/bin/sh', ['sh', '-c', 'sleep 3; : {mark}'])\n")
    verdict = run(code, timeout_s=0.3)
    assert verdict.status == "timeout" and survivors(mark) == []
    time.sleep(0.6)  # past the bomb's own end: a survivor would now sleep with the token in its command line
    assert survivors(mark) == [] and next_program_runs()


@covers("processes")
def test_flood_of_child_processes_is_gone_when_the_verdict_returns(mode):
    mark = token()
    code = ("import subprocess\nstarted = 0\n"
            "for i in range(200):\n"
            "    try:\n"
            f"        subprocess.Popen(['/bin/sh', '-c', 'sleep 5; : {mark}'])\n"
            "        started += 1\n"
            "    except OSError:\n        break\n"
            "print(started)")
    start = time.monotonic()
    out = output_of(code)
    assert out is not None and 10 <= int(out) <= sandbox.MAX_PROCESSES + 200
    assert survivors(mark) == [] and time.monotonic() - start < 4.0  # killed, not waited for


@covers("processes")
def test_orphan_that_double_forks_and_calls_setsid_is_killed(mode):
    """The orphan lets go of the test's pipes, so nothing waits for it: only a kill ends it early."""
    mark = token()
    orphan = ("if os.fork() == 0:\n"
              "    os.setsid()\n"
              "    if os.fork() == 0:\n"
              "        null = os.open('/dev/null', os.O_RDWR)\n"
              "        for fd in (0, 1, 2):\n            os.dup2(null, fd)\n"
              "        os.closerange(3, 1024)\n"
              f"        os.execv('/bin/sh', ['sh', '-c', 'sleep 3; : {mark}'])\n"
              "    os._exit(0)\n"
              "time.sleep(0.2)\n")
    verdict = run("import os, time\n" + orphan + "print('parent done')", out="parent done")
    assert verdict.passed and survivors(mark) == [] and verdict.wall_s < 2.0
    # ... and gone before the program's next test starts
    code = ("import os, time\n"
            "if input() == '1':\n" + "".join("    " + line + "\n" for line in orphan.splitlines()) +
            "    print('left one')\n"
            "else:\n"
            "    alive = False\n"
            "    for pid in filter(str.isdigit, os.listdir('/proc')):\n"
            "        try:\n"
            f"            alive |= b'{mark}' in open(f'/proc/{{pid}}/cmdline', 'rb').read()\n"
            "        except OSError:\n"
            "            pass\n"
            "    print('alive' if alive else 'gone')")
    verdict = sandbox.run_tests(code, [stdin_test("1", "left one"), stdin_test("2", "gone")])
    assert verdict.passed and verdict.wall_s < 2.0, verdict


# ------------------------------------------------------------------------------------------------ time

@covers("time")
def test_program_ignoring_signals_still_times_out(mode):
    code = ("import signal\n"
            "for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM, signal.SIGXCPU, signal.SIGUSR1):\n"
            "    signal.signal(s, signal.SIG_IGN)\n"
            "while True:\n    pass")
    verdict = run(code, timeout_s=0.5)
    assert verdict.status == "timeout" and verdict.wall_s < 2.5


@covers("time")
def test_wall_clock_timeout_applies_to_a_sleeping_program(mode):
    verdict = run("import time\ntime.sleep(5)", timeout_s=0.5)
    assert verdict.status == "timeout" and verdict.wall_s < 2.5


@covers("time")
def test_cpu_time_is_limited_too(mode):
    out = output_of("import resource\nprint(*resource.getrlimit(resource.RLIMIT_CPU))", timeout_s=1.0)
    soft, hard = map(int, out.split())
    assert 0 < soft <= 3 and hard <= soft + 1


# ------------------------------------------------------------------------------------------------ memory and output

@covers("memory")
def test_memory_limit_gives_memory_exceeded_and_spares_the_caller(mode):
    before = rss_mb()
    verdict = run("x = bytearray(1 << 30)\nprint(len(x))", out="1", memory_mb=256)
    assert verdict.status == "memory_exceeded"
    assert rss_mb() - before < 50
    assert run("x = bytearray(64 << 20)\nprint(len(x) > 0)", out="True", memory_mb=256).passed  # below the limit


@covers("output")
def test_endless_print_hits_output_limit_quickly_without_growing_the_caller(mode):
    before = rss_mb()
    verdict = run("while True:\n    print('x' * 1000)", out="x", timeout_s=10)
    assert verdict.status == "output_limit" and verdict.wall_s < 3.0
    assert rss_mb() - before < 50


@covers("odd-programs")
def test_flood_of_stderr_hits_output_limit_and_the_next_program_runs(mode):
    verdict = run("import sys\nwhile True:\n    sys.stderr.write('y' * 1000)", out="", timeout_s=10)
    assert verdict.status == "output_limit" and verdict.wall_s < 3.0
    assert len(verdict.stderr_tail) <= sandbox.STDERR_TAIL_BYTES + 200
    assert next_program_runs()


# ------------------------------------------------------------------------------------------------ files

@covers("workdir")
def test_fresh_work_directory_removed_afterwards(mode):
    code = ("import os\nprint(os.getcwd(), len(os.listdir('.')), os.environ['HOME'] == os.getcwd())\n"
            "open('scratch.txt', 'w').write('x')")
    first, second = output_of(code).split(), output_of(code).split()
    assert first[1] == "0" and first[2] == "True" and first[0] != second[0] and first[0] != os.getcwd()
    assert not os.path.exists(first[0]) and not os.path.exists(second[0])


@covers("workdir")
def test_file_size_is_limited(mode, monkeypatch):
    monkeypatch.setattr(sandbox, "FILE_SIZE_LIMIT_BYTES", 1 << 20)
    code = ("import os\n"
            "try:\n"
            "    with open('big', 'wb') as f:\n"
            "        f.write(b'x' * (2 << 20))\n"
            "except OSError as e:\n"
            "    print(e.errno)\n"
            "print(os.path.getsize('big'))")
    err, size = output_of(code).split()
    assert int(err) in (errno.EFBIG, errno.ENOSPC) and int(size) <= 1 << 20


@covers("private-tmp")
def test_temp_files_are_private_to_each_program(mode):
    name = token()
    writer = (f"for top in ('/tmp', '/var/tmp', '/dev/shm'):\n"
              f"    open(top + '/{name}', 'w').write('x')\nprint('written')")
    reader = f"import os\nprint([os.path.exists(t + '/{name}') for t in ('/tmp', '/var/tmp', '/dev/shm')])"
    assert output_of(writer) == "written\n"
    assert output_of(reader) == "[False, False, False]\n"
    assert not any(os.path.exists(f"{top}/{name}") for top in ("/tmp", "/var/tmp", "/dev/shm"))


@covers("private-tmp")
def test_filling_the_disk_fills_only_the_programs_own_tmpfs(mode, monkeypatch):
    monkeypatch.setattr(sandbox, "FILE_SIZE_LIMIT_BYTES", 2 << 20)
    code = ("import errno\ntotal = 0\n"
            "for i in range(100):\n"
            "    try:\n"
            "        with open(f'/tmp/fill{i}', 'wb') as f:\n"
            "            f.write(b'x' * (512 << 10))\n"
            "        total += 512 << 10\n"
            "    except OSError as e:\n"
            "        print(errno.errorcode[e.errno], total <= 2 << 20)\n"
            "        break")
    assert output_of(code) == "ENOSPC True\n"
    assert next_program_runs()


@covers("caller-files")
def test_cannot_overwrite_remove_or_chmod_a_file_the_caller_owns(mode):
    victim_dir = Path(tempfile.mkdtemp(prefix="sandbox-victim-"))
    try:
        victim_dir.chmod(0o755)
        victim = victim_dir / "weights.txt"
        victim.write_text("precious")
        victim.chmod(0o644)
        project_file = ROOT / "pwned.txt"
        code = f"""
import os
for attempt in (lambda: open({str(victim)!r}, "w").write("pwned"), lambda: os.remove({str(victim)!r}),
                lambda: os.chmod({str(victim)!r}, 0o777), lambda: open({str(project_file)!r}, "w").write("x")):
    try:
        attempt()
        print("allowed")
    except OSError as e:
        print("refused")
"""
        assert output_of(code).split() == ["refused"] * 4
        assert victim.read_text() == "precious" and not project_file.exists()
    finally:
        shutil.rmtree(victim_dir, ignore_errors=True)


@covers("hidden")
def test_only_the_system_and_the_interpreter_are_visible_and_read_only(mode):
    marker = Path(tempfile.mkdtemp(prefix="sandbox-visible-"))
    marker.chmod(0o755)
    home = os.path.expanduser("~")
    ways = {}  # directory -> the entries on the way to the interpreter (e.g. /root -> .pyenv): may show
    for path in sandbox_process.interpreter_paths():
        parts = path.split("/")
        for n in range(1, len(parts)):
            ways.setdefault("/".join(parts[:n]) or "/", set()).add(parts[n])
    allowed_top = {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "sbin", "usr", "tmp", "var", "proc"}
    try:
        code = (f"import os, sys, json\n"
                f"paths = [{str(ROOT / 'data')!r}, {sandbox.__file__!r}, {str(marker)!r}, {home!r} + '/.bashrc']\n"
                f"result = {{'exists': [os.path.exists(p) for p in paths], 'top': sorted(os.listdir('/')),\n"
                f"          'home': sorted(os.listdir({home!r})) if os.path.isdir({home!r}) else []}}\n"
                f"try:\n    open(os.path.join(sys.prefix, 'pwned'), 'w')\n    result['write'] = 'allowed'\n"
                f"except OSError as e:\n    result['write'] = e.errno\n"
                f"print(json.dumps(result))")
        result = json.loads(output_of(code))
        assert result["exists"] == [False, False, False, False]
        assert set(result["top"]) <= allowed_top | ways["/"]
        assert set(result["home"]) <= ways.get(home, set())
        assert result["write"] in (errno.EROFS, errno.EACCES)
    finally:
        marker.rmdir()


@covers("hidden")
def test_a_hidden_directory_under_a_shown_one_stays_hidden(mode, monkeypatch):
    """HIDDEN_DIRS (this project) stay invisible even where they lie under a directory the new root shows,
    e.g. a project kept under /usr/local or inside the interpreter's prefix."""
    hidden = next((d for d in ("/usr/share/doc", "/usr/share") if os.path.isdir(d) and os.listdir(d)), None)
    if hidden is None:
        pytest.skip("no non-empty directory under /usr to hide")
    monkeypatch.setattr(sandbox, "HIDDEN_DIRS", (*sandbox.HIDDEN_DIRS, hidden))
    assert output_of(f"import os\nprint(os.listdir({hidden!r}))") == "[]\n"


# ------------------------------------------------------------------------------------------------ environment

@covers("environment")
def test_environment_is_scrubbed(mode, monkeypatch):
    monkeypatch.setenv("SANDBOX_TEST_SECRET", "hunter2-do-not-leak")
    code = "import os\nprint(sorted(os.environ))\nprint(any('hunter2' in v for v in os.environ.values()))"
    names, leaked = output_of(code).splitlines()
    assert leaked == "False" and "SANDBOX_TEST_SECRET" not in names


@covers("proc")
def test_secret_not_readable_through_proc_either(mode, monkeypatch):
    monkeypatch.setenv("SANDBOX_TEST_SECRET", "hunter2-do-not-leak")
    code = ("import os\nfound = False\n"
            "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
            "    try:\n"
            "        found |= b'hunter2' in open(f'/proc/{pid}/environ', 'rb').read()\n"
            "    except OSError:\n"
            "        pass\n"
            "print(found)")
    assert output_of(code) == "False\n"


@covers("proc")
def test_a_key_in_the_callers_session_keyring_is_out_of_reach(mode):
    """A caller with a secret in its session keyring (inherited across fork) runs a program that looks for it."""
    calls = {"x86_64": (248, 250), "aarch64": (217, 219)}.get(os.uname().machine)  # add_key, keyctl
    if calls is None:
        pytest.skip("the keyring system call numbers are not known here")
    add_key, keyctl = calls
    program = (f"import ctypes\n"  # KEYCTL_SEARCH the session keyring for the caller's key
               f"print(ctypes.CDLL(None).syscall({keyctl}, 10, -3, b'user', b'sbx-test-secret', 0) > 0)")
    caller = (f"import ctypes, sys\nsys.path.insert(0, {str(ROOT)!r})\n"
              f"libc = ctypes.CDLL(None)\n"
              f"libc.syscall({keyctl}, 1, None)\n"  # KEYCTL_JOIN_SESSION_KEYRING: a keyring of our own
              f"assert libc.syscall({add_key}, b'user', b'sbx-test-secret', b'hunter2', 7, -3) > 0\n"
              f"assert libc.syscall({keyctl}, 10, -3, b'user', b'sbx-test-secret', 0) > 0\n"
              f"import sandbox\nsandbox.ISOLATION = {mode!r}\n"
              f"print(sandbox.run_outputs({program!r}, [''], testtype='stdin')[0], end='')")
    done = subprocess.run([sys.executable, "-c", caller], capture_output=True, text=True, timeout=120)
    assert done.stdout == "False\n", done.stderr[-2000:]


@covers("descriptors")
def test_stdin_holds_only_the_test_input(mode):
    code = ("import os, sys\n"
            "data = sys.stdin.buffer.read()\n"
            "print(repr(data), repr(open(0).read()))\n"
            "print(sorted(int(fd) for fd in os.listdir('/proc/self/fd')))\n"
            "try:\n    os.write(0, b'x')\nexcept OSError:\n    print('read-only')")
    text = "3\n1 2 3\n"
    lines = output_of(code, text).splitlines()
    assert lines[0] == f"{text.encode()!r} ''"
    assert set(eval(lines[1])) - {0, 1, 2, 3} <= {4}  # 4: the fd listing /proc/self/fd itself
    assert lines[2] == "read-only"


# ------------------------------------------------------------------------------------------------ network and signals

@covers("network")
def test_no_network_even_to_a_listener_on_localhost(mode):
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        code = ("import ctypes, socket, struct\n"
                "try:\n"
                f"    socket.create_connection(('127.0.0.1', {port}), timeout=1).sendall(b'leak')\n"
                "    print('connected')\n"
                "except OSError as e:\n"
                "    print('blocked')\n"
                "libc = ctypes.CDLL(None, use_errno=True)\n"  # past any check inside the interpreter
                "fd = libc.socket(2, 1, 0)\n"
                f"address = struct.pack('=H', 2) + struct.pack('>H', {port}) + bytes([127, 0, 0, 1]) + bytes(8)\n"
                "print('connected' if fd >= 0 and libc.connect(fd, address, 16) == 0 else 'blocked')")
        assert output_of(code) == "blocked\nblocked\n"
        server.settimeout(0.2)
        with pytest.raises(TimeoutError):
            server.accept()


@covers("signals")
def test_program_cannot_kill_the_caller(mode):
    """If this failed, the SIGKILL would end the whole pytest run: hard to miss."""
    code = f"""
import os, signal
for target in ({os.getpid()}, os.getppid()):
    try:
        os.kill(target, signal.SIGKILL)
    except OSError:
        pass
for group in ({os.getpgrp()}, os.getpgrp()):
    try:
        os.killpg(group, signal.SIGKILL)
    except OSError:
        pass
print("still here")
"""
    verdict = run(code, out="still here")  # the harness survived to report; and we are alive to read it
    assert verdict.status in ("passed", "runtime_error")  # killpg of its own group may end the program itself
    assert next_program_runs()


@covers("signals")
def test_broadcast_signal_does_not_reach_the_caller(mode):
    received = []
    previous = signal.signal(signal.SIGURG, lambda *args: received.append(args))  # SIGURG: ignored by default
    try:
        code = "import os, signal\ntry:\n    os.kill(-1, signal.SIGURG)\nexcept OSError:\n    pass\nprint('sent')"
        assert run(code, out="sent").passed
        time.sleep(0.1)
        assert received == []
    finally:
        signal.signal(signal.SIGURG, previous)


@covers("signals")
def test_program_cannot_ptrace_its_supervisor_or_open_its_descriptors(mode):
    code = ("import ctypes, os\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            "supervisor = os.getppid()\n"
            "print(libc.ptrace(16, supervisor, 0, 0))\n"  # PTRACE_ATTACH
            "for path in (f'/proc/{supervisor}/fd/1', f'/proc/{supervisor}/mem', '/proc/1/fd/1'):\n"
            "    try:\n        os.open(path, os.O_WRONLY)\n        print('opened', path)\n"
            "    except OSError:\n        print('refused')")
    assert output_of(code).split() == ["-1", "refused", "refused", "refused"]


# ------------------------------------------------------------------------------------------------ grading cannot be forged

@covers("grading")
def test_writing_to_the_report_pipe_does_not_pass_a_failing_program(mode):
    wrong = "def f(x):\n    return x + 1\n"
    check = assert_test("def check(candidate):\n    assert candidate(1) == 3\ncheck(f)")
    for forgery in ("import os\nos.write(3, b'D')\nos._exit(0)\n",                  # "finished", then leave
                    "import os\nos.write(3, b'V1\\n3D')\n",                           # a value, then the real one
                    "import os\nos.write(3, b'R3')\n",                                 # an older protocol's record
                    "import os\nos.write(3, os.urandom(64))\n",                        # garbage
                    "import os\nos.write(3, b'D')\nos.write(1, b'0 ok 0 0 0\\n')\n"):  # a harness record on stdout
        verdict = sandbox.run_tests(wrong + forgery, [check])
        assert not verdict.passed, forgery
        verdict = sandbox.run_tests(wrong + forgery, [functional(["1"], "3")], func_name="f")
        assert not verdict.passed, forgery


@covers("grading")
def test_atexit_excepthook_and_racing_threads_do_not_pass_a_failing_program(mode):
    wrong = "def f(x):\n    return x + 1\n"
    tricks = [
        "import atexit, os\natexit.register(lambda: os.write(3, b'V1\\n3D'))\n",
        "import os, sys\nsys.excepthook = lambda *a: (os.write(3, b'V1\\n3D'), os._exit(0))\n"
        "def f(x):\n    raise ValueError\n",
        "import os, threading, time\n"
        "def spam():\n    while True:\n        os.write(3, b'V1\\n3')\n        time.sleep(0.001)\n"
        "threading.Thread(target=spam, daemon=True).start()\n",
        "import os, threading\n"
        "def late():\n    import time\n    time.sleep(0.05)\n    os.write(3, b'D')\n"
        "threading.Thread(target=late).start()\n",
    ]
    check = assert_test("def check(candidate):\n    assert candidate(1) == 3\ncheck(f)")
    for trick in tricks:
        assert not sandbox.run_tests(wrong + trick, [check], timeout_s=2).passed, trick
        assert not sandbox.run_tests(wrong + trick, [functional(["1"], "3")], func_name="f", timeout_s=2).passed, trick


@covers("grading")
def test_patching_json_sys_builtins_or_posix_does_not_change_the_reported_value(mode):
    wrong = "def f(x):\n    return x + 1\n"
    patches = ["import json\njson.dumps = lambda *a, **k: '3'\n",
               "import json, sys\nsys.modules['json'] = type(sys)('json')\n",
               "import builtins\nbuiltins.type = lambda x: int\nbuiltins.isinstance = lambda *a: True\n",
               "import posix, os\nwrite = posix.write\n"
               "posix.write = os.write = lambda fd, data: write(fd, b'V1\\n3D' if fd == 3 else data)\n",
               "import _json\n_json.make_encoder = None\n"]
    check = assert_test("def check(candidate):\n    assert candidate(1) == 3\ncheck(f)")
    for patch in patches:
        assert sandbox.run_tests(wrong + patch, [check]).status == "wrong_answer", patch
        assert sandbox.run_tests(wrong + patch, [functional(["1"], "3")], func_name="f").status == "wrong_answer", patch


@covers("grading")
def test_an_object_that_equals_everything_does_not_pass(mode):
    objects = ("class Always:\n    __eq__ = lambda self, other: True\n    __ne__ = lambda self, other: False\n"
               "    __bool__ = lambda self: True\n    __hash__ = lambda self: 0\n",
               "class Always(int):\n    __eq__ = lambda self, other: True\n    __hash__ = int.__hash__\n",
               "class Always(str):\n    __eq__ = lambda self, other: True\n    __hash__ = str.__hash__\n",
               "class Always(list):\n    __eq__ = lambda self, other: True\n")
    for definition in objects:
        code = definition + "def f(x):\n    return Always()\n"
        humaneval = assert_test("def check(candidate):\n    assert candidate([1, 2]) == [2, 1]\n"
                                "    assert candidate(3)\n    assert not candidate(0) is None\ncheck(f)")
        assert sandbox.run_tests(code, [humaneval]).status == "wrong_answer", definition
        assert sandbox.run_tests(code, [functional(["[1, 2]"], "[2, 1]")], func_name="f").status == "wrong_answer"


@covers("grading")
def test_printing_a_fake_harness_record_is_just_output(mode):
    assert run("print('0 ok 0 2 0')\nprint('42')", out="42").status == "wrong_answer"


# ------------------------------------------------------------------------------------------------ odd but honest programs

@covers("odd-programs")
def test_segfault_is_a_runtime_error(mode):
    verdict = run("import ctypes\nctypes.string_at(0)", out="1")
    assert verdict.status == "runtime_error" and next_program_runs()


@covers("odd-programs")
def test_output_that_is_not_utf8_is_a_wrong_answer(mode):
    code = "import sys\nsys.stdout.buffer.write(b'\\xff\\xfe 42\\n')"
    verdict = run(code, out="\ufffd\ufffd 42")
    assert verdict.status == "wrong_answer" and "not UTF-8" in verdict.stderr_tail
    assert output_of(code) is None and next_program_runs()


@covers("odd-programs")
def test_huge_integers_are_compared_exactly(mode):
    big = "1" + "0" * 10000  # 10 ** 10000: past Python's 4300-digit limit for int <-> str
    assert run("print(10 ** 10000)", out=big).passed
    assert not run("print(10 ** 10000 + 1)", out=big).passed
    code = "def f(n):\n    return 10 ** n"
    assert sandbox.run_tests(code, [functional(["10000"], big)], func_name="f").passed
    assert sandbox.run_tests(code, [functional(["10000"], big[:-1] + "1")], func_name="f").status == "wrong_answer"
    check = assert_test("assert f(10000) == 10 ** 10000\nassert f(2) != 10 ** 10000\nassert f(10000) - 1 != f(10000)")
    assert sandbox.run_tests(code, [check]).passed
    assert sandbox._parse_int("-" + big) == -10 ** 10000 and sandbox._parse_int("-12") == -12
    huge = "1" + "0" * sandbox.MAX_INT_DIGITS  # kept as its digits, equal to the same digits only
    assert sandbox._parse_int(huge) == sandbox._parse_int(huge) != sandbox._parse_int(huge[:-1] + "1")
    assert sandbox.run_tests(code, [functional([str(sandbox.MAX_INT_DIGITS)], huge)], func_name="f").passed


@covers("odd-programs")
def test_thread_bomb_is_capped_and_the_next_program_runs(mode):
    code = ("import threading, time\nn = 0\n"
            "try:\n"
            "    for _ in range(10000):\n"
            "        threading.Thread(target=time.sleep, args=(0.5,), daemon=True).start()\n"
            "        n += 1\n"
            "except RuntimeError:\n"
            "    pass\n"
            "print(n)")
    out = output_of(code, timeout_s=5)
    assert out is not None and int(out) < 10000
    assert next_program_runs()


@covers("odd-programs")
def test_program_that_stops_itself_times_out(mode):
    code = ("import os, signal\n"
            "if os.fork() == 0:\n    os.kill(os.getpid(), signal.SIGSTOP)\n"
            "os.kill(os.getpid(), signal.SIGSTOP)\nprint(1)")
    verdict = run(code, out="1", timeout_s=0.5)
    assert verdict.status == "timeout" and verdict.wall_s < 2.5
    assert next_program_runs()


# ------------------------------------------------------------------------------------------------ run_many, run_outputs

def test_run_many_keeps_input_order_and_isolates_jobs():
    jobs = [
        {"code": "import time\ntime.sleep(0.3)\nprint(1)", "tests": [stdin_test("", "1")]},
        {"code": "while True:\n    pass", "tests": [stdin_test("", "1")], "timeout_s": 0.5},
        {"code": "def f(x):\n    return x * 2", "tests": [functional(["4"], "8")], "func_name": "f"},
        {"code": "x = bytearray(1 << 30)", "tests": [stdin_test("", "")], "memory_mb": 128},
        {"code": None, "tests": [stdin_test("", "")]},
        {"code": "import time\ntime.sleep(0.3)\nprint(2)", "tests": [stdin_test("", "2")]},
        # a job that tries to kill every process it can see, including the other jobs
        {"code": "import os\nfor p in os.listdir('/proc'):\n    if p.isdigit() and int(p) != os.getpid():\n"
                 "        try:\n            os.kill(int(p), 9)\n        except OSError:\n            pass\n"
                 "print('done')", "tests": [stdin_test("", "done")]},
    ]
    statuses = [v.status for v in sandbox.run_many(jobs, workers=3)]
    assert statuses[:6] == ["passed", "timeout", "passed", "memory_exceeded", "no_code", "passed"]


def test_run_outputs_returns_raw_outputs_and_none_on_failure():
    code = "n = int(input())\nif n < 0:\n    raise ValueError\nwhile n == 0:\n    pass\nprint(n * 3)"
    outputs = sandbox.run_outputs(code, ["1", "-1", "0", "2"], testtype="stdin", timeout_s=0.5)
    assert outputs == ["3\n", None, None, "6\n"]
    functional_code = "def f(a, b):\n    return (a, b)"
    assert sandbox.run_outputs(functional_code, ["1\n\"x\""], testtype="functional", func_name="f") == ['[1, "x"]']
    assert sandbox.run_outputs(None, ["1"], testtype="stdin") == [None]
    assert sandbox.run_outputs("print(1)", [], testtype="stdin") == []
    with pytest.raises(ValueError, match="assert tests hold the expected values"):
        sandbox.run_outputs("print(1)", ["assert True"], testtype="assert")


# ------------------------------------------------------------------------------------------------ as a normal user

def _closed_ancestors(paths):
    """{first directory on the way to each path that other users cannot enter: [paths under it]}."""
    closed = {}
    for path in paths:
        parts = path.split("/")
        for n in range(2, len(parts) + 1):
            ancestor = "/".join(parts[:n])
            if not os.stat(ancestor).st_mode & 0o001:
                closed.setdefault(ancestor, []).append(path)
                break
    return closed


def test_sandbox_tests_pass_as_a_normal_user(tmp_path):
    """As root, run this file again as a throwaway unprivileged user (created, then removed) from a copy of
    the checkout in its home: the "userns" and "portable" modes get their proofs there. An interpreter under a
    directory closed to other users (e.g. /root/.pyenv) is shown to that user through a private mount
    namespace, as an interpreter of their own would be."""
    if not AS_ROOT:
        pytest.skip("not root: this run is the normal user's run already")
    tools = {tool: shutil.which(tool) for tool in ("useradd", "userdel", "su", "unshare", "mount")}
    if not all(tools.values()):
        pytest.skip(f"cannot switch to a throwaway user here: missing {[t for t, p in tools.items() if not p]}")
    user = f"sbxtest{os.getpid() % 100000}"
    created = subprocess.run([tools["useradd"], "--create-home", "--shell", "/bin/sh", user], capture_output=True)
    if created.returncode != 0:
        pytest.skip(f"cannot create a throwaway user: {created.stderr.decode().strip()}")
    try:
        account = pwd.getpwnam(user)
        checkout = Path(account.pw_dir) / "checkout"
        for name in ("sandbox.py", "sandbox_harness.py", "sandbox_asserts.py", "sandbox_process.py", "cli.py",
                     "tests/test_sandbox.py", "tests/conftest.py"):
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / name, checkout / name)
        (checkout / "data").mkdir()  # a project data directory, to check it stays invisible
        subprocess.run(["chown", "-R", f"{account.pw_uid}:{account.pw_gid}", str(checkout)], check=True)
        python = sys.executable
        needed = sorted(set(sandbox_process.interpreter_paths()) | {os.path.dirname(os.path.abspath(python))})
        lines = ["set -e"]
        for n, (top, paths) in enumerate(_closed_ancestors(needed).items()):
            for k, path in enumerate(paths):
                stash = tmp_path / f"stash{n}-{k}"
                stash.mkdir()
                lines.append(f"mount --bind '{path}' '{stash}'")
            lines.append(f"mount -t tmpfs -o mode=755,size=1m tmpfs '{top}'")
            for k, path in enumerate(paths):
                lines += [f"mkdir -p '{path}'", f"mount --move '{tmp_path}/stash{n}-{k}' '{path}'"]
        pytest_command = (f"cd {checkout} && exec env -i HOME={account.pw_dir} PATH=/usr/bin:/bin LANG=C.UTF-8 "
                          f"OMP_NUM_THREADS=1 {python} -m pytest -q -p no:cacheprovider tests/test_sandbox.py "
                          f"-k 'not as_a_normal_user'")
        lines.append(f"exec {tools['su']} {user} -s /bin/sh -c \"{pytest_command}\"")
        script = tmp_path / "as_user.sh"
        script.write_text("\n".join(lines) + "\n")
        done = subprocess.run([tools["unshare"], "--mount", "--propagation", "private", "/bin/sh", str(script)],
                              capture_output=True, text=True, timeout=900)
        summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
        assert done.returncode == 0, f"as {user}:\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
        assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
        print(f"as {user}: {summary}")
    finally:
        subprocess.run(["/bin/sh", "-c", "kill -9 -1"], user=user, stderr=subprocess.DEVNULL, check=False)
        subprocess.run([tools["userdel"], "--remove", "--force", user], capture_output=True)
