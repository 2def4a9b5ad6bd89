#!/usr/bin/env bash
# Inside real Blender (run through ../shared/tools/real-blender): validate, build, install the
# extension with Blender's own command line, then run install_check.py in the installed program.
set -euo pipefail
zip=$1
here=$(cd "$(dirname "$0")" && pwd)
user=$(mktemp -d)
trap 'rm -rf "$user"' EXIT
export BLENDER_USER_RESOURCES=$user
blender --version | head -n1
blender --command extension validate "$zip"
mkdir -p "$user/build"
blender --command extension build --source-dir "$here/.." --output-dir "$user/build"
blender --command extension install-file -r user_default -e "$user/build/$(basename "$zip")"
blender --background --python-exit-code 1 --python "$here/install_check.py" -- --installed
