"""SMART Backend Services against an authorization server the tests run (tests/fault_proxy.py):
the token endpoint verifies each client assertion's signature and claims; the FHIR requests
need its tokens. Keys come from `fhirbridge keys generate`, as an operator makes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from fhirbridge.sync.incremental import ALL_TYPES
from tests.fault_proxy import Client, fault_proxy
from tests.fhir_loading import load_examples
from tests.sync_support import cli, generated, put_all, server_versions, stored_versions

pytestmark = pytest.mark.fhir_server


def _keys(tmp_path: Path, name: str, alg: str) -> tuple[Path, dict[str, object], str]:
    result = cli("keys", "generate", "--alg", alg, "--out", str(tmp_path / name), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    kid = result.stdout.strip().splitlines()[-1].removeprefix("kid: ")
    jwks = json.loads((tmp_path / name / "jwks.json").read_text())
    return tmp_path / name / "private-key.pem", jwks, kid


def _config(tmp_path: Path, url: str, key: Path, extra: str = "") -> Path:
    config = tmp_path / "fhirbridge.toml"
    config.write_text(
        "[[connections]]\n"
        'name = "ehr"\n'
        f'base_url = "{url}"\n'
        'auth = "smart-backend"\n'
        'client_id = "fhirbridge-test"\n'
        f'private_key_file = "{key}"\n'
        "page_size = 5\n" + extra,
        encoding="utf-8",
    )
    return config


@pytest.mark.parametrize("alg", ["ES384", "RS384"])
def test_sync_with_smart_backend_services(fhir_base_url: str, tmp_path: Path, alg: str) -> None:
    put_all(fhir_base_url, generated(patients=4, per_patient=10))
    key, jwks, kid = _keys(tmp_path, "keys", alg)
    assert '"d"' not in (tmp_path / "keys" / "jwks.json").read_text()  # public half only
    assert (key.stat().st_mode & 0o777) == 0o600
    # Tokens live 2 seconds and each request takes 0.15 s more: the run (about 18 requests,
    # 2.7 s) outlasts a token, which is renewed 0.4 s before it expires (never a 401).
    with fault_proxy(
        fhir_base_url,
        smart=True,
        token_lifetime=2,
        latency=0.15,
        clients={"fhirbridge-test": Client(client_id="fhirbridge-test", jwks=jwks)},
    ) as proxy:
        config = _config(tmp_path, proxy.url, key)
        db = f"sqlite:///{tmp_path / 'db.db'}"
        result = cli("-v", "sync", "--config", str(config), "--db", db, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert stored_versions(db) == server_versions(fhir_base_url, ALL_TYPES)

    state = proxy.state
    assert state.token_errors == []
    assert len(state.assertions) >= 2  # renewed during the run
    assert state.rejected_tokens == 0  # always before expiry
    jtis = [a["claims"]["jti"] for a in state.assertions]
    assert len(set(jtis)) == len(jtis)
    token_url = f"{proxy.url}/token"
    for seen in state.assertions:
        header, claims = seen["header"], seen["claims"]
        assert header == {"alg": alg, "kid": kid, "typ": "JWT"}
        assert claims["iss"] == claims["sub"] == "fhirbridge-test"
        assert claims["aud"] == token_url
        assert 0 < claims["exp"] - claims["iat"] <= 300
        # Read scopes for every type pulled, in the v2 syntax by default.
        assert seen["scope"] == " ".join(f"system/{t}.rs" for t in sorted(ALL_TYPES))
    # Tokens never reach the logs (-v logs at INFO).
    assert "Bearer" not in result.stderr
    assert "eyJ" not in result.stderr  # no JWT (assertion or token) either


def test_a_401_mid_run_refreshes_the_token_once(fhir_base_url: str, tmp_path: Path) -> None:
    put_all(fhir_base_url, generated(patients=3, per_patient=3))
    key, jwks, _ = _keys(tmp_path, "keys", "ES384")
    expired: list[str] = []

    def revoke_once(method: str, path: str) -> None:
        if path.startswith("/Observation?") and not expired:
            expired.append(path)
            proxy.state.expire_tokens()  # the server forgets the token (restart, revocation)

    clients = {"fhirbridge-test": Client(client_id="fhirbridge-test", jwks=jwks)}
    with fault_proxy(fhir_base_url, smart=True, clients=clients, before=revoke_once) as proxy:
        config = _config(tmp_path, proxy.url, key)
        db = f"sqlite:///{tmp_path / 'db.db'}"
        result = cli("sync", "--config", str(config), "--db", db, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert proxy.state.rejected_tokens == 1  # one 401 ...
    assert len(proxy.state.assertions) == 2  # ... answered by exactly one new token
    assert stored_versions(db) == server_versions(fhir_base_url, ALL_TYPES)


def test_a_wrong_key_is_rejected_with_a_clear_error_and_exit_code_3(
    fhir_base_url: str, tmp_path: Path
) -> None:
    _, registered, _ = _keys(tmp_path, "registered", "ES384")
    wrong_key, _, _ = _keys(tmp_path, "other", "ES384")
    clients = {"fhirbridge-test": Client(client_id="fhirbridge-test", jwks=registered)}
    with fault_proxy(fhir_base_url, smart=True, clients=clients) as proxy:
        config = _config(tmp_path, proxy.url, wrong_key)
        db = f"sqlite:///{tmp_path / 'db.db'}"
        result = cli("sync", "--config", str(config), "--db", db, cwd=tmp_path)
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # one line, no traceback
    assert lines[0] == (
        f"fhirbridge: error: token endpoint {proxy.url}/token refused client 'fhirbridge-test' "
        "→ 401 (invalid_client: no registered key with this kid); check client_id, the "
        "registered public key (kid) and the scopes"
    )
    assert stored_versions(db) == set()


def test_same_kid_but_another_key_fails_the_signature_check(
    fhir_base_url: str, tmp_path: Path
) -> None:
    _, registered, kid = _keys(tmp_path, "registered", "ES384")
    wrong_key, _, _ = _keys(tmp_path, "other", "ES384")
    clients = {"fhirbridge-test": Client(client_id="fhirbridge-test", jwks=registered)}
    with fault_proxy(fhir_base_url, smart=True, clients=clients) as proxy:
        config = _config(tmp_path, proxy.url, wrong_key, extra=f'kid = "{kid}"\n')
        result = cli("sync", "--config", str(config), "--db", "sqlite://", cwd=tmp_path)
    assert result.returncode == 3
    assert "invalid_client: assertion rejected: InvalidSignatureError" in result.stderr
    assert proxy.state.token_errors == [
        "assertion rejected: InvalidSignatureError: Signature verification failed"
    ]


def test_run_on_a_connection_name_writes_back_with_its_token(
    fhir_base_url: str, tmp_path: Path
) -> None:
    assert load_examples(fhir_base_url) == ["MedicationRequest/ex-mr-27-2"]
    key, jwks, _ = _keys(tmp_path, "keys", "ES384")
    clients = {"fhirbridge-test": Client(client_id="fhirbridge-test", jwks=jwks)}
    with fault_proxy(fhir_base_url, smart=True, clients=clients) as proxy:
        config = _config(tmp_path, proxy.url, key, extra='target = "fhir-full"\n')
        db = f"sqlite:///{tmp_path / 'db.db'}"
        result = cli(
            "run",
            "--source",
            "ehr",
            "--as-of",
            "2026-06-30",
            "--config",
            str(config),
            "--db",
            db,
            "--out",
            str(tmp_path / "out"),
            cwd=tmp_path,
        )
    assert result.returncode == 0, result.stderr
    writes = [(m, p) for m, p in proxy.state.requests if m in ("POST", "PUT")]
    assert writes  # the write-back went through the proxy ...
    assert proxy.state.rejected_tokens == 0  # ... every request with a valid token
    report = json.loads((tmp_path / "out" / "run-report.json").read_text())
    assert report["write_errors"] == []
    issues = requests.get(f"{fhir_base_url}/DetectedIssue?_count=1000", timeout=30).json()
    assert issues["total"] == sum(report["findings"].values())
