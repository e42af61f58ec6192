# Sourced by demo.sh and test.sh: create .venv/ in the project root (once) and install the
# project into it. torch and torchvision are pinned as a pair (see README "Installing").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${PIP[@]}" install "torch==${TORCH_VERSION:-2.14.1}" "torchvision==${TORCHVISION_VERSION:-0.29.1}" 2>&1 \
    | grep -v "^WARNING: Location" || true
# The distribution is squeezenet-dc; a .venv from before the rename has it as "squeezenet".
if .venv/bin/python -m pip show -q squeezenet >/dev/null 2>&1; then
    "${PIP[@]}" uninstall -y squeezenet
fi
"${PIP[@]}" install -e ".${EXTRAS:-}" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import squeezenet" # fail loudly if the install did not work
