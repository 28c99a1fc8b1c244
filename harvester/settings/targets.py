"""Which site and user a command is about (docs/contract.md, "Commands").

`--site` is an alias or a URL (or HARVEST_SITE); without it, the config's default_site, else the
one site where the user has a stored session. `--user` falls back to the site's default_user.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import UsageError
from ..site.wwwroot import Wwwroot
from ..store.session import Session, normalize_username
from ..store.sessions import SessionStore
from .config import Config, SiteProfile, load_config


@dataclass(frozen=True)
class Target:
    """One stored session's address: a site and a user."""

    wwwroot: Wwwroot
    user: str


def resolve_target(
    site: str | SiteProfile,
    user: str,
    store: SessionStore,
    *,
    for_login: bool = False,
    config: Config | None = None,
) -> tuple[SiteProfile, str]:
    """The site profile (*site* itself when it is one) and user a command is about.
    *for_login*: the site must be named (or configured as the default); a stored session cannot
    tell which site to log in to."""
    user = normalize_username(user)
    if isinstance(site, SiteProfile):
        profile, where = site, "the site's profile"
    else:
        config = config or load_config()
        where = str(config.path)
        if site or config.default_site or for_login:
            profile = config.resolve(site)
        elif user:
            profile = config.for_wwwroot(store.site_for(user))
        else:
            raise UsageError("say whose session: --user NAME (and --site URL|ALIAS)")
    user = user or normalize_username(profile.default_user)
    if not user:
        raise UsageError(
            f"no user given: pass --user NAME (or set default_user for {profile.name} in {where})"
        )
    return profile, user


def stored_session(site: str, user: str, store: SessionStore) -> tuple[SiteProfile, Session]:
    """The stored session a command is about (NoSession naming the login to run), its secrets
    registered to be masked in anything printed."""
    from .. import redact

    profile, user = resolve_target(site, user, store)
    session = store.require(profile.wwwroot, user)
    redact.register(session.cookie_value, session.sesskey)
    return profile, session


def site_filter(site: str, config: Config | None = None) -> Wwwroot | None:
    """The wwwroot a listing is limited to by --site, or None for every site."""
    return (config or load_config()).resolve(site).wwwroot if site else None


def refresh_targets(
    store: SessionStore,
    *,
    users: Sequence[str] = (),
    every_session: bool = False,
    site: str = "",
    config: Config | None = None,
) -> list[Target]:
    """The sessions `harvest refresh` works on: every stored one (*every_session*, limited to
    *site* when given), or the named *users* (on *site*, else the one site each has)."""
    wwwroot = site_filter(site, config)
    if every_session:
        found = {
            Target(e.wwwroot, e.user)
            for e in store.entries()
            if not wwwroot or e.wwwroot == wwwroot
        }
        return sorted(found, key=lambda t: (t.wwwroot, t.user))
    if users:
        names = [normalize_username(name) for name in users]
        return [Target(wwwroot or store.site_for(name), name) for name in names]
    raise UsageError("say which sessions: --user NAME (repeatable) or --all")
