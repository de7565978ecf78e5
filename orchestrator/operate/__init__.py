"""Operating a site: `orchestrator site ...` commands over its action runs, its disk and its modes."""
