#!/usr/bin/env python3
"""Write the hand-made seeds of every fuzz target into tests/fuzz/corpus/.

    tests/fuzz/seeds.py            (re)writes corpus/<target>/hand-*

The real clients' command streams come from capture_seeds.py; these add what
no well-behaved client sends but the contract must survive: held operations
and their completions, ABOR and QUIT during transfers, injected errors,
refused PORT/EPRT, long lines, Telnet bytes, a client that never reads. The
encodings are each target's header's; the fuzzer starts from these and
keeps what reaches new code.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# ftp_session's step bytes (ftp_session.cpp's header)
URGENT, LOGIN_TIMEOUT, IDLE_TIMEOUT, CLIENT_CLOSES = b"\x01", b"\x02", b"\x03", b"\x04"
FS, PASSIVE, DELAY, TRANSFER = 0, 1, 2, 3
DELAYED, READING = b"\x0e", b"\x0f"
REAL, ENOENT, EACCES, ENOSPC, EEXIST = range(5)
DONE, ABORTED, CONNECT_FAILED, LOST, STALLED, NO_SPACE, TOO_LARGE, FILE_ERROR, TLS_FAILED, TLS_NOT_RESUMED = range(10)


def hold(kind):
    return bytes([0x05, kind])


def fs(result):
    return bytes([0x06, result])


def passive(port=None):
    return bytes([0x07, 1, 0, 0]) if port is None else bytes([0x07, 0]) + struct.pack(">H", port)


def transfer(status, nbytes=0):
    return bytes([0x08, status]) + struct.pack(">H", nbytes)


def flood(n, line):
    """The line n times, 1 <= n <= 64 (ftp_session's 0x10 step)."""
    return bytes([0x10, n - 1]) + line


def raw(data):
    return bytes([0x00]) + struct.pack(">H", len(data)) + data


LOGIN = b"USER alice\r\nPASS secret\r\n"
SITE = b"\x00"  # named users only, no registry, IPv4, default limits

SESSION = {
    # a transfer in flight: ABOR answered at once, then the transfer's 426 and ABOR's 226
    "abor-in-transfer": SITE + LOGIN + b"PASV\r\n" + hold(TRANSFER) + b"RETR a.txt\r\nABOR\r\n" + transfer(ABORTED),
    # ftplib's and lftp's urgent ABOR: Telnet IP, DM, with the Synch; what waited is dropped
    "synch-abor": SITE + LOGIN + b"EPSV\r\n" + hold(TRANSFER) + b"RETR docs/b.bin\r\nNOOP\r\nSTAT\r\n" + URGENT +
                  raw(b"\xff\xf4\xff\xf2ABOR\r\n") + transfer(DONE, 3000),
    # during a transfer: STAT and NOOP at once, QUIT after the transfer's reply
    "stat-noop-quit-in-transfer": SITE + LOGIN + b"PASV\r\n" + hold(TRANSFER) + b"LIST -la\r\nSTAT\r\nNOOP\r\n"
                                  b"QUIT\r\n" + transfer(DONE, 100),
    # the client goes during an upload: abort, the temporary put in place, close
    "close-in-upload": SITE + LOGIN + b"TYPE I\r\nEPSV\r\n" + hold(TRANSFER) + b"STOR up.bin\r\n" + CLIENT_CLOSES +
                       transfer(LOST, 100),
    # an upload's outcomes: no space, too large, file error, stalled, and the rename failing
    "stor-outcomes": SITE + LOGIN + b"TYPE I\r\n" +
                     b"PASV\r\n" + transfer(NO_SPACE, 10) + b"STOR u1\r\n" +
                     b"PASV\r\n" + transfer(TOO_LARGE, 10) + b"STOR u2\r\n" +
                     b"PASV\r\n" + transfer(FILE_ERROR) + b"STOR u3\r\n" +
                     b"PASV\r\n" + transfer(STALLED, 5) + b"STOR u4\r\n" +
                     b"PASV\r\n" + hold(TRANSFER) + b"STOR u5\r\n" + fs(ENOSPC) + transfer(DONE, 9) +
                     b"PASV\r\n" + transfer(CONNECT_FAILED) + b"RETR a.txt\r\n",
    # an upload cut short over a file that exists: the old file stays, the temporary goes
    "cut-short-over-a-file": SITE + LOGIN + b"TYPE I\r\nPASV\r\n" + transfer(LOST, 5) + b"STOR a.txt\r\n" +
                             b"PASV\r\n" + transfer(STALLED, 2) + b"APPE docs/b.bin\r\n",
    # PROT P: the data connection's TLS fails, or is not a resumed session (--tls-session-reuse)
    "tls-data-failures": SITE + b"AUTH TLS\r\nPBSZ 0\r\nPROT P\r\n" + LOGIN + b"PASV\r\n" + transfer(TLS_FAILED) +
                         b"RETR a.txt\r\nPASV\r\n" + transfer(TLS_NOT_RESUMED) + b"LIST\r\n",
    # every injected filesystem error, on every kind of command
    "fs-errors": SITE + LOGIN + fs(ENOENT) + b"CWD docs\r\n" + fs(EACCES) + b"MKD m\r\n" + fs(EEXIST) +
                 b"MKD m\r\n" + fs(ENOSPC) + b"DELE a.txt\r\n" + fs(ENOENT) + b"RNFR a.txt\r\n" +
                 b"RNFR a.txt\r\n" + fs(EEXIST) + b"RNTO b.txt\r\n" + b"PASV\r\n" + fs(EEXIST) + b"STOR x\r\n" +
                 b"PASV\r\n" + fs(EACCES) + b"APPE y\r\n" + fs(ENOENT) + b"SIZE a.txt\r\n" + fs(EACCES) +
                 b"RMD empty\r\n" + b"PASV\r\n" + fs(ENOENT) + b"LIST\r\n",
    # commands queued behind a filesystem operation, the client closing meanwhile
    "queued-behind-fs": SITE + LOGIN + hold(FS) + b"CWD docs\r\nPWD\r\nLIST\r\nNOOP\r\n" + CLIENT_CLOSES + fs(REAL),
    # failed logins: the delay, 530, and the third failure closes
    "login-failures": SITE + b"PASS x\r\nUSER alice\r\nPASS wrong\r\n" + b"USER alice\r\n" + hold(DELAY) +
                      b"PASS wrong\r\nNOOP\r\n" + DELAYED + b"USER bob\r\nPASS b\r\n",
    "login-timeout": SITE + b"USER alice\r\n" + LOGIN_TIMEOUT,
    "idle-timeout": SITE + LOGIN + b"PWD\r\n" + IDLE_TIMEOUT,
    # the registry: full at start (421), no room for the user (421 at PASS)
    "registry-full": b"\x04" + LOGIN,
    "registry-user-full": b"\x06" + LOGIN,
    "registry-roomy": b"\x02" + LOGIN + b"QUIT\r\n",
    # a guesser: 10.0.0.5 failed more logins lately than guesser_refused_after, so 421 at once
    "guesser": b"\x1a" + LOGIN,
    # PORT and EPRT the rules refuse: another host, a privileged port, EPRT protocol 3; EPSV ALL
    "port-refused": SITE + LOGIN + b"PORT 10,0,0,5,200,1\r\nPORT 127,0,0,1,3,255\r\nPORT 127,0,0,1\r\n"
                    b"EPRT |1|10.0.0.5|4000|\r\nEPRT |1|127.0.0.1|80|\r\nEPRT |3|x|1|\r\nEPRT bad\r\n"
                    b"PORT 127,0,0,1,4,0\r\nRETR a.txt\r\nEPSV ALL\r\nPORT 127,0,0,1,4,0\r\nPASV\r\nEPRT |1|127.0.0.1|2000|\r\n",
    # the client on 10.0.0.5, the server on 127.0.0.1: PORT to the server's host is foreign
    "port-foreign-peer": b"\x18" + LOGIN + b"PORT 127,0,0,1,200,1\r\nPORT 10,0,0,5,200,1\r\nLIST\r\n",
    # IPv6: PASV cannot describe it, EPSV 2, EPRT |2|
    "ipv6": b"\x08" + LOGIN + b"PASV\r\nEPSV 1\r\nEPSV 2\r\nEPSV 3\r\nEPRT |2|::1|5000|\r\nNLST\r\nEPSV\r\nMLSD\r\n",
    "ipv4-mapped": b"\x10" + LOGIN + b"PASV\r\nEPRT |1|127.0.0.1|5000|\r\nRETR a.txt\r\nEPSV 1\r\nLIST docs\r\n",
    # TYPE, MODE, STRU, REST, SIZE in each TYPE, OPTS, FEAT, HELP, STAT
    "settings": SITE + LOGIN + b"SIZE a.txt\r\nREST 5\r\nTYPE I\r\nREST 5\r\nREST x\r\nSIZE a.txt\r\nSIZE docs\r\n"
                b"MDTM docs\r\nMDTM a.txt\r\nTYPE L 8\r\nTYPE A N\r\nTYPE E\r\nMODE S\r\nMODE B\r\nSTRU F\r\nSTRU R\r\n"
                b"OPTS UTF8 ON\r\nOPTS MLST type;size;\r\nOPTS MLST\r\nOPTS X\r\nFEAT\r\nHELP\r\nSTAT\r\nSTAT x\r\n"
                b"ALLO 5\r\nACCT x\r\nSYST\r\nMLST a.txt\r\nMLST\r\nXPWD\r\nXCWD docs\r\nXCUP\r\nCDUP\r\nABOR\r\n",
    # resumes: REST + RETR past the end, REST + STOR, APPE, and the upload limit
    "resume": b"\x20" + LOGIN + b"TYPE I\r\nPASV\r\nREST 99999\r\nRETR a.txt\r\nPASV\r\nREST 3\r\nRETR a.txt\r\n"
              b"PASV\r\nREST 3\r\nSTOR a.txt\r\nPASV\r\nREST 99999\r\nSTOR a.txt\r\nPASV\r\nAPPE a.txt\r\n"
              b"PASV\r\nAPPE docs/b.bin\r\nPASV\r\nREST 5000\r\nSTOR docs/b.bin\r\nPASV\r\nSTOR docs\r\n"
              b"PASV\r\nRETR docs\r\nPASV\r\nAPPE docs\r\n",
    # names: the reserved .in. prefix, the root, paths climbing out, symlinks out of the root
    "names": SITE + LOGIN + b"MKD .in.x\r\nPASV\r\nSTOR .in.y\r\nPASV\r\nAPPE .in.y\r\nRNFR a.txt\r\nRNTO .in.z\r\n"
             b"RNFR /\r\nRMD /\r\nDELE /\r\nPASV\r\nSTOR /\r\nCWD ../../..\r\nPWD\r\nCWD /../outside\r\n"
             b"CWD link-out\r\nCWD link-etc\r\nCWD link-docs\r\nPWD\r\nSIZE ../../../outside/secret\r\nRNTO x\r\n"
             b"CWD a.txt\r\nMKD \"q\"\r\nCWD ./docs//deep/.\r\nPWD\r\nPASV\r\nLIST ../../link-out\r\n"
             b"CWD sp ace.txt\r\nPASV\r\nLIST -la -R\r\nMKD a\x00b\r\n",
    # renames, mkdir, rmdir, delete, for real
    "changes": SITE + LOGIN + b"MKD d\r\nMKD d/e\r\nRMD d\r\nRMD d/e\r\nRMD d\r\nRNFR a.txt\r\nRNTO d2.txt\r\n"
               b"RNFR d2.txt\r\nNOOP\r\nRNTO a.txt\r\nRNFR nope\r\nDELE sp ace.txt\r\nDELE empty\r\n",
    # anonymous: read-only everywhere
    "anonymous": b"\x01USER anonymous\r\nPASS x@y\r\nPWD\r\nMKD m\r\nRMD m\r\nDELE readme.txt\r\nRNFR readme.txt\r\n"
                 b"RNTO x\r\nPASV\r\nSTOR x\r\nPASV\r\nAPPE x\r\nPASV\r\nRETR readme.txt\r\nMLST readme.txt\r\n"
                 b"PASV\r\nMLSD\r\nUSER ftp\r\nQUIT\r\n",
    # before login, and lines too long, unknown verbs, Telnet option negotiation
    "unlogged": b"\x40" + b"PWD\r\nUSER\r\nPASS\r\nNOOP\r\nXYZZY abc\r\n" + b"USER " + b"a" * 100 + b"\r\n" +
                raw(b"\xff\xfb\x01\xff\xfd\x03NOOP\r\n\xff\xffUSER \xff\xff\r\n") + LOGIN + b"USER alice\r\nPASS x\r\n",
    # a client that never reads its replies: the session stops reading, its replies bounded
    "never-reads": SITE + LOGIN + READING + flood(64, b"HELP\n") + flood(64, b"FEAT\n") + flood(64, b"NOOP\n") +
                   READING + b"QUIT\r\n",
    # passive set-up failing, then an error on the transfer's data connection
    "passive-errors": SITE + LOGIN + passive() + b"PASV\r\n" + passive() + b"EPSV\r\nLIST\r\n" + hold(PASSIVE) +
                      b"PASV\r\nNOOP\r\n" + passive(40001) + b"RETR a.txt\r\n",
    # completions after CloseRequest are ignored
    "after-close": SITE + LOGIN + b"EPSV\r\n" + hold(TRANSFER) + b"RETR a.txt\r\n" + CLIENT_CLOSES +
                   transfer(DONE, 13) + transfer(DONE) + fs(REAL) + passive(1) + DELAYED + URGENT + IDLE_TIMEOUT,
    # during a transfer, a command that must wait (PWD), then its reply after the transfer's
    "waits-for-transfer": SITE + LOGIN + b"PASV\r\n" + hold(TRANSFER) + b"RETR a.txt\r\nPWD\r\nNOOP\r\n" +
                          transfer(DONE, 13),
    # the home cannot be opened: 530, and the registry gives the user back
    "home-fails": b"\x02USER alice\r\n" + fs(EACCES) + b"PASS secret\r\n" + LOGIN,
    # the client goes while RETR's file and STOR's temporary are being opened: no transfer starts
    "close-while-opening": SITE + LOGIN + b"PASV\r\n" + hold(FS) + b"RETR a.txt\r\n" + CLIENT_CLOSES + fs(REAL),
    "close-while-creating": SITE + LOGIN + b"PASV\r\n" + hold(FS) + b"STOR new.bin\r\n" + CLIENT_CLOSES + fs(REAL),
    # LIST and NLST of a file list the file; MLSD of a file is refused
    "list-a-file": SITE + LOGIN + b"PASV\r\nLIST a.txt\r\nPASV\r\nNLST docs/b.bin\r\nPASV\r\nMLSD a.txt\r\n",
    # STOR's temporary cannot be made: no space; every name taken (eight EEXIST in a row)
    "stor-create-fails": SITE + LOGIN + b"PASV\r\n" + fs(ENOSPC) + b"STOR z\r\n" + b"PASV\r\n" + hold(FS) +
                         b"STOR y\r\n" + (hold(FS) + fs(EEXIST)) * 7 + fs(EEXIST),
    # MFMT (main's core has it; a core without answers 502): good and bad stamps, no path, the
    # root, a missing file, an anonymous session's refusal
    "mfmt": SITE + LOGIN + b"MFMT 20260102030405 a.txt\r\nMFMT 20260102030405.123 docs/b.bin\r\nMFMT 2026 a.txt\r\n"
            b"MFMT 20260102030405\r\nMFMT x2026010203040 a.txt\r\nMFMT 20260102030405 nope\r\n"
            b"MFMT 20260102030405 /\r\n" + fs(EACCES) + b"MFMT 20260102030405 a.txt\r\n",
    "mfmt-anonymous": b"\x01USER anonymous\r\nPASS x\r\nMFMT 20260102030405 readme.txt\r\n",
    # ABOR queued while RETR's file is opened: it is for that transfer
    "abor-while-opening": SITE + LOGIN + b"PASV\r\n" + hold(FS) + b"RETR a.txt\r\nABOR\r\n" + hold(TRANSFER) +
                          fs(REAL) + transfer(ABORTED),
}

LINE_READER = {  # byte 0 the limit, byte 1 the split, then the stream
    "hand-curl": b"\xff\x07USER alice\r\nPASS secret\r\nPWD\r\nEPSV\r\nRETR a.txt\r\nQUIT\r\n",
    "hand-telnet": b"\xff\x03\xff\xf4\xff\xf2ABOR\r\n\xff\xfb\x01NOOP\r\n\xff\xffX\xff\r\nbare lf\nlast",
    "hand-too-long": b"\x08\x05SHORT\r\nTHIS LINE IS TOO LONG\r\nOK\r\n\r\n",
    "hand-quotes": b"\xff\x09MKD \"quoted\" name\r\nCWD a\rb\r\n",
}

DATA_ADDRESS = {  # byte 0 the peer, bytes 1-2 a passive port, then PORT/EPRT's argument
    "hand-port": b"\x00\x9c\x40127,0,0,1,156,64",
    "hand-eprt4": b"\x00\x00\x15|1|127.0.0.1|6275|",
    "hand-eprt6": b"\x01\xff\xff|2|::1|5282|",
    "hand-mapped": b"\x02\x04\x00!2!::ffff:127.0.0.1!1024!",
    "hand-foreign": b"\x03\x00\x00127,0,0,1,3,255",
    "hand-bad": b"\x04\x00\x01|3|x|1|",
}

CLIENT_REPLY = {  # byte 0 the split, then the server's bytes
    "hand-replies": b"\x05220 ready\r\n331 send\r\n230-Welcome\r\n 230 not the end\r\n230 end\r\n"
                    b"229 Entering Extended Passive Mode (|||40000|)\r\n227 Entering Passive Mode (127,0,0,1,156,64).\r\n"
                    b"211-Features:\r\n EPSV\r\n MLST size*;\r\n211 End\r\n",
    "hand-bad": b"\x03226 done\nnot a reply\r\n",
    "hand-epsv-odd": b"\x07229 (!!!1!)\r\n229 (|||0|)\r\n229 (|||65536|)\r\n227 (1,2,3,4,0,0)\r\n227 x\r\n",
}

CLIENT_URL = {
    "hand-full": b"ftp://alice:s%40cret@127.0.0.1:2121/docs/a.txt",
    "hand-ipv6": b"FTP://[::1]:21/",
    "hand-anonymous": b"ftp://host",
    "hand-bad": b"ftp://u:p@[::1/x%zz",
    "hand-port": b"ftp://h:99999/",
}


def listing_entry(kind, size, mtime, mode, nlink, name):
    return bytes([kind]) + struct.pack(">QqHQ", size, mtime, mode, nlink) + bytes([len(name)]) + name


LISTING = {  # byte 0 the facts and writable, entries, then OPTS MLST's argument
    "hand-dir": bytes([31 | 32]) + listing_entry(0, 5, 1767225000, 0o644, 1, b"a.txt") +
                listing_entry(1, 4096, 1600000000, 0o755, 2, b"docs") +
                listing_entry(2, 0, 0, 0o777, 1, b"link") + listing_entry(3, 0, -1, 0, 1, b"fifo") +
                b"type;size;modify;perm;unique;",
    "hand-odd": bytes([5]) + listing_entry(0, 2**64 - 1, 2**62, 0o7777, 2**64 - 1, b"sp ace;x=y") + b"TYPE;Size;junk",
}

LIVE_COUNTERS = {  # byte 0 how, bytes 1-2 a length, then bytes XORed over a valid file
    "hand-valid": b"\x00\x00\x00",
    "hand-truncated": b"\x01\x10\x40",
    "hand-longer": b"\x02\x00\x00",
    "hand-bad-magic": b"\x00\x00\x00\x01",
    # LiveHeader: magic[8], version, counter_count, counting, slot_stride (320: 0x140), ...
    "hand-zero-stride": b"\x00\x00\x00" + bytes(16) + b"\x01\x00\x00\x00" + b"\x40\x01\x00\x00",
    "hand-odd-stride": b"\x00\x00\x00" + bytes(20) + b"\x04",
    "hand-many-slots": b"\x00\x00\x00" + bytes(32) + b"\xff\xff\xff\xff\xff\xff\xff\x7f",
}


def write(target, seeds, prefix=""):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, prefix + name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write("ftp_session", SESSION, "hand-")
    write("ftp_line_reader", LINE_READER)
    write("ftp_data_address", DATA_ADDRESS)
    write("client_reply", CLIENT_REPLY)
    write("client_url", CLIENT_URL)
    write("ftp_listing", LISTING)
    write("live_counters", LIVE_COUNTERS)
