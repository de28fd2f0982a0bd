#!/usr/bin/env bash
# Install what iomodels needs to build, test and run, from Debian packages.
# Idempotent: does nothing when everything is already installed. Works as
# root or through sudo.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config git       # the toolchain
  libcli11-dev libfmt-dev liburing-dev        # the libraries the code uses
  libuv1-dev libevent-dev libasio-dev         # libraries/: the same echo on three event libraries
  nlohmann-json3-dev                          # JSON: the stats files, bench --json, the reports
  libcrypt-dev                                # crypt(3) for the FTP users file
  libssl-dev libxxhash-dev                     # SHA-256 names a file, XXH3-128 checks each transfer (ioclient ftp load); TLS: FTPS
  openssl python3-openssl                     # scripts/ftps-cert.sh; pyftpdlib's TLS_FTPHandler (scripts/pyftpd_server.py --tls)
  libncurses-dev                              # ioclient top's screen (ncursesw)
  libgtest-dev libgmock-dev                   # the tests
  socat netcat-openbsd procps strace          # talking to servers by hand; the labs
  curl lftp python3 python3-pyftpdlib         # the FTP clients the FTP tests drive; a peer FTP server
  vsftpd iperf3                               # another peer FTP server (scripts/vsftpd_server.sh); the loopback ceiling (bench/ftp.sh)
  gnuplot-nox chromium                        # ioclient compare's charts; the headless check of its page
  tmux                                        # scripts/classroom.sh; the test that drives ioclient top
  clang libclang-rt-14-dev llvm wget         # tests/fuzz: libFuzzer (scripts/fuzz.sh), llvm-cov; wget, a client its seeds came from
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
