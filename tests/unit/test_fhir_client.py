"""FhirClient against a `responses` fake: paging, retries, error classification, conditional writes.

`responses` is used only for faults a real server cannot produce on demand (STYLE row 22); sleeps
are recorded, never slept (row 24).
"""

from __future__ import annotations

import email.utils
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
import requests
import requests.auth
import responses
import time_machine

from fhirbridge.errors import (
    FhirAuthError,
    FhirConflict,
    FhirError,
    FhirNotFound,
    FhirRejected,
    FhirTransientError,
)
from fhirbridge.sync.client import FhirClient, WriteResult
from fhirbridge.sync.http import ForeignNextLink

BASE = "https://ehr.example/fhir/r4"


class Waits(list[float]):
    """An injected `sleep` that records each wait."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class RefreshingAuth(requests.auth.AuthBase):
    """A bearer token that `refresh()` replaces, like a SMART backend-services token."""

    def __init__(self) -> None:
        self.token = 1
        self.refreshes = 0

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer t{self.token}"
        return r

    def refresh(self) -> None:
        self.refreshes += 1
        self.token += 1


@pytest.fixture
def fake() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
def client(waits: Waits) -> Iterator[FhirClient]:
    with FhirClient(BASE, sleep=waits, max_retries=4, max_wait=60.0) as c:
        yield c


def patient(id_: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": id_}


def page(ids: list[str], next_url: str | None = None) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": patient(i), "search": {"mode": "match"}} for i in ids],
    }
    if next_url:
        bundle["link"] = [
            {"relation": "self", "url": "ignored"},
            {"relation": "next", "url": next_url},
        ]
    return bundle


def outcome(text: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "business-rule", "diagnostics": text}],
    }


# -- paging ------------------------------------------------------------------------------------


def test_search_follows_next_links_over_three_pages_in_order(
    fake: responses.RequestsMock, client: FhirClient
) -> None:
    fake.get(f"{BASE}/Patient?name=smith", json=page(["1", "2"], f"{BASE}/Patient?_page=2"))
    # A host-relative next link (fhir-py #83) resolves against the server, not the base.
    fake.get(f"{BASE}/Patient?_page=2", json=page(["3"], "/fhir/r4/Patient?_page=3"))
    fake.get(f"{BASE}/Patient?_page=3", json=page(["4", "5"]))

    ids = [r["id"] for r in client.search("Patient", {"name": "smith"})]

    assert ids == ["1", "2", "3", "4", "5"]
    assert len(fake.calls) == 3


def test_search_yields_included_resources_too(
    fake: responses.RequestsMock, client: FhirClient
) -> None:
    bundle = page(["1"])
    bundle["entry"].append(
        {"resource": {"resourceType": "Medication", "id": "m"}, "search": {"mode": "include"}}
    )
    fake.get(f"{BASE}/MedicationRequest", json=bundle)

    types = [r["resourceType"] for r in client.search("MedicationRequest")]

    assert types == ["Patient", "Medication"]


def test_next_link_to_another_origin_is_refused_and_never_requested(
    fake: responses.RequestsMock, client: FhirClient
) -> None:
    fake.get(f"{BASE}/Patient", json=page(["1"], "https://elsewhere.example/fhir/r4/Patient?p=2"))

    pages = client.search("Patient")
    assert next(pages)["id"] == "1"
    with pytest.raises(FhirError, match="next link leaves the server origin") as info:
        next(pages)

    # Refused, not retried: the incremental puller restarts the search from its cursor instead.
    assert type(info.value) is ForeignNextLink
    assert [c.request.url for c in fake.calls] == [f"{BASE}/Patient"]


@pytest.mark.parametrize(
    "other", ["http://ehr.example/fhir/r4/Patient?p=2", "https://ehr.example:8443/fhir/r4/Patient"]
)
def test_a_different_scheme_or_port_is_another_origin(
    fake: responses.RequestsMock, client: FhirClient, other: str
) -> None:
    fake.get(f"{BASE}/Patient", json=page([], other))

    with pytest.raises(FhirError, match="leaves the server origin"):
        list(client.search("Patient"))


def test_repeated_next_link_is_a_paging_loop(
    fake: responses.RequestsMock, client: FhirClient
) -> None:
    fake.get(f"{BASE}/Patient", json=page(["1"], f"{BASE}/Patient?_page=2"))
    fake.get(f"{BASE}/Patient?_page=2", json=page(["2"], f"{BASE}/Patient?_page=2"))

    with pytest.raises(FhirError, match="paging loop"):
        list(client.search("Patient"))
    assert len(fake.calls) == 2


# -- retries -----------------------------------------------------------------------------------


def test_429_with_retry_after_seconds_waits_that_long_once(
    fake: responses.RequestsMock, client: FhirClient, waits: Waits
) -> None:
    fake.get(f"{BASE}/Patient/1", status=429, headers={"Retry-After": "2"})
    fake.get(f"{BASE}/Patient/1", json=patient("1"))

    assert client.read("Patient", "1") == patient("1")
    assert waits == [2.0]
    assert len(fake.calls) == 2


def test_503_with_an_http_date_retry_after(
    fake: responses.RequestsMock, client: FhirClient, waits: Waits
) -> None:
    # Frozen at a non-UTC offset: the HTTP-date is GMT and must be compared as such.
    now = datetime(2025, 3, 31, 9, 0, tzinfo=ZoneInfo("America/New_York"))
    when = email.utils.format_datetime(now.astimezone(UTC) + timedelta(seconds=30), usegmt=True)
    fake.get(f"{BASE}/Patient/1", status=503, headers={"Retry-After": when})
    fake.get(f"{BASE}/Patient/1", json=patient("1"))

    with time_machine.travel(now, tick=False):
        client.read("Patient", "1")

    assert waits == [30.0]


def test_503_forever_gives_up_after_max_retries_within_max_wait(
    fake: responses.RequestsMock, waits: Waits
) -> None:
    fake.get(f"{BASE}/Patient/1", status=503)
    client = FhirClient(BASE, sleep=waits, max_retries=4, max_wait=5.0)

    with pytest.raises(FhirTransientError) as info:
        client.read("Patient", "1")

    assert info.value.status == 503
    assert len(fake.calls) == 5  # the first attempt and four retries
    assert waits == [0.5, 1.0, 2.0, 1.5]  # exponential backoff, the last trimmed to the budget
    assert sum(waits) <= 5.0


def test_retry_after_beyond_the_budget_gives_up_at_once(
    fake: responses.RequestsMock, client: FhirClient, waits: Waits
) -> None:
    fake.get(f"{BASE}/Patient/1", status=429, headers={"Retry-After": "3600"})

    with pytest.raises(FhirTransientError) as info:
        client.read("Patient", "1")

    assert info.value.retry_after == 3600.0
    assert waits == []


def test_connection_error_then_success_is_retried(
    fake: responses.RequestsMock, client: FhirClient, waits: Waits
) -> None:
    fake.get(f"{BASE}/Patient/1", body=requests.ConnectionError("reset"))
    fake.get(f"{BASE}/Patient/1", json=patient("1"))

    assert client.read("Patient", "1")["id"] == "1"
    assert waits == [0.5]


def test_plain_post_is_not_resent_after_a_500(
    fake: responses.RequestsMock, client: FhirClient, waits: Waits
) -> None:
    # The server may have written it already; a second POST could duplicate the resource.
    fake.post(f"{BASE}/Flag", status=500)

    with pytest.raises(FhirTransientError):
        client.create({"resourceType": "Flag"})
    assert waits == []


def test_conditional_create_is_resent_after_a_500(
    fake: responses.RequestsMock, client: FhirClient, waits: Waits
) -> None:
    fake.post(f"{BASE}/Flag", status=500)
    fake.post(f"{BASE}/Flag", status=201, json={"resourceType": "Flag", "id": "f"})

    result = client.create({"resourceType": "Flag"}, if_none_exist="identifier=s|k")

    assert result.status == 201
    assert waits == [0.5]


def test_timeouts_are_passed_to_the_session(fake: responses.RequestsMock, waits: Waits) -> None:
    fake.get(f"{BASE}/metadata", json={"resourceType": "CapabilityStatement"})

    FhirClient(BASE, sleep=waits, timeout=(3.0, 30.0)).capabilities()

    # responses records the keyword arguments the session was called with.
    assert fake.calls[0].request.req_kwargs["timeout"] == (3.0, 30.0)  # type: ignore[attr-defined]


# -- error classification ----------------------------------------------------------------------


def test_422_is_rejected_with_outcome_text_and_no_query_or_body(
    fake: responses.RequestsMock, client: FhirClient, caplog: pytest.LogCaptureFixture
) -> None:
    body = outcome("Flag.subject is required")
    fake.put(f"{BASE}/Flag", status=422, json=body)
    caplog.set_level(logging.DEBUG, logger="fhirbridge.sync.client")

    with pytest.raises(FhirRejected) as info:
        client.conditional_update(
            "Flag", "identifier=urn:mrn|SECRET-MRN", {"resourceType": "Flag", "note": "SECRET-NOTE"}
        )

    message = str(info.value)
    assert message == "PUT /fhir/r4/Flag → 422: Flag.subject is required"
    assert info.value.outcome == body
    assert info.value.status == 422
    for secret in ("SECRET", "identifier", "urn:mrn"):
        assert secret not in message
        assert secret not in info.value.url
        assert secret not in caplog.text


def test_error_on_a_search_keeps_the_query_out_of_the_message(
    fake: responses.RequestsMock, client: FhirClient
) -> None:
    fake.get(f"{BASE}/Patient", status=400, json=outcome("unknown parameter"))

    with pytest.raises(FhirRejected) as info:
        list(client.search("Patient", {"identifier": "urn:mrn|SECRET-MRN"}))

    assert "unknown parameter" in str(info.value)
    assert "SECRET" not in str(info.value)


@pytest.mark.parametrize(
    ("status", "error"), [(404, FhirNotFound), (410, FhirNotFound), (403, FhirAuthError)]
)
def test_status_maps_to_error_class(
    fake: responses.RequestsMock, client: FhirClient, status: int, error: type[FhirError]
) -> None:
    fake.get(f"{BASE}/Patient/1", status=status)

    with pytest.raises(error):
        client.read("Patient", "1")
    assert len(fake.calls) == 1


def test_412_is_a_conflict_and_never_retried(
    fake: responses.RequestsMock, client: FhirClient, waits: Waits
) -> None:
    fake.put(f"{BASE}/Flag/f", status=412, json=outcome("version mismatch"))

    with pytest.raises(FhirConflict, match="version mismatch"):
        client.update({"resourceType": "Flag", "id": "f"}, if_match='W/"2"')

    assert len(fake.calls) == 1
    assert waits == []


# -- auth --------------------------------------------------------------------------------------


def test_401_refreshes_once_then_succeeds(fake: responses.RequestsMock, waits: Waits) -> None:
    auth = RefreshingAuth()
    fake.get(f"{BASE}/Patient/1", status=401)
    fake.get(f"{BASE}/Patient/1", json=patient("1"))

    FhirClient(BASE, auth=auth, sleep=waits).read("Patient", "1")

    assert auth.refreshes == 1
    assert [c.request.headers["Authorization"] for c in fake.calls] == ["Bearer t1", "Bearer t2"]
    assert waits == []  # outside the retry budget


def test_401_after_a_refresh_is_an_auth_error(fake: responses.RequestsMock, waits: Waits) -> None:
    auth = RefreshingAuth()
    fake.get(f"{BASE}/Patient/1", status=401)

    with pytest.raises(FhirAuthError):
        FhirClient(BASE, auth=auth, sleep=waits).read("Patient", "1")
    assert auth.refreshes == 1
    assert len(fake.calls) == 2


# -- writes ------------------------------------------------------------------------------------


def test_create_sends_fhir_json_and_if_none_exist(
    fake: responses.RequestsMock, client: FhirClient
) -> None:
    fake.post(
        f"{BASE}/Flag",
        status=200,
        json={"resourceType": "Flag", "id": "old"},
        headers={"ETag": 'W/"4"'},
    )

    result = client.create({"resourceType": "Flag"}, if_none_exist="identifier=urn:x|k1")

    sent = fake.calls[0].request
    assert sent.headers["If-None-Exist"] == "identifier=urn:x|k1"
    assert sent.headers["Content-Type"] == "application/fhir+json"
    assert sent.headers["Accept"] == "application/fhir+json"
    assert isinstance(sent.body, bytes)
    assert orjson.loads(sent.body) == {"resourceType": "Flag"}
    assert result == WriteResult(
        resource={"resourceType": "Flag", "id": "old"}, status=200, location=None, etag='W/"4"'
    )


@pytest.mark.parametrize(("given", "sent"), [('W/"3"', 'W/"3"'), ("3", 'W/"3"')])
def test_update_sends_if_match(
    fake: responses.RequestsMock, client: FhirClient, given: str, sent: str
) -> None:
    fake.put(f"{BASE}/Flag/f", json={"resourceType": "Flag", "id": "f"})

    client.update({"resourceType": "Flag", "id": "f"}, if_match=given)

    assert fake.calls[0].request.headers["If-Match"] == sent


def test_create_with_empty_body_reads_the_location(
    fake: responses.RequestsMock, client: FhirClient
) -> None:
    fake.post(f"{BASE}/Flag", status=201, body="", headers={"Location": "Flag/9/_history/1"})
    fake.get(
        f"{BASE}/Flag/9/_history/1",
        json={"resourceType": "Flag", "id": "9"},
        headers={"ETag": 'W/"1"'},
    )

    result = client.create({"resourceType": "Flag"})

    assert result.resource == {"resourceType": "Flag", "id": "9"}
    assert result.status == 201
    assert result.location == f"{BASE}/Flag/9/_history/1"
    assert result.etag == 'W/"1"'


def test_transaction_posts_to_the_base(fake: responses.RequestsMock, client: FhirClient) -> None:
    fake.post(BASE, json={"resourceType": "Bundle", "type": "transaction-response"})

    reply = client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": []})

    assert reply["type"] == "transaction-response"


def test_update_without_id_is_a_caller_error(client: FhirClient) -> None:
    with pytest.raises(ValueError, match="id"):
        client.update({"resourceType": "Flag"})
