"""TotaraAuth for the requests library (an optional dependency: only this module imports it).

    import requests
    from harvester import TotaraAuth
    with requests.Session() as http:
        http.auth = TotaraAuth.from_keyring("https://lms.example.com", "alice").for_requests()
        http.post("https://lms.example.com/totara/webapi/ajax.php", json={...})

Attaching and renewing are TotaraAuth's (auth.py). Redirects: requests carries custom headers
along the redirects it follows, even to another origin; the response hook registered here runs
before requests builds the redirect, and takes the sesskey off the request it is built from
(requests itself drops the Cookie header).
"""

from __future__ import annotations

from typing import Any

import requests
from requests.auth import AuthBase

from .auth import (
    SESSKEY_HEADER,
    TotaraAuth,
    check_names,
    is_ajax_call,
    says_require_login,
)


class TotaraRequestsAuth(AuthBase):
    """An auth object for requests: the session of *auth*, on its site only, renewed by it."""

    def __init__(self, auth: TotaraAuth) -> None:
        self.auth = auth

    @classmethod
    def from_keyring(cls, site: str, user: str = "", **options: Any) -> TotaraRequestsAuth:
        """As TotaraAuth.from_keyring."""
        return cls(TotaraAuth.from_keyring(site, user, **options))

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        url = request.url or ""
        credentials = self.auth.credentials_for(url, request.headers.get("Cookie"))
        if not credentials:
            return request
        request.headers.update(credentials)
        used = self.auth.session
        renewable = is_ajax_call(request.method or "", url, self.auth.wwwroot)
        if renewable and isinstance(request.body, (bytes, str)):
            body = request.body
            check_names(body.encode() if isinstance(body, str) else body)

        def answered(response: requests.Response, **send: Any) -> requests.Response:
            return self._answered(response, used, renewable, send)

        request.register_hook("response", answered)  # type: ignore[no-untyped-call]
        return request

    def _answered(
        self,
        response: requests.Response,
        used: Any,
        renewable: bool,
        send: dict[str, Any],
    ) -> requests.Response:
        sent = response.request
        # This hook is copied into the requests of redirect hops: only ours carry the header.
        if sent.headers.pop(SESSKEY_HEADER, None) is None or not renewable:
            return response

        def ended(answer: requests.Response) -> bool:
            return says_require_login(answer.status_code, answer.content)

        steps = self.auth.renewal_steps(ended, first=used)
        next(steps)  # the first send: already answered
        step_input: Any = response
        while True:
            try:
                kind, session = steps.send(step_input)
            except StopIteration:
                return response
            if kind == "renew":
                step_input = self.auth.renew(session)
                continue
            retry = sent.copy()
            retry.headers.update(
                self.auth.credentials_for(retry.url or "", retry.headers.get("Cookie"))
            )
            response.close()
            again: requests.Response = response.connection.send(retry, **send)
            again.history.append(response)
            again.request = retry
            retry.headers.pop(SESSKEY_HEADER, None)
            response, sent = again, retry
            step_input = response
