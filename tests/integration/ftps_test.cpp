// FTPS (RFC 4217) on both of our FTP servers: the reactor's OpenSSL on the
// socket and the proactor's on memory buffers, driven by the clients people
// have (curl --ssl-reqd, lftp with ftp:ssl-force, Python's ftplib.FTP_TLS),
// with a self-signed certificate from scripts/ftps-cert.sh. Then the policy
// (--require-tls, --tls-session-reuse required), and the handshakes and
// endings that must never stop a loop: garbage for a ClientHello, a client
// that stops mid-handshake, hundreds of handshakes beside a logged-in
// session, a reset mid-record, a client that never reads.
#include "ftp_fixture.hpp"

#include "client/lib/connection.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace iom::test {
namespace {

using client::random_bytes;

// Python: an FTP_TLS session of alice's, PROT P, checked against the cert.
const std::string ftps_login = R"PY(
import ftplib, ssl, socket, sys, io
port, cert = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=cert)
ftp = ftplib.FTP_TLS(context=ctx)
ftp.connect('127.0.0.1', port, timeout=30)
ftp.login('alice', 'secret')
ftp.prot_p()
def answer(cmd):
    try:
        return ftp.sendcmd(cmd)[:3]
    except ftplib.all_errors as e:
        return str(e)[:3]
)PY";

class Ftps : public EachFtpServer {
protected:
    void SetUp() override {
        EachFtpServer::SetUp();
        auto made = run_command({std::string(IOM_SOURCE_DIR) + "/scripts/ftps-cert.sh", dir_ + "/tls"});
        ASSERT_EQ(made.exit_code, 0) << describe(made);
        cert_ = dir_ + "/tls/cert.pem";
        key_ = dir_ + "/tls/key.pem";
    }
    void start_tls(std::vector<std::string> extra = {}) {
        std::vector<std::string> args{"--tls-cert", cert_, "--tls-key", key_};
        args.insert(args.end(), extra.begin(), extra.end());
        start(args);
    }
    RunResult curl_tls(std::vector<std::string> args) const {
        args.insert(args.begin(), {"--ssl-reqd", "--cacert", cert_});
        return curl(args);
    }
    RunResult lftp_tls(const std::string& commands) const {
        return run_command({"/usr/bin/lftp", "-d", "-c",
                            "set net:max-retries 1; set net:timeout 30; set cmd:fail-exit yes; set ftp:ssl-force true; "
                            "set ftp:ssl-protect-data true; set ssl:ca-file " + cert_ +
                                "; open -u alice,secret -p " + port() + " 127.0.0.1; " + commands});
    }
    std::string ftps_python(const std::string& script) const { return python(ftps_login + script, {cert_}); }
    std::string access_log() const { return server_->stderr_text(); }  // --log -: stderr, the default

    std::string cert_, key_;
};
INSTANTIATE_TEST_SUITE_P(Ours, Ftps, ::testing::ValuesIn(ftp_servers()), ServerName());

TEST_P(Ftps, CurlLftpAndFtplibMoveWholeFilesOverTls) {
    start_tls();
    const std::string content = random_bytes(3'000'000, 24);
    write_file(dir_ + "/local.bin", content);

    auto up = curl_tls({"-v", "-T", dir_ + "/local.bin", url("up.bin")});
    ASSERT_EQ(up.exit_code, 0) << describe(up);
    EXPECT_NE(up.err.find("> AUTH "), std::string::npos) << up.err;  // curl: AUTH SSL first (it is taken)
    EXPECT_NE(up.err.find("> PROT P"), std::string::npos) << up.err;
    EXPECT_TRUE(same_bytes(read_file(home_ + "/up.bin"), content)) << "curl's upload";
    auto down = curl_tls({"-o", dir_ + "/down.bin", url("up.bin")});
    ASSERT_EQ(down.exit_code, 0) << describe(down);
    EXPECT_TRUE(same_bytes(read_file(dir_ + "/down.bin"), content)) << "curl's download";
    write_file(dir_ + "/partial.bin", content.substr(0, 1'234'567));
    auto resumed = curl_tls({"-C", "-", "-o", dir_ + "/partial.bin", url("up.bin")});
    ASSERT_EQ(resumed.exit_code, 0) << describe(resumed);
    EXPECT_TRUE(same_bytes(read_file(dir_ + "/partial.bin"), content)) << "curl -C - over TLS";

    auto by_lftp = lftp_tls("get up.bin -o " + dir_ + "/lftp.bin; put " + dir_ + "/local.bin -o lftp-up.bin; cls -1");
    ASSERT_EQ(by_lftp.exit_code, 0) << describe(by_lftp);
    EXPECT_NE(by_lftp.err.find("---> AUTH TLS"), std::string::npos) << by_lftp.err;
    EXPECT_NE(by_lftp.out.find("lftp-up.bin"), std::string::npos) << by_lftp.out;
    EXPECT_TRUE(same_bytes(read_file(dir_ + "/lftp.bin"), content)) << "lftp's download";
    EXPECT_TRUE(same_bytes(read_file(home_ + "/lftp-up.bin"), content)) << "lftp's upload";

    EXPECT_EQ(ftps_python(R"PY(
got = io.BytesIO()
ftp.retrbinary('RETR up.bin', got.write)
ftp.storbinary('STOR py.bin', io.BytesIO(got.getvalue()))
size = ftp.size('py.bin')
tail = io.BytesIO()
ftp.retrbinary('RETR up.bin', tail.write, rest=2_999_000)
names = ftp.nlst()
conn = ftp.transfercmd('RETR up.bin')   # ABOR in the middle (FTP_TLS sends it without urgent data)
conn.recv(1000)
print(len(got.getvalue()), size, len(tail.getvalue()), 'py.bin' in names, ftp.abort()[:3])
conn.close()
)PY"), "3000000 3000000 1000 True 426\n");
    EXPECT_TRUE(same_bytes(read_file(home_ + "/py.bin"), content)) << "ftplib's upload";
}

TEST_P(Ftps, AuthTlsIsOfferedOnlyWithACertificate) {
    start();
    EXPECT_EQ(python(ftp_login + R"PY(
print(answer('AUTH TLS'), 'AUTH TLS' in ftp.sendcmd('FEAT'))
)PY"), "502 False\n");
    auto refused = curl({"--ssl-reqd", url("")});
    EXPECT_NE(refused.exit_code, 0) << "curl --ssl-reqd refuses a server without TLS";
}

TEST_P(Ftps, RequireTlsRefusesLoginAndDataInClear) {
    start_tls({"--require-tls"});
    auto clear = curl({url("")});
    EXPECT_EQ(clear.exit_code, 67) << "curl: access denied (530): " << describe(clear);
    EXPECT_EQ(python(ftp_by_hand + R"PY(
r = Raw()
print(r.reply())
r.send(b'USER alice\r\n'); print(r.reply())
)PY"), "220\n530\n");
    EXPECT_EQ(ftps_python(R"PY(
print(answer('PROT C'))
ftp.sendcmd('PROT P')
print(len(ftp.nlst()) >= 0)
)PY"), "534\nTrue\n");
    EXPECT_EQ(python(R"PY(
import ftplib, ssl, sys
ftp = ftplib.FTP_TLS(context=ssl.create_default_context(cafile=sys.argv[2]))
ftp.connect('127.0.0.1', int(sys.argv[1]), timeout=30)
ftp.login('alice', 'secret')   # AUTH TLS, PBSZ 0 (ftplib), no PROT P
try:
    ftp.nlst()
except ftplib.all_errors as e:
    print(str(e)[:3])
)PY", {cert_}), "521\n");
    auto tls = curl_tls({url("")});
    EXPECT_EQ(tls.exit_code, 0) << describe(tls);
}

// curl and lftp resume the control connection's TLS session on each data
// connection; ftplib does not: under `required` its transfer gets 522, and
// its session goes on.
TEST_P(Ftps, ReuseRequiredRefusesADataConnectionWithATlsSessionOfItsOwn) {
    start_tls({"--tls-session-reuse", "required"});
    write_file(home_ + "/f.bin", random_bytes(200'000, 24));
    auto by_curl = curl_tls({"-o", dir_ + "/f.bin", url("f.bin")});
    EXPECT_EQ(by_curl.exit_code, 0) << describe(by_curl);
    auto by_lftp = lftp_tls("get f.bin -o " + dir_ + "/g.bin");
    EXPECT_EQ(by_lftp.exit_code, 0) << describe(by_lftp);
    EXPECT_EQ(ftps_python(R"PY(
try:
    ftp.retrbinary('RETR f.bin', lambda b: None)
    print('served')
except Exception as e:
    code = str(e)[:3]
    if not code.isdigit():   # the data connection's TLS broke first: the reply is still to come
        code = ftp.getline()[:3]
    print(code)
print(answer('NOOP'))
)PY"), "522\n200\n");
    EXPECT_NE(access_log().find("\"result\": \"tls_not_resumed\""), std::string::npos) << access_log();
}

// PROT P, and a data connection in clear: its handshake fails, and so does
// that transfer (425, no file), never the session (vsftpd's `500 OOPS`, in
// clear into the encrypted control connection, and an exit).
TEST_P(Ftps, AFailedHandshakeOnADataConnectionFailsThatTransferAlone) {
    start_tls();
    EXPECT_EQ(ftps_python(R"PY(
ftp.voidcmd('TYPE I')
host, dport = ftp.makepasv()
data = socket.create_connection((host, dport), timeout=30)
ftp.putcmd('STOR clear.bin')
print(ftp.getresp()[:3])
data.sendall(b'plain bytes, no ClientHello\r\n' * 100)
data.close()
try:
    print(ftp.getresp()[:3])
except ftplib.all_errors as e:
    print(str(e)[:3])
print(answer('NOOP'), answer('SIZE clear.bin'))
)PY"), "150\n425\n200 550\n");
}

TEST_P(Ftps, GarbageInsteadOfAClientHelloEndsThatSessionAlone) {
    start_tls();
    EXPECT_EQ(python(ftp_by_hand + R"PY(
r = Raw()
r.reply()
r.send(b'AUTH TLS\r\n'); print(r.reply())
r.send(b'GET / HTTP/1.1\r\nHost: x\r\n\r\n' * 4)
print(r.reply())
)PY"), "234\nEOF\n");
    EXPECT_NE(access_log().find("\"event\": \"tls_failed\""), std::string::npos) << access_log();
    auto after = curl_tls({url("")});
    EXPECT_EQ(after.exit_code, 0) << "the server goes on: " << describe(after);
}

// A handshake that never ends holds a session in its login time, no longer:
// the login timer ends it, as it ends a client that never logs in.
TEST_P(Ftps, AClientThatStopsMidHandshakeIsEndedByTheLoginTimer) {
    start_tls({"--login-timeout", "1"});
    EXPECT_EQ(python(ftp_by_hand + R"PY(
r = Raw()
r.reply()
r.send(b'AUTH TLS\r\n'); print(r.reply())
r.send(b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03')   # the start of a ClientHello, and silence
print(r.reply())
)PY"), "234\nEOF\n");
}

// A logged-in session's NOOP is answered, and its transfer ends whole,
// while 300 other clients are in their handshakes.
TEST_P(Ftps, ThreeHundredHandshakesDoNotHoldUpALoggedInSession) {
    start_tls({"--max-per-address", "1000", "--max-sessions", "1000"});
    write_file(home_ + "/f.bin", random_bytes(2'000'000, 24));
    EXPECT_EQ(ftps_python(R"PY(
import threading
ctx2 = ssl.create_default_context(cafile=cert)
done = []
def handshake():
    s = socket.create_connection(('127.0.0.1', port), timeout=60)
    f = s.makefile('rb')
    f.readline()
    s.sendall(b'AUTH TLS\r\n')
    f.readline()
    t = ctx2.wrap_socket(s, server_hostname='127.0.0.1')
    done.append(t)
threads = [threading.Thread(target=handshake) for _ in range(300)]
for t in threads: t.start()
noops = [answer('NOOP') for _ in range(20)]
got = io.BytesIO()
ftp.retrbinary('RETR f.bin', got.write)
for t in threads: t.join()
print(set(noops), len(got.getvalue()), len(done))
)PY"), "{'200'} 2000000 300\n");
}

// A reset in the middle of a TLS record on an upload, and a TLS download the
// client never reads: each ends its transfer (426), never the session.
TEST_P(Ftps, AResetMidRecordAndAClientThatNeverReadsEndOnlyTheirTransfer) {
    start_tls({"--stall-timeout", "1"});
    write_file(home_ + "/big.bin", random_bytes(20'000'000, 24));
    EXPECT_EQ(ftps_python(R"PY(
import struct
conn = ftp.transfercmd('STOR cut.bin')
conn.sendall(b'x' * 100000)
conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
socket.socket.close(conn)                    # RST, mid-stream (no close_notify)
try:
    print(ftp.voidresp()[:3])
except ftplib.all_errors as e:
    print(str(e)[:3])
conn = ftp.transfercmd('RETR big.bin')       # and never read
try:
    print(ftp.voidresp()[:3])
except ftplib.all_errors as e:
    print(str(e)[:3])
conn.close()
print(answer('NOOP'))
)PY"), "426\n426\n200\n");
}

// ioclient ftp check, every case over TLS, against the strictest policy:
// no skip (the reuse and the clear-login cases need it), no failure.
TEST_P(Ftps, IoclientFtpCheckOverTlsPassesEveryCase) {
    start_tls({"--require-tls", "--tls-session-reuse", "required"});
    auto r = ioclient({"check", "--tls", "--cacert", cert_, "--local-root", home_, url("")});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_NE(r.out.find(" passed, 0 failed, 0 skipped"), std::string::npos) << r.out;
    for (const char* c : {"tls-login", "tls-prot-p-transfer", "tls-clear-data-refused", "tls-reuse-required",
                          "tls-garbage-handshake", "tls-required-refuses-clear-login"})
        EXPECT_NE(r.out.find(std::string("PASS ") + c), std::string::npos) << c << ": " << r.out;
}

TEST_P(Ftps, CertificateProblemsAreOneLineErrorsNamingTheFile) {
    auto run = [&](std::vector<std::string> args) {
        args.insert(args.begin(), spec_.path);
        args.insert(args.end(), {"--port", "0", "--root", root_});
        return run_command(args);
    };
    auto missing = run({"--tls-cert", dir_ + "/nope.pem", "--tls-key", key_});
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_NE(missing.err.find(dir_ + "/nope.pem: No such file or directory"), std::string::npos) << missing.err;
    auto not_a_cert = run({"--tls-cert", key_, "--tls-key", key_});
    EXPECT_EQ(not_a_cert.exit_code, 1);
    EXPECT_NE(not_a_cert.err.find("not a PEM certificate"), std::string::npos) << not_a_cert.err;
    auto other = run_command({std::string(IOM_SOURCE_DIR) + "/scripts/ftps-cert.sh", dir_ + "/other"});
    ASSERT_EQ(other.exit_code, 0) << describe(other);
    auto mismatched = run({"--tls-cert", cert_, "--tls-key", dir_ + "/other/key.pem"});
    EXPECT_EQ(mismatched.exit_code, 1);
    EXPECT_NE(mismatched.err.find("is not the key of --tls-cert"), std::string::npos) << mismatched.err;
    auto alone = run({"--tls-cert", cert_});
    EXPECT_EQ(alone.exit_code, 2);
    EXPECT_NE(alone.err.find("--tls-cert requires --tls-key"), std::string::npos) << alone.err;
    auto policy = run({"--require-tls"});
    EXPECT_EQ(policy.exit_code, 2) << "--require-tls without a certificate";
}

}  // namespace
}  // namespace iom::test
