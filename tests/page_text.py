"""What the book's text may hold: every number in a page's markdown is computed by the
page (Markdown built in a code cell, ``reporting.say`` / ``reporting.claim``, or a
``{glue:text}`` role) or declared in the notebook's metadata as a citation or a constant
(``metadata["analysis_lib"]["cited"]``: {number as written: its source}), and no text
speaks of numbers from outside the build. Used by the tests of the executed pages."""

import json
import re

#: Words that quote a number no command of the project makes.
OUTSIDE_PHRASES = ("outside the book", "outside a book run", "earlier book run", "from an earlier run",
                   "measured elsewhere", "the run this text was written from")

_NUMBER = re.compile(r"(?<![\w.\-/^_])[-−+]?(?:\d{1,3}(?: \d{3})+|\d+(?:\.\d+)?)(?![\w/])")
_NOT_PROSE = (re.compile(r"\{glue(?::\w+)?\}`[^`]*`"),  # a glued value
              re.compile(r"`[^`]*`"),  # code: names, commands, parameter values
              re.compile(r"\]\([^)]*\)"),  # a link's target
              re.compile(r"https?://\S+"),
              re.compile(r"\b\d{4}\.\d{5}\b"),  # an arXiv number
              # a reference to a table of a paper
              re.compile(r"\b(?:Table|Figure|Fig\.|Eq\.|Section)\s+\d+", re.IGNORECASE),
              re.compile(r"^(?:\s*|#+\s+)\d+\.\s", re.MULTILINE))  # a numbered list's or section's numbers


def prose_numbers(markdown):
    """The numbers a markdown text states in its prose, as written (``10 000``, ``0.7``)."""
    for pattern in _NOT_PROSE:
        markdown = pattern.sub(" ", markdown)
    return [n.lstrip("+-−") for n in _NUMBER.findall(markdown)]


def unbound_numbers(notebook):
    """The numbers in a notebook's markdown cells that it neither computes nor cites."""
    cited = notebook.metadata.get("analysis_lib", {}).get("cited", {})
    return [n for cell in notebook.cells if cell.cell_type == "markdown"
            for n in prose_numbers(cell.source) if n not in cited]


def outside_phrases(notebook):
    """The phrases of ``OUTSIDE_PHRASES`` a notebook's text or outputs hold."""
    text = " ".join(cell.source + json.dumps(cell.get("outputs", [])) for cell in notebook.cells).lower()
    return [phrase for phrase in OUTSIDE_PHRASES if phrase in text]
