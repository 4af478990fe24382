"""A real OpenID provider on loopback for the sign-in tests (issue 15).

``oidc-provider-mock`` (PyPI) is a real OpenID Connect provider built on
Authlib's server: discovery, a signing key published as JWKS, the
authorization endpoint (a form where the test says who signs in), the token
endpoint issuing RS256-signed ID tokens with the nonce, and RP-initiated
sign-out. It runs here in a thread on a free loopback port.

``Provider.tamper`` puts a man in the middle of the token endpoint: the ID
token's payload is rewritten to name someone else (its signature then no
longer matches), as an attacker who could alter the answer would.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest
import werkzeug.serving

# The provider (Authlib's server) refuses plain http unless told it is a test.
os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Provider:
    def __init__(self, access_token_max_age: timedelta = timedelta(hours=1)):
        from oidc_provider_mock import app

        self._app = app(require_nonce=True, access_token_max_age=access_token_max_age)
        self.tamper_email: str | None = None
        self._server = werkzeug.serving.make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "Provider":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(2)

    def _wsgi(self, environ, start_response):
        if not (self.tamper_email and environ.get("PATH_INFO") == "/oauth2/token"):
            return self._app(environ, start_response)
        answer: dict = {}

        def capture(status, headers, exc_info=None):
            answer["status"], answer["headers"] = status, headers
            return lambda chunk: None

        body = json.loads(b"".join(self._app(environ, capture)))
        header, payload, signature = body["id_token"].split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["email"] = self.tamper_email
        body["id_token"] = ".".join([header, _b64(json.dumps(claims).encode()), signature])
        data = json.dumps(body).encode()
        headers = [(k, v) for k, v in answer["headers"] if k.lower() != "content-length"] + [("Content-Length", str(len(data)))]
        start_response(answer["status"], headers)
        return [data]

    def set_user(self, sub: str, claims: dict) -> None:
        """What the provider says about ``sub`` in its tokens from now on."""
        response = httpx.put(f"{self.url}/users/{sub}", json=claims)
        assert response.status_code == 204, response.text

    def approve(self, authorize_url: str, sub: str) -> str:
        """Sign in at the provider as ``sub`` (its authorization form); the
        path and query the provider sends the browser back to."""
        response = httpx.post(authorize_url, data={"sub": sub}, follow_redirects=False)
        assert response.status_code == 302, response.text
        back = urlsplit(response.headers["location"])
        return f"{back.path}?{back.query}"


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[Provider]:
    with Provider() as provider:
        yield provider


@pytest.fixture(scope="session")
def oidc_provider_expired() -> Iterator[Provider]:
    """A provider whose ID tokens expired an hour before they were issued."""
    with Provider(access_token_max_age=timedelta(hours=-1)) as provider:
        yield provider
