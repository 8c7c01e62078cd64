#!/usr/bin/env bash
# Builds the container image (deploy/Containerfile) as localhost/batchline:dev with podman, on a
# machine with no container registry: the Debian 12 base is made here with debootstrap (slimmed as
# debian:bookworm-slim is, cached under ~/.cache/batchline), and the Swift toolchain on PATH is
# bind-mounted into the build stage. Prints the image's size.
#
#   scripts/image.sh [TAG]          # default localhost/batchline:dev
#
# DEBIAN_MIRROR overrides the Debian mirror (default: the one apt uses here). CONTAINERS_CONF
# defaults to deploy/podman/containers.conf (runc, cgroupfs, ulimits a sandbox accepts).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
tag=${1:-localhost/batchline:dev}
cache=${BATCHLINE_CACHE:-$HOME/.cache/batchline}
base=localhost/debian:bookworm
export CONTAINERS_CONF=${CONTAINERS_CONF:-$root/deploy/podman/containers.conf}
log() { printf 'image: %s\n' "$*" >&2; }

scripts/bootstrap.sh --containers

# 1. The base: debootstrap's minbase, slimmed (no docs, man pages, locales, apt lists or .debs).
if ! podman image exists "$base"; then
  tarball=$cache/debian-bookworm-minbase.tar
  if [[ ! -s $tarball ]]; then
    mirror=${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)}
    mirror=${mirror:-http://deb.debian.org/debian}
    dir=$(mktemp -d "$cache/debootstrap.XXXXXX")
    trap 'rm -rf "$dir"' EXIT
    log "debootstrap bookworm (minbase) from $mirror"
    debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$dir.log" 2>&1 || {
      tail -5 "$dir.log" >&2
      log "debootstrap failed (log: $dir.log)"
      exit 1
    }
    rm -f "$dir.log"
    cat >"$dir/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror%/debian}/debian-security bookworm-security main
EOF
    cat >"$dir/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
    echo 'APT::Keep-Downloaded-Packages "false";' >"$dir/etc/apt/apt.conf.d/docker-clean"
    find "$dir/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
    rm -rf "$dir"/usr/share/{man,info,locale,lintian}/* "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/archives/*.deb \
      "$dir"/var/cache/apt/*.bin "$dir"/var/log/*.log
    tar -C "$dir" --numeric-owner -cf "$tarball.part" .
    mv "$tarball.part" "$tarball"
    rm -rf "$dir"
    trap - EXIT
  fi
  log "importing $tarball as $base"
  podman import --change 'CMD ["/bin/bash"]' "$tarball" "$base" >/dev/null
fi

# 2. The toolchain and, where git reads github.com from a local mirror, that mirror.
swift_bin=$(dirname "$(readlink -f "$(command -v swift)")")
toolchain=${swift_bin%/usr/bin}
[[ -x $toolchain/usr/bin/swift-build ]] || {
  log "no Swift toolchain found at $toolchain"
  exit 1
}
mounts=(-v "$toolchain:/opt/swift:ro")
mirror=$(git config --get-regexp '^url\..*\.insteadof$' | awk '$2 == "https://github.com/" { print $1 }' | head -1)
if [[ -n $mirror ]]; then
  mirror=${mirror#url.}
  mirror=${mirror%.insteadof}
  mounts+=(-v "$mirror:$mirror:ro" --build-arg "GIT_MIRROR=$mirror")
fi

# Where this machine reaches PyPI through a TLS proxy of its own, the build trusts the same CAs.
ca=${PIP_CERT:-${SSL_CERT_FILE:-}}
if [[ -n $ca && -s $ca ]]; then
  mounts+=(-v "$ca:/run/build-ca.pem:ro" --build-arg PIP_CERT=/run/build-ca.pem)
fi

# 3. The image.
log "building $tag (a release build inside: minutes)"
start=$(date +%s)
podman build --layers -f deploy/Containerfile -t "$tag" \
  --build-arg BUILD_IMAGE="$base" --build-arg RUNTIME_IMAGE="$base" "${mounts[@]}" .
size=$(podman image inspect --format '{{.Size}}' "$tag")
log "built $tag in $(($(date +%s) - start)) s: $((size / 1000000)) MB"
