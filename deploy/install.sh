#!/usr/bin/env bash
# Installs CertAutoPilot on Debian as the standalone deployment: `--mode all` under systemd, nginx
# in front on 443, the service on 127.0.0.1:8080, Prometheus metrics on 127.0.0.1:9090.
# Idempotent: a second run changes nothing it made before (configuration, KEK and certificate are
# kept; the binary, units and site are refreshed). docs/operations.md, "Install".
#
#   deploy/install.sh [--binary PATH] [--kek file|pkcs11] [--pkcs11-module PATH --pkcs11-token LABEL
#                     --pkcs11-pin-file PATH] [--root DIR] [--no-start]
#   deploy/install.sh --uninstall [--purge] [--root DIR]
#
# --root DIR installs into DIR as if it were / (nothing outside it is touched: no user is created,
# no service started); the files still name their final paths. --uninstall keeps the configuration,
# the KEK and the data unless --purge.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root=""
binary=""
kek="file"
pkcs11_module=""
pkcs11_token=""
pkcs11_pin_file=""
start=1
uninstall=0
purge=0

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "install.sh: $*"; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --root) root="${2:?--root needs a directory}"; shift 2 ;;
        --binary) binary="${2:?--binary needs a path}"; shift 2 ;;
        --kek) kek="${2:?--kek needs file or pkcs11}"; shift 2 ;;
        --pkcs11-module) pkcs11_module="${2:?}"; shift 2 ;;
        --pkcs11-token) pkcs11_token="${2:?}"; shift 2 ;;
        --pkcs11-pin-file) pkcs11_pin_file="${2:?}"; shift 2 ;;
        --no-start) start=0; shift ;;
        --uninstall) uninstall=1; shift ;;
        --purge) purge=1; shift ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
[[ "$kek" == "file" || "$kek" == "pkcs11" ]] || die "--kek is file or pkcs11, not $kek"
if [[ "$kek" == "pkcs11" && ( -z "$pkcs11_module" || -z "$pkcs11_token" || -z "$pkcs11_pin_file" ) ]]; then
    die "--kek pkcs11 needs --pkcs11-module, --pkcs11-token and --pkcs11-pin-file"
fi
if [[ -n "$root" ]]; then
    mkdir -p "$root"
    root="$(cd "$root" && pwd)"
    start=0
elif [[ "$(id -u)" != 0 ]]; then
    die "run as root (or with --root DIR to stage an install)"
fi

etc="$root/etc/certautopilot"
data="$root/var/lib/certautopilot"
bin="$root/usr/local/bin/certautopilot"
units="$root/etc/systemd/system"
site_available="$root/etc/nginx/sites-available/certautopilot"
site_enabled="$root/etc/nginx/sites-enabled/certautopilot"
all_units="certautopilot.service certautopilot@.service certautopilot-worker@.service certautopilot-tls.path certautopilot-tls-reload.service"
target_settings="$etc/nginx-target.json"
systemd_running() { [[ -z "$root" && -d /run/systemd/system ]] && command -v systemctl >/dev/null; }
owner() { [[ -z "$root" ]] && chown "$@"; return 0; }

if [[ "$uninstall" == 1 ]]; then
    if systemd_running; then
        systemctl disable --now certautopilot.service certautopilot-tls.path 2>/dev/null || true
    fi
    for unit in $all_units; do rm -f "$units/$unit"; done
    rm -f "$site_enabled" "$site_available" "$bin"
    systemd_running && systemctl daemon-reload
    if [[ -z "$root" ]] && command -v nginx >/dev/null && nginx -t 2>/dev/null; then
        nginx -s reload 2>/dev/null || true
    fi
    if [[ "$purge" == 1 ]]; then
        rm -rf "$etc" "$data"
        [[ -z "$root" ]] && id certautopilot >/dev/null 2>&1 && userdel certautopilot
        say "removed, with the configuration, the KEK and the data"
    else
        say "removed; kept $etc (configuration, KEK, TLS) and $data (the store): --purge removes them"
    fi
    exit 0
fi

# --- the binary
if [[ -z "$binary" ]]; then
    for candidate in "$here/../target/production/certautopilot" "$here/../target/release/certautopilot" \
        "$(command -v certautopilot || true)"; do
        [[ -n "$candidate" && -x "$candidate" ]] && binary="$candidate" && break
    done
fi
[[ -n "$binary" && -x "$binary" ]] || die "no certautopilot binary: build it (cargo build --profile production) or pass --binary PATH"
install -D -m 0755 "$binary" "$bin"

# --- the user and the directories
if [[ -z "$root" ]] && ! id certautopilot >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/certautopilot --no-create-home --shell /usr/sbin/nologin certautopilot
    say "created the system user certautopilot"
fi
install -d -m 0750 "$etc" "$etc/tls"
install -d -m 0700 "$data"
owner root:certautopilot "$etc"
# The service's own certificate for nginx: the service replaces it there through a file target.
owner certautopilot:certautopilot "$etc/tls" "$data"

# --- the configuration (kept if present)
config="$etc/certautopilot.toml"
if [[ ! -f "$config" ]]; then
    if [[ "$kek" == "file" ]]; then
        kek_section='[kek]\nprovider = "file"\nfile_path = "/etc/certautopilot/kek.json"'
    else
        kek_section="[kek]\nprovider = \"pkcs11\"\n\n[kek.pkcs11]\nmodule = \"$pkcs11_module\"\ntoken_label = \"$pkcs11_token\"\npin_file = \"$pkcs11_pin_file\""
    fi
    # The example configuration with this install's KEK in place of its [kek] section, and file
    # targets allowed to write the service's own certificate.
    awk -v kek="$kek_section" '
        /^\[kek\]$/ { print kek; print ""; skip = 1; next }
        /^\[kek\./ { skip = 1; next }
        /^\[/ { skip = 0 }
        /^allowed_dirs = \[\]$/ && !skip { print "allowed_dirs = [\"/etc/certautopilot/tls\"]"; next }
        !skip { print }
    ' "$here/certautopilot.toml" > "$config.new"
    install -m 0640 "$config.new" "$config"
    rm -f "$config.new"
    owner root:certautopilot "$config"
    say "wrote $config"
fi

# --- the KEK (kept if present): made by the binary itself, 0600, the service's
if [[ "$kek" == "file" && ! -f "$etc/kek.json" ]]; then
    CERTAUTOPILOT_KEK__FILE_PATH="$etc/kek.json" CERTAUTOPILOT_NODE__DATA_DIR="$data" \
        "$bin" --config "$config" kek init
    chmod 0600 "$etc/kek.json"
    owner certautopilot:certautopilot "$etc/kek.json"
    say "made the KEK $etc/kek.json: back it up apart from the data (docs/operations.md, \"Backups and restore\")"
fi

# --- the units
for unit in $all_units; do
    install -D -m 0644 "$here/systemd/$unit" "$units/$unit"
done

# --- nginx: the site, and a self-signed certificate until one is configured (kept if present)
if [[ ! -f "$etc/tls/fullchain.pem" ]]; then
    host="$(hostname -f 2>/dev/null || hostname)"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
        -subj "/CN=$host" -addext "subjectAltName=DNS:$host,DNS:localhost,IP:127.0.0.1" \
        -keyout "$etc/tls/privkey.pem" -out "$etc/tls/fullchain.pem" 2>/dev/null
    chmod 0600 "$etc/tls/privkey.pem"
    chmod 0644 "$etc/tls/fullchain.pem"
    owner certautopilot:certautopilot "$etc/tls/privkey.pem" "$etc/tls/fullchain.pem"
    say "made a self-signed certificate for $host (30 days), until the service issues its own"
fi
# The file target's settings that make the service write its own certificate where nginx reads it
# (certautopilot-tls.path reloads nginx when it changes). Kept if present.
if [[ ! -f "$target_settings" ]]; then
    printf '{\n  "cert_path": "/etc/certautopilot/tls/fullchain.pem",\n  "key_path": "/etc/certautopilot/tls/privkey.pem",\n  "mode": "0600",\n  "cert_mode": "0644"\n}\n' > "$target_settings"
    chmod 0640 "$target_settings"
    owner root:certautopilot "$target_settings"
fi
install -D -m 0644 "$here/nginx/certautopilot.conf" "$site_available"
mkdir -p "$(dirname "$site_enabled")"
ln -sfn /etc/nginx/sites-available/certautopilot "$site_enabled"

if [[ "$start" == 1 ]]; then
    if systemd_running; then
        systemctl daemon-reload
        systemctl enable --now certautopilot.service certautopilot-tls.path
        if command -v nginx >/dev/null; then nginx -t && systemctl reload-or-restart nginx; fi
    else
        say "systemd is not running here: start it yourself (certautopilot --config $config serve)"
    fi
fi
host="$(hostname -f 2>/dev/null || hostname)"
cat <<NEXT
install.sh: installed. Next: open https://$host/setup to create the first owner.
install.sh: then, once a project has an ACME account and a DNS credential for $host's zone, let the
install.sh: service manage its own certificate (nginx reloads by itself when it is replaced):
    certautopilot login --server http://127.0.0.1:8080 --email YOU
    certautopilot target create --project PROJECT --name this-service --type file --settings $target_settings
    certautopilot cert create --project PROJECT --account ACCOUNT --name $host --target this-service --wait
NEXT
