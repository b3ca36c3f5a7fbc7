"""A/B: the rush and latency benchmarks of two checkouts, run alternately (A B A B ...), compared per pair.

Usage: python bench/ab.py OLD_CHECKOUT NEW_CHECKOUT [--rounds 3] [--messages 5000]
       [--databases sqlite,postgresql] [--latency-rounds 2]

Each checkout is a directory with the repository and its own `.venv` (mailbot installed editable there);
each runs its OWN bench/burst.py and bench/latency.py, so an old tree is measured with the benchmark it
shipped with. Alternating cancels the machine's drift (a shared 2-core box varies by ±10 % from minute to
minute); the ratio is taken per pair (B's end-to-end rate / A's in the same round), then summarised. Prints
every run's figures and the summary: the new tree keeps >= 90 % of the old throughput when the median pair
ratio is >= 0.90.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

RATE = re.compile(r"all replies accepted by SMTP after\s+([\d.]+) s\s+->\s+(\d+) msg/s")
LATENCY = re.compile(r"p50 ([\d.]+) s, p95 ([\d.]+) s, max ([\d.]+) s")


@dataclass(frozen=True)
class Run:
    """One benchmark run's figures."""

    label: str
    seconds: float
    rate: float


def run(checkout: Path, script: str, args: list[str]) -> str:
    """Run one benchmark of a checkout with its own interpreter; its whole output."""
    python = checkout / ".venv" / "bin" / "python"
    done = subprocess.run(
        [str(python), str(checkout / "bench" / script), *args],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"{checkout}: bench/{script} failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    return done.stdout


def burst(checkout: Path, label: str, messages: int, database: str) -> Run:
    """One rush: seconds until every reply was accepted, and the end-to-end rate."""
    out = run(checkout, "burst.py", ["--messages", str(messages), "--database", database])
    found = RATE.search(out)
    if found is None:
        sys.exit(f"{checkout}: no rate in bench/burst.py's output:\n{out}")
    figures = Run(label, float(found.group(1)), float(found.group(2)))
    print(f"  {label:>3} {database:<10} {figures.seconds:6.2f} s  {figures.rate:6.0f} msg/s", flush=True)
    return figures


def latency(checkout: Path, label: str) -> tuple[float, float, float]:
    """One latency run: p50, p95 and max seconds from delivery to reply."""
    out = run(checkout, "latency.py", [])
    found = LATENCY.search(out)
    if found is None:
        sys.exit(f"{checkout}: no latency in bench/latency.py's output:\n{out}")
    p50, p95, top = (float(value) for value in found.groups())
    print(f"  {label:>3} latency    p50 {p50:.3f} s  p95 {p95:.3f} s  max {top:.3f} s", flush=True)
    return p50, p95, top


def main() -> None:
    """Alternate the two checkouts, print each run and the pairwise summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--latency-rounds", type=int, default=2)
    options = parser.parse_args()
    old, new = options.old.resolve(), options.new.resolve()
    for label, checkout in (("A", old), ("B", new)):
        git = ["git", "-C", str(checkout), "log", "--oneline", "-1"]
        head = subprocess.run(git, capture_output=True, text=True, check=False)
        print(f"{label} = {checkout}: {head.stdout.strip()}")
    summary: list[str] = []
    for database in options.databases.split(","):
        ratios: list[float] = []
        print(f"rush of {options.messages} mails, {database}:")
        for round_no in range(options.rounds):
            first, second = ((old, "A"), (new, "B")) if round_no % 2 == 0 else ((new, "B"), (old, "A"))
            runs = {label: burst(tree, label, options.messages, database) for tree, label in (first, second)}
            ratios.append(runs["B"].rate / runs["A"].rate)
        summary.append(
            f"{database}: B/A end-to-end rate per pair {', '.join(f'{r:.2f}' for r in ratios)}"
            f" (median {statistics.median(ratios):.2f})"
        )
    if options.latency_rounds:
        print("latency (bench/latency.py defaults):")
        figures: dict[str, list[tuple[float, float, float]]] = {"A": [], "B": []}
        for round_no in range(options.latency_rounds):
            order = ((old, "A"), (new, "B")) if round_no % 2 == 0 else ((new, "B"), (old, "A"))
            for checkout, label in order:
                figures[label].append(latency(checkout, label))
        for label in ("A", "B"):
            p50s, p95s = [f[0] for f in figures[label]], [f[1] for f in figures[label]]
            p50, p95 = statistics.median(p50s), statistics.median(p95s)
            summary.append(f"latency {label}: p50 {p50:.3f} s, p95 {p95:.3f} s (median of {len(p50s)} runs)")
    print("summary:")
    for line in summary:
        print(f"  {line}")


if __name__ == "__main__":
    main()
