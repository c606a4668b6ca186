"""Scopes in both SMART syntaxes, keys and their JWKS, connection settings, cursor instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from fhirbridge.errors import ConfigError
from fhirbridge.settings import Connection, Settings, load_settings
from fhirbridge.sync import scopes
from fhirbridge.sync.connections import configured_jwks, resolve
from fhirbridge.sync.incremental import _format, _parse
from fhirbridge.sync.keys import load_signing_key, public_jwks, thumbprint, write_key_pair

# ---- scopes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("v2", "system/Observation.rs system/Patient.rs"),
        ("v1", "system/Observation.read system/Patient.read"),
    ],
)
def test_requested_scopes(style: str, expected: str) -> None:
    assert scopes.requested(["Patient", "Observation", "Patient"], style) == expected


@pytest.mark.parametrize(
    ("granted", "missing"),
    [
        ("system/*.read", []),
        ("system/*.rs", []),
        ("system/Patient.read system/Observation.read", ["MedicationRequest"]),
        ("system/Patient.rs system/Observation.cruds", ["MedicationRequest"]),
        ("system/Patient.s system/Observation.rs", ["MedicationRequest", "Patient"]),  # no r
        ("system/Patient.write", ["MedicationRequest", "Observation", "Patient"]),
        ("launch openid fhirUser", ["MedicationRequest", "Observation", "Patient"]),
        ("system/Patient.sr system/Observation.rs", ["MedicationRequest", "Patient"]),  # bad order
    ],
)
def test_not_granted_reads_both_syntaxes(granted: str, missing: list[str]) -> None:
    assert scopes.not_granted(["Patient", "Observation", "MedicationRequest"], granted) == missing


def test_granular_scopes_are_partial() -> None:
    granted = (
        "system/Observation.rs?category=http://terminology.hl7.org/CodeSystem/"
        "observation-category|laboratory system/Patient.rs"
    )
    assert scopes.not_granted(["Observation", "Patient"], granted) == []
    assert scopes.partial(["Observation", "Patient"], granted) == ["Observation"]


# ---- keys -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("alg", "kty"), [("ES384", "EC"), ("RS384", "RSA")])
def test_key_pair_files_and_jwks(tmp_path: Path, alg: str, kty: str) -> None:
    private, jwks_path, kid = write_key_pair(tmp_path, alg)
    assert private.stat().st_mode & 0o777 == 0o600
    key = load_signing_key(str(private))
    assert (key.alg, key.kid) == (alg, kid)
    assert kid == thumbprint(key.key)
    jwks = public_jwks([key, key])  # the same key twice is published once
    assert len(jwks["keys"]) == 1
    jwk = jwks["keys"][0]
    assert (jwk["kty"], jwk["kid"], jwk["alg"], jwk["use"]) == (kty, kid, alg, "sig")
    private_members = {"d", "p", "q", "dp", "dq", "qi"}
    assert private_members.isdisjoint(jwk)
    assert jwks_path.read_bytes().strip().startswith(b"{")
    with pytest.raises(FileExistsError):
        write_key_pair(tmp_path, alg)  # never overwritten


def test_a_key_that_does_not_fit_the_algorithm_is_a_config_error(tmp_path: Path) -> None:
    private, _, _ = write_key_pair(tmp_path, "ES384")
    with pytest.raises(ConfigError, match="RS384 does not fit"):
        load_signing_key(str(private), alg="RS384")
    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(ConfigError, match="not an unencrypted PEM private key"):
        load_signing_key(str(tmp_path / "junk.pem"))


def test_configured_jwks_publishes_each_smart_connection_key(tmp_path: Path) -> None:
    a, _, kid_a = write_key_pair(tmp_path / "a", "ES384")
    b, _, kid_b = write_key_pair(tmp_path / "b", "RS384")
    settings = Settings(
        connections=(
            Connection(
                name="x",
                base_url="https://x",
                auth="smart-backend",
                client_id="c",
                private_key_file=str(a),
            ),
            Connection(
                name="y",
                base_url="https://y",
                auth="smart-backend",
                client_id="c",
                private_key_file=str(b),
            ),
            Connection(name="z", base_url="https://z"),
        )
    )
    assert [k["kid"] for k in configured_jwks(settings)["keys"]] == sorted([kid_a, kid_b])


# ---- connection settings --------------------------------------------------------------------


def _load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Settings:
    path = tmp_path / "fhirbridge.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, environ or {})


def test_smart_backend_needs_a_client_id(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        _load(
            tmp_path,
            '[[connections]]\nname = "a"\nbase_url = "https://a"\nauth = "smart-backend"\n',
        )
    assert str(info.value) == (
        f"{tmp_path / 'fhirbridge.toml'}: connections/0: auth = smart-backend needs client_id"
    )


def test_smart_backend_needs_a_key_from_a_file_or_the_environment(tmp_path: Path) -> None:
    text = (
        '[[connections]]\nname = "epic-prod"\nbase_url = "https://a"\n'
        'auth = "smart-backend"\nclient_id = "c"\n'
    )
    with pytest.raises(
        ConfigError,
        match=r"needs private_key_file \(or "
        r"FHIRBRIDGE_CONNECTIONS_EPIC_PROD_PRIVATE_KEY\)",
    ):
        _load(tmp_path, text)
    settings = _load(tmp_path, text, {"FHIRBRIDGE_CONNECTIONS_EPIC_PROD_PRIVATE_KEY": "PEM"})
    connection = settings.connections[0]
    assert connection.private_key_pem == "PEM"
    assert "PEM" not in repr(connection)  # a secret never shows in a repr (or a log)


def test_environment_overrides_a_connection_key(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        '[[connections]]\nname = "a"\nbase_url = "https://a"\ngroup = "cohort"\n',
        {"FHIRBRIDGE_CONNECTIONS_A_CLIENT_ID": "from-env"},
    )
    assert settings.connections[0].client_id == "from-env"
    assert settings.connections[0].group == "Group/cohort"
    assert settings.connections[0].overlap_seconds == 300


def test_duplicate_names_and_group_with_patients_are_refused(tmp_path: Path) -> None:
    two = '[[connections]]\nname = "a"\nbase_url = "https://a"\n' * 2
    with pytest.raises(ConfigError, match="connections/1/name: duplicate connection 'a'"):
        _load(tmp_path, two)
    with pytest.raises(ConfigError, match="give group or patients, not both"):
        _load(
            tmp_path,
            '[[connections]]\nname = "a"\nbase_url = "https://a"\ngroup = "g"\npatients = ["1"]\n',
        )


def test_resolve_a_source() -> None:
    a = Connection(name="north", base_url="https://north.example/r4")
    b = Connection(name="south", base_url="https://south.example/r4")
    assert resolve((a, b), None) == [a, b]
    assert resolve((), None) is None  # the example data
    assert resolve((a, b), "south") == [b]
    assert resolve((a, b), "https://north.example/r4/?x=1") == [a]  # its auth is used
    adhoc = resolve((a, b), "https://other.example/fhir")
    assert adhoc == [
        Connection(name="https://other.example/fhir", base_url="https://other.example/fhir")
    ]
    assert resolve((a, b), "./export") is None  # a path


# ---- cursor instants ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "cursor"),
    [
        ("2026-03-01T10:00:00Z", "2026-03-01T10:00:00.000Z"),
        ("2026-03-01T10:00:00.123456+00:00", "2026-03-01T10:00:00.123Z"),  # floored
        ("2026-03-01T05:00:00.5-05:00", "2026-03-01T10:00:00.500Z"),  # to UTC
    ],
)
def test_cursor_format_is_utc_milliseconds_floored(instant: str, cursor: str) -> None:
    parsed = _parse(instant)
    assert parsed is not None
    assert _format(parsed) == cursor


def test_unparseable_instants_are_none() -> None:
    assert _parse("yesterday") is None
    assert _parse(None) is None
    assert _parse("2026-03-01") == datetime(2026, 3, 1, tzinfo=UTC)
    assert _format(datetime(2026, 3, 1, 1, tzinfo=timezone(timedelta(hours=1)))) == (
        "2026-03-01T00:00:00.000Z"
    )
