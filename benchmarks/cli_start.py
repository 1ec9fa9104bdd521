"""How fast the command line starts: ``convlens --help`` and ``--version`` against the
floor (a bare Python start) and against what they used to pay (``import torch``).

    .venv/bin/python benchmarks/cli_start.py [--repeats 9]

Each command is a fresh process (cold imports, warm file cache); the commands are
interleaved, each round in a new order, and the median of the repeats is printed
with its range. Acceptance: ``convlens --help`` <= 0.5 s on the project machine,
importing neither torch nor numpy. The verbs' own help pages are shown for
comparison.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
COMMANDS = {
    "python -c pass (the floor)": [sys.executable, "-c", "pass"],
    "convlens --help": [str(BIN / "convlens"), "--help"],
    "convlens --version": [str(BIN / "convlens"), "--version"],
    "python -m convlens --help": [sys.executable, "-m", "convlens", "--help"],
    "convlens train --help": [str(BIN / "convlens"), "train", "--help"],
    "convlens probe --help": [str(BIN / "convlens"), "probe", "--help"],
    "convlens attribute --help": [str(BIN / "convlens"), "attribute", "--help"],
    "convlens topk --help (lists a library value)": [str(BIN / "convlens"), "topk", "--help"],
    "python -c 'import torch' (the old cost)": [sys.executable, "-c", "import torch"],
}


def seconds(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="rounds (default 9)")
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for cmd in COMMANDS.values():  # one untimed round fills the file cache
        seconds(cmd)
    rng = random.Random(0)
    for _ in range(args.repeats):
        order = list(COMMANDS)
        rng.shuffle(order)
        for name in order:
            times[name].append(seconds(COMMANDS[name]))
    floor = statistics.median(times["python -c pass (the floor)"])
    print(f"{'command':46} {'median':>8} {'range':>15} {'x floor':>8}")
    for name, ts in times.items():
        med = statistics.median(ts)
        span = f"{min(ts):.3f}-{max(ts):.3f}"
        print(f"{name:46} {med:8.3f} {span:>15} {med / floor:8.1f}")
    helps = statistics.median(times["convlens --help"])
    verdict = "met" if helps <= 0.5 else "NOT met"
    print(f"\nconvlens --help: {helps:.3f} s median (target <= 0.5 s: {verdict})")


if __name__ == "__main__":
    main()
