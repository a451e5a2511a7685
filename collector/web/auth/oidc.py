"""Sign-in with Microsoft Entra ID or any OpenID Connect provider (optional), with Authlib.

Authorization code flow with PKCE, `state` and `nonce`; the ID token's signature is checked
against the provider's published keys (joserfc, Authlib's JOSE library) and its issuer,
audience, expiry and nonce are validated. The person must already be a console user (IT adds
them with a role): the provider proves who they are, Lantern decides what they may see.

A dsl or it_admin signing in this way still needs a second factor: either the provider says it
did one (`amr` contains "mfa", as Entra ID does under conditional access) or Lantern's own TOTP
step follows.
"""

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

STATE_COOKIE = "lantern_oidc"
# How long a sign-in may take at the provider before the state is refused.
STATE_TTL_S = 600
# Provider metadata and keys are re-read after this long (keys rotate).
METADATA_TTL_S = 3600


@dataclass(frozen=True, slots=True)
class OidcConfig:
    """Where the provider is and who we are to it (from settings)."""

    issuer: str  # e.g. https://login.microsoftonline.com/<tenant-id>/v2.0
    client_id: str
    client_secret: str
    label: str = "Microsoft 365"
    scopes: str = "openid email profile"
    # Claims tried in order for the user's email (Entra ID: email, preferred_username, upn).
    email_claims: tuple[str, ...] = ("email", "preferred_username", "upn")
    # Tests hand in an httpx transport that plays the provider.
    transport: httpx.BaseTransport | None = field(default=None, compare=False)


class OidcError(Exception):
    """Sign-in with the provider failed; the message is safe to show."""


@dataclass(frozen=True, slots=True)
class OidcIdentity:
    email: str
    subject: str
    mfa: bool


class OidcClient:
    def __init__(self, config: OidcConfig) -> None:
        self.config = config
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._fetched = 0.0

    def _http(self) -> httpx.Client:
        return httpx.Client(transport=self.config.transport, timeout=10)

    def _oauth(self, redirect_uri: str) -> OAuth2Client:
        return OAuth2Client(
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
            scope=self.config.scopes,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            transport=self.config.transport,
            timeout=10,
        )

    def metadata(self) -> dict[str, Any]:
        if self._metadata is None or time.monotonic() - self._fetched > METADATA_TTL_S:
            url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
            try:
                with self._http() as http:
                    meta = http.get(url).raise_for_status().json()
                    keys = http.get(meta["jwks_uri"]).raise_for_status().json()
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                raise OidcError("the sign-in provider cannot be reached") from exc
            self._metadata, self._keys = meta, KeySet.import_key_set(keys)
            self._fetched = time.monotonic()
        return self._metadata

    def start(self, redirect_uri: str) -> tuple[str, str]:
        """The provider's URL to send the browser to, and the state cookie value to set."""
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)
        url, _ = self._oauth(redirect_uri).create_authorization_url(
            self.metadata()["authorization_endpoint"],
            state=state,
            code_verifier=verifier,
            nonce=nonce,
        )
        cookie = json.dumps(
            {"state": state, "nonce": nonce, "verifier": verifier, "at": int(time.time())}
        )
        return url, cookie

    def finish(self, redirect_uri: str, cookie: str, state: str, code: str) -> OidcIdentity:
        """Check state, exchange the code, validate the ID token, return who signed in."""
        try:
            saved = json.loads(cookie)
        except ValueError:
            raise OidcError("the sign-in expired; please start again") from None
        if not isinstance(saved, dict) or not secrets.compare_digest(
            str(saved.get("state", "")), state
        ):
            raise OidcError("the sign-in response does not match this browser; start again")
        if time.time() - int(saved.get("at", 0)) > STATE_TTL_S:
            raise OidcError("the sign-in took too long; please start again")
        meta = self.metadata()
        try:
            token = self._oauth(redirect_uri).fetch_token(
                meta["token_endpoint"],
                code=code,
                code_verifier=saved["verifier"],
                grant_type="authorization_code",
            )
        except Exception as exc:  # Authlib raises its own and httpx's errors
            raise OidcError("the sign-in provider refused the sign-in") from exc
        id_token = token.get("id_token")
        if not id_token:
            raise OidcError("the sign-in provider sent no ID token")
        try:
            decoded = jwt.decode(id_token, self._keys, algorithms=["RS256", "ES256"])  # type: ignore[arg-type]
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": meta.get("issuer", self.config.issuer)},
                aud={"essential": True, "value": self.config.client_id},
                nonce={"essential": True, "value": saved["nonce"]},
                exp={"essential": True},
                sub={"essential": True},
            ).validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise OidcError("the sign-in token is not valid") from exc
        claims = decoded.claims
        email = next(
            (str(claims[c]).lower() for c in self.config.email_claims if claims.get(c)), ""
        )
        if not email:
            raise OidcError("the sign-in provider did not say which email this is")
        amr = claims.get("amr") or []
        return OidcIdentity(email=email, subject=str(claims["sub"]), mfa="mfa" in amr)
