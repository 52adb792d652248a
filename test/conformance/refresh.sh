#!/usr/bin/env bash
# Refresh the vendored conformance data from the workplace's ../shared/conformance/ (when it exists).
# The files are copied as they are: they are other projects' data and are never edited here.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$here/../../../shared/conformance"
[ -d "$src" ] || { echo "refresh: $src not found; nothing to refresh" >&2; exit 1; }
for set in "$src"/*/; do
  name="$(basename "$set")"
  rm -rf "${here:?}/$name"
  cp -r "$set" "$here/$name"
done
echo "refresh: copied $(ls "$src" | wc -l) sets from $src"
