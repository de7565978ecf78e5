"""The jobs site's job requests against the runtime's plain way in, side by side in one run.

1. Submits per second through a real `orchestrator runtime serve`, from a few client threads:
   - cold: each request on a commit the server has not seen (a 200-file repository: resolve the
     branch with git, `git archive` the commit, store the study, validate project.yaml, make the job);
   - warm: requests on one commit already stored (git still resolves the branch each time);
   - plain: what a client does without the jobs site: pack the same 200 files as tar.gz, upload
     them as an object and create the pipeline job (POST /objects, PUT content, POST /jobs).
2. Submit -> first action running, at a real site (dagster-daemon): a job request on a new commit
   vs a plain upload + job, alternating, each waited to its end before the next.

    .venv/bin/python bench/jobsite.py [--backends sqlite,postgresql] [--requests 60] [--threads 4]
"""

import argparse
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _site import (  # noqa: E402
    REPO,
    Daemon,
    RuntimeServer,
    SetupError,
    admin_client,
    bootstrap_runtime,
    fresh_dagster_home,
    make_site_copy,
    percentile,
    runtime_database,
    table,
    terminate_on_sigterm,
    wait_for,
)

from orchestrator.jobsite.client import JobsiteClient  # noqa: E402
from orchestrator.jobsite.models import MembershipSet, ProjectCreate, ProjectRole, WorkspaceCreate  # noqa: E402
from orchestrator.jobsite.permissions import Actor  # noqa: E402
from orchestrator.jobsite.store import JobsiteStore  # noqa: E402
from orchestrator.runtime.store import Store  # noqa: E402
from orchestrator.settings import Settings  # noqa: E402

SITE_ID, PROJECT, FILES = "bench-site", "bench", 200
PIPELINE, PLAIN_TYPE = "pipeline-1.0.0", "study-commit"  # the jobs site's study type: no trigger makes a job
TARGET_COLD_PER_SECOND = 10.0  # a busy site sees a few requests a minute; 10/s leaves room for bursts
TARGET_COLD_P95 = 1.0  # seconds a researcher waits for "submitted"
TARGET_COLD_VS_PLAIN = 2.0  # git resolve + archive on the server, against a client-side tar + upload
TARGET_FIRST_ACTION_RATIO = 1.2  # submit -> first action running, job request / plain job
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@localhost",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@localhost",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}
PROJECT_YAML = """\
version: '4.0'
actions:
  first:
    run: python:v2 analysis/first.py output/first.txt
    outputs:
      highly_sensitive:
        out: output/first.txt
"""
FIRST_PY = """\
import pathlib, sys, time
time.sleep(1.5)  # long enough for a 0.1 s poll to see it running
path = pathlib.Path(sys.argv[1])
path.parent.mkdir(parents=True, exist_ok=True)
path.write_text("done\\n")
"""


def study_files(variant: int) -> dict[str, bytes]:
    """project.yaml, the action's script and 198 modules of about 2 KB; `variant` changes one file."""
    files = {"project.yaml": PROJECT_YAML.encode(), "analysis/first.py": FIRST_PY.encode()}
    for i in range(FILES - 3):
        body = "".join(f"def f{i}_{j}(x):\n    return x * {j} + {i}\n\n" for j in range(60))
        files[f"analysis/lib/module_{i:03d}.py"] = body.encode()
    files["analysis/lib/variant.py"] = f"VARIANT = {variant}\n".encode()
    return files


def tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class GitRepo:
    """A bare repository (what workspaces name) and a work tree that commits the study's variants."""

    def __init__(self, root: Path):
        self.bare, self.work = root / "study.git", root / "work"
        self.git("init", "-q", "--bare", "--initial-branch=main", str(self.bare))
        self.git("init", "-q", "--initial-branch=main", str(self.work))
        for name, data in study_files(0).items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        self.git("add", "-A", cwd=self.work)
        self.git("commit", "-q", "-m", "the study", cwd=self.work)
        self.git("push", "-q", str(self.bare), "HEAD:refs/heads/main", cwd=self.work)

    def git(self, *args, cwd=None) -> str:
        done = subprocess.run(
            ["git", *args], cwd=cwd, env={**os.environ, **GIT_IDENTITY}, capture_output=True, text=True
        )
        if done.returncode:
            raise SetupError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def commit_variant(self, variant: int, branch: str) -> None:
        """A new commit (one file changed) at the head of `branch`."""
        (self.work / "analysis/lib/variant.py").write_bytes(study_files(variant)["analysis/lib/variant.py"])
        self.git("commit", "-q", "-am", f"variant {variant}", cwd=self.work)
        self.git("push", "-q", "-f", str(self.bare), f"HEAD:refs/heads/{branch}", cwd=self.work)


def jobsite_setup(database_url: str, home: Path, admin: str, repo: GitRepo, branches: list[str]) -> list[str]:
    """Project `bench` with the admin as developer and a workspace per branch; their names."""
    store = Store(Settings(database_url=database_url, home=home, blob_dir=home / "blobs"))
    try:
        jobsite = JobsiteStore.open(store)
        boss = Actor(user_id=admin, is_admin=True)
        jobsite.create_project(ProjectCreate(slug=PROJECT, name="Benchmark", org="bench"), boss)
        jobsite.set_membership(PROJECT, admin, MembershipSet(roles=[ProjectRole.DEVELOPER]), boss)
        developer = jobsite.actor_for(admin, is_admin=True)
        names = []
        for branch in branches:
            spec = WorkspaceCreate(name=f"ws-{branch}", repo=str(repo.bare), branch=branch, site_id=SITE_ID)
            names.append(jobsite.create_workspace(PROJECT, spec, developer).name)
        return names
    finally:
        store.dispose()


def register(repo: Path, env: dict, admin: dict) -> None:
    """`orchestrator register` as the admin: the workflows (pipeline-1.0.0) and triggers of `repo`."""
    admin_env = {**env, "ORCHESTRATOR_USERNAME": admin["username"], "ORCHESTRATOR_PASSWORD": admin["password"]}
    admin_env.update(ORCHESTRATOR_CLIENT_ID="", ORCHESTRATOR_CLIENT_SECRET="")
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "register"],
        cwd=repo,
        env=admin_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode:
        raise SetupError(f"`orchestrator register` failed:\n{done.stderr[-3000:]}")


def in_threads(calls: list, clients: list["Clients"]) -> tuple[float, list[float]]:
    """Run the calls, `call(client)`, from a thread per client; (wall seconds, sorted latencies)."""
    latencies: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    queue = list(reversed(calls))

    def worker(client):
        while True:
            with lock:
                if not queue or errors:
                    return
                call = queue.pop()
            started = time.perf_counter()
            try:
                call(client)
            except BaseException as exc:  # reported after the threads end: a figure from failures is no figure
                with lock:
                    errors.append(exc)
                return
            with lock:
                latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    workers = [threading.Thread(target=worker, args=(client,)) for client in clients]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise SetupError(f"{len(errors)} submit(s) failed; the first: {errors[0]!r}")
    return time.perf_counter() - started, sorted(latencies)


class Clients:
    """A logged-in client for one thread (requests' sessions are not shared between threads); logged
    in here so that no submit's time includes the login."""

    def __init__(self, url: str, admin: dict):
        self.runtime = admin_client(url, admin)
        self.runtime.token()
        self.jobsite = JobsiteClient(self.runtime)


def plain_submit(clients: Clients, variant: int) -> str:
    """Without the jobs site: pack, upload and create the pipeline job; the job's id."""
    obj = clients.runtime.create_object(
        tar_gz(study_files(variant)), name=f"study-{variant}.tar.gz", types=[PLAIN_TYPE], mime_type="application/gzip"
    )
    config = {"workspace": f"plain-{variant}", "actions": ["first"], "force_run_dependencies": False}
    return clients.runtime.create_job(PIPELINE, [obj["id"]], config, site_id=SITE_ID)["id"]


def throughput(backend: str, args, workdir: Path) -> list[list]:
    rows = []
    with ExitStack() as stack:
        db_url = stack.enter_context(runtime_database(backend, workdir, "bench_jobsite"))
        home = workdir / f"runtime-{backend}"
        server = stack.enter_context(RuntimeServer(db_url, home, workdir / f"runtime-{backend}.log"))
        admin, _ = bootstrap_runtime(db_url, home, SITE_ID)
        register(REPO, {**os.environ, "ORCHESTRATOR_URL": server.url, "ORCHESTRATOR_HOME": str(home / "cli")}, admin)
        repo = GitRepo(workdir / f"git-{backend}")
        branches = [f"b{i:03d}" for i in range(args.requests)]
        for i, branch in enumerate(branches):
            repo.commit_variant(i + 1, branch)
        workspaces = jobsite_setup(db_url, home, admin["username"], repo, branches)
        clients = [Clients(server.url, admin) for _ in range(args.threads)]
        measured = {
            "cold (new commit each)": [lambda c, w=w: c.jobsite.submit(w, ["first"]) for w in workspaces],
            "warm (one stored commit)": [lambda c: c.jobsite.submit(workspaces[0], ["first"])] * args.requests,
            "plain (tar.gz upload + job)": [lambda c, v=v: plain_submit(c, 10_000 + v) for v in range(args.requests)],
        }
        per_second = {}
        for name, calls in measured.items():
            wall, latencies = in_threads(calls, clients)
            per_second[name] = len(calls) / wall
            rows.append(
                [
                    f"{backend}: {name}",
                    f"{per_second[name]:.1f}",
                    f"{percentile(latencies, 50) * 1000:.0f}",
                    f"{percentile(latencies, 95) * 1000:.0f}",
                ]
            )
        rows[-3].append(
            f"≥{TARGET_COLD_PER_SECOND:g}/s, p95 ≤{TARGET_COLD_P95 * 1000:.0f} ms: "
            + met(
                per_second["cold (new commit each)"] >= TARGET_COLD_PER_SECOND
                and float(rows[-3][3]) <= 1000 * TARGET_COLD_P95
            )
        )
        ratio = per_second["plain (tar.gz upload + job)"] / per_second["cold (new commit each)"]
        rows[-2].append("")
        rows[-1].append(
            f"cold/plain time {ratio:.2f}, target ≤{TARGET_COLD_VS_PLAIN:g}: {met(ratio <= TARGET_COLD_VS_PLAIN)}"
        )
    return rows


def met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def first_action_running(args, workdir: Path) -> list[list]:
    from dagster import DagsterInstance  # noqa: F401  (the daemon's dependency: fail here, not in the child)

    with ExitStack() as stack:
        db_url = stack.enter_context(runtime_database(args.site_backend, workdir, "bench_jobsite_site"))
        home = workdir / "runtime-site"
        server = stack.enter_context(RuntimeServer(db_url, home, workdir / "runtime-site.log"))
        admin, site_creds = bootstrap_runtime(db_url, home, SITE_ID)
        repo = GitRepo(workdir / "git-site")
        (workspace,) = jobsite_setup(db_url, home, admin["username"], repo, ["main"])
        site = make_site_copy(workdir / "site")
        dagster_home = fresh_dagster_home(workdir / "site-dagster")
        base = {k: v for k, v in os.environ.items() if not k.startswith(("ORCHESTRATOR_", "DAGSTER_"))}
        env = {
            **base,
            "PYTHONPATH": str(site),
            "DAGSTER_HOME": str(dagster_home),
            "ORCHESTRATOR_HOME": str(workdir / "site-home"),
            "ORCHESTRATOR_WORKSPACES_DIR": str(workdir / "site-workspaces"),
            "ORCHESTRATOR_URL": server.url,
            "ORCHESTRATOR_SITE_ID": SITE_ID,
            "ORCHESTRATOR_CLIENT_ID": site_creds["client_id"],
            "ORCHESTRATOR_CLIENT_SECRET": site_creds["client_secret"],
            "ORCHESTRATOR_SENSOR_INTERVAL_SECONDS": str(args.sensor_interval),
        }
        register(site, env, admin)
        daemon = stack.enter_context(Daemon(site / "workspace.yaml", env, workdir / "site-daemon.log"))
        clients = Clients(server.url, admin)

        def request_path(variant: int) -> float:
            repo.commit_variant(variant, "main")
            started = time.perf_counter()
            request = clients.jobsite.submit(workspace, ["first"])

            def running():
                daemon.check_alive()
                return any(job.state == "running" for job in clients.jobsite.request(request.id).jobs)

            wait_for(running, args.timeout, f"job request {request.id}'s first action to run", every=0.1)
            seconds = time.perf_counter() - started
            wait_for(
                lambda: clients.jobsite.request(request.id).status == "succeeded",
                args.timeout,
                f"job request {request.id} to succeed",
                every=0.3,
                alive=daemon.check_alive,
            )
            return seconds

        def plain_path(variant: int) -> float:
            started = time.perf_counter()
            job_id = plain_submit(clients, variant)

            def actions():
                daemon.check_alive()
                job = clients.runtime.get(f"/jobs/{job_id}")
                if not job.get("operation_id"):
                    return {}
                return (clients.runtime.get(f"/operations/{job['operation_id']}").get("metadata") or {}).get(
                    "actions"
                ) or {}

            wait_for(
                lambda: any(a.get("state") == "running" for a in actions().values()),
                args.timeout,
                f"plain job {job_id}'s first action to run",
                every=0.1,
            )
            seconds = time.perf_counter() - started
            wait_for(
                lambda: clients.runtime.get(f"/jobs/{job_id}")["status"] == "succeeded",
                args.timeout,
                f"plain job {job_id} to succeed",
                every=0.3,
                alive=daemon.check_alive,
            )
            return seconds

        # a first run of each warms the daemon's code server and the site's caches; not counted
        request_path(1), plain_path(20_001)
        requested, plain = [], []
        for round_ in range(args.rounds):
            requested.append(request_path(2 + round_))
            plain.append(plain_path(20_002 + round_))
        ratio = statistics.median(requested) / statistics.median(plain)
        return [
            [
                "job request (new commit)",
                f"{statistics.median(requested):.2f}",
                f"{min(requested):.2f}",
                f"{max(requested):.2f}",
                "",
            ],
            [
                "plain upload + job",
                f"{statistics.median(plain):.2f}",
                f"{min(plain):.2f}",
                f"{max(plain):.2f}",
                f"ratio {ratio:.2f}, target ≤{TARGET_FIRST_ACTION_RATIO:g}: {met(ratio <= TARGET_FIRST_ACTION_RATIO)}",
            ],
        ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--requests", type=int, default=60, help="submits per kind and backend")
    parser.add_argument("--threads", type=int, default=4, help="client threads submitting at once")
    parser.add_argument("--site-backend", default="postgresql")
    parser.add_argument("--rounds", type=int, default=5, help="submit -> first action: rounds of each kind")
    parser.add_argument("--sensor-interval", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--skip-site", action="store_true", help="only the submits per second")
    args = parser.parse_args()
    terminate_on_sigterm()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-jobsite-") as scratch:
            workdir = Path(scratch)
            rows = [r for backend in args.backends.split(",") for r in throughput(backend.strip(), args, workdir)]
            print(
                table(
                    ["submits", "per s", "p50 ms", "p95 ms", "target"],
                    rows,
                    f"job requests submitted ({FILES}-file repository, {args.threads} client threads, "
                    f"{args.requests} each, 1 server worker)",
                )
            )
            if not args.skip_site:
                print()
                print(
                    table(
                        ["submit -> first action running (s)", "median", "min", "max", "target"],
                        first_action_running(args, workdir),
                        f"at a real site ({args.site_backend}, sensor interval {args.sensor_interval} s, "
                        f"{args.rounds} rounds each, alternating)",
                    )
                )
    except SetupError as exc:
        print(f"bench/jobsite.py could not measure: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
