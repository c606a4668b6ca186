"""serotonergic-maoi (with its washouts) and serotonergic-opioid on constructed patients.

as_of 2025-03-31; lookback 90 days: 2025-01-01 .. 2025-03-31. "N free days" counts the days
strictly between the last supplied day of one drug and the first day of the other.
"""

from __future__ import annotations

from datetime import date

import pytest

from fhirbridge.reconciliation import (
    MaoiParams,
    assess_serotonergic_maoi,
    assess_serotonergic_opioid,
)
from fhirbridge.records import MedicationEvent, PatientRecords, Prescriber, PrescriberRole
from tests.unit.factories import order

AS_OF = date(2025, 3, 31)
PHENELZINE = "Phenelzine 15 MG Oral Tablet"
LINEZOLID = "Linezolid 600 MG Oral Tablet"
SERTRALINE = "Sertraline 50 MG Oral Tablet"
FLUOXETINE = "Fluoxetine 20 MG Oral Capsule"
DULOXETINE = "Duloxetine 60 MG Delayed Release Oral Capsule"
MIRTAZAPINE = "Mirtazapine 15 MG Oral Tablet"
BUPROPION = "Bupropion Hydrochloride 150 MG Extended Release Oral Tablet"
TRAMADOL = "Tramadol Hydrochloride 50 MG Oral Tablet"
METHADONE = "Methadone Hydrochloride 10 MG Oral Tablet"
FENTANYL = "Fentanyl 0.025 MG/HR Transdermal System"
OXY = "Oxycodone Hydrochloride 5 MG Oral Tablet"
BUP_NAL = "Buprenorphine 8 MG / Naloxone 2 MG Sublingual Film"


def _patient(*events: MedicationEvent) -> PatientRecords:
    return PatientRecords(
        patient="Patient/p1",
        events=events,
        prescribers={
            "Practitioner/psy": Prescriber(ref="Practitioner/psy", role=PrescriberRole.PSYCHIATRIC),
            "Practitioner/pcp": Prescriber(
                ref="Practitioner/pcp", role=PrescriberRole.PRIMARY_CARE
            ),
        },
    )


# ---- serotonergic-maoi ---------------------------------------------------------------------


def test_maoi_and_ssri_overlap_is_high() -> None:
    # Phenelzine 03-01..03-30, sertraline 03-16..04-14: together 03-16..03-30 = 15 days.
    records = _patient(
        order("mao", PHENELZINE, date(2025, 3, 1), 30, "Practitioner/psy"),
        order("ser", SERTRALINE, date(2025, 3, 16), 30, "Practitioner/pcp"),
    )
    [finding] = assess_serotonergic_maoi(records, as_of=AS_OF)
    assert (finding.rule, finding.severity.value, finding.category.value) == (
        "serotonergic-maoi",
        "high",
        "safety",
    )
    assert finding.implicated == ("MedicationRequest/mao", "MedicationRequest/ser")
    assert finding.prescribers == ("Practitioner/pcp", "Practitioner/psy")
    assert (
        finding.summary
        == "MAOI (phenelzine) overlaps sertraline: contraindicated, serotonin syndrome"
    )
    assert "overlap on 15 day(s)" in finding.detail
    assert finding.authority.startswith("Fluoxetine (Prozac) prescribing information")


@pytest.mark.parametrize(
    ("start", "fires"),
    [(date(2025, 2, 10), True), (date(2025, 2, 13), True), (date(2025, 2, 14), False)],
    ids=["10-free-days", "13-free-days", "14-free-days"],
)
def test_ssri_started_within_two_weeks_of_an_maoi(start: date, fires: bool) -> None:
    # Phenelzine 01-01 x30: last day 01-30. Sertraline from `start`.
    records = _patient(
        order("mao", PHENELZINE, date(2025, 1, 1), 30, "Practitioner/psy", status="stopped"),
        order("ser", SERTRALINE, start, 30, "Practitioner/pcp"),
    )
    findings = assess_serotonergic_maoi(records, as_of=AS_OF)
    assert bool(findings) is fires
    if fires:
        free = (start - date(2025, 1, 30)).days - 1
        assert (
            f"Sertraline started on {start.isoformat()}, {free} day(s) after phenelzine supply "
            "ended on 2025-01-30 (MAOI washout 14 days)." in findings[0].detail
        )
        assert findings[0].summary == (
            "MAOI (phenelzine) and sertraline without the washout: serotonin syndrome"
        )


@pytest.mark.parametrize(
    ("previous", "start", "fires"),
    [
        (FLUOXETINE, date(2025, 3, 1), True),  # 01-31..02-28: 29 free days < 5 weeks
        (FLUOXETINE, date(2025, 3, 7), False),  # 01-31..03-06: 35 free days
        (SERTRALINE, date(2025, 3, 1), False),  # 29 free days >= 2 weeks
        (SERTRALINE, date(2025, 2, 10), True),  # 10 free days < 2 weeks
    ],
    ids=["fluoxetine-29", "fluoxetine-35", "sertraline-29", "sertraline-10"],
)
def test_maoi_started_after_an_antidepressant(previous: str, start: date, fires: bool) -> None:
    # The antidepressant 01-01 x30 (last day 01-30), then phenelzine from `start`.
    records = _patient(
        order("prev", previous, date(2025, 1, 1), 30, "Practitioner/pcp", status="stopped"),
        order("mao", PHENELZINE, start, 30, "Practitioner/psy"),
    )
    assert bool(assess_serotonergic_maoi(records, as_of=AS_OF)) is fires


def test_fluoxetine_washout_is_configurable() -> None:
    records = _patient(
        order("prev", FLUOXETINE, date(2025, 1, 1), 30, None, status="stopped"),
        order("mao", PHENELZINE, date(2025, 3, 1), 30, None),
    )
    params = MaoiParams(fluoxetine_washout_days=28)  # 29 free days now suffice
    assert assess_serotonergic_maoi(records, as_of=AS_OF, params=params) == []


def test_linezolid_with_an_ssri_names_the_fda_advice() -> None:
    records = _patient(
        order("ser", SERTRALINE, date(2025, 3, 1), 30, "Practitioner/psy"),
        order("lin", LINEZOLID, date(2025, 3, 20), 10, "Practitioner/pcp"),
    )
    [finding] = assess_serotonergic_maoi(records, as_of=AS_OF)
    assert finding.summary.startswith("MAOI (linezolid) overlaps sertraline")
    assert "If linezolid or methylene blue is needed" in finding.detail


def test_bupropion_is_not_a_serotonergic_partner() -> None:
    records = _patient(
        order("mao", PHENELZINE, date(2025, 3, 1), 30, None),
        order("bup", BUPROPION, date(2025, 3, 1), 30, None),
    )
    assert assess_serotonergic_maoi(records, as_of=AS_OF) == []


# ---- serotonergic-opioid -------------------------------------------------------------------


def test_tramadol_and_sertraline_is_moderate() -> None:
    # Sertraline 02-01 x60 (02-01..04-01), tramadol 03-01 x10: 10 days together.
    records = _patient(
        order("ser", SERTRALINE, date(2025, 2, 1), 60, "Practitioner/psy"),
        order("tram", TRAMADOL, date(2025, 3, 1), 10, "Practitioner/pcp"),
    )
    [finding] = assess_serotonergic_opioid(records, as_of=AS_OF)
    assert (finding.rule, finding.severity.value) == ("serotonergic-opioid", "moderate")
    assert finding.implicated == ("MedicationRequest/ser", "MedicationRequest/tram")
    assert finding.summary == (
        "Serotonergic opioid (tramadol) overlaps sertraline: serotonin syndrome risk"
    )
    assert "overlap on 10 day(s)" in finding.detail
    assert "FDA (2016)" in finding.detail
    assert finding.authority.startswith("FDA Drug Safety Communication 2016-03-22")


def test_methadone_advice_keeps_methadone() -> None:
    records = _patient(
        order("met", METHADONE, date(2025, 3, 1), 30, "Practitioner/pcp"),
        order("ser", SERTRALINE, date(2025, 3, 1), 30, "Practitioner/psy"),
    )
    [finding] = assess_serotonergic_opioid(records, as_of=AS_OF)
    assert "If methadone treats opioid use disorder, keep it" in finding.detail
    assert "stop" not in finding.detail.lower()


@pytest.mark.parametrize(
    ("opioid", "partner", "severity"),
    [
        (TRAMADOL, PHENELZINE, "high"),  # with an MAOI: usually contraindicated
        (FENTANYL, DULOXETINE, "moderate"),  # SNRI
        (TRAMADOL, MIRTAZAPINE, "moderate"),  # named by FDA 2016
        (OXY, SERTRALINE, None),  # oxycodone is not one of the serotonergic opioids
        (BUP_NAL, SERTRALINE, None),  # nor is buprenorphine
        (TRAMADOL, BUPROPION, None),  # bupropion is not serotonergic
    ],
    ids=["tramadol-maoi", "fentanyl-snri", "tramadol-mirtazapine", "oxycodone", "bup", "bupropion"],
)
def test_which_pairs_count(opioid: str, partner: str, severity: str | None) -> None:
    records = _patient(
        order("o", opioid, date(2025, 3, 1), 30, "Practitioner/pcp"),
        order("p", partner, date(2025, 3, 1), 30, "Practitioner/psy"),
    )
    found = assess_serotonergic_opioid(records, as_of=AS_OF)
    assert [f.severity.value for f in found] == ([severity] if severity else [])


def test_sequential_opioid_and_ssri_do_not_fire() -> None:
    records = _patient(
        order("tram", TRAMADOL, date(2025, 2, 1), 10, None),  # 02-01..02-10
        order("ser", SERTRALINE, date(2025, 2, 11), 30, None),
    )
    assert assess_serotonergic_opioid(records, as_of=AS_OF) == []
