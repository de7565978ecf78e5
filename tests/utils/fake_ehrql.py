"""Stands in for ehrql at a test site (an image map entry runs it with the test's Python):
`generate-dataset DEFINITION --output PATH` writes one row, the number of rows in the `patients`
table of the database at DATABASE_URL, so a test sees which database the action was given. With no
DATABASE_URL it fails, as ehrql would against a real backend."""

import os
import sys
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool


def main(argv: list[str]) -> int:
    command, definition, *options = argv
    if command != "generate-dataset" or not Path(definition).is_file():
        print(f"usage: generate-dataset DEFINITION --output PATH (got {argv})", file=sys.stderr)
        return 2
    url = os.environ.get("DATABASE_URL")
    if not url:
        print("DATABASE_URL is not set: this action was given no database", file=sys.stderr)
        return 3
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as connection:
        patients = connection.execute(text("SELECT count(*) FROM patients")).scalar_one()
    engine.dispose()
    output = Path(options[options.index("--output") + 1])
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(f"patients\n{patients}\n")
    print(f"wrote {patients} patient count to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
