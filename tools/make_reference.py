"""Write a lesson's shipped reference run from a ``genimg run`` output folder.

    genimg run --profile cpu --out /tmp/cpurun 03_dcgan
    python tools/make_reference.py /tmp/cpurun --machine "2-core CPU (course dev box)"

For every ``<lesson>.json`` figures file in the folder whose card says the lesson ran (status
``ok``), the lesson's ``genimg_course/reference/<lesson>.json`` gets (or replaces) the entry for
that run's profile: machine, date, torch version, commit, wall time and the figures (peaks and
timestamps dropped). Lessons print these beside the learner's own run
(:func:`genimg_course.reference.versus_reference`).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from genimg_course.files import write_text  # noqa: E402
from genimg_course.reference import REFERENCE_DIR  # noqa: E402

DROP = {"lesson", "started", "elapsed_s", "peak_ram_gib", "peak_gpu_allocated_gib", "peak_gpu_reserved_gib"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path, help="a genimg run output folder")
    p.add_argument("--machine", required=True, help="the machine in words, e.g. '2-core CPU, 24 GiB'")
    p.add_argument("--commit", default=None, help="the commit the run used (default: this checkout's HEAD)")
    p.add_argument("--out", type=Path, default=REFERENCE_DIR)
    args = p.parse_args(argv)
    commit = args.commit or subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                                           text=True).stdout.strip()
    wrote = 0
    for card_path in sorted(args.run_dir.glob("*.card.json")):
        card = json.loads(card_path.read_text())
        stem = card_path.name[: -len(".card.json")]
        fig_path = args.run_dir / f"{stem}.json"
        if card.get("status") != "ok" or not fig_path.exists():
            print(f"skip {stem}: status {card.get('status')!r}")
            continue
        figs = json.loads(fig_path.read_text())
        profile = figs.get("profile") or card.get("profile")
        target = args.out / f"{stem}.json"
        data = json.loads(target.read_text()) if target.exists() else {"lesson": stem, "runs": {}}
        data["runs"][profile] = {
            "machine": args.machine, "date": figs.get("started", "")[:10], "commit": commit,
            "torch": card.get("torch"), "device": figs.get("device"),
            "wall_s": card.get("wall_s"),
            "figures": {k: v for k, v in figs.items() if k not in DROP},
        }
        write_text(target, json.dumps(data, indent=1, sort_keys=True) + "\n")
        wrote += 1
        print(f"{target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}: {profile} run of {stem}")
    if not wrote:
        print(f"no finished lesson with figures in {args.run_dir}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
