#!/usr/bin/env bash
# System packages a user wants back at every start: ~/.smstudio/apt-packages, one name per
# line (comments with #). The .deb files are kept on the home, so a restart installs them
# again without the network; the archive is only used when the list changes or the cache
# no longer fits the image.

apt_wanted() {
  sed -e 's/#.*//' -e 's/[[:space:]]//g' "$1" | grep -v '^$' || true
}

apt_install() {
  local list="$1" cache="$SMSTUDIO_STATE/apt-cache" sudo="" started key manifest
  local pkgs=() good=() missing=() debs=() name empty
  started="$(date +%s)"
  if [ "$(id -u)" != 0 ]; then sudo="sudo -n"; fi
  while read -r name; do
    if [[ "$name" =~ ^[a-z0-9][a-z0-9+.-]+$ ]]; then
      pkgs+=("$name")
    else
      log_error "'$name' in ~/.smstudio/apt-packages is not a package name; correct or remove that line"
    fi
  done < <(apt_wanted "$list")
  if [ "${#pkgs[@]}" -eq 0 ]; then return 0; fi
  for name in "${pkgs[@]}"; do
    if [ "$(dpkg-query -W -f '${db:Status-Status}' "$name" 2>/dev/null)" != installed ]; then
      missing+=("$name")
    fi
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    log_info "all ${#pkgs[@]} packages already installed: ${pkgs[*]}"
    return 0
  fi
  key="$(printf '%s\n' "${pkgs[@]}" | sort -u | sha1sum | cut -c1-12)"
  manifest="$cache/manifest-$key"
  if [ -s "$manifest" ]; then
    mapfile -t debs < <(sed "s|^|$cache/archives/|" "$manifest")
    if ls "${debs[@]}" >/dev/null 2>&1 \
      && $sudo dpkg -i --skip-same-version "${debs[@]}" >"$cache/dpkg.log" 2>&1; then
      log_info "installed ${pkgs[*]} from the cache on the home (${#debs[@]} .deb files, no network) in $(( $(date +%s) - started ))s"
      return 0
    fi
    log_warn "the cache does not fit this image any more ($(tail -n 1 "$cache/dpkg.log" 2>/dev/null)); fetching again"
  fi
  mkdir -p "$cache/archives/partial"
  if ! $sudo apt-get update -q -o Acquire::Retries=0 -o Acquire::http::Timeout=10 >"$cache/update.log" 2>&1 \
    || grep -q '^\(W\|E\): Failed to fetch' "$cache/update.log"; then
    log_error "cannot reach the package archive (no network?) and the cache does not hold ${missing[*]}; not installed this time ($(grep -m1 -E '^(W|E):' "$cache/update.log"))"
    return 1
  fi
  for name in "${missing[@]}"; do
    if apt-cache show --no-all-versions "$name" >/dev/null 2>&1; then
      good+=("$name")
    else
      log_error "no package named '$name' in the archive; check its spelling in ~/.smstudio/apt-packages"
    fi
  done
  if [ "${#good[@]}" -eq 0 ]; then return 1; fi
  # Every .deb these packages need on this image (an empty archive dir lists them all).
  empty="$(mktemp -d)"
  apt-get install -qq --print-uris -o "Dir::Cache::archives=$empty" "${good[@]}" 2>/dev/null \
    | awk '{print $2}' >"$manifest.new"
  rmdir "$empty"
  local apt_opts=(-y -q -o "Dir::Cache::archives=$cache/archives" -o APT::Sandbox::User=root)
  if ! $sudo apt-get install "${apt_opts[@]}" --download-only "${good[@]}" >"$cache/download.log" 2>&1; then
    log_error "downloading ${good[*]} failed: $(grep -m1 '^E:' "$cache/download.log")"
    return 1
  fi
  mapfile -t debs < <(sed "s|^|$cache/archives/|" "$manifest.new")
  if [ "${#debs[@]}" -eq 0 ] || ! $sudo dpkg -i "${debs[@]}" >"$cache/dpkg.log" 2>&1; then
    log_error "installing ${good[*]} failed: $(grep -m1 -i 'error' "$cache/dpkg.log")"
    return 1
  fi
  mv -f "$manifest.new" "$manifest"
  log_info "installed ${good[*]} from the archive (${#debs[@]} .deb files kept in ~/.smstudio/apt-cache for the next start) in $(( $(date +%s) - started ))s"
  if [ "${#good[@]}" -lt "${#missing[@]}" ]; then return 1; fi
  return 0
}
