"""Mangled real files never raise: every user mistake becomes a problem, not a traceback."""

import random

import pytest

from orchestrator.pipeline import validate_project_source
from tests.utils.corpus import PROJECT_YAML_FILES as FILES
from tests.utils.corpus import requires_corpus

SNIPPETS = [
    b"\t",
    b":",
    b" ",
    b"\n",
    b"- ",
    b"[",
    b"]",
    b"{",
    b"}",
    b"'",
    b'"',
    b"&a ",
    b"*a",
    b"<<: *a\n",
    b"!!timestamp x",
    b"? ",
    b"|",
    b">",
    b"#",
    b"\xff",
    b"~",
    b"run_all",
    b"..",
    b"/",
    b"\\",
    b"needs: [",
    b"%YAML 1.1\n",
    b"---\n",
    b"=",
    b"\r",
    b"<<<<<<< x\n",
]


def mangle(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(out) + 1)
        if rng.random() < 0.5:
            out[at:at] = rng.choice(SNIPPETS)
        else:
            del out[at : at + rng.randint(1, 30)]
    return bytes(out)


@requires_corpus
@pytest.mark.parametrize("seed", range(5))
def test_mangled_corpus_files_give_problems_not_exceptions(seed):
    rng = random.Random(seed)
    small_files = [path.read_bytes() for path in FILES if path.stat().st_size < 20_000]
    for _ in range(60):
        project, problems = validate_project_source(mangle(rng.choice(small_files), rng))
        assert (project is None) == bool(problems)
        assert all(problem.code and problem.message for problem in problems)
