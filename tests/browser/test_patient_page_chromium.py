"""The patient page in a real headless Chromium: the demo for constructed patients 2 and 3 (the
gaps and the overlap their findings describe, read from the DOM and from the screenshot's
pixels), the page's script, nothing loaded from outside 127.0.0.1, and the SMART EHR launch
followed by the browser itself.

Pixels: the screenshot is taken at device scale 1, so an SVG mark at (x, y) is at the SVG's
page offset plus (x, y). Solid fills come out exactly; a tolerance of 3 per channel allows for
the rasteriser.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, Route

from fhirbridge.api.page_marks import GAP_FILL, ROLE_COLOURS
from fhirbridge.settings import SmartAppSetting
from tests.api.smart_ehr import smart_ehr
from tests.browser.conftest import serve_app
from tests.fhir_loading import load_examples


@pytest.fixture
def base(tmp_path: Path) -> Iterator[str]:
    with serve_app(tmp_path) as url:
        yield url


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where screenshots go: FHIRBRIDGE_SCREENSHOT_DIR to keep them for a person to look at."""
    folder = Path(os.environ.get("FHIRBRIDGE_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(browser: Browser, base: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, device_scale_factor=1)
    outside: list[str] = []

    def only_local(route: Route) -> None:
        if route.request.url.startswith(base + "/") or route.request.url.startswith("data:"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    opened = context.new_page()
    errors: list[str] = []  # a CSP violation or a script error shows up here
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    context.close()
    assert outside == []  # no CDN, no font, no analytics: nothing but this server
    assert errors == []


def open_demo(page: Page, base: str, patient: str) -> None:
    page.goto(f"{base}/patient-page/demo")
    page.check(f'input[name="patient"][value="{patient}"]')
    page.locator("button[type=submit]").first.click()
    page.wait_for_selector("#timeline")
    assert page.url == f"{base}/patient-page/"  # the patient is in the session, not the URL


def data_of(page: Page, selector: str) -> list[dict[str, Any]]:
    """Each mark's data attributes and its box relative to the SVG, as laid out by Chromium."""
    found: list[dict[str, Any]] = page.eval_on_selector_all(
        selector,
        """els => els.map(e => {
            const box = e.getBoundingClientRect();
            const svg = e.ownerSVGElement.getBoundingClientRect();
            return {...e.dataset, left: box.left - svg.left, width: box.width,
                    top: box.top - svg.top, height: box.height};
        })""",
    )
    return found


def shot(page: Page, path: Path) -> tuple[Image.Image, tuple[float, float]]:
    """A full-page screenshot and the SVG's offset in it."""
    page.screenshot(path=str(path), full_page=True)
    offset = page.eval_on_selector(
        "#timeline",
        "e => { const b = e.getBoundingClientRect(); return [b.left + scrollX, b.top + scrollY]; }",
    )
    return Image.open(path).convert("RGB"), (offset[0], offset[1])


def colour_at(image: Image.Image, origin: tuple[float, float], x: float, y: float) -> str:
    r, g, b = image.getpixel((round(origin[0] + x), round(origin[1] + y)))  # type: ignore[misc]
    return f"#{r:02X}{g:02X}{b:02X}"


def close_to(found: str, expected: str) -> bool:
    pairs = zip(bytes.fromhex(found[1:]), bytes.fromhex(expected[1:]), strict=True)
    return all(abs(a - b) <= 3 for a, b in pairs)


def test_patient_2_shows_its_moud_gaps(page: Page, base: str, screenshots: Path) -> None:
    open_demo(page, base, "ex-pt-02")
    gaps = data_of(page, "#timeline rect.gap")
    # The findings: moud-gap (gaps of 22, 22 and 12 days) and refill-overdue since 2026-06-19.
    assert [(g["start"], g["end"], g["days"]) for g in gaps] == [
        ("2026-02-11", "2026-03-04", "22"),
        ("2026-04-02", "2026-04-23", "22"),
        ("2026-06-19", "2026-06-30", "12"),
    ]
    # Laid out where the grid puts them: 2026-02-11 is day 225 of the window → 210 + 450 = 660.
    assert [(g["left"], g["width"]) for g in gaps] == [(660, 44), (760, 44), (916, 24)]
    rules = page.eval_on_selector_all(".finding", "els => els.map(e => e.dataset.rule)")
    assert sorted(rules) == [
        "moud-gap",
        "naloxone-missing",
        "pdc-below-threshold",
        "refill-overdue",
    ]
    image, origin = shot(page, screenshots / "ex-pt-02.png")
    bars = data_of(page, "#timeline rect.bar")
    row_mid = bars[0]["top"] + bars[0]["height"] / 2
    # Inside each gap, 3 px from its left edge and 3 px below the row's top: the gap shading.
    for gap in gaps:
        assert close_to(colour_at(image, origin, gap["left"] + 3, gap["top"] + 3), GAP_FILL)
    # The middle of each fill's bar: the addiction prescriber's blue.
    for bar in bars:
        assert bar["role"] == "addiction"
        middle = colour_at(image, origin, bar["left"] + bar["width"] / 2, row_mid)
        assert close_to(middle, ROLE_COLOURS["addiction"])
    # Before the first fill (2025-10-15, day 106 → x 422) the row is empty: white.
    assert close_to(colour_at(image, origin, 423, row_mid), "#FFFFFF")


def test_patient_3_shows_the_overlap_in_both_prescribers_colours(
    page: Page, base: str, screenshots: Path
) -> None:
    open_demo(page, base, "ex-pt-03")
    overlaps = data_of(page, "#timeline rect.overlap")
    # opioid-benzodiazepine: alprazolam (psychiatrist) over buprenorphine (addiction
    # prescriber A) from 2026-04-02 through the as-of date: 90 days, x 760, 180 px.
    assert [(o["drug"], o["start"], o["end"], o["rule"]) for o in overlaps] == [
        ("buprenorphine / naloxone", "2026-04-02", "2026-06-30", "opioid-benzodiazepine"),
        ("alprazolam", "2026-04-02", "2026-06-30", "opioid-benzodiazepine"),
    ]
    assert [(o["left"], o["width"]) for o in overlaps] == [(760, 180), (760, 180)]
    bars = {(b["drug"], b["role"]) for b in data_of(page, "#timeline rect.bar")}
    assert {("buprenorphine / naloxone", "addiction"), ("alprazolam", "psychiatric")} <= bars
    assert data_of(page, "#timeline rect.gap") == []
    image, origin = shot(page, screenshots / "ex-pt-03.png")
    # Inside the overlap, both rows are covered, each in its prescriber's colour: 2026-05-15 is
    # day 318 → x 846.
    for overlap, role in zip(overlaps, ("addiction", "psychiatric"), strict=True):
        middle = overlap["top"] + overlap["height"] / 2
        assert close_to(colour_at(image, origin, 847, middle), ROLE_COLOURS[role])
        # The dashed outline's top edge: the stroke is centred on it, and a rounded rectangle's
        # outline starts after the corner (rx 3), so the first 5 px dash spans x + 3 .. x + 8.
        edge = colour_at(image, origin, overlap["left"] + 5, overlap["top"])
        assert close_to(edge, "#111111")
    # Before alprazolam starts (2026-03-15, day 257 → x 724) its row is empty.
    alprazolam_mid = overlaps[1]["top"] + overlaps[1]["height"] / 2
    assert close_to(colour_at(image, origin, 725, alprazolam_mid), "#FFFFFF")


def test_the_script_links_a_finding_to_its_marks_and_shows_tooltips(page: Page, base: str) -> None:
    open_demo(page, base, "ex-pt-03")
    finding = page.locator('.finding[data-rule="opioid-benzodiazepine"]')
    finding.hover()
    lit = page.eval_on_selector_all("#timeline .hl", "els => els.map(e => e.dataset.drug)")
    # The two drug rows' backgrounds and the two overlap outlines light up.
    assert sorted(lit) == sorted(["buprenorphine / naloxone", "alprazolam"] * 2)
    page.locator('#timeline rect.bar[data-drug="alprazolam"]').first.hover()
    tip = page.locator(".tip")
    assert tip.is_visible()
    assert tip.inner_text() == (
        "alprazolam: 2026-04-02 – 2026-05-01 (30 days) · Helena Marsh, MD (psychiatric)"
    )


@pytest.mark.fhir_server
def test_smart_ehr_launch_in_the_browser(
    browser: Browser, fhir_base_url: str, tmp_path: Path
) -> None:
    load_examples(fhir_base_url)
    with smart_ehr(fhir_base_url, client_id="fhirbridge-page", patient="ex-pt-03") as (iss, ehr):
        smart = SmartAppSetting(client_id="fhirbridge-page", issuers=(iss,))
        with serve_app(tmp_path, smart) as app_url:
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            seen: list[str] = []
            context.on("request", lambda request: seen.append(request.url))
            page = context.new_page()
            page.goto(f"{app_url}/patient-page/launch?iss={iss}&launch={ehr.launch}")
            page.wait_for_selector("#timeline")
            assert page.url == f"{app_url}/patient-page/"
            overlaps = data_of(page, "#timeline rect.overlap")
            assert {(o["drug"], o["start"], o["end"]) for o in overlaps} == {
                ("buprenorphine / naloxone", "2026-04-02", "2026-06-30"),
                ("alprazolam", "2026-04-02", "2026-06-30"),
            }
            # The browser went app → EHR authorize → app callback → page, and no URL it
            # requested ever named the patient; the cookie is not readable by scripts.
            assert any(url.startswith(f"{iss}/authorize?") for url in seen)
            assert not [url for url in seen if "ex-pt-03" in url]
            assert page.evaluate("document.cookie") == ""
            [token] = ehr.token_requests
            assert token["grant_type"] == "authorization_code"
            context.close()
