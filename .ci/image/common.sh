# shellcheck shell=bash disable=SC2034
# Shared by the .ci/image scripts (sourced, not run).
# The podman/buildah settings that work on a machine without a Docker daemon (checked on Debian 12):
# vfs storage, chroot isolation for builds, runc with cgroupfs and explicit ulimits for runs (the
# default crun and the default ulimits fail there).

# Bollard's images live in a storage of their own (IMAGE_STORAGE_ROOT), so they never clash with
# another storage driver chosen by a plain `podman` run on the same machine (podman refuses a
# driver that differs from its database's), and pruning never touches anyone else's images.
# Use .ci/image/podman to look at them by hand.
shopt -s inherit_errexit
IMAGE_DIR_CACHE=${IMAGE_CACHE_DIR:-build/image}
IMAGE_STORAGE_ROOT=${IMAGE_STORAGE_ROOT:-/var/lib/containers/bollard}
IMAGE_RUN_ROOT=${IMAGE_RUN_ROOT:-/run/containers/bollard}
STORAGE=(--root "$IMAGE_STORAGE_ROOT" --runroot "$IMAGE_RUN_ROOT" --storage-driver vfs)
BUILDAH=(buildah "${STORAGE[@]}")
PODMAN=(podman "${STORAGE[@]}" --cgroup-manager=cgroupfs --runtime runc)

say() { echo "image: $*" >&2; }
die() { echo "image: ERROR: $*" >&2; exit 1; }

# The Debian mirror this machine's apt uses (first deb URI of the main archive), so the
# stand-in bases come from the same place as every other package here. Override: DEBIAN_MIRROR.
debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  local uri=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    uri=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) if ($i !~ /security/) {print $i; exit}}' \
      /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' \
      /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || die "cannot find a Debian mirror in /etc/apt sources; set DEBIAN_MIRROR"
  echo "$uri"
}

# sha256 of stdin, first 16 hex digits: the cache key of a recipe.
short_hash() { sha256sum | cut -c1-16; }

# True when IMAGE is in the local container storage of the chosen engine.
have_image() {
  case "$ENGINE" in
    docker) docker image inspect "$1" >/dev/null 2>&1 ;;
    *) "${BUILDAH[@]}" inspect --type image "$1" >/dev/null 2>&1 ;;
  esac
}

# import_rootfs TARBALL NAME [--arch ARCH] [--change INSTR]...
import_rootfs() {
  local tar=$1 name=$2; shift 2
  case "$ENGINE" in
    docker)
      [ "${1:-}" = --arch ] && set -- --platform "linux/$2" "${@:3}"
      docker import "$@" "$tar" "$name" >/dev/null
      ;;
    *) "${PODMAN[@]}" import -q "$@" "$tar" "$name" >/dev/null ;;
  esac
}
