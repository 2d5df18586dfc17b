#!/usr/bin/env bash
# Build the CPU image with podman from Debian packages alone, on machines that reach package registries but
# not Docker Hub or the PyTorch wheel index (the project's CI):
#
#   1. the base localhost/debian-base:bookworm: `debootstrap --variant=minbase bookworm` + python3, python3-venv
#      from the Debian mirror apt already uses (Python 3.11, as in python:3.11-slim-bookworm); reused when present;
#   2. a throw-away wheel index holding the CPU build of torch (and its dependencies), fetched with pip's own
#      configured sources on this machine (PyPI's Linux torch is the CUDA build, several GB);
#   3. `podman build` of docker/Dockerfile with BASE and TORCH_INDEX pointing at those two → localhost/faultdx:cpu,
#      its pip trusting the certificates the host's pip trusts (a pip.conf mounted for the build, not kept).
#
# Run as root from anywhere:  bash docker/build-local.sh [--fresh-base] [--no-cache] [--report FILE]
#   --fresh-base   rebuild the base even when it exists
#   --no-cache     rebuild every image layer (by default podman reuses the layers whose inputs are unchanged)
#   --report FILE  write what was done and how long it took as JSON (docker/measure.py reads it)
# Environment: FAULTDX_IMAGE (default localhost/faultdx:cpu), FAULTDX_BASE_IMAGE (localhost/debian-base:bookworm),
# DEBIAN_MIRROR (default: the first Debian URI in /etc/apt/sources.list*), TORCH_INDEX (a PEP 503 index with a
# CPU torch wheel, instead of step 2), CONTAINERS_CONF (default docker/podman/containers.conf).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGE="${FAULTDX_IMAGE:-localhost/faultdx:cpu}"
BASE_IMAGE="${FAULTDX_BASE_IMAGE:-localhost/debian-base:bookworm}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$ROOT/docker/podman/containers.conf}"
FRESH_BASE=0
NO_CACHE=()
REPORT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --fresh-base) FRESH_BASE=1 ;;
    --no-cache) NO_CACHE=(--no-cache) ;;
    --report) REPORT="$2"; shift ;;
    *) echo "build-local.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

say() { echo "build-local: $*"; }
die() { echo "build-local: error: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

[ "$(id -u)" = 0 ] || die "run as root (debootstrap and rootful podman need it)"
PATH="$PATH:/usr/sbin:/sbin"
for tool in podman debootstrap runc python3; do
  command -v "$tool" >/dev/null || die "$tool not found: apt-get install podman debootstrap runc"
done
say "podman settings from $CONTAINERS_CONF"

debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  local uri
  uri="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
        | grep -Eo '(https?|file)://[^ ]*/debian/?( |$)' | grep -v security | head -n1 | tr -d ' ')" || true
  echo "${uri:-http://deb.debian.org/debian}"
}

build_base() {
  local work mirror
  work="$(mktemp -d /var/tmp/faultdx-base.XXXXXX)"
  mirror="$(debian_mirror)"
  say "building $BASE_IMAGE: debootstrap --variant=minbase bookworm from $mirror (about 2 minutes)"
  debootstrap --variant=minbase --include=python3,python3-venv bookworm "$work/rootfs" "$mirror" \
    > "$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
  # No package caches or lists in the image: it installs nothing with apt afterwards.
  rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/*
  tar -C "$work/rootfs" --numeric-owner -c . | podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$work"
}

# A PEP 503 index (simple/<project>/<wheel>) of the CPU torch wheel and its dependencies, for the image's
# Python (3.11, manylinux x86_64). pip resolves torch==X from its configured sources; only a +cpu build is taken.
torch_wheelhouse() {
  local dir="$1" version
  version="$(sed -n 's/^torch==//p' "$ROOT/docker/constraints.txt")"
  [ -n "$version" ] || die "no torch== pin in docker/constraints.txt"
  python3 -m pip download --quiet --disable-pip-version-check --only-binary=:all: --python-version 3.11 \
    --implementation cp --platform manylinux_2_28_x86_64 --dest "$dir/wheels" "torch==$version" \
    > "$dir/pip-download.log" 2>&1 || { tail -n 20 "$dir/pip-download.log" >&2; die "pip could not fetch torch"; }
  ls "$dir"/wheels/torch-"$version"+cpu-*.whl >/dev/null 2>&1 \
    || die "pip's sources here offer no CPU build of torch==$version (PyPI's is the CUDA one); set TORCH_INDEX"
  python3 - "$dir" <<'PY'
import re, shutil, sys
from pathlib import Path
root = Path(sys.argv[1])
for wheel in sorted((root / "wheels").glob("*.whl")):
    project = re.sub(r"[-_.]+", "-", wheel.name.split("-")[0]).lower()
    (root / "simple" / project).mkdir(parents=True, exist_ok=True)
    shutil.move(wheel, root / "simple" / project / wheel.name)
for folder in (root / "simple").iterdir():
    links = "".join(f'<a href="{w.name}">{w.name}</a>\n' for w in sorted(folder.glob("*.whl")))
    (folder / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")
PY
}

start="$(now)"
base_action="reused"
base_s=0
if [ "$FRESH_BASE" = 1 ] || ! podman image exists "$BASE_IMAGE"; then
  t="$(now)"; build_base; base_s="$(since "$t")"; base_action="built"
  say "built $BASE_IMAGE in ${base_s}s"
else
  say "reusing $BASE_IMAGE (--fresh-base rebuilds it)"
fi

work="$(mktemp -d /var/tmp/faultdx-build.XXXXXX)"
trap 'rm -rf "$work"' EXIT
# The build's pip reaches the registries as the host's does: same CA bundle (e.g. a TLS-inspecting proxy's).
cert="${PIP_CERT:-$(python3 -m pip config get global.cert 2>/dev/null || true)}"
[ -n "$cert" ] || cert=/etc/ssl/certs/ca-certificates.crt
[ -f "$cert" ] || die "CA bundle $cert not found (set PIP_CERT)"
cp "$cert" "$work/ca.pem"
printf '[global]\ncert = /wheelhouse/ca.pem\n' > "$work/pip.conf"
say "the build's pip trusts $cert"
build_args=(--build-arg "BASE=$BASE_IMAGE" --volume "$work:/wheelhouse:ro" --volume "$work/pip.conf:/etc/pip.conf:ro")
t="$(now)"
if [ -n "${TORCH_INDEX:-}" ]; then
  say "torch from TORCH_INDEX=$TORCH_INDEX"
  build_args+=(--build-arg "TORCH_INDEX=$TORCH_INDEX")
else
  torch_wheelhouse "$work"
  say "CPU torch wheel index ready in $(since "$t")s: $(cd "$work/simple/torch" && ls -- *.whl)"
  build_args+=(--build-arg "TORCH_INDEX=file:///wheelhouse/simple")
fi

say "podman build -f docker/Dockerfile -t $IMAGE (layers cached between runs)"
previous="$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
t="$(now)"
# docker format: OCI images cannot carry the HEALTHCHECK. Host network: no bridge on these machines.
podman build --format docker --network host "${NO_CACHE[@]}" "${build_args[@]}" -f "$ROOT/docker/Dockerfile" \
  -t "$IMAGE" "$ROOT" 2>&1 | tee "$work/build.log"
image_s="$(since "$t")"
steps="$(grep -c 'STEP [0-9]*/[0-9]*:' "$work/build.log" || true)"
cached="$(grep -c -e '--> Using cache' "$work/build.log" || true)"
say "$cached of $steps build steps came from podman's layer cache"
# The image this build replaced would stay behind untagged (about 1.7 GB each time the sources change).
if [ -n "$previous" ] && [ "$previous" != "$(podman image inspect --format '{{.Id}}' "$IMAGE")" ]; then
  podman rmi "$previous" >/dev/null 2>&1 && say "removed the image it replaced (${previous:0:12})" || true
fi
size="$(podman image inspect --format '{{.Size}}' "$IMAGE")"
base_size="$(podman image inspect --format '{{.Size}}' "$BASE_IMAGE")"
say "built $IMAGE in ${image_s}s: $((size / 1000000)) MB (base $BASE_IMAGE: $((base_size / 1000000)) MB, $base_action)"
say "run it: CONTAINERS_CONF=$CONTAINERS_CONF podman run --rm --network=host $IMAGE"
if [ -n "$REPORT" ]; then
  cat > "$REPORT" <<JSON
{"image": "$IMAGE", "base_image": "$BASE_IMAGE", "base": "$base_action", "base_build_s": $base_s,
 "image_build_s": $image_s, "steps": $steps, "cached_steps": $cached, "total_s": $(since "$start"),
 "image_bytes": $size, "base_bytes": $base_size}
JSON
fi
