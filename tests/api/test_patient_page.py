"""The SMART patient page: the renderer's exact marks, the demo on the constructed patients, the
server-side session, and the EHR launch (PKCE S256, state) against a small SMART EHR in front of
the real FHIR test server (tests/api/smart_ehr.py).

Geometry (api/page_svg.py): x = 210 + 2 * (days since the window's first day); a span of n days
is 2n pixels wide. With as-of 2026-06-30 and a 365-day window the first day is 2025-07-01.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from fhirbridge.adherence.timeline import Signal
from fhirbridge.api import create_app, page_session
from fhirbridge.api.page_data import Block, DrugRow, Overlap, PageModel, Segment, Tick
from fhirbridge.api.page_render import render_page
from fhirbridge.api.smart_launch import challenge_of, new_verifier
from fhirbridge.bootstrap import build_services
from fhirbridge.errors import ConfigError
from fhirbridge.examples import REFERENCE_DATE
from fhirbridge.findings import Category, Finding, Severity
from fhirbridge.services import Services
from fhirbridge.settings import Settings, SmartAppSetting, load_settings
from tests.api.smart_ehr import smart_ehr
from tests.fhir_loading import load_examples

SVG = "{http://www.w3.org/2000/svg}"
BLUE, VERMILLION, GREEN, GREY = "#0072B2", "#D55E00", "#009E73", "#767676"


def marks(html: str, cls: str) -> list[dict[str, str]]:
    """Attributes of the SVG elements whose class list holds `cls`, in document order."""
    svg = re.search(r"<svg xmlns=.*?</svg>", html, re.DOTALL)
    assert svg is not None
    root = ET.fromstring(svg.group(0))
    return [dict(e.attrib) for e in root.iter() if cls in e.attrib.get("class", "").split()]


def _services(tmp_path: Path, smart: SmartAppSetting | None = None) -> Services:
    settings = Settings(smart_app=smart or SmartAppSetting())
    return build_services(settings, database_url=f"sqlite:///{tmp_path / 'page.db'}")


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    built = _services(tmp_path)
    yield built
    built.close()


@pytest.fixture
def client(services: Services) -> FlaskClient:
    return create_app(services=services, today=lambda: REFERENCE_DATE).test_client()


def demo_page(client: FlaskClient, patient: str) -> str:
    picked = client.post("/patient-page/demo", data={"patient": patient})
    assert (picked.status_code, picked.headers["Location"]) == (303, "/patient-page/")
    page = client.get("/patient-page/")
    assert page.status_code == 200
    return page.get_data(as_text=True)


# ---- PKCE (RFC 7636) -----------------------------------------------------------------------
def test_s256_challenge_is_rfc7636_appendix_b() -> None:
    # RFC 7636 Appendix B: this verifier has this S256 challenge.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert challenge_of(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_verifiers_are_fresh_86_unreserved_characters() -> None:
    # 64 random bytes → 86 base64url characters, within RFC 7636's 43..128 of [A-Za-z0-9-._~].
    seen = {new_verifier() for _ in range(50)}
    assert len(seen) == 50
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{86}", v) for v in seen)


# ---- the renderer on a model built by hand ---------------------------------------------------
def _model() -> PageModel:
    finding = Finding(
        rule="opioid-benzodiazepine",
        category=Category.SAFETY,
        severity=Severity.MODERATE,
        patient="Patient/p1",
        summary="MOUD (buprenorphine) overlaps alprazolam: coordinate care; do not stop MOUD",
        detail="**buprenorphine** and **alprazolam** overlap. Prescribers: Practitioner/a.",
        implicated=("MedicationDispense/2", "MedicationDispense/3"),
        authority="FDA 2017",
        as_of=date(2026, 6, 30),
        evidence=("Observation/u1",),
        prescribers=("Practitioner/a", "Practitioner/p"),
    )
    bup = DrugRow(
        key="buprenorphine / naloxone",
        display="Buprenorphine 8 MG / Naloxone 2 MG Sublingual Film",
        refs=frozenset({"MedicationDispense/1", "MedicationDispense/2"}),
        segments=(
            Segment(
                start=date(2026, 1, 1),
                end=date(2026, 1, 28),
                ref="MedicationDispense/1",
                role="addiction",
                prescriber="Practitioner/a",
            ),
            Segment(
                start=date(2026, 2, 10),
                end=date(2026, 3, 9),
                ref="MedicationDispense/2",
                role="addiction",
                prescriber="Practitioner/a",
            ),
        ),
        ticks=(
            Tick(day=date(2026, 1, 1), ref="MedicationDispense/1", kind="dispense",
                 days_supply=28, imputed=False),
            Tick(day=date(2026, 2, 10), ref="MedicationDispense/2", kind="dispense",
                 days_supply=28, imputed=False),
        ),
    )  # fmt: skip
    alprazolam = DrugRow(
        key="alprazolam",
        display="Alprazolam 0.5 MG Oral Tablet",
        refs=frozenset({"MedicationDispense/3"}),
        segments=(
            Segment(
                start=date(2026, 2, 20),
                end=date(2026, 3, 21),
                ref="MedicationDispense/3",
                role="psychiatric",
                prescriber="Practitioner/p",
            ),
        ),
        ticks=(),
    )
    return PageModel(
        patient="Patient/p1",
        as_of=date(2026, 6, 30),
        start=date(2025, 7, 1),
        banner={"name": "Test Person", "sex": "female", "birth_date": "1990-01-02"},
        blocks=(
            Block(
                group="moud",
                rows=(bup,),
                gaps=((date(2026, 1, 29), date(2026, 2, 9)),),
                pdc=None,
            ),
            Block(group="other", rows=(alprazolam,), gaps=(), pdc=None),
        ),
        stays=((date(2026, 4, 1), date(2026, 4, 5), "Encounter/9"),),
        signals=(
            Signal(ref="Observation/p8", day=date(2026, 1, 15), kind="phq9-total",
                   label="phq9-total", value="8", warning=False),
            Signal(ref="Observation/u1", day=date(2026, 3, 1), kind="uds", label="fentanyl",
                   value="positive", warning=True),
            Signal(ref="Observation/u2", day=date(2026, 3, 1), kind="uds",
                   label="buprenorphine", value="negative", warning=False),
            Signal(ref="Observation/p16", day=date(2026, 5, 15), kind="phq9-total",
                   label="phq9-total", value="16", warning=False),
            Signal(ref="Observation/i9", day=date(2026, 5, 15), kind="phq9-item9",
                   label="phq9-item9", value="1", warning=True),
        ),
        findings=(finding,),
        overlaps=(
            Overlap(
                finding=finding.key,
                rule=finding.rule,
                drugs=("buprenorphine / naloxone", "alprazolam"),
                spans=((date(2026, 2, 20), date(2026, 3, 9)),),
            ),
        ),
        prescribers={
            "Practitioner/a": "Ann Addiction, DO (addiction)",
            "Practitioner/p": "Pat Psych, MD (psychiatric)",
        },
    )  # fmt: skip


def test_renderer_draws_each_mark_at_its_days() -> None:
    model = _model()
    html = render_page(model, demo=False)
    # One row per drug, in block order.
    assert [m["data-drug"] for m in marks(html, "row-bg")] == [
        "buprenorphine / naloxone",
        "alprazolam",
    ]
    # 2026-01-01 is day 184 of the window (31+31+30+31+30+31): x = 210 + 368 = 578; 28 days →
    # 56 px. 2026-02-10 is day 224: x = 658. Rows: axis 40 + 6, group title 22 → row y 68, the
    # bar 7 px lower (28 - 14) / 2. Alprazolam: after the MOUD row (28) and the 12 px gap, a
    # title (22): row y 130, bar y 137; 2026-02-20 is day 234 → x 678, 30 days → 60 px.
    assert [
        (m["data-drug"], m["x"], m["y"], m["width"], m["data-role"], m["fill"], m["data-fill"])
        for m in marks(html, "bar")
    ] == [
        ("buprenorphine / naloxone", "578", "75", "56", "addiction", BLUE, "MedicationDispense/1"),
        ("buprenorphine / naloxone", "658", "75", "56", "addiction", BLUE, "MedicationDispense/2"),
        ("alprazolam", "678", "137", "60", "psychiatric", VERMILLION, "MedicationDispense/3"),
    ]
    assert [(m["x1"], m["data-day"]) for m in marks(html, "fill-tick")] == [
        ("578", "2026-01-01"),
        ("658", "2026-02-10"),
    ]
    # The gap 2026-01-29..02-09: day 212 → x 634, 12 days → 24 px, over the MOUD row.
    [gap] = marks(html, "gap")
    assert (gap["x"], gap["y"], gap["width"], gap["height"], gap["data-days"]) == (
        "634", "68", "24", "28", "12",
    )  # fmt: skip
    # The overlap 2026-02-20..03-09 (18 days: 9 + 9) outlined on both drugs' rows.
    assert [
        (m["data-drug"], m["x"], m["width"], m["data-start"], m["data-end"])
        for m in marks(html, "overlap")
    ] == [
        ("buprenorphine / naloxone", "678", "36", "2026-02-20", "2026-03-09"),
        ("alprazolam", "678", "36", "2026-02-20", "2026-03-09"),
    ]
    # The inpatient stay 2026-04-01..05: day 274 → x 758, 5 days → 10 px.
    [stay] = marks(html, "stay")
    assert (stay["x"], stay["width"]) == ("758", "10")
    # Screens on 2026-03-01 (day 243, x 696; marks centred one pixel in): detected is filled.
    assert [
        (m["data-analyte"], m["cx"], m["data-value"], m["fill"]) for m in marks(html, "uds")
    ] == [
        ("buprenorphine", "697", "negative", "#FFFFFF"),
        ("fentanyl", "697", "positive", "#B00020"),
    ]
    assert marks(html, "uds-positive")[0]["data-findings"] == model.findings[0].key
    # PHQ-9: 8 on 2026-01-15 (day 198 → cx 607) and 16 on 2026-05-15 (day 318 → cx 847); the
    # scale is 86 px for 27 points, so 16 sits 8 * 86 / 27 = 25.5 px above 8.
    points = marks(html, "phq9")
    assert [(p["cx"], p["data-score"]) for p in points] == [("607", "8"), ("847", "16")]
    assert float(points[0]["cy"]) - float(points[1]["cy"]) == pytest.approx(25.5, abs=0.1)
    [item9] = marks(html, "phq9-item9")
    assert item9["data-score"] == "1"
    # The findings beside: one item, with the overlap's dates and the prescribers' names.
    assert html.count('class="finding"') == 1
    assert 'data-rule="opioid-benzodiazepine"' in html
    assert (
        "Overlap of buprenorphine / naloxone and alprazolam: 20 Feb 2026 – 9 Mar 2026 (18 days)"
        in html
    )
    assert "Prescribers: Ann Addiction, DO (addiction); Pat Psych, MD (psychiatric)" in html
    assert "<strong>buprenorphine</strong>" in html
    assert "Prescribers: Ann Addiction, DO." in html
    # The legend names the four roles with their colours.
    legend = re.findall(r'data-role="([a-z-]+)"><svg[^>]*><rect[^>]*fill="(#[0-9A-F]{6})"', html)
    assert legend == [
        ("psychiatric", VERMILLION),
        ("addiction", BLUE),
        ("primary-care", GREEN),
        ("other", GREY),
    ]


def test_renderer_escapes_text_from_the_data() -> None:
    model = _model()
    hostile = PageModel(**{
        **{f: getattr(model, f) for f in model.__dataclass_fields__},
        "banner": {"name": "<script>alert(1)</script>"},
    })  # fmt: skip
    html = render_page(hostile, demo=False)
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# ---- demo mode on the constructed patients ---------------------------------------------------
def test_demo_index_lists_the_example_patients_in_a_post_form(client: FlaskClient) -> None:
    page = client.get("/patient-page/demo").get_data(as_text=True)
    assert '<form method="post" action="/patient-page/demo">' in page
    ids = re.findall(r'name="patient" value="(ex-pt-\d\d)"', page)
    assert ids == [f"ex-pt-{n:02d}" for n in range(1, 29)]


def test_demo_patient_2_shows_the_moud_gaps_of_its_findings(client: FlaskClient) -> None:
    html = demo_page(client, "ex-pt-02")
    # Fills on days -195, -167, -117, -67, -39 of 28 days: gaps 2026-02-11..03-04 and
    # 2026-04-02..04-23 (22 days each) and the open one 2026-06-19..06-30 (12 days).
    # 2026-02-11 is day 225 of the window → x 660; 2026-04-02 day 275 → 760; 06-19 day 353 → 916.
    assert [
        (g["data-group"], g["data-start"], g["data-end"], g["data-days"], g["x"], g["width"])
        for g in marks(html, "gap")
    ] == [
        ("moud", "2026-02-11", "2026-03-04", "22", "660", "44"),
        ("moud", "2026-04-02", "2026-04-23", "22", "760", "44"),
        ("moud", "2026-06-19", "2026-06-30", "12", "916", "24"),
    ]
    bars = marks(html, "bar")
    assert {(b["data-drug"], b["data-role"]) for b in bars} == {
        ("buprenorphine / naloxone", "addiction")
    }
    # Each fill covers its 28 days: 2025-12-17 is day 169 → x 548; 2026-01-14 day 197 → 604;
    # 2026-03-05 day 247 → 704; 2026-04-24 day 297 → 804; 2026-05-22 day 325 → 860.
    assert [(b["data-start"], b["data-end"], b["x"]) for b in bars] == [
        ("2025-12-17", "2026-01-13", "548"),
        ("2026-01-14", "2026-02-10", "604"),
        ("2026-03-05", "2026-04-01", "704"),
        ("2026-04-24", "2026-05-21", "804"),
        ("2026-05-22", "2026-06-18", "860"),
    ]
    rules = re.findall(r'class="finding"[^>]*data-rule="([a-z0-9-]+)"', html)
    assert sorted(rules) == [
        "moud-gap",
        "naloxone-missing",
        "pdc-below-threshold",
        "refill-overdue",
    ]
    assert "PDC 71% (140 of 196 days)" in html
    assert not marks(html, "overlap")


def test_demo_patient_3_shows_the_overlap_in_addiction_and_psychiatric_colours(
    client: FlaskClient,
) -> None:
    html = demo_page(client, "ex-pt-03")
    roles = {(b["data-drug"], b["data-role"], b["fill"]) for b in marks(html, "bar")}
    assert roles == {
        ("buprenorphine / naloxone", "addiction", BLUE),
        ("alprazolam", "psychiatric", VERMILLION),
        ("naloxone", "addiction", BLUE),  # the rescue kit, from the same addiction prescriber
    }
    # Alprazolam fills on days -89, -59, -29 (30 days each) cover 2026-04-02..06-30 while
    # buprenorphine covers every day: 90 days of overlap; 2026-04-02 is day 275 → x 760.
    overlaps = marks(html, "overlap")
    assert [
        (o["data-drug"], o["data-start"], o["data-end"], o["x"], o["width"]) for o in overlaps
    ] == [
        ("buprenorphine / naloxone", "2026-04-02", "2026-06-30", "760", "180"),
        ("alprazolam", "2026-04-02", "2026-06-30", "760", "180"),
    ]
    assert {o["data-rule"] for o in overlaps} == {"opioid-benzodiazepine"}
    assert "(rescue)" in html
    assert not marks(html, "gap")


def test_demo_from_the_store_uses_the_date_the_examples_were_loaded_for(
    services: Services,
) -> None:
    # `fhirbridge run --as-of 2026-07-30` moves the examples 30 days later; the server's today
    # is later still, yet the demo shows the data as of the day it was laid out for.
    loaded_for = date(2026, 7, 30)
    services.sync(None, loaded_for, None)
    client = create_app(services=services, today=lambda: date(2026, 8, 15)).test_client()
    html = demo_page(client, "ex-pt-02")
    assert "As of: 30 Jul 2026" in html
    timeline = services.timeline("Patient/ex-pt-02", loaded_for)
    assert timeline is not None
    [moud] = timeline.groups
    # The same gaps as Services.timeline, 30 days later, at the same x (the window moved too).
    assert [(g["data-start"], g["data-end"], g["x"]) for g in marks(html, "gap")] == [
        (a.isoformat(), b.isoformat(), x)
        for (a, b), x in zip(moud.gaps, ("660", "760", "916"), strict=True)
    ]
    assert moud.gaps[0] == (date(2026, 3, 13), date(2026, 4, 3))


def test_demo_refuses_anyone_but_the_example_patients(client: FlaskClient) -> None:
    for patient in ("ex-pt-99", "Patient/ex-pt-02", "", "12345"):
        response = client.post("/patient-page/demo", data={"patient": patient})
        assert response.status_code == 400
        assert response.json is not None
        assert response.json["issue"][0]["details"]["text"] == (
            "patient must be one of the bundled example patients"
        )


def test_demo_can_be_turned_off(tmp_path: Path) -> None:
    services = _services(tmp_path, SmartAppSetting(demo=False))
    client = create_app(services=services, today=lambda: REFERENCE_DATE).test_client()
    assert client.get("/patient-page/demo").status_code == 404
    assert client.post("/patient-page/demo", data={"patient": "ex-pt-02"}).status_code == 404
    services.close()


# ---- the session ---------------------------------------------------------------------------
def test_no_session_or_a_forged_cookie_gets_401(client: FlaskClient) -> None:
    response = client.get("/patient-page/")
    assert response.status_code == 401
    assert response.json is not None
    assert response.json["resourceType"] == "OperationOutcome"
    client.set_cookie("fhirbridge_page", "A" * 43, path="/patient-page")
    assert client.get("/patient-page/").status_code == 401
    client.set_cookie("fhirbridge_page", "not even the shape", path="/patient-page")
    assert client.get("/patient-page/").status_code == 401


def test_the_patient_stays_out_of_urls_cookies_and_the_session_table(
    client: FlaskClient, services: Services
) -> None:
    picked = client.post("/patient-page/demo", data={"patient": "ex-pt-03"})
    cookie = picked.headers["Set-Cookie"]
    assert re.fullmatch(
        r"fhirbridge_page=[A-Za-z0-9_-]{43}; HttpOnly; Path=/patient-page; SameSite=Lax", cookie
    )
    assert "ex-pt" not in picked.headers["Location"]
    page = client.get("/patient-page/")
    assert page.headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "<title>Medication timeline · fhirbridge</title>" in page.get_data(as_text=True)
    with services.store.engine.connect() as conn:
        rows = conn.execute(text("SELECT key, data FROM page_session")).all()
    value = cookie.split(";")[0].split("=", 1)[1]
    assert len(rows) == 1
    assert value not in rows[0].key  # stored under a hash of the cookie
    assert b"ex-pt-03" not in rows[0].data
    assert b"demo" not in rows[0].data


def test_sessions_expire_and_open_only_with_their_own_cookie(db_url: str) -> None:
    services = build_services(Settings(), database_url=db_url)  # SQLite, and PostgreSQL when set
    engine = services.store.engine
    now = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
    cookie, other = page_session.new_cookie(), page_session.new_cookie()
    data = {"step": "ehr", "patient": "ex-pt-03", "token": "secret-token"}
    page_session.save(engine, cookie, data, now=now, lifetime=timedelta(minutes=10))
    assert page_session.load(engine, cookie, now + timedelta(minutes=9)) == data
    assert page_session.load(engine, other, now) is None
    assert page_session.load(engine, cookie, now + timedelta(minutes=10)) is None  # expired
    # The next write sweeps the expired row.
    page_session.save(engine, other, {"step": "demo"}, now=now + timedelta(minutes=11),
                      lifetime=timedelta(minutes=10))  # fmt: skip
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM page_session")).scalar() == 1
    page_session.drop(engine, other)
    assert page_session.load(engine, other, now + timedelta(minutes=11)) is None
    services.close()


def test_settings_need_issuers_with_a_client_id(tmp_path: Path) -> None:
    config = tmp_path / "fhirbridge.toml"
    config.write_text('[smart_app]\nclient_id = "fhirbridge-page"\n')
    with pytest.raises(ConfigError, match="client_id needs issuers"):
        load_settings(config, environ={})
    env = {"FHIRBRIDGE_SMART_APP_ISSUERS": '["https://ehr.example.org/fhir/"]'}
    settings = load_settings(config, environ=env)
    assert settings.smart_app.client_id == "fhirbridge-page"
    assert settings.smart_app.issuers == ("https://ehr.example.org/fhir",)


# ---- EHR launch ----------------------------------------------------------------------------
CLIENT_ID = "fhirbridge-page-test"


@pytest.fixture
def ehr(fhir_base_url: str) -> Iterator[tuple[str, Any]]:
    assert load_examples(fhir_base_url) == ["MedicationRequest/ex-mr-27-2"]  # the dead letter
    with smart_ehr(fhir_base_url, client_id=CLIENT_ID, patient="ex-pt-03") as running:
        yield running


def _launch_app(tmp_path: Path, iss: str) -> tuple[Flask, Services]:
    services = _services(tmp_path, SmartAppSetting(client_id=CLIENT_ID, issuers=(iss,)))
    return create_app(services=services, today=lambda: REFERENCE_DATE), services


def _authorize(client: FlaskClient, iss: str) -> str:
    """Launch, follow the EHR's authorize redirect; returns the callback path with its query."""
    launched = client.get(
        "/patient-page/launch", query_string={"iss": iss, "launch": "launch-7f3a"}
    )
    assert launched.status_code == 302
    answer = requests.get(launched.headers["Location"], allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    back = urlsplit(answer.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == "http://localhost/patient-page/callback"
    return f"{back.path}?{back.query}"


@pytest.mark.fhir_server
def test_ehr_launch_with_pkce_renders_the_same_page_as_the_demo(
    ehr: tuple[str, Any], tmp_path: Path
) -> None:
    iss, state = ehr
    app, services = _launch_app(tmp_path, iss)
    client = app.test_client()
    callback = _authorize(client, iss)
    [asked] = state.authorize_requests
    assert {k: asked[k] for k in ("response_type", "client_id", "launch", "aud")} == {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "launch": "launch-7f3a",
        "aud": iss,
    }
    assert asked["redirect_uri"] == "http://localhost/patient-page/callback"
    assert asked["code_challenge_method"] == "S256"
    assert len(asked["state"]) == 43
    assert asked["scope"].startswith("launch openid fhirUser patient/Patient.rs")
    done = client.get(callback)
    assert (done.status_code, done.headers["Location"]) == (303, "/patient-page/")
    # The token request: the code and a verifier whose S256 is the challenge sent to /authorize
    # (the EHR checked it, else no token), for this public client, at the same redirect_uri.
    [form] = state.token_requests
    assert form["grant_type"] == "authorization_code"
    assert form["client_id"] == CLIENT_ID
    assert challenge_of(form["code_verifier"]) == asked["code_challenge"]
    page = client.get("/patient-page/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    # Every FHIR read went to the EHR with the launch's token, prescribers' roles included.
    assert state.fhir_requests
    assert all(a.startswith("Bearer ") for _, a in state.fhir_requests)
    assert any(p.startswith("/PractitionerRole?") for p, _ in state.fhir_requests)
    svg = re.search(r"<svg xmlns=.*?</svg>", html, re.DOTALL)
    demo = demo_page(app.test_client(), "ex-pt-03")
    assert svg is not None
    assert svg.group(0) in demo
    assert {(b["data-drug"], b["data-role"]) for b in marks(html, "bar")} >= {
        ("buprenorphine / naloxone", "addiction"),
        ("alprazolam", "psychiatric"),
    }
    services.close()


@pytest.mark.fhir_server
def test_a_wrong_or_replayed_state_gets_400_never_500(ehr: tuple[str, Any], tmp_path: Path) -> None:
    iss, state = ehr
    app, services = _launch_app(tmp_path, iss)
    client = app.test_client()
    callback = _authorize(client, iss)
    query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    wrong = client.get("/patient-page/callback", query_string={**query, "state": "x" * 43})
    assert wrong.status_code == 400
    assert wrong.json is not None
    assert wrong.json["issue"][0]["details"]["text"] == "state does not match this browser's launch"
    assert state.token_requests == []  # nothing was exchanged
    assert client.get(callback).status_code == 303  # the right state still works, once
    replay = client.get(callback)
    assert replay.status_code == 400
    assert replay.json is not None
    assert replay.json["issue"][0]["details"]["text"].startswith("no launch in progress")
    # A callback in a browser that never launched: no session, 400.
    assert app.test_client().get(callback).status_code == 400
    services.close()


@pytest.mark.fhir_server
def test_a_refused_code_or_an_ehr_error_gets_400(ehr: tuple[str, Any], tmp_path: Path) -> None:
    iss, state = ehr
    app, services = _launch_app(tmp_path, iss)
    state.refuse_token = True
    client = app.test_client()
    refused = client.get(_authorize(client, iss))
    assert refused.status_code == 400
    assert refused.json is not None
    assert refused.json["issue"][0]["details"]["text"] == (
        "the EHR refused the authorization code (invalid_grant); launch again"
    )
    client = app.test_client()
    callback = _authorize(client, iss)
    query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    denied = client.get(
        "/patient-page/callback", query_string={"state": query["state"], "error": "access_denied"}
    )
    assert denied.status_code == 400
    assert denied.json is not None
    assert "access_denied" in denied.json["issue"][0]["details"]["text"]
    services.close()


def test_launch_is_refused_unconfigured_incomplete_or_from_an_unlisted_issuer(
    tmp_path: Path, client: FlaskClient
) -> None:
    assert (
        client.get("/patient-page/launch?iss=https://ehr.example.org&launch=x").status_code == 404
    )
    app, services = _launch_app(tmp_path, "https://ehr.example.org/fhir")
    configured = app.test_client()
    assert configured.get("/patient-page/launch?launch=x").status_code == 400
    stranger = configured.get("/patient-page/launch?iss=https://evil.example.org&launch=x")
    assert stranger.status_code == 400
    assert stranger.json is not None
    assert "not an EHR allowed" in stranger.json["issue"][0]["details"]["text"]
    services.close()
