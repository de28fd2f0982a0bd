#!/usr/bin/env python3
"""Capture what real FTP clients send, as seeds of the ftp_session fuzz target.

    tests/fuzz/capture_seeds.py build/dev/bin/epoll_ftp_server [OUT_DIR]

Starts the server on a temporary root, a small proxy in front of its control
port, and drives the server through the proxy with curl, lftp, wget and
Python's ftplib doing what people do with them (list, download, upload,
resume, active mode, renames...). The proxy records every read of the
client's control bytes, and each session becomes one seed in OUT_DIR
(default tests/fuzz/corpus/ftp_session), encoded as ftp_session.cpp's
header describes: byte 0 = 0x01 (anonymous logins allowed), then each read
as a text line when it is one, else as a raw read (0x00, length, bytes), so
the fuzzer starts from the splits real clients make.

The server's root holds the same names as the fuzz target's tree (alice/a.txt,
alice/docs/b.bin, alice/empty/, pub/readme.txt), so the replayed commands find
the same files. Data connections go straight to the server, not through the
proxy: only the control connection is recorded.
"""
import ftplib
import io
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

TEXT = set(range(0x09, 0x0E)) | set(range(0x20, 0x7F))


class Proxy:
    """Relays control connections to the server; records each session's client reads."""

    def __init__(self, server_port):
        self.server_port = server_port
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.sessions = []  # one list of client reads (bytes) per connection, in order of accept
        self.lock = threading.Lock()
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            client, _ = self.sock.accept()
            reads = []
            with self.lock:
                self.sessions.append(reads)
            threading.Thread(target=self.relay, args=(client, reads), daemon=True).start()

    def relay(self, client, reads):
        server = socket.create_connection(("127.0.0.1", self.server_port))
        # Urgent data (ftplib's ABOR) is relayed in line: the harness's urgent() is a step of its own.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)
        peers = {client: server, server: client}
        try:
            while True:
                ready, _, _ = select.select(list(peers), [], [], 30)
                if not ready:
                    return
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    if s is client:
                        reads.append(data)
                    peers[s].sendall(data)
        except OSError:
            return
        finally:
            client.close()
            server.close()

    def take(self):
        """The sessions recorded since the last take."""
        with self.lock:
            out, self.sessions = self.sessions, []
        return out


def encode(reads):
    seed = bytearray([0x01])
    for r in reads:
        if all(b in TEXT for b in r) and r.find(b"\n") == len(r) - 1:  # one text line: as it is
            seed += r
        else:
            for at in range(0, len(r), 4096):
                part = r[at:at + 4096]
                seed += bytes([0x00, len(part) >> 8, len(part) & 0xFF]) + part
    return bytes(seed)


def make_root(root):
    home = os.path.join(root, "alice")
    os.makedirs(os.path.join(home, "docs", "deep"))
    os.makedirs(os.path.join(home, "empty"))
    os.makedirs(os.path.join(root, "pub"))
    for path, data in [("alice/a.txt", b"hello\r\nworld\n"), ("alice/docs/b.bin", b"b" * 3000),
                       ("alice/docs/deep/c", b"c"), ("pub/readme.txt", b"read me\n")]:
        with open(os.path.join(root, path), "wb") as f:
            f.write(data)


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(sys.argv) > 1 else 2
    server_bin = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "corpus", "ftp_session")
    os.makedirs(out_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="iom-capture.")
    root = os.path.join(work, "root")
    make_root(root)
    upload = os.path.join(work, "upload.bin")
    with open(upload, "wb") as f:
        f.write(os.urandom(5000))

    server = subprocess.Popen([server_bin, "--port", "0", "--root", root, "--user", "alice:secret", "--anonymous",
                               "--login-delay-ms", "10"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline().strip().rsplit(":", 1)[1])
        proxy = Proxy(port)
        url = f"ftp://alice:secret@127.0.0.1:{proxy.port}"
        anon = f"ftp://127.0.0.1:{proxy.port}"
        dl = os.path.join(work, "dl")

        def run(*cmd):
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=False)

        lftp_user = ["lftp", "-u", "alice,secret", "-p", str(proxy.port)]
        lftp_settings = "set cmd:fail-exit no; set net:max-retries 1; set net:timeout 5; "
        clients = {
            "curl-get": lambda: run("curl", "-s", "-o", dl, f"{url}/a.txt"),
            "curl-get-pasv": lambda: run("curl", "-s", "--disable-epsv", "-o", dl, f"{url}/docs/b.bin"),
            "curl-list": lambda: run("curl", "-s", "-o", dl, f"{url}/docs/"),
            "curl-nlst": lambda: run("curl", "-s", "-l", "-o", dl, f"{url}/"),
            "curl-put": lambda: run("curl", "-s", "-T", upload, f"{url}/up.bin"),
            "curl-resume-put": lambda: run("curl", "-s", "-C", "-", "-T", upload, f"{url}/up.bin"),
            "curl-resume-get": lambda: run("curl", "-s", "-C", "5", "-o", dl, f"{url}/docs/b.bin"),
            "curl-active": lambda: run("curl", "-s", "-P", "127.0.0.1", "-o", dl, f"{url}/a.txt"),
            "curl-active-noeprt": lambda: run("curl", "-s", "-P", "127.0.0.1", "--disable-eprt", "-o", dl,
                                              f"{url}/a.txt"),
            "curl-quote": lambda: run("curl", "-s", "-Q", "MKD made", "-Q", "RMD made", "-o", dl, f"{url}/a.txt"),
            "curl-anonymous": lambda: run("curl", "-s", "-o", dl, f"{anon}/readme.txt"),
            "curl-mdtm": lambda: run("curl", "-s", "-R", "-o", dl, f"{url}/a.txt"),
            "curl-create-dirs": lambda: run("curl", "-s", "--ftp-create-dirs", "-T", upload, f"{url}/new/dir/up.bin"),
            "curl-append": lambda: run("curl", "-s", "-a", "-T", upload, f"{url}/up.bin"),
            "lftp-session": lambda: run(*lftp_user, "-e", lftp_settings +
                                        "ls; cls -l docs; get a.txt -o " + dl + "; put " + upload + " -o up2.bin; "
                                        "mkdir d; rmdir d; mv up2.bin up3.bin; rm up3.bin; quit", "127.0.0.1"),
            "lftp-active": lambda: run(*lftp_user, "-e", lftp_settings + "set ftp:passive-mode off; "
                                       "ls; get docs/b.bin -o " + dl + "; quit", "127.0.0.1"),
            "lftp-resume": lambda: run(*lftp_user, "-e", lftp_settings + "put -c " + upload + " -o up.bin; "
                                       "get -c docs/b.bin -o " + dl + "; quit", "127.0.0.1"),
            "lftp-mirror": lambda: run(*lftp_user, "-e", lftp_settings + "mirror docs " + os.path.join(work, "m") +
                                       "; quit", "127.0.0.1"),
            "wget-get": lambda: run("wget", "-q", "-O", dl, f"{url}/a.txt"),
            "wget-list": lambda: run("wget", "-q", "--no-remove-listing", "-P", work, f"{url}/docs/"),
            "wget-recursive": lambda: run("wget", "-q", "-r", "-P", os.path.join(work, "w"), f"{url}/docs/"),
            "wget-anonymous": lambda: run("wget", "-q", "-O", dl, f"{anon}/readme.txt"),
        }

        def ftplib_session():
            with ftplib.FTP() as f:
                f.connect("127.0.0.1", proxy.port)
                f.login("alice", "secret")
                f.pwd()
                f.cwd("docs")
                f.retrlines("LIST", lambda line: None)
                f.nlst()
                f.retrbinary("RETR b.bin", lambda b: None)
                f.cwd("..")
                f.storbinary("STOR up4.bin", io.BytesIO(b"x" * 3000))
                f.size("up4.bin")
                f.sendcmd("MDTM up4.bin")
                f.rename("up4.bin", "up5.bin")
                f.delete("up5.bin")
                f.mkd("dd")
                f.rmd("dd")
                list(f.mlsd())
                f.sendcmd("STAT")
                f.sendcmd("HELP")
                f.sendcmd("SYST")
                f.sendcmd("NOOP")

        def ftplib_abort():
            with ftplib.FTP() as f:
                f.connect("127.0.0.1", proxy.port)
                f.login("alice", "secret")
                conn = f.transfercmd("RETR docs/b.bin")
                conn.recv(10)
                f.abort()  # the Telnet Synch (IAC IP, IAC DM as urgent data) and ABOR
                conn.close()
                f.voidcmd("NOOP")

        def ftplib_active():
            with ftplib.FTP() as f:
                f.connect("127.0.0.1", proxy.port)
                f.login("alice", "secret")
                f.set_pasv(False)
                f.retrlines("LIST", lambda line: None)
                f.retrbinary("RETR a.txt", lambda b: None)

        def ftplib_anonymous_and_failures():
            with ftplib.FTP() as f:
                f.connect("127.0.0.1", proxy.port)
                try:
                    f.login("alice", "wrong")
                except ftplib.error_perm:
                    pass
                f.login()  # anonymous
                f.retrlines("LIST", lambda line: None)
                try:
                    f.storbinary("STOR nope.txt", io.BytesIO(b"x"))
                except ftplib.error_perm:
                    pass

        clients.update({"ftplib-session": ftplib_session, "ftplib-abort": ftplib_abort,
                        "ftplib-active": ftplib_active, "ftplib-anonymous": ftplib_anonymous_and_failures})

        for name, go in clients.items():
            try:
                go()
            except Exception as e:  # a client that fails still sent its commands: keep them
                print(f"{name}: {e}", file=sys.stderr)
            time.sleep(0.3)  # the relay threads finish their last reads
            for i, reads in enumerate(proxy.take()):
                if not reads:
                    continue
                path = os.path.join(out_dir, name + (f"-{i}" if i else ""))
                with open(path, "wb") as f:
                    f.write(encode(reads))
                print(f"{path}: {sum(map(len, reads))} bytes in {len(reads)} reads")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
