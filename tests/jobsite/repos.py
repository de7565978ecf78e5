"""Real git repositories for the jobs site's tests: a bare repository (what a workspace names) and a
work tree to commit to and push from, with an identity of their own (no global git config)."""

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Researcher",
    "GIT_AUTHOR_EMAIL": "researcher@example.org",
    "GIT_COMMITTER_NAME": "Test Researcher",
    "GIT_COMMITTER_EMAIL": "researcher@example.org",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}

# A study whose actions are quick and use only the standard library.
QUICK_STUDY = {
    "project.yaml": """\
        version: '4.0'
        actions:
          prepare:
            run: python:v2 analysis/write.py output/prepared.csv "n\\n1\\n"
            outputs:
              highly_sensitive:
                data: output/prepared.csv
          report:
            run: python:v2 analysis/write.py output/report.csv "total\\n1\\n"
            needs: [prepare]
            outputs:
              moderately_sensitive:
                report: output/report.csv
        """,
    "analysis/write.py": """\
        import pathlib, sys
        path = pathlib.Path(sys.argv[1])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sys.argv[2].replace("\\\\n", "\\n") if len(sys.argv) > 2 else "x\\n")
        print("wrote", path)
        """,
}


def git(*args, cwd: Path | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


class Repo:
    """A bare repository at `bare` (the URL a workspace uses) and a clone at `work` to change it."""

    def __init__(self, root: Path, files: dict[str, str] | None = None, branch: str = "main"):
        self.bare, self.work, self.branch = root / "repo.git", root / "work", branch
        git("init", "-q", "--bare", f"--initial-branch={branch}", str(self.bare))
        git("init", "-q", f"--initial-branch={branch}", str(self.work))
        git("remote", "add", "origin", str(self.bare), cwd=self.work)
        self.commit(files or QUICK_STUDY, "a study")

    @property
    def url(self) -> str:
        return str(self.bare)

    def commit(self, files: dict[str, str], message: str = "change", branch: str | None = None) -> str:
        branch = branch or self.branch
        if branch != self.branch or git("branch", "--list", branch, cwd=self.work) == "":
            git("checkout", "-q", "-B", branch, cwd=self.work)
        for name, text in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", message, cwd=self.work)
        git("push", "-q", "origin", f"HEAD:refs/heads/{branch}", cwd=self.work)
        if branch != self.branch:
            git("checkout", "-q", self.branch, cwd=self.work)
        return git("rev-parse", "HEAD" if branch == self.branch else branch, cwd=self.work)

    def head(self, branch: str | None = None) -> str:
        return git("rev-parse", branch or self.branch, cwd=self.bare)

    def copy_tree(self, source: Path) -> str:
        """Commit a copy of the directory `source` (e.g. examples/study) as the whole tree."""
        for item in source.iterdir():
            target = self.work / item.name
            if item.is_dir():
                shutil.copytree(item, target, dirs_exist_ok=True)
            else:
                shutil.copy2(item, target)
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", f"copy of {source.name}", cwd=self.work)
        git("push", "-q", "origin", f"HEAD:refs/heads/{self.branch}", cwd=self.work)
        return self.head()
