"""The embedded problem set, one compact spec per problem (built into data/ by make_embedded_data.py).

Every problem here was written for this project. They are deliberately very easy to easy (string and list
manipulation, arithmetic, counting, simple parsing) so that a 135M-parameter model solves some of them.

    fn(title, statement, signature, body, cases, gen)   a LeetCode-style functional problem: `class Solution`
                                                       with one method; `body` is the reference method body
    io(title, statement, program, cases, gen)          a stdin/stdout problem; `program` is the reference program

Method names must not be names that LiveCodeBench's import prelude binds (math.lcm, itertools.compress, ...):
the sandbox falls back to a top-level function of that name, so such a problem could pass without any code.

`cases` are hand-written inputs (argument values, or a tuple of them for several parameters; raw text for
stdin); `gen(rng)` draws more random inputs of the same shape. Expected outputs are never written by hand.
"""
from __future__ import annotations

import random
import string
import textwrap
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class Spec:
    title: str
    statement: str
    solution: str                       # reference source: a `class Solution` or a full stdin program
    cases: list                         # hand-written inputs
    gen: Callable[[random.Random], Any] | None
    difficulty: str = "very_easy"
    constraints: tuple = ()
    func_name: str | None = None        # None for stdin problems
    param_names: list = field(default_factory=list)
    starter_code: str = ""

    @property
    def n_params(self) -> int:
        return len(self.param_names)


PROBLEMS: list[Spec] = []


def fn(title, statement, signature, body, cases, gen=None, difficulty="very_easy", constraints=()):
    """signature: 'name(a: int, b: list[int]) -> int' (no self; no commas inside type annotations)."""
    name, rest = signature.split("(", 1)
    params, ret = rest.rsplit(") -> ", 1)
    param_names = [p.split(":")[0].strip() for p in params.split(", ")]
    header = f"class Solution:\n    def {name}(self, {params}) -> {ret}:\n"
    solution = header + textwrap.indent(textwrap.dedent(body).strip("\n"), " " * 8) + "\n"
    PROBLEMS.append(Spec(title, statement, solution, list(cases), gen, difficulty, tuple(constraints),
                         func_name=name, param_names=param_names, starter_code=header + " " * 8))


def io(title, statement, program, cases, gen=None, difficulty="very_easy", constraints=()):
    solution = textwrap.dedent(program).strip("\n") + "\n"
    PROBLEMS.append(Spec(title, statement, solution, list(cases), gen, difficulty, tuple(constraints)))


# ----------------------------------------------------------------------------------------------------------
# Random input helpers. Each returns a function rng -> value.

VOCAB = ("apple banana code python level radar tree sun moon river stone cloud orange eagle idea umbrella "
         "noon civic kayak refer stats wow tiger lemon garden window bridge music owl ice echo under "
         "yellow green blue red cat dog bird fish a an it is on at go up").split()


def rint(lo, hi):
    return lambda r: r.randint(lo, hi)


def rlist(lo, hi, min_len=1, max_len=8):
    return lambda r: [r.randint(lo, hi) for _ in range(r.randint(min_len, max_len))]


def rword(min_len=1, max_len=8, letters=string.ascii_lowercase):
    return lambda r: "".join(r.choice(letters) for _ in range(r.randint(min_len, max_len)))


def rsentence(min_words=1, max_words=6, vocab=VOCAB):
    return lambda r: " ".join(r.choice(vocab) for _ in range(r.randint(min_words, max_words)))


def rargs(*gens):
    return lambda r: tuple(g(r) for g in gens)


def rchoice(options):
    return lambda r: r.choice(options)


def stdin_list(lo, hi, min_len=1, max_len=8):
    """'N\\nA_1 ... A_N' with N drawn too."""
    def gen(r):
        xs = rlist(lo, hi, min_len, max_len)(r)
        return f"{len(xs)}\n{' '.join(map(str, xs))}\n"
    return gen


def stdin_line(*gens):
    """One line: the drawn values separated by spaces."""
    return lambda r: " ".join(str(g(r)) for g in gens) + "\n"


def stdin_lines(*gens):
    """One drawn value per line."""
    return lambda r: "".join(f"{g(r)}\n" for g in gens)


def to_roman(n: int) -> str:
    table = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
             (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]
    out = ""
    for value, numeral in table:
        while n >= value:
            out += numeral
            n -= value
    return out


def sorted_list(lo, hi, min_len=0, max_len=8):
    return lambda r: sorted(rlist(lo, hi, min_len, max_len)(r))


def maybe_sorted(lo, hi, min_len=1, max_len=8):
    """Half the draws sorted, so 'is it sorted' problems see both answers."""
    return lambda r: sorted(rlist(lo, hi, min_len, max_len)(r)) if r.random() < 0.5 else rlist(lo, hi, min_len, max_len)(r)



# ----------------------------------------------------------------------------------------------------------
# Numbers and arithmetic

fn("Sum of Digits", "Given a non-negative integer n, return the sum of its decimal digits.",
   "sumOfDigits(n: int) -> int",
   "return sum(int(d) for d in str(n))",
   [12345, 0, 9, 1000000], rint(0, 10**9), constraints=["0 <= n <= 10^9"])

io("Count Digits", """\
You are given a non-negative integer N. Print how many digits N has when written in decimal without leading zeros.

Input
The input is a single integer N.

Output
Print the number of digits of N.""",
   """\
   n = input().strip()
   print(len(str(int(n))))
   """,
   ["7", "1000", "0"], stdin_line(rint(0, 10**18)), constraints=["0 <= N <= 10^18"])

fn("Reverse the Digits", """\
Given a non-negative integer n, return the integer obtained by writing the digits of n in reverse order.
Leading zeros of the result are dropped, so reversing 1200 gives 21.""",
   "reverseDigits(n: int) -> int",
   "return int(str(n)[::-1])",
   [1200, 5, 907, 0], rint(0, 10**7))

fn("Palindrome Number", """\
Given a non-negative integer n, return true if n reads the same forwards and backwards in decimal, and false otherwise.""",
   "isPalindromeNumber(n: int) -> bool",
   "s = str(n)\nreturn s == s[::-1]",
   [121, 10, 7, 1221, 12321],
   lambda r: r.choice([r.randint(0, 10**6), int(str(r.randint(1, 999)) + str(r.randint(1, 999))[::-1])]))

io("Factorial", """\
Print N! (N factorial), the product 1 * 2 * ... * N. By definition 0! = 1.

Input
A single integer N.

Output
Print N!.""",
   """\
   n = int(input())
   result = 1
   for i in range(2, n + 1):
       result *= i
   print(result)
   """,
   ["5", "0", "1"], stdin_line(rint(2, 20)), constraints=["0 <= N <= 20"])

fn("Fibonacci Number", """\
The Fibonacci numbers are F(0) = 0, F(1) = 1 and F(k) = F(k - 1) + F(k - 2) for k >= 2.
Given n, return F(n).""",
   "fib(n: int) -> int",
   """\
   a, b = 0, 1
   for _ in range(n):
       a, b = b, a + b
   return a
   """,
   [0, 1, 10], rint(2, 60), constraints=["0 <= n <= 60"])

io("Greatest Common Divisor", """\
Given two positive integers A and B, print their greatest common divisor.

Input
A single line with A and B separated by a space.

Output
Print gcd(A, B).""",
   """\
   a, b = map(int, input().split())
   while b:
       a, b = b, a % b
   print(a)
   """,
   ["12 18", "7 5", "100 100"], stdin_line(rint(1, 10**6), rint(1, 10**6)))

fn("Least Common Multiple", "Given two positive integers a and b, return the smallest positive integer that is a multiple of both.",
   "leastCommonMultiple(a: int, b: int) -> int",
   """\
   x, y = a, b
   while y:
       x, y = y, x % y
   return a * b // x
   """,
   [(4, 6), (7, 3), (5, 5)], rargs(rint(1, 1000), rint(1, 1000)))

fn("Prime Check", """\
Given an integer n, return true if n is a prime number and false otherwise.
A prime is an integer greater than 1 whose only positive divisors are 1 and itself.""",
   "isPrime(n: int) -> bool",
   """\
   if n < 2:
       return False
   d = 2
   while d * d <= n:
       if n % d == 0:
           return False
       d += 1
   return True
   """,
   [7, 1, 9, 0, 97], rint(0, 10**4))

io("Count Primes", """\
Print how many prime numbers are less than or equal to N.

Input
A single integer N.

Output
Print the number of primes p with 2 <= p <= N.""",
   """\
   n = int(input())
   count = 0
   for k in range(2, n + 1):
       if all(k % d for d in range(2, int(k ** 0.5) + 1)):
           count += 1
   print(count)
   """,
   ["10", "1", "2"], stdin_line(rint(3, 2000)), constraints=["1 <= N <= 2000"])

fn("Sum from One to N", "Given a non-negative integer n, return 1 + 2 + ... + n (0 when n is 0).",
   "sumToN(n: int) -> int",
   "return n * (n + 1) // 2",
   [3, 0, 100], rint(1, 10**6))

fn("Sum of Even Numbers", "Given a positive integer n, return the sum of all even numbers between 1 and n inclusive.",
   "sumEvens(n: int) -> int",
   "return sum(range(2, n + 1, 2))",
   [10, 1, 7], rint(2, 10**4))

fn("Count Divisors", "Given a positive integer n, return the number of positive integers that divide n.",
   "countDivisors(n: int) -> int",
   "return sum(1 for d in range(1, n + 1) if n % d == 0)",
   [12, 1, 13], rint(2, 10**4))

io("Perfect Number", """\
A positive integer is perfect if it equals the sum of its divisors other than itself (6 = 1 + 2 + 3 is perfect).
Given N, print Yes if N is perfect and No otherwise.

Input
A single integer N.

Output
Print Yes or No.""",
   """\
   n = int(input())
   total = sum(d for d in range(1, n) if n % d == 0)
   print("Yes" if total == n else "No")
   """,
   ["6", "12", "1", "28", "496"], stdin_line(rint(2, 10**4)))

fn("Power of Two", "Given an integer n, return true if n is a power of two (1, 2, 4, 8, ...), and false otherwise.",
   "isPowerOfTwo(n: int) -> bool",
   "return n > 0 and n & (n - 1) == 0",
   [1, 16, 6, 0, -8], lambda r: r.choice([2 ** r.randint(0, 30), r.randint(-10, 10**6)]))

fn("Binary Representation", """\
Given a non-negative integer n, return its binary representation as a string of 0s and 1s without leading zeros.
The representation of 0 is "0".""",
   "toBinary(n: int) -> str",
   "return bin(n)[2:]",
   [5, 0, 8], rint(1, 10**6))

io("Count the One Bits", """\
Print how many 1s appear in the binary representation of a non-negative integer N.

Input
A single integer N.

Output
Print the number of 1 bits of N.""",
   """\
   n = int(input())
   print(bin(n).count("1"))
   """,
   ["5", "0", "255"], stdin_line(rint(1, 10**9)))

fn("Binary to Decimal", "Given a string s made of the characters '0' and '1', return the integer whose binary representation is s.",
   "binaryToDecimal(s: str) -> int",
   """\
   value = 0
   for ch in s:
       value = value * 2 + int(ch)
   return value
   """,
   ["101", "0", "1111"], rword(1, 20, "01"))

io("Celsius to Fahrenheit", """\
Convert a temperature C given in degrees Celsius to degrees Fahrenheit using F = C * 9 / 5 + 32.
C is always a multiple of 5, so the answer is an integer.

Input
A single integer C.

Output
Print F as an integer.""",
   """\
   c = int(input())
   print(c * 9 // 5 + 32)
   """,
   ["100", "0", "-40"], lambda r: f"{5 * r.randint(-20, 40)}\n")

fn("Absolute Difference", "Given two integers a and b, return the absolute value of a - b.",
   "absDiff(a: int, b: int) -> int",
   "return abs(a - b)",
   [(3, 10), (10, 3), (-4, 4)], rargs(rint(-1000, 1000), rint(-1000, 1000)))

io("Largest of Three", """\
Given three integers, print the largest of them.

Input
A single line with three integers A, B and C.

Output
Print the maximum of A, B and C.""",
   """\
   print(max(map(int, input().split())))
   """,
   ["1 5 3", "-1 -2 -3", "7 7 7"], stdin_line(rint(-100, 100), rint(-100, 100), rint(-100, 100)))

fn("Leap Year", """\
Return true if the given year is a leap year in the Gregorian calendar, and false otherwise.
A year is a leap year if it is divisible by 4, except years divisible by 100, which are leap years only when also divisible by 400.""",
   "isLeapYear(year: int) -> bool",
   "return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)",
   [2024, 1900, 2000, 2023], rint(1600, 2400))

fn("Digital Root", """\
Repeatedly replace a non-negative integer n by the sum of its digits until a single digit remains. Return that digit.""",
   "digitalRoot(n: int) -> int",
   """\
   while n >= 10:
       n = sum(int(d) for d in str(n))
   return n
   """,
   [38, 0, 9999], rint(10, 10**9))

io("Product of Digits", """\
Print the product of the decimal digits of a positive integer N.

Input
A single integer N.

Output
Print the product of the digits of N.""",
   """\
   product = 1
   for d in input().strip():
       product *= int(d)
   print(product)
   """,
   ["234", "7", "105"], stdin_line(rint(1, 10**9)))

fn("FizzBuzz Word", """\
Given a positive integer n, return "FizzBuzz" if n is divisible by both 3 and 5, "Fizz" if it is divisible by 3 only,
"Buzz" if it is divisible by 5 only, and otherwise n written as a string.""",
   "fizzBuzz(n: int) -> str",
   """\
   if n % 15 == 0:
       return "FizzBuzz"
   if n % 3 == 0:
       return "Fizz"
   if n % 5 == 0:
       return "Buzz"
   return str(n)
   """,
   [15, 9, 10, 7], rint(1, 1000))

io("FizzBuzz Lines", """\
For each integer i from 1 to N, print one line: FizzBuzz if i is divisible by 15, Fizz if it is divisible by 3 only,
Buzz if it is divisible by 5 only, and i itself otherwise.

Input
A single integer N.

Output
Print N lines.""",
   """\
   n = int(input())
   for i in range(1, n + 1):
       if i % 15 == 0:
           print("FizzBuzz")
       elif i % 3 == 0:
           print("Fizz")
       elif i % 5 == 0:
           print("Buzz")
       else:
           print(i)
   """,
   ["5", "1", "15"], stdin_line(rint(2, 30)))

fn("Collatz Steps", """\
Starting from a positive integer n, repeat: if n is even, divide it by 2; otherwise replace it by 3 * n + 1.
Return the number of steps needed to reach 1 (0 if n is already 1).""",
   "collatzSteps(n: int) -> int",
   """\
   steps = 0
   while n != 1:
       n = n // 2 if n % 2 == 0 else 3 * n + 1
       steps += 1
   return steps
   """,
   [6, 1, 27], rint(2, 1000))

fn("Armstrong Number", """\
A positive integer with k digits is an Armstrong number if the sum of its digits, each raised to the power k,
equals the number itself (153 = 1^3 + 5^3 + 3^3). Return true if n is an Armstrong number.""",
   "isArmstrong(n: int) -> bool",
   """\
   digits = str(n)
   return sum(int(d) ** len(digits) for d in digits) == n
   """,
   [153, 154, 9474, 7, 10], lambda r: r.choice([r.randint(1, 10**5), r.choice([370, 371, 407, 1634, 8208])]))

fn("Sum of Squares", "Given a non-negative integer n, return 1^2 + 2^2 + ... + n^2.",
   "sumOfSquares(n: int) -> int",
   "return sum(i * i for i in range(1, n + 1))",
   [3, 0, 10], rint(1, 1000))

io("Staircase", """\
Print a staircase of height N: line i (for i = 1 to N) consists of exactly i '#' characters.

Input
A single integer N.

Output
Print N lines.""",
   """\
   n = int(input())
   for i in range(1, n + 1):
       print("#" * i)
   """,
   ["3", "1"], stdin_line(rint(2, 12)))

fn("Integer Square Root", "Given a non-negative integer n, return the largest integer r such that r * r <= n.",
   "floorSqrt(n: int) -> int",
   """\
   r = 0
   while (r + 1) * (r + 1) <= n:
       r += 1
   return r
   """,
   [16, 15, 0, 1], rint(2, 10**6))

fn("Perfect Square", "Given a non-negative integer n, return true if n is the square of an integer.",
   "isPerfectSquare(n: int) -> bool",
   """\
   r = int(n ** 0.5)
   while r * r > n:
       r -= 1
   while (r + 1) * (r + 1) <= n:
       r += 1
   return r * r == n
   """,
   [16, 14, 0, 1, 10000], lambda r: r.choice([r.randint(0, 1000) ** 2, r.randint(0, 10**6)]))

io("Multiples in a Range", """\
Count the integers x with A <= x <= B that are divisible by K.

Input
A single line with three integers A, B and K.

Output
Print the count.""",
   """\
   a, b, k = map(int, input().split())
   print(b // k - (a - 1) // k)
   """,
   ["1 10 3", "5 5 5", "6 9 5"],
   lambda r: (lambda a: f"{a} {a + r.randint(0, 10**5)} {r.randint(1, 100)}\n")(r.randint(1, 10**5)),
   constraints=["1 <= A <= B <= 10^6", "1 <= K <= 100"])

fn("Minutes to Clock Time", """\
Given a number of minutes m since midnight (0 <= m < 1440), return the time as a string "H:MM":
the hour without leading zeros, a colon, and the minutes as exactly two digits. For example 605 becomes "10:05".""",
   "minutesToClock(m: int) -> str",
   "return f\"{m // 60}:{m % 60:02d}\"",
   [605, 0, 59, 1439], rint(1, 1439))

io("Seconds to Clock", """\
Convert S seconds (0 <= S < 86400) into the format HH:MM:SS, each field written with exactly two digits.

Input
A single integer S.

Output
Print the time as HH:MM:SS.""",
   """\
   s = int(input())
   print(f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}")
   """,
   ["3661", "0", "86399"], stdin_line(rint(1, 86398)))

fn("Round to the Nearest Ten", """\
Given a non-negative integer n, return n rounded to the nearest multiple of 10. Numbers ending in 5 round up.""",
   "roundToTen(n: int) -> int",
   "return (n + 5) // 10 * 10",
   [14, 15, 0, 99], rint(1, 10**5))

fn("Last Digit of a Power", "Given non-negative integers a and b, return the last decimal digit of a raised to the power b. Take 0^0 to be 1.",
   "lastDigitOfPower(a: int, b: int) -> int",
   "return pow(a, b, 10)",
   [(2, 10), (7, 0), (0, 5), (0, 0)], rargs(rint(0, 100), rint(0, 100)))

io("Even or Odd", """\
Given an integer N, print Even if it is even and Odd if it is odd.

Input
A single integer N.

Output
Print Even or Odd.""",
   """\
   n = int(input())
   print("Even" if n % 2 == 0 else "Odd")
   """,
   ["4", "-3", "0"], stdin_line(rint(-10**6, 10**6)))

fn("Sign Word", 'Given an integer n, return "positive" if n > 0, "negative" if n < 0, and "zero" if n == 0.',
   "signWord(n: int) -> str",
   """\
   if n > 0:
       return "positive"
   if n < 0:
       return "negative"
   return "zero"
   """,
   [5, -2, 0], rint(-1000, 1000))

io("Average Rounded Down", """\
Print the average of N non-negative integers, rounded down to an integer.

Input
The first line contains N. The second line contains A_1, ..., A_N separated by spaces.

Output
Print floor((A_1 + ... + A_N) / N).""",
   """\
   n = int(input())
   values = list(map(int, input().split()))
   print(sum(values) // n)
   """,
   ["3\n1 2 4\n", "1\n9\n"], stdin_list(0, 100, 1, 10))

fn("Trailing Zeros", "Given a positive integer n, return how many zeros n ends with in decimal.",
   "countTrailingZeros(n: int) -> int",
   "return len(str(n)) - len(str(n).rstrip(\"0\"))",
   [1200, 7, 1000000], lambda r: r.randint(1, 999) * 10 ** r.randint(0, 6))

fn("Zeros at the End of a Factorial", "Given a non-negative integer n, return the number of trailing zeros of n! (n factorial).",
   "factorialZeros(n: int) -> int",
   """\
   count = 0
   power = 5
   while power <= n:
       count += n // power
       power *= 5
   return count
   """,
   [5, 3, 25, 100], rint(0, 10**4), difficulty="easy")

fn("Steps to Reach Zero", """\
Given a non-negative integer n, count the steps to reduce it to zero, where one step divides n by 2 if n is even
and subtracts 1 from n if it is odd. Return the number of steps.""",
   "stepsToZero(n: int) -> int",
   """\
   steps = 0
   while n > 0:
       n = n // 2 if n % 2 == 0 else n - 1
       steps += 1
   return steps
   """,
   [14, 0, 8], rint(1, 10**6))

io("Alternating Digit Sum", """\
Given a positive integer N with digits d_1 d_2 ... d_k (from the left), print d_1 - d_2 + d_3 - d_4 + ...

Input
A single integer N.

Output
Print the alternating sum of its digits.""",
   """\
   digits = input().strip()
   print(sum(int(d) if i % 2 == 0 else -int(d) for i, d in enumerate(digits)))
   """,
   ["521", "7", "1919"], stdin_line(rint(10, 10**9)))

fn("Largest Digit", "Given a non-negative integer n, return the largest of its decimal digits.",
   "largestDigit(n: int) -> int",
   "return max(int(d) for d in str(n))",
   [4719, 0, 333], rint(1, 10**9))

fn("Roman to Integer", """\
Convert a Roman numeral to an integer. The symbols are I=1, V=5, X=10, L=50, C=100, D=500, M=1000; a smaller
symbol written before a larger one is subtracted (IV = 4, IX = 9, XL = 40, XC = 90, CD = 400, CM = 900).
The input is a valid numeral for a value between 1 and 3999.""",
   "romanToInt(s: str) -> int",
   """\
   values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
   total = 0
   for i, ch in enumerate(s):
       if i + 1 < len(s) and values[ch] < values[s[i + 1]]:
           total -= values[ch]
       else:
           total += values[ch]
   return total
   """,
   ["III", "IX", "MCMXCIV"], lambda r: to_roman(r.randint(1, 3999)), difficulty="easy")

fn("Integer to Roman", """\
Convert an integer between 1 and 3999 to a Roman numeral, using I=1, V=5, X=10, L=50, C=100, D=500, M=1000 and the
subtractive forms IV, IX, XL, XC, CD and CM (so 4 is "IV" and 1994 is "MCMXCIV").""",
   "intToRoman(num: int) -> str",
   """\
   table = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
            (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]
   out = ""
   for value, numeral in table:
       while num >= value:
           out += numeral
           num -= value
   return out
   """,
   [3, 58, 1994], rint(1, 3999), difficulty="easy")

io("Base Conversion", """\
Write the non-negative integer N in base B (2 <= B <= 9), without leading zeros (0 is written as 0).

Input
A single line with N and B.

Output
Print N in base B.""",
   """\
   n, b = map(int, input().split())
   digits = ""
   while n > 0:
       digits = str(n % b) + digits
       n //= b
   print(digits or "0")
   """,
   ["10 2", "0 7", "64 8"], stdin_line(rint(1, 10**6), rint(2, 9)), difficulty="easy")

fn("Days in a Month", """\
Given a year and a month (1 = January, ..., 12 = December), return the number of days in that month of the
Gregorian calendar. February has 29 days in leap years (divisible by 4, except centuries not divisible by 400).""",
   "daysInMonth(year: int, month: int) -> int",
   """\
   if month == 2:
       leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
       return 29 if leap else 28
   return 30 if month in (4, 6, 9, 11) else 31
   """,
   [(2024, 2), (2023, 2), (2023, 4), (1900, 2)], rargs(rint(1800, 2200), rint(1, 12)))

io("12-Hour Clock", """\
Convert a time given on a 24-hour clock as HH:MM into a 12-hour clock time "h:MM AM" or "h:MM PM".
Hours 00 to 11 are AM and 12 to 23 are PM; the hour is written without a leading zero and hour 0 or 12 is written 12.

Input
A single line HH:MM.

Output
Print the 12-hour time.""",
   """\
   hh, mm = input().strip().split(":")
   h = int(hh)
   suffix = "AM" if h < 12 else "PM"
   h = h % 12 or 12
   print(f"{h}:{mm} {suffix}")
   """,
   ["13:05", "00:30", "12:00", "09:45"], lambda r: f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}\n")

fn("Manhattan Distance", "Return |x1 - x2| + |y1 - y2|, the Manhattan distance between the points (x1, y1) and (x2, y2).",
   "manhattan(x1: int, y1: int, x2: int, y2: int) -> int",
   "return abs(x1 - x2) + abs(y1 - y2)",
   [(0, 0, 3, 4), (1, 1, 1, 1)], rargs(rint(-100, 100), rint(-100, 100), rint(-100, 100), rint(-100, 100)))

fn("Rectangle Overlap Area", """\
Each rectangle is given as a list [x1, y1, x2, y2] with x1 < x2 and y1 < y2 (its lower-left and upper-right corners).
Return the area of the region covered by both rectangles a and b (0 if they do not overlap).""",
   "overlapArea(a: list[int], b: list[int]) -> int",
   """\
   width = min(a[2], b[2]) - max(a[0], b[0])
   height = min(a[3], b[3]) - max(a[1], b[1])
   return max(width, 0) * max(height, 0)
   """,
   [([0, 0, 2, 2], [1, 1, 3, 3]), ([0, 0, 1, 1], [2, 2, 3, 3])],
   lambda r: tuple((lambda x, y: [x, y, x + r.randint(1, 6), y + r.randint(1, 6)])(r.randint(0, 6), r.randint(0, 6))
                   for _ in range(2)),
   difficulty="easy")

fn("Numbers With an Even Number of Digits", "Given a list of positive integers, return how many of them have an even number of decimal digits.",
   "findNumbers(nums: list[int]) -> int",
   "return sum(1 for x in nums if len(str(x)) % 2 == 0)",
   [[12, 345, 2, 6, 7896], [1]], rlist(1, 10**6, 1, 10))

io("Sum of Multiples of Three or Five", """\
Print the sum of all integers from 1 to N inclusive that are divisible by 3 or by 5.

Input
A single integer N.

Output
Print the sum.""",
   """\
   n = int(input())
   print(sum(i for i in range(1, n + 1) if i % 3 == 0 or i % 5 == 0))
   """,
   ["10", "2", "15"], stdin_line(rint(3, 10**4)))

fn("Happy Number", """\
Start with a positive integer n and repeatedly replace it by the sum of the squares of its digits. n is happy if this
process reaches 1; otherwise it loops forever in a cycle that does not contain 1. Return true if n is happy.""",
   "isHappy(n: int) -> bool",
   """\
   seen = set()
   while n != 1 and n not in seen:
       seen.add(n)
       n = sum(int(d) ** 2 for d in str(n))
   return n == 1
   """,
   [19, 2, 1, 7], rint(1, 10**5), difficulty="easy")

fn("Ugly Number", "An ugly number is a positive integer whose only prime factors are 2, 3 and 5 (1 counts as ugly). Return true if n is ugly.",
   "isUgly(n: int) -> bool",
   """\
   if n <= 0:
       return False
   for p in (2, 3, 5):
       while n % p == 0:
           n //= p
   return n == 1
   """,
   [6, 14, 1, 0, -30], lambda r: r.choice([2 ** r.randint(0, 5) * 3 ** r.randint(0, 3) * 5 ** r.randint(0, 2),
                                            r.randint(-10, 10**4)]))

io("Self-Dividing Numbers", """\
A self-dividing number is divisible by every one of its digits and contains no digit 0 (128 is self-dividing).
Print all self-dividing numbers between L and R inclusive, in increasing order, separated by spaces.
If there are none, print -1.

Input
A single line with L and R.

Output
Print the numbers on one line, or -1.""",
   """\
   left, right = map(int, input().split())
   found = [x for x in range(left, right + 1) if "0" not in str(x) and all(x % int(d) == 0 for d in str(x))]
   print(" ".join(map(str, found)) if found else -1)
   """,
   ["1 22", "100 110", "128 128"],
   lambda r: (lambda a: f"{a} {a + r.randint(0, 200)}\n")(r.randint(1, 10**4)), difficulty="easy")

fn("Next Multiple", "Given integers n >= 0 and k >= 1, return the smallest multiple of k that is greater than or equal to n.",
   "nextMultiple(n: int, k: int) -> int",
   "return (n + k - 1) // k * k",
   [(7, 5), (10, 5), (0, 3)], rargs(rint(1, 10**6), rint(1, 100)))

fn("Fewest Coins", """\
Coins come in values 25, 10, 5 and 1. Return the smallest number of coins that add up to exactly `cents`.""",
   "minCoins(cents: int) -> int",
   """\
   count = 0
   for coin in (25, 10, 5, 1):
       count += cents // coin
       cents %= coin
   return count
   """,
   [30, 0, 99], rint(1, 1000))

fn("Largest Number From the Digits", "Rearrange the decimal digits of a non-negative integer n to form the largest possible integer, and return it.",
   "largestFromDigits(n: int) -> int",
   "return int(\"\".join(sorted(str(n), reverse=True)))",
   [2736, 0, 1000], rint(1, 10**9))

io("Odd Numbers in a Range", """\
Print how many odd integers x satisfy L <= x <= H.

Input
A single line with L and H.

Output
Print the count.""",
   """\
   low, high = map(int, input().split())
   print((high + 1) // 2 - low // 2)
   """,
   ["3 7", "8 10", "0 0"], lambda r: (lambda a: f"{a} {a + r.randint(0, 10**9)}\n")(r.randint(0, 10**9)))

fn("Minutes Between Two Times", """\
Two times of the same day are given as strings "HH:MM" (24-hour clock), and `end` is not earlier than `start`.
Return the number of minutes from start to end.""",
   "minutesBetween(start: str, end: str) -> int",
   """\
   h1, m1 = map(int, start.split(":"))
   h2, m2 = map(int, end.split(":"))
   return (h2 * 60 + m2) - (h1 * 60 + m1)
   """,
   [("09:15", "10:00"), ("00:00", "23:59"), ("12:30", "12:30")],
   lambda r: tuple(f"{t // 60:02d}:{t % 60:02d}" for t in sorted([r.randint(0, 1439), r.randint(0, 1439)])))


# ----------------------------------------------------------------------------------------------------------
# Lists

io("Sum of a List", """\
Print the sum of N integers.

Input
The first line contains N. The second line contains A_1, ..., A_N separated by spaces.

Output
Print A_1 + ... + A_N.""",
   """\
   n = int(input())
   print(sum(map(int, input().split())))
   """,
   ["3\n1 2 3\n", "1\n-5\n"], stdin_list(-1000, 1000, 1, 12))

fn("Maximum Element", "Given a non-empty list of integers, return its largest element.",
   "maxElement(nums: list[int]) -> int",
   """\
   best = nums[0]
   for x in nums:
       if x > best:
           best = x
   return best
   """,
   [[3, 9, 2], [-5]], rlist(-100, 100, 1, 10))

io("Minimum and Maximum", """\
Given N integers, print the smallest and the largest of them.

Input
The first line contains N. The second line contains A_1, ..., A_N.

Output
Print the minimum and the maximum separated by a space.""",
   """\
   n = int(input())
   values = list(map(int, input().split()))
   print(min(values), max(values))
   """,
   ["4\n3 -1 8 2\n", "1\n5\n"], stdin_list(-100, 100, 1, 10))

fn("Second Largest Value", """\
Given a list of integers, return the second largest distinct value in it. If the list has fewer than two distinct
values, return -1.""",
   "secondLargest(nums: list[int]) -> int",
   """\
   distinct = sorted(set(nums))
   return distinct[-2] if len(distinct) >= 2 else -1
   """,
   [[4, 1, 4, 3], [7, 7], [5]], rlist(0, 20, 1, 8))

fn("Count Even Numbers", "Given a list of integers, return how many of them are even.",
   "countEvens(nums: list[int]) -> int",
   "return sum(1 for x in nums if x % 2 == 0)",
   [[1, 2, 3, 4], [], [-2, 0, 5]], rlist(-50, 50, 0, 10))

io("Count Negatives", """\
Print how many of the N given integers are negative.

Input
The first line contains N. The second line contains A_1, ..., A_N.

Output
Print the number of i with A_i < 0.""",
   """\
   n = int(input())
   print(sum(1 for x in map(int, input().split()) if x < 0))
   """,
   ["5\n-1 2 -3 0 4\n", "2\n0 0\n"], stdin_list(-20, 20, 1, 12))

fn("Reverse a List", "Return the elements of the list nums in reverse order.",
   "reverseList(nums: list[int]) -> list[int]",
   "return nums[::-1]",
   [[1, 2, 3], [], [5]], rlist(-20, 20, 0, 8))

fn("Remove Duplicates Keeping Order", """\
Return the list nums with repeated values removed: keep only the first occurrence of each value, in the original order.""",
   "removeDuplicates(nums: list[int]) -> list[int]",
   """\
   seen = set()
   out = []
   for x in nums:
       if x not in seen:
           seen.add(x)
           out.append(x)
   return out
   """,
   [[3, 1, 3, 2, 1], [], [4, 4, 4]], rlist(0, 6, 0, 10))

fn("Running Sum", "Return the running sum of nums: element i of the result is nums[0] + nums[1] + ... + nums[i].",
   "runningSum(nums: list[int]) -> list[int]",
   """\
   out = []
   total = 0
   for x in nums:
       total += x
       out.append(total)
   return out
   """,
   [[1, 2, 3, 4], [5]], rlist(-20, 20, 1, 10))

io("Is the List Sorted", """\
Print Yes if the N given integers are in non-decreasing order (each is at least the one before it), and No otherwise.

Input
The first line contains N. The second line contains A_1, ..., A_N.

Output
Print Yes or No.""",
   """\
   n = int(input())
   values = list(map(int, input().split()))
   print("Yes" if all(values[i] <= values[i + 1] for i in range(n - 1)) else "No")
   """,
   ["3\n1 2 2\n", "3\n3 1 2\n", "1\n7\n"],
   lambda r: (lambda xs: f"{len(xs)}\n{' '.join(map(str, xs))}\n")(maybe_sorted(0, 20, 2, 8)(r)))

fn("Index of a Value", "Return the index of the first occurrence of target in nums, or -1 if target does not occur.",
   "findIndex(nums: list[int], target: int) -> int",
   """\
   for i, x in enumerate(nums):
       if x == target:
           return i
   return -1
   """,
   [([4, 2, 7, 2], 2), ([1, 2], 5), ([], 1)], rargs(rlist(0, 9, 0, 8), rint(0, 9)))

fn("Count a Value", "Return how many times target occurs in nums.",
   "countOccurrences(nums: list[int], target: int) -> int",
   "return sum(1 for x in nums if x == target)",
   [([1, 2, 1, 1], 1), ([3], 4)], rargs(rlist(0, 4, 0, 10), rint(0, 4)))

fn("Rotate Right", """\
Rotate the non-empty list nums to the right by k positions: each element moves k places to the right and elements
falling off the end wrap around to the front. k may be larger than the length of the list.""",
   "rotateRight(nums: list[int], k: int) -> list[int]",
   """\
   k %= len(nums)
   return nums[-k:] + nums[:-k] if k else nums[:]
   """,
   [([1, 2, 3, 4, 5], 2), ([1, 2], 3), ([7], 0)], rargs(rlist(0, 9, 1, 8), rint(0, 20)), difficulty="easy")

io("Range of Values", """\
Print the difference between the largest and the smallest of N integers.

Input
The first line contains N. The second line contains A_1, ..., A_N.

Output
Print max(A) - min(A).""",
   """\
   n = int(input())
   values = list(map(int, input().split()))
   print(max(values) - min(values))
   """,
   ["4\n5 1 9 3\n", "1\n42\n"], stdin_list(-100, 100, 1, 10))

fn("Sum at Even Indices", "Return the sum of the elements of nums at even indices (0, 2, 4, ...).",
   "sumEvenIndices(nums: list[int]) -> int",
   "return sum(nums[::2])",
   [[1, 2, 3, 4, 5], [], [10]], rlist(-20, 20, 0, 10))

fn("Product of a List", "Return the product of all elements of nums (1 for an empty list).",
   "productOfList(nums: list[int]) -> int",
   """\
   product = 1
   for x in nums:
       product *= x
   return product
   """,
   [[2, 3, 4], [], [-1, 5]], rlist(-5, 5, 0, 8))

fn("Missing Number", """\
nums contains n distinct numbers taken from 0, 1, ..., n, so exactly one number of that range is missing. Return it.""",
   "missingNumber(nums: list[int]) -> int",
   """\
   n = len(nums)
   return n * (n + 1) // 2 - sum(nums)
   """,
   [[3, 0, 1], [0], [1]], lambda r: (lambda xs: r.sample(xs, len(xs) - 1))(list(range(r.randint(2, 11)))))

fn("The Single Number", "Every value in nums appears exactly twice except one, which appears once. Return that value.",
   "singleNumber(nums: list[int]) -> int",
   """\
   counts = {}
   for x in nums:
       counts[x] = counts.get(x, 0) + 1
   for x, c in counts.items():
       if c == 1:
           return x
   """,
   [[2, 2, 1], [4, 1, 2, 1, 2], [7]],
   lambda r: (lambda vals: r.sample(vals[:-1] * 2 + vals[-1:], 2 * len(vals) - 1))(r.sample(range(-20, 20), r.randint(2, 5))))

fn("Majority Element", "nums contains a value that appears more than len(nums) / 2 times. Return that value.",
   "majorityElement(nums: list[int]) -> int",
   """\
   counts = {}
   for x in nums:
       counts[x] = counts.get(x, 0) + 1
   return max(counts, key=counts.get)
   """,
   [[3, 2, 3], [2, 2, 1, 1, 2]],
   lambda r: (lambda m, others: r.sample([m] * (len(others) + 1) + others, 2 * len(others) + 1))(
       r.randint(0, 9), [r.randint(0, 9) for _ in range(r.randint(0, 4))]))

fn("Two Sum", """\
Return [i, j] with i < j such that nums[i] + nums[j] == target. If several pairs work, return the one with the smallest i,
and among those the smallest j. If no pair works, return [-1, -1].""",
   "twoSum(nums: list[int], target: int) -> list[int]",
   """\
   for i in range(len(nums)):
       for j in range(i + 1, len(nums)):
           if nums[i] + nums[j] == target:
               return [i, j]
   return [-1, -1]
   """,
   [([2, 7, 11, 15], 9), ([3, 3], 6), ([1, 2], 7)], rargs(rlist(0, 10, 2, 8), rint(0, 20)), difficulty="easy")

fn("Merge Two Sorted Lists", "a and b are sorted in non-decreasing order. Return one sorted list containing all elements of both.",
   "mergeSorted(a: list[int], b: list[int]) -> list[int]",
   """\
   out = []
   i = j = 0
   while i < len(a) and j < len(b):
       if a[i] <= b[j]:
           out.append(a[i])
           i += 1
       else:
           out.append(b[j])
           j += 1
   return out + a[i:] + b[j:]
   """,
   [([1, 3, 5], [2, 4]), ([], [1]), ([], [])], rargs(sorted_list(0, 20), sorted_list(0, 20)))

fn("Move Zeros to the End", "Return nums with all zeros moved to the end, keeping the relative order of the non-zero elements.",
   "moveZeros(nums: list[int]) -> list[int]",
   """\
   non_zero = [x for x in nums if x != 0]
   return non_zero + [0] * (len(nums) - len(non_zero))
   """,
   [[0, 1, 0, 3, 12], [0], [1, 2]], rlist(0, 3, 0, 10))

fn("Adjacent Differences", "Return the list of differences nums[i + 1] - nums[i] for i = 0 .. len(nums) - 2.",
   "adjacentDifferences(nums: list[int]) -> list[int]",
   "return [nums[i + 1] - nums[i] for i in range(len(nums) - 1)]",
   [[1, 4, 9, 16], [5]], rlist(-20, 20, 1, 10))

io("Above Average", """\
Print how many of the N given integers are strictly greater than the average of all N integers.

Input
The first line contains N. The second line contains A_1, ..., A_N.

Output
Print the count.""",
   """\
   n = int(input())
   values = list(map(int, input().split()))
   total = sum(values)
   print(sum(1 for x in values if x * n > total))
   """,
   ["4\n1 2 3 10\n", "3\n5 5 5\n"], stdin_list(0, 100, 1, 10))

fn("K-th Smallest Element", """\
Return the k-th smallest element of nums (k is 1-based; duplicates count separately, so the 2nd smallest of
[1, 1, 3] is 1).""",
   "kthSmallest(nums: list[int], k: int) -> int",
   "return sorted(nums)[k - 1]",
   [([3, 1, 2], 2), ([1, 1, 3], 2), ([5], 1)],
   lambda r: (lambda xs: (xs, r.randint(1, len(xs))))(rlist(0, 30, 1, 8)(r)))

io("Median of an Odd Count", """\
N is odd. Print the median of the N given integers: the middle value once they are sorted.

Input
The first line contains N. The second line contains A_1, ..., A_N.

Output
Print the median.""",
   """\
   n = int(input())
   values = sorted(map(int, input().split()))
   print(values[n // 2])
   """,
   ["3\n9 1 5\n", "1\n4\n"],
   lambda r: (lambda xs: f"{len(xs)}\n{' '.join(map(str, xs))}\n")([r.randint(-50, 50) for _ in range(2 * r.randint(1, 5) + 1)]))

fn("Most Frequent Element", "Return the value that occurs most often in the non-empty list nums. On a tie, return the smallest such value.",
   "mostFrequent(nums: list[int]) -> int",
   """\
   counts = {}
   for x in nums:
       counts[x] = counts.get(x, 0) + 1
   best = max(counts.values())
   return min(x for x in counts if counts[x] == best)
   """,
   [[1, 3, 3, 2], [4, 5], [7]], rlist(0, 5, 1, 10))

fn("Contains a Duplicate", "Return true if some value appears at least twice in nums, and false if all values are distinct.",
   "containsDuplicate(nums: list[int]) -> bool",
   "return len(set(nums)) < len(nums)",
   [[1, 2, 3, 1], [1, 2, 3], []], rlist(0, 15, 0, 8))

fn("Intersection of Two Lists", "Return the sorted list of distinct values that appear in both a and b.",
   "intersection(a: list[int], b: list[int]) -> list[int]",
   "return sorted(set(a) & set(b))",
   [([1, 2, 2, 1], [2, 2]), ([4, 9, 5], [9, 4, 9, 8, 4]), ([], [1])], rargs(rlist(0, 10, 0, 8), rlist(0, 10, 0, 8)))

io("Union of Two Lists", """\
Print all distinct values that appear in at least one of two lists, in increasing order, separated by spaces.

Input
Four lines: N, then the N values of the first list, then M, then the M values of the second list.

Output
Print the sorted distinct values on one line.""",
   """\
   input()
   a = list(map(int, input().split()))
   input()
   b = list(map(int, input().split()))
   print(" ".join(map(str, sorted(set(a) | set(b)))))
   """,
   ["3\n3 1 3\n2\n2 1\n", "1\n5\n1\n5\n"],
   lambda r: stdin_list(0, 20, 1, 6)(r) + stdin_list(0, 20, 1, 6)(r))

fn("Values That Appear Once", "Return, in increasing order, the values that appear exactly once in nums.",
   "elementsOnce(nums: list[int]) -> list[int]",
   "return sorted(x for x in set(nums) if nums.count(x) == 1)",
   [[4, 3, 4, 1], [2, 2], []], rlist(0, 8, 0, 10))

fn("Longest Run of Equal Values", "Return the length of the longest block of consecutive equal elements in the non-empty list nums.",
   "longestRun(nums: list[int]) -> int",
   """\
   best = current = 1
   for i in range(1, len(nums)):
       current = current + 1 if nums[i] == nums[i - 1] else 1
       best = max(best, current)
   return best
   """,
   [[1, 1, 2, 2, 2, 1], [5], [1, 2, 3]], rlist(0, 2, 1, 12))

io("Longest Increasing Stretch", """\
Print the length of the longest contiguous part of the sequence A_1, ..., A_N that is strictly increasing.

Input
The first line contains N. The second line contains A_1, ..., A_N.

Output
Print the length.""",
   """\
   n = int(input())
   values = list(map(int, input().split()))
   best = current = 1
   for i in range(1, n):
       current = current + 1 if values[i] > values[i - 1] else 1
       best = max(best, current)
   print(best)
   """,
   ["6\n1 3 5 4 7 8\n", "3\n2 2 2\n"], stdin_list(0, 10, 1, 10))

fn("Max Consecutive Ones", "bits contains only 0s and 1s. Return the length of the longest block of consecutive 1s.",
   "maxConsecutiveOnes(bits: list[int]) -> int",
   """\
   best = current = 0
   for b in bits:
       current = current + 1 if b == 1 else 0
       best = max(best, current)
   return best
   """,
   [[1, 1, 0, 1, 1, 1], [0, 0], []], rlist(0, 1, 0, 12))

fn("Sum of Positive Numbers", "Return the sum of the elements of nums that are greater than zero.",
   "sumPositives(nums: list[int]) -> int",
   "return sum(x for x in nums if x > 0)",
   [[1, -4, 7, 12], [-1, -2]], rlist(-20, 20, 0, 10))

fn("Sorted Squares", "Return the squares of the elements of nums, sorted in non-decreasing order.",
   "sortedSquares(nums: list[int]) -> list[int]",
   "return sorted(x * x for x in nums)",
   [[-4, -1, 0, 3, 10], [2]], rlist(-10, 10, 1, 8))

fn("Greatest Element to the Right", """\
Replace every element of arr by the greatest element among those to its right, and replace the last element by -1.
Return the resulting list.""",
   "replaceElements(arr: list[int]) -> list[int]",
   """\
   out = [-1] * len(arr)
   best = -1
   for i in range(len(arr) - 1, -1, -1):
       out[i] = best
       best = max(best, arr[i])
   return out
   """,
   [[17, 18, 5, 4, 6, 1], [400]], rlist(1, 50, 1, 8), difficulty="easy")

io("Equal Pairs", """\
Print the number of pairs of indices (i, j) with i < j and A_i = A_j.

Input
The first line contains N. The second line contains A_1, ..., A_N.

Output
Print the number of such pairs.""",
   """\
   n = int(input())
   values = list(map(int, input().split()))
   print(sum(1 for i in range(n) for j in range(i + 1, n) if values[i] == values[j]))
   """,
   ["4\n1 2 1 1\n", "2\n1 2\n"], stdin_list(0, 4, 1, 10))

fn("Pairs With a Given Sum", "Return the number of index pairs (i, j) with i < j and nums[i] + nums[j] == target.",
   "countPairsWithSum(nums: list[int], target: int) -> int",
   """\
   n = len(nums)
   return sum(1 for i in range(n) for j in range(i + 1, n) if nums[i] + nums[j] == target)
   """,
   [([1, 2, 3, 4, 3], 6), ([1, 1, 1], 2), ([5], 10)], rargs(rlist(0, 6, 1, 8), rint(0, 12)))

fn("Maximum Subarray Sum", "Return the largest sum of a non-empty contiguous part of nums.",
   "maxSubarray(nums: list[int]) -> int",
   """\
   best = current = nums[0]
   for x in nums[1:]:
       current = max(x, current + x)
       best = max(best, current)
   return best
   """,
   [[-2, 1, -3, 4, -1, 2, 1, -5, 4], [-3], [5, 4, -1, 7, 8]], rlist(-10, 10, 1, 10), difficulty="easy")

fn("Best Day to Sell", """\
prices[i] is the price of a stock on day i. Buy on one day and sell on a later day; return the largest possible profit,
or 0 if no profit is possible.""",
   "maxProfit(prices: list[int]) -> int",
   """\
   best = 0
   lowest = prices[0]
   for p in prices[1:]:
       best = max(best, p - lowest)
       lowest = min(lowest, p)
   return best
   """,
   [[7, 1, 5, 3, 6, 4], [7, 6, 4, 3, 1], [3]], rlist(1, 20, 1, 10), difficulty="easy")

fn("Flatten a Grid", "Return all values of the 2D list grid in row-major order (the first row, then the second, and so on).",
   "flatten(grid: list[list[int]]) -> list[int]",
   "return [x for row in grid for x in row]",
   [[[1, 2], [3], []], [[5]]], lambda r: [rlist(0, 9, 0, 4)(r) for _ in range(r.randint(1, 4))])

fn("Transpose a Matrix", "Return the transpose of the rectangular matrix: row i of the result is column i of the input.",
   "transpose(matrix: list[list[int]]) -> list[list[int]]",
   "return [[row[c] for row in matrix] for c in range(len(matrix[0]))]",
   [[[1, 2, 3], [4, 5, 6]], [[7]]],
   lambda r: (lambda rows, cols: [[r.randint(0, 9) for _ in range(cols)] for _ in range(rows)])(r.randint(1, 4), r.randint(1, 4)))

io("Diagonal Sum", """\
Given an N x N grid of integers, print the sum of the entries on its main diagonal (row i, column i).

Input
The first line contains N. Each of the next N lines contains N integers.

Output
Print the diagonal sum.""",
   """\
   n = int(input())
   total = 0
   for i in range(n):
       row = list(map(int, input().split()))
       total += row[i]
   print(total)
   """,
   ["2\n1 2\n3 4\n", "1\n-7\n"],
   lambda r: (lambda n: f"{n}\n" + "".join(" ".join(str(r.randint(-9, 9)) for _ in range(n)) + "\n" for _ in range(n)))(r.randint(1, 5)))

fn("Row With the Largest Sum", "Return the index of the row of matrix with the largest sum. On a tie, return the smallest index.",
   "richestRow(matrix: list[list[int]]) -> int",
   """\
   sums = [sum(row) for row in matrix]
   return sums.index(max(sums))
   """,
   [[[1, 2], [3, 4], [0, 7]], [[5]]],
   lambda r: (lambda rows, cols: [[r.randint(0, 5) for _ in range(cols)] for _ in range(rows)])(r.randint(1, 4), r.randint(1, 3)))

io("Grid Total", """\
Print the sum of all entries of an R x C grid of integers.

Input
The first line contains R and C. Each of the next R lines contains C integers.

Output
Print the total.""",
   """\
   rows, cols = map(int, input().split())
   print(sum(sum(map(int, input().split())) for _ in range(rows)))
   """,
   ["2 3\n1 2 3\n4 5 6\n", "1 1\n0\n"],
   lambda r: (lambda rows, cols: f"{rows} {cols}\n" + "".join(" ".join(str(r.randint(-9, 9)) for _ in range(cols)) + "\n"
                                                             for _ in range(rows)))(r.randint(1, 4), r.randint(1, 4)))

fn("Split Into Chunks", "Split nums into consecutive groups of k elements each (the last group may be shorter) and return the list of groups.",
   "chunk(nums: list[int], k: int) -> list[list[int]]",
   "return [nums[i:i + k] for i in range(0, len(nums), k)]",
   [([1, 2, 3, 4, 5], 2), ([1, 2], 5), ([], 3)], rargs(rlist(0, 9, 1, 10), rint(1, 4)))

fn("Interleave Two Lists", """\
Return a list that takes elements alternately from a and b, starting with a[0], then b[0], then a[1], and so on.
When one list runs out, append the rest of the other.""",
   "interleave(a: list[int], b: list[int]) -> list[int]",
   """\
   out = []
   for i in range(max(len(a), len(b))):
       if i < len(a):
           out.append(a[i])
       if i < len(b):
           out.append(b[i])
   return out
   """,
   [([1, 2, 3], [10, 20]), ([], [4, 5])], rargs(rlist(0, 9, 0, 5), rlist(10, 19, 0, 5)))

fn("Running Maximum", "Return a list whose element i is the maximum of nums[0], ..., nums[i].",
   "runningMax(nums: list[int]) -> list[int]",
   """\
   out = []
   for x in nums:
       out.append(x if not out else max(out[-1], x))
   return out
   """,
   [[1, 3, 2, 5, 4], [-1, -2]], rlist(-20, 20, 1, 10))

io("Count Peaks", """\
An index i with 1 < i < N is a peak if A_i is strictly greater than both A_{i-1} and A_{i+1}.
Print the number of peaks.

Input
The first line contains N. The second line contains A_1, ..., A_N.

Output
Print the number of peaks.""",
   """\
   n = int(input())
   a = list(map(int, input().split()))
   print(sum(1 for i in range(1, n - 1) if a[i] > a[i - 1] and a[i] > a[i + 1]))
   """,
   ["5\n1 3 2 4 1\n", "2\n1 2\n"], stdin_list(0, 9, 1, 12))

fn("Position of the Maximum", "Return the index of the first occurrence of the largest value in the non-empty list nums.",
   "firstMaxIndex(nums: list[int]) -> int",
   "return nums.index(max(nums))",
   [[1, 5, 3, 5], [2]], rlist(0, 9, 1, 10))

fn("Fixed Points", "Return how many indices i satisfy nums[i] == i.",
   "countFixedPoints(nums: list[int]) -> int",
   "return sum(1 for i, x in enumerate(nums) if x == i)",
   [[0, 2, 2, 5], [], [1, 0]], rlist(0, 5, 0, 8))

fn("Sum of Unique Elements", "Return the sum of the values that occur exactly once in nums.",
   "sumOfUnique(nums: list[int]) -> int",
   """\
   counts = {}
   for x in nums:
       counts[x] = counts.get(x, 0) + 1
   return sum(x for x, c in counts.items() if c == 1)
   """,
   [[1, 2, 3, 2], [1, 1]], rlist(0, 8, 1, 10))

fn("Rotate Left by One", "Move the first element of nums to the end and return the result (an empty list stays empty).",
   "rotateLeftOnce(nums: list[int]) -> list[int]",
   "return nums[1:] + nums[:1]",
   [[1, 2, 3], [], [4]], rlist(0, 9, 0, 8))

io("Even Positions Then Odd Positions", """\
Print the elements at positions 1, 3, 5, ... (1-based) followed by the elements at positions 2, 4, 6, ...,
all on one line separated by spaces.

Input
The first line contains N. The second line contains A_1, ..., A_N.

Output
Print the rearranged sequence.""",
   """\
   input()
   a = input().split()
   print(" ".join(a[0::2] + a[1::2]))
   """,
   ["5\n1 2 3 4 5\n", "1\n9\n"], stdin_list(0, 99, 1, 10))

fn("Evens Before Odds", "Return nums rearranged so that all even numbers come first, then all odd numbers, each group in its original order.",
   "sortByParity(nums: list[int]) -> list[int]",
   "return [x for x in nums if x % 2 == 0] + [x for x in nums if x % 2 == 1]",
   [[3, 1, 2, 4], [1], []], rlist(0, 20, 0, 10))

fn("Count Distinct Values", "Return the number of distinct values in nums.",
   "countDistinct(nums: list[int]) -> int",
   "return len(set(nums))",
   [[1, 2, 2, 3, 3, 3], []], rlist(0, 8, 0, 10))

io("Closest to Zero", """\
Print the value among A_1, ..., A_N that is closest to zero. If a positive and a negative value are equally close,
print the positive one.

Input
The first line contains N. The second line contains A_1, ..., A_N.

Output
Print the value closest to zero.""",
   """\
   input()
   values = list(map(int, input().split()))
   print(min(values, key=lambda x: (abs(x), -x)))
   """,
   ["3\n-2 4 2\n", "2\n-5 -3\n"], stdin_list(-20, 20, 1, 8))

fn("Even Sum Minus Odd Sum", "Return (the sum of the even values of nums) minus (the sum of the odd values of nums).",
   "evenOddDifference(nums: list[int]) -> int",
   "return sum(x for x in nums if x % 2 == 0) - sum(x for x in nums if x % 2 != 0)",
   [[1, 2, 3, 4], [], [5]], rlist(-20, 20, 0, 10))

fn("Smallest Missing Positive", "Return the smallest positive integer (1, 2, 3, ...) that does not appear in nums.",
   "smallestMissingPositive(nums: list[int]) -> int",
   """\
   present = set(nums)
   k = 1
   while k in present:
       k += 1
   return k
   """,
   [[3, 4, -1, 1], [1, 2, 0], []], rlist(-3, 8, 0, 10))

fn("Is It a Permutation", "Return true if nums contains each of the numbers 1, 2, ..., len(nums) exactly once.",
   "isPermutation(nums: list[int]) -> bool",
   "return sorted(nums) == list(range(1, len(nums) + 1))",
   [[2, 3, 1], [1, 1], [1]],
   lambda r: r.choice([r.sample(range(1, 7), r.randint(1, 6)), rlist(1, 5, 1, 5)(r)]))

io("Record Days", """\
A_i is the score on day i. Day i is a record day if its score is strictly greater than every earlier score
(day 1 is always a record day). Print the number of record days.

Input
The first line contains N. The second line contains A_1, ..., A_N.

Output
Print the number of record days.""",
   """\
   input()
   best = None
   records = 0
   for x in map(int, input().split()):
       if best is None or x > best:
           best = x
           records += 1
   print(records)
   """,
   ["5\n3 1 4 4 5\n", "1\n0\n"], stdin_list(0, 20, 1, 10))

fn("Total Variation", "Return the sum of |nums[i + 1] - nums[i]| over all adjacent pairs of nums.",
   "totalVariation(nums: list[int]) -> int",
   "return sum(abs(nums[i + 1] - nums[i]) for i in range(len(nums) - 1))",
   [[1, 4, 2], [5]], rlist(-10, 10, 1, 10))

fn("Clamp Values", "Return nums with every value below lo replaced by lo and every value above hi replaced by hi (lo <= hi).",
   "clamp(nums: list[int], lo: int, hi: int) -> list[int]",
   "return [min(max(x, lo), hi) for x in nums]",
   [([1, 5, 10], 2, 8), ([], 0, 1)], lambda r: (lambda lo: (rlist(-20, 20, 0, 8)(r), lo, lo + r.randint(0, 15)))(r.randint(-15, 5)))

io("Strictly Between", """\
Print how many of A_1, ..., A_N are strictly greater than the minimum and strictly smaller than the maximum of the list.

Input
The first line contains N. The second line contains A_1, ..., A_N.

Output
Print the count.""",
   """\
   input()
   a = list(map(int, input().split()))
   low, high = min(a), max(a)
   print(sum(1 for x in a if low < x < high))
   """,
   ["5\n1 3 3 5 1\n", "2\n4 4\n"], stdin_list(0, 9, 1, 10))

fn("Minimum Plus Maximum", "Return the sum of the smallest and the largest element of the non-empty list nums.",
   "minPlusMax(nums: list[int]) -> int",
   "return min(nums) + max(nums)",
   [[3, 8, 1], [4]], rlist(-50, 50, 1, 8))

fn("Add Two Lists", "a and b have the same length. Return the list whose element i is a[i] + b[i].",
   "addLists(a: list[int], b: list[int]) -> list[int]",
   "return [x + y for x, y in zip(a, b)]",
   [([1, 2, 3], [4, 5, 6]), ([], [])],
   lambda r: (lambda n: ([r.randint(-9, 9) for _ in range(n)], [r.randint(-9, 9) for _ in range(n)]))(r.randint(1, 6)))

fn("Count Smaller Than", "Return how many elements of nums are strictly smaller than x.",
   "countSmaller(nums: list[int], x: int) -> int",
   "return sum(1 for v in nums if v < x)",
   [([1, 5, 2, 8], 5), ([], 3)], rargs(rlist(0, 20, 0, 10), rint(0, 20)))

io("Dot Product", """\
Given two sequences A and B of length N, print A_1 * B_1 + A_2 * B_2 + ... + A_N * B_N.

Input
The first line contains N. The second line contains A_1, ..., A_N and the third line contains B_1, ..., B_N.

Output
Print the dot product.""",
   """\
   n = int(input())
   a = list(map(int, input().split()))
   b = list(map(int, input().split()))
   print(sum(x * y for x, y in zip(a, b)))
   """,
   ["3\n1 2 3\n4 5 6\n", "1\n-2\n3\n"],
   lambda r: (lambda n: f"{n}\n" + " ".join(str(r.randint(-9, 9)) for _ in range(n)) + "\n"
              + " ".join(str(r.randint(-9, 9)) for _ in range(n)) + "\n")(r.randint(1, 8)))

fn("Keep the Multiples", "Return the elements of nums that are divisible by k, in their original order.",
   "keepMultiples(nums: list[int], k: int) -> list[int]",
   "return [x for x in nums if x % k == 0]",
   [([1, 2, 3, 4, 6], 2), ([5, 7], 3)], rargs(rlist(0, 30, 0, 10), rint(1, 6)))

fn("Plus One", """\
A non-negative integer is given as the list of its decimal digits, most significant first, without leading zeros
(except the number 0 itself, given as [0]). Return the digits of that integer plus one.""",
   "plusOne(digits: list[int]) -> list[int]",
   "return [int(d) for d in str(int(\"\".join(map(str, digits))) + 1)]",
   [[1, 2, 3], [9, 9], [0]], lambda r: [int(d) for d in str(r.choice([r.randint(0, 10**6), 10 ** r.randint(1, 6) - 1]))],
   difficulty="easy")

fn("Pivot Index", """\
Return the smallest index i such that the sum of the elements strictly left of i equals the sum of the elements
strictly right of i, or -1 if there is no such index.""",
   "pivotIndex(nums: list[int]) -> int",
   """\
   total = sum(nums)
   left = 0
   for i, x in enumerate(nums):
       if left == total - left - x:
           return i
       left += x
   return -1
   """,
   [[1, 7, 3, 6, 5, 6], [1, 2, 3], [2, 1, -1]], rlist(-3, 3, 1, 7), difficulty="easy")

io("Count Inversions", """\
Print the number of pairs (i, j) with i < j and A_i > A_j.

Input
The first line contains N. The second line contains A_1, ..., A_N.

Output
Print the number of such pairs.""",
   """\
   n = int(input())
   a = list(map(int, input().split()))
   print(sum(1 for i in range(n) for j in range(i + 1, n) if a[i] > a[j]))
   """,
   ["4\n3 1 2 0\n", "3\n1 2 3\n"], stdin_list(0, 20, 1, 10), difficulty="easy")

fn("Alternating Sum", "Return nums[0] - nums[1] + nums[2] - nums[3] + ... (0 for an empty list).",
   "alternateSum(nums: list[int]) -> int",
   "return sum(x if i % 2 == 0 else -x for i, x in enumerate(nums))",
   [[1, 2, 3, 4], [], [7]], rlist(-10, 10, 0, 10))

fn("More Evens or More Odds", """\
Return "even" if nums has more even numbers than odd numbers, "odd" if it has more odd numbers, and "tie" otherwise.""",
   "parityMajority(nums: list[int]) -> str",
   """\
   evens = sum(1 for x in nums if x % 2 == 0)
   odds = len(nums) - evens
   if evens > odds:
       return "even"
   return "odd" if odds > evens else "tie"
   """,
   [[1, 2, 4], [1, 3, 2], [1, 2], []], rlist(0, 20, 1, 7))

fn("Balanced Split", """\
Return true if nums can be cut into two non-empty parts, a prefix and the remaining suffix, whose sums are equal.""",
   "canSplitEqual(nums: list[int]) -> bool",
   """\
   total = sum(nums)
   prefix = 0
   for x in nums[:-1]:
       prefix += x
       if 2 * prefix == total:
           return True
   return False
   """,
   [[1, 2, 3], [1, 1, 1], [5]], lambda r: r.choice([rlist(0, 5, 1, 6)(r), (lambda a: a + [sum(a)])(rlist(0, 5, 1, 4)(r))]))


# ----------------------------------------------------------------------------------------------------------
# Strings

MIXED = string.ascii_letters + "  ,.!0123456789"

fn("Reverse a String", "Return the string s written backwards.",
   "reverseString(s: str) -> str",
   "return s[::-1]",
   ["hello", "", "a"], rword(1, 12))

io("Palindrome Word", """\
Print Yes if the word S reads the same forwards and backwards, and No otherwise.

Input
A single word S of lowercase letters.

Output
Print Yes or No.""",
   """\
   s = input().strip()
   print("Yes" if s == s[::-1] else "No")
   """,
   ["level", "hello", "a"], lambda r: r.choice([rword(1, 8)(r), (lambda w: w + w[::-1][r.randint(0, 1):])(rword(1, 5, "abc")(r))]))

fn("Palindrome Phrase", """\
Return true if s reads the same forwards and backwards after removing every character that is not a letter or a digit
and turning all letters to lowercase.""",
   "isPalindromePhrase(s: str) -> bool",
   """\
   cleaned = [ch.lower() for ch in s if ch.isalnum()]
   return cleaned == cleaned[::-1]
   """,
   ["A man, a plan, a canal: Panama", "race a car", " ", "No lemon, no melon"],
   lambda r: r.choice([rword(1, 10, "aAbB ,")(r), (lambda w: w + " " + w[::-1].upper())(rword(1, 6, "abc,")(r))]))

io("Count Vowels", """\
Print the number of vowels in a line of text. The vowels are a, e, i, o and u, in lowercase or uppercase.

Input
A single line of text.

Output
Print the number of vowels.""",
   """\
   line = input()
   print(sum(1 for ch in line.lower() if ch in "aeiou"))
   """,
   ["Hello World\n", "rhythm\n"], lambda r: rword(1, 20, MIXED)(r) + "\n")

fn("Count Consonants", """\
Return the number of consonants in s: letters (lowercase or uppercase) other than a, e, i, o, u. Other characters do not count.""",
   "countConsonants(s: str) -> int",
   "return sum(1 for ch in s.lower() if ch.isalpha() and ch not in \"aeiou\")",
   ["Hello, World!", "aeiou", ""], rword(0, 20, MIXED))

io("Reverse the Word Order", """\
Print the words of a line in reverse order, separated by single spaces. Words are separated by one or more spaces in the input.

Input
A single line of text.

Output
Print the words in reverse order.""",
   """\
   print(" ".join(input().split()[::-1]))
   """,
   ["the sky is blue\n", "  hello   world  \n", "one\n"], lambda r: rsentence(1, 7)(r) + "\n")

fn("Reverse Each Word", "s consists of words separated by single spaces. Reverse the letters of every word, keeping the words in place.",
   "reverseEachWord(s: str) -> str",
   "return \" \".join(word[::-1] for word in s.split(\" \"))",
   ["let us code", "a"], rsentence(1, 6))

fn("Title Case", """\
s consists of words of letters separated by single spaces. Return s with the first letter of every word in uppercase and
all other letters in lowercase.""",
   "titleCase(s: str) -> str",
   "return \" \".join(word[:1].upper() + word[1:].lower() for word in s.split(\" \"))",
   ["hello wORLD", "a b"], lambda r: " ".join(rword(1, 6, string.ascii_letters)(r) for _ in range(r.randint(1, 5))))

io("Word Count", """\
Print the number of words in a line of text, where words are separated by one or more spaces.

Input
A single line of text.

Output
Print the number of words.""",
   """\
   print(len(input().split()))
   """,
   ["the quick brown fox\n", "   spaced    out   \n"], lambda r: rsentence(1, 9)(r) + "\n")

fn("Longest Word", "sentence consists of words separated by single spaces. Return the longest word; if several are equally long, return the first of them.",
   "longestWord(sentence: str) -> str",
   """\
   best = ""
   for word in sentence.split(" "):
       if len(word) > len(best):
           best = word
   return best
   """,
   ["I love programming", "cat dog"], rsentence(1, 7))

fn("Remove the Vowels", "Return s with every vowel (a, e, i, o, u) removed. s contains lowercase letters only.",
   "removeVowels(s: str) -> str",
   "return \"\".join(ch for ch in s if ch not in \"aeiou\")",
   ["leetcode", "aeiou", "xyz"], rword(1, 12))

io("Swap Case", """\
Print the given text with every lowercase letter turned uppercase and every uppercase letter turned lowercase.
Other characters stay as they are.

Input
A single line of text.

Output
Print the converted text.""",
   """\
   print(input().swapcase())
   """,
   ["Hello World\n", "abc123\n"], lambda r: rword(1, 15, string.ascii_letters + "0123456789")(r) + "\n")

fn("Count Uppercase Letters", "Return the number of uppercase letters A-Z in s.",
   "countUppercase(s: str) -> int",
   "return sum(1 for ch in s if \"A\" <= ch <= \"Z\")",
   ["Hello World", "abc", ""], rword(0, 15, MIXED))

fn("Most Common Letter", "s contains lowercase letters only and is not empty. Return the letter that occurs most often; on a tie, return the alphabetically smallest.",
   "mostCommonChar(s: str) -> str",
   """\
   best = max(s.count(ch) for ch in set(s))
   return min(ch for ch in set(s) if s.count(ch) == best)
   """,
   ["banana", "abc", "zzy"], rword(1, 12, "abcde"))

fn("First Unique Character", "Return the index of the first character of s that occurs exactly once in s, or -1 if there is none.",
   "firstUniqChar(s: str) -> int",
   """\
   for i, ch in enumerate(s):
       if s.count(ch) == 1:
           return i
   return -1
   """,
   ["leetcode", "aabb", "loveleetcode"], rword(0, 10, "abcd"))

fn("Anagram Check", "Return true if t is an anagram of s, that is, t uses exactly the same letters as s, each the same number of times.",
   "isAnagram(s: str, t: str) -> bool",
   "return sorted(s) == sorted(t)",
   [("anagram", "nagaram"), ("rat", "car"), ("", "")],
   lambda r: (lambda w: (w, r.choice(["".join(r.sample(w, len(w))), rword(1, 6, "abc")(r)])))(rword(1, 6, "abc")(r)))

io("Run-Length Encoding", """\
Compress a string of lowercase letters by writing each maximal block of equal letters as the letter followed by the
length of the block. For example aaabcc becomes a3b1c2.

Input
A single string S.

Output
Print the encoded string.""",
   """\
   s = input().strip()
   out = []
   i = 0
   while i < len(s):
       j = i
       while j < len(s) and s[j] == s[i]:
           j += 1
       out.append(s[i] + str(j - i))
       i = j
   print("".join(out))
   """,
   ["aaabcc", "z", "abab"], lambda r: "".join(r.choice("abc") * r.randint(1, 4) for _ in range(r.randint(1, 5))) + "\n")

fn("Run-Length Decoding", """\
s is made of blocks, each a lowercase letter followed by a positive decimal count (possibly several digits), such as
"a3b12". Return the string in which every letter is repeated its count times.""",
   "decode(s: str) -> str",
   """\
   out = []
   i = 0
   while i < len(s):
       letter = s[i]
       j = i + 1
       while j < len(s) and s[j].isdigit():
           j += 1
       out.append(letter * int(s[i + 1:j]))
       i = j
   return "".join(out)
   """,
   ["a3b1", "x12", "c1d2"], lambda r: "".join(r.choice("abcxyz") + str(r.randint(1, 12)) for _ in range(r.randint(1, 4))),
   difficulty="easy")

fn("Compress Repeated Letters", """\
Replace every maximal block of equal letters in s by the letter followed by the block's length, but write the length
only when it is greater than 1. For example "aaabcc" becomes "a3bc2".""",
   "compressRuns(s: str) -> str",
   """\
   out = ""
   i = 0
   while i < len(s):
       j = i
       while j < len(s) and s[j] == s[i]:
           j += 1
       out += s[i] + (str(j - i) if j - i > 1 else "")
       i = j
   return out
   """,
   ["aaabcc", "abc", ""], lambda r: "".join(r.choice("abc") * r.randint(1, 4) for _ in range(r.randint(1, 5))),
   difficulty="easy")

io("Caesar Cipher", """\
Shift every letter of a lowercase message K places forward in the alphabet, wrapping around from z to a.
Spaces stay as they are.

Input
The first line contains K. The second line contains the message (lowercase letters and spaces).

Output
Print the shifted message.""",
   """\
   k = int(input())
   message = input()
   print("".join(chr((ord(ch) - 97 + k) % 26 + 97) if ch != " " else ch for ch in message))
   """,
   ["3\nhello world\n", "1\nxyz\n", "0\nabc\n"], lambda r: f"{r.randint(0, 25)}\n{rsentence(1, 4)(r)}\n")

fn("Slugify", """\
s consists of words of letters separated by one or more spaces (possibly with spaces at both ends). Return the words
in lowercase joined by single '-' characters.""",
   "slugify(s: str) -> str",
   "return \"-\".join(word.lower() for word in s.split())",
   ["Hello World", "  Big   Red Dog "], lambda r: " ".join(rword(1, 6, string.ascii_letters)(r) for _ in range(r.randint(1, 4))))

fn("Count Substring Occurrences", "Return how many times sub occurs in s as a contiguous substring; occurrences may overlap (\"aa\" occurs twice in \"aaa\").",
   "countOccurrences(s: str, sub: str) -> int",
   "return sum(1 for i in range(len(s) - len(sub) + 1) if s[i:i + len(sub)] == sub)",
   [("aaa", "aa"), ("abcabc", "abc"), ("abc", "d")], rargs(rword(1, 12, "ab"), rword(1, 3, "ab")), difficulty="easy")

fn("Only Digits", "Return true if s is non-empty and every character of s is one of the digits 0-9.",
   "isAllDigits(s: str) -> bool",
   "return len(s) > 0 and all(ch in \"0123456789\" for ch in s)",
   ["12345", "12a45", ""], lambda r: r.choice([rword(1, 8, "0123456789")(r), rword(1, 8, "0123456789x ")(r)]))

io("Sum of Digit Characters", """\
Print the sum of all digit characters (0-9) that appear in a line of text, each digit counted on its own.

Input
A single line of text.

Output
Print the sum of the digits.""",
   """\
   print(sum(int(ch) for ch in input() if ch.isdigit()))
   """,
   ["a1b2c3\n", "no digits\n"], lambda r: rword(1, 20, MIXED)(r) + "\n")

fn("Sum of Numbers in Text", """\
Every maximal block of consecutive digits in s is a non-negative integer. Return the sum of those integers
(for example "a12b3" gives 15).""",
   "sumNumbers(s: str) -> int",
   """\
   total = 0
   current = ""
   for ch in s + " ":
       if ch.isdigit():
           current += ch
       elif current:
           total += int(current)
           current = ""
   return total
   """,
   ["a12b3", "abc", "100 apples and 25 pears"], rword(1, 20, "ab 0123456789"), difficulty="easy")

fn("Balanced Parentheses", "s consists of the characters '(' and ')'. Return true if every '(' is matched by a later ')' and every ')' closes an earlier '('.",
   "isBalanced(s: str) -> bool",
   """\
   depth = 0
   for ch in s:
       depth += 1 if ch == "(" else -1
       if depth < 0:
           return False
   return depth == 0
   """,
   ["(())()", "())(", ""], lambda r: r.choice([rword(1, 10, "()")(r), "(" * (k := r.randint(1, 4)) + ")" * k]))

io("Valid Brackets", """\
A string of the characters ()[]{} is valid if every opening bracket is closed by a bracket of the same type, in the
correct order. Print Yes if S is valid and No otherwise.

Input
A single string S.

Output
Print Yes or No.""",
   """\
   s = input().strip()
   pairs = {")": "(", "]": "[", "}": "{"}
   stack = []
   ok = True
   for ch in s:
       if ch in "([{":
           stack.append(ch)
       elif not stack or stack.pop() != pairs[ch]:
           ok = False
           break
   print("Yes" if ok and not stack else "No")
   """,
   ["([]{})", "(]", "(("],
   lambda r: r.choice([rword(2, 8, "()[]{}")(r), "".join(r.choice(["()", "[]", "{}", "([])", "{()}"]) for _ in range(3))]) + "\n",
   difficulty="easy")

fn("Maximum Nesting Depth", """\
s is a string of letters, digits, operators and correctly matched parentheses. Return the largest number of
parentheses that are open at the same time.""",
   "maxDepth(s: str) -> int",
   """\
   depth = best = 0
   for ch in s:
       if ch == "(":
           depth += 1
           best = max(best, depth)
       elif ch == ")":
           depth -= 1
   return best
   """,
   ["(1+(2*3)+((8)/4))+1", "1+2", "()"],
   lambda r: "".join(r.choice(["(x)", "((y))", "1+", "(a(b))", "-2"]) for _ in range(r.randint(1, 4))))

fn("Length of the Last Word", "s consists of words and spaces (possibly with trailing spaces) and contains at least one word. Return the length of its last word.",
   "lengthOfLastWord(s: str) -> int",
   "return len(s.split()[-1])",
   ["Hello World", "   fly me   to   the moon  ", "a", "luffy is still joyboy"], lambda r: rsentence(1, 5)(r) + " " * r.randint(0, 3))

fn("All Characters Different", "Return true if no character appears twice in s.",
   "hasAllUniqueChars(s: str) -> bool",
   "return len(set(s)) == len(s)",
   ["abc", "hello", ""], rword(1, 7, "abcdefgh"))

io("Pangram", """\
A pangram is a text that contains every letter of the English alphabet at least once, in either case.
Print Yes if the given line is a pangram and No otherwise.

Input
A single line of text.

Output
Print Yes or No.""",
   """\
   letters = set(input().lower())
   print("Yes" if all(ch in letters for ch in "abcdefghijklmnopqrstuvwxyz") else "No")
   """,
   ["The quick brown fox jumps over the lazy dog\n", "Hello world\n"],
   lambda r: r.choice([rword(20, 40)(r), "".join(r.sample(string.ascii_letters, 52))]) + "\n")

fn("Alternating Case", """\
Return s with every letter at an even index (0, 2, 4, ...) in lowercase and every letter at an odd index in uppercase.
Characters that are not letters are unchanged.""",
   "alternateCase(s: str) -> str",
   "return \"\".join(ch.upper() if i % 2 else ch.lower() for i, ch in enumerate(s))",
   ["hello", "ABC 12"], rword(1, 12, string.ascii_letters + " 1"))

fn("Double Every Character", "Return a string in which every character of s appears twice in a row (\"abc\" becomes \"aabbcc\").",
   "doubleChars(s: str) -> str",
   "return \"\".join(ch * 2 for ch in s)",
   ["abc", ""], rword(1, 8, string.ascii_lowercase + " !"))

io("Collapse Repeated Letters", """\
Print S with every block of consecutive equal characters replaced by a single copy of that character
(aaabccddd becomes abcd).

Input
A single string S.

Output
Print the collapsed string.""",
   """\
   s = input().strip()
   out = ""
   for ch in s:
       if not out or out[-1] != ch:
           out += ch
   print(out)
   """,
   ["aaabccddd", "abc"], lambda r: "".join(r.choice("abc") * r.randint(1, 3) for _ in range(r.randint(1, 6))) + "\n")

fn("Count Distinct Characters", "Return the number of different characters in s.",
   "countDistinctChars(s: str) -> int",
   "return len(set(s))",
   ["hello", "", "aaaa"], rword(1, 12, "abcdefg"))

fn("Rotation of a String", """\
Return true if b can be obtained from a by moving some number of characters from the front of a to its end
("cdeab" is a rotation of "abcde"). Strings of different lengths are never rotations of each other.""",
   "isRotation(a: str, b: str) -> bool",
   "return len(a) == len(b) and b in a + a",
   [("abcde", "cdeab"), ("abcde", "abced"), ("", "")],
   lambda r: (lambda w, k: (w, r.choice([w[k:] + w[:k], rword(len(w), len(w), "abc")(r)])))(rword(1, 6, "abc")(r), r.randint(0, 5)),
   difficulty="easy")

fn("Longest Common Prefix", "Return the longest string that is a prefix of every word in the non-empty list words.",
   "longestCommonPrefix(words: list[str]) -> str",
   """\
   prefix = words[0]
   for word in words[1:]:
       while not word.startswith(prefix):
           prefix = prefix[:-1]
   return prefix
   """,
   [["flower", "flow", "flight"], ["dog", "racecar", "car"], ["alone"]],
   lambda r: (lambda stem: [stem + rword(0, 3, "abc")(r) for _ in range(r.randint(1, 4))])(rword(0, 3, "ab")(r)))

io("Acronym", """\
Print the acronym of a line of words: the first letter of every word, in uppercase, with nothing between them.

Input
A single line of words separated by spaces.

Output
Print the acronym.""",
   """\
   print("".join(word[0].upper() for word in input().split()))
   """,
   ["portable network graphics\n", "as soon as possible\n"], lambda r: rsentence(1, 6)(r) + "\n")

fn("Camel Case to Snake Case", """\
s is a camelCase identifier: it starts with a lowercase letter and every later word starts with an uppercase letter.
Return it in snake_case: all lowercase, words joined by '_' ("helloWorldFoo" becomes "hello_world_foo").""",
   "camelToSnake(s: str) -> str",
   "return \"\".join(\"_\" + ch.lower() if ch.isupper() else ch for ch in s)",
   ["helloWorldFoo", "x"], lambda r: rword(1, 4)(r) + "".join(rword(1, 4)(r).capitalize() for _ in range(r.randint(0, 3))))

fn("Snake Case to Camel Case", """\
s is a snake_case identifier: lowercase words joined by single '_' characters. Return it in camelCase: the first word
unchanged and every later word with its first letter in uppercase ("get_user_name" becomes "getUserName").""",
   "snakeToCamel(s: str) -> str",
   """\
   words = s.split("_")
   return words[0] + "".join(w.capitalize() for w in words[1:])
   """,
   ["get_user_name", "id"], lambda r: "_".join(rword(1, 5)(r) for _ in range(r.randint(1, 4))))

io("Words Starting With a Vowel", """\
Print how many words of the line start with a vowel (a, e, i, o or u, in either case).

Input
A single line of words separated by spaces.

Output
Print the count.""",
   """\
   print(sum(1 for word in input().split() if word[0].lower() in "aeiou"))
   """,
   ["An apple a day keeps the doctor away\n", "sky\n"], lambda r: rsentence(1, 8)(r) + "\n")

fn("Sort the Characters", "Return the characters of s sorted in increasing order (by character code).",
   "sortChars(s: str) -> str",
   "return \"\".join(sorted(s))",
   ["banana", "", "Zebra"], rword(1, 10, string.ascii_letters))

fn("Isomorphic Strings", """\
s and t have the same length. They are isomorphic if the characters of s can be replaced to get t, where every
occurrence of a character is replaced by the same character and no two different characters become the same one.
Return true if s and t are isomorphic.""",
   "isIsomorphic(s: str, t: str) -> bool",
   """\
   forward, backward = {}, {}
   for a, b in zip(s, t):
       if forward.setdefault(a, b) != b or backward.setdefault(b, a) != a:
           return False
   return True
   """,
   [("egg", "add"), ("foo", "bar"), ("badc", "baba")],
   lambda r: (lambda n: (rword(n, n, "abc")(r), rword(n, n, "xyz")(r)))(r.randint(1, 5)), difficulty="easy")

io("Most Frequent Word", """\
Print the word that occurs most often in a line of lowercase words. If several words are equally frequent, print the
one that comes first in alphabetical order.

Input
A single line of words separated by spaces.

Output
Print the most frequent word.""",
   """\
   words = input().split()
   counts = {}
   for w in words:
       counts[w] = counts.get(w, 0) + 1
   best = max(counts.values())
   print(min(w for w in counts if counts[w] == best))
   """,
   ["the cat and the hat\n", "b a\n"], lambda r: rsentence(1, 8, VOCAB[:8])(r) + "\n")

fn("Count Palindromic Words", "sentence consists of lowercase words separated by single spaces. Return how many of the words are palindromes.",
   "countPalindromeWords(sentence: str) -> int",
   "return sum(1 for w in sentence.split(\" \") if w == w[::-1])",
   ["wow mom went to the noon show", "abc"], rsentence(1, 8))

fn("Mirror a String", "Return s followed by s reversed (\"abc\" becomes \"abccba\").",
   "mirror(s: str) -> str",
   "return s + s[::-1]",
   ["abc", ""], rword(1, 8))

fn("Hamming Distance of Strings", "a and b have equal length. Return the number of positions at which their characters differ.",
   "hammingDistance(a: str, b: str) -> int",
   "return sum(1 for x, y in zip(a, b) if x != y)",
   [("karolin", "kathrin"), ("abc", "abc")],
   lambda r: (lambda n: (rword(n, n, "ab")(r), rword(n, n, "ab")(r)))(r.randint(1, 10)))

io("Binary String Check", """\
Print Yes if the string S consists only of the characters 0 and 1, and No otherwise.

Input
A single non-empty string S without spaces.

Output
Print Yes or No.""",
   """\
   s = input().strip()
   print("Yes" if set(s) <= {"0", "1"} else "No")
   """,
   ["10110", "10210"], lambda r: r.choice([rword(1, 10, "01")(r), rword(1, 10, "012a")(r)]) + "\n")

fn("Remove a Character", "Return s with every occurrence of the character c removed.",
   "removeChar(s: str, c: str) -> str",
   "return s.replace(c, \"\")",
   [("banana", "a"), ("hello", "z")], rargs(rword(0, 10, "abc"), rchoice("abc")))

fn("Mask the Digits", "Return s with every digit 0-9 replaced by the character '#'.",
   "maskDigits(s: str) -> str",
   "return \"\".join(\"#\" if ch.isdigit() else ch for ch in s)",
   ["card 1234", "none"], rword(1, 12, "ab 0123456789-"))

fn("Is Subsequence", "Return true if s can be obtained from t by deleting some (possibly zero) characters without reordering the rest.",
   "isSubsequence(s: str, t: str) -> bool",
   """\
   i = 0
   for ch in t:
       if i < len(s) and s[i] == ch:
           i += 1
   return i == len(s)
   """,
   [("abc", "ahbgdc"), ("axc", "ahbgdc"), ("", "abc")], rargs(rword(0, 3, "abc"), rword(0, 8, "abc")), difficulty="easy")

fn("Common Prefix Length", "Return the length of the longest common prefix of the strings a and b.",
   "commonPrefixLength(a: str, b: str) -> int",
   """\
   n = 0
   while n < min(len(a), len(b)) and a[n] == b[n]:
       n += 1
   return n
   """,
   [("flower", "flow"), ("dog", "cat"), ("", "a")], rargs(rword(0, 6, "ab"), rword(0, 6, "ab")))

io("First Uppercase Letter", """\
Print the 0-based position of the first uppercase letter in S, or -1 if S has no uppercase letter.

Input
A single string S without spaces.

Output
Print the position or -1.""",
   """\
   s = input().strip()
   print(next((i for i, ch in enumerate(s) if ch.isupper()), -1))
   """,
   ["helloWorld", "abc", "Abc"], lambda r: rword(1, 10, "abcABC1")(r) + "\n")

fn("Defang an IP Address", "Return the IPv4 address with every '.' replaced by \"[.]\".",
   "defangIPaddr(address: str) -> str",
   "return address.replace(\".\", \"[.]\")",
   ["1.1.1.1", "255.100.50.0"], lambda r: ".".join(str(r.randint(0, 255)) for _ in range(4)))

fn("Jewels and Stones", """\
Each character of jewels is a kind of stone that is a jewel (all distinct); each character of stones is a stone you have.
Return how many of your stones are jewels. Letters are case-sensitive.""",
   "numJewelsInStones(jewels: str, stones: str) -> int",
   "return sum(1 for ch in stones if ch in jewels)",
   [("aA", "aAAbbbb"), ("z", "ZZ")], lambda r: ("".join(r.sample("abAB", r.randint(1, 3))), rword(0, 10, "abAB")(r)))

io("Simple Email Check", """\
Print Yes if the string S looks like an email address and No otherwise. S looks like an email address when it contains
exactly one '@', at least one character before the '@', and the part after the '@' contains a '.' that is neither its
first nor its last character.

Input
A single string S without spaces.

Output
Print Yes or No.""",
   """\
   s = input().strip()
   ok = False
   if s.count("@") == 1:
       user, domain = s.split("@")
       ok = len(user) > 0 and "." in domain[1:-1]
   print("Yes" if ok else "No")
   """,
   ["bob@mail.com", "bob@com", "@x.org", "a@b.c", "a@@b.c"],
   lambda r: rword(0, 3, "ab")(r) + r.choice(["@", "@@", ""]) + rword(0, 3, "cd.")(r) + r.choice([".org", ".", "x"]) + "\n",
   difficulty="easy")

fn("Key-Value Lookup", """\
record is a list of entries "key=value" separated by ';' (for example "name=bob;age=7"); keys are distinct.
Return the value stored for key, or the empty string if key is not present.""",
   "lookup(record: str, key: str) -> str",
   """\
   for entry in record.split(";"):
       k, v = entry.split("=")
       if k == key:
           return v
   return ""
   """,
   [("name=bob;age=7", "age"), ("x=1", "y")],
   lambda r: (lambda keys: (";".join(f"{k}={rword(1, 4)(r)}" for k in keys), r.choice(keys + ["zz"])))(r.sample(["a", "b", "c", "id", "key"], r.randint(1, 4))),
   difficulty="easy")

io("Comma-Separated Sum", """\
Print the sum of integers written on one line, separated by commas without spaces.

Input
A single line such as 3,4,-2.

Output
Print the sum.""",
   """\
   print(sum(int(x) for x in input().strip().split(",")))
   """,
   ["3,4,-2", "10"], lambda r: ",".join(map(str, rlist(-50, 50, 1, 8)(r))) + "\n")

fn("Day of the Year", """\
date is a valid date "YYYY-MM-DD" of the Gregorian calendar. Return its day number within its year (January 1st is day 1).
Leap years (divisible by 4, except centuries not divisible by 400) have 29 days in February.""",
   "dayOfYear(date: str) -> int",
   """\
   year, month, day = map(int, date.split("-"))
   days = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
   if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
       days[1] = 29
   return sum(days[:month - 1]) + day
   """,
   ["2019-01-09", "2020-03-01", "1900-03-01"],
   lambda r: f"{r.randint(1900, 2100)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}", difficulty="easy")

fn("Minutes Since Midnight", "time is a 24-hour clock time \"HH:MM\". Return the number of minutes since midnight.",
   "toMinutes(time: str) -> int",
   """\
   hours, minutes = time.split(":")
   return int(hours) * 60 + int(minutes)
   """,
   ["01:30", "00:00", "23:59"], lambda r: f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}")

fn("Parse a Leading Integer", """\
Read an integer from the start of s: skip leading spaces, then accept an optional '+' or '-' sign followed by as many
digits as possible, and stop at the first other character. Return the integer read, or 0 if there are no digits.""",
   "parseInt(s: str) -> int",
   """\
   s = s.lstrip(" ")
   sign = 1
   if s[:1] in ("+", "-"):
       sign = -1 if s[0] == "-" else 1
       s = s[1:]
   digits = ""
   for ch in s:
       if not ch.isdigit():
           break
       digits += ch
   return sign * int(digits) if digits else 0
   """,
   ["42", "   -17abc", "words 9", "+0x"], lambda r: " " * r.randint(0, 2) + r.choice(["", "-", "+"]) + rword(0, 5, "0123456789a ")(r),
   difficulty="easy")

fn("Add Binary Strings", "a and b are binary numbers written as strings of 0s and 1s. Return their sum as a binary string without leading zeros (\"0\" for zero).",
   "addBinary(a: str, b: str) -> str",
   "return bin(int(a, 2) + int(b, 2))[2:]",
   [("11", "1"), ("1010", "1011"), ("0", "0")], lambda r: (bin(r.randint(0, 500))[2:], bin(r.randint(0, 500))[2:]))

io("Add Big Numbers", """\
Print the sum of two non-negative integers that can have up to 50 digits each.

Input
Two lines, each containing one integer.

Output
Print their sum.""",
   """\
   a = int(input())
   b = int(input())
   print(a + b)
   """,
   ["99999999999999999999\n1\n", "0\n0\n"], stdin_lines(rint(0, 10**50), rint(0, 10**50)))

fn("Spreadsheet Column Number", """\
Spreadsheet columns are named A, B, ..., Z, AA, AB, ..., AZ, BA, ... Given a column name, return its 1-based number
(A is 1, Z is 26, AA is 27).""",
   "titleToNumber(column: str) -> int",
   """\
   number = 0
   for ch in column:
       number = number * 26 + (ord(ch) - ord("A") + 1)
   return number
   """,
   ["A", "AB", "ZY"], rword(1, 3, string.ascii_uppercase), difficulty="easy")

fn("Spreadsheet Column Name", """\
Spreadsheet columns are named A, B, ..., Z, AA, AB, ..., AZ, BA, ... Given a positive column number n, return its name
(1 is "A", 28 is "AB", 701 is "ZY").""",
   "numberToTitle(n: int) -> str",
   """\
   name = ""
   while n > 0:
       n, rest = divmod(n - 1, 26)
       name = chr(ord("A") + rest) + name
   return name
   """,
   [1, 28, 701], rint(1, 20000), difficulty="easy")

fn("Truncate a Sentence", "s consists of words separated by single spaces. Return the first k words of s, separated by single spaces (all of s if it has fewer than k words).",
   "truncateSentence(s: str, k: int) -> str",
   "return \" \".join(s.split(\" \")[:k])",
   [("Hello how are you", 2), ("one", 3)], rargs(rsentence(1, 7), rint(1, 6)))

io("Letter Frequencies", """\
For each distinct letter of a lowercase word, in alphabetical order, print the letter, a colon and the number of times
it occurs. Separate the entries by single spaces.

Input
A single word S.

Output
Print the entries on one line, for example a:2 b:1.""",
   """\
   s = input().strip()
   print(" ".join(f"{ch}:{s.count(ch)}" for ch in sorted(set(s))))
   """,
   ["banana", "z"], lambda r: rword(1, 12, "abcde")(r) + "\n")

fn("Letter With the Longest Run", """\
s is a non-empty string of lowercase letters. Return the letter that forms the longest block of consecutive equal
letters; if several blocks are equally long, return the letter of the first of them.""",
   "longestRunChar(s: str) -> str",
   """\
   best_char, best_len = s[0], 0
   i = 0
   while i < len(s):
       j = i
       while j < len(s) and s[j] == s[i]:
           j += 1
       if j - i > best_len:
           best_char, best_len = s[i], j - i
       i = j
   return best_char
   """,
   ["aabbbc", "abc", "zzyy"], lambda r: "".join(r.choice("abc") * r.randint(1, 3) for _ in range(r.randint(1, 5))))

fn("Word Lengths", "sentence consists of words separated by single spaces. Return the list of the lengths of its words, in order.",
   "wordLengths(sentence: str) -> list[int]",
   "return [len(w) for w in sentence.split(\" \")]",
   ["I am here", "hello"], rsentence(1, 7))

io("Sort Words by Length", """\
Print the words of the line sorted by length, shortest first. Words of equal length keep their original order.

Input
A single line of words separated by single spaces.

Output
Print the sorted words separated by single spaces.""",
   """\
   words = input().split()
   print(" ".join(sorted(words, key=len)))
   """,
   ["the quick brown fox jumps\n", "a\n"], lambda r: rsentence(1, 7)(r) + "\n")

fn("Remove Punctuation", "Return s keeping only its letters, digits and spaces.",
   "removePunctuation(s: str) -> str",
   "return \"\".join(ch for ch in s if ch.isalnum() or ch == \" \")",
   ["Hello, world! 42.", "..."], rword(1, 15, "ab ,.!?;1"))

fn("Count Sentences", "text is made of sentences, each ending with '.', '!' or '?'. Return the number of such characters in text.",
   "countSentences(text: str) -> int",
   "return sum(1 for ch in text if ch in \".!?\")",
   ["Hi. How are you? Great!", "no end"], lambda r: " ".join(rsentence(1, 3)(r) + r.choice(".!?") for _ in range(r.randint(0, 4))))

fn("Find the Added Letter", "t was made by shuffling the letters of s and adding one more letter. Return the added letter.",
   "findTheDifference(s: str, t: str) -> str",
   """\
   for ch in t:
       if t.count(ch) > s.count(ch):
           return ch
   """,
   [("abcd", "abcde"), ("", "y"), ("aa", "aaa")],
   lambda r: (lambda s, extra: (s, "".join(r.sample(s + extra, len(s) + 1))))(rword(0, 6, "abcd")(r), rchoice("abcde")(r)))

io("Rotate a String Left", """\
Rotate the string S left by K positions: move its first K characters, one at a time, to the end. K may be larger than
the length of S.

Input
The first line contains S. The second line contains K.

Output
Print the rotated string.""",
   """\
   s = input().strip()
   k = int(input()) % len(s)
   print(s[k:] + s[:k])
   """,
   ["abcdef\n2\n", "ab\n5\n"], stdin_lines(rword(1, 8), rint(0, 20)))

fn("Palindrome Rearrangement", "Return true if the letters of s can be rearranged to form a palindrome.",
   "canFormPalindrome(s: str) -> bool",
   "return sum(1 for ch in set(s) if s.count(ch) % 2 == 1) <= 1",
   ["carerac", "code", ""], rword(1, 8, "abc"), difficulty="easy")

fn("Shortest Word Length", "sentence consists of words separated by single spaces. Return the length of its shortest word.",
   "shortestWordLength(sentence: str) -> int",
   "return min(len(w) for w in sentence.split(\" \"))",
   ["I love coding", "hello"], rsentence(1, 7))

io("Words of Length K", """\
Print how many words of the sentence have exactly K letters.

Input
The first line contains K. The second line contains words separated by spaces.

Output
Print the count.""",
   """\
   k = int(input())
   print(sum(1 for w in input().split() if len(w) == k))
   """,
   ["3\nthe cat sat on a mat\n", "5\nhi\n"], lambda r: f"{r.randint(1, 6)}\n{rsentence(1, 8)(r)}\n")

fn("Doubled Letters", "Return the number of positions i such that s[i] and s[i + 1] are the same character.",
   "countDoubleLetters(s: str) -> int",
   "return sum(1 for i in range(len(s) - 1) if s[i] == s[i + 1])",
   ["bookkeeper", "abc", ""], rword(1, 12, "ab"))

fn("Initials", """\
name consists of words of lowercase letters separated by single spaces. Return the initials: the first letter of each
word in uppercase, each followed by a '.' ("john ronald tolkien" becomes "J.R.T.").""",
   "initials(name: str) -> str",
   "return \"\".join(w[0].upper() + \".\" for w in name.split(\" \"))",
   ["john ronald tolkien", "ada"], lambda r: " ".join(rword(1, 6)(r) for _ in range(r.randint(1, 4))))

fn("Count Character Kinds", "Return [number of letters, number of digits, number of other characters] in s.",
   "countTypes(s: str) -> list[int]",
   """\
   letters = sum(1 for ch in s if ch.isalpha())
   digits = sum(1 for ch in s if ch.isdigit())
   return [letters, digits, len(s) - letters - digits]
   """,
   ["abc 123!", ""], rword(1, 15, MIXED))


# ----------------------------------------------------------------------------------------------------------
# More standard-input problems (several lines of input or output)

NAMES = ["alice", "Bob", "carol", "Dave", "eve", "Frank", "grace", "Heidi", "ivan", "Judy", "mallory", "Oscar"]

io("Sum of Two Numbers", """\
Print the sum of two integers A and B.

Input
A single line with A and B.

Output
Print A + B.""",
   """\
   a, b = map(int, input().split())
   print(a + b)
   """,
   ["2 3", "-5 5"], stdin_line(rint(-10**9, 10**9), rint(-10**9, 10**9)))

io("Repeat a Word", """\
Print the word W repeated N times on one line, separated by single spaces.

Input
The first line contains W. The second line contains N (N >= 1).

Output
Print the repeated word.""",
   """\
   word = input().strip()
   n = int(input())
   print(" ".join([word] * n))
   """,
   ["hi\n3\n", "go\n1\n"], stdin_lines(rword(1, 6), rint(1, 8)))

io("Multiplication Table", """\
Print the first ten lines of the multiplication table of N: for i = 1 to 10, print the line "N x i = P" where P = N * i.

Input
A single integer N.

Output
Print ten lines.""",
   """\
   n = int(input())
   for i in range(1, 11):
       print(f"{n} x {i} = {n * i}")
   """,
   ["3", "0"], stdin_line(rint(1, 100)))

io("Longest Name", """\
Given N names, print the longest one. If several names are equally long, print the one that comes first in the input.

Input
The first line contains N. Each of the next N lines contains one name.

Output
Print the longest name.""",
   """\
   n = int(input())
   names = [input().strip() for _ in range(n)]
   print(max(names, key=len))
   """,
   ["3\nann\nbeatrice\nbob\n", "2\nal\nbo\n"],
   lambda r: (lambda names: f"{len(names)}\n" + "".join(x + "\n" for x in names))([r.choice(NAMES) for _ in range(r.randint(1, 6))]))

io("Passing Scores", """\
Count the students whose score is at least the passing mark T.

Input
The first line contains N and T. The second line contains the N scores.

Output
Print the number of scores that are greater than or equal to T.""",
   """\
   n, t = map(int, input().split())
   print(sum(1 for s in map(int, input().split()) if s >= t))
   """,
   ["5 60\n55 60 90 10 61\n", "1 50\n49\n"],
   lambda r: (lambda xs: f"{len(xs)} {r.randint(0, 100)}\n{' '.join(map(str, xs))}\n")(rlist(0, 100, 1, 10)(r)))

io("Row Sums", """\
Given a grid of R rows and C columns, print the sum of each row on its own line.

Input
The first line contains R and C. Each of the next R lines contains C integers.

Output
Print R lines, the i-th containing the sum of row i.""",
   """\
   rows, cols = map(int, input().split())
   for _ in range(rows):
       print(sum(map(int, input().split())))
   """,
   ["2 2\n1 2\n3 4\n", "1 3\n-1 0 1\n"],
   lambda r: (lambda rows, cols: f"{rows} {cols}\n" + "".join(" ".join(str(r.randint(-9, 9)) for _ in range(cols)) + "\n"
                                                             for _ in range(rows)))(r.randint(1, 4), r.randint(1, 4)))

io("Multiples of Three", """\
Print every multiple of 3 between 1 and N inclusive, one per line, in increasing order. If there is none, print None.

Input
A single integer N.

Output
Print the multiples, one per line, or None.""",
   """\
   n = int(input())
   multiples = list(range(3, n + 1, 3))
   if multiples:
       for m in multiples:
           print(m)
   else:
       print("None")
   """,
   ["10", "2"], stdin_line(rint(1, 40)))

io("Count the Hashes", """\
A grid of H rows and W columns contains the characters '#' and '.'. Print the number of '#' characters.

Input
The first line contains H and W. Each of the next H lines contains W characters.

Output
Print the number of '#' cells.""",
   """\
   h, w = map(int, input().split())
   print(sum(input().count("#") for _ in range(h)))
   """,
   ["2 3\n#.#\n..#\n", "1 1\n.\n"],
   lambda r: (lambda h, w: f"{h} {w}\n" + "".join(rword(w, w, "#.")(r) + "\n" for _ in range(h)))(r.randint(1, 5), r.randint(1, 6)))

io("Rectangle Area and Perimeter", """\
Given the width W and the height H of a rectangle, print its area and its perimeter separated by a space.

Input
A single line with W and H.

Output
Print W * H and 2 * (W + H).""",
   """\
   w, h = map(int, input().split())
   print(w * h, 2 * (w + h))
   """,
   ["3 4", "1 1"], stdin_line(rint(1, 1000), rint(1, 1000)))

io("Swap Two Numbers", """\
Read two integers A and B and print them in the opposite order.

Input
A single line with A and B.

Output
Print B and A separated by a space.""",
   """\
   a, b = input().split()
   print(b, a)
   """,
   ["1 2", "-7 7"], stdin_line(rint(-100, 100), rint(-100, 100)))

io("Shopping Total", """\
A shopping list has N lines, each with an item name, its unit price and the quantity bought.
Print the total cost of the list.

Input
The first line contains N. Each of the next N lines contains a name, a price and a quantity separated by spaces.

Output
Print the sum of price * quantity over all items.""",
   """\
   n = int(input())
   total = 0
   for _ in range(n):
       name, price, quantity = input().split()
       total += int(price) * int(quantity)
   print(total)
   """,
   ["2\napple 3 4\nbread 5 1\n", "1\nmilk 2 0\n"],
   lambda r: (lambda n: f"{n}\n" + "".join(f"{r.choice(VOCAB[:12])} {r.randint(1, 50)} {r.randint(0, 9)}\n" for _ in range(n)))(r.randint(1, 5)))

io("Heavier Half", """\
A sequence of even length N is split into its first N/2 and its last N/2 elements. Print First if the first half has the
larger sum, Second if the second half has the larger sum, and Equal if the sums are equal.

Input
The first line contains N. The second line contains A_1, ..., A_N.

Output
Print First, Second or Equal.""",
   """\
   n = int(input())
   a = list(map(int, input().split()))
   first, second = sum(a[:n // 2]), sum(a[n // 2:])
   print("First" if first > second else "Second" if second > first else "Equal")
   """,
   ["4\n1 5 2 3\n", "2\n4 4\n", "2\n1 9\n"],
   lambda r: (lambda xs: f"{len(xs)}\n{' '.join(map(str, xs))}\n")([r.randint(0, 9) for _ in range(2 * r.randint(1, 4))]))

io("Words Containing a Letter", """\
Print how many words of the sentence contain the letter C at least once.

Input
The first line contains the lowercase letter C. The second line contains words separated by spaces.

Output
Print the count.""",
   """\
   c = input().strip()
   print(sum(1 for w in input().split() if c in w))
   """,
   ["a\nbanana apple cherry\n", "z\nhello\n"], lambda r: f"{r.choice('aeiort')}\n{rsentence(1, 8)(r)}\n")

io("Number Pyramid", """\
For i = 1 to N, print a line with the numbers 1, 2, ..., i separated by single spaces.

Input
A single integer N.

Output
Print N lines.""",
   """\
   n = int(input())
   for i in range(1, n + 1):
       print(" ".join(str(k) for k in range(1, i + 1)))
   """,
   ["3", "1"], stdin_line(rint(2, 9)))

io("Position of the Minimum", """\
Print the 1-based position of the first occurrence of the smallest value among A_1, ..., A_N.

Input
The first line contains N. The second line contains A_1, ..., A_N.

Output
Print the position.""",
   """\
   input()
   a = list(map(int, input().split()))
   print(a.index(min(a)) + 1)
   """,
   ["4\n5 2 8 2\n", "1\n3\n"], stdin_list(0, 9, 1, 10))

io("Leap Years in a Range", """\
Print how many leap years there are from year A to year B inclusive. A year is a leap year if it is divisible by 4,
except years divisible by 100, which are leap years only when also divisible by 400.

Input
A single line with A and B (A <= B).

Output
Print the number of leap years.""",
   """\
   a, b = map(int, input().split())
   print(sum(1 for y in range(a, b + 1) if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)))
   """,
   ["2000 2010", "1900 1900", "2023 2023"], lambda r: (lambda a: f"{a} {a + r.randint(0, 300)}\n")(r.randint(1600, 2100)))

io("Best Word Score", """\
The score of a word is the sum of the positions of its letters in the alphabet (a = 1, b = 2, ..., z = 26).
Print the word of the line with the highest score; if several words tie, print the first of them.

Input
A single line of lowercase words separated by spaces.

Output
Print the best word.""",
   """\
   words = input().split()
   print(max(words, key=lambda w: sum(ord(ch) - 96 for ch in w)))
   """,
   ["man i need a taxi up to ubud\n", "a b\n"], lambda r: rsentence(1, 7)(r) + "\n", difficulty="easy")

io("Sum of Named Values", """\
A line contains entries of the form name=value separated by spaces, where each value is an integer.
Print the sum of all the values.

Input
A single line such as a=3 b=5 c=-2.

Output
Print the sum of the values.""",
   """\
   print(sum(int(entry.split("=")[1]) for entry in input().split()))
   """,
   ["a=3 b=5 c=-2", "x=0"], lambda r: " ".join(f"{rword(1, 3)(r)}={r.randint(-50, 50)}" for _ in range(r.randint(1, 6))) + "\n")

io("Add Minutes to a Time", """\
A clock shows the time HH:MM (24-hour). Print the time it shows M minutes later, in the same format, wrapping past
midnight.

Input
The first line contains HH:MM. The second line contains M.

Output
Print the new time as HH:MM.""",
   """\
   hh, mm = map(int, input().strip().split(":"))
   m = int(input())
   total = (hh * 60 + mm + m) % 1440
   print(f"{total // 60:02d}:{total % 60:02d}")
   """,
   ["23:30\n45\n", "08:00\n0\n"], lambda r: f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}\n{r.randint(0, 3000)}\n",
   difficulty="easy")

io("Digit Frequency", """\
Given a string of decimal digits, print how many times each digit 0, 1, ..., 9 occurs, as ten numbers on one line
separated by spaces.

Input
A single string of digits.

Output
Print ten counts.""",
   """\
   s = input().strip()
   print(" ".join(str(s.count(str(d))) for d in range(10)))
   """,
   ["1223334444", "0"], lambda r: rword(1, 15, "0123456789")(r) + "\n")
