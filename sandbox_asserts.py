"""Assert-style tests (HumanEval, MBPP) as calls the program answers and assertions the caller checks.

A HumanEval test is a program, `def check(candidate): assert candidate(...) == ...` then `check(entry_point)`.
Run as written inside the sandbox, the program's own process would decide the verdict: it could return an
object whose __eq__ always says True, patch the test's builtins, or report "finished" and exit. Instead:

1. plan(test): interpret the test here, in the caller, with a small interpreter for what tests use (assert,
   assignment, for, if, functions the test defines, math, random, string and copy, builtins such as len,
   sorted, tuple, abs; other modules may be imported, but not used). A name the test neither defines nor imports, and that is no builtin, is the
   program's (`candidate` is bound to one by `check(entry_point)`): calling it is a remote call, recorded as
   (name, arguments), whose result is pending. The plan is the list of remote calls, in order.
2. The sandbox runs the program, makes those calls in its namespace one after the other, and sends each
   result back as plain data (None, bool, int, float, str, and lists, tuples, dicts of those), or a mark
   that it was not plain data.
3. check(plan, values): interpret the test again, here, with each remote call answered by its value; the
   first assertion that is false, or that raises, fails the test.

Both passes take the same path because nothing that steers it (an if, a loop, an `or`, a conditional
expression, a generator consumed lazily) may depend on a pending result when a remote call lies ahead: a test
where it would raises Unsupported and runs as written (sandbox.py lists that as not covered). Deliberate
differences from running the test as written:
- `a and b` with a remote call in b evaluates both in both passes (an assertion on it fails all the same);
- assertion messages are never evaluated (they matter only once an assertion has failed);
- the test's `random` draws come from a generator with a fixed seed, so both passes see the same numbers;
- a result may go back to the program as an argument (a test may pass what one function of the program
  returned to another): the program gets back its own object, as before;
- a result the test looks at must be plain data: a numpy scalar, a set or an object of the program's fails.
"""
from __future__ import annotations

import ast
import builtins
import copy
import math
import random
import string
from collections import ChainMap
from dataclasses import dataclass

MAX_STEPS = 1_000_000         # interpreter steps per pass (HumanEval's largest test takes about 20,000)
MAX_REMOTE_CALLS = 10_000     # remote calls per test
MAX_RESULT_SIZE = 10_000_000  # elements, characters or bits one *, ** or << may produce
RANDOM_SEED = 0               # seed of the test's `random`, the same in both passes


class Unsupported(Exception):
    """The test does something this interpreter does not model; it then runs as written in the sandbox."""


class AssertionFailed(Exception):
    """The test fails on the program's results: a false assertion, or an error while evaluating the test."""


class MissingResult(Exception):
    """The test needs the result of a remote call the program never answered (it crashed or ran out of time)."""


@dataclass(frozen=True)
class Plan:
    """calls[i] = (name, args, kwargs) for remote call i, each argument ("value", x), ("result", j) (the object
    remote call j returned) or ("copy", j) (a deep copy of it, made by the program's process)."""
    tree: ast.Module
    calls: tuple


class _NotPlain:
    def __repr__(self):
        return "<not plain data>"


NOT_PLAIN = _NotPlain()  # stands for a result that did not cross as plain data; any use of it fails the test


def plan(test: str) -> Plan:
    """The remote calls the test program `test` makes. Raises Unsupported (SyntaxError for invalid Python)."""
    tree = ast.parse(test)
    interpreter = _Interpreter(values=None)
    try:
        interpreter.run(tree)
    except Unsupported:
        raise
    except Exception as e:  # the test fails by itself (or recurses too deep): let it run as written
        raise Unsupported(f"the test raises {type(e).__name__}: {e}"[:300]) from None
    return Plan(tree, tuple(interpreter.calls))


def check(plan: Plan, values: list) -> None:
    """Evaluate the test with values[i] as the result of remote call i (NOT_PLAIN where the program returned
    something else). Returns when every assertion holds; raises AssertionFailed with a message, or
    MissingResult when the test reaches a remote call beyond len(values)."""
    interpreter = _Interpreter(values=values)
    try:
        interpreter.run(plan.tree)
    except (AssertionFailed, MissingResult):
        raise
    except Exception as e:  # e.g. abs() of a returned str, or a comparison that recurses without end
        raise AssertionFailed(f"{type(e).__name__}: {e}{interpreter.returned()}"[:500]) from None


# ---------------------------------------------------------------------------------------------- interpreter

class _Pending:
    """Pass 1: the result of remote call `index` (copied: a deep copy of it)."""
    __slots__ = ("index", "copied")

    def __init__(self, index, copied=False):
        self.index, self.copied = index, copied


class _Opaque:
    """Pass 1: a value computed from pending results."""


OPAQUE = _Opaque()


@dataclass(frozen=True)
class _Remote:
    """A function of the program, called by name in the sandbox."""
    name: str


@dataclass(frozen=True)
class _Function:
    """A function the test defines, with the scope it was defined in."""
    node: ast.FunctionDef
    scope: ChainMap


@dataclass(frozen=True)
class _Module:
    """math, random, string or copy as a test sees them: the listed attributes only."""
    name: str
    attributes: dict


class _Return(Exception):
    def __init__(self, value):
        self.value = value


def _guarded_mul(a, b):
    for sequence, n in ((a, b), (b, a)):
        if isinstance(sequence, (str, bytes, list, tuple)) and type(n) is int and len(sequence) * n > MAX_RESULT_SIZE:
            raise OverflowError("result too large")
    if type(a) is int and type(b) is int and a.bit_length() + b.bit_length() > MAX_RESULT_SIZE:
        raise OverflowError("result too large")
    return a * b


def _guarded_pow(a, b, mod=None):
    if mod is None and type(a) is int and type(b) is int and b > 0 and a.bit_length() * b > MAX_RESULT_SIZE:
        raise OverflowError("result too large")
    return pow(a, b) if mod is None else pow(a, b, mod)


def _guarded_lshift(a, b):
    if type(b) is int and b > MAX_RESULT_SIZE:
        raise OverflowError("result too large")
    return a << b


_BINARY = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: _guarded_mul,
           ast.Div: lambda a, b: a / b, ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b,
           ast.Pow: _guarded_pow, ast.LShift: _guarded_lshift, ast.RShift: lambda a, b: a >> b,
           ast.BitAnd: lambda a, b: a & b, ast.BitOr: lambda a, b: a | b, ast.BitXor: lambda a, b: a ^ b}
_UNARY = {ast.USub: lambda a: -a, ast.UAdd: lambda a: +a, ast.Not: lambda a: not a, ast.Invert: lambda a: ~a}
_COMPARE = {ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b, ast.Lt: lambda a, b: a < b,
            ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b,
            ast.Is: lambda a, b: a is b, ast.IsNot: lambda a, b: a is not b,
            ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}
# Builtins a test may call: pure functions of data (print does nothing here).
_BUILTINS = {name: getattr(builtins, name) for name in (
    "abs", "all", "any", "bin", "bool", "chr", "dict", "divmod", "enumerate", "filter", "float", "frozenset", "hex",
    "int", "isinstance", "len", "list", "map", "max", "min", "oct", "ord", "range", "repr", "reversed", "round",
    "set", "sorted", "str", "sum", "tuple", "type", "zip")}
_BUILTINS.update(pow=_guarded_pow, print=lambda *args, **kwargs: None)
_MATH = {name: getattr(math, name) for name in (
    "fabs", "isclose", "pow", "sqrt", "floor", "ceil", "trunc", "exp", "log", "log2", "log10", "sin", "cos", "tan",
    "atan", "atan2", "hypot", "degrees", "radians", "isnan", "isinf", "isfinite", "gcd", "pi", "e", "inf", "nan")}
_STRING = {name: getattr(string, name) for name in (
    "ascii_letters", "ascii_lowercase", "ascii_uppercase", "digits", "hexdigits", "octdigits", "punctuation",
    "printable", "whitespace")}
_RANDOM = ("randint", "randrange", "random", "uniform", "choice", "choices", "shuffle", "sample", "seed", "gauss",
           "getrandbits")
_DATA_TYPES = (str, bytes, list, tuple, dict, set, frozenset, int, float, complex, bool, range, random.Random)


class _Interpreter:
    """Pass 1 (values None) records the remote calls; pass 2 answers them from `values` and checks."""

    def __init__(self, values):
        self.values, self.calls, self.steps, self.next_call, self.recent = values, [], 0, 0, []
        generator = random.Random(RANDOM_SEED)
        self.modules = {
            "math": _Module("math", _MATH), "string": _Module("string", _STRING),
            "copy": _Module("copy", {"deepcopy": self.deepcopy, "copy": self.shallow_copy}),
            "random": _Module("random", {**{m: getattr(generator, m) for m in _RANDOM}, "Random": random.Random})}
        self.globals = ChainMap({})

    @property
    def recording(self):
        return self.values is None

    def run(self, tree):
        self.block(tree.body, self.globals)
        if not self.recording and self.next_call != len(self.values):
            raise AssertionFailed(f"the test made {self.next_call} calls, not {len(self.values)} as planned")

    def returned(self):
        """What the program returned in the assertion being evaluated (for the failure message)."""
        return "".join(f"; {name}(...) returned {value!r:.120}" for name, value in self.recent[-3:])

    # ---- statements

    def block(self, statements, scope):
        for statement in statements:
            self.statement(statement, scope)

    def statement(self, node, scope):
        self.tick()
        kind = type(node)
        if kind is ast.Expr:
            if not isinstance(node.value, ast.Constant):  # a docstring does nothing
                self.eval(node.value, scope)
        elif kind is ast.Assert:
            self.recent = []
            test = self.eval(node.test, scope)  # in pass 1 this records the remote calls, the outcome waits
            if not self.recording and not self.truth(test):
                raise AssertionFailed(f"line {node.lineno}: assert {ast.unparse(node.test)[:300]}{self.returned()}")
        elif kind is ast.Assign:
            value = self.eval(node.value, scope)
            for target in node.targets:
                self.assign(target, value, scope)
        elif kind is ast.AugAssign and isinstance(node.target, ast.Name):
            current = self.lookup(node.target.id, scope)
            self.assign(node.target, self.operate(_BINARY[type(node.op)], current, self.eval(node.value, scope)), scope)
        elif kind is ast.For and not node.orelse:
            for item in self.steering(self.eval(node.iter, scope), "a loop over a result"):
                self.tick()
                self.assign(node.target, item, scope)
                self.block(node.body, scope)
        elif kind is ast.If:
            test = self.steering(self.eval(node.test, scope), "an if on a result")
            self.block(node.body if self.truth(test) else node.orelse, scope)
        elif kind is ast.FunctionDef and not node.decorator_list and _plain_parameters(node.args):
            scope[node.name] = _Function(node, scope)
        elif kind is ast.Return:
            raise _Return(self.eval(node.value, scope) if node.value is not None else None)
        elif kind is ast.Import:
            for alias in node.names:
                scope[alias.asname or alias.name] = self.module(alias.name)
        elif kind is ast.ImportFrom and node.level == 0:
            module = self.module(node.module)
            for alias in node.names:  # e.g. `from typing import List` in a prompt: fine until used
                scope[alias.asname or alias.name] = module.attributes.get(alias.name, _Module(alias.name, {}))
        elif kind is not ast.Pass:
            raise Unsupported(f"statement {kind.__name__} at line {node.lineno}")

    def module(self, name):
        """math, random, string, copy; any other module has no attributes here (using one is Unsupported)."""
        return self.modules.get(name) or _Module(name, {})

    def assign(self, target, value, scope):
        if isinstance(target, ast.Name):
            scope[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)) and not any(isinstance(t, ast.Starred) for t in target.elts):
            items = list(self.steering(value, "unpacking a result"))
            if len(items) != len(target.elts):
                raise ValueError(f"cannot unpack {len(items)} values into {len(target.elts)}")
            for element, item in zip(target.elts, items):
                self.assign(element, item, scope)
        else:
            raise Unsupported(f"assignment to {type(target).__name__}")

    # ---- values

    def tick(self):
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise Unsupported(f"more than {MAX_STEPS} steps")

    def steering(self, value, what):
        """A value the path depends on: in pass 1 it must not come from the program."""
        if self.recording and isinstance(value, (_Pending, _Opaque)):
            raise Unsupported(f"{what}: the test's path would depend on the program's output")
        return value

    def truth(self, value):
        self.operate(lambda x: None, value)  # refuses values that are not data
        return bool(value)

    def operate(self, function, *operands):
        """function(*operands) on data; OPAQUE in pass 1 when an operand is pending."""
        for x in operands:
            if x is NOT_PLAIN:
                raise TypeError("the program returned a value that is not plain data")
            if isinstance(x, (_Remote, _Function, _Module)):
                raise Unsupported(f"using {x} as a value")
        if self.recording and any(isinstance(x, (_Pending, _Opaque)) for x in operands):
            return OPAQUE
        return function(*operands)

    def no_remote_calls(self, scope, *nodes):
        """Pass 1 cannot tell whether these run (that depends on a pending result): they must not call the
        program."""
        if not self.calls_nothing(scope, *nodes):
            raise Unsupported("a call that happens or not depending on the program's output")

    def calls_nothing(self, scope, *nodes) -> bool:
        """Whether these expressions surely call no function of the program. Conservative: a call qualifies
        when it names a builtin or a function of an imported module (a name bound in `scope`), or is a method
        call."""
        for node in nodes:
            for sub in ast.walk(node):
                if isinstance(sub, (ast.Lambda, ast.NamedExpr)):
                    raise Unsupported(type(sub).__name__)
                if isinstance(sub, ast.Call) and not isinstance(sub.func, ast.Attribute) and (
                        not isinstance(sub.func, ast.Name)
                        or isinstance(self.lookup(sub.func.id, scope), (_Remote, _Function))):
                    return False
        return True

    def lookup(self, name, scope):
        if name in scope:
            return scope[name]
        if name in self.globals:
            return self.globals[name]
        if name in _BUILTINS:
            return _BUILTINS[name]
        return _Remote(name)  # the program's

    def eval(self, node, scope):
        self.tick()
        kind = type(node)
        if kind is ast.Constant:
            return node.value
        if kind is ast.Name:
            return self.lookup(node.id, scope)
        if kind in (ast.List, ast.Tuple, ast.Set):
            if any(isinstance(e, ast.Starred) for e in node.elts):
                raise Unsupported("starred element")
            build = {ast.List: list, ast.Tuple: tuple, ast.Set: set}[kind]
            return self.operate(lambda *items: build(items), *(self.eval(e, scope) for e in node.elts))
        if kind is ast.Dict:
            if any(k is None for k in node.keys):
                raise Unsupported("dict unpacking")
            pairs = [(self.eval(k, scope), self.eval(v, scope)) for k, v in zip(node.keys, node.values)]
            return self.operate(lambda *flat: dict(zip(flat[::2], flat[1::2])), *(x for pair in pairs for x in pair))
        if kind is ast.BinOp:
            return self.operate(_BINARY[type(node.op)], self.eval(node.left, scope), self.eval(node.right, scope))
        if kind is ast.UnaryOp:
            return self.operate(_UNARY[type(node.op)], self.eval(node.operand, scope))
        if kind is ast.Compare:
            return self.compare(node, scope)
        if kind is ast.BoolOp:
            return self.bool_op(node, scope)
        if kind is ast.IfExp:
            test = self.eval(node.test, scope)
            if self.recording and isinstance(test, (_Pending, _Opaque)):
                self.no_remote_calls(scope, node.body, node.orelse)
                return OPAQUE
            return self.eval(node.body if self.truth(test) else node.orelse, scope)
        if kind is ast.Call:
            return self.call(node, scope)
        if kind is ast.Attribute:
            return self.attribute(self.eval(node.value, scope), node.attr)
        if kind is ast.Subscript:
            return self.operate(lambda value, index: value[index], self.eval(node.value, scope),
                                self.eval(node.slice, scope))
        if kind is ast.Slice:
            parts = [self.eval(p, scope) if p is not None else None for p in (node.lower, node.upper, node.step)]
            return self.operate(slice, *parts)
        if kind in (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp):
            return self.comprehension(node, scope)
        if kind is ast.JoinedStr:
            return self.operate(lambda *parts: "".join(parts), *(self.eval(v, scope) for v in node.values))
        if kind is ast.FormattedValue and node.format_spec is None:
            convert = {-1: str, 115: str, 114: repr, 97: ascii}[node.conversion]
            return self.operate(convert, self.eval(node.value, scope))
        raise Unsupported(f"expression {kind.__name__}")

    def compare(self, node, scope):
        left, outcome = self.eval(node.left, scope), True
        for i, (op, right_node) in enumerate(zip(node.ops, node.comparators)):
            right = self.eval(right_node, scope)
            outcome = self.operate(_COMPARE[type(op)], left, right)
            if outcome is OPAQUE:
                self.no_remote_calls(scope, *node.comparators[i + 1:])
                return OPAQUE
            if not outcome:  # a chain stops at the first false comparison
                return outcome
            left = right
        return outcome

    def bool_op(self, node, scope):
        if isinstance(node.op, ast.And) and not self.calls_nothing(scope, *node.values[1:]):
            # `assert f(1) == 2 and f(2) == 3`: both passes evaluate every operand, so that both make the same
            # remote calls; for an assertion the outcome is the same (any false operand fails it).
            values = [self.eval(operand, scope) for operand in node.values]
            if self.recording and any(isinstance(v, (_Pending, _Opaque)) for v in values):
                return OPAQUE
            return next((v for v in values if not self.truth(v)), values[-1])
        value = None
        for i, operand in enumerate(node.values):
            value = self.eval(operand, scope)
            if self.recording and isinstance(value, (_Pending, _Opaque)):
                self.no_remote_calls(scope, *node.values[i + 1:])
                return OPAQUE
            if self.truth(value) != isinstance(node.op, ast.And):
                return value
        return value

    def comprehension(self, node, scope):
        if len(node.generators) != 1 or node.generators[0].is_async:
            raise Unsupported("a comprehension with more than one for")
        generator = node.generators[0]
        elements = (node.key, node.value) if isinstance(node, ast.DictComp) else (node.elt,)
        if isinstance(node, ast.GeneratorExp):  # consumed lazily (any, all): it must not call the program
            self.no_remote_calls(scope, *elements, *generator.ifs)
        iterable = self.eval(generator.iter, scope)
        if self.recording and isinstance(iterable, (_Pending, _Opaque)):
            self.no_remote_calls(scope, *elements, *generator.ifs)
            return OPAQUE
        results, inner = [], scope.new_child()
        for item in self.operate(list, iterable):
            self.tick()
            self.assign(generator.target, item, inner)
            conditions = [self.eval(condition, inner) for condition in generator.ifs]
            if self.recording and any(isinstance(c, (_Pending, _Opaque)) for c in conditions):
                self.no_remote_calls(scope, *elements)
                return OPAQUE
            if all(self.truth(c) for c in conditions):
                results.extend(self.eval(e, inner) for e in elements)
        if isinstance(node, ast.DictComp):
            return self.operate(lambda *flat: dict(zip(flat[::2], flat[1::2])), *results)
        build = set if isinstance(node, ast.SetComp) else list  # a generator, consumed by a builtin, as a list
        return self.operate(lambda *items: build(items), *results)

    def attribute(self, value, name):
        if name.startswith("_"):
            raise Unsupported(f"attribute {name}")
        if isinstance(value, _Module):
            if name not in value.attributes:
                raise Unsupported(f"{value.name}.{name}")
            return value.attributes[name]
        if self.recording and isinstance(value, (_Pending, _Opaque)):
            return OPAQUE
        self.operate(lambda x: None, value)  # refuses values that are not data
        if not isinstance(value, _DATA_TYPES) or isinstance(value, random.Random) and name not in _RANDOM:
            raise Unsupported(f"attribute {name} of {type(value).__name__}")
        return getattr(value, name)

    def call(self, node, scope):
        function = self.eval(node.func, scope)
        args, kwargs = [], {}
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                args.extend(self.steering(self.eval(arg.value, scope), "unpacking a result"))
            else:
                args.append(self.eval(arg, scope))
        for keyword in node.keywords:
            if keyword.arg is None:
                raise Unsupported("**kwargs")
            kwargs[keyword.arg] = self.eval(keyword.value, scope)
        if isinstance(function, _Remote):
            return self.remote(function.name, args, kwargs)
        if isinstance(function, _Function):
            return self.call_function(function, args, kwargs)
        if getattr(function, "__self__", None) is self:  # copy.deepcopy and copy.copy: they handle pending results
            return function(*args, **kwargs)
        if function is OPAQUE:  # a method of a pending result: its arguments were evaluated above, as in pass 2
            return OPAQUE
        if not callable(function) or isinstance(function, _Module):
            raise Unsupported(f"calling {function!r:.50}")
        if any(isinstance(x, (_Remote, _Function)) for x in (*args, *kwargs.values())):
            raise Unsupported("passing a function to a builtin")
        n = len(args)
        return self.operate(lambda *xs: function(*xs[:n], **dict(zip(kwargs, xs[n:]))), *args, *kwargs.values())

    def call_function(self, function, args, kwargs):
        parameters = [a.arg for a in function.node.args.args]
        if kwargs or len(args) != len(parameters):
            raise Unsupported(f"calling {function.node.name} with these arguments")
        try:
            self.block(function.node.body, function.scope.new_child(dict(zip(parameters, args))))
        except _Return as result:
            return result.value
        return None

    def remote(self, name, args, kwargs):
        """A call of the program's function `name`."""
        index, self.next_call = self.next_call, self.next_call + 1
        if index >= MAX_REMOTE_CALLS:
            raise Unsupported(f"more than {MAX_REMOTE_CALLS} calls of the program")
        if self.recording:
            self.calls.append((name, tuple(self.argument(a) for a in args),
                               {key: self.argument(a) for key, a in kwargs.items()}))
            return _Pending(index)
        if index >= len(self.values):
            raise MissingResult(index)
        self.recent.append((name, self.values[index]))
        return self.values[index]

    def argument(self, value):
        if isinstance(value, _Pending):
            return ("copy" if value.copied else "result", value.index)
        if isinstance(value, _Opaque) or not _is_data(value):
            raise Unsupported("an argument computed from the program's output, or one that is not data")
        return ("value", value)

    def deepcopy(self, value):
        if self.recording and isinstance(value, _Pending):
            return _Pending(value.index, copied=True)
        return self.operate(copy.deepcopy, value)

    def shallow_copy(self, value):
        return self.operate(copy.copy, self.steering(value, "copy.copy of a result"))


def _plain_parameters(args):
    return not (args.posonlyargs or args.vararg or args.kwonlyargs or args.kwarg or args.defaults)


def _is_data(value, depth=0) -> bool:
    """Values a test may send to the program (what marshal carries, without code)."""
    if value is None or type(value) in (bool, int, float, complex, str, bytes):
        return True
    if depth > 100:
        return False
    if type(value) in (list, tuple, set, frozenset):
        return all(_is_data(x, depth + 1) for x in value)
    if type(value) is dict:
        return all(_is_data(k, depth + 1) and _is_data(v, depth + 1) for k, v in value.items())
    return False
