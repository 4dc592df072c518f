"""The README's tours, run verbatim against the real local stack, with their outputs checked.

Every fenced ``sh`` block between ``<!-- tour:start -->`` and ``<!-- tour:end -->`` runs, in
order, in one bash session (so the variables a block sets are there for the next ones), as a
reader would paste them: only ``API=`` and ``KEY=`` — the address and the key ``make run``
prints — are given this stack's values. A block followed by a fenced ``text`` block must print
exactly that text, once ids, keys, tokens, times and the port are masked on both sides.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from tests.smoke.test_local_stack import PROJECT_DIR, Stack, stack  # noqa: F401

pytestmark = pytest.mark.smoke

README = PROJECT_DIR / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)
MASKS = [
    (re.compile(r"\b(acc|cl|lst|cmp|job|evt|key)_[0-9A-Za-z]{26}\b"), r"\1_…"),
    (re.compile(r"\bpm_[A-Za-z0-9_-]{20,}"), "pm_…"),
    (re.compile(r"/p/(unsubscribe|reactivation|confirm)/[A-Za-z0-9._~-]+"), r"/p/\1/…"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"), "<time>"),
    (re.compile(r"http://127\.0\.0\.1:\d+"), "http://127.0.0.1:8000"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<uuid>"),
]
STEP_TIMEOUT = 240


def mask(text: str) -> str:
    for pattern, replacement in MASKS:
        text = pattern.sub(replacement, text)
    return text.strip()


def tour_blocks() -> list[tuple[str, str | None]]:
    """``(commands, expected output or None)`` for every sh block of the README's tours."""
    text = README.read_text()
    tours = text.split("<!-- tour:start -->")[1:]
    assert tours, "the README marks its tours with <!-- tour:start --> … <!-- tour:end -->"
    blocks: list[tuple[str, str | None]] = []
    for tour in tours:
        body = tour.split("<!-- tour:end -->")[0]
        fences = [(m.group(1), m.group(2)) for m in FENCE.finditer(body)]
        for index, (kind, content) in enumerate(fences):
            if kind != "sh":
                continue
            follows = fences[index + 1] if index + 1 < len(fences) else None
            blocks.append((content, follows[1] if follows and follows[0] == "text" else None))
    return blocks


def given_values(commands: str, stack: Stack) -> str:  # noqa: F811
    """The reader's two pastes: the API's address and the demo key."""
    commands = re.sub(r"^API=\S+", f"API={stack.api}", commands, flags=re.M)
    return re.sub(r"^KEY=\S+", f"KEY={stack.demo_key}", commands, flags=re.M)


def test_the_readme_marks_tours_with_outputs() -> None:
    blocks = tour_blocks()
    assert len(blocks) >= 8
    assert sum(expected is not None for _, expected in blocks) >= 8


def test_the_readme_tours_run_as_written(stack: Stack, tmp_path: Path) -> None:  # noqa: F811
    for tool in ("bash", "curl", "jq"):
        assert shutil.which(tool), f"the tours use {tool}"
    shell = subprocess.Popen(
        ["bash", "--noprofile", "--norc"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"},
    )
    assert shell.stdin is not None and shell.stdout is not None
    try:
        for number, (commands, expected) in enumerate(tour_blocks(), start=1):
            marker = f"__block_{number}_done__"
            shell.stdin.write(given_values(commands, stack) + f"\nprintf '\\n{marker} %s\\n' $?\n")
            shell.stdin.flush()
            lines: list[str] = []
            watchdog = threading.Timer(STEP_TIMEOUT, shell.kill)  # a block that hangs ends the shell
            watchdog.start()
            try:
                for line in shell.stdout:
                    if line.startswith(marker):
                        status = int(line.split()[1])
                        break
                    lines.append(line)
                else:
                    pytest.fail(f"the shell ended during block {number}:\n{commands}\n{''.join(lines)}")
            finally:
                watchdog.cancel()
            output = "".join(lines)
            assert status == 0, f"block {number} failed:\n{commands}\n{output}"
            if expected is not None:
                assert mask(output) == mask(expected), f"block {number}:\n{commands}"
    finally:
        shell.stdin.close()
        shell.kill()
        shell.wait(timeout=10)
