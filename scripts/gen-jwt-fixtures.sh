#!/usr/bin/env bash
# Regenerates tests/fixtures/jwt/: an operator (with a signing key), accounts SYS, TEAM_A
# (plain + scoped signing keys, limits, public and private exports, one revoked user), TEAM_B (signed by the
# operator's signing key; imports TEAM_A's exports, with good and bad activation tokens), TEAM_C (no bearer tokens), TEAM_D
# (small JetStream limits), TEAM_E (file storage only), and user .creds for each case tests/jwt_auth.rs covers. Uses the
# standard NATS Go libraries (nats-io/jwt/v2, nats-io/nkeys); needs Go only to regenerate,
# never to run the tests. Every run makes new keys: commit the whole directory.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/tests/fixtures/jwt"
rm -rf "$out"
mkdir -p "$out"
(cd "$root/scripts/jwt-fixtures" && go run . "$out")
echo "wrote $(ls "$out" | wc -l) files to $out"
