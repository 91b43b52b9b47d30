"""Questionnaire autosave under load, against gunicorn on PostgreSQL, next to a bare Django view.

Run by hand:  .venv/bin/python bench/questionnaire_load.py  [--participants 50 --workers 4]
(needs PostgreSQL; BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/bench_questionnaire,
is dropped and created afresh).

Each of 50 simulated participants opens its personal link and first page (not timed),
autosaves the 25 CD-RISC answers one request at a time (timed), then submits (not timed). The same clients then post 25 times each to a bare
Django view that inserts one row per request. Two phases per target:
  * paced: a participant reads and thinks 1-3 s per item (a quick reader) → latency p50/p95;
  * flat out: no pause at all → throughput (requests per second), and its latency too.
During the paced autosave phase one gunicorn worker is killed (SIGKILL). Clients retry a
failed request as the page's script does; every answer a client saw acknowledged (HTTP 200)
is then looked up in the database, and `lost_answers` counts those missing or different.

When gunicorn imports this module (`bench.questionnaire_load:application`) it is the WSGI
application: the project's URLs plus the bare view.
"""
import argparse
import asyncio
import json
import logging
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/bench_questionnaire"
ITEMS = 25  # CD-RISC-25


# The WSGI side (imported by gunicorn) ---------------------------------------------------------

if __name__ != "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.http import HttpResponse
    from django.middleware.csrf import get_token
    from django.urls import path
    from django.views.decorators.http import require_http_methods

    from config.urls import urlpatterns as project_urlpatterns

    @require_http_methods(["GET", "POST"])
    def bare(request):
        """The yardstick: a plain Django view that inserts one row per request (CSRF-checked too)."""
        if request.method == "GET":
            return HttpResponse(get_token(request), content_type="text/plain")
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO bench_bare (client, item, value) VALUES (%s, %s, %s)",
                [request.POST.get("client", ""), request.POST.get("item", ""), request.POST.get("value", "")],
            )
        return HttpResponse("ok", content_type="text/plain")

    urlpatterns = [path("bench/bare/", bare), *project_urlpatterns]
    settings.ROOT_URLCONF = __name__
    # Started with DEBUG=1 so that static files need no collectstatic; run like production
    # from here on (no per-query debug logging, which would tax the many-query view most).
    settings.DEBUG = False
    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()


# The driver ------------------------------------------------------------------------------------


def percentile(values, q):
    if not values:
        return float("nan")
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


def prepare(url: str, participants: int) -> list[str]:
    """Migrate, build a trial with an open CD-RISC time point, and issue one link per participant."""
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    import datetime

    from django.db import connection
    from django.utils import timezone

    from instruments import services
    from instruments.library import get_instrument
    from instruments.models import TimePointInstrument
    from trial.models import Participant, TimePoint, Trial

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_bare (id bigserial PRIMARY KEY, client text, item text, value text, "
                       "created timestamptz NOT NULL DEFAULT now())")
    trial = Trial.objects.create(slug="bench", title="Load benchmark", language="en")
    time_point = TimePoint.objects.create(trial=trial, slug="pre", name="Pretest", anchor="screening_opens",
                                          window_days=14)
    cdrisc = get_instrument("cdrisc")
    TimePointInstrument.objects.create(time_point=time_point, instrument=cdrisc)
    wording = "item_id,language,text\n" + "".join(f"{i},en,Benchmark statement {i}\n" for i in range(1, ITEMS + 1))
    services.import_wording(trial, cdrisc, wording, by=None)
    for n in range(participants):
        Participant.objects.create(trial=trial, worker_id=f"B{n}", pseudonym=f"B-{n:03d}", name=f"Bench {n}",
                                   enrolled_at=timezone.now())
    services.open_time_point(time_point, opens_at=timezone.now() - datetime.timedelta(hours=1), by=None)
    links = [services.issue_link(a, by=None) for a in time_point.administrations.order_by("participant__pseudonym")]
    connection.close()
    return links


def start_gunicorn(url: str, port: int, workers: int, log_path: Path) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "1", "LOG_LEVEL": "WARNING", "PYTHONPATH": str(REPO)}
    log = open(log_path, "w")  # noqa: SIM115 - the process owns it until the end of the run
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "bench.questionnaire_load:application",
         "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--worker-class", "sync",
         "--backlog", "2048", "--timeout", "60", "--chdir", str(REPO)],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                if len(worker_pids(process.pid)) >= workers:
                    return process
        except OSError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"gunicorn did not start; see {log_path}")


def worker_pids(master: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            children.append(int(stat.parent.name))
    return children


class Participant:
    """One simulated participant: its own cookies (set by hand: httpx keeps Secure ones to itself)."""

    def __init__(self, client, number):
        self.client, self.number, self.cookies = client, number, {}

    def remember(self, response):
        for name, value in response.cookies.items():
            self.cookies[name] = value

    def headers(self, extra=None):
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return {"Cookie": cookie, **(extra or {})}

    async def request(self, method, url, *, retry=True, **kwargs):
        """Send until answered (as the page's script does after a lost connection)."""
        delay = 0.05
        while True:
            try:
                response = await self.client.request(method, url, headers=self.headers(kwargs.pop("headers", None)),
                                                      **kwargs)
            except Exception:  # connection reset by a killed worker, timeouts: try again
                if not retry:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            if response.status_code >= 500 and retry:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            self.remember(response)
            return response


async def questionnaire_run(base, links, *, paced, kill_at=None, master=None, acked=None, latencies=None):
    """Open every link and page first (not timed), then time the autosaves, then submit (not timed)."""
    import httpx

    limits = httpx.Limits(max_connections=len(links) + 10, max_keepalive_connections=len(links) + 10)
    done_requests = 0
    killed = {}

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30, follow_redirects=False) as client:
        async def arrive(number, link):
            person = Participant(client, number)
            opened = await person.request("GET", link)
            assert opened.status_code == 302, opened.status_code
            page = await person.request("GET", "/instruments/q/1/")
            assert page.status_code == 200, page.status_code
            return person

        async def answer_all(person, link):
            nonlocal done_requests
            token = person.cookies["csrftoken"]
            for item in range(1, ITEMS + 1):
                if paced:
                    await asyncio.sleep(random.uniform(1.0, 3.0))
                value = random.randint(0, 4)
                started = time.perf_counter()
                response = await person.request("POST", "/instruments/q/answer/", data={f"cdrisc:{item}": str(value)},
                                                headers={"X-CSRFToken": token, "HX-Request": "true"})
                latencies.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, (response.status_code, response.text[:200])
                acked[(link, str(item))] = value
                done_requests += 1
                if kill_at is not None and done_requests >= kill_at and not killed:
                    victims = worker_pids(master)
                    if victims:
                        killed["pid"] = victims[0]
                        os.kill(victims[0], signal.SIGKILL)

        async def submit(person):
            response = await person.request("POST", "/instruments/q/submit/", data={},
                                            headers={"X-CSRFToken": person.cookies["csrftoken"]})
            assert response.status_code in (302, 409), response.status_code

        people = await asyncio.gather(*(arrive(n, link) for n, link in enumerate(links)))
        started = time.perf_counter()
        await asyncio.gather(*(answer_all(person, link) for person, link in zip(people, links)))
        elapsed = time.perf_counter() - started
        await asyncio.gather(*(submit(person) for person in people))
    return elapsed, killed.get("pid")


async def bare_run(base, clients, *, paced, latencies):
    import httpx

    limits = httpx.Limits(max_connections=clients + 10, max_keepalive_connections=clients + 10)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        async def arrive(number):
            person = Participant(client, number)
            await person.request("GET", "/bench/bare/")
            return person

        async def post_all(number, person):
            token = person.cookies["csrftoken"]
            for item in range(1, ITEMS + 1):
                if paced:
                    await asyncio.sleep(random.uniform(1.0, 3.0))
                started = time.perf_counter()
                response = await person.request("POST", "/bench/bare/", data={"client": number, "item": item, "value": 1},
                                                headers={"X-CSRFToken": token})
                latencies.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.status_code

        people = await asyncio.gather(*(arrive(n) for n in range(clients)))
        started = time.perf_counter()
        await asyncio.gather(*(post_all(n, person) for n, person in enumerate(people)))
        return time.perf_counter() - started


def lost_answers(url: str, acked: dict) -> tuple[int, int]:
    import psycopg

    from instruments.links import token_hash

    lost = 0
    with psycopg.connect(url) as conn:
        for (link, item), value in acked.items():
            token = link.rstrip("/").rsplit("/", 1)[1]
            row = conn.execute(
                "SELECT a.value FROM instruments_answer a JOIN instruments_participantlink l "
                "ON l.administration_id = a.administration_id WHERE l.token_hash = %s AND a.instrument_code = 'cdrisc' "
                "AND a.item_id = %s", [token_hash(token), item],
            ).fetchone()
            if row is None or row[0] != value:
                lost += 1
        submissions = conn.execute("SELECT count(*) FROM instruments_submission").fetchone()[0]
    return lost, submissions


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=50)
    parser.add_argument("--workers", type=int, default=max(2, (os.cpu_count() or 1) * 2))
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    random.seed(2024)

    recreate_database(url)
    links_paced = prepare(url, args.participants * 2)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    links_flat, links_paced = links_paced[args.participants:], links_paced[:args.participants]
    port = free_port()
    log_path = REPO / "test-output" / "bench-questionnaire-gunicorn.log"
    log_path.parent.mkdir(exist_ok=True)
    server = start_gunicorn(url, port, args.workers, log_path)
    base = f"http://127.0.0.1:{port}"
    try:
        acked, paced_ms, flat_ms, bare_paced_ms, bare_flat_ms = {}, [], [], [], []
        total = args.participants * ITEMS
        paced_s, killed = asyncio.run(questionnaire_run(base, links_paced, paced=True, kill_at=total // 2,
                                                        master=server.pid, acked=acked, latencies=paced_ms))
        flat_s, _ = asyncio.run(questionnaire_run(base, links_flat, paced=False, acked=acked, latencies=flat_ms))
        bare_paced_s = asyncio.run(bare_run(base, args.participants, paced=True, latencies=bare_paced_ms))
        bare_flat_s = asyncio.run(bare_run(base, args.participants, paced=False, latencies=bare_flat_ms))
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    lost, submissions = lost_answers(url, acked)

    autosave_rps = total / flat_s
    bare_rps = total / bare_flat_s
    print(f"gunicorn: {args.workers} sync workers, {os.cpu_count()} CPUs, PostgreSQL; {args.participants} participants × {ITEMS} answers")
    print(f"killed worker pid {killed} after {total // 2} paced autosaves")
    print(f"autosave paced    p50 {percentile(paced_ms, 50):7.1f} ms  p95 {percentile(paced_ms, 95):7.1f} ms  ({paced_s:.1f} s)")
    print(f"bare view paced   p50 {percentile(bare_paced_ms, 50):7.1f} ms  p95 {percentile(bare_paced_ms, 95):7.1f} ms  ({bare_paced_s:.1f} s)")
    print(f"autosave flat out p50 {percentile(flat_ms, 50):7.1f} ms  p95 {percentile(flat_ms, 95):7.1f} ms  {autosave_rps:7.1f} req/s")
    print(f"bare view flat out p50 {percentile(bare_flat_ms, 50):6.1f} ms  p95 {percentile(bare_flat_ms, 95):7.1f} ms  {bare_rps:7.1f} req/s")
    print(f"throughput ratio autosave / bare: {autosave_rps / bare_rps:.2f}")
    print(f"acknowledged answers {len(acked)}, lost {lost}; submissions {submissions} of {2 * args.participants}")
    print(f"mean paced autosave {statistics.mean(paced_ms):.1f} ms")
    print(json.dumps({
        "autosave_p50_ms": round(percentile(paced_ms, 50), 1),
        "autosave_p95_ms": round(percentile(paced_ms, 95), 1),
        "bare_p95_ms": round(percentile(bare_paced_ms, 95), 1),
        "throughput_ratio_vs_bare": round(autosave_rps / bare_rps, 2),
        "lost_answers": lost,
        "autosave_flat_p95_ms": round(percentile(flat_ms, 95), 1),
        "bare_flat_p95_ms": round(percentile(bare_flat_ms, 95), 1),
        "autosave_rps": round(autosave_rps, 1),
        "bare_rps": round(bare_rps, 1),
    }))


if __name__ == "__main__":
    main()
