"""A bar chart of patients by age band, written as SVG by hand (no plotting library needed)."""

import csv
from pathlib import Path
from xml.sax.saxutils import escape

WIDTH, HEIGHT, MARGIN, BAR_GAP = 480, 300, 40, 12


def main() -> None:
    with open("output/summary_by_age.csv", newline="") as file:
        rows = [(row["age_band"], row["patients"]) for row in csv.DictReader(file)]
    values = [int(count) if count.isdigit() else 0 for _, count in rows]  # redacted -> no bar
    top = max(values + [1])
    bar_width = (WIDTH - 2 * MARGIN) / len(rows) - BAR_GAP
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="14">Patients by age band</text>',
        f'<line x1="{MARGIN}" y1="{HEIGHT - MARGIN}" x2="{WIDTH - MARGIN}" y2="{HEIGHT - MARGIN}" stroke="black"/>',
    ]
    for index, ((band, count), value) in enumerate(zip(rows, values, strict=True)):
        height = (HEIGHT - 2 * MARGIN - 20) * value / top
        x = MARGIN + BAR_GAP / 2 + index * (bar_width + BAR_GAP)
        y = HEIGHT - MARGIN - height
        parts += [
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_width:.1f}" height="{height:.1f}" fill="#4a7ab7"/>',
            f'<text x="{x + bar_width / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle">{escape(count)}</text>',
            f'<text x="{x + bar_width / 2:.1f}" y="{HEIGHT - MARGIN + 16}" text-anchor="middle">{escape(band)}</text>',
        ]
    parts.append("</svg>")
    Path("output/age_chart.svg").write_text("\n".join(parts) + "\n")
    print("wrote output/age_chart.svg")


if __name__ == "__main__":
    main()
