#!/usr/bin/env bash
# Assembles deploy/container/rootfs/ (the binary, every shared library `ldd` lists with the dynamic
# loader, the CA roots, passwd and group entries for uid 10001, the data directory) and builds the
# image from scratch with buildah, podman or docker, whichever is here: nothing is pulled.
#   deploy/container/build.sh [--binary PATH] [--tag NAME] [--rootfs DIR] [--rootfs-only]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
binary="$here/../../target/production/certautopilot"
tag="localhost/certautopilot:latest"
rootfs_only=0
rootfs="$here/rootfs"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --binary) binary="${2:?}"; shift 2 ;;
        --tag) tag="${2:?}"; shift 2 ;;
        --rootfs) rootfs="${2:?}"; shift 2 ;;
        --rootfs-only) rootfs_only=1; shift ;;
        *) echo "build.sh: unknown option $1" >&2; exit 1 ;;
    esac
done
[[ -x "$binary" ]] || { echo "build.sh: no binary at $binary (cargo build --profile production, or --binary)" >&2; exit 1; }

rm -rf "$rootfs"
install -D -m 0755 "$binary" "$rootfs/usr/local/bin/certautopilot"
# Every library the binary loads, and the loader itself, at the paths it expects.
ldd "$binary" | awk '/=> \// { print $3 } /^\t\// { print $1 }' | while read -r lib; do
    install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
done
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
install -d -m 0755 "$rootfs/etc/certautopilot" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
printf 'root:x:0:0:root:/root:/sbin/nologin\ncertautopilot:x:10001:10001::/var/lib/certautopilot:/sbin/nologin\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\ncertautopilot:x:10001:\n' > "$rootfs/etc/group"
install -d -m 0700 "$rootfs/var/lib/certautopilot"
chown -R 10001:10001 "$rootfs/var/lib/certautopilot" 2>/dev/null || true
echo "build.sh: rootfs ready in $rootfs"
[[ "$rootfs_only" == 1 ]] && exit 0

for tool in buildah podman docker; do
    if command -v "$tool" >/dev/null; then
        case "$tool" in
            buildah) buildah bud --layers=false -f "$here/Containerfile" -t "$tag" "$(dirname "$rootfs")" ;;
            *) "$tool" build -f "$here/Containerfile" -t "$tag" "$(dirname "$rootfs")" ;;
        esac
        echo "build.sh: built $tag with $tool"
        exit 0
    fi
done
echo "build.sh: no buildah, podman or docker here: rootfs/ is ready, build with one of them" >&2
exit 1
