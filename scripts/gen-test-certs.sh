#!/usr/bin/env bash
# Makes the TLS fixtures of tests/tls.rs (and config/tls.toml's example) with openssl:
# a CA, a server certificate for localhost/127.0.0.1, a client certificate signed by the CA
# (alice; email and DNS SANs for verify_and_map), and a client certificate from another CA
# (which a `verify = true` server must refuse), and bob's certificate from the CA, whom no
# test configures as a user (verify_and_map refuses him). Valid for 100 years: committed fixtures.
#
#   scripts/gen-test-certs.sh [out_dir]      (default tests/fixtures/tls)
set -euo pipefail
out=${1:-"$(dirname "$0")/../tests/fixtures/tls"}
mkdir -p "$out"
cd "$out"
days=36500
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)

ca() { # name subject
  openssl req -x509 "${ec[@]}" -keyout "$1-key.pem" -out "$1.pem" -days $days \
    -subj "$2" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}
leaf() { # name subject ca extfile-text
  openssl req "${ec[@]}" -keyout "$1-key.pem" -out "$1.csr" -subj "$2" 2>/dev/null
  printf '%s\n' "$4" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3-key.pem" -CAcreateserial \
    -out "$1-cert.pem" -days $days -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

ca ca "/O=natrix tests/CN=natrix test CA"
ca other-ca "/O=someone else/CN=untrusted CA"
leaf server "/O=natrix tests/CN=localhost" ca \
  "subjectAltName=DNS:localhost,IP:127.0.0.1
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth"
leaf client "/O=natrix tests/CN=alice" ca \
  "subjectAltName=email:alice@example.com,DNS:alice.example.com
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
leaf nobody "/O=natrix tests/CN=bob" ca \
  "subjectAltName=email:bob@example.com
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
leaf rogue "/O=someone else/CN=mallory" other-ca \
  "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
rm -f ./*.srl other-ca-key.pem ca-key.pem
echo "TLS fixtures written to $(pwd)"
