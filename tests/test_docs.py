"""The README and docs/ as written: every ``raymouth`` command in a ```bash block parses with the
real command-line parser and names only existing settings, every relative link points to an
existing file (and heading), and the README stays short. Fast: nothing runs, no cluster."""
from __future__ import annotations

import contextlib
import dataclasses
import io
import re
import shlex
import typing
from pathlib import Path

import pytest

from raymouth import cli, config

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BASH_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
JOB = re.compile(r"\bpython (jobs/\w+\.py)\b")


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def command_lines(text: str) -> list[str]:
    """Logical lines (``\\`` continuations joined) of every ```bash block."""
    lines = []
    for block in BASH_BLOCK.findall(text):
        current = ""
        for raw in block.splitlines():
            if raw.rstrip().endswith("\\"):
                current += raw.rstrip()[:-1] + " "
                continue
            lines.append((current + raw).strip())
            current = ""
        if current:
            lines.append(current.strip())
    return lines


def _job_subcommand(script: str) -> str:
    """The subcommand a ``jobs/*.py`` entry point hands to ``cli.main``."""
    match = re.search(r'main\(\["([\w-]+)"', (ROOT / script).read_text())
    assert match, f"{script}: no main([\"<subcommand>\", ...]) call"
    return match.group(1)


def cli_argv(line: str) -> list[str] | None:
    """The argv a documented line hands to the ``raymouth`` parser, or None if it runs something else."""
    line = re.sub(r"\$\([^()]*\)", "SUBSTITUTED", line)  # $(cat list.txt): one word here
    if line.startswith("raymouth "):
        return shlex.split(line, comments=True)[1:]
    job = JOB.search(line)
    if job and line.startswith("ray job submit"):
        words = shlex.split(line[job.end():], comments=True)
        return [_job_subcommand(job.group(1)), *words]
    return None


def documented_commands() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        for line in command_lines(path.read_text()):
            if cli_argv(line) is not None:
                found.append((_rel(path), line))
    return found


def _setting_exists(key: str) -> bool:
    cls: typing.Any = config.Config
    for part in key.split("."):
        if not dataclasses.is_dataclass(cls):
            return False
        fields = {f.name for f in dataclasses.fields(cls)}
        if part not in fields:
            return False
        cls = typing.get_type_hints(cls, include_extras=True)[part]
    return not dataclasses.is_dataclass(cls)  # a setting, not a whole section


def check_command(line: str) -> None:
    """Raise AssertionError if ``line`` does not parse or names a setting that does not exist."""
    argv = cli_argv(line)
    assert argv is not None, line
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            args = cli.parser().parse_args(argv)
    except SystemExit as exc:
        raise AssertionError(f"{line!r} does not parse: {stderr.getvalue().strip().splitlines()[-1:]}") from exc
    overrides = getattr(args, "overrides", [])
    for item in overrides:
        key = item.split("=", 1)[0]
        assert "=" in item and _setting_exists(key), f"{line!r}: --set {item!r} names no setting of raymouth.config.Config"
    try:
        config.load(None, overrides)
    except config.ConfigError as exc:
        raise AssertionError(f"{line!r}: {exc}") from exc


def test_the_docs_hold_commands():
    commands = documented_commands()
    where = {doc for doc, _ in commands}
    assert {"README.md", "docs/evaluation.md", "docs/reference.md", "docs/training.md", "docs/throughput.md", "docs/cluster.md"} <= where, where
    assert len(commands) >= 20, commands


@pytest.mark.parametrize(("doc", "line"), documented_commands(), ids=lambda v: v if v.endswith(".md") else v[:60])
def test_documented_command_parses(doc, line):
    check_command(line)


@pytest.mark.parametrize(
    "line",
    [
        "raymouth enhnace IN --out OUT",  # misspelt subcommand
        "raymouth enhance IN --out OUT --run-name x",  # unknown option
        "raymouth enhance IN",  # required --out missing
        "raymouth enhance IN --out OUT --set enhance.sharpen.amout=0.3",  # misspelt setting
        "raymouth enhance IN --out OUT --set enhance.sharpen=0.3",  # a section, not a setting
        "raymouth config --set pipeline.cpus_per_actor=0",  # a value out of bounds
        "ray job submit --working-dir . -- python jobs/enhance.py s3://b/f --out s3://b/e --run-idd r1",
    ],
)
def test_a_wrong_command_is_caught(line):
    with pytest.raises(AssertionError):
        check_command(line)


def test_continuations_and_substitutions_are_read():
    text = "```bash\nraymouth ingest $(cat a.txt) \\\n    --out d  # comment\necho hi\n```\n"
    [first, second] = command_lines(text)
    assert cli_argv(first) == ["ingest", "SUBSTITUTED", "--out", "d"] and cli_argv(second) is None


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M)
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.*)$", text, re.M)}


def relative_links(path: Path) -> list[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M)
    text = re.sub(r"`[^`\n]*`", "", text)  # inline code is not a link
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


@pytest.mark.parametrize("path", DOCS, ids=_rel)
def test_relative_links_point_to_existing_files(path):
    broken = []
    for target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(target)
    assert not broken, f"{_rel(path)}: broken links {broken}"


def test_a_broken_link_is_caught(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n[ok](page.md#title) [gone](missing.md) [bad anchor](page.md#nope) [web](https://x.y)\n")
    found = relative_links(page)
    assert found == ["page.md#title", "missing.md", "page.md#nope"]
    assert _slug("Fidelity or detail (`enhance.detail`, `enhance.detail_auto`)") == "fidelity-or-detail-enhancedetail-enhancedetail_auto"


def test_readme_is_short_and_shows_the_picture_and_commands_first():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 250, len(lines)
    first_screen = "\n".join(lines[:45])
    assert "docs/before_after.png" in first_screen
    for command in ("bash scripts/install.sh", "raymouth demo", "python -m pytest -q"):
        assert command in first_screen, command
