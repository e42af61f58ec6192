#!/usr/bin/env bash
# Create .venv/, install the project with its test extras, check lint, formatting, the
# import layers (pyproject.toml [tool.importlinter]) and the types (mypy, [tool.mypy]), then
# run the default test suite.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -m slow`).
# Every optional runtime the tests exercise (ONNX Runtime, OpenVINO, scikit-learn, TensorBoard,
# matplotlib, Playwright for the web page), so that CI runs those tests instead of skipping them.
EXTRAS="[test,demo,train,openvino,browser]"
source "$(dirname "$0")/_venv.sh"
.venv/bin/ruff check src tests scripts benchmarks
.venv/bin/ruff format --check src tests scripts benchmarks
.venv/bin/lint-imports
.venv/bin/mypy src
if [ "$#" -eq 0 ]; then set -- -m "not slow"; fi
exec .venv/bin/python -m pytest -q "$@"
