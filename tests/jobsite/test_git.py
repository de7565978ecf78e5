"""The jobs site's git layer against real repositories: bare ones made here, pushed to from a work
clone, read over local paths, file:// and a loopback HTTP server."""

import concurrent.futures
import functools
import hashlib
import http.server
import io
import multiprocessing
import os
import pickle
import socket
import subprocess
import tarfile
import threading
import time
from pathlib import Path

import pytest

from orchestrator.jobsite.git import (
    GIT_TIMEOUT,
    INVALID_BRANCH,
    INVALID_REPO_URL,
    REPO_UNREACHABLE,
    UNKNOWN_BRANCH,
    UNKNOWN_COMMIT,
    WHAT_TO_DO,
    GitCache,
    GitError,
    check_branch,
    check_repo_url,
)
from orchestrator.pipeline.archive import extract_study
from tests.jobsite.repos import GIT_ENV, Repo, git

PROJECT_YAML = "version: '4.0'\nactions: {}\n"


def members(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def raises(code: str, call, *args) -> GitError:
    with pytest.raises(GitError) as caught:
        call(*args)
    assert caught.value.code == code, caught.value
    assert WHAT_TO_DO[code] in caught.value.message
    return caught.value


@pytest.fixture
def upstream(tmp_path) -> Repo:
    return Repo(tmp_path / "upstream", {"project.yaml": PROJECT_YAML})


@pytest.fixture
def cache(tmp_path) -> GitCache:
    return GitCache(tmp_path / "cache", timeout_seconds=30)


@pytest.fixture
def http_root(tmp_path):
    """A dumb HTTP server on loopback serving tmp_path/upstream: git fetches over it as from any host."""
    (tmp_path / "upstream").mkdir(exist_ok=True)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(tmp_path / "upstream"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def silent_port():
    """A loopback port that accepts connections (the kernel's backlog) and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield listener.getsockname()[1]
    listener.close()


# ---- resolving and archiving


def test_resolve_gives_the_head_and_the_archive_is_what_extract_study_unpacks(upstream, cache, tmp_path):
    head = upstream.commit({"project.yaml": PROJECT_YAML, "analysis/study.py": "print('hi')\n"})

    assert cache.resolve_branch(upstream.url, "main") == head
    archive = cache.archive_commit(upstream.url, head)
    (tmp_path / "study.tar.gz").write_bytes(archive)
    names = extract_study(tmp_path / "study.tar.gz", tmp_path / "study")

    assert "project.yaml" in names  # at the root: no leading directory
    assert (tmp_path / "study" / "project.yaml").read_text() == PROJECT_YAML
    assert (tmp_path / "study" / "analysis" / "study.py").read_text() == "print('hi')\n"


def test_the_same_commit_gives_byte_identical_archives(upstream, cache, tmp_path):
    # `$Format:%d$` would expand to the mirror's ref names, which change as commits are pinned.
    files = {"project.yaml": PROJECT_YAML, ".gitattributes": "v.txt export-subst\n", "v.txt": "$Format:%H%d$\n"}
    first = upstream.commit(files)
    archive = cache.archive_commit(upstream.url, first)
    upstream.commit({"more.txt": "x"})
    cache.resolve_branch(upstream.url, "main")  # a new pinned ref in the mirror

    assert cache.archive_commit(upstream.url, first) == archive
    assert GitCache(tmp_path / "other-cache").archive_commit(upstream.url, first) == archive
    assert GitCache(tmp_path / "file-url-cache").archive_commit(f"file://{upstream.bare}", first) == archive
    assert members(archive)["v.txt"] == b"$Format:%H%d$\n"  # exactly the committed tree
    assert archive[:4] == b"\x1f\x8b\x08\x00"  # gzip, deflate, no flags: no file name stored
    assert archive[4:8] == b"\0\0\0\0"  # no modification time in the gzip header
    commit_time = int(git("log", "-1", "--format=%ct", first, cwd=upstream.work))
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        assert {member.mtime for member in tar.getmembers()} == {commit_time}


def test_a_200_file_repository_cold_and_warm(tmp_path):
    files = {f"analysis/part{i // 20}/file{i:03}.py": f"value = {i}\n" * (i + 1) for i in range(199)}
    upstream = Repo(tmp_path / "big", {"project.yaml": PROJECT_YAML, **files})
    head = upstream.head()
    cache = GitCache(tmp_path / "cache")

    timings = {}
    for run in ("cold", "warm"):
        began = time.perf_counter()
        commit = cache.resolve_branch(upstream.url, "main")
        archive = cache.archive_commit(upstream.url, commit)
        timings[run] = time.perf_counter() - began
    print(f"\n200-file repository, resolve + archive: cold {timings['cold'] * 1000:.0f} ms, "
          f"warm {timings['warm'] * 1000:.0f} ms, archive {len(archive)} bytes")  # fmt: skip

    assert commit == head
    unpacked = members(archive)
    assert len(unpacked) == 200
    assert all(unpacked[path] == text.encode() for path, text in files.items())


def test_a_moved_branch_resolves_to_its_new_head_and_the_old_commit_stays_archivable(upstream, cache):
    old = upstream.commit({"project.yaml": PROJECT_YAML, "a.txt": "old"})
    assert cache.resolve_branch(upstream.url, "main") == old
    old_archive = cache.archive_commit(upstream.url, old)
    new = upstream.commit({"a.txt": "new"})

    assert cache.resolve_branch(upstream.url, "main") == new
    assert members(cache.archive_commit(upstream.url, new))["a.txt"] == b"new"
    assert cache.archive_commit(upstream.url, old) == old_archive
    assert members(old_archive)["a.txt"] == b"old"


def test_a_force_pushed_away_commit_stays_archivable_after_gc_on_both_sides(upstream, cache, tmp_path):
    dropped = upstream.commit({"a.txt": "dropped"})
    assert cache.resolve_branch(upstream.url, "main") == dropped
    archive = cache.archive_commit(upstream.url, dropped)
    git("reset", "--quiet", "--hard", "HEAD~1", cwd=upstream.work)
    (upstream.work / "a.txt").write_text("replacement")
    git("add", "a.txt", cwd=upstream.work)
    git("commit", "--quiet", "-m", "replacement", cwd=upstream.work)
    git("push", "--quiet", "--force", "origin", "HEAD:refs/heads/main", cwd=upstream.work)
    replacement = upstream.head()
    for repository in (upstream.bare, *(tmp_path / "cache").glob("*.git")):
        git("reflog", "expire", "--expire=now", "--all", cwd=repository)
        git("gc", "--quiet", "--prune=now", cwd=repository)

    assert cache.resolve_branch(upstream.url, "main") == replacement
    assert cache.archive_commit(upstream.url, dropped) == archive
    raises(UNKNOWN_COMMIT, GitCache(tmp_path / "fresh").archive_commit, upstream.url, dropped)  # gone upstream


def test_a_commit_never_resolved_here_is_fetched_when_archived(upstream, cache):
    elsewhere = upstream.commit({"b.txt": "on another branch"}, branch="feature")

    assert members(cache.archive_commit(upstream.url, elsewhere))["b.txt"] == b"on another branch"
    assert cache.read_file_at(upstream.url, elsewhere, "b.txt") == b"on another branch"


def test_branch_names_that_look_odd_but_are_valid_resolve(upstream, cache):
    for branch in ("feature/x+y", "é-branch", "a.lock.b", "ends-with-lock.lockx"):
        head = upstream.commit({"b.txt": branch}, branch=branch)
        assert cache.resolve_branch(upstream.url, branch) == head


def test_over_loopback_http(upstream, http_root, tmp_path):
    head = upstream.commit({"project.yaml": PROJECT_YAML, "x.txt": "over http"})
    git("update-server-info", cwd=upstream.bare)  # what a dumb HTTP server needs
    url = f"{http_root}/repo.git"

    assert GitCache(tmp_path / "c1").resolve_branch(url, "main") == head
    assert members(GitCache(tmp_path / "c2").archive_commit(url, head))["x.txt"] == b"over http"


def test_read_file_at(upstream, cache):
    old = upstream.commit({"project.yaml": PROJECT_YAML, "analysis/a.py": "a"})
    upstream.commit({"project.yaml": "changed\n"})

    assert cache.read_file_at(upstream.url, old, "project.yaml") == PROJECT_YAML.encode()
    assert cache.read_file_at(upstream.url, old, "analysis/a.py") == b"a"
    assert cache.read_file_at(upstream.url, old, "missing.yaml") is None
    assert cache.read_file_at(upstream.url, old, "analysis") is None  # a directory, not a file
    assert cache.read_file_at(upstream.url, old, "x blob") is None
    for path in ("../project.yaml", "/project.yaml", "./project.yaml", "", "a\nb"):
        with pytest.raises(ValueError):
            cache.read_file_at(upstream.url, old, path)


# ---- errors


def test_unknown_branch_is_named_and_the_existing_ones_listed(upstream, cache):
    upstream.commit({"b": "b"}, branch="feature")

    error = raises(UNKNOWN_BRANCH, cache.resolve_branch, upstream.url, "mian")

    assert "'mian'" in error.message and "feature, main" in error.message


def test_an_error_survives_pickling():
    error = pickle.loads(pickle.dumps(GitError(UNKNOWN_COMMIT, "gone", "fatal: x")))
    assert (error.code, error.message, error.detail) == (UNKNOWN_COMMIT, "gone", "fatal: x")
    assert str(error) == "gone (git said: fatal: x)" and error.details == {"git": "fatal: x"}


def test_unknown_branch_of_an_empty_repository(tmp_path, cache):
    git("init", "--quiet", "--bare", str(tmp_path / "empty.git"))
    error = raises(UNKNOWN_BRANCH, cache.resolve_branch, str(tmp_path / "empty.git"), "main")
    assert "no branches at all" in error.message


@pytest.mark.parametrize(
    "commit", ["0" * 40, "1234567890abcdef1234567890abcdef12345678", "HEAD", "abc", "-" + "a" * 39]
)
def test_unknown_commit(upstream, cache, commit):
    head = cache.resolve_branch(upstream.url, "main")

    raises(UNKNOWN_COMMIT, cache.archive_commit, upstream.url, commit)
    raises(UNKNOWN_COMMIT, cache.read_file_at, upstream.url, commit, "project.yaml")
    blob = git("rev-parse", f"{head}:project.yaml", cwd=upstream.work)
    raises(UNKNOWN_COMMIT, cache.archive_commit, upstream.url, blob)  # an object, but not a commit


@pytest.mark.parametrize("where", ["missing path", "plain directory", "file URL", "closed port", "HTTP 404"])
def test_repository_unreachable(where, tmp_path, cache, http_root):
    (tmp_path / "plain").mkdir()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    url = {
        "missing path": str(tmp_path / "nothing.git"),
        "plain directory": str(tmp_path / "plain"),
        "file URL": f"file://{tmp_path}/nothing.git",
        "closed port": f"http://127.0.0.1:{port}/study.git",
        "HTTP 404": f"{http_root}/nothing.git",
    }[where]

    error = raises(REPO_UNREACHABLE, cache.resolve_branch, url, "main")
    assert url in error.message and error.detail and "Traceback" not in str(error)
    raises(REPO_UNREACHABLE, cache.archive_commit, url, "a" * 40)


def test_a_silent_server_times_out_and_a_busy_mirror_makes_others_wait_then_time_out(silent_port, tmp_path):
    url = f"http://127.0.0.1:{silent_port}/study.git"
    slow = GitCache(tmp_path / "cache", timeout_seconds=3)
    outcome = []
    holder = threading.Thread(target=lambda: outcome.append(raises(GIT_TIMEOUT, slow.resolve_branch, url, "main")))
    began = time.monotonic()
    holder.start()
    time.sleep(0.5)  # the holder is inside git fetch, holding the mirror's lock

    busy = raises(GIT_TIMEOUT, GitCache(tmp_path / "cache", timeout_seconds=0.5).archive_commit, url, "a" * 40)
    holder.join()

    assert "busy" in busy.message
    assert "git fetch" in outcome[0].message and "3 s" in outcome[0].message
    assert time.monotonic() - began < 10


INVALID_URLS = [
    "ext::sh -c touch% {marker}",
    "ext::sh -c 'touch {marker}'",
    "fd::3",
    "fd::0,1",
    "-uhelp",
    "--upload-pack=touch {marker}",
    "relative/path.git",
    "./study.git",
    "~/study.git",
    "git://github.com/org/repo.git",
    "ftp://example.org/repo.git",
    "http://example.org/repo.git",  # plain HTTP off loopback
    "https://",
    "https://-oProxyCommand=x/repo",
    "ssh://-oProxyCommand=touch%20{marker}/repo",
    "ssh://host:notaport/repo",
    "user@-oProxyCommand=x:repo",
    "user@host:-repo",
    "host:path",
    "https://example.org/repo\n.git",
    "/tmp/repo\x00",
    "",
]


@pytest.mark.parametrize("template", INVALID_URLS)
def test_invalid_repo_urls_are_refused_before_git_runs(template, tmp_path, cache):
    url = template.format(marker=tmp_path / "pwned")

    raises(INVALID_REPO_URL, cache.resolve_branch, url, "main")
    raises(INVALID_REPO_URL, cache.archive_commit, url, "a" * 40)
    raises(INVALID_REPO_URL, cache.read_file_at, url, "a" * 40, "project.yaml")
    assert not (tmp_path / "pwned").exists()
    assert not (tmp_path / "cache").exists()  # refused before any mirror or lock was made


@pytest.mark.parametrize(
    "url",
    [
        "/srv/git/study.git",
        "/srv/git/My Study.git",
        "file:///srv/git/study.git",
        "https://github.com/opensafely/study.git",
        "https://user:token@git.example.org:8443/group/study",
        "ssh://git@github.com/opensafely/study.git",
        "ssh://git@host:2222/~/study.git",
        "git@github.com:opensafely/study.git",
        "http://127.0.0.1:8080/study.git",
        "http://localhost/study.git",
    ],
)
def test_accepted_repo_urls(url):
    check_repo_url(url)


def test_a_password_in_a_url_is_not_shown(tmp_path, cache):
    error = raises(REPO_UNREACHABLE, cache.resolve_branch, "http://me:s3cret@127.0.0.1:9/x.git", "main")
    assert "s3cret" not in str(error) and "me:***@" in error.message


BRANCHES = [
    "main", "feature/x", "a.b", "a.lock.b", "@", "foo@bar", "é", "a+b", "refs/heads/x", "-", "-x",
    "--upload-pack=touch x", "HEAD", "a b", "a\tb", "a\x7fb", "a..b", ".a", "a/.b", "a.lock", "a/b.lock/c",
    "a/", "/a", "a//b", "a.", "a/.", "a@{b", "@{-1}", "x~1", "x^", "a:b", "a?", "a*", "a[b", "a\\b", "",
]  # fmt: skip


def test_branch_validation_agrees_with_git_check_ref_format(tmp_path):
    for branch in BRANCHES:
        by_git = subprocess.run(["git", "check-ref-format", "--branch", branch], cwd=tmp_path, env={**os.environ, **GIT_ENV},
                                capture_output=True)  # fmt: skip
        try:
            check_branch(branch)
            accepted = True
        except GitError as error:
            assert error.code == INVALID_BRANCH and WHAT_TO_DO[INVALID_BRANCH] in error.message
            accepted = False
        assert accepted == (by_git.returncode == 0), branch


@pytest.mark.parametrize("branch", ["--upload-pack=touch {marker}", "-b", "main:refs/heads/x", "HEAD", "a..b", ""])
def test_invalid_branches_are_refused_before_git_runs(branch, upstream, cache, tmp_path):
    error = raises(INVALID_BRANCH, cache.resolve_branch, upstream.url, branch.format(marker=tmp_path / "pwned"))
    assert "is not a valid branch name: it " in error.message
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "cache").exists()


def test_the_callers_git_environment_is_ignored(upstream, cache, tmp_path, monkeypatch):
    head = upstream.head()
    hostile = tmp_path / "hostile.gitconfig"
    hostile.write_text(f'[url "/nonexistent/"]\n\tinsteadOf = {upstream.url}\n[protocol]\n\tallow = never\n')
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(hostile))
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", f"'url./nonexistent/.insteadof'='{upstream.url}'")
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".gitconfig").write_text(hostile.read_text())

    assert cache.resolve_branch(upstream.url, "main") == head
    assert "project.yaml" in members(cache.archive_commit(upstream.url, head))


# ---- concurrency


def resolve_and_archive(root: str, url: str, final_file: str, min_rounds: int = 6) -> list[tuple[str, str]]:
    """What one thread or process of a site does: resolve and archive, round after round, at least
    `min_rounds` and until it resolves the commit named in `final_file`; (commit, sha256 of its
    archive) per round."""
    cache = GitCache(Path(root))
    results = []
    while len(results) < 1000:
        commit = cache.resolve_branch(url, "main")
        results.append((commit, hashlib.sha256(cache.archive_commit(url, commit)).hexdigest()))
        if len(results) >= min_rounds and Path(final_file).exists() and Path(final_file).read_text() == commit:
            break
    return results


def push_while_resolving(upstream: Repo, root: Path, pushes: int, final_file: Path) -> list[str]:
    """Once a worker has resolved the first commit, push more, then name the last in `final_file`."""
    pushed = [git("rev-parse", "HEAD", cwd=upstream.work)]
    deadline = time.monotonic() + 60
    while not list(root.glob(f"*.git/refs/pinned/{pushed[0]}")):
        assert time.monotonic() < deadline, "no worker resolved the branch"
        time.sleep(0.005)
    pushed += [upstream.commit({"round.txt": str(round)}) for round in range(pushes)]
    final_file.with_suffix(".tmp").write_text(pushed[-1])
    final_file.with_suffix(".tmp").rename(final_file)
    return pushed


def check_concurrent_results(per_worker, pushed: list[str], upstream: Repo, tmp_path: Path) -> None:
    reference = GitCache(tmp_path / "reference")
    expected = {c: hashlib.sha256(reference.archive_commit(upstream.url, c)).hexdigest() for c in pushed}
    results = [result for worker in per_worker for result in worker]
    assert all(digest == expected[commit] for commit, digest in results)  # also: no commit but those pushed
    assert all(worker[-1][0] == pushed[-1] for worker in per_worker)
    assert pushed[0] in {commit for commit, _ in results}
    (mirror,) = (tmp_path / "cache").glob("*.git")
    git("fsck", "--strict", "--no-progress", cwd=mirror)
    print(f"\n{len(per_worker)} workers, {len(results)} rounds, {len({c for c, _ in results})} commits seen")


def test_threads_resolve_and_archive_while_commits_are_pushed(upstream, tmp_path):
    upstream.commit({"project.yaml": PROJECT_YAML, **{f"f{i}.txt": str(i) for i in range(50)}})
    final = tmp_path / "final"
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = [
            pool.submit(resolve_and_archive, str(tmp_path / "cache"), upstream.url, str(final)) for _ in range(8)
        ]
        pushed = push_while_resolving(upstream, tmp_path / "cache", 3, final)
        per_worker = [future.result() for future in futures]

    check_concurrent_results(per_worker, pushed, upstream, tmp_path)


def test_processes_share_one_cache_from_cold_while_commits_are_pushed(upstream, tmp_path):
    final = tmp_path / "final"
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(4, mp_context=context) as pool:
        futures = [
            pool.submit(resolve_and_archive, str(tmp_path / "cache"), upstream.url, str(final)) for _ in range(4)
        ]
        pushed = push_while_resolving(upstream, tmp_path / "cache", 2, final)
        per_worker = [future.result() for future in futures]

    check_concurrent_results(per_worker, pushed, upstream, tmp_path)
