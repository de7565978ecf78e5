"""Copies the first rows of the patient-level dataset: a file that must never be released, so
Level 4 checks withhold it (it has a patient_id column) and explain why in sample_rows.csv.txt."""

import argparse
import csv

parser = argparse.ArgumentParser()
parser.add_argument("--rows", type=int, default=10)
args = parser.parse_args()

with open("output/dataset.csv", newline="") as source, open("output/sample_rows.csv", "w", newline="") as target:
    reader, writer = csv.reader(source), csv.writer(target)
    for index, row in enumerate(reader):
        if index > args.rows:
            break
        writer.writerow(row)
print(f"wrote the first {args.rows} rows to output/sample_rows.csv")
