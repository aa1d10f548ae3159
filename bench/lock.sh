#!/usr/bin/env bash
# Regenerate requirements.lock (the service) and requirements-test.lock (the
# service and the test extra) from pyproject.toml, with hashes, for CPython
# 3.11 on any platform. The test lock is constrained by the service lock, so
# both install the same versions of what they share.
#
#   bash bench/lock.sh            # keep what is locked where pyproject allows it
#   bash bench/lock.sh --upgrade  # move everything to the newest allowed
#
# Needs uv (pip install uv). Review the diff, run `bash .ci/run`, commit both files.
set -euo pipefail
cd "$(dirname "$0")/.."
common=(--universal --python-version 3.11 --generate-hashes --quiet
        --custom-compile-command "bash bench/lock.sh")
uv pip compile pyproject.toml "${common[@]}" "$@" -o requirements.lock
uv pip compile pyproject.toml --extra test -c requirements.lock "${common[@]}" "$@" \
  -o requirements-test.lock
