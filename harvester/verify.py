"""Prove that a captured session works outside the browser, before anything is stored.

Two checks (totara-protocol.md): `totara_webapi_status` with cookie and sesskey proves the pair
belongs together; a page fetched with the cookie that carries the same `M.cfg.sesskey` and no
`notloggedin` body class proves a user is logged in.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from .errors import LoginFlowError, SiteUnreachable
from .session import Session
from .site import ajax_url

_SESSKEY_RE = re.compile(r'"sesskey":"([^"]+)"')
_BODY_RE = re.compile(r"<body[^>]*\bclass=\"([^\"]*)\"", re.IGNORECASE)


def _same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.netloc) == (pb.scheme, pb.netloc)


def verify_session(session: Session, page_url: str, timeout: float) -> Session:
    """Return *session* marked verified, or raise LoginFlowError / SiteUnreachable."""
    import httpx

    headers = {"Cookie": session.cookie_header}
    # Never follow redirects: the cookie must not travel to another origin.
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as http:
            answer = http.post(
                ajax_url(session.wwwroot),
                headers={**headers, "X-Totara-Sesskey": session.sesskey},
                json={"operationName": "totara_webapi_status", "variables": {}},
            )
            status = _status_of(answer)
            if status != "ok":
                raise LoginFlowError(
                    f"the site does not accept the captured cookie and sesskey ({status}); "
                    "the login page may not be a standard Totara login"
                )
            target = page_url if _same_origin(page_url, session.wwwroot) else session.wwwroot + "/"
            page = http.get(target, headers=headers)
    except httpx.TimeoutException:
        raise SiteUnreachable(
            f"{session.wwwroot} did not answer within {timeout:g} s while verifying"
        ) from None
    except httpx.TransportError as exc:
        raise SiteUnreachable(
            f"cannot reach {session.wwwroot} while verifying: {type(exc).__name__}"
        ) from None
    if page.status_code != 200:
        raise LoginFlowError(
            f"the captured session is not logged in: {target} answered HTTP {page.status_code}"
        )
    found = _SESSKEY_RE.search(page.text)
    body = _BODY_RE.search(page.text)
    if found is None or found.group(1) != session.sesskey:
        raise LoginFlowError(f"the captured sesskey does not match the one {target} carries")
    if body is not None and "notloggedin" in body.group(1).split():
        raise LoginFlowError(f"the captured session is not logged in ({target} says notloggedin)")
    return session.verified()


def _status_of(answer: Any) -> str:
    try:
        payload = answer.json()
    except ValueError:
        return f"HTTP {answer.status_code}, not JSON"
    if isinstance(payload, dict):
        data = payload.get("data") or {}
        status = (data.get("totara_webapi_status") or {}).get("status")
        if status:
            return str(status)
        errors = payload.get("errors") or [{}]
        category = (errors[0].get("extensions") or {}).get("category", "no category")
        return f"{category}: {errors[0].get('message', '')}"
    return f"HTTP {answer.status_code}"
