"""Aggregate the dataset by age band and by region, with OpenSAFELY-style disclosure control:
counts of 7 or fewer are redacted and the rest rounded to the nearest 5."""

import csv
from collections import Counter
from pathlib import Path

from generate_dataset import age_band

BANDS = ["0-17", "18-39", "40-59", "60-79", "80+"]


def safe(count: int) -> str:
    return "[REDACTED]" if count <= 7 else str(5 * round(count / 5))


def write(path: Path, key_name: str, keys, totals: Counter, cases: Counter) -> None:
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow([key_name, "patients", "with_condition"])
        for key in keys:
            writer.writerow([key, safe(totals[key]), safe(cases[key])])
    print(f"wrote {path}")


def main() -> None:
    totals_age, cases_age, totals_region, cases_region = Counter(), Counter(), Counter(), Counter()
    with open("output/dataset.csv", newline="") as file:
        for row in csv.DictReader(file):
            band, region, case = age_band(int(row["age"])), row["region"], int(row["has_condition"])
            totals_age[band] += 1
            cases_age[band] += case
            totals_region[region] += 1
            cases_region[region] += case
    write(Path("output/summary_by_age.csv"), "age_band", BANDS, totals_age, cases_age)
    write(Path("output/summary_by_region.csv"), "region", sorted(totals_region), totals_region, cases_region)


if __name__ == "__main__":
    main()
