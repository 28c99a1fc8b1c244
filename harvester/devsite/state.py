"""Users and server-side sessions of the bundled Totara-compatible site.

Modelled on Moodle/Totara's session manager (docs/totara-protocol.md): an anonymous session exists
before login, login replaces it with a new one (new cookie, new sesskey), sessions time out on
the server, and failed logins count towards an account lockout.
"""

from __future__ import annotations

import secrets
import string
import threading
import time
from dataclasses import dataclass, field

from .faults import Faults

# PHP's default session id: 26 characters, 5 bits each ([0-9a-v]).
_SID_ALPHABET = string.digits + "abcdefghijklmnopqrstuv"
_SESSKEY_ALPHABET = string.ascii_letters + string.digits

LOCKOUT_WINDOW = 1800.0  # Moodle's lockoutwindow default: failures counted over 30 minutes
LOCKOUT_DURATION = 1800.0  # Moodle's lockoutduration default: locked for 30 minutes
UPDATE_FREQUENCY = 20.0  # the server touches a session's timestamp at most this often


def new_sesskey() -> str:
    """10 characters [A-Za-z0-9], like Moodle's random_string(10)."""
    return "".join(secrets.choice(_SESSKEY_ALPHABET) for _ in range(10))


def new_sid() -> str:
    return "".join(secrets.choice(_SID_ALPHABET) for _ in range(26))


@dataclass
class User:
    id: int
    username: str
    password: str = field(repr=False)
    firstname: str
    lastname: str
    email: str
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0


@dataclass
class SessionRecord:
    sid: str
    sesskey: str
    userid: int = 0  # 0: anonymous (not logged in)
    timecreated: float = field(default_factory=time.time)
    timemodified: float = field(default_factory=time.time)
    loginerrormsg: str | None = None
    wantsurl: str | None = None
    called: bool = False  # an ajax.php call was made with it (Faults.end_new_sessions)
    # Totara serialises requests on one session (the session lock).
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)


class SiteState:
    """All mutable state of one site; every method is safe to call from many threads."""

    def __init__(
        self,
        users: dict[str, str],
        session_timeout: float = 7200.0,
        lockout_threshold: int = 20,
        required_actions: dict[str, str] | None = None,
        maintenance: bool = False,
        delay: float = 0.0,
        faults: Faults | None = None,
    ) -> None:
        self.session_timeout = session_timeout
        self.lockout_threshold = lockout_threshold
        # username -> the page a logged-in user is sent to until they act (forced password
        # change, site policy); such a session is no good for ordinary ajax calls.
        self.required_actions = dict(required_actions or {})
        self.maintenance = maintenance  # site-wide 503 on every URL
        self.delay = delay  # seconds every answer waits (a slow site)
        self.faults = faults or Faults()  # the ways a real deployment misbehaves (faults.py)
        self._idp_codes: dict[str, tuple[str, float]] = {}
        # Keep-alive must work with tiny test timeouts too: touch at least 4 times per timeout.
        self.update_frequency = min(UPDATE_FREQUENCY, session_timeout / 4)
        self._lock = threading.Lock()
        self._sessions: dict[str, SessionRecord] = {}
        self.users: dict[str, User] = {}
        for i, (name, password) in enumerate(users.items()):
            self.users[name] = User(
                id=i + 2,  # 1 is the guest user in Totara
                username=name,
                password=password,
                firstname=name.capitalize(),
                lastname="Example",
                email=f"{name}@example.com",
            )

    # -- sessions ------------------------------------------------------------------------------
    def find(self, sid: str | None) -> SessionRecord | None:
        """The live session for a cookie value, touching its timestamp; None if dead or unknown."""
        if not sid:
            return None
        now = time.time()
        with self._lock:
            record = self._sessions.get(sid)
            if record is None:
                return None
            if now - record.timemodified > self.session_timeout:
                del self._sessions[sid]
                return None
            if now - record.timemodified >= self.update_frequency:
                record.timemodified = now
            return record

    def start_anonymous(self) -> SessionRecord:
        record = SessionRecord(sid=new_sid(), sesskey=new_sesskey())
        with self._lock:
            self._sessions[record.sid] = record
        return record

    def log_in(self, old: SessionRecord, user: User) -> SessionRecord:
        """Replace *old* with a new logged-in session (new id, new sesskey), as Moodle does."""
        record = SessionRecord(
            sid=new_sid(), sesskey=new_sesskey(), userid=user.id, wantsurl=old.wantsurl
        )
        with self._lock:
            self._sessions.pop(old.sid, None)
            self._sessions[record.sid] = record
        return record

    def terminate(self, record: SessionRecord) -> None:
        with self._lock:
            self._sessions.pop(record.sid, None)

    def ended_at_first_call(self, record: SessionRecord) -> bool:
        """Faults.end_new_sessions: whether this first ajax.php call of a logged-in session
        ends it (it is then ended here)."""
        with self._lock:
            first, record.called = not record.called, True
            if not (first and record.userid and self.faults.end_new_sessions > 0):
                return False
            self.faults.end_new_sessions -= 1
            self._sessions.pop(record.sid, None)
            return True

    def kill_sessions(self, username: str | None = None) -> int:
        """Test control: end every session (of one user); returns how many ended."""
        with self._lock:
            doomed = [
                sid
                for sid, rec in self._sessions.items()
                if rec.userid and (username is None or self.user_by_id(rec.userid) == username)
            ]
            for sid in doomed:
                del self._sessions[sid]
        return len(doomed)

    def expire_sessions(self, username: str | None = None) -> int:
        """Test control: age sessions past the timeout, as if the user had been idle."""
        count = 0
        with self._lock:
            for rec in self._sessions.values():
                if rec.userid and (username is None or self.user_by_id(rec.userid) == username):
                    rec.timemodified -= self.session_timeout + 1
                    count += 1
        return count

    def user_by_id(self, userid: int) -> str | None:
        for user in self.users.values():
            if user.id == userid:
                return user.username
        return None

    def user_of(self, record: SessionRecord) -> User | None:
        name = self.user_by_id(record.userid) if record.userid else None
        return self.users.get(name) if name else None

    def required_action(self, user: User | None) -> str | None:
        return self.required_actions.get(user.username) if user is not None else None

    # -- the identity provider's one-time codes (see idp.py) -----------------------------------
    def issue_code(self, username: str) -> str:
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._idp_codes[code] = (username, time.time())
        return code

    def redeem_code(self, code: str) -> User | None:
        """The user a code was issued for, once, within a minute; None otherwise."""
        with self._lock:
            found = self._idp_codes.pop(code, None)
        if found is None or time.time() - found[1] > 60:
            return None
        return self.users.get(found[0])

    # -- authentication ------------------------------------------------------------------------
    def authenticate(self, username: str, password: str) -> User | None:
        """Check credentials, counting failures towards the lockout; None on any failure.

        Bad password, unknown user and locked account fail alike, as on a real site.
        """
        now = time.time()
        with self._lock:
            user = self.users.get(username)
            if user is None:
                return None
            if user.locked_until > now:
                return None
            if secrets.compare_digest(user.password.encode(), password.encode()):
                user.failures.clear()
                return user
            user.failures = [t for t in user.failures if now - t < LOCKOUT_WINDOW] + [now]
            if self.lockout_threshold and len(user.failures) >= self.lockout_threshold:
                user.locked_until = now + LOCKOUT_DURATION
                user.failures.clear()
            return None
