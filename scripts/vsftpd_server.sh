#!/usr/bin/env bash
# vsftpd 3.0.3 (Debian vsftpd) as a peer of the suite's FTP servers, for the
# tests and the benchmarks.
#
#   scripts/vsftpd_server.sh --root DIR --user NAME:PASS [--port P] [--stats-file F]
#                            [--tls-cert F --tls-key F [--require-tls] [--tls-session-reuse required|optional]]
#
# It keeps the suite's contract (client/lib/server_process.hpp): --port 0
# picks a free port, the ready line "listening on 127.0.0.1:PORT" goes to
# stdout once vsftpd listens, SIGTERM/SIGINT stop vsftpd and its sessions
# (and nothing else) and exit 0; --stats-file is written with empty counters.
#
# vsftpd cannot listen on port 0 and tell us the port, so the script picks a
# free one (bind to 0 and read it back) and tries again if vsftpd loses the
# race for it. Its configuration is written into a temporary directory:
# loopback only, local users, chroot into DIR, writes allowed, no anonymous,
# no seccomp sandbox (it refuses the syscalls of newer kernels and libcs),
# passive ports 40000-50000 on 127.0.0.1. NAME is a system user the script
# creates if missing (home /, shell /usr/sbin/nologin) and whose password
# it sets; a PAM service of our own (/etc/pam.d/iomodels-vsftpd: pam_unix
# only) lets it in without a shell from /etc/shells. vsftpd's sessions run
# as NAME, so DIR is given to NAME (chown -R). The password is set at each
# start: two runs at once need two user names. Needs root: vsftpd chroots,
# and switches to the user after login.
#
# --tls-cert/--tls-key (PEM; scripts/ftps-cert.sh makes a pair, an EC P-256
# key, which vsftpd takes) serve explicit FTPS (RFC 4217): ssl_enable,
# ssl_ciphers=HIGH, no anonymous TLS, no SSLv2/v3. This vsftpd has no
# ssl_tlsv1_2 switch, and its FEAT lists AUTH TLS only with ssl_tlsv1=YES
# (kept: OpenSSL 3 refuses TLS 1.0 and 1.1 at its default security level
# anyway, so TLS 1.2 and 1.3 are what it speaks). Clear sessions stay allowed unless
# --require-tls (force_local_logins_ssl: USER before AUTH TLS gets 530;
# force_local_data_ssl: a transfer without PROT P gets 522).
# --tls-session-reuse required (require_ssl_reuse) refuses a data connection
# that does not resume the control connection's TLS session (522); optional
# (the default) takes either.
set -euo pipefail

usage() { sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "vsftpd_server.sh: $*" >&2; exit 2; }

root="" user="" port=0 stats="" cert="" key="" require_tls=NO reuse=optional
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root="${2:?}"; shift 2 ;;
    --tls-cert) cert="${2:?}"; shift 2 ;;
    --tls-key) key="${2:?}"; shift 2 ;;
    --require-tls) require_tls=YES; shift ;;
    --tls-session-reuse) reuse="${2:?}"; shift 2 ;;
    --user) user="${2:?}"; shift 2 ;;
    --port) port="${2:?}"; shift 2 ;;
    --stats-file) stats="${2:?}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
[ -n "$root" ] || die "--root DIR is required"
[[ "$user" == ?*:?* ]] || die "--user NAME:PASS is required"
[[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -le 65535 ] || die "bad --port $port"
case "$reuse" in required|optional) ;; *) die "--tls-session-reuse: required or optional, not $reuse" ;; esac
if [ -n "$cert$key" ]; then
  [ -n "$cert" ] && [ -n "$key" ] || die "--tls-cert and --tls-key go together"
  [ -r "$cert" ] || die "--tls-cert $cert: not a readable file"
  [ -r "$key" ] || die "--tls-key $key: not a readable file"
  cert="$(cd "$(dirname "$cert")" && pwd)/$(basename "$cert")"
  key="$(cd "$(dirname "$key")" && pwd)/$(basename "$key")"
elif [ "$require_tls" = YES ] || [ "$reuse" = required ]; then
  die "--require-tls and --tls-session-reuse need --tls-cert and --tls-key"
fi
[ "$(id -u)" -eq 0 ] || die "must run as root: vsftpd chroots each session and switches to the FTP user"
command -v vsftpd >/dev/null || die "vsftpd is not installed (scripts/install-deps.sh installs it)"
name="${user%%:*}" password="${user#*:}"
[[ "$name" =~ ^[a-z_][a-z0-9_-]*$ ]] || die "bad user name $name"

mkdir -p "$root"
root="$(cd "$root" && pwd)"
# vsftpd changes to the user's home before local_root: it must exist. "/"
# for ours (local_root and the chroot decide what the session sees).
if ! id "$name" >/dev/null 2>&1; then
  useradd --system --no-create-home --home-dir / --shell /usr/sbin/nologin "$name"
elif [ ! -d "$(getent passwd "$name" | cut -d: -f6)" ]; then
  usermod --home / "$name"
fi
echo "$name:$password" | chpasswd
chown -R "$name:" "$root"
pam=/etc/pam.d/iomodels-vsftpd
if [ ! -f "$pam" ]; then
  printf '%s\n' "# scripts/vsftpd_server.sh: password check only, any shell" \
    "auth     required pam_unix.so" "account  required pam_unix.so" "session  required pam_permit.so" > "$pam"
fi

dir="$(mktemp -d /tmp/iomodels-vsftpd-XXXXXX)"
mkdir "$dir/empty"
pid=""
# $1 and every process under it (vsftpd's sessions call setsid: a process
# group would miss them).
tree() {
  local child
  echo "$1"
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do tree "$child"; done
}
cleanup() {
  if [ -n "$pid" ]; then
    kill -TERM $(tree "$pid") 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
  if [ -n "$stats" ]; then echo '{"server": "vsftpd", "counters": {}}' > "$stats"; fi
}
trap 'cleanup; exit 0' TERM INT
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Is something listening on 127.0.0.1:$1 (or any address)? /proc/net/tcp,
# state 0A; a connect would start a vsftpd session.
listening() {
  local hex; hex=$(printf '%04X' "$1")
  awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { found = 1 } END { exit !found }' /proc/net/tcp
}

for attempt in 1 2 3 4 5; do
  p=$port
  [ "$p" -ne 0 ] || p=$(free_port)
  cat > "$dir/vsftpd.conf" <<EOF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$p
background=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
local_root=$root
chroot_local_user=YES
allow_writeable_chroot=YES
seccomp_sandbox=NO
secure_chroot_dir=$dir/empty
pam_service_name=iomodels-vsftpd
userlist_enable=NO
pasv_enable=YES
pasv_address=127.0.0.1
pasv_min_port=40000
pasv_max_port=50000
max_clients=2000
max_per_ip=2000
xferlog_enable=NO
dirmessage_enable=NO
use_localtime=NO
EOF
  if [ -n "$cert" ]; then
    reuse_yes=NO; [ "$reuse" = required ] && reuse_yes=YES
    cat >> "$dir/vsftpd.conf" <<EOF
ssl_enable=YES
rsa_cert_file=$cert
rsa_private_key_file=$key
allow_anon_ssl=NO
force_local_logins_ssl=$require_tls
force_local_data_ssl=$require_tls
require_ssl_reuse=$reuse_yes
ssl_sslv2=NO
ssl_sslv3=NO
ssl_tlsv1=YES
ssl_ciphers=HIGH
EOF
  fi
  # --pdeathsig: if this script is killed outright (SIGKILL: no trap runs;
  # the tests' ServerProcess uses it as its parent-death signal), vsftpd is
  # killed with it instead of listening on, orphaned.
  setpriv --pdeathsig KILL vsftpd "$dir/vsftpd.conf" &
  pid=$!
  # vsftpd announces nothing: watch for its listening socket, or its exit.
  for _ in $(seq 1 200); do
    if listening "$p"; then break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$pid" 2>/dev/null && listening "$p"; then
    echo "listening on 127.0.0.1:$p"
    wait "$pid" || true
    pid=""
    exit 0
  fi
  wait "$pid" 2>/dev/null || true
  pid=""
  [ "$port" -eq 0 ] || die "vsftpd did not start on port $port"
done
die "vsftpd did not start (5 ports tried)"
