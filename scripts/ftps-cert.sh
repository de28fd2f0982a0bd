#!/usr/bin/env bash
# A self-signed certificate and key for FTPS in class (RFC 4217): what
# epoll_ftp_server and uring_ftp_server take as --tls-cert/--tls-key, and the
# peers as `--tls` (scripts/vsftpd_server.sh, scripts/pyftpd_server.py).
#
#   scripts/ftps-cert.sh DIR [NAME ...]
#
# Writes DIR/cert.pem and DIR/key.pem (mode 600): a P-256 key and a
# certificate valid for 365 days for localhost, 127.0.0.1 and ::1, plus each
# NAME (a host name or an IP address: the machine's name or address on the
# class's network). Clients check it with the certificate itself as the CA:
#   curl --ssl-reqd --cacert DIR/cert.pem ftp://alice:secret@127.0.0.1:2121/
#   ioclient ftp ls --tls --cacert DIR/cert.pem ftp://alice:secret@127.0.0.1:2121/
# Never overwrites: an existing DIR/cert.pem or DIR/key.pem is an error.
set -euo pipefail

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "ftps-cert.sh: $*" >&2; exit 2; }

case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  "") usage >&2; exit 2 ;;
esac
dir="$1"; shift
mkdir -p "$dir"
[ -e "$dir/cert.pem" ] && die "$dir/cert.pem exists: not overwritten"
[ -e "$dir/key.pem" ] && die "$dir/key.pem exists: not overwritten"

san="DNS:localhost,IP:127.0.0.1,IP:::1"
for name in "$@"; do
  if [[ "$name" =~ ^[0-9.]+$ || "$name" == *:* ]]; then san+=",IP:$name"; else san+=",DNS:$name"; fi
done

(umask 077
 openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
   -subj "/CN=iomodels FTPS (self-signed)" -addext "subjectAltName=$san" \
   -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null) || die "openssl req failed"
chmod 644 "$dir/cert.pem"
echo "ftps-cert.sh: wrote $dir/cert.pem and $dir/key.pem ($san)"
