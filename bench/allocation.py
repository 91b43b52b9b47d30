"""Allocation over HTTP under concurrency, against gunicorn on PostgreSQL, next to a bare view.

Run by hand:  .venv/bin/python bench/allocation.py  [--clients 20 --per-client 25 --workers N]
(needs PostgreSQL; BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/bench_allocation,
is dropped and created afresh).

20 clients (one researcher's session each, as 20 browser tabs would be) POST
/api/trials/<slug>/participants/<pseudonym>/allocation/ for enrolled participants of a trial
with a locked permuted-block scheme, all at once: every request locks its participant's row and
claims the next free slot of the sequence (SKIP LOCKED), in one transaction. The same clients then POST as often to a bare Django view that inserts one row.
Printed: p50/p99 latency of both, throughput of both and their ratio; the run also checks that
every allocation answered 201 and that no slot was used twice. Goal (issue): allocation p99
< 100 ms and throughput ≥ 0.5 × the bare view.

The harness, fair to both sides (they share all of it):
- the client runs on the same two cores as the server it measures, so it is lean: a minimal
  HTTP/1.1 client on asyncio streams, a new connection per request (gunicorn's sync workers
  close it after each answer), latency measured from connect to the last byte. httpx, used
  before, cost about 2 ms of CPU per request, a fifth of an allocation's whole budget;
  `--client httpx` still runs it for comparison;
- the driver's heap (Django, loaded to prepare the data) is frozen for the garbage collector,
  whose full pass otherwise stalled the event loop, and so every client's clock, for ~0.1 s;
- the database is ANALYZEd once the data exists, as a live one would be: without statistics
  the planner may read all of a trial's participants through the trial index instead of the
  (trial, pseudonym) unique index.
`--server-side-binding` serves both sides with DATABASE_SERVER_SIDE_BINDING=1 (prepared
statements; opt-in, off by default and in the default figures: see the README).

When gunicorn imports this module (`bench.allocation:application`) it is the WSGI application:
the project's URLs plus the bare view.
"""
import argparse
import asyncio
import gc
import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/bench_allocation"
TRIAL = "bench-allocation"


# The WSGI side (imported by gunicorn) ---------------------------------------------------------

if __name__ != "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection, transaction
    from django.http import HttpResponse
    from django.urls import path
    from django.views.decorators.http import require_POST

    from config.urls import urlpatterns as project_urlpatterns

    @require_POST
    def bare(request):
        """The yardstick: the same middleware (session, CSRF), one row inserted in a transaction."""
        if not request.user.is_authenticated:
            return HttpResponse(status=403)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("INSERT INTO bench_bare (client) VALUES (%s)", [request.POST.get("client", "")])
        return HttpResponse("ok", status=201, content_type="text/plain")

    urlpatterns = [path("bench/bare/", bare), *project_urlpatterns]
    settings.ROOT_URLCONF = __name__
    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()


# The driver ------------------------------------------------------------------------------------


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def recreate_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def prepare(url: str, clients: int, participants: int) -> tuple[list[str], list[dict]]:
    """Migrate; a trial with a locked block scheme and `participants` enrolled; one session per client."""
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.auth.models import Group
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection
    from django.middleware.csrf import _get_new_csrf_string
    from django.utils import timezone

    from trial import services
    from trial.models import Participant, Trial

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_bare (id bigserial PRIMARY KEY, client text, created timestamptz NOT NULL DEFAULT now())")
    user = get_user_model().objects.create_user("bench-researcher", password="bench-Secret-123")
    user.groups.add(Group.objects.get(name="researcher"))
    trial = services.create_trial_from_template("burnout-three-arm", slug=TRIAL, by=user)
    services.update_randomization(trial, values={"method": "blocks", "block_sizes": [3, 6], "list_length": participants + 30}, by=user)
    Participant.objects.bulk_create(
        Participant(trial=trial, worker_id=f"B{n:05d}", pseudonym=f"B{n:05d}", name=f"Bench {n}", eligible=True,
                    enrolled_at=timezone.now())
        for n in range(participants)
    )
    Trial.objects.filter(pk=trial.pk).update(status="enrolling")
    services.lock_randomization(trial, by=user, seed="bench")
    sessions = []
    for _ in range(clients):
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[-1]  # the one a login by password records
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        sessions.append({"sessionid": store.session_key, "csrftoken": _get_new_csrf_string()})
    pseudonyms = list(trial.participants.order_by("pseudonym").values_list("pseudonym", flat=True))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    connection.close()
    return pseudonyms, sessions


# Production-like settings for both the preparing process and gunicorn: sessions are signed with
# SECRET_KEY, so both must share it.
SERVER_ENV = {
    "DEBUG": "0", "SECRET_KEY": "bench-only-" + "k" * 60, "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "0",
    "BEHIND_TLS_PROXY": "0", "SECURE_HSTS_SECONDS": "0", "LOG_LEVEL": "WARNING",
}


def start_gunicorn(url: str, port: int, workers: int, log_path: Path, *, server_side_binding: bool = False) -> subprocess.Popen:
    env = {**os.environ, **SERVER_ENV, "DATABASE_URL": url, "PYTHONPATH": str(REPO),
           "DATABASE_SERVER_SIDE_BINDING": "1" if server_side_binding else "0"}
    env.pop("CELERY_BROKER_URL", None)
    log = open(log_path, "w")  # noqa: SIM115 - the process owns it until the end of the run
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "bench.allocation:application",
         "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--worker-class", "sync",
         "--backlog", "2048", "--timeout", "60", "--chdir", str(REPO)],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with {process.returncode}; see {log_path}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"gunicorn did not start; see {log_path}")


async def raw_post(port: int, url: str, headers: str, data: dict | None) -> int:
    """POST over a fresh connection; the status code once the whole answer is read."""
    body = "&".join(f"{k}={v}" for k, v in (data or {}).items()).encode()  # bench values need no escaping
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"POST {url} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Content-Length: {len(body)}\r\n"
                     "Content-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n\r\n".encode() + body)
        answer = await reader.read()  # the server closes after the answer
    finally:
        writer.close()
    return int(answer[9:12])


async def phase(base, sessions, jobs, *, client: str = "raw"):
    """Every client posts its jobs one after another; all clients at once. Returns latencies (ms),
    statuses and the wall time."""
    if client == "raw":
        port = int(base.rsplit(":", 1)[1])

        async def one(session, urls):
            headers = f"Cookie: sessionid={session['sessionid']}; csrftoken={session['csrftoken']}\r\nX-CSRFToken: {session['csrftoken']}\r\n"
            for url, data in urls:
                started = time.perf_counter()
                statuses.append(await raw_post(port, url, headers, data))
                latencies.append((time.perf_counter() - started) * 1000)

        latencies, statuses = [], []
        started = time.perf_counter()
        await asyncio.gather(*(one(s, j) for s, j in zip(sessions, jobs, strict=True)))
        return latencies, statuses, time.perf_counter() - started

    import httpx

    latencies, statuses = [], []
    limits = httpx.Limits(max_connections=len(sessions) + 5, max_keepalive_connections=len(sessions) + 5)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        async def one(session, urls):
            # Cookies set by hand: httpx keeps Secure cookies (DEBUG=0) to itself over http.
            headers = {"Cookie": f"sessionid={session['sessionid']}; csrftoken={session['csrftoken']}",
                       "X-CSRFToken": session["csrftoken"]}
            for url, data in urls:
                started = time.perf_counter()
                response = await client.post(url, data=data, headers=headers)
                latencies.append((time.perf_counter() - started) * 1000)
                statuses.append(response.status_code)

        started = time.perf_counter()
        await asyncio.gather(*(one(s, j) for s, j in zip(sessions, jobs, strict=True)))
        elapsed = time.perf_counter() - started
    return latencies, statuses, elapsed


def slots_used_twice(url: str) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(url) as conn:
        allocations, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT slot_id) FROM trial_allocation a JOIN trial_participant p ON p.id = a.participant_id "
            "JOIN trial_trial t ON t.id = p.trial_id WHERE t.slug = %s", [TRIAL]
        ).fetchone()
    return allocations, allocations - distinct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--per-client", type=int, default=25, help="allocations (and bare inserts) per client")
    parser.add_argument("--warmup", type=int, default=2, help="untimed requests per client before each phase")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                        help="gunicorn sync workers (default: one per CPU; the work is CPU-bound)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating allocation / bare rounds")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw",
                        help="HTTP client of both sides (raw: minimal asyncio streams, the lean default)")
    parser.add_argument("--server-side-binding", action="store_true",
                        help="serve with DATABASE_SERVER_SIDE_BINDING=1 (opt-in prepared statements), both sides")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    os.environ.update(SERVER_ENV)
    os.environ.pop("CELERY_BROKER_URL", None)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    recreate_database(url)
    per_client = args.warmup + args.per_client
    pseudonyms, sessions = prepare(url, args.clients, args.clients * per_client)
    # The driver now holds Django's heap (from `prepare`): a full collection of it stalls the
    # clients' event loop, and so every clock running, for about 0.1 s. Frozen, it is left alone.
    gc.collect()
    gc.freeze()
    port = free_port()
    (REPO / "test-output").mkdir(exist_ok=True)
    server = start_gunicorn(url, port, args.workers, REPO / "test-output" / "bench-allocation-gunicorn.log",
                            server_side_binding=args.server_side_binding)
    base = f"http://127.0.0.1:{port}"
    try:
        def alloc_jobs(offset, count):
            return [
                [(f"/api/trials/{TRIAL}/participants/{pseudonyms[c * per_client + offset + i]}/allocation/", None) for i in range(count)]
                for c in range(args.clients)
            ]

        def bare_jobs(count):
            return [[("/bench/bare/", {"client": str(c)}) for _ in range(count)] for c in range(args.clients)]

        asyncio.run(phase(base, sessions, alloc_jobs(0, args.warmup), client=args.client))
        asyncio.run(phase(base, sessions, bare_jobs(args.warmup), client=args.client))
        client_cpu = time.process_time()
        # Alternating rounds, so a change in the machine's load touches both sides alike.
        alloc, alloc_status, alloc_wall, bare_lat, bare_status, bare_wall = [], [], 0.0, [], [], 0.0
        done = 0
        for round_ in range(args.rounds):
            count = args.per_client // args.rounds + (1 if round_ < args.per_client % args.rounds else 0)
            latencies, statuses, wall = asyncio.run(phase(base, sessions, alloc_jobs(args.warmup + done, count), client=args.client))
            alloc += latencies
            alloc_status += statuses
            alloc_wall += wall
            latencies, statuses, wall = asyncio.run(phase(base, sessions, bare_jobs(count), client=args.client))
            bare_lat += latencies
            bare_status += statuses
            bare_wall += wall
            done += count
        client_cpu = (time.process_time() - client_cpu) / (len(alloc) + len(bare_lat)) * 1000
    finally:
        server.terminate()
        server.wait(timeout=30)
    allocations, reused = slots_used_twice(url)
    bad = [s for s in alloc_status if s != 201] + [s for s in bare_status if s != 201]
    alloc_rps, bare_rps = len(alloc) / alloc_wall, len(bare_lat) / bare_wall
    figures = {
        "alloc_p50_ms": round(percentile(alloc, 50), 1),
        "alloc_p99_ms": round(percentile(alloc, 99), 1),
        "bare_p50_ms": round(percentile(bare_lat, 50), 1),
        "bare_p99_ms": round(percentile(bare_lat, 99), 1),
        "alloc_per_s": round(alloc_rps, 1),
        "bare_per_s": round(bare_rps, 1),
        "throughput_ratio_vs_bare": round(alloc_rps / bare_rps, 3),
    }
    print(f"clients {args.clients} × {args.per_client} requests, gunicorn {args.workers} sync workers, PostgreSQL; "
          f"client {args.client} ({client_cpu:.2f} ms CPU per request, both sides); "
          f"server-side binding {'ON (opt-in)' if args.server_side_binding else 'off (default)'}")
    print(f"allocation: p50 {figures['alloc_p50_ms']} ms, p99 {figures['alloc_p99_ms']} ms, {figures['alloc_per_s']}/s")
    print(f"bare view:  p50 {figures['bare_p50_ms']} ms, p99 {figures['bare_p99_ms']} ms, {figures['bare_per_s']}/s")
    print(f"throughput ratio (allocation / bare): {figures['throughput_ratio_vs_bare']}")
    print(f"allocations {allocations}, slots used twice {reused}, non-201 answers {len(bad)}")
    print(f"goal: p99 < 100 ms {'met' if figures['alloc_p99_ms'] < 100 else 'NOT met'}; "
          f"ratio ≥ 0.5 {'met' if figures['throughput_ratio_vs_bare'] >= 0.5 else 'NOT met'}")
    if bad or reused:
        raise SystemExit(f"failed: {len(bad)} bad answers, {reused} slots reused")
    print(json.dumps({k: figures[k] for k in ("alloc_p50_ms", "alloc_p99_ms", "bare_p99_ms", "throughput_ratio_vs_bare")}))


if __name__ == "__main__":
    main()
