"""Run pytest inside a real Blender: blender --background --python tests/run_in_blender.py -- [pytest args]."""

import sys

import pytest

args = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
sys.exit(pytest.main(["-p", "no:cacheprovider", *args]))
