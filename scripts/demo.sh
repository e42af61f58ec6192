#!/usr/bin/env bash
# Create .venv/, install the project and run the main job on built-in data (no downloads).
EXTRAS="${EXTRAS:-[demo]}"
source "$(dirname "$0")/_venv.sh"
exec .venv/bin/squeezenet demo "$@"
