"""The jobs site's git layer: resolve a workspace's branch to the commit it points at now, and pack a
commit's tree into the study archive a job request pins. Real `git` in a subprocess, over a cache of
bare mirrors (one per repository URL) that threads and processes may share.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_TIMEOUT_SECONDS = 60.0

REPO_UNREACHABLE = "REPO_UNREACHABLE"
UNKNOWN_BRANCH = "UNKNOWN_BRANCH"
UNKNOWN_COMMIT = "UNKNOWN_COMMIT"
INVALID_REPO_URL = "INVALID_REPO_URL"
INVALID_BRANCH = "INVALID_BRANCH"
GIT_TIMEOUT = "GIT_TIMEOUT"

# What the person who asked can do about each error; appended to every message with that code.
WHAT_TO_DO = {
    REPO_UNREACHABLE: "Check the workspace's repository URL, that the repository exists, and that this site may "
    "read it; if it is a network problem, try again later.",
    UNKNOWN_BRANCH: "Push the branch to the repository, or change the workspace's branch.",
    UNKNOWN_COMMIT: "The repository does not have this commit (was the branch force-pushed?); submit a new job "
    "request to use the branch's current head.",
    INVALID_REPO_URL: "Use https://host/path, ssh://[user@]host/path, user@host:path, file:///path, an absolute "
    "local path, or http://localhost/path.",
    INVALID_BRANCH: "Use the branch's name exactly as `git branch` shows it.",
    GIT_TIMEOUT: "Try again later; if it keeps happening, ask the site's operator (the repository may be very "
    "large or its server slow).",
}


class GitError(Exception):
    """A git step failed for a reason a person can act on: `code` for code to branch on, `message`
    for people, `detail` the line of git's own output that explains it (may be empty)."""

    def __init__(self, code: str, message: str, detail: str = ""):
        self.code = code
        self.message = message
        self.detail = detail
        super().__init__(f"{message} (git said: {detail})" if detail else message)

    @property
    def details(self) -> dict[str, str]:
        """For an API error's `details`: git's own line, when there is one."""
        return {"git": self.detail} if self.detail else {}

    def __reduce__(self):  # whole again after crossing a process boundary (a pool, a Dagster step)
        return type(self), (self.code, self.message, self.detail)


def _error(code: str, what: str, detail: str = "") -> GitError:
    return GitError(code, f"{what}. {WHAT_TO_DO[code]}", detail)


# ---- what a request may name: repository URLs, branches, commits, paths

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SCP_LIKE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*@[A-Za-z0-9][A-Za-z0-9.-]*:[^-\s]\S*")
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


def _is_remote(url: str, scheme: str) -> bool:
    parts = urlsplit(url)
    try:
        host, _ = parts.hostname, parts.port
    except ValueError:  # a port that is not a number
        return False
    return parts.scheme == scheme and bool(host) and not host.startswith("-") and not re.search(r"\s", parts.netloc)


# The URL forms accepted. Anything else is refused: remote helpers (`ext::` runs a command, `fd::`),
# `git://` (unauthenticated), relative paths, and a leading `-` that git could read as an option.
# Plain HTTP only on loopback: elsewhere a network could swap the study's code in transit.
_URL_FORMS = (
    lambda url: url.startswith("/"),
    lambda url: url.startswith("file:///"),
    lambda url: _is_remote(url, "https"),
    lambda url: _is_remote(url, "ssh"),
    lambda url: _SCP_LIKE.fullmatch(url) is not None,
    lambda url: _is_remote(url, "http") and urlsplit(url).hostname in _LOOPBACK,
)


def check_repo_url(url: str) -> None:
    """Raise INVALID_REPO_URL unless `url` is a form this site fetches from."""
    if _CONTROL.search(url) or not any(accepts(url) for accepts in _URL_FORMS):
        raise _error(INVALID_REPO_URL, f"{_shown(url)!r} is not a repository URL this site accepts")


# `git check-ref-format --branch`: what makes `refs/heads/<name>` invalid, first match reported.
_BRANCH_RULES = (
    (r"^$", "is empty"),
    (r"^-", "starts with '-'"),
    (r"^HEAD$", "is HEAD, which names whatever is checked out rather than a branch"),
    (r"[\x00-\x20\x7f~^:?*\[\\]", "contains a space, a control character or one of ~ ^ : ? * [ \\"),
    (r"\.\.", "contains '..'"),
    (r"@\{", "contains '@{'"),
    (r"(^|/)\.", "has a part starting with '.'"),
    (r"\.lock(/|$)", "has a part ending with '.lock'"),
    (r"(^|/)(/|$)", "has an empty part (a leading, trailing or doubled '/')"),
    (r"\.$", "ends with '.'"),
)


def check_branch(branch: str) -> None:
    """Raise INVALID_BRANCH unless `branch` is a valid branch name (so never a git option either)."""
    for pattern, reason in _BRANCH_RULES:
        if re.search(pattern, branch):
            raise _error(INVALID_BRANCH, f"{branch!r} is not a valid branch name: it {reason}")


def _check_commit(commit: str) -> str:
    if not re.fullmatch(r"[0-9a-fA-F]{40}", commit):
        raise _error(UNKNOWN_COMMIT, f"{commit!r} is not a commit id (40 hexadecimal digits)")
    return commit.lower()


def _check_path(path: str) -> str:
    parts = path.split("/")
    if _CONTROL.search(path) or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"{path!r} is not a path inside a repository ('/'-separated, relative, no '.' or '..')")
    return path


def _shown(url: str) -> str:
    """The URL as messages show it: a password in it is masked."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


# ---- running git

# Passed through to git: where programs are, and what ssh and proxies need. Nothing else, so no
# GIT_DIR, GIT_CONFIG_*, GIT_ASKPASS, ... of the calling process can change what git does.
_PASSED_THROUGH = ("PATH", "HOME", "SSH_AUTH_SOCK", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")
_FIXED_ENVIRONMENT = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_PROTOCOL_FROM_USER": "0",
    "GIT_SSH_COMMAND": "ssh -o BatchMode=yes",  # fail rather than ask for a password or a host key
    "LC_ALL": "C",
}
_CONFIG = (
    *("-c", "protocol.allow=never"),
    *("-c", "protocol.file.allow=always"),
    *("-c", "protocol.https.allow=always"),
    *("-c", "protocol.http.allow=always"),
    *("-c", "protocol.ssh.allow=always"),
    *("-c", "gc.autoDetach=false"),  # an automatic gc runs inside our lock, not after it is released
)
# The archive is exactly the commit's tree: `export-subst` would write the mirror's ref names
# (`$Format:%d$`) into files, so one commit could give different archives.
_MIRROR_ATTRIBUTES = "* -export-subst -export-ignore\n"
_FETCH = ("--quiet", "--no-tags", "--end-of-options")  # then the URL and refspec: never read as options


def _environment() -> dict[str, str]:
    passed = {name: os.environ[name] for name in os.environ if name.upper() in _PASSED_THROUGH}
    return {**passed, **_FIXED_ENVIRONMENT}


def _detail(stderr: bytes, url: str) -> str:
    """The line of git's stderr that says what went wrong, trimmed, with any password masked."""
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    chosen = next((line for line in lines if line.startswith(("fatal:", "error:"))), lines[-1] if lines else "")
    return (chosen.replace(url, _shown(url)) if url else chosen)[:300]


class GitCache:
    """Bare mirrors under `root`, `<sha256 of the URL>.git` each with a `.lock` beside it: fetching
    takes the lock exclusively, reading shares it, so threads and processes may use one root.

    Every commit a call has resolved or archived is kept by a ref `refs/pinned/<commit>`, so it stays
    archivable after its branch moves on or is force-pushed."""

    def __init__(self, root: Path, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS):
        self.root = Path(root)
        self.timeout_seconds = timeout_seconds

    def resolve_branch(self, repo_url: str, branch: str) -> str:
        """The commit `branch` points at now, fetched from the repository on every call."""
        check_repo_url(repo_url)
        check_branch(branch)
        with self._locked(repo_url, exclusive=True) as mirror:
            self._ensure_mirror(mirror)
            fetched = self._git(mirror, repo_url, "fetch", *_FETCH, repo_url, f"refs/heads/{branch}")
            if fetched.returncode != 0:
                raise self._fetch_failure(mirror, repo_url, branch, fetched.stderr)
            commit = self._checked(mirror, repo_url, "rev-parse", "--verify", "FETCH_HEAD^{commit}").decode().strip()
            self._pin(mirror, repo_url, commit)
            return commit

    def archive_commit(self, repo_url: str, commit: str) -> bytes:
        """The commit's tree as a .tar.gz, members relative to the repository root. The same commit
        gives the same bytes every time: tar mtimes are the commit's time, the gzip header has none."""
        check_repo_url(repo_url)
        commit = _check_commit(commit)
        with self._with_commit(repo_url, commit) as mirror:
            tar = self._checked(mirror, repo_url, "archive", "--format=tar", "--end-of-options", commit)
        return gzip.compress(tar, compresslevel=6, mtime=0)

    def read_file_at(self, repo_url: str, commit: str, path: str) -> bytes | None:
        """The contents of the file at `path` (relative to the repository root) in `commit`; None if
        the commit has no file there."""
        check_repo_url(repo_url)
        commit = _check_commit(commit)
        path = _check_path(path)
        with self._with_commit(repo_url, commit) as mirror:
            shown = self._git(mirror, repo_url, "cat-file", "--batch", stdin=f"{commit}:{path}\n".encode())
        header, _, body = shown.stdout.partition(b"\n")
        fields = header.split(b" ")
        if len(fields) != 3 or not re.fullmatch(rb"[0-9a-f]{40}", fields[0]) or fields[1] != b"blob":
            return None  # "<name> missing", or a directory
        return body[: int(fields[2])]

    # ---- the mirror of one repository

    @contextmanager
    def _locked(self, repo_url: str, *, exclusive: bool) -> Iterator[Path]:
        key = hashlib.sha256(repo_url.encode()).hexdigest()
        self.root.mkdir(parents=True, exist_ok=True)
        mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        deadline = time.monotonic() + self.timeout_seconds
        with open(self.root / f"{key}.lock", "a") as lock:  # closing it releases the lock
            while True:
                try:
                    fcntl.flock(lock, mode)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise _error(
                            GIT_TIMEOUT,
                            f"another request kept this site's copy of {_shown(repo_url)} busy for over "
                            f"{self.timeout_seconds:g} s",
                        ) from None
                    time.sleep(0.01)
            yield self.root / f"{key}.git"

    def _ensure_mirror(self, mirror: Path) -> None:
        """Create the bare mirror if missing (caller holds the exclusive lock): built aside, then
        renamed into place, so a crash never leaves a half-made mirror where one is expected."""
        if (mirror / "HEAD").is_file():
            return
        building = Path(tempfile.mkdtemp(dir=self.root, prefix=".building-"))
        try:
            made = self._run(["init", "--quiet", "--bare", "--template=", str(building)], "")
            if made.returncode != 0:
                raise OSError(f"git init failed in {self.root}: {_detail(made.stderr, '')}")
            (building / "info").mkdir(exist_ok=True)
            (building / "info" / "attributes").write_text(_MIRROR_ATTRIBUTES)
            building.rename(mirror)
        finally:
            shutil.rmtree(building, ignore_errors=True)

    @contextmanager
    def _with_commit(self, repo_url: str, commit: str) -> Iterator[Path]:
        """Hold a lock on the mirror while it surely has `commit`, fetching it first if need be."""
        with self._locked(repo_url, exclusive=False) as mirror:
            if self._has_commit(mirror, commit):
                yield mirror
                return
        with self._locked(repo_url, exclusive=True) as mirror:
            self._ensure_mirror(mirror)
            if not self._has_commit(mirror, commit):
                self._fetch_commit(mirror, repo_url, commit)
            yield mirror

    def _has_commit(self, mirror: Path, commit: str) -> bool:
        if not (mirror / "HEAD").is_file():
            return False
        typed = self._git(mirror, "", "cat-file", "-t", commit)
        return typed.returncode == 0 and typed.stdout.strip() == b"commit"

    def _fetch_commit(self, mirror: Path, repo_url: str, commit: str) -> None:
        """Fetch the commit itself (servers speaking protocol v2 allow it), else every branch (into
        refs/branches/, pruned first so a deleted `a` never blocks a new `a/b`)."""
        for options, refspec in (((), commit), (("--prune",), "+refs/heads/*:refs/branches/*")):
            fetched = self._git(mirror, repo_url, "fetch", *options, *_FETCH, repo_url, refspec)
            if fetched.returncode == 0 and self._has_commit(mirror, commit):
                self._pin(mirror, repo_url, commit)
                return
        if fetched.returncode != 0:  # not even the branches: the repository itself is the problem
            raise _error(
                REPO_UNREACHABLE, f"could not read the repository {_shown(repo_url)}", _detail(fetched.stderr, repo_url)
            )
        raise _error(UNKNOWN_COMMIT, f"{_shown(repo_url)} has no commit {commit}")

    def _fetch_failure(self, mirror: Path, repo_url: str, branch: str, stderr: bytes) -> GitError:
        """Why fetching a branch failed: asks the repository which branches it has."""
        listed = self._git(mirror, repo_url, "ls-remote", "--heads", "--end-of-options", repo_url)
        if listed.returncode != 0:
            return _error(
                REPO_UNREACHABLE, f"could not read the repository {_shown(repo_url)}", _detail(stderr, repo_url)
            )
        lines = listed.stdout.decode(errors="replace").splitlines()
        branches = sorted(line.split("\trefs/heads/", 1)[1] for line in lines if "\trefs/heads/" in line)
        if branch in branches:
            return _error(
                REPO_UNREACHABLE, f"could not fetch branch {branch!r} of {_shown(repo_url)}", _detail(stderr, repo_url)
            )
        if not branches:
            return _error(UNKNOWN_BRANCH, f"{_shown(repo_url)} has no branch {branch!r}: it has no branches at all yet")
        more = f" and {len(branches) - 10} more" if len(branches) > 10 else ""
        return _error(
            UNKNOWN_BRANCH, f"{_shown(repo_url)} has no branch {branch!r}; it has {', '.join(branches[:10])}{more}"
        )

    def _pin(self, mirror: Path, repo_url: str, commit: str) -> None:
        self._checked(mirror, repo_url, "update-ref", f"refs/pinned/{commit}", commit)

    # ---- running git on a mirror

    def _git(self, mirror: Path, repo_url: str, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
        return self._run(list(args), repo_url, git_dir=mirror, stdin=stdin)

    def _checked(self, mirror: Path, repo_url: str, *args: str) -> bytes:
        """stdout of a git command on the mirror that should not fail once the commit is there."""
        done = self._git(mirror, repo_url, *args)
        if done.returncode != 0:
            raise _error(
                REPO_UNREACHABLE,
                f"this site's copy of {_shown(repo_url)} could not be read (git {args[0]} failed)",
                _detail(done.stderr, repo_url),
            )
        return done.stdout

    def _run(
        self, args: list[str], repo_url: str, git_dir: Path | None = None, stdin: bytes | None = None
    ) -> subprocess.CompletedProcess:
        """Run git with the sanitised environment; on timeout kill it and whatever it started (its
        own session: remote helpers, ssh, upload-pack) and raise GIT_TIMEOUT."""
        argv = ["git", *(["--git-dir", str(git_dir)] if git_dir else []), *_CONFIG, *args]
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_environment(),
            cwd=self.root,
            start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(stdin, timeout=self.timeout_seconds)
        except subprocess.TimeoutExpired:
            where = f" of {_shown(repo_url)}" if repo_url else ""
            raise _error(GIT_TIMEOUT, f"git {args[0]}{where} took longer than {self.timeout_seconds:g} s") from None
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
        return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)
