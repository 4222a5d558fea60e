#!/usr/bin/env bash
# Runs every test: installs the peer tools the tests use (umoci, skopeo, buildah, registry, e2fsprogs…),
# builds, then runs the whole xunit suite. This is the README's test command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-tools.sh
dotnet build Decant.slnx -c Release --nologo -v quiet
dotnet test Decant.slnx -c Release --no-build --nologo --logger "console;verbosity=normal" "$@"
