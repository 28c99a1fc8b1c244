"""One error tree for harvester; each class carries the exit code the CLI uses.

Messages are one line, say what went wrong and what to do next, and never hold a secret. The
exit codes are part of the contract (docs/contract.md): nothing else in harvester picks one.
"""

from __future__ import annotations


class HarvestError(Exception):
    """Base of every error harvester raises on purpose."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        # Collapse to one line: the CLI prints exactly one line per error.
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self)


class UsageError(HarvestError):
    """The command line or its input is wrong (exit 2)."""

    exit_code = 2


class LoginRefused(HarvestError):
    """The site refused the credentials: bad password, unknown user, locked account (exit 3)."""

    exit_code = 3


class NoSession(HarvestError):
    """No valid stored session: missing, or expired and not refreshable (exit 4)."""

    exit_code = 4


class SiteTrouble(HarvestError):
    """The site cannot serve this now: unreachable, answering badly, or in maintenance. Site
    trouble, never a dead session (exit 5). Catch this for "any trouble with the site"; catch
    a subclass for one kind of it."""

    exit_code = 5


class SiteUnreachable(SiteTrouble):
    """The site could not be reached or did not answer in time: no answer at all (exit 5)."""


class SiteError(SiteTrouble):
    """The site answered, but not the way Totara answers: a proxy's 502 or 504, a PHP error
    page, JSON of an unexpected shape, an answer over the size bound. Site trouble, never a
    dead session (exit 5)."""


class KeyringUnavailable(HarvestError):
    """No usable OS keyring: no backend, locked, or not answering (exit 6)."""

    exit_code = 6


class LoginFlowError(HarvestError):
    """The login did not go the way a Totara login goes: unexpected page,
    required-action page, missing cookie or sesskey (exit 7)."""

    exit_code = 7


class SessionEndedAtOnce(LoginFlowError):
    """The site ended a session it had just logged in, before it could be verified
    (require_login): something else ends this user's sessions, or the login page only looked
    like a logged-in one (exit 7). An unattended login meets it once and logs in again."""


class BrowserUnavailable(HarvestError):
    """No browser could be started (exit 1: nothing the site or the user input did)."""

    exit_code = 1


class GraphQLError(HarvestError):
    """The site answered an operation with a GraphQL error (exit 8 unless a subclass says).

    `site_message` is the site's own message; `category` its `extensions.category`."""

    exit_code = 8

    def __init__(
        self,
        message: str,
        *,
        category: str | None,
        operation: str | None,
        site_message: str = "",
    ) -> None:
        super().__init__(message)
        self.category = category
        self.operation = operation
        self.site_message = site_message


class SessionExpired(GraphQLError):
    """`require_login`: the session is expired, logged out or unknown to the site (exit 4)."""

    exit_code = 4


class InvalidSesskey(GraphQLError):
    """`require_refresh`: the cookie is alive but the sesskey is not its own (exit 4)."""

    exit_code = 4


class NotDeveloperSite(SiteError):
    """The developer API answered nothing: the site is not in GraphQL developer mode (exit 5;
    site configuration, never a dead session)."""


class SiteMaintenance(SiteTrouble):
    """HTTP 503: the site is in maintenance; `retry_after` seconds when it said (exit 5)."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StateUnwritable(HarvestError):
    """harvester's own state folder (the index of stored sessions) cannot be written: a full
    disk, no permission, a file in the folder's place (exit 9). The keyring and the index are
    left as they were before the command."""

    exit_code = 9


class NotAFolder(StateUnwritable):
    """A folder harvester needs (its state folder, its config folder) is a file, or lies under
    one (exit 9). The message names the path."""


class CommandNotFound(UsageError):
    """`harvest exec`: the command does not exist (exit 127, as a shell says it)."""

    exit_code = 127


class CommandNotExecutable(UsageError):
    """`harvest exec`: the command exists but cannot be run (exit 126, as a shell says it)."""

    exit_code = 126


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's text (at most *limit* characters), or its type's name:
    what a one-line error may quote of a third party's message."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__


def one_line(text: object, limit: int = 200) -> str:
    """*text* with its white space folded to single spaces, at most *limit* characters: a page's
    or a library's message, fit to quote in a one-line error."""
    return " ".join(str(text).split())[:limit]
