"""Run `make demo` twice as a person would and check what it serves; exits non-zero on any failure.

First run: the database of the order of choice (`--expect-path` names the one it must be), migrated and
seeded, the API on :8000; a member of Acme signs in, lists contacts, and gets 404 for a Globex contact;
an Acme admin queues a job and the demo's worker runs it; Acme's connection to the sample warehouse tests
ok and answers a query, an admin adds, tests and deletes another, and the reproductions of issue 24
(Atlas's own role, a maintenance database, Atlas's own database; a key inviting an admin, a revoked key's
recurring job, a schedule naming 30 February) are refused; Globex sees none of it.
Stopping the demo leaves none of its processes.
Then the demo and its kept cluster are stopped, and the second run must find the first run's data (no
new seeding, the same contacts). `make test` runs it under scripts/without_postgres.sh to prove the
embedded path; it needs port 8000 free (there, its own network namespace).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from app.config import Settings
from scripts import demo_warehouse

ROOT = Path(__file__).resolve().parents[1]

BASE = "http://127.0.0.1:8000"
PASSWORD = "atlas-demo-password"


def call(method: str, path: str, *, token: str | None = None, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(BASE + path, method=method, data=json.dumps(body).encode() if body else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def sign_in(email: str) -> str:
    status, body = call("POST", "/api/auth/sign-in/email", body={"email": email, "password": PASSWORD})
    assert status == 200, f"sign-in of {email}: {status} {body}"
    return str(body["token"])


def start_demo(log: Path, *, timeout_s: float) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        demo = subprocess.Popen(["make", "--no-print-directory", "demo"], cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if demo.poll() is not None:
            raise SystemExit(f"make demo exited with {demo.returncode}:\n{log.read_text()}")
        try:
            call("GET", "/api/v1/contacts")
            return demo
        except (urllib.error.URLError, ConnectionError, TimeoutError):  # TimeoutError: a worker still booting
            time.sleep(0.5)
    stop_demo(demo)
    raise SystemExit(f"make demo did not serve within {timeout_s:.0f} s:\n{log.read_text()}")


def stop_demo(demo: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the demo's process group; the server and its job worker must both be gone."""
    os.killpg(demo.pid, signal.SIGTERM)
    demo.wait(timeout=60)
    deadline = time.monotonic() + 30
    while True:
        try:
            os.killpg(demo.pid, 0)
        except ProcessLookupError:
            return
        assert time.monotonic() < deadline, "a process of make demo outlived it by 30 s"
        time.sleep(0.2)


def a_job_runs() -> None:
    """The demo's `atlas worker` runs a job an Acme admin queues (a job nobody runs stays queued)."""
    admin = sign_in("admin@acme.test")
    status, job = call("POST", "/api/v1/jobs", token=admin, body={"kind": "reprofile"})
    assert status == 201, f"queueing a job: {status} {job}"
    deadline = time.monotonic() + 120
    while job["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, f"the job was not run within 120 s: {job}"
        time.sleep(0.5)
        status, job = call("GET", f"/api/v1/jobs/{job['id']}", token=admin)
        assert status == 200, f"reading the job: {status} {job}"
    assert job["status"] == "succeeded", f"the job ended {job['status']}: {job}"


def a_connection_works(run: int) -> None:
    """Acme's warehouse connection answers; an admin adds, tests and deletes one; the attacks are refused."""
    admin, member, globex = sign_in("admin@acme.test"), sign_in("member@acme.test"), sign_in("admin@globex.test")
    connections = "/api/v1/admin/connections"
    status, listing = call("GET", connections, token=admin)
    assert status == 200, f"listing Acme's connections: {status} {listing}"
    warehouse = next((c for c in listing["connections"] if c["id"] == demo_warehouse.CONNECTION), None)
    assert warehouse is not None and warehouse["hasPassword"], f"Acme has no warehouse connection: {listing}"
    status, tested = call("POST", f"{connections}/{demo_warehouse.CONNECTION}/test", token=admin)
    assert status == 200 and tested["ok"], f"testing the warehouse connection: {status} {tested}"
    status, answer = call("POST", "/api/v1/query", token=member,
                          body={"connectionId": demo_warehouse.CONNECTION, "sql": demo_warehouse.QUERY})
    assert status == 200 and len(answer["rows"]) == len(demo_warehouse.REGIONS), f"warehouse query: {status} {answer}"

    url = warehouse["url"].split("?")[0]
    password = demo_warehouse.kept()["warehouse_password"]
    name = f"check-{run}"
    status, made = call("POST", connections, token=admin, body={"id": name, "url": url, "password": password})
    assert status == 201, f"adding a connection: {status} {made}"
    status, tested = call("POST", f"{connections}/{name}/test", token=admin)
    assert status == 200 and tested["ok"], f"testing the new connection: {status} {tested}"
    status, _ = call("DELETE", f"{connections}/{name}", token=admin)
    assert status == 204, f"deleting the new connection: {status}"

    database_url = subprocess.run([sys.executable, "scripts/demo_database.py"], cwd=ROOT, check=True,
                                  capture_output=True, text=True).stdout.strip()
    own = Settings.from_mapping({"database_url": database_url})
    server = url.split("@", 1)[1].rsplit("/", 1)[0]
    for attack, expected in ((f"postgresql://{own.database.roles.app}@{server}/{demo_warehouse.DBNAME}", "validation_error"),
                             (url.replace(demo_warehouse.DBNAME, "template1"), "connection_host_not_allowed"),
                             (url.replace(demo_warehouse.DBNAME, "postgres"), "connection_host_not_allowed"),
                             (url.rsplit("/", 1)[0] + "/" + str(database_url.rsplit("/", 1)[1]),
                              "connection_host_not_allowed")):
        status, refused = call("POST", connections, token=admin, body={"id": "attack", "url": attack})
        assert status == 400 and refused.get("code") == expected, f"{attack}: {status} {refused}"
    status, theirs = call("GET", f"{connections}/{demo_warehouse.CONNECTION}", token=globex)
    assert status == 404, f"Globex reading Acme's connection: {status} {theirs}"


def a_revoked_key_leaves_nothing(run: int) -> None:
    """Issue 24 items 5, 6, 9 on the demo: a key may not invite (an admin invitation would outlive it), its
    recurring job is canceled with it, and a schedule naming 30 February is a 400, not a 500."""
    admin, owner = sign_in("admin@acme.test"), sign_in("owner@acme.test")
    status, key = call("POST", "/api/v1/admin/api-keys", token=admin, body={"name": f"leaked {run}", "role": "admin"})
    assert status == 201, f"minting a key: {status} {key}"
    status, refused = call("POST", "/api/auth/organization/invite-member", token=key["key"],
                           body={"email": f"mallory-{run}@evil.example", "role": "admin"})
    assert status == 403 and refused.get("code") == "API_KEY_NOT_ALLOWED", f"a key inviting: {status} {refused}"
    status, job = call("POST", "/api/v1/jobs", token=key["key"], body={
        "kind": "scheduled_query", "payload": {"sql": "SELECT 1"}, "schedule": "* * * * *"})
    assert status == 201, f"a key's scheduled query: {status} {job}"
    status, revoked = call("DELETE", f"/api/v1/admin/api-keys/{key['id']}", token=owner)
    assert status == 200 and revoked["revokedAt"], f"revoking: {status} {revoked}"
    status, job = call("GET", f"/api/v1/jobs/{job['id']}", token=admin)
    assert status == 200 and job["status"] == "canceled", f"the revoked key's job: {status} {job}"
    status, invitations = call("GET", "/api/auth/organization/list-invitations", token=owner)
    assert status == 200 and not any(i["email"].startswith("mallory") for i in invitations), invitations
    status, refused = call("POST", "/api/v1/jobs", token=admin, body={
        "kind": "scheduled_query", "payload": {"sql": "SELECT 1"}, "schedule": "0 0 30 2 *"})
    assert status == 400 and "schedule" in refused.get("fields", {}), f"30 February: {status} {refused}"


def what_acme_sees() -> list[str]:
    acme, globex = sign_in("member@acme.test"), sign_in("member@globex.test")
    status, page = call("GET", "/api/v1/contacts?limit=100", token=acme)
    assert status == 200 and page["data"], f"Acme's contacts: {status} {page}"
    status, theirs = call("GET", "/api/v1/contacts?limit=1", token=globex)
    assert status == 200 and theirs["data"], f"Globex's contacts: {status} {theirs}"
    status, _ = call("GET", f"/api/v1/contacts/{theirs['data'][0]['id']}", token=acme)
    assert status == 404, f"Acme asking for Globex's contact got {status}, not 404"
    return sorted(row["id"] for row in page["data"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--expect-path", help="the path of choice the demo must take (embedded, local, ...)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds each start may take")
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="atlas-demo-check-"))
    runs = []
    for run in (1, 2):
        started = time.monotonic()
        demo = start_demo(logs / f"run{run}.log", timeout_s=args.timeout)
        served_s = time.monotonic() - started
        try:
            seen = what_acme_sees()
            a_job_runs()
            a_connection_works(run)
            a_revoked_key_leaves_nothing(run)
        finally:
            stop_demo(demo)
            subprocess.run([sys.executable, "scripts/demo_database.py", "--stop"], cwd=ROOT, check=True)
        output = (logs / f"run{run}.log").read_text()
        runs.append((seen, output))
        print(f"make demo run {run}: served in {served_s:.1f} s; Acme sees {len(seen)} contacts, "
              "Globex's contact answers 404, its worker ran a job, its warehouse connection answers, "
              "a revoked key left no job or invitation", flush=True)
    (first, out1), (second, out2) = runs
    if args.expect_path:
        for output in (out1, out2):
            assert f"PostgreSQL: {args.expect_path} (" in output, f"not the {args.expect_path} path:\n{output}"
    assert "seeded Acme, Globex" in out1, f"first run did not seed:\n{out1}"
    assert "seeded" not in out2 and first == second, f"second run did not find the first run's data:\n{out2}"
    shutil.rmtree(logs)
    print(f"make demo: {'path ' + args.expect_path + ', ' if args.expect_path else ''}"
          "seeded once, served twice, the second run on the first run's data")
    return 0


if __name__ == "__main__":
    sys.exit(main())
