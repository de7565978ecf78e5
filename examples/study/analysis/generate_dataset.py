"""Dummy patient-level data: one row per patient, seeded so every run writes the same file."""

import argparse
import csv
import random
from pathlib import Path

REGIONS = ["East", "London", "Midlands", "North East", "North West", "South East", "South West"]
CONDITIONS_RISK = {"0-17": 0.02, "18-39": 0.05, "40-59": 0.12, "60-79": 0.25, "80+": 0.40}


def age_band(age: int) -> str:
    for band, upper in (("0-17", 17), ("18-39", 39), ("40-59", 59), ("60-79", 79)):
        if age <= upper:
            return band
    return "80+"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    out = Path("output/dataset.csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["patient_id", "age", "sex", "region", "has_condition"])
        for patient_id in range(1, args.patients + 1):
            age = min(100, max(0, int(rng.gauss(45, 22))))
            has_condition = rng.random() < CONDITIONS_RISK[age_band(age)]
            writer.writerow([patient_id, age, rng.choice("FM"), rng.choice(REGIONS), int(has_condition)])
    print(f"wrote {args.patients} patients to {out}")


if __name__ == "__main__":
    main()
