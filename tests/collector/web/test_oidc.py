"""Sign-in with an OpenID Connect provider (Entra ID shape), the provider played over httpx."""

import base64
import hashlib
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from fastapi.testclient import TestClient

from collector.store import SqlStore
from collector.web.app import create_app
from tests.collector.web.conftest import add_user

# Optional sign-in packages (pyproject); skip, not crash, on a venv without them.
httpx = pytest.importorskip("httpx")
pytest.importorskip("authlib")
jwt = pytest.importorskip("joserfc.jwt")
RSAKey = pytest.importorskip("joserfc.jwk").RSAKey
OidcConfig = pytest.importorskip("collector.web.auth.oidc").OidcConfig

ISSUER = "https://login.example/tenant/v2.0"
CLIENT_ID = "lantern-console"


class Provider:
    """Discovery, keys and a token endpoint that checks PKCE and signs ID tokens."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
        self.codes: dict[str, dict[str, Any]] = {}
        self.issuer = ISSUER

    def authorize(self, url: str, email: str, amr: list[str] | None = None) -> tuple[str, str]:
        """What the provider does after the person signs in: a code for this request."""
        q = {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}
        assert q["client_id"] == CLIENT_ID and q["code_challenge_method"] == "S256"
        code = uuid.uuid4().hex
        self.codes[code] = {
            "nonce": q["nonce"],
            "challenge": q["code_challenge"],
            "email": email,
            "amr": amr or ["pwd"],
        }
        return code, q["state"]

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(
                200,
                json={
                    "issuer": self.issuer,
                    "authorization_endpoint": "https://login.example/authorize",
                    "token_endpoint": "https://login.example/token",
                    "jwks_uri": "https://login.example/keys",
                },
            )
        if path == "/keys":
            return httpx.Response(200, json={"keys": [self.key.as_dict(private=False)]})
        if path == "/token":
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            grant = self.codes.pop(form.get("code", ""), None)
            if grant is None:
                return httpx.Response(400, json={"error": "invalid_grant"})
            digest = hashlib.sha256(form["code_verifier"].encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
                return httpx.Response(400, json={"error": "invalid_grant"})
            now = int(time.time())
            claims = {
                "iss": ISSUER,
                "aud": CLIENT_ID,
                "sub": "oid-1",
                "iat": now,
                "exp": now + 300,
                "nonce": grant["nonce"],
                "preferred_username": grant["email"],
                "amr": grant["amr"],
            }
            token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.key)
            return httpx.Response(
                200, json={"access_token": "x", "token_type": "Bearer", "id_token": token}
            )
        return httpx.Response(404)


@pytest.fixture
def provider() -> Provider:
    return Provider()


@pytest.fixture
def oidc_app(store: SqlStore, provider: Provider) -> Any:
    config = OidcConfig(ISSUER, CLIENT_ID, "secret", transport=httpx.MockTransport(provider.handle))
    return create_app(store, oidc=config)


def _start(client: TestClient) -> str:
    response = client.get("/login/oidc", follow_redirects=False)
    assert response.status_code == 303
    return str(response.headers["location"])


def test_trustee_signs_in_with_the_provider(
    oidc_app: Any, store: SqlStore, provider: Provider
) -> None:
    email = add_user(store, "trustee")
    client = TestClient(oidc_app)
    assert "Sign in with Microsoft 365" in client.get("/login").text
    code, state = provider.authorize(_start(client), email.upper())
    done = client.get(f"/login/oidc/callback?code={code}&state={state}", follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/coverage"
    assert client.get("/coverage").status_code == 200


def test_dsl_needs_totp_unless_the_provider_did_mfa(
    oidc_app: Any, store: SqlStore, provider: Provider
) -> None:
    email = add_user(store, "dsl")
    client = TestClient(oidc_app)
    code, state = provider.authorize(_start(client), email)
    done = client.get(f"/login/oidc/callback?code={code}&state={state}", follow_redirects=False)
    assert done.headers["location"] == "/login/totp"
    assert client.get("/alerts", follow_redirects=False).status_code in (303, 401)
    other = TestClient(oidc_app)
    code, state = provider.authorize(_start(other), email, amr=["pwd", "mfa"])
    done = other.get(f"/login/oidc/callback?code={code}&state={state}", follow_redirects=False)
    assert done.headers["location"] == "/alerts"


def test_state_from_another_browser_is_refused(
    oidc_app: Any, store: SqlStore, provider: Provider
) -> None:
    email = add_user(store, "trustee")
    victim, attacker = TestClient(oidc_app), TestClient(oidc_app)
    code, state = provider.authorize(_start(attacker), email)
    _start(victim)
    response = victim.get(f"/login/oidc/callback?code={code}&state={state}", follow_redirects=False)
    assert response.status_code == 401 and "lantern_session" not in victim.cookies


def test_an_id_token_signed_by_another_key_is_refused(
    oidc_app: Any, store: SqlStore, provider: Provider
) -> None:
    email = add_user(store, "trustee")
    client = TestClient(oidc_app)
    code, state = provider.authorize(_start(client), email)
    original = provider.handle

    def forged(request: httpx.Request) -> httpx.Response:
        response = original(request)
        if request.url.path == "/token" and response.status_code == 200:
            other = RSAKey.generate_key(2048, parameters={"kid": "k1"})
            body = response.json()
            claims = jwt.decode(body["id_token"], provider.key).claims
            body["id_token"] = jwt.encode(
                {"alg": "RS256", "kid": "k1"}, claims, other
            )  # not the provider's key
            return httpx.Response(200, json=body)
        return response

    provider.handle = forged  # type: ignore[method-assign]
    oidc_app.state.oidc.config = OidcConfig(
        ISSUER, CLIENT_ID, "secret", transport=httpx.MockTransport(forged)
    )
    response = client.get(f"/login/oidc/callback?code={code}&state={state}", follow_redirects=False)
    assert response.status_code == 401 and "not valid" in response.text


def test_someone_without_a_lantern_account_is_refused(oidc_app: Any, provider: Provider) -> None:
    client = TestClient(oidc_app)
    code, state = provider.authorize(_start(client), "stranger@college.example")
    response = client.get(f"/login/oidc/callback?code={code}&state={state}", follow_redirects=False)
    assert response.status_code == 403 and "no Lantern access" in response.text


def test_without_a_provider_the_routes_are_not_there(app: Any) -> None:
    assert TestClient(app).get("/login/oidc", follow_redirects=False).status_code == 404
    assert "Sign in with" not in TestClient(app).get("/login").text
