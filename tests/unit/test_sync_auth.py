"""SmartBackendAuth against a `responses` fake token endpoint: assertion claims, discovery,
renewal before expiry (a fake clock), refusals as one clear error, tokens never in messages."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from urllib.parse import parse_qs

import jwt
import pytest
import requests
import responses

from fhirbridge.errors import FhirAuthError, FhirTransientError
from fhirbridge.sync.auth import ASSERTION_TYPE, SmartBackendAuth
from fhirbridge.sync.keys import SigningKey, generate, thumbprint

BASE = "https://ehr.example/fhir/r4"
TOKEN = "https://auth.example/oauth2/token"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture(params=["ES384", "RS384"])
def key(request: pytest.FixtureRequest) -> SigningKey:
    private = generate(request.param)
    return SigningKey(key=private, alg=request.param, kid=thumbprint(private))


def _auth(key: SigningKey, clock: Clock, token_url: str | None = TOKEN) -> SmartBackendAuth:
    return SmartBackendAuth(
        base_url=BASE,
        client_id="client-1",
        key=key,
        scopes="system/Observation.rs",
        token_url=token_url,
        clock=clock,
        sleep=lambda _s: None,
    )


def _granted(token: str, expires_in: int = 300) -> dict[str, object]:
    return {"access_token": token, "token_type": "Bearer", "expires_in": expires_in}


def _form(call: responses.Call) -> dict[str, str]:
    body = call.request.body
    text = body.decode() if isinstance(body, bytes) else str(body)
    return {k: v[0] for k, v in parse_qs(text).items()}


def test_assertion_claims_and_signature(fake: responses.RequestsMock, key: SigningKey) -> None:
    clock = Clock()
    fake.post(TOKEN, json=_granted("t1"))
    auth = _auth(key, clock)
    assert auth.token() == "t1"
    form = _form(fake.calls[0])
    assert form["grant_type"] == "client_credentials"
    assert form["scope"] == "system/Observation.rs"
    assert form["client_assertion_type"] == ASSERTION_TYPE
    assertion = form["client_assertion"]
    assert jwt.get_unverified_header(assertion) == {"alg": key.alg, "kid": key.kid, "typ": "JWT"}
    claims = jwt.decode(
        assertion,
        key.key.public_key(),
        algorithms=[key.alg],
        audience=TOKEN,
        options={"verify_exp": False, "verify_iat": False},
    )
    # exp 240 s after iat (1,800,000,000): within SMART's five minutes.
    assert claims == {
        "iss": "client-1",
        "sub": "client-1",
        "aud": TOKEN,
        "iat": 1_800_000_000,
        "exp": 1_800_000_240,
        "jti": claims["jti"],
    }
    assert len(claims["jti"]) == 32


def test_each_assertion_has_a_new_jti(fake: responses.RequestsMock, key: SigningKey) -> None:
    auth = _auth(key, Clock())
    jtis = {jwt.decode(auth.assertion(), options={"verify_signature": False})["jti"] for _ in "abc"}
    assert len(jtis) == 3


def test_token_is_cached_then_renewed_before_expiry(
    fake: responses.RequestsMock, key: SigningKey
) -> None:
    clock = Clock()
    fake.post(TOKEN, json=_granted("t1", 300))
    auth = _auth(key, clock)
    assert auth.token() == "t1"
    # Renewal margin: min(60 s, 20% of 300 s) = 60 s. At 239 s the token is still used ...
    clock.now += 239
    assert auth.token() == "t1"
    assert len(fake.calls) == 1
    # ... at 240 s (60 s before expiry) a new one is fetched.
    fake.replace(responses.POST, TOKEN, json=_granted("t2", 300))
    clock.now += 1
    assert auth.token() == "t2"
    assert auth.tokens_fetched == 2


def test_refresh_replaces_the_token_at_once(fake: responses.RequestsMock, key: SigningKey) -> None:
    fake.post(TOKEN, json=_granted("t1"))
    auth = _auth(key, Clock())
    request = requests.Request("GET", f"{BASE}/Patient").prepare()
    assert auth(request).headers["Authorization"] == "Bearer t1"
    fake.replace(responses.POST, TOKEN, json=_granted("t2"))
    auth.refresh()
    assert auth(request).headers["Authorization"] == "Bearer t2"


def test_discovery_finds_the_token_endpoint(fake: responses.RequestsMock, key: SigningKey) -> None:
    fake.get(
        f"{BASE}/.well-known/smart-configuration",
        json={
            "token_endpoint": TOKEN,
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["ES384", "RS384"],
        },
    )
    fake.post(TOKEN, json=_granted("t1"))
    auth = _auth(key, Clock(), token_url=None)
    assert auth.token() == "t1"
    assert auth.token_url == TOKEN


def test_discovery_refuses_a_server_without_our_algorithm(
    fake: responses.RequestsMock, key: SigningKey
) -> None:
    fake.get(
        f"{BASE}/.well-known/smart-configuration",
        json={"token_endpoint": TOKEN, "token_endpoint_auth_signing_alg_values_supported": ["X"]},
    )
    with pytest.raises(FhirAuthError, match=f"does not accept {key.alg} assertions"):
        _auth(key, Clock(), token_url=None).token()


def test_no_smart_configuration_names_the_setting_to_use(
    fake: responses.RequestsMock, key: SigningKey
) -> None:
    fake.get(f"{BASE}/.well-known/smart-configuration", status=404)
    with pytest.raises(FhirAuthError, match="no token_endpoint; set token_url"):
        _auth(key, Clock(), token_url=None).token()


def test_a_refusal_is_one_clear_error_without_secrets(
    fake: responses.RequestsMock, key: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    fake.post(
        TOKEN,
        status=400,
        json={"error": "invalid_client", "error_description": "unknown kid"},
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(FhirAuthError) as info:
        _auth(key, Clock()).token()
    assert str(info.value) == (
        "token endpoint https://auth.example/oauth2/token refused client 'client-1' → 400 "
        "(invalid_client: unknown kid); check client_id, the registered public key (kid) and "
        "the scopes"
    )
    assert "eyJ" not in caplog.text  # no assertion in the logs


def test_token_endpoint_outage_is_retried_then_transient(
    fake: responses.RequestsMock, key: SigningKey
) -> None:
    fake.post(TOKEN, status=503)
    with pytest.raises(FhirTransientError, match=r"token endpoint .* → 503"):
        _auth(key, Clock()).token()
    assert len(fake.calls) == 4  # 1 + max_retries (3)


def test_plain_http_token_endpoint_is_refused_off_this_machine(key: SigningKey) -> None:
    auth = _auth(key, Clock(), token_url="http://auth.example/token")
    with pytest.raises(FhirAuthError, match="is not https; refusing to send"):
        auth.token()


def test_repr_never_shows_the_token(fake: responses.RequestsMock, key: SigningKey) -> None:
    fake.post(TOKEN, json=_granted("secret-token-value"))
    auth = _auth(key, Clock())
    auth.token()
    assert "secret-token-value" not in repr(auth)
