#!/usr/bin/env bash
# Installs natscli (`nats`) into .venv/bin for the natscli checks in tests/sys_requests.rs
# (`nats server check connection|jetstream`, `nats server ping`, `nats server report
# jetstream`). One try with a generous timeout; without Go, or when the module proxy does
# not serve it, it says so and the tests skip those checks (they print why).
set -u
VERSION="${NATSCLI_VERSION:-v0.5.0}"
DEST="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin"
if [ -x "$DEST/nats" ]; then
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "install-natscli: no Go toolchain; natscli checks will be skipped" >&2
  exit 0
fi
mkdir -p "$DEST"
if GOBIN="$DEST" timeout "${NATSCLI_TIMEOUT:-420}" go install "github.com/nats-io/natscli/nats@$VERSION"; then
  echo "install-natscli: $("$DEST/nats" --version 2>&1) in $DEST"
else
  echo "install-natscli: go install github.com/nats-io/natscli/nats@$VERSION failed; natscli checks will be skipped" >&2
fi
exit 0
