"""The README's five-minute tour as data: its code blocks, and what each must print.

The tour is the part of README.md between `<!-- tour:start -->` and `<!-- tour:end -->`.
Each ```sh block is a step to paste into a terminal; a ```text block right after it is what
that step prints, where a line `...` stands for any number of lines and `...` inside a line
for any text (ids and times). A ```python block is a file the next step runs (`tour.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

START, END = "<!-- tour:start -->", "<!-- tour:end -->"
_FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
# Escape sequences a terminal program writes: CSI (cursor, colour), OSC (title), charset
# selection and the one-character ones.
_ANSI = re.compile(
    r"\x1b(?:\[[0-9;?<=>!]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[()][0-9A-Za-z]|[=>78M])"
)


@dataclass(frozen=True)
class Step:
    shell: str  # the commands, as pasted
    expected: str | None  # what they print (a pattern, see the module docstring)


@dataclass(frozen=True)
class Tour:
    steps: list[Step]
    python: str  # the tour's Python file


def read_tour(readme: Path) -> Tour:
    text = readme.read_text()
    if START not in text or END not in text:
        raise AssertionError(f"{readme} has no {START} ... {END} section")
    section = text[text.index(START) : text.index(END)]
    blocks = [(m.group(1), m.group(2)) for m in _FENCE.finditer(section)]
    steps: list[Step] = []
    python = ""
    for index, (language, body) in enumerate(blocks):
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        if language == "sh":
            expected = following[1] if following and following[0] == "text" else None
            steps.append(Step(body, expected))
        elif language == "python":
            python = body
        elif language != "text":
            raise AssertionError(f"tour block of unknown language {language!r}")
    return Tour(steps, python)


def pattern(expected: str) -> re.Pattern[str]:
    """The regular expression an expected-output block stands for."""
    parts = []
    for line in expected.splitlines():
        if line.strip() == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*?".join(re.escape(piece) for piece in line.rstrip().split("...")))
            parts.append(r"\n")
    return re.compile("".join(parts))


def matches(expected: str, printed: str) -> bool:
    return pattern(expected).fullmatch(normalize(printed)) is not None


def normalize(printed: str) -> str:
    """Terminal output as plain lines: no escape sequences, no carriage returns, no
    trailing spaces, one final newline."""
    text = _ANSI.sub("", printed).replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    return "\n".join(lines).strip("\n") + "\n"
