#!/usr/bin/env bash
# fetch-verified.sh URL SHA256 DEST: download URL to DEST and check its SHA-256; used at
# image build for what only AWS serves (the SSM agent, AWS CLI v2). Nothing is kept when
# the checksum is missing or wrong.
set -euo pipefail
if [ "$#" -ne 3 ]; then
  echo "usage: fetch-verified.sh URL SHA256 DEST" >&2
  exit 2
fi
url="$1" sum="$2" dest="$3"
if ! [[ "$sum" =~ ^[0-9a-f]{64}$ ]]; then
  echo "fetch-verified: no valid SHA-256 given for $url; set its *_SHA256 bake variable" >&2
  exit 2
fi
curl --fail --silent --show-error --location --retry 2 --output "$dest" "$url"
if ! echo "$sum  $dest" | sha256sum --check --status; then
  echo "fetch-verified: checksum mismatch for $url (got $(sha256sum "$dest" | cut -d' ' -f1), expected $sum)" >&2
  rm -f "$dest"
  exit 1
fi
echo "fetch-verified: $url ($sum)"
