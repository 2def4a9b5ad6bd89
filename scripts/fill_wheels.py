"""Fill wheels/ with the wheels listed in scripts/wheel_requirements.txt and write their paths into
blender_manifest.toml's `wheels = [...]` list (Blender installs them with the extension).

    .venv/bin/python scripts/fill_wheels.py [--platform manylinux_2_28_x86_64 ...] [--python 3.11 ...]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = REPO_ROOT / "scripts" / "wheel_requirements.txt"
WHEELS = REPO_ROOT / "wheels"
MANIFEST = REPO_ROOT / "blender_manifest.toml"
PLATFORMS = ("manylinux_2_28_x86_64", "win_amd64", "macosx_11_0_arm64", "macosx_10_13_x86_64")
PYTHONS = ("3.11", "3.13")


def requirements() -> list[str]:
    lines = [line.split("#", 1)[0].strip() for line in REQUIREMENTS.read_text().splitlines()]
    return [line for line in lines if line]


def download(requirement: str, platform: str, python: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
                    "--platform", platform, "--python-version", python, "-d", str(WHEELS), requirement],
                   check=True)


def write_manifest_list(wheel_names: list[str]) -> None:
    text = MANIFEST.read_text()
    entries = "".join(f'  "./wheels/{name}",\n' for name in wheel_names)
    new, count = re.subn(r"(?ms)^wheels = \[\n.*?^\]", f"wheels = [\n{entries}]", text)
    if count != 1:
        raise SystemExit("blender_manifest.toml has no `wheels = [` … `]` block to fill")
    MANIFEST.write_text(new)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--platform", action="append", help=f"wheel platform tags (default: {PLATFORMS})")
    parser.add_argument("--python", action="append", help=f"Python versions (default: {PYTHONS})")
    args = parser.parse_args()
    WHEELS.mkdir(exist_ok=True)
    for old in WHEELS.glob("*.whl"):
        old.unlink()
    for requirement in requirements():
        for platform in args.platform or PLATFORMS:
            for python in args.python or PYTHONS:
                download(requirement, platform, python)
    names = sorted(p.name for p in WHEELS.glob("*.whl"))
    write_manifest_list(names)
    print(f"{len(names)} wheels in {WHEELS.relative_to(REPO_ROOT)}; manifest updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
