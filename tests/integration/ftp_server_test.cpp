// What any FTP server of this suite promises, checked against each of them
// (epoll_ftp_server, the reactor; uring_ftp_server, the proactor; the same
// protocol core): the FTP clients people already have (curl, lftp, Python's
// ftplib) move whole files both ways, in both modes, and resume them; the
// security rules hold; the limits and timers end what lasts too long; a
// hostile or slow client never stops the others. Then the two checks only
// the reactor can pass: downloads by sendfile, and the --trace line that
// shows epoll refusing a regular file. (What only the proactor does:
// ftp_uring_test.) The fixture is ftp_fixture.hpp.
#include "ftp_fixture.hpp"

#include "client/lib/connection.hpp"
#include "common/json.hpp"
#include "common/net.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>

#include <algorithm>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace iom::test {
namespace {

using client::random_bytes;

class FtpServer : public EachFtpServer {};
INSTANTIATE_TEST_SUITE_P(Ours, FtpServer, ::testing::ValuesIn(ftp_servers()), ServerName());

TEST_P(FtpServer, CurlUploadsAndDownloadsWholeOverEpsv) {
    start();
    const std::string content = random_bytes(3 << 20, 1);
    auto down = curl_up_and_down(content);
    EXPECT_NE(down.err.find("> EPSV"), std::string::npos) << "curl asks EPSV first: " << down.err;
    EXPECT_NE(down.err.find("< 229"), std::string::npos) << down.err;

    ASSERT_EQ(server_->stop(), 0) << server_->stderr_text();
    EXPECT_EQ(server_->counter("file_write_bytes"), content.size());
    EXPECT_EQ(server_->counter("file_read_bytes"), content.size());
    EXPECT_EQ(server_->counter("ftp_sessions"), 2u);
}

TEST_P(FtpServer, ActiveModeWithCurlConnectsBackToTheClient) {
    start();
    const std::string content = random_bytes(2 << 20, 8);
    write_file(dir_ + "/up.bin", content);
    auto up = curl({"-v", "--ftp-port", "127.0.0.1", "-T", dir_ + "/up.bin", url("up.bin")});
    ASSERT_EQ(up.exit_code, 0) << describe(up);
    EXPECT_NE(up.err.find("> EPRT |1|127.0.0.1|"), std::string::npos) << up.err;
    EXPECT_TRUE(same_bytes(read_file(home_ + "/up.bin"), content));
    auto down = curl({"--ftp-port", "127.0.0.1", "--disable-eprt", "-v", "-o", dir_ + "/down.bin", url("up.bin")});
    ASSERT_EQ(down.exit_code, 0) << describe(down);
    EXPECT_NE(down.err.find("> PORT 127,0,0,1,"), std::string::npos) << down.err;
    EXPECT_TRUE(same_bytes(read_file(dir_ + "/down.bin"), content));
}

TEST_P(FtpServer, AnUploadPastMaxUploadGets552AndLeavesTheOldFile) {
    start({"--max-upload", "100000"});
    write_file(home_ + "/f.bin", "the old file\n");
    write_file(dir_ + "/big.bin", random_bytes(1 << 20, 9));
    const std::string out = python(ftp_login + R"PY(
ftp.voidcmd('TYPE I')
try:
    with ftp.transfercmd('STOR f.bin') as conn:
        conn.sendall(open(sys.argv[2], 'rb').read())
except OSError:
    pass  # the server may close the data connection before all of it is sent
print(late_reply(), answer('NOOP'))
)PY",
                                   {dir_ + "/big.bin"});
    EXPECT_EQ(out, "552 200\n");
    EXPECT_EQ(read_file(home_ + "/f.bin"), "the old file\n");
    EXPECT_EQ(std::distance(fs::directory_iterator(home_), fs::directory_iterator()), 1)
        << "the temporary file is gone";
}

TEST_P(FtpServer, NoSendfileCopiesThroughUserSpace) {
    start({"--no-sendfile"});
    const std::string content = random_bytes(2 << 20, 2);
    write_file(home_ + "/f.bin", content);
    auto down = curl({"-o", dir_ + "/f.bin", url("f.bin")});
    ASSERT_EQ(down.exit_code, 0) << describe(down);
    EXPECT_TRUE(same_bytes(read_file(dir_ + "/f.bin"), content));
    ASSERT_EQ(server_->stop(), 0) << server_->stderr_text();
    EXPECT_EQ(server_->counter("sendfile_calls"), 0u);
    EXPECT_GT(server_->counter("file_reads"), 0u);
    EXPECT_EQ(server_->counter("user_copy_bytes"), content.size());
}

TEST_P(FtpServer, DownloadsResumeWithCurlAndWithRestRetr) {
    start();
    const std::string content = random_bytes(3 << 20, 3);
    write_file(home_ + "/big.bin", content);

    write_file(dir_ + "/partial.bin", content.substr(0, 1234567));  // curl -C -: REST at the local size
    auto resumed = curl({"-v", "-C", "-", "-o", dir_ + "/partial.bin", url("big.bin")});
    ASSERT_EQ(resumed.exit_code, 0) << describe(resumed);
    EXPECT_NE(resumed.err.find("> REST 1234567"), std::string::npos) << resumed.err;
    EXPECT_TRUE(same_bytes(read_file(dir_ + "/partial.bin"), content));

    EXPECT_EQ(python(ftp_login + R"PY(
out = open(sys.argv[2], 'wb')
ftp.retrbinary('RETR big.bin', out.write, rest=1000000)
out.close()
)PY",
                     {dir_ + "/tail.bin"}),
              "");
    EXPECT_TRUE(same_bytes(read_file(dir_ + "/tail.bin"), content.substr(1000000)));
}

TEST_P(FtpServer, UploadsResumeWithCurlAndWithLftp) {
    start();
    const std::string content = random_bytes(3 << 20, 4);
    write_file(dir_ + "/local.bin", content);

    write_file(home_ + "/a.bin", content.substr(0, 1000000));  // an upload cut short
    auto by_curl = curl({"-v", "-C", "-", "-T", dir_ + "/local.bin", url("a.bin")});
    ASSERT_EQ(by_curl.exit_code, 0) << describe(by_curl);
    EXPECT_NE(by_curl.err.find("> SIZE a.bin"), std::string::npos) << by_curl.err;
    EXPECT_TRUE(same_bytes(read_file(home_ + "/a.bin"), content));

    write_file(home_ + "/b.bin", content.substr(0, 2000000));
    auto by_lftp = lftp("put -c " + dir_ + "/local.bin -o b.bin");
    ASSERT_EQ(by_lftp.exit_code, 0) << describe(by_lftp);
    bool resumed = by_lftp.err.find("---> REST 2000000") != std::string::npos ||
                   by_lftp.err.find("---> APPE") != std::string::npos;
    EXPECT_TRUE(resumed) << "lftp put -c resumes with REST+STOR or APPE: " << by_lftp.err;
    EXPECT_TRUE(same_bytes(read_file(home_ + "/b.bin"), content));
}

// The upload rule: an upload that does not finish (ABOR, the control
// connection lost, a stall) leaves the file it would replace byte for byte;
// one of a new name is kept, and curl -C - finishes it.
TEST_P(FtpServer, AnUnfinishedUploadNeverReplacesAFileAndANewOneResumes) {
    start({"--stall-timeout", "2"});
    const std::string old = random_bytes(1 << 20, 11), content = random_bytes(2 << 20, 12);
    write_file(home_ + "/keep.bin", old);
    write_file(dir_ + "/local.bin", content);
    const std::string out = python(ftp_login + R"PY(
data = open(sys.argv[2], 'rb').read()
def session():
    f = ftplib.FTP()
    f.connect('127.0.0.1', port, timeout=30)
    f.login('alice', 'secret')
    f.voidcmd('TYPE I')
    return f
def aborted(name):                  # ABOR (urgent data) with the data connection still open
    f = session()
    conn = f.transfercmd('STOR ' + name)
    conn.sendall(data[:1 << 20])
    first = f.abort()[:3]
    read_all(conn)
    conn.close()
    return first + '+' + f.getresp()[:3]
def control_lost():                 # the client dies: its control connection ends mid-upload
    f = session()
    conn = f.transfercmd('STOR keep.bin')
    conn.sendall(data[:1 << 20])
    f.sock.shutdown(socket.SHUT_RDWR)
    read_all(conn)                  # until the server closes the data connection
    conn.close()
    return 'lost'
def stalled():                      # the data connection goes quiet: 426 after --stall-timeout
    f = session()
    conn = f.transfercmd('STOR keep.bin')
    conn.sendall(data[:1000])
    try:
        reply = f.voidresp()[:3]
    except ftplib.all_errors as e:
        reply = str(e)[:3]
    conn.close()
    return reply
print(aborted('keep.bin'), control_lost(), stalled(), aborted('new.bin'))
)PY",
                                   {dir_ + "/local.bin"});
    EXPECT_EQ(out.substr(0, 4), "426+") << out;
    EXPECT_NE(out.find(" lost 426 426+"), std::string::npos) << out;
    EXPECT_TRUE(same_bytes(read_file(home_ + "/keep.bin"), old)) << "an unfinished upload replaced the file";
    const std::string partial = read_file(home_ + "/new.bin");
    EXPECT_EQ(content.substr(0, partial.size()), partial) << "an interrupted new upload is kept as a prefix";
    EXPECT_EQ(std::distance(fs::directory_iterator(home_), fs::directory_iterator()), 2) << "no temporary left";
    auto resumed = curl({"-v", "-C", "-", "-T", dir_ + "/local.bin", url("new.bin")});
    ASSERT_EQ(resumed.exit_code, 0) << describe(resumed);
    EXPECT_TRUE(same_bytes(read_file(home_ + "/new.bin"), content)) << "curl -C - finished it";
}

// The access log (--log FILE): a JSON line for each connection, login,
// failed login, transfer and disconnect, with the path as the user sees it;
// never a password, right or wrong.
TEST_P(FtpServer, TheAccessLogHasAJsonLineForEachEventAndNoPassword) {
    const std::string log = dir_ + "/access.log";
    start({"--log", log, "--login-delay-ms", "0"});
    fs::create_directory(home_ + "/docs");
    write_file(dir_ + "/local.bin", "twelve bytes");
    EXPECT_EQ(curl({"-T", dir_ + "/local.bin", url("docs/a.bin")}).exit_code, 0);
    EXPECT_EQ(curl({"-o", dir_ + "/down.bin", url("docs/a.bin")}).exit_code, 0);
    EXPECT_NE(curl({"ftp://alice:hunter2-wrong@127.0.0.1:" + port() + "/"}).exit_code, 0);
    ASSERT_EQ(server_->stop(), 0) << server_->stderr_text();  // every session has ended: its disconnect is logged
    const std::string text = read_file(log);
    EXPECT_EQ(text.find("secret"), std::string::npos) << text;
    EXPECT_EQ(text.find("hunter2"), std::string::npos) << text;
    std::map<std::string, int> events;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        Json j = Json::parse(line);
        ++events[j["event"].get<std::string>()];
        EXPECT_EQ(j["client"], "127.0.0.1") << line;
        if (j["event"] == "transfer" && j["direction"] == "upload") {
            EXPECT_EQ(line.find(R"("user": "alice", "direction": "upload", "path": "/docs/a.bin", "bytes": 12, )"),
                      line.find(R"("user")")) << line;
        }
        if (j["event"] == "transfer") {
            EXPECT_EQ(j["result"], "done") << line;
        }
        if (j["event"] == "login_failed") {
            EXPECT_EQ(j["user"], "alice") << line;
        }
    }
    EXPECT_EQ(events["connect"], 3) << text;
    EXPECT_EQ(events["disconnect"], 3) << text;
    EXPECT_EQ(events["login"], 2) << text;
    EXPECT_EQ(events["login_failed"], 1) << text;
    EXPECT_EQ(events["transfer"], 2) << text;
}

// Failed logins throttled per address, across sessions: 300 sessions
// guessing from 127.0.0.2 get few answers in 10 s, then a new session from
// there gets 421 at once; alice, from 127.0.0.1, logs in meanwhile.
TEST_P(FtpServer, GuessersFromOneAddressAreThrottledAndOthersAreNot) {
    start({"--login-delay-ms", "200", "--throttle-after", "5", "--refuse-guesser-after", "50"});
    const std::string out = python(ftp_by_hand + R"PY(
import ftplib, selectors, time
sel = selectors.DefaultSelector()
guessers = []
for i in range(300):
    s = socket.socket()
    s.bind(('127.0.0.2', 0))
    s.connect(('127.0.0.1', port))
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, bytearray())
    guessers.append(s)
answers = 0                                   # 530/421 replies to PASS within 10 s
start = time.monotonic()
alice = None
while time.monotonic() - start < 10:
    if alice is None and time.monotonic() - start > 1:
        t = time.monotonic()
        f = ftplib.FTP()
        f.connect('127.0.0.1', port, timeout=30)
        f.login('alice', 'secret')
        alice = time.monotonic() - t
        f.quit()
    for key, _ in sel.select(0.1):
        try:
            data = key.fileobj.recv(4096)
        except OSError:
            data = b''
        if not data:
            sel.unregister(key.fileobj)
            continue
        key.data.extend(data)
        while b'\n' in key.data:
            line, _, rest = bytes(key.data).partition(b'\n')
            key.data[:] = rest
            code = line[:3]
            if code in (b'220', b'530'):
                if code == b'530':
                    answers += 1
                key.fileobj.sendall(b'USER alice\r\nPASS guess\r\n')
late = socket.socket()
late.bind(('127.0.0.2', 0))
late.connect(('127.0.0.1', port))
print(answers, alice is not None and alice < 5, late.recv(100)[:3].decode())
)PY");
    std::istringstream words(out);
    int answers = -1;
    std::string alice_in_time, late;
    words >> answers >> alice_in_time >> late;
    EXPECT_GE(answers, 0) << out;
    EXPECT_LE(answers, 60) << "300 guessing sessions got too many answers: " << out;
    EXPECT_EQ(alice_in_time, "True") << "alice, from another address, must log in at once: " << out;
    EXPECT_EQ(late, "421") << "a new session from the guessing address is refused: " << out;
}

// Two free ports in a row (bound and released: free a moment later too).
// Below the ephemeral range (32768-60999 here): no other test's connection
// or port-0 listener can take them between this check and the server's bind.
std::uint16_t two_free_ports() {
    for (int i = 0; i < 1800; ++i) {
        const int base = 20000 + (::getpid() * 7 + i * 7) % 12600;
        try {
            auto a = listen_tcp(parse_address("127.0.0.1", static_cast<std::uint16_t>(base)), 1, false);
            auto b = listen_tcp(parse_address("127.0.0.1", static_cast<std::uint16_t>(base + 1)), 1, false);
            return static_cast<std::uint16_t>(base);
        } catch (const std::system_error&) {
        }
    }
    return 0;
}

// --passive-ports: EPSV and PASV listen in the range; the range used up,
// PASV gets 425 and the session goes on. --passive-address: what PASV tells.
TEST_P(FtpServer, PassivePortsComeFromTheRangeAndARangeUsedUpGets425) {
    const std::uint16_t lo = two_free_ports();
    ASSERT_NE(lo, 0);
    start({"--passive-ports", std::to_string(lo) + "-" + std::to_string(lo + 1), "--passive-address", "192.0.2.7"});
    const std::string out = python(ftp_login + R"PY(
import re
lo = int(sys.argv[2])
other = ftplib.FTP()
other.connect('127.0.0.1', port, timeout=30)
other.login('alice', 'secret')
epsv = ftp.sendcmd('EPSV')                  # the first port of the range: this session's listener
pasv = other.sendcmd('PASV')                # the second: the other session's
p1 = int(re.search(r'\|\|\|(\d+)\|', epsv).group(1))
h = [int(x) for x in re.search(r'\((.*)\)', pasv).group(1).split(',')]
third = ftplib.FTP()
third.connect('127.0.0.1', port, timeout=30)
third.login('alice', 'secret')
print(sorted([p1 - lo, h[4] * 256 + h[5] - lo]), '.'.join(map(str, h[:4])),
      answer_of(third, 'PASV'), answer_of(third, 'EPSV'), answer_of(third, 'NOOP'))
)PY",
                                   {std::to_string(lo)});
    EXPECT_EQ(out, "[0, 1] 192.0.2.7 425 425 200\n");
}

TEST_P(FtpServer, LftpListsWithListNlstAndMlsd) {
    start();
    write_file(home_ + "/alpha.txt", "alpha\n");
    fs::create_directory(home_ + "/beta");
    auto r = lftp("ls; nlist; cls -l");
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    for (const char* command : {"---> LIST", "---> NLST", "---> MLSD"})
        EXPECT_NE(r.err.find(command), std::string::npos) << command << " not sent:\n" << r.err;
    EXPECT_NE(r.out.find("alpha.txt"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("beta"), std::string::npos) << r.out;
}

TEST_P(FtpServer, AborDuringRetrIsAnswered426Then226AtOnce) {
    // Rate-limited, so that the 16 MiB download would take 16 s: the ABOR
    // must stop it long before it ends.
    start({"--rate-limit", "1M"});
    const std::size_t size = 16 << 20;
    write_file(home_ + "/big.bin", random_bytes(size, 5));
    const std::string out = python(ftp_login + R"PY(
ftp.voidcmd('TYPE I')
conn = ftp.transfercmd('RETR big.bin')
total = len(conn.recv(65536))
first = ftp.abort()              # ABOR, sent as urgent data
total += len(read_all(conn))
conn.close()
second = ftp.getresp()
print(first[:3], second[:3], total, answer('NOOP'))
)PY");
    std::istringstream words(out);
    std::string first, second, noop;
    std::size_t total = 0;
    words >> first >> second >> total >> noop;
    EXPECT_EQ(first, "426") << out;
    EXPECT_EQ(second, "226") << out;
    EXPECT_EQ(noop, "200") << "the session goes on after ABOR: " << out;
    EXPECT_LT(total, size / 2) << "the transfer went on after ABOR";
    ASSERT_EQ(server_->stop(), 0) << server_->stderr_text();
    EXPECT_EQ(server_->counter("ftp_aborts"), 1u);
    EXPECT_GT(server_->counter("rate_waits"), 0u);
}

TEST_P(FtpServer, StrangerOnThePassivePortGetsNothing) {
    start();
    const std::string content = random_bytes(1 << 20, 6);
    write_file(home_ + "/f.bin", content);
    // The stranger (127.0.0.2) connects to the PASV port first; the client
    // (127.0.0.1) after it, then asks for the file.
    const std::string out = python(ftp_login + R"PY(
ftp.voidcmd('TYPE I')
host, dport = ftplib.parse227(ftp.sendcmd('PASV'))
stranger = socket.socket()
stranger.settimeout(30)
stranger.bind(('127.0.0.2', 0))
stranger.connect((host, dport))
real = socket.create_connection((host, dport), timeout=30)
ftp.sendcmd('RETR f.bin')
data = read_all(real)
real.close()
end = ftp.voidresp()
got = read_all(stranger)
open(sys.argv[2], 'wb').write(data)
print(end[:3], len(got))
)PY",
                    {dir_ + "/f.bin"});
    EXPECT_EQ(out, "226 0\n") << "the stranger must get 0 bytes";
    EXPECT_TRUE(same_bytes(read_file(dir_ + "/f.bin"), content));
    ASSERT_EQ(server_->stop(), 0) << server_->stderr_text();
    EXPECT_EQ(server_->counter("data_strangers"), 1u);
}

// A refused PORT also forgets the address a PORT gave before it (LIST: 425).
TEST_P(FtpServer, PortToAnotherHostOrAPrivilegedPortIsRefusedAndNeverConnected) {
    start();
    write_file(home_ + "/f.bin", "bait\n");
    // Listeners where a bouncing server would connect: on 127.0.0.2, and on
    // a port below 1024 when this test may bind one.
    const std::string out = python(ftp_login + R"PY(
trap = socket.socket()
trap.bind(('127.0.0.2', 0))
trap.listen(8)
traps, tport = [trap], trap.getsockname()[1]
low = 21
for p in range(1023, 1000, -1):
    s = socket.socket()
    try:
        s.bind(('127.0.0.1', p))
        s.listen(8)
        traps.append(s)
        low = p
        break
    except OSError:
        s.close()
mine = socket.socket()            # the client's own listener: a PORT to it is fine,
mine.bind(('127.0.0.1', 0))       # but a refused PORT after it must forget it
mine.listen(8)
traps.append(mine)
mport = mine.getsockname()[1]
out = [answer('PORT 127,0,0,1,%d,%d' % (mport >> 8, mport & 255)),
       answer('PORT 127,0,0,2,%d,%d' % (tport >> 8, tport & 255)), answer('LIST'),
       answer('PORT 127,0,0,2,%d,%d' % (tport >> 8, tport & 255)), answer('RETR f.bin'),
       answer('EPRT |1|127.0.0.2|%d|' % tport), answer('RETR f.bin'),
       answer('PORT 127,0,0,1,%d,%d' % (low >> 8, low & 255)), answer('RETR f.bin'),
       answer('EPRT |1|127.0.0.1|%d|' % low), answer('RETR f.bin')]
ready, _, _ = select.select(traps, [], [], 1.0)   # nothing may arrive
print(' '.join(out), len(ready))
)PY");
    EXPECT_EQ(out, "200 501 425 501 425 501 425 501 425 501 425 0\n")
        << "PORT/EPRT refused (501), so RETR has no data connection (425), not even to the address a PORT gave "
           "before the refused one, and no connection arrives";
}

TEST_P(FtpServer, PathsCannotEscapeTheHome) {
    start();
    write_file(root_ + "/secret.txt", "SECRET");  // beside alice's home, not in it
    fs::create_symlink("../secret.txt", home_ + "/up");
    fs::create_symlink(root_ + "/secret.txt", home_ + "/abs");
    fs::create_symlink("/etc", home_ + "/etc");
    fs::create_symlink("..", home_ + "/parent");
    const std::string out = python(ftp_login + R"PY(
ftp.voidcmd('TYPE I')
res = []
for p in ['../secret.txt', '/../secret.txt', '../../secret.txt', '/etc/passwd', 'up', 'abs', 'etc/passwd']:
    data = []
    try:
        ftp.retrbinary('RETR ' + p, data.append)
        got = 'got%d' % len(b''.join(data))
    except ftplib.all_errors as e:
        got = str(e)[:3]
    res.append(answer('SIZE ' + p) + '/' + got)
answer('CWD ..')
answer('CWD ../..')
answer('MKD parent/evil')
answer('RNFR up')
answer('RNTO parent/stolen')
print(' '.join(res), ftp.pwd())
)PY");
    EXPECT_EQ(out, "550/550 550/550 550/550 550/550 550/550 550/550 550/550 /\n")
        << "every escape (.., absolute, symlinks out) must find nothing";
    EXPECT_FALSE(fs::exists(root_ + "/evil")) << "MKD through a symlink to .. made a directory outside the home";
    EXPECT_FALSE(fs::exists(root_ + "/stolen")) << "RNTO through a symlink to .. moved a file outside the home";
    EXPECT_TRUE(fs::exists(root_ + "/secret.txt"));
}

// A client that resets its data connection mid-download: the next send (or
// sendfile) on it fails (ECONNRESET), the transfer is lost (426), and the
// session goes on, and so do others. (SIGPIPE itself is ignored at start,
// common/shutdown.cpp: this reset gives ECONNRESET first, so this test would
// pass without that; it guards the error path, not the signal.)
TEST_P(FtpServer, ADataConnectionResetMidTransferKillsNeitherTheSessionNorTheServer) {
    start({"--rate-limit", "1M"});  // the download is still running when the reset comes
    write_file(home_ + "/big.bin", random_bytes(8 << 20, 10));
    const std::string out = python(ftp_login + R"PY(
import struct
ftp.voidcmd('TYPE I')
conn = ftp.transfercmd('RETR big.bin')
conn.recv(65536)
conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
conn.close()                       # an RST, not a FIN
end = late_reply()
other = ftplib.FTP()
other.connect('127.0.0.1', port, timeout=30)
other.login('alice', 'secret')
print(end, answer('NOOP'), other.sendcmd('NOOP')[:3])
)PY");
    EXPECT_EQ(out, "426 200 200\n") << "426: the transfer was lost; then this session and a new one are served";
}

TEST_P(FtpServer, ALongLineGets500AndTheSessionGoesOn) {
    start();
    const std::string out = python(ftp_by_hand + R"PY(
c = Raw()
replies = [c.reply()]
c.send(b'NOOP ' + b'x' * 5120 + b'\r\nNOOP\r\n')
replies += [c.reply(), c.reply()]
c.send(b'QUIT\r\n')
replies.append(c.reply())
print(' '.join(replies))
)PY");
    EXPECT_EQ(out, "220 500 200 221\n");
}

// Commands from a client that never reads its replies: once the unsent
// replies pass a few KiB the server stops reading it, so the client's sends
// stop being taken once the socket buffers between are full. The client's
// own buffers are small (64 KiB): a server that went on reading would take
// its bytes faster than one a second, and all 48 MiB would go (more than the
// server's receive buffer can hold, 32 MiB at most here: tcp_rmem).
TEST_P(FtpServer, AClientThatNeverReadsStopsBeingRead) {
    start();
    const std::string out = python(ftp_by_hand + R"PY(
import select
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.connect(('127.0.0.1', port))
s.setblocking(False)
chunk, sent = b'NOOP\r\n' * 10000, 0
while sent < 48 << 20:
    try:
        sent += s.send(chunk)
    except BlockingIOError:
        if not select.select([], [s], [], 1.0)[1]:
            break              # nothing taken for a second: the server stopped reading
print(sent < 48 << 20, Raw().reply())
)PY");
    EXPECT_EQ(out, "True 220\n") << "True: the server stopped reading the client that never reads; 220: "
                                    "another session is still served";
}

TEST_P(FtpServer, TypeAConvertsLineEndsBothWays) {
    start();
    write_file(home_ + "/lines.txt", "one\ntwo\n");
    const std::string out = python(ftp_login + R"PY(
ftp.voidcmd('TYPE A')
conn = ftp.transfercmd('RETR lines.txt')
data = read_all(conn)
conn.close()
ftp.voidresp()
conn = ftp.transfercmd('STOR up.txt')
conn.sendall(b'x\r\ny\r\n')
conn.close()
ftp.voidresp()
print(data.hex())
)PY");
    EXPECT_EQ(out, "6f6e650d0a74776f0d0a\n") << "one\\r\\ntwo\\r\\n on the wire";
    EXPECT_EQ(read_file(home_ + "/up.txt"), "x\ny\n");
}

TEST_P(FtpServer, TwentyConcurrentCurlDownloadsCompleteWhole) {
    start();
    const std::string content = random_bytes(2 << 20, 7);
    write_file(home_ + "/f.bin", content);
    constexpr int n = 20;
    std::vector<RunResult> results(n);
    std::vector<std::thread> clients;
    for (int i = 0; i < n; ++i)
        clients.emplace_back([&, i] { results[i] = curl({"-o", dir_ + "/f" + std::to_string(i), url("f.bin")}); });
    for (auto& t : clients) t.join();
    for (int i = 0; i < n; ++i) {
        EXPECT_EQ(results[i].exit_code, 0) << describe(results[i]);
        EXPECT_TRUE(same_bytes(read_file(dir_ + "/f" + std::to_string(i)), content)) << "download " << i;
    }
    ASSERT_EQ(server_->stop(), 0) << server_->stderr_text();
    EXPECT_EQ(server_->counter("ftp_sessions"), static_cast<std::uint64_t>(n));
}

TEST_P(FtpServer, NoLoginInTimeIsAnswered421AndClosed) {
    start({"--login-timeout", "1"});
    const std::string out = python(ftp_by_hand + R"PY(
c = Raw()
print(c.reply(), c.reply(), c.reply())
)PY");
    EXPECT_EQ(out, "220 421 EOF\n") << "421 at --login-timeout, then the end of the connection";
    ASSERT_EQ(server_->stop(), 0) << server_->stderr_text();
    EXPECT_EQ(server_->counter("idle_timeouts"), 1u);
}

// The loop's timers: a failed login answered after its delay, a passive
// port nobody connects to, a download nobody reads (while another session
// is served whole: the loop does not wait for the stalled one).
TEST_P(FtpServer, TimersDelayFailedLoginsAndEndWaitsThatLastTooLong) {
    start({"--login-delay-ms", "50", "--passive-timeout", "1", "--stall-timeout", "1"});
    write_file(home_ + "/f.bin", "x");
    write_file(home_ + "/big.bin", "");
    fs::resize_file(home_ + "/big.bin", 64 << 20);  // more than the socket buffers hold
    const std::string out = python(ftp_login + ftp_by_hand + R"PY(
c = Raw()
out = [c.reply()]
for i in range(3):
    c.send(b'USER alice\r\nPASS wrong\r\n')
    c.reply()                  # 331
    out.append(c.reply())      # after the delay: 530, 530, then 421
out.append(c.reply())
ftp.sendcmd('PASV')            # and never connect to it
out += [answer('RETR f.bin'), late_reply()]
ftp.voidcmd('TYPE I')
stalled = ftp.transfercmd('RETR big.bin')  # never read
other = ftplib.FTP()
other.connect('127.0.0.1', port, timeout=30)
other.login('alice', 'secret')
data = []
other.retrbinary('RETR big.bin', data.append)
out += [str(sum(len(d) for d in data)), late_reply(), answer('NOOP')]
print(' '.join(out))
)PY");
    EXPECT_EQ(out, "220 530 530 421 EOF 150 425 " + std::to_string(64 << 20) + " 426 200\n");
    ASSERT_EQ(server_->stop(), 0) << server_->stderr_text();
    EXPECT_EQ(server_->counter("transfer_timeouts"), 2u);
}

TEST_P(FtpServer, SessionsPastTheLimitGet421) {
    start({"--max-sessions", "2"});
    const std::string out = python(ftp_by_hand + R"PY(
a, b = Raw(), Raw()
out = [a.reply(), b.reply()]
c = Raw()
out += [c.reply(), c.reply()]
a.send(b'QUIT\r\n')
out += [a.reply(), a.reply()]  # that session is over: room for one more
out.append(Raw().reply())
print(' '.join(out))
)PY");
    EXPECT_EQ(out, "220 220 421 EOF 221 EOF 220\n");
}

TEST_P(FtpServer, OutOfDescriptorsNewSessionsAreShedAndTheOldOnesServed) {
    start({}, {.nofile = 40});
    const std::string out = python(ftp_by_hand + R"PY(
sessions = [Raw() for _ in range(60)]
greetings = [c.reply() for c in sessions]
sessions[0].send(b'NOOP\r\n')
print('220' in greetings, 'EOF' in greetings, sessions[0].reply())
)PY");
    EXPECT_EQ(out, "True True 200\n") << "some sessions shed at EMFILE, the first one still served";
    ASSERT_EQ(server_->stop(), 0) << server_->stderr_text();
    EXPECT_GT(server_->counter("accept_errors"), 0u);
}

TEST_P(FtpServer, SigtermExitsZeroWithSessionsOpenAndWritesTheStats) {
    start();
    Fd idle = connect_tcp(server_->address());  // a session that is still open at SIGTERM
    char greeting[4] = {};
    ASSERT_EQ(recv(idle.get(), greeting, 3, MSG_WAITALL), 3);
    EXPECT_STREQ(greeting, "220");
    EXPECT_EQ(server_->stop(), 0) << server_->stderr_text();
    EXPECT_EQ(server_->counter("ftp_sessions"), 1u);
}

// Safe by default: loopback unless --host says otherwise, and then a warning.
TEST_P(FtpServer, ListensOnLoopbackUnlessToldAndWarnsBeyondIt) {
    start();
    EXPECT_EQ(server_->ready_line(), "listening on 127.0.0.1:" + port());
    ASSERT_EQ(server_->stop(), 0) << server_->stderr_text();
    EXPECT_EQ(server_->stderr_text().find("warning"), std::string::npos) << server_->stderr_text();
    start({"--host", "0.0.0.0"});
    EXPECT_EQ(server_->ready_line(), "listening on 0.0.0.0:" + port());
    ASSERT_EQ(server_->stop(), 0) << server_->stderr_text();
    EXPECT_NE(server_->stderr_text().find("warning: listening on 0.0.0.0:"), std::string::npos)
        << server_->stderr_text();
}

// --help names the default port and the options; a bad option is one line and exit 2.
TEST_P(FtpServer, HelpExitsZeroAndABadOptionExitsTwoWithOneLine) {
    auto help = run_command({spec_.path, "--help"});
    EXPECT_EQ(help.exit_code, 0);
    const char* default_port = spec_.name == "epoll_ftp_server" ? "2121" : "2122";
    EXPECT_NE(help.out.find(default_port), std::string::npos) << help.out;
    for (const char* option : {"--root", "--user", "--rate-limit", "--no-sendfile", "--max-per-address"})
        EXPECT_NE(help.out.find(option), std::string::npos) << option << " missing from --help";
    for (std::vector<std::string> bad_args : {std::vector<std::string>{"--no-such-option"}, {"--rate-limit", "fast"}}) {
        bad_args.insert(bad_args.begin(), spec_.path);
        auto bad = run_command(bad_args);
        EXPECT_EQ(bad.exit_code, 2) << bad.err;
        EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
    }
}

// ---- only the reactor ---------------------------------------------------------------

using EpollFtpServer = FtpFixture;  // epoll_ftp_server

// --config FILE: options from a file, through CLI11 (the command line's
// --root and --user beside it). A key that is no option, or a bad value,
// exits 2 naming the key; CLI11 2.1.2 cannot name the line.
TEST_F(EpollFtpServer, ConfigFileSetsOptionsAndABadKeyOrValueIsNamed) {
    write_file(dir_ + "/ftp.toml", "passive-address = \"192.0.2.9\"\nlog = \"none\"\n");
    start({"--config", dir_ + "/ftp.toml"});
    EXPECT_EQ(python(ftp_login + "print(answer('PASV'), ftp.sendcmd('PASV').split('(')[1].split(',')[:4])\n"),
              "227 ['192', '0', '2', '9']\n");
    write_file(dir_ + "/bad-key.toml", "port = 0\nmax_sesions = 5\n");
    write_file(dir_ + "/bad-value.toml", "port = 0\nmax-upload = \"lots\"\n");
    auto key = run_command({spec_.path, "--root", root_, "--config", dir_ + "/bad-key.toml"});
    EXPECT_EQ(key.exit_code, 2);
    EXPECT_NE(key.err.find("max_sesions"), std::string::npos) << key.err;
    auto value = run_command({spec_.path, "--root", root_, "--config", dir_ + "/bad-value.toml"});
    EXPECT_EQ(value.exit_code, 2);
    EXPECT_NE(value.err.find("--max-upload: lots"), std::string::npos) << value.err;
}

// TYPE I downloads go by sendfile: page cache to socket inside the kernel,
// nothing read into user space (the proactor reads into its buffer instead).
TEST_F(EpollFtpServer, DownloadsGoBySendfileAndOnlyUploadsPassThroughUserSpace) {
    start();
    const std::string content = random_bytes(3 << 20, 1);
    curl_up_and_down(content);
    ASSERT_EQ(server_->stop(), 0) << server_->stderr_text();
    EXPECT_GT(server_->counter("sendfile_calls"), 0u);
    EXPECT_EQ(server_->counter("file_reads"), 0u) << "TYPE I downloads go by sendfile, not read";
    EXPECT_EQ(server_->counter("user_copy_bytes"), content.size()) << "only the upload passed through user space";
}

TEST_F(EpollFtpServer, TraceShowsThatEpollRefusesARegularFile) {
    start({"--trace"});
    ASSERT_EQ(server_->stop(), 0);
    EXPECT_NE(server_->stderr_text().find("epoll_ctl(ADD, a regular file) -> EPERM"), std::string::npos)
        << server_->stderr_text();
}

}  // namespace
}  // namespace iom::test
