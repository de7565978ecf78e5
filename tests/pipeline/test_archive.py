"""extract_study refuses unsafe study archives before writing anything, and unpacks safe ones, such as
pack_directory makes."""

import io
import tarfile

import pytest

from orchestrator.pipeline import UnsafeArchiveError, extract_study, pack_directory


def make_archive(path, *members):
    """members: (name, kind, payload): kind file (payload = text), dir, sym/hard (payload = target)."""
    with tarfile.open(path, "w:gz") as archive:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                data = payload.encode()
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
                continue
            info.type = {
                "dir": tarfile.DIRTYPE,
                "sym": tarfile.SYMTYPE,
                "hard": tarfile.LNKTYPE,
                "fifo": tarfile.FIFOTYPE,
            }[kind]
            info.linkname = payload or ""
            archive.addfile(info)
    return path


SAFE = ("project.yaml", "file", "version: '4.0'\n")


def test_a_safe_study_is_extracted(tmp_path):
    archive = make_archive(
        tmp_path / "s.tar.gz",
        SAFE,
        ("analysis", "dir", None),
        ("analysis/a.py", "file", "print(1)\n"),
        ("analysis/link.py", "sym", "a.py"),
    )
    names = extract_study(archive, tmp_path / "out")
    assert "analysis/a.py" in names
    assert (tmp_path / "out/analysis/link.py").read_text() == "print(1)\n"


@pytest.mark.parametrize(
    "bad, code",
    [
        (("../evil.txt", "file", "x"), "PARENT_PATH"),
        (("analysis/../../evil.txt", "file", "x"), "PARENT_PATH"),
        (("/tmp/evil.txt", "file", "x"), "ABSOLUTE_PATH"),
        (("link", "sym", "../../etc"), "LINK_OUTSIDE"),
        (("link", "sym", "/etc/passwd"), "LINK_OUTSIDE"),
        (("hard", "hard", "../outside.txt"), "LINK_OUTSIDE"),
        (("hard", "hard", "/etc/passwd"), "LINK_OUTSIDE"),
        (("pipe", "fifo", None), "SPECIAL_FILE"),
    ],
)
def test_unsafe_members_are_refused_before_anything_is_written(tmp_path, bad, code):
    archive = make_archive(tmp_path / "s.tar.gz", SAFE, bad)
    with pytest.raises(UnsafeArchiveError) as caught:
        extract_study(archive, tmp_path / "out")
    assert [problem.code for problem in caught.value.problems] == [code]
    assert bad[0] in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_a_chain_of_links_that_climbs_out_is_refused(tmp_path):
    # p/up -> .. is inside (it is the root); p/up/out -> .. would be the root's parent
    archive = make_archive(
        tmp_path / "s.tar.gz", SAFE, ("p", "dir", None), ("p/up", "sym", ".."), ("p/up/out", "sym", "..")
    )
    with pytest.raises(UnsafeArchiveError) as caught:
        extract_study(archive, tmp_path / "out")
    assert [p.code for p in caught.value.problems] == ["THROUGH_LINK"]


def test_writing_a_file_through_a_link_is_refused(tmp_path):
    archive = make_archive(tmp_path / "s.tar.gz", SAFE, ("d", "sym", "."), ("d/x.txt", "file", "x"))
    with pytest.raises(UnsafeArchiveError) as caught:
        extract_study(archive, tmp_path / "out")
    assert [(p.code, p.member) for p in caught.value.problems] == [("THROUGH_LINK", "d/x.txt")]


def test_every_problem_is_reported_at_once(tmp_path):
    archive = make_archive(tmp_path / "s.tar.gz", ("../a", "file", "x"), ("/b", "file", "x"), ("c", "sym", "/etc"))
    with pytest.raises(UnsafeArchiveError) as caught:
        extract_study(archive, tmp_path / "out")
    assert [p.code for p in caught.value.problems] == ["PARENT_PATH", "ABSOLUTE_PATH", "LINK_OUTSIDE"]


def test_pack_directory_round_trips_through_extract_study_without_the_workspace(tmp_path):
    study = tmp_path / "study"
    (study / "analysis" / "__pycache__").mkdir(parents=True)
    (study / "project.yaml").write_text("version: '4.0'\n")
    (study / "analysis" / "a.py").write_text("print(1)\n")
    (study / "analysis" / "__pycache__" / "a.pyc").write_bytes(b"\0")
    (study / "analysis" / "link.py").symlink_to("a.py")
    (study / "workspace" / "output").mkdir(parents=True)  # what a local `orchestrator run` wrote
    (study / "workspace" / "output" / "dataset.csv").write_text("patient_id\n1\n")
    pack_directory(study, tmp_path / "study.tar.gz")
    names = extract_study(tmp_path / "study.tar.gz", tmp_path / "unpacked")
    assert sorted(names) == ["analysis", "analysis/a.py", "analysis/link.py", "project.yaml"]
    assert (tmp_path / "unpacked" / "analysis" / "link.py").is_symlink()
    assert (tmp_path / "unpacked" / "analysis" / "a.py").read_text() == "print(1)\n"
