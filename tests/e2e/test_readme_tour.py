"""The README's quick start and five-minute tour, run as a newcomer runs them.

`make install` links the commands into a fresh bin directory, which is the only place
they are found on PATH; a real broker (`simplequeued --redis-addr ...`, data in ./sq-data
of a temp directory, as `make run` starts it) serves the tour; every ```sh block of the tour
runs in order in one bash (so shell variables carry over) inside a pseudo-terminal, as
pasted into a terminal: redis-cli formats its replies for people, and sq-console draws its
screen, shows the tour's topics and quits on `q`. Each step's output must match the README's
```text block after it. The broker listens on free ports instead of 8080 and 6379:
`localhost:8080` in the blocks, SQ_BROKER and a `redis-cli` shell function point there.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.daemon import REPO_ROOT, Daemon
from tests.support.readme_tour import Tour, matches, normalize, read_tour

README = REPO_ROOT / "README.md"
TOUR_DEADLINE = 240.0  # seconds for the whole tour on a loaded machine
KEY_RESEND = 5.0  # sq-console is sent `q` again this often until it has quit
_MARK = "@@tour-step-{}@@"
_MARK_RE = re.compile(r"@@tour-step-(\d+)@@\r?\n?")


def test_tour_blocks_are_well_formed() -> None:
    tour = read_tour(README)
    assert len(tour.steps) >= 6 and tour.python
    assert any(step.shell.strip() == "sq-console" for step in tour.steps)
    for step in tour.steps:
        assert step.expected is not None or step.shell.strip() == "sq-console", step.shell


def test_readme_links_only_to_files_the_repository_has() -> None:
    for document in (README, REPO_ROOT / "broker/DESIGN.md"):
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", document.read_text()):
            assert (document.parent / target).exists(), f"{document.name} links to {target}"
    tracked = subprocess.run(
        ["git", "ls-files", "*.py", "*.md"], cwd=REPO_ROOT, capture_output=True, text=True
    ).stdout.split()
    assert tracked, "git ls-files found nothing"
    for path in (REPO_ROOT / name for name in tracked):
        for name in re.findall(r"\b((?:[\w-]+/)*[\w-]+\.md)\b", path.read_text(errors="replace")):
            assert (REPO_ROOT / name).exists() or (path.parent / name).exists(), (
                f"{path.relative_to(REPO_ROOT)} refers to {name}, which the repository lacks"
            )


def test_the_tour_runs_as_written(daemon_factory: Callable[..., Daemon], tmp_path: Path) -> None:
    for tool in ("redis-cli", "curl", "bash", "make"):
        assert shutil.which(tool), f"the tour needs {tool} on PATH"
    tour = read_tour(README)
    bindir = tmp_path / "bin"
    install = subprocess.run(
        ["make", "-s", "-C", str(REPO_ROOT), "install", f"BINDIR={bindir}", f"VENV={sys.prefix}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    assert f"installed simplequeue simplequeued sq-console in {bindir}" in install.stdout
    for command in ("simplequeue", "simplequeued", "sq-console"):
        assert (bindir / command).is_symlink()

    broker: Daemon = daemon_factory(cwd=tmp_path, redis=True)
    (tmp_path / ".venv").symlink_to(sys.prefix)
    (tmp_path / "tour.py").write_text(_local(tour.python, broker))
    consoles = {i for i, step in enumerate(tour.steps) if step.shell.strip() == "sq-console"}
    script, env = _script(tour, broker), _environment(bindir, broker)
    printed, status = _run_in_terminal(script, tmp_path, env, consoles)

    outputs = _split(printed, len(tour.steps))
    for index, step in enumerate(tour.steps):
        assert index in outputs, f"step {index + 1} never ran:\n{step.shell}\n{normalize(printed)}"
        if step.shell.strip() == "sq-console":
            screen = normalize(outputs[index])
            assert "mail" in screen and "signups" in screen, screen
        elif step.expected is not None:
            assert matches(step.expected, outputs[index]), (
                f"step {index + 1}:\n{step.shell}\nprinted:\n{normalize(outputs[index])}"
                f"\nthe README says:\n{step.expected}"
            )
    assert status == 0, f"the tour stopped (exit {status}):\n{normalize(printed)}"


def _local(text: str, broker: Daemon) -> str:
    return text.replace("http://localhost:8080", broker.http_url).replace(
        "localhost:8080", broker.http_url.removeprefix("http://")
    )


def _script(tour: Tour, broker: Daemon) -> str:
    lines = [
        "set -eo pipefail",
        f'redis-cli() {{ command redis-cli -p {broker.redis_port} "$@"; }}',
    ]
    for index, step in enumerate(tour.steps):
        lines.append(f"printf '\\n{_MARK.format(index)}\\n'")
        lines.append(_local(step.shell, broker))
    lines.append(f"printf '\\n{_MARK.format(len(tour.steps))}\\n'")
    return "\n".join(lines) + "\n"


def _environment(bindir: Path, broker: Daemon) -> dict[str, str]:
    venv_bin = str(Path(sys.prefix) / "bin")
    path = [str(bindir)] + [p for p in os.environ["PATH"].split(os.pathsep) if p != venv_bin]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQ_")}
    env.pop("VIRTUAL_ENV", None)
    env.update(PATH=os.pathsep.join(path), TERM="xterm-256color", SQ_BROKER=broker.http_url)
    return env


def _run_in_terminal(
    script: str, cwd: Path, env: dict[str, str], consoles: set[int]
) -> tuple[str, int]:
    """Run `script` with a pseudo-terminal as its terminal; quit sq-console (the steps
    `consoles`) with `q` once it has drawn the tour's topics. Returns everything printed
    and the exit status."""
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(
        ["bash", "-c", script],
        cwd=cwd,
        env=env,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        start_new_session=True,
    )
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + TOUR_DEADLINE
    last_key = 0.0
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    data = os.read(leader, 65536)
                except OSError:  # EIO: every process holding the terminal is gone
                    break
                if not data:
                    break
                chunks.append(data)
            printed = b"".join(chunks).decode("utf-8", "replace")
            if _console_is_showing(printed, consoles) and time.monotonic() - last_key > KEY_RESEND:
                os.write(leader, b"q")
                last_key = time.monotonic()
            if proc.poll() is not None and not ready:
                break
        else:
            proc.kill()
            raise AssertionError(
                f"the tour did not finish within {TOUR_DEADLINE}s:\n"
                + normalize(b"".join(chunks).decode("utf-8", "replace"))
            )
        return b"".join(chunks).decode("utf-8", "replace"), proc.wait(30)
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _console_is_showing(printed: str, consoles: set[int]) -> bool:
    marks = list(_MARK_RE.finditer(printed))
    if not marks or int(marks[-1].group(1)) not in consoles:
        return False
    screen = normalize(printed[marks[-1].end() :])
    return "signups" in screen and "mail" in screen


def _split(printed: str, count: int) -> dict[int, str]:
    """What each step printed, by step index."""
    outputs: dict[int, str] = {}
    marks = list(_MARK_RE.finditer(printed))
    for mark, following in itertools.pairwise(marks):
        index = int(mark.group(1))
        if index < count:
            outputs[index] = printed[mark.end() : following.start()]
    return outputs


pytestmark = pytest.mark.timeout(TOUR_DEADLINE + 120)
