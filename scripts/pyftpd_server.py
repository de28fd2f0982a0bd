#!/usr/bin/python3
"""Python's pyftpdlib (Debian python3-pyftpdlib) as a peer of the suite's servers.

It keeps the suite's contract, so the tests start it the way they start any
server (client/lib/server_process.hpp): --port 0 works, the ready line is
exactly "listening on HOST:PORT" on stdout, SIGTERM exits 0; --stats-file is
accepted and written empty (pyftpdlib counts nothing we could report).

  scripts/pyftpd_server.py --port 0 --root DIR --user alice:secret [--anonymous] [--no-epsv]
                           [--auth-failed-delay S] [--rate-limit BYTES]
                           [--corrupt-uploads] [--insecure-port]
                           [--tls-cert F --tls-key F [--require-tls] [--tls-session-reuse optional]]

Each --user gets DIR as its root, with every permission; --anonymous gives
read-only access to DIR. --no-epsv makes it answer EPSV with 500, as an old
server would, to exercise a client's PASV fallback. --insecure-port breaks a
rule on purpose (RFC 2577): PORT/EPRT may name any address and any port, so
`ioclient ftp check` can show that it fails such a server.

--tls-cert/--tls-key (scripts/ftps-cert.sh makes a pair) serve explicit FTPS
(RFC 4217) with pyftpdlib's TLS_FTPHandler: AUTH TLS, PBSZ, PROT; clear
sessions stay allowed unless --require-tls (tls_control_required: USER/PASS
before AUTH TLS get 550; tls_data_required: PASV/EPSV/PORT/EPRT before PROT P
get 550). pyftpdlib cannot require TLS session reuse on data connections:
--tls-session-reuse takes only "optional" (what it does anyway), and
"required" is an error (scripts/vsftpd_server.sh can require it).
"""
import argparse
import json
import logging
import signal
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler, ThrottledDTPHandler
from pyftpdlib.servers import FTPServer


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=2121)
    p.add_argument("--root", required=True, help="the directory served")
    p.add_argument("--user", action="append", default=[], help="NAME:PASSWORD (repeatable)")
    p.add_argument("--anonymous", action="store_true", help="read-only anonymous access to --root")
    p.add_argument("--no-epsv", action="store_true", help="refuse EPSV (500), as a server without RFC 2428")
    p.add_argument("--auth-failed-delay", type=float, default=3.0,
                   help="seconds before answering a wrong password (pyftpdlib's default: 3)")
    p.add_argument("--rate-limit", type=int, default=0,
                   help="bytes per second per data connection, each way (0: no limit), so a bar can be watched")
    p.add_argument("--corrupt-uploads", action="store_true",
                   help="flip one byte in the middle of every uploaded file: a broken server, to show that a "
                        "client's read-back check can fail")
    p.add_argument("--insecure-port", action="store_true",
                   help="let PORT/EPRT name any address and a port below 1024 (permit_foreign_addresses, "
                        "permit_privileged_ports): the bounce attack, for a checker to catch")
    p.add_argument("--tls-cert", help="PEM certificate: serve explicit FTPS (AUTH TLS); needs --tls-key")
    p.add_argument("--tls-key", help="PEM private key of --tls-cert")
    p.add_argument("--require-tls", action="store_true",
                   help="with --tls-cert: refuse a login before AUTH TLS and a data connection before PROT P (550)")
    p.add_argument("--tls-session-reuse", choices=["optional", "required"], default="optional",
                   help="optional only: pyftpdlib cannot require a data connection to resume the control "
                        "connection's TLS session")
    p.add_argument("--stats-file", help="written at exit (empty counters)")
    a = p.parse_args()
    if bool(a.tls_cert) != bool(a.tls_key):
        p.error("--tls-cert and --tls-key go together")
    if not a.tls_cert and (a.require_tls or a.tls_session_reuse != "optional"):
        p.error("--require-tls and --tls-session-reuse need --tls-cert and --tls-key")
    if a.tls_session_reuse == "required":
        p.error("--tls-session-reuse required: pyftpdlib has no way to require TLS session reuse on data "
                "connections (scripts/vsftpd_server.sh has: require_ssl_reuse)")

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    auth = DummyAuthorizer()
    for u in a.user:
        name, _, password = u.partition(":")
        auth.add_user(name, password, a.root, perm="elradfmwMT")
    if a.anonymous:
        auth.add_anonymous(a.root)

    base = FTPHandler
    if a.tls_cert:
        try:
            from pyftpdlib.handlers import TLS_FTPHandler
        except ImportError:
            p.error("--tls-cert: pyftpdlib has no TLS_FTPHandler here (python3-openssl is missing: "
                    "scripts/install-deps.sh installs it)")
        base = TLS_FTPHandler

    class Handler(base):
        pass

    Handler.authorizer = auth
    if a.corrupt_uploads:
        # Called when the upload is complete, in the same turn of the loop
        # that queues its 226: before any later command is read.
        def on_file_received(self, path):
            with open(path, "r+b") as f:
                size = f.seek(0, 2)
                if size:
                    f.seek(size // 2)
                    byte = f.read(1)[0]
                    f.seek(size // 2)
                    f.write(bytes([byte ^ 0xFF]))
        Handler.on_file_received = on_file_received
    if a.insecure_port:
        Handler.permit_foreign_addresses = True
        Handler.permit_privileged_ports = True
    Handler.auth_failed_timeout = a.auth_failed_delay
    if a.rate_limit:
        class Throttled(ThrottledDTPHandler):
            read_limit = a.rate_limit
            write_limit = a.rate_limit
        Handler.dtp_handler = Throttled
    if a.no_epsv:
        Handler.proto_cmds = {k: v for k, v in base.proto_cmds.items() if k != "EPSV"}
    if a.tls_cert:
        Handler.certfile = a.tls_cert
        Handler.keyfile = a.tls_key
        Handler.tls_control_required = a.require_tls
        Handler.tls_data_required = a.require_tls
        try:
            Handler.get_ssl_context()  # a bad certificate or key: one line now, not at the first AUTH TLS
        except Exception as e:  # OpenSSL.SSL.Error, OSError
            p.error(f"--tls-cert {a.tls_cert} / --tls-key {a.tls_key}: {e}")
    server = FTPServer((a.host, a.port), Handler)
    server.max_cons = 1024
    server.max_cons_per_ip = 0
    host, port = server.socket.getsockname()[:2]
    print(f"listening on {host}:{port}", flush=True)

    def stop(*_):
        server.close_all()
        if a.stats_file:
            with open(a.stats_file, "w") as f:
                json.dump({"server": "pyftpdlib", "counters": {}}, f)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever(handle_exit=False)


if __name__ == "__main__":
    main()
