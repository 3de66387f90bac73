"""Python source parsed from several threads at once: the pipeline hashes one stage's
library imports while another stage's page is finished, and both read code with ``ast``.
CPython 3.11's ``ast.parse`` keeps a recursion counter that two threads corrupt
("AST constructor recursion depth mismatch", gh-106905), so every parse in the library goes
through one lock.

Contents: ``parse_python``.
"""

import ast
import threading

_PARSING = threading.Lock()


def parse_python(source, filename="<unknown>"):
    """``ast.parse(source, filename)``, one thread at a time."""
    with _PARSING:
        return ast.parse(source, filename)
