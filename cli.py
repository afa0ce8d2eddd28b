"""cli.py: how every command-line entry point reports a user's mistake: one line, exit status 2, no traceback.

A UserError names the problem and the fix ("model package X is not installed; install it with: ...",
"data.jsonl line 3: field 'question_id' is missing"). Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import sys


class UserError(Exception):
    """A problem the user can fix: a missing package or file, a wrong name, a malformed row, a bad number."""


def run(main, argv=None):
    """Call main(argv); a UserError or a missing file becomes `error: <message>` on stderr and exit status 2."""
    try:
        return main(argv)
    except (UserError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
