# The README's two commands: `make demo` (the main job on the embedded default model) and `make test`.
# Both set up their own virtual environment with pinned dependencies on a fresh Linux machine with Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup test demo typecheck

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

test: setup typecheck
	$(PY) -m pytest -q tests

# The add-on demo: build the zip, install it into headless Blender (the bpy module) in a sandboxed user folder,
# generate with the default model, bake onto a new SMPL rig and a Mixamo-style rig, write out/demo.blend + out/demo.png.
demo: setup
	$(PY) tools/demo.py --out out

# mypy of the add-on against the Blender 4.2 API stubs (the oldest Blender we support), in its own venv because the
# stubs' `bpy` package would clash with the real bpy module. The 4.2 stubs type bpy.props functions as returning None
# and property annotations as calls, hence the two disabled codes.
TYPECHECK_VENV := .venv-typecheck
TYPECHECK_PINS := mypy==2.4.1 fake-bpy-module-4-2==20260730 numpy==1.26.4

$(TYPECHECK_VENV)/.installed:
	$(PYTHON) -m venv $(TYPECHECK_VENV)
	$(TYPECHECK_VENV)/bin/python -m pip install -q $(TYPECHECK_PINS)
	touch $@

typecheck: $(TYPECHECK_VENV)/.installed
	$(TYPECHECK_VENV)/bin/mypy blender_addon --python-version 3.11 --follow-imports=silent --ignore-missing-imports \
		--disable-error-code valid-type --disable-error-code func-returns-value
