#!/usr/bin/env bash
# Publishes the decant CLI as one Native-AOT binary: artifacts/aot/decant.
# Needs clang and zlib1g-dev (Debian); installs them when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
for pkg in clang zlib1g-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" >/dev/null
done
dotnet publish src/Decant.Cli/Decant.Cli.csproj -c Release -r linux-x64 -p:PublishAot=true -o artifacts/aot --nologo -v quiet
echo "artifacts/aot/decant"
