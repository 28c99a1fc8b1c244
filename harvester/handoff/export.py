"""Hand a session to shells and programs: environment variables in each shell's syntax, the
cookie files of other tools (cookie_files.py), a file written safely, exec.

Quoting is exact: every value round-trips unchanged through its format and runs nothing.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from ..errors import CommandNotExecutable, CommandNotFound, UsageError
from ..store.session import Session
from ..store.sessions import SessionStore
from .cookie_files import HARVESTER_COMMENT, STATE_KEY

VARIABLES = (
    "TOTARA_WWWROOT",
    "TOTARA_COOKIE",
    "TOTARA_COOKIE_NAME",
    "TOTARA_SESSION",
    "TOTARA_SESSKEY",
)
NESTED_MARKER = "HARVEST_EXEC"
VARIABLE_FORMATS = ("sh", "fish", "powershell", "dotenv", "json")
COOKIE_FORMATS = ("netscape", "playwright")
FORMATS = VARIABLE_FORMATS + COOKIE_FORMATS
# The first line of a variables file harvester writes (--output): how it knows its own files.
FILE_MARK = f"{HARVESTER_COMMENT}written by harvest env --output; the next one replaces it\n"


def variables(session: Session) -> dict[str, str]:
    """The five variables of docs/contract.md, in a fixed order."""
    return {
        "TOTARA_WWWROOT": session.wwwroot,
        "TOTARA_COOKIE": session.cookie_header,
        "TOTARA_COOKIE_NAME": session.cookie_name,
        "TOTARA_SESSION": session.cookie_value,
        "TOTARA_SESSKEY": session.sesskey,
    }


def _check(value: str) -> None:
    if "\0" in value:
        raise UsageError("a value holds a NUL character, which no environment can carry")


def quote_sh(value: str) -> str:
    """POSIX single quotes (bash, dash, zsh, ksh): nothing inside is special but `'`."""
    return "'" + value.replace("'", "'\\''") + "'"


def quote_fish(value: str) -> str:
    """fish single quotes: only `\\'` and `\\\\` are escapes inside them."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# PowerShell treats the typographic single quotes as quote characters too.
_PS_QUOTES = re.compile("(['\u2018\u2019\u201a\u201b])")


def quote_powershell(value: str) -> str:
    """PowerShell verbatim strings: a quote character is escaped by doubling it."""
    return "'" + _PS_QUOTES.sub(r"\1\1", value) + "'"


# What both docker's --env-file (the rest of the line, verbatim) and python-dotenv (unquoted,
# stripped, `#` after a space starts a comment, `${…}` expands) read back unchanged.
_DOTENV_PLAIN = re.compile(r"[A-Za-z0-9_./:@%+,=~^*!?()\[\]{}<>|;&-]*")


# python-dotenv expands ${NAME} and ${NAME:-default} in every value, quoted or not, after it has
# decoded the quotes. `${:-${}` is such an expansion whose result is the two characters `${`:
# the name is empty (no variable has it) and the default is `${`. Writing every `${` that way
# makes the value come back exactly, whatever variables are set where the file is loaded.
_DOTENV_DOLLAR_BRACE = "${:-${}"


def dotenv_value(value: str) -> tuple[str, bool]:
    """(text, plain): plain text is read back exactly by docker and python-dotenv alike;
    otherwise python-dotenv's single quotes, with `${` kept from expanding (exact for
    python-dotenv; docker cannot carry such a value)."""
    if _DOTENV_PLAIN.fullmatch(value) and "${" not in value:
        return value, True
    quoted = value.replace("\\", "\\\\").replace("'", "\\'")
    return "'" + quoted.replace("${", _DOTENV_DOLLAR_BRACE) + "'", False


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}: use {', '.join(FORMATS)}")


def format_session(
    session: Session, fmt: str, warn: Callable[[str], None] | None = None, *, for_file: bool = False
) -> str:
    """The session as text for *fmt*: variables (format_variables) or a cookie file
    (cookie_files.py). *for_file*: a variables file starts with FILE_MARK."""
    check_format(fmt)
    if fmt in COOKIE_FORMATS:
        from .cookie_files import netscape_text, playwright_text

        session.check_sendable()  # a cookie file holds the values as they are
        return netscape_text(session) if fmt == "netscape" else playwright_text(session)
    text = format_variables(session, fmt, warn)
    return FILE_MARK + text if for_file and fmt != "json" else text


def format_variables(session: Session, fmt: str, warn: Callable[[str], None] | None = None) -> str:
    """The session's variables as text for *fmt*: sh, fish, powershell, dotenv or json."""
    check_format(fmt)
    if fmt not in VARIABLE_FORMATS:
        raise UsageError(f"{fmt} is a cookie file, not variables: use format_session")
    values = variables(session)
    for value in values.values():
        _check(value)
    if fmt == "json":
        return json.dumps(values, indent=2, ensure_ascii=False) + "\n"
    lines = []
    for name, value in values.items():
        if fmt == "sh":
            lines.append(f"export {name}={quote_sh(value)}")
        elif fmt == "fish":
            lines.append(f"set -gx {name} {quote_fish(value)}")
        elif fmt == "powershell":
            lines.append(f"$env:{name} = {quote_powershell(value)}")
        elif fmt == "dotenv":
            text, plain = dotenv_value(value)
            if not plain and warn is not None:
                warn(
                    f"{name} holds characters docker --env-file cannot carry; "
                    "python-dotenv reads this file exactly"
                )
            lines.append(f"{name}={text}")
    return "\n".join(lines) + "\n"


def child_environment(session: Session, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """*base* (default: ours) without inherited TOTARA_* variables, plus this session's."""
    env = {
        k: v
        for k, v in (os.environ if base is None else base).items()
        if not k.startswith("TOTARA_")
    }
    for value in variables(session).values():
        _check(value)
    env.update(variables(session))
    env[NESTED_MARKER] = "1"
    return env


def refuse_nested() -> None:
    if os.environ.get(NESTED_MARKER):
        raise UsageError(
            "already inside harvest exec (HARVEST_EXEC is set): the session variables are in "
            "the environment already; run the command directly"
        )


def env_text(
    site: str,
    user: str,
    fmt: str = "sh",
    *,
    store: SessionStore | None = None,
    warn: Callable[[str], None] | None = None,
    for_file: bool = False,
) -> str:
    """`harvest env`: the stored session of *user* on *site* as text in *fmt*."""
    from ..settings.targets import stored_session

    check_format(fmt)  # before the keyring is asked
    _profile, session = stored_session(site, user, store or SessionStore())
    return format_session(session, fmt, warn, for_file=for_file)


def written_by_harvester(path: str) -> bool:
    """Whether the file at *path* is one harvest env --output wrote (any format): its mark,
    a harvester storage state, or an object of exactly our variables."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(256 * 1024).decode("utf-8", "replace")
    except OSError:
        return False
    if head.lstrip().startswith("{"):
        try:
            data = json.loads(head)
        except ValueError:
            return False
        return isinstance(data, dict) and (
            isinstance(data.get(STATE_KEY), dict) or set(data) == set(VARIABLES)
        )
    return any(line.startswith(HARVESTER_COMMENT) for line in head.splitlines()[:3])


def check_output(path: str, *, force: bool = False) -> None:
    """UsageError unless write_output may write *path* (checked again when it does)."""
    from ..inputs import text

    text(path, "--output")
    if os.path.isdir(path):
        raise UsageError(f"{path} is a folder: --output names a file")
    if os.path.lexists(path) and not force and not written_by_harvester(path):
        raise UsageError(
            f"{path} exists and was not written by harvester: pass --force to replace it"
        )


def write_output(path: str, text: str, *, force: bool = False) -> None:
    """Write *text* to *path* as a new file of mode 0600, replacing (atomically) only a file
    harvester wrote before, or any file with *force*. A symbolic link at *path* is replaced,
    never followed."""
    from ..store.files import write_atomic

    check_output(path, force=force)
    try:
        write_atomic(Path(os.path.abspath(path)), text.encode("utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or type(exc).__name__}") from None


def find_program(name: str, path: str | None) -> str:
    """The executable *name* names, as a shell finds it on *path*: CommandNotFound (127) or
    CommandNotExecutable (126) as a shell says them."""
    import shutil

    program = name if os.sep in name else shutil.which(name, path=path)
    if program is None or not os.path.exists(program):
        raise CommandNotFound(f"command not found: {name}")
    if not os.access(program, os.X_OK):
        raise CommandNotExecutable(f"not executable: {name}")
    return program


def exec_session(
    site: str, user: str, argv: list[str], *, store: SessionStore | None = None
) -> None:
    """`harvest exec`: replace this process with *argv* running with the stored session's
    variables (no shell in between). Its exit code is the process's own, and signals reach it
    directly (it *is* the process). Returns only by raising."""
    import sys

    from ..settings.targets import stored_session

    refuse_nested()
    _profile, session = stored_session(site, user, store or SessionStore())
    if not argv:
        raise UsageError("no command given: harvest exec --user U -- COMMAND [ARGS...]")
    env = child_environment(session)
    program = find_program(argv[0], env.get("PATH"))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(program, argv, env)
