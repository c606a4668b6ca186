"""`fhirbridge sync` killed with SIGKILL at random points, then resumed, ends with the clean set.

Real processes (the console entry point, as an operator runs it), a real SQLite file, the real
FHIR test server. Each kill comes at a random amount of progress (seeded), anywhere in a page, a
flush or a cursor write; the resumed run must end with exactly the set a clean run stores.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from fhirbridge.sync.incremental import ALL_TYPES
from tests.sync_support import cursors, generated, put_all, server_resources, stored_versions

pytestmark = pytest.mark.fhir_server

KILLS = 6
MAX_RUNS = 10


def _count(db: str) -> int:
    engine = create_engine(db)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM raw_resource")).scalar_one())
    except OperationalError:  # the schema is not there yet
        return 0
    finally:
        engine.dispose()


def _at(instant: str) -> datetime:
    return datetime.fromisoformat(instant)


def _config(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "fhirbridge.toml"
    config.write_text(
        f'[[connections]]\nname = "ehr"\nbase_url = "{url}"\npage_size = 10\n'
        # No overlap window: every resource here is minutes old, so a 5-minute window would
        # re-read all of it on each resume; without one, only the cursors protect the data.
        "overlap_seconds = 0\n",
        encoding="utf-8",
    )
    return config


def _start(config: Path, db: str, cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from fhirbridge.cli import console; console()",
            "sync",
            "--config",
            str(config),
            "--db",
            db,
        ],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )


def test_sigkill_at_random_points_then_resume_ends_with_the_clean_set(
    fhir_base_url: str, tmp_path: Path
) -> None:
    put_all(fhir_base_url, generated(patients=60, per_patient=50))  # 60 + 60 + 3,000 resources
    updated = server_resources(fhir_base_url, ALL_TYPES)
    truth = set(updated)
    assert len(truth) == 3120
    config = _config(tmp_path, fhir_base_url)

    clean_db = f"sqlite:///{tmp_path / 'clean.db'}"
    clean_run = _start(config, clean_db, tmp_path)
    _, err = clean_run.communicate(timeout=300)
    assert clean_run.returncode == 0, err
    assert stored_versions(clean_db) == truth

    # Kill points: random amounts of progress (drawn with a seed), not wall-clock guesses, so the
    # kills land mid-sync however loaded the machine is. The kill comes within one poll (20 ms)
    # of reaching the amount: anywhere inside a page, a flush or a cursor write.
    db = f"sqlite:///{tmp_path / 'killed.db'}"
    rng = random.Random(6)
    stored: set[tuple[str, str, str | None]] = set()
    kills = 0
    for _ in range(MAX_RUNS):
        # At least 30 pages before the end, so the kill lands before the run can finish.
        last = len(truth) - 300
        target = rng.randint(min(len(stored) + 1, last), last)
        process = _start(config, db, tmp_path)
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline:
            if (tmp_path / "killed.db").exists() and _count(db) >= target:
                break
            time.sleep(0.02)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.communicate(timeout=60)
        before = len(stored)
        stored = stored_versions(db)
        assert stored <= truth  # never anything the server does not hold
        assert before <= len(stored)  # nothing lost
        # A cursor never runs ahead of the data: all the server holds from before it is stored
        # (ties at the cursor's millisecond may sit on the next page; `ge` re-reads them).
        for (_, rtype), cursor in cursors(db).items():
            covered = {r for r, at in updated.items() if r[0] == rtype and _at(at) < _at(cursor)}
            assert covered <= stored, (rtype, cursor)
        if kills == KILLS or len(stored) == len(truth):
            break
    assert kills == KILLS  # every kill landed before the sync could finish

    resumed = _start(config, db, tmp_path)
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert stored_versions(db) == truth
