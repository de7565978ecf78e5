"""60 real project.yaml files from public OpenSAFELY studies, byte for byte (see the corpus README).

Every file validates except those with a genuine defect, listed below with the code it must give
and what is wrong. OpenSAFELY's own parser (1.57.0) rejects exactly these 26 and accepts the
other 34; our stricter rules (cycles, paths outside the workspace) reject nothing more.
"""

import pytest

from orchestrator.pipeline import validate_project_source
from tests.utils.corpus import PROJECT_YAML_DIR, PROJECT_YAML_FILES, requires_corpus

FILES = PROJECT_YAML_FILES
pytestmark = requires_corpus

DEFECTS = {
    # actions generate_cohorts_v2 and run_model_v2 start at column 0, outside `actions:`
    "opensafely__OS_OC_v001-research.yaml": "YAML_SYNTAX",
    # output/Flowchart.pdf declared moderately_sensitive; PDF is not a Level 4 type
    "opensafely__PostOpCovid.yaml": "BAD_LEVEL4_FILE_TYPE",
    # two actions indented into generate_cohorts, so its run/outputs/needs keys repeat
    "opensafely__T1DM_covid_research.yaml": "DUPLICATE_KEY",
    # tab characters indent lines 139, 140, 148, ...
    "opensafely__absolute-risks-covid-research.yaml": "YAML_TAB",
    # output/measures/*.rds (R data) declared moderately_sensitive
    "opensafely__amr-uom-brit.yaml": "BAD_LEVEL4_FILE_TYPE",
    # format_dataset and create_dataset are each defined three times
    "opensafely__anticoagulants-research.yaml": "DUPLICATE_ACTION",
    # line 23: `data_check:` indented 3 spaces where its siblings have 2
    "opensafely__carehomes-research.yaml": "YAML_SYNTAX",
    # line 22: `run: stata-mp: analysis/check.do`, a tag left out and ': ' in an unquoted value
    "opensafely__covid-collateral-research.yaml": "YAML_SYNTAX",
    # analysis/dummy_data_vax.feather declared moderately_sensitive
    "opensafely__covid-ve-change-over-time.yaml": "BAD_LEVEL4_FILE_TYPE",
    # plots/*.pdf declared moderately_sensitive
    "opensafely__deaths-at-home-covid19.yaml": "BAD_LEVEL4_FILE_TYPE",
    # Stata graphs (.gph) declared moderately_sensitive
    "opensafely__hh-classification-research.yaml": "BAD_LEVEL4_FILE_TYPE",
    # `version: 'latest'` is not a number
    "opensafely__highcostdrugs-research.yaml": "BAD_VERSION",
    # tab characters indent lines 58 and 63
    "opensafely__lockdown-and-vulnerable-groups.yaml": "YAML_TAB",
    # the version key is typed `2version`, so there is no `version`
    "opensafely__mab-av-non-users.yaml": "MISSING_VERSION",
    # output/joined/deciles_*_*.* has no file extension (also .xml and .ipynb at Level 4)
    "opensafely__medication-reviews.yaml": "PATTERN_NO_EXTENSION",
    # .pdf figures declared moderately_sensitive
    "opensafely__openprompt-hrqol.yaml": "BAD_LEVEL4_FILE_TYPE",
    # no `version:` at all
    "opensafely__opioids-covid-research.yaml": "MISSING_VERSION",
    # output/collected_measures.rds declared moderately_sensitive
    "opensafely__os-demo-research.yaml": "BAD_LEVEL4_FILE_TYPE",
    # Stata estimates (.ster) declared moderately_sensitive
    "opensafely__post-admission-admissions-research.yaml": "BAD_LEVEL4_FILE_TYPE",
    # `actions:` appears 7 times, one block per extraction, the first indented into expectations
    "opensafely__post-covid-kidney-outcomes.yaml": "DUPLICATE_KEY",
    # line 1404: a comment wrapped onto a new line without '#' ("reduced")
    "opensafely__post-covid-vaccinated.yaml": "YAML_SYNTAX",
    # Stata estimates (.ster) declared moderately_sensitive
    "opensafely__school-age-children-and-covid.yaml": "BAD_LEVEL4_FILE_TYPE",
    # run_all lists `needs:` twice
    "opensafely__second-line-diabetes-covid-research.yaml": "DUPLICATE_KEY",
    # output/deciles_*_*.* has no file extension
    "opensafely__test-point-and-click.yaml": "PATTERN_NO_EXTENSION",
    # unresolved git merge-conflict markers (<<<<<<< Updated upstream) on lines 23-34
    "opensafely__vax-fourth-dose-RD.yaml": "MERGE_CONFLICT",
    # analysis/dummy_data_vax.feather declared moderately_sensitive
    "opensafely__waning-ve-2dose-1year.yaml": "BAD_LEVEL4_FILE_TYPE",
}


def test_the_corpus_is_there():
    assert len(FILES) == 60, f"expected 60 project files in {PROJECT_YAML_DIR}"
    assert set(DEFECTS) <= {path.name for path in FILES}
    assert len(DEFECTS) == 26


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name.removeprefix("opensafely__"))
def test_corpus_file(path):
    project, problems = validate_project_source(path.read_bytes())
    codes = {problem.code for problem in problems}
    if path.name in DEFECTS:
        assert project is None
        assert DEFECTS[path.name] in codes, [problem.describe(path.name) for problem in problems]
    else:
        assert problems == [], [problem.describe(path.name) for problem in problems]
        assert len(project.actions) > 0
