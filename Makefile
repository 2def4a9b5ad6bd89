# Design Space — development commands. `make demo` and `make test` set up what they need.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
BLENDER_EXT := $(VENV)/lib/python3.11/site-packages/bpy/5.0/scripts/addons_core/bl_pkg/cli/blender_ext.py
REAL_BLENDER ?= ../shared/tools/real-blender
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' blender_manifest.toml)
ZIP := build/design_space-$(VERSION).zip

.PHONY: setup demo test bench build build-platforms real-blender-screenshots real-blender-check real-blender-tests real-blender-screenshot real-blender-shape-space-screenshot real-blender-parts-screenshot real-blender-comparisons-screenshot real-blender-volumes-screenshot real-blender-sketch-probe real-blender-training-probe real-blender-jobs-probe clean

setup: $(VENV)/.ready .data/mpfb2/.complete

$(VENV)/.ready: scripts/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r scripts/requirements.txt
	touch $@

.data/mpfb2/.complete: $(VENV)/.ready
	$(PY) scripts/fetch_makehuman.py --dest .data

demo: setup
	$(PY) scripts/demo.py --output demo_output

# One test file per core (a file's trained fixtures stay in one process); one BLAS thread per process, as
# two processes on two cores each spinning two threads ran a torch step 30x slower (notes/measured-here).
test: setup
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest tests -q -p no:cacheprovider -n auto --dist loadfile

bench: setup
	$(PY) scripts/bench.py --output bench_output

build: setup
	mkdir -p build
	$(PY) $(BLENDER_EXT) validate .
	$(PY) $(BLENDER_EXT) build --source-dir . --output-dir build

# One zip per platform (linux-x64, windows-x64, macos-arm64, macos-x64), each checked by Blender's validator.
build-platforms: setup
	mkdir -p build/platforms
	$(PY) $(BLENDER_EXT) build --source-dir . --output-dir build/platforms --split-platforms
	for zip in build/platforms/design_space-$(VERSION)-*.zip; do $(PY) $(BLENDER_EXT) validate $$zip || exit 1; done

# Every screenshot in the README, from the real Blender 4.3 window (about 15 minutes).
real-blender-screenshots: real-blender-screenshot real-blender-shape-space-screenshot real-blender-parts-screenshot \
		real-blender-comparisons-screenshot real-blender-sketch-probe real-blender-training-probe \
		real-blender-volumes-screenshot

# The install check inside real Blender 4.3 (not in CI: it needs ../shared/tools/real-blender setup).
real-blender-check: build
	$(REAL_BLENDER) run -- blender --command extension validate $(ZIP)
	$(REAL_BLENDER) run -- bash tests/install_check_real_blender.sh $(ZIP)

# The Blender integration tests inside real Blender 4.3 (Python 3.13, numpy 2). With the virtual
# display of --gui: real Blender needs one to render (the Workbench comparison of tests/test_views.py).
real-blender-tests: setup
	$(REAL_BLENDER) run --gui -- env BLENDER_USER_RESOURCES=/tmp/design_space_rb_tests blender --background \
		--factory-startup --python tests/run_in_blender.py -- tests -q --ignore=tests/test_install.py

# A screenshot of the real window with the Design Space sidebar open (docs/screenshots/).
real-blender-screenshot: build
	mkdir -p docs/screenshots
	$(REAL_BLENDER) shot docs/screenshots/data_panel.png 30 -- bash -c 'export BLENDER_USER_RESOURCES=$$(mktemp -d); \
		blender --command extension install-file -r user_default -e $(ZIP) && \
		blender --background --python scripts/real_blender_panel.py -- --build /tmp/design_space_panel.blend --count 6 && \
		blender /tmp/design_space_panel.blend --python scripts/real_blender_panel.py -- --show'

# The Shape Space section with attribute sliders on an edited MakeHuman body, in the real window.
real-blender-shape-space-screenshot: build
	mkdir -p docs/screenshots
	$(REAL_BLENDER) shot docs/screenshots/shape_space_panel.png 40 -- bash -c 'export BLENDER_USER_RESOURCES=$$(mktemp -d); \
		blender --command extension install-file -r user_default -e $(ZIP) && \
		blender --background --python scripts/real_blender_panel.py -- --build /tmp/design_space_bodies.blend \
			--shape-space --makehuman $(CURDIR)/.data/mpfb2 && \
		blender /tmp/design_space_bodies.blend --python scripts/real_blender_panel.py -- --show --collapse 1'

# The Part Assembly section with six assembled chairs, one selected, in the real window.
real-blender-parts-screenshot: build
	mkdir -p docs/screenshots
	$(REAL_BLENDER) shot docs/screenshots/part_assembly_panel.png 40 -- bash -c 'export BLENDER_USER_RESOURCES=$$(mktemp -d); \
		blender --command extension install-file -r user_default -e $(ZIP) && \
		blender --background --python scripts/real_blender_panel.py -- --build /tmp/design_space_parts.blend --parts && \
		blender /tmp/design_space_parts.blend --python scripts/real_blender_panel.py -- --show --collapse 2 --frame-all'

# The Comparisons section with a pair on show and the learned "sturdy", in the real window.
real-blender-comparisons-screenshot: build
	mkdir -p docs/screenshots
	$(REAL_BLENDER) shot docs/screenshots/comparisons_panel.png 40 -- bash -c 'export BLENDER_USER_RESOURCES=$$(mktemp -d); \
		blender --command extension install-file -r user_default -e $(ZIP) && \
		blender --background --python scripts/real_blender_panel.py -- --build /tmp/design_space_pairs.blend --comparisons && \
		blender /tmp/design_space_pairs.blend --python scripts/real_blender_panel.py -- --show --collapse 3'

# The Volumes section with a learned VAE and four generated chairs asked to be 1 m tall, in the real window.
real-blender-volumes-screenshot: build
	mkdir -p docs/screenshots
	$(REAL_BLENDER) run -- bash -c 'export BLENDER_USER_RESOURCES=/tmp/design_space_rb_volumes; \
		rm -rf $$BLENDER_USER_RESOURCES && blender --command extension install-file -r user_default -e $(ZIP) && \
		blender --background --python scripts/real_blender_panel.py -- --build /tmp/design_space_volumes.blend --volumes'
	$(REAL_BLENDER) shot docs/screenshots/volumes_panel.png 30 -- bash -c 'export BLENDER_USER_RESOURCES=/tmp/design_space_rb_volumes; \
		blender /tmp/design_space_volumes.blend --python scripts/real_blender_panel.py -- --show --collapse 5 --frame-all'

# Draw a sketch with the annotation tool in the real window and search by it (prints SKETCH_PROBE);
# the Recognition screenshot with the matches.
real-blender-sketch-probe: build
	mkdir -p docs/screenshots
	$(REAL_BLENDER) shot docs/screenshots/recognition_panel.png 240 -- bash -c 'export BLENDER_USER_RESOURCES=$$(mktemp -d); \
		blender --command extension install-file -r user_default -e $(ZIP) && \
		blender --background --python scripts/real_blender_sketch_probe.py -- --build /tmp/design_space_sketch.blend && \
		blender /tmp/design_space_sketch.blend --python scripts/real_blender_sketch_probe.py -- --draw --stay'

# Training from the panel in the real window: UI responsiveness, progress, cancel (prints TRAINING_PROBE).
real-blender-training-probe: build
	mkdir -p docs/screenshots
	$(REAL_BLENDER) run --gui -- bash -c 'export BLENDER_USER_RESOURCES=$$(mktemp -d); \
		blender --command extension install-file -r user_default -e $(ZIP) && \
		blender --background --python scripts/real_blender_panel.py -- --build /tmp/design_space_panel.blend && \
		blender /tmp/design_space_panel.blend --python scripts/real_blender_training_probe.py -- \
			--shot $(CURDIR)/docs/screenshots/learning_panel.png --out $(CURDIR)/docs/training_probe.json'

# Find Similar describing a 200-shape library on a thread vs in the worker process: UI frames (prints JOBS_PROBE).
real-blender-jobs-probe: build
	$(REAL_BLENDER) run --gui -- bash -c 'export BLENDER_USER_RESOURCES=$$(mktemp -d); \
		blender --command extension install-file -r user_default -e $(ZIP) && \
		blender --background --python scripts/real_blender_jobs_probe.py -- --build /tmp/design_space_jobs.blend && \
		blender /tmp/design_space_jobs.blend --python scripts/real_blender_jobs_probe.py -- \
			--out $(CURDIR)/docs/jobs_probe.json'

clean:
	rm -rf build demo_output bench_output
