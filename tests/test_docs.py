"""The documentation is checked like code (fast tier): every `harvest …` line in README.md and
docs/ is parsed by the real command line, every command and every exit code is documented,
and the README stays a front door (≤ 250 lines)."""

from __future__ import annotations

import itertools
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer._click as click  # Typer vendors Click
import typer._click.exceptions as click_errors
import typer.main
from typer.core import TyperGroup
from typer.exceptions import Exit

from harvester import errors
from harvester.cli.app import app

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
OPERATORS = {"|", "||", "&&", ";", ">", ">>", "<", "(", ")", "&", "2>", "2>&1"}
FENCE = re.compile(r"^\s*```")
INLINE = re.compile(r"`(harvest [^`]+)`")


def command_lines(page: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of every shell line in a fenced block, continuation lines joined,
    and of every inline `harvest …` code span."""
    in_block, language, joined, first = False, "", "", 0
    for number, line in enumerate(page.read_text().splitlines(), 1):
        if FENCE.match(line):
            in_block = not in_block
            language = line.strip().strip("`").strip().lower() if in_block else ""
            continue
        if in_block and language in ("", "sh", "bash", "shell", "console"):
            if not joined:
                first = number
            joined += line.rstrip().removesuffix("\\") + " "
            if not line.rstrip().endswith("\\"):
                yield first, joined.strip()
                joined = ""
        elif not in_block:
            for span in INLINE.findall(line):
                yield number, span


def harvest_invocations(text: str) -> Iterator[list[str]]:
    """The argument lists of every `harvest` run in a shell line (after a pipe, inside
    "$(…)", after VAR=value assignments)."""
    text = text.split(" # ", 1)[0]
    text = text.replace("$(", " ( ").replace('"', '" ').replace(")", " ) ")
    try:
        lexer = shlex.shlex(text, posix=True, punctuation_chars="|&;<>()")
        lexer.whitespace_split = True
        tokens = list(lexer)
    except ValueError:  # an unbalanced quote in prose: not a command line
        return
    for start, token in enumerate(tokens):
        if token == "harvest":
            args = []
            for word in tokens[start + 1 :]:
                if word in OPERATORS or word.startswith(("|", "&", ";", ">", "<", ")")):
                    break
                args.append(word)
            yield args


def problems_in(page: Path) -> list[str]:
    """One line per documented invocation the command line refuses: file:line, the words, why.
    Placeholders (…, NAME, <x>) are fine; unknown commands and options are not."""
    root = typer.main.get_command(app)
    found = []
    for number, line in command_lines(page):
        for args in harvest_invocations(line):
            args = [a for a in args if a not in ("…", "...") and not a.endswith("…")]
            why = _refused(root, args)
            if why:
                where = page.relative_to(ROOT) if page.is_relative_to(ROOT) else page
                found.append(f"{where}:{number}: harvest {' '.join(args)}: {why}")
    return found


def _synopsis_refused(root: click.Command, args: list[str]) -> str:
    """A synopsis (`harvest env --user U [--site S] [--format sh|json]`, `site add|list`):
    each command named must exist, and each option must be one of the command's."""
    words = [w for arg in args for w in re.split(r"[\[\]]", arg) if w]
    commands: list[click.Command] = [root]
    while words and isinstance(commands[0], TyperGroup):
        group = commands[0]
        word = words.pop(0)
        if word.startswith("-"):
            continue
        names = word.split("|")
        found = [group.get_command(None, name) for name in names]  # type: ignore[arg-type]
        if None in found:
            return f"no such command {names[found.index(None)]!r}"
        commands = [c for c in found if c is not None]
        if len(commands) > 1:
            return ""  # alternatives: their options are not the example's
    known = {opt for param in commands[0].params for opt in (*param.opts, *param.secondary_opts)}
    if "--" in words:  # `exec … -- CMD`: what follows is the command's
        words = words[: words.index("--")]
    for word in words:
        for option in word.split("|"):
            name = option.split("=", 1)[0]
            if name in ("-", "--"):  # standard input; the end of the options
                continue
            if name.startswith("-") and name.rstrip("…") not in known | {"--help"}:
                return f"no such option {name!r}"
    return ""


def _refused(root: click.Command, args: list[str]) -> str:
    if any("[" in arg or "|" in arg for arg in args):
        return _synopsis_refused(root, args)
    context = root.make_context("harvest", list(args), resilient_parsing=True)
    command: click.Command = root
    words = list(args)
    while isinstance(command, TyperGroup):
        # the group's own options first (harvest --debug login …)
        while words and words[0].startswith("-"):
            words.pop(0)
        if not words:
            return ""
        name = words.pop(0)
        sub = command.get_command(context, name)
        if sub is None:
            return f"no such command {name!r}"
        command = sub
        context = click.Context(command, info_name=name, parent=context)
    try:
        command.make_context(command.name or "", words, parent=context.parent)
    except click_errors.NoSuchOption as exc:
        return exc.format_message()
    except Exit:
        return ""  # --help
    except click_errors.UsageError as exc:
        message = exc.format_message()
        if "No such option" in message or "unexpected extra argument" in message:
            return message
        return ""  # a placeholder's value, a required option left out of an example
    return ""


def test_every_documented_command_line_parses() -> None:
    found = [problem for page in PAGES for problem in problems_in(page)]
    assert not found, "\n".join(found)


def test_a_wrong_option_in_a_page_is_named_with_its_file_and_line(tmp_path: Path) -> None:
    page = tmp_path / "fixture.md"
    page.write_text(
        "A page.\n\n```sh\nharvest env --user alice\nharvest login --no-such-option\n```\n"
        "and `harvest stauts --check` inline.\n"
    )
    found = problems_in(page)
    assert len(found) == 2, found
    assert found[0].startswith(f"{page}:5: harvest login --no-such-option: ")
    assert "--no-such-option" in found[0]
    assert found[1].startswith(f"{page}:7: harvest stauts --check: no such command 'stauts'")
    page.unlink()


def all_commands() -> list[str]:
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    names = []
    for name, command in sorted(root.commands.items()):
        if isinstance(command, TyperGroup):
            names += [f"{name} {sub}" for sub in sorted(command.commands)]
        else:
            names.append(name)
    return names


def test_every_command_and_every_exit_code_is_documented() -> None:
    docs = "\n".join(page.read_text() for page in PAGES if page.parent.name == "docs")
    missing = [name for name in all_commands() if f"harvest {name}" not in docs]
    assert not missing, missing
    codes = {
        cls.exit_code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.HarvestError)
    }
    table = (ROOT / "docs" / "contract.md").read_text()
    undocumented = [
        code
        for code in sorted(codes)
        if not re.search(rf"^\| *[0-9, ]*\b{code}\b[0-9, ]* *\|", table, re.M)
    ]
    assert not undocumented, undocumented


def test_the_readme_is_a_front_door() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_links_between_pages_lead_somewhere(page: Path) -> None:
    for target in re.findall(r"\]\(([^)#]+\.md)(?:#[^)]*)?\)", page.read_text()):
        if "://" not in target:
            assert (page.parent / target).exists(), f"{page.name} links to {target}"


# -- help that reads well at 80 columns ---------------------------------------------------------
def help_at_80(*words: str) -> str:
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, [*words, "--help"], env={"COLUMNS": "80", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return result.output


def every_command() -> list[tuple[str, ...]]:
    return [tuple(name.split()) for name in all_commands()]


@pytest.mark.parametrize("words", every_command(), ids=" ".join)
def test_each_paragraph_of_a_commands_help_is_reflowed_as_one(words: tuple[str, ...]) -> None:
    import inspect

    root = typer.main.get_command(app)
    command: click.Command = root
    for word in words:
        assert isinstance(command, TyperGroup)
        found = command.get_command(None, word)  # type: ignore[arg-type]
        assert found is not None
        command = found
    shown = help_at_80(*words)
    paragraphs = [  # as markdown shows them: code spans without their backticks
        " ".join(p.replace("`", "").split())
        for p in inspect.cleandoc(command.help or "").split("\n\n")
        if p
    ]
    blocks = [
        [line.strip() for line in block.splitlines()]
        for block in re.split(r"\n\s*\n", shown)
        if block.strip() and "─" not in block
    ]
    for paragraph in paragraphs:
        block = next((b for b in blocks if " ".join(" ".join(b).split()) == paragraph), None)
        assert block is not None, f"{paragraph!r} is not one paragraph in:\n{shown}"
        for line, following in itertools.pairwise(block):
            # filled: the next line's first word did not fit on this one
            assert len(line) + 1 + len(following.split()[0]) > 78, (line, following)


def test_the_top_level_help_fits_40_lines_and_options_sit_in_panels() -> None:
    assert len(help_at_80().splitlines()) <= 40
    login = help_at_80("login")
    for panel in ("Site and user", "Password", "Browser", "Network"):
        assert f"─ {panel} ─" in login, login
    assert "Example: harvest login" in login and "docs/logging-in.md" in login


def test_the_examples_of_every_commands_help_parse() -> None:
    from harvester.cli.app import EXAMPLES

    root = typer.main.get_command(app)
    refused = {
        name: why
        for name, (example, _page) in EXAMPLES.items()
        for args in harvest_invocations(example)
        if (why := _refused(root, args))
    }
    assert not refused, refused
    pages = {page for _example, page in EXAMPLES.values()}
    assert all((ROOT / "docs" / page).exists() for page in pages), pages
