"""CDS Hooks latency under load: `patient-view` with prefetch against the production server.

Starts `fhirbridge serve` (gunicorn, 2 workers x 4 threads) on 127.0.0.1, with a CDS client
whose JWKS this script serves, and drives it with wrk at 20 concurrent connections. Every
request carries its own signed JWT (unique jti, as an EHR sends), pre-generated so signing is
not measured. Baseline in the same run: GET /health on the same server (the framework's floor).

Run by hand: `python bench/cds_hooks.py [--seconds 15] [--connections 20]` (needs wrk:
`apt-get install wrk`). Target: p95 < 50 ms for patient-view at 20 concurrent clients.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fhirbridge.examples import REFERENCE_DATE, rebase
from tests.api.cds_client import EhrKeys, example_prefetch, hook_request, serve_json

LUA = r"""
-- Each wrk thread takes its own slice of the tokens, so no jti is ever sent twice.
local tokens = {}
local body = ""
local counter = 0
local threads = 0
function setup(thread)
  thread:set("index", threads)
  threads = threads + 1
end
function init(args)
  local all = {}
  for line in io.lines(args[1]) do all[#all + 1] = line end
  local f = io.open(args[2], "rb"); body = f:read("*a"); f:close()
  local slices = tonumber(args[3])
  for i = index + 1, #all, slices do tokens[#tokens + 1] = all[i] end
end
function request()
  counter = counter + 1
  if counter > #tokens then counter = 1; io.stderr:write("tokens exhausted\n") end
  local token = tokens[counter]
  return wrk.format("POST", nil, {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token}, body)
end
function done(summary, latency, requests)
  io.write(string.format("RESULT p50=%.2f p95=%.2f p99=%.2f requests=%d non2xx=%d errors=%d\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.requests, summary.errors.status, summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout))
end
"""
THREADS = 2
GET_LUA = LUA.replace(
    'wrk.format("POST", nil, {["Content-Type"] = "application/json",\n'
    '    ["Authorization"] = "Bearer " .. token}, body)',
    'wrk.format("GET", nil)',
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wrk(
    url: str, script: Path, args: list[str], seconds: int, connections: int
) -> dict[str, float]:
    command = [
        "wrk",
        f"-t{THREADS}",
        f"-c{connections}",
        f"-d{seconds}s",
        "-s",
        str(script),
        url,
        "--",
        *args,
    ]
    out = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    match = re.search(r"RESULT (.*)", out)
    if match is None:
        raise SystemExit(f"wrk printed no result:\n{out}")
    return {k: float(v) for k, v in (p.split("=") for p in match.group(1).split())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=20)
    args = parser.parse_args()
    keys = EhrKeys()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/cds-services/fhirbridge-patient-view"
    with tempfile.TemporaryDirectory() as tmp, serve_json(keys.jwks) as jwks_url:
        root = Path(tmp)
        (root / "fhirbridge.toml").write_text(
            f'[cds_hooks]\nbase_url = "{base}"\n'
            f'[[cds_hooks.clients]]\nissuer = "https://ehr.example.org"\njwks_url = "{jwks_url}"\n'
        )
        # The example data moved to today, as `fhirbridge run` does, so the cards are current.
        shift = (date.today() - REFERENCE_DATE).days
        prefetch = {k: rebase(v, shift) for k, v in example_prefetch("ex-pt-03").items()}
        body = hook_request("patient-view", "ex-pt-03", prefetch=prefetch)
        (root / "body.json").write_text(json.dumps(body))
        count = 1500 * args.seconds  # more than the server can take in that time
        print(f"signing {count} ES384 tokens ...", flush=True)
        (root / "tokens.txt").write_text(
            "\n".join(keys.token(url, exp_in=3600) for _ in range(count))
        )
        (root / "post.lua").write_text(LUA)
        (root / "get.lua").write_text(GET_LUA)
        server = subprocess.Popen(
            [
                "fhirbridge",
                "serve",
                "--port",
                str(port),
                "--db",
                f"sqlite:///{root / 'bench.db'}",
                "--config",
                str(root / "fhirbridge.toml"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ},
        )
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    urllib.request.urlopen(f"{base}/health", timeout=1).read()
                    break
                except OSError:
                    time.sleep(0.2)
            with urllib.request.urlopen(
                urllib.request.Request(
                    url,
                    data=json.dumps(body).encode(),
                    method="POST",
                    headers={
                        "Content-Type": "application/json",
                        "Authorization": f"Bearer {keys.token(url)}",
                    },
                )
            ) as response:
                cards = json.load(response)["cards"]
            print(
                f"patient-view for ex-pt-03 returns {len(cards)} card(s): "
                f"{[c['source']['topic']['code'] for c in cards]}"
            )
            tokens = [str(root / "tokens.txt"), str(root / "body.json")]
            health = wrk(
                f"{base}/health",
                root / "get.lua",
                [*tokens, str(THREADS)],
                args.seconds,
                args.connections,
            )
            hooks = wrk(
                url, root / "post.lua", [*tokens, str(THREADS)], args.seconds, args.connections
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(
        f"\n{args.connections} connections, {args.seconds} s each, 2 gunicorn workers x 4 threads"
    )
    print(f"{'endpoint':<28}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'non-2xx':>9}")
    for name, r in (("GET /health (baseline)", health), ("POST patient-view", hooks)):
        print(
            f"{name:<28}{r['requests'] / args.seconds:>9.0f}{r['p50']:>9.2f}{r['p95']:>9.2f}"
            f"{r['p99']:>9.2f}{r['non2xx']:>9.0f}"
        )
    print(f"\npatient-view p95 / health p95: {hooks['p95'] / max(health['p95'], 0.01):.1f}x")
    verdict = "PASS" if hooks["p95"] < 50 and hooks["non2xx"] == 0 else "FAIL"
    print(f"{verdict}: patient-view p95 {hooks['p95']:.1f} ms (target < 50 ms, no errors)")


if __name__ == "__main__":
    main()
