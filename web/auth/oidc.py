"""Signing in through the council's identity provider: OpenID Connect's
authorization code flow with PKCE, state and nonce (issue 15 item 1, PLAT-9).

Authlib does the protocol: it reads the provider's discovery document, makes
the authorization URL (a PKCE S256 challenge, a random state and nonce),
exchanges the code with the verifier, and checks the ID token (signature
against the provider's published keys, issuer, audience, expiry, nonce).
qaf checks nothing in a token by hand. What the token says is then matched
to a member of staff by ``core.services.identity``.
"""

from __future__ import annotations

import logging

from litestar import Controller, Request, get
from litestar.exceptions import NotFoundException
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from core.services import accounts, identity
from core.settings import Settings
from web.auth.signing import start_session
from web.context import request_context
from web.rendering import local_path, page
from web.state import qaf_state

log = logging.getLogger("qaf.sign_in")

# The sign-in under way, kept in the (not yet signed-in) session.
PENDING_OIDC = "oidc"
SCOPE = "openid email profile"


_providers: dict[tuple[str, str, str], object] = {}


def _provider_class():
    """Authlib's OpenID client, loaded only where OpenID Connect is set up
    (it takes a while to import, and says its httpx support is deprecated
    in favour of httpx2, which is not yet a release qaf can depend on)."""
    import warnings

    with warnings.catch_warnings():
        import authlib.deprecate  # noqa: F401  (it sets its own warnings to "always": ignored here after it)

        warnings.simplefilter("ignore", DeprecationWarning)
        from authlib.integrations.base_client import BaseApp
        from authlib.integrations.base_client.async_app import AsyncOAuth2Mixin
        from authlib.integrations.base_client.async_openid import AsyncOpenIDMixin
        from authlib.integrations.httpx_client import AsyncOAuth2Client

    class Provider(AsyncOAuth2Mixin, AsyncOpenIDMixin, BaseApp):
        client_cls = AsyncOAuth2Client

    return Provider


def _refusals() -> tuple[type[Exception], ...]:
    from authlib.integrations.base_client import OAuthError
    from joserfc.errors import JoseError

    import httpx

    return (OAuthError, JoseError, httpx.HTTPError, ValueError, KeyError)


def provider(settings: Settings):
    """One client per provider and app, which keeps the discovery document and keys it has read."""
    key = (settings.oidc_issuer, settings.oidc_client_id, settings.oidc_client_secret)
    if key not in _providers:
        _providers[key] = _provider_class()(
            framework=None,
            name="oidc",
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret or None,
            server_metadata_url=f"{settings.oidc_issuer}/.well-known/openid-configuration",
            client_kwargs={"scope": SCOPE, "code_challenge_method": "S256", "timeout": 10},
        )
    return _providers[key]


def redirect_uri(settings: Settings) -> str:
    return settings.base_url.rstrip("/") + "/login/oidc/callback"


async def provider_sign_out_url(settings: Settings, id_token: str | None) -> str | None:
    """The provider's own sign-out (RP-initiated logout), if it has one."""
    if not settings.oidc_enabled:
        return None
    try:
        result = await provider(settings).create_logout_url(
            post_logout_redirect_uri=settings.base_url.rstrip("/") + "/login", id_token_hint=id_token
        )
    except Exception:  # no end-session endpoint, or the provider unreachable: no button
        return None
    return result["url"]


class OidcController(Controller):
    path = "/login/oidc"
    include_in_schema = False

    @get("")
    async def start(self, request: Request, next: FromQuery[str | None] = None) -> Redirect | Template:
        settings = qaf_state(request.app.state).settings
        if not settings.oidc_enabled:
            raise NotFoundException()
        try:
            found = await provider(settings).create_authorization_url(redirect_uri(settings))
        except Exception:  # unreachable, or no usable discovery document
            log.warning("sign-in: the identity provider could not be reached")
            return await _refused(request, f"qaf could not reach {settings.oidc_provider_name}. Try again in a few minutes.", 502)
        session = request.session if isinstance(request.scope.get("session"), dict) else {}
        request.set_session(
            {
                **session,
                PENDING_OIDC: {
                    "state": found["state"],
                    "nonce": found["nonce"],
                    "code_verifier": found["code_verifier"],
                    "next": local_path(next, "/"),
                },
            }
        )
        return Redirect(found["url"], status_code=303)

    @get("/callback")
    async def callback(
        self,
        request: Request,
        code: FromQuery[str | None] = None,
        error: FromQuery[str | None] = None,
    ) -> Redirect | Template:
        settings = qaf_state(request.app.state).settings
        if not settings.oidc_enabled:
            raise NotFoundException()
        # "state" is a name Litestar keeps for the app's state: read it as given.
        returned_state = request.query_params.get("state")
        session = request.session if isinstance(request.scope.get("session"), dict) else {}
        pending = session.get(PENDING_OIDC)
        # Used once, whatever happens next.
        request.set_session({k: v for k, v in session.items() if k != PENDING_OIDC})
        name = settings.oidc_provider_name
        if error:
            return await _refused(request, f"{name} did not sign you in. Try again, or ask {settings.sign_in_contact}.", 400)
        if not isinstance(pending, dict) or not returned_state or returned_state != pending.get("state") or not code:
            return await _refused(request, "This sign-in link has already been used or has run out. Start signing in again.", 400)
        client = provider(settings)
        try:
            token = await client.fetch_access_token(
                redirect_uri=redirect_uri(settings), code=code, code_verifier=pending["code_verifier"]
            )
            claims = await client.parse_id_token(token, nonce=pending["nonce"])
        except _refusals() as exc:
            # No token or claim in the log: only what kind of failure it was.
            log.warning("sign-in: the identity provider's answer was refused (%s)", type(exc).__name__)
            return await _refused(request, f"qaf could not confirm your sign-in with {name}. Start signing in again.", 400)
        if not claims:
            return await _refused(request, f"qaf could not confirm your sign-in with {name}. Start signing in again.", 400)
        ctx = request_context(request)
        try:
            matched = await identity.match(
                ctx, dict(claims), role_map=settings.oidc_roles, contact=settings.sign_in_contact, provider=name
            )
        except identity.Refused as refusal:
            log.info("sign-in: refused an account qaf could not match")
            return await _refused(request, refusal.message, 403)
        await accounts.signed_in(ctx, matched.person_id, how="oidc")
        response = Redirect(local_path(pending.get("next"), "/"), status_code=303)
        start_session(request, response, person_id=matched.person_id, role=matched.role, via="oidc", id_token=token.get("id_token"))
        return response


async def _refused(request: Request, message: str, status_code: int) -> Template:
    settings = qaf_state(request.app.state).settings
    return await page(
        request, "auth/refused.html", title="You cannot sign in", message=message, status_code=status_code,
        provider_name=settings.oidc_provider_name,
    )
