// The FTP session driven as a server would: scripted control input, a fake
// executor for the network (passive port 40000, delays and transfers
// completed by the test) and the real synchronous executor on a temporary
// directory for the filesystem. Each test is a client's sequence.
#include "ftp/fs.hpp"
#include "ftp/session.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace iom::ftp {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

void spit(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

class Driver {
public:
    explicit Driver(bool anonymous = false, std::string peer = "127.0.0.1", std::string local = "127.0.0.1") {
        dir = fs::temp_directory_path() / fmt::format("ftp_session_test.{}.{}", ::getpid(), counter++);
        fs::create_directories(dir);
        root = open_site_root(dir.string());
        users.add_plain("alice:secret");
        site.users = &users;
        site.root_fd = root.get();
        site.anonymous = anonymous;
        site.limits.max_upload = 1000;
        peer_ = parse_address(peer, 50000);
        local_ = parse_address(local, 2121);
    }
    ~Driver() {
        session.reset();
        fs::remove_all(dir);
    }

    Session& s() {
        if (!session) {
            session = std::make_unique<Session>(site, peer_, local_);
            session->start();
            drain();
        }
        return *session;
    }
    // Send control bytes; return the replies they caused (and the requests performed).
    std::string send(std::string_view bytes) {
        s().receive(bytes);
        return drain();
    }
    std::string login() {
        send("USER alice\r\n");
        return send("PASS secret\r\n");
    }
    std::string finish(TransferResult r) {
        EXPECT_TRUE(transfer.has_value());
        transfer.reset();
        s().complete(r);
        return drain();
    }
    std::string drain() {
        while (auto req = s().next_request()) {
            std::visit([this](auto& r) { perform(r); }, *req);
        }
        std::string out = s().take_output();
        all += out;
        return out;
    }

    fs::path dir;
    Fd root;
    Users users;
    Site site;
    std::unique_ptr<Session> session;
    std::string all;  // every reply so far
    std::optional<TransferRequest> transfer;
    std::vector<FsRequest> fs_requests;
    std::vector<unsigned> delays;
    bool auto_delay = true;
    bool auto_fs = true;  // false: the test completes fs_requests.back() itself
    bool aborted = false, closed = false;
    int passives = 0;
    int tls_requests = 0;
    std::optional<PassiveRequest> last_passive;

private:
    void perform(FsRequest& r) {
        fs_requests.push_back(r);
        if (auto_fs) s().complete(execute(r));
    }
    void perform(PassiveRequest& p) {
        ++passives;
        last_passive = p;
        s().complete(PassiveResult{0, 40000});
    }
    void perform(TransferRequest& t) {
        EXPECT_FALSE(transfer.has_value()) << "one transfer at a time";
        transfer = std::move(t);
    }
    void perform(AbortRequest&) { aborted = true; }
    void perform(DelayRequest& d) {
        delays.push_back(d.ms);
        if (auto_delay) s().complete(Delayed{});
    }
    void perform(TlsRequest&) { ++tls_requests; }  // the test completes it (TlsResult)
    void perform(CloseRequest&) { closed = true; }

    static inline int counter = 0;
    Address peer_, local_;
};

bool has(const std::string& out, const std::string& what) { return out.find(what) != std::string::npos; }

TEST(FtpSession, CurlSequence) {
    Driver d;
    EXPECT_EQ(d.drain(), "");
    d.s();
    EXPECT_TRUE(d.all.starts_with("220 "));
    EXPECT_EQ(d.send("USER alice\r\n").substr(0, 4), "331 ");
    EXPECT_EQ(d.send("PASS secret\r\n").substr(0, 4), "230 ");
    EXPECT_TRUE(d.s().logged_in());
    ASSERT_TRUE(fs::is_directory(d.dir / "alice"));  // the home, created at first login
    spit(d.dir / "alice" / "f.txt", "hello");
    EXPECT_EQ(d.send("PWD\r\n"), "257 \"/\" is the current directory.\r\n");
    EXPECT_EQ(d.send("EPSV\r\n"), "229 Entering Extended Passive Mode (|||40000|).\r\n");
    ASSERT_TRUE(d.last_passive);
    EXPECT_EQ(d.last_passive->local.to_string(), "127.0.0.1:0");  // the control's local address, any port
    EXPECT_EQ(d.last_passive->peer.to_string(), "127.0.0.1:50000");  // the only host that may connect
    EXPECT_EQ(d.send("TYPE I\r\n"), "200 Type set to I.\r\n");
    EXPECT_EQ(d.send("SIZE f.txt\r\n"), "213 5\r\n");
    std::string out = d.send("RETR f.txt\r\n");
    EXPECT_TRUE(has(out, "150 ") && has(out, "(5 bytes)")) << out;
    ASSERT_TRUE(d.transfer);
    EXPECT_EQ(d.transfer->direction, Direction::send);
    EXPECT_TRUE(d.transfer->passive);
    EXPECT_EQ(d.transfer->peer.to_string(), "127.0.0.1:50000");  // the only host allowed to connect
    EXPECT_FALSE(d.transfer->ascii);
    char buf[8] = {};
    EXPECT_EQ(::pread(d.transfer->file.get(), buf, sizeof buf, 0), 5);
    EXPECT_EQ(d.finish({TransferStatus::done, 5}), "226 Transfer complete.\r\n");
    EXPECT_EQ(d.send("QUIT\r\n"), "221 Goodbye.\r\n");
    EXPECT_TRUE(d.closed);
}

TEST(FtpSession, LftpSequenceFeatBeforeLoginAndMlsd) {
    Driver d;
    std::string feat = d.send("FEAT\r\n");
    EXPECT_TRUE(feat.starts_with("211-")) << feat;
    EXPECT_TRUE(has(feat, "\r\n MLST type*;size*;modify*;perm*;unique*;\r\n")) << feat;
    for (auto f : {" EPSV\r\n", " EPRT\r\n", " PASV\r\n", " REST STREAM\r\n", " SIZE\r\n", " UTF8\r\n", " MDTM\r\n", " TVFS\r\n"})
        EXPECT_TRUE(has(feat, f)) << f;
    EXPECT_TRUE(feat.ends_with("211 End\r\n"));
    EXPECT_EQ(d.send("OPTS UTF8 ON\r\n").substr(0, 4), "200 ");
    EXPECT_EQ(d.send("SYST\r\n"), "215 UNIX Type: L8\r\n");
    d.login();
    spit(d.dir / "alice" / "f.txt", "hello");
    EXPECT_EQ(d.send("PASV\r\n"), "227 Entering Passive Mode (127,0,0,1,156,64).\r\n");
    EXPECT_EQ(d.send("MLSD\r\n").substr(0, 4), "150 ");
    ASSERT_TRUE(d.transfer);
    const std::string& listing = d.transfer->data;
    EXPECT_TRUE(listing.starts_with("type=cdir;")) << listing;
    EXPECT_TRUE(has(listing, "type=file;size=5;")) << listing;
    EXPECT_TRUE(has(listing, "; f.txt\r\n")) << listing;
    EXPECT_EQ(d.finish({TransferStatus::done}), "226 Transfer complete.\r\n");
    EXPECT_EQ(d.send("OPTS MLST type;size;\r\n"), "200 MLST OPTS type;size;\r\n");
    EXPECT_TRUE(has(d.send("FEAT\r\n"), " MLST type*;size*;modify;perm;unique;\r\n"));
}

TEST(FtpSession, FtplibAborAsUrgentData) {
    Driver d;
    d.login();
    spit(d.dir / "alice" / "f", "data");
    d.send("PASV\r\n");
    d.send("RETR f\r\n");
    ASSERT_TRUE(d.transfer);
    d.s().urgent();  // ftplib: sendall(b"ABOR\r\n", MSG_OOB); SO_OOBINLINE keeps the bytes in order
    EXPECT_EQ(d.send("ABOR\r\n"), "");  // nothing yet: the transfer must end first
    EXPECT_TRUE(d.aborted);
    EXPECT_EQ(d.finish({TransferStatus::aborted, 2}), "426 Transfer aborted.\r\n226 ABOR command successful.\r\n");
    EXPECT_EQ(d.send("ABOR\r\n"), "225 No transfer to abort.\r\n");
}

TEST(FtpSession, LftpAborAfterTelnetIpAndDm) {
    Driver d;
    d.login();
    spit(d.dir / "alice" / "f", "data");
    d.send("EPSV\r\n");
    d.send("RETR f\r\n");
    EXPECT_EQ(d.send("\xff\xf4\xff\xf2" "ABOR\r\n"), "");
    EXPECT_TRUE(d.aborted);
    EXPECT_TRUE(has(d.finish({TransferStatus::aborted}), "426 "));
}

TEST(FtpSession, AborRaceTheTransferFinishedFirst) {
    Driver d;
    d.login();
    spit(d.dir / "alice" / "f", "data");
    d.send("EPSV\r\n");
    d.send("RETR f\r\n");
    d.send("ABOR\r\n");
    EXPECT_EQ(d.finish({TransferStatus::done, 4}), "226 Transfer complete.\r\n225 No transfer to abort.\r\n");
}

TEST(FtpSession, PipelinedCommandsWaitForTheTransfer) {
    Driver d;
    d.login();
    spit(d.dir / "alice" / "f", "data");
    d.send("EPSV\r\n");
    d.send("RETR f\r\n");
    EXPECT_EQ(d.send("NOOP\r\n"), "200 NOOP ok.\r\n");  // answered during the transfer
    EXPECT_TRUE(has(d.send("STAT\r\n"), "211 End of status.\r\n"));
    EXPECT_EQ(d.send("PWD\r\nNOOP\r\nTYPE I\r\n"), "");  // NOOP waits behind PWD: order is kept
    EXPECT_EQ(d.finish({TransferStatus::done}),
              "226 Transfer complete.\r\n257 \"/\" is the current directory.\r\n200 NOOP ok.\r\n200 Type set to I.\r\n");
}

TEST(FtpSession, QuitDuringTransferAnswersAfterIt) {
    Driver d;
    d.login();
    spit(d.dir / "alice" / "f", "data");
    d.send("EPSV\r\n");
    d.send("RETR f\r\n");
    EXPECT_EQ(d.send("QUIT\r\nNOOP\r\n"), "");
    EXPECT_FALSE(d.s().wants_input());
    EXPECT_FALSE(d.closed);
    EXPECT_EQ(d.finish({TransferStatus::done}), "226 Transfer complete.\r\n221 Goodbye.\r\n");
    EXPECT_TRUE(d.closed);
}

TEST(FtpSession, ResumeDownloadWithRest) {
    Driver d;
    d.login();
    spit(d.dir / "alice" / "f", "0123456789");
    EXPECT_EQ(d.send("REST 3\r\n").substr(0, 4), "501 ");  // TYPE A is the default: no resume there
    d.send("TYPE I\r\n");
    EXPECT_EQ(d.send("REST 3\r\n"), "350 Restarting at 3. Send STOR or RETR.\r\n");
    d.send("EPSV\r\n");
    d.send("RETR f\r\n");
    ASSERT_TRUE(d.transfer);
    EXPECT_EQ(d.transfer->offset, 3u);
    EXPECT_EQ(d.transfer->file_size, 10u);
    d.finish({TransferStatus::done});
    d.send("REST 11\r\n");
    d.send("EPSV\r\n");
    EXPECT_EQ(d.send("RETR f\r\n").substr(0, 4), "554 ");  // past the end
    EXPECT_FALSE(d.transfer);
    d.send("RETR f\r\n");  // REST is used up: from 0 again
    ASSERT_TRUE(d.transfer);
    EXPECT_EQ(d.transfer->offset, 0u);
}

TEST(FtpSession, ResumeUploadWithRestStorAndAppe) {
    Driver d;
    d.login();
    spit(d.dir / "alice" / "part", "01234");
    d.send("TYPE I\r\n");
    EXPECT_EQ(d.send("SIZE part\r\n"), "213 5\r\n");
    d.send("REST 5\r\n");
    d.send("EPSV\r\n");
    d.send("STOR part\r\n");
    ASSERT_TRUE(d.transfer);
    EXPECT_EQ(d.transfer->direction, Direction::receive);
    EXPECT_EQ(d.transfer->offset, 5u);  // written in place from the offset, no temporary
    EXPECT_EQ(d.fs_requests.back().op, FsOp::open);
    EXPECT_EQ(d.fs_requests.back().flags & (O_CREAT | O_TRUNC), 0);
    ASSERT_EQ(::pwrite(d.transfer->file.get(), "56789", 5, 5), 5);
    d.finish({TransferStatus::done, 5});
    EXPECT_EQ(slurp(d.dir / "alice" / "part"), "0123456789");

    d.send("EPSV\r\n");
    d.send("APPE part\r\n");
    ASSERT_TRUE(d.transfer);
    EXPECT_EQ(d.transfer->offset, 10u);
    EXPECT_NE(d.fs_requests.back().flags & O_APPEND, 0);
    EXPECT_EQ(d.transfer->max_bytes, 990u);  // the upload limit counts the whole file
    ASSERT_EQ(::write(d.transfer->file.get(), "ab", 2), 2);
    EXPECT_EQ(d.finish({TransferStatus::done, 2}), "226 Transfer complete.\r\n");
    EXPECT_EQ(slurp(d.dir / "alice" / "part"), "0123456789ab");
}

TEST(FtpSession, StorWritesATemporaryAndRenamesIt) {
    Driver d;
    d.login();
    spit(d.dir / "alice" / "f", "old content");
    std::ifstream reader(d.dir / "alice" / "f", std::ios::binary);  // a RETR holding the old file
    d.send("TYPE I\r\nEPSV\r\n");
    d.send("STOR f\r\n");
    ASSERT_TRUE(d.transfer);
    const FsRequest& create = d.fs_requests.back();
    EXPECT_EQ(create.op, FsOp::create);
    EXPECT_TRUE(create.name.starts_with(".in.f.")) << create.name;
    EXPECT_NE(create.flags & O_EXCL, 0);
    EXPECT_EQ(d.transfer->max_bytes, 1000u);
    ASSERT_EQ(::write(d.transfer->file.get(), "new", 3), 3);
    EXPECT_EQ(slurp(d.dir / "alice" / "f"), "old content");  // not in place before the end
    EXPECT_EQ(d.finish({TransferStatus::done, 3}), "226 Transfer complete.\r\n");
    EXPECT_EQ(slurp(d.dir / "alice" / "f"), "new");
    std::string old((std::istreambuf_iterator<char>(reader)), {});
    EXPECT_EQ(old, "old content");  // the reader kept reading the old file
    EXPECT_EQ(std::distance(fs::directory_iterator(d.dir / "alice"), {}), 1);  // no temporary left
}

// STOR `name` over EPSV; 7 bytes ("partial") reach its file; the transfer
// ends with `end`. The replies that end brings.
std::string stor_partial(Driver& d, const std::string& name, TransferResult end) {
    d.send("EPSV\r\nSTOR " + name + "\r\n");
    EXPECT_TRUE(d.transfer);
    if (!d.transfer) return "";
    EXPECT_EQ(::write(d.transfer->file.get(), "partial", 7), 7);
    return d.finish(end);
}

// An upload cut short (ABOR, a lost connection, a stall) never replaces a
// file: its temporary is renamed with RENAME_NOREPLACE, and removed when a
// file has the name. Of a new name, it lands: there to be resumed.
TEST(FtpSession, StorCutShortNeverReplacesAFileButKeepsANewOne) {
    for (auto status : {TransferStatus::aborted, TransferStatus::connection_lost, TransferStatus::stalled}) {
        Driver d;
        d.login();
        spit(d.dir / "alice" / "f", "old content");
        EXPECT_TRUE(stor_partial(d, "f", {status, 7}).starts_with("426 ")) << name_of(status);
        EXPECT_EQ(slurp(d.dir / "alice" / "f"), "old content") << name_of(status);
        EXPECT_EQ(std::distance(fs::directory_iterator(d.dir / "alice"), {}), 1) << "no temporary left";

        stor_partial(d, "new", {status, 7});
        EXPECT_EQ(d.fs_requests.back().rename_flags, unsigned{RENAME_NOREPLACE});
        EXPECT_EQ(slurp(d.dir / "alice" / "new"), "partial") << "an interrupted new upload is kept, to resume";
    }
}

TEST(FtpSession, StorNoSpaceKeepsTheOldFile) {
    Driver d;
    d.login();
    spit(d.dir / "alice" / "f", "old content");
    std::string out = stor_partial(d, "f", {TransferStatus::no_space, 7, ENOSPC});
    EXPECT_TRUE(out.starts_with("452 ")) << out;
    EXPECT_EQ(d.fs_requests.back().op, FsOp::unlink);
    EXPECT_EQ(slurp(d.dir / "alice" / "f"), "old content");
    EXPECT_EQ(std::distance(fs::directory_iterator(d.dir / "alice"), {}), 1);
}

TEST(FtpSession, StorTooLargeAndNoDataConnection) {
    Driver d;
    d.login();
    d.send("EPSV\r\nSTOR big\r\n");
    EXPECT_TRUE(d.finish({TransferStatus::too_large, 1001}).starts_with("552 "));
    d.send("EPSV\r\nSTOR big\r\n");
    EXPECT_TRUE(d.finish({TransferStatus::connect_failed}).starts_with("425 "));
    EXPECT_FALSE(fs::exists(d.dir / "alice" / "big"));
    EXPECT_EQ(std::distance(fs::directory_iterator(d.dir / "alice"), {}), 0);
    EXPECT_EQ(d.send("STOR big\r\n").substr(0, 4), "425 ");  // no PASV/PORT: no transfer
}

TEST(FtpSession, StorOverADirectoryFailsAndLeavesNoTemporary) {
    Driver d;
    d.login();
    fs::create_directories(d.dir / "alice" / "d");
    d.send("EPSV\r\nSTOR d\r\n");
    ASSERT_TRUE(d.transfer);
    EXPECT_TRUE(d.finish({TransferStatus::done, 0}).starts_with("451 "));  // rename(file over directory) failed
    EXPECT_EQ(d.fs_requests.back().op, FsOp::unlink);
    EXPECT_EQ(std::distance(fs::directory_iterator(d.dir / "alice"), {}), 1);
    EXPECT_TRUE(fs::is_directory(d.dir / "alice" / "d"));
}

TEST(FtpSession, InterruptedUploadIsFoundBySize) {
    Driver d;
    d.login();
    d.send("TYPE I\r\nEPSV\r\nSTOR up\r\n");
    ASSERT_EQ(::write(d.transfer->file.get(), "abc", 3), 3);
    EXPECT_TRUE(d.finish({TransferStatus::connection_lost, 3}).starts_with("426 "));
    EXPECT_EQ(d.send("SIZE up\r\n"), "213 3\r\n");
}

TEST(FtpSession, PeerGoneDuringUploadStillPutsItInPlace) {
    Driver d;
    d.login();
    d.send("EPSV\r\nSTOR up\r\n");
    ASSERT_EQ(::write(d.transfer->file.get(), "abc", 3), 3);
    d.s().peer_closed();
    d.drain();
    EXPECT_TRUE(d.aborted);
    EXPECT_FALSE(d.closed);
    d.finish({TransferStatus::aborted, 3});
    EXPECT_TRUE(d.closed);
    EXPECT_EQ(slurp(d.dir / "alice" / "up"), "abc");
}

TEST(FtpSession, FailedLoginsAreDelayedAndTheThirdCloses) {
    Driver d;
    d.auto_delay = false;
    d.send("USER alice\r\n");
    EXPECT_EQ(d.send("PASS wrong\r\n"), "");  // no reply before the delay
    ASSERT_EQ(d.delays.size(), 1u);
    d.s().complete(Delayed{});
    EXPECT_EQ(d.drain(), "530 Login incorrect.\r\n");
    // an unknown user looks exactly the same
    std::string unknown = d.send("USER nobody\r\n");
    unknown += d.send("PASS wrong\r\n");
    d.s().complete(Delayed{});
    unknown += d.drain();
    EXPECT_EQ(unknown, "331 Password required.\r\n530 Login incorrect.\r\n");
    d.send("USER alice\r\nPASS nope\r\n");
    d.s().complete(Delayed{});
    EXPECT_TRUE(d.drain().starts_with("421 "));
    EXPECT_TRUE(d.closed);
    EXPECT_EQ(d.delays.size(), 3u);
}

TEST(FtpSession, AnonymousIsReadOnlyInPub) {
    Driver d(true);
    d.send("USER anonymous\r\n");
    EXPECT_EQ(d.send("PASS me@example.org\r\n").substr(0, 4), "230 ");
    ASSERT_TRUE(fs::is_directory(d.dir / "pub"));
    spit(d.dir / "pub" / "f", "x");
    d.send("EPSV\r\n");
    EXPECT_TRUE(has(d.send("STOR g\r\n"), "553 "));
    EXPECT_TRUE(has(d.send("APPE f\r\n"), "553 "));
    EXPECT_TRUE(has(d.send("DELE f\r\n"), "550 "));
    EXPECT_TRUE(has(d.send("MKD x\r\n"), "550 "));
    EXPECT_TRUE(has(d.send("RNFR f\r\n"), "550 "));
    EXPECT_FALSE(d.transfer);
    d.send("RETR f\r\n");
    EXPECT_TRUE(d.transfer);
    EXPECT_TRUE(fs::exists(d.dir / "pub" / "f"));

    Driver off;  // anonymous not enabled: an unknown user
    off.send("USER anonymous\r\nPASS x\r\n");
    EXPECT_TRUE(has(off.all, "530 "));
}

// A refused PORT or EPRT forgets the data address given before it: LIST then
// gets 425 and no transfer is asked for (not a connection to the old address).
TEST(FtpSession, ARefusedPortForgetsTheEarlierDataAddress) {
    for (const char* refused : {"PORT 127,0,0,2,200,10\r\n", "EPRT |1|127.0.0.2|5000|\r\n", "PORT 1,2,3\r\n",
                                "EPRT |3|x|5000|\r\n"}) {
        Driver d;
        d.login();
        EXPECT_EQ(d.send("PORT 127,0,0,1,200,10\r\n").substr(0, 4), "200 ");
        EXPECT_EQ(d.send(refused).substr(0, 1), "5") << refused;
        EXPECT_EQ(d.send("LIST\r\n").substr(0, 4), "425 ") << refused;
        EXPECT_FALSE(d.transfer) << refused;
    }
}

// MFMT sets a file's time (lftp mirror -R keeps times with it); STAT during
// a transfer tells the bytes so far; SIZE in TYPE A says why it is refused.
TEST(FtpSession, MfmtStatDuringATransferAndSizeInTypeA) {
    Driver d;
    d.login();
    spit(d.dir / "alice" / "f", "0123456789");
    EXPECT_EQ(d.send("MFMT 20200102030405 f\r\n"), "213 Modify=20200102030405; /f\r\n");
    EXPECT_EQ(d.send("MDTM f\r\n"), "213 20200102030405\r\n");
    EXPECT_TRUE(d.send("MFMT 2020 f\r\n").starts_with("501 "));
    EXPECT_TRUE(d.send("MFMT 20200102030405 nope\r\n").starts_with("550 "));
    EXPECT_TRUE(has(d.send("FEAT\r\n"), " MFMT\r\n"));
    EXPECT_TRUE(has(d.send("SIZE f\r\n"), "550 SIZE not allowed in ASCII mode: the size would depend on the line ends"));
    d.send("TYPE I\r\nEPSV\r\nRETR f\r\n");
    ASSERT_TRUE(d.transfer);
    d.s().transferred(4);
    EXPECT_TRUE(has(d.send("STAT\r\n"), "A transfer is in progress: 4 bytes so far"));
    d.finish({TransferStatus::done, 10});
}

TEST(FtpSession, BounceAttackIsRefused) {
    Driver d;
    d.login();
    EXPECT_EQ(d.send("PORT 10,0,0,1,200,10\r\n").substr(0, 4), "501 ");   // another host
    EXPECT_EQ(d.send("PORT 127,0,0,1,0,25\r\n").substr(0, 4), "501 ");    // a privileged port
    EXPECT_EQ(d.send("EPRT |1|10.0.0.1|5000|\r\n").substr(0, 4), "501 ");
    EXPECT_EQ(d.send("EPRT |2|::1|5000|\r\n").substr(0, 4), "501 ");     // not the control's host either
    EXPECT_EQ(d.send("EPRT |3|x|5000|\r\n").substr(0, 4), "522 ");
    EXPECT_EQ(d.send("PORT 1,2,3\r\n").substr(0, 4), "501 ");
    spit(d.dir / "alice" / "f", "x");
    EXPECT_EQ(d.send("RETR f\r\n").substr(0, 4), "425 ");  // no request ever carries a refused address
    EXPECT_FALSE(d.transfer);
    EXPECT_EQ(d.send("PORT 127,0,0,1,200,10\r\n"), "200 PORT command successful.\r\n");
    d.send("RETR f\r\n");
    ASSERT_TRUE(d.transfer);
    EXPECT_FALSE(d.transfer->passive);
    EXPECT_EQ(d.transfer->peer.to_string(), "127.0.0.1:51210");
}

TEST(FtpSession, Ipv6ControlUsesEprtAndEpsv) {
    Driver d(false, "::1", "::1");
    d.login();
    EXPECT_EQ(d.send("EPRT |2|::1|5000|\r\n").substr(0, 4), "200 ");
    EXPECT_EQ(d.send("PASV\r\n").substr(0, 4), "500 ");  // PASV cannot say an IPv6 address
    EXPECT_EQ(d.send("EPSV 1\r\n").substr(0, 4), "522 ");
    EXPECT_EQ(d.send("EPSV 2\r\n").substr(0, 4), "229 ");
    EXPECT_EQ(d.send("EPSV ALL\r\n").substr(0, 4), "200 ");
    EXPECT_EQ(d.send("EPRT |2|::1|5000|\r\n").substr(0, 4), "503 ");
}

TEST(FtpSession, NamesWithCrOrNulAreRefused) {
    Driver d;
    d.login();
    EXPECT_EQ(d.send("MKD a\rb\r\n").substr(0, 4), "501 ");
    EXPECT_EQ(d.send(std::string("MKD a\0b\r\n", 9)).substr(0, 4), "501 ");
    EXPECT_EQ(std::distance(fs::directory_iterator(d.dir / "alice"), {}), 0);
}

TEST(FtpSession, TooLongLineThenTheNextCommandWorks) {
    Driver d;
    std::string out = d.send("NOOP " + std::string(5000, 'x'));
    EXPECT_EQ(out, "500 Command line too long.\r\n");
    EXPECT_EQ(d.send(std::string(3000, 'y') + "\r\nNOOP\r\n"), "200 NOOP ok.\r\n");  // the rest of it is discarded
}

TEST(FtpSession, LoginRulesAndUnknownCommands) {
    Driver d;
    EXPECT_EQ(d.send("PWD\r\n").substr(0, 4), "530 ");
    EXPECT_EQ(d.send("RETR x\r\n").substr(0, 4), "530 ");
    EXPECT_EQ(d.send("XYZZY\r\n").substr(0, 4), "502 ");
    EXPECT_EQ(d.send("PASS x\r\n").substr(0, 4), "503 ");
    EXPECT_EQ(d.send("HELP\r\n").substr(0, 4), "214-");
    EXPECT_EQ(d.send("NOOP\r\n").substr(0, 4), "200 ");
    EXPECT_EQ(d.send("user alice\r\npass secret\r\n"), "331 Password required.\r\n230 Login successful.\r\n");
    EXPECT_EQ(d.send("RNTO x\r\n").substr(0, 4), "503 ");
    EXPECT_EQ(d.send("CWD\r\n").substr(0, 4), "501 ");
    EXPECT_EQ(d.send("TYPE E\r\n").substr(0, 4), "504 ");
    EXPECT_EQ(d.send("MODE S\r\nSTRU F\r\nALLO 10\r\n"), "200 Mode set to S.\r\n200 Structure set to F.\r\n202 Not needed here.\r\n");
}

TEST(FtpSession, DirectoriesAndQuotesInPwd) {
    Driver d;
    d.login();
    EXPECT_EQ(d.send("MKD a\"b\r\n"), "257 \"/a\"\"b\" created.\r\n");
    EXPECT_EQ(d.send("CWD a\"b\r\n").substr(0, 4), "250 ");
    EXPECT_EQ(d.send("PWD\r\n"), "257 \"/a\"\"b\" is the current directory.\r\n");
    EXPECT_EQ(d.send("CDUP\r\nPWD\r\n"), "250 Directory changed to /\r\n257 \"/\" is the current directory.\r\n");
    EXPECT_EQ(d.send("CWD ../../..\r\nPWD\r\n").substr(0, 4), "250 ");
    EXPECT_TRUE(has(d.all, "257 \"/\" is the current directory.\r\n"));
    EXPECT_EQ(d.send("CWD nowhere\r\n").substr(0, 4), "550 ");
    spit(d.dir / "alice" / "f", "x");
    EXPECT_EQ(d.send("CWD f\r\n").substr(0, 4), "550 ");
    EXPECT_EQ(d.send("RNFR f\r\nRNTO a\"b/g\r\n"), "350 Ready for RNTO.\r\n250 Renamed.\r\n");
    EXPECT_TRUE(fs::exists(d.dir / "alice" / "a\"b" / "g"));
    EXPECT_EQ(d.send("RNFR a\"b/g\r\nNOOP\r\nRNTO h\r\n").substr(0, 4), "350 ");  // RNFR holds for one command
    EXPECT_TRUE(d.all.ends_with("503 Send RNFR first.\r\n"));
    EXPECT_EQ(d.send("DELE a\"b/g\r\nRMD a\"b\r\n"), "250 File deleted.\r\n250 Directory removed.\r\n");
    EXPECT_EQ(d.send("STOR .in.sneaky\r\n").substr(0, 4), "425 ");
    d.send("EPSV\r\n");
    EXPECT_EQ(d.send("STOR .in.sneaky\r\n").substr(0, 4), "553 ");  // the temporaries' names are reserved
}

TEST(FtpSession, SizeRefusedInAsciiAndListIgnoresOptions) {
    Driver d;
    d.login();
    spit(d.dir / "alice" / "f", "a\nb\n");
    EXPECT_EQ(d.send("SIZE f\r\n"), "550 SIZE not allowed in ASCII mode: the size would depend on the line ends; send TYPE I.\r\n");
    EXPECT_EQ(d.send("MDTM f\r\n").substr(0, 4), "213 ");
    EXPECT_TRUE(has(d.send("MLST f\r\n"), " type=file;size=4;"));
    d.send("EPSV\r\nLIST -la\r\n");
    ASSERT_TRUE(d.transfer);
    EXPECT_TRUE(d.transfer->data.starts_with("-rw")) << d.transfer->data;
    EXPECT_TRUE(d.transfer->data.ends_with(" f\r\n")) << d.transfer->data;
    d.finish({TransferStatus::done});
    d.send("EPSV\r\nNLST\r\n");
    EXPECT_EQ(d.transfer->data, "f\r\n");
    d.finish({TransferStatus::done});
    d.send("EPSV\r\nRETR f\r\n");
    EXPECT_TRUE(d.transfer->ascii);  // TYPE A: the server converts line ends
    EXPECT_TRUE(has(d.all, "150 Opening ASCII mode"));
}

TEST(FtpSession, SessionLimitsAnswer421) {
    Limits limits;
    limits.max_per_address = 1;
    limits.max_per_user = 1;
    SessionRegistry registry(limits);
    Driver a, b, c;
    for (Driver* d : {&a, &b, &c}) {
        d->site.limits = limits;
        d->site.registry = &registry;
    }
    a.login();
    EXPECT_TRUE(a.s().logged_in());
    b.s();
    EXPECT_TRUE(b.all.starts_with("421 ")) << b.all;  // a second session from 127.0.0.1
    EXPECT_TRUE(b.closed);
    Driver other(false, "127.0.0.2");
    other.site.limits = limits;
    other.site.registry = &registry;
    EXPECT_TRUE(other.login().starts_with("421 "));  // another address, but alice is logged in already
    a.session.reset();
    other.session.reset();
    EXPECT_TRUE(c.login().starts_with("230 "));  // the first session's end freed both
}

TEST(FtpSession, InputIsBoundedWhileAnOperationWaits) {
    Driver d;
    d.auto_delay = false;
    d.send("USER alice\r\nPASS wrong\r\n");  // waits for the delay
    EXPECT_TRUE(d.s().wants_input());
    std::string many;
    for (int i = 0; i < 1000; ++i) many += "NOOP\r\n";
    d.send(many);
    EXPECT_FALSE(d.s().wants_input());
    d.s().complete(Delayed{});
    d.drain();
    EXPECT_TRUE(d.s().wants_input() || d.s().has_output());
}

TEST(FtpSession, PeerGoneWhileAFileOpensStartsNoTransfer) {
    Driver d;
    d.login();
    spit(d.dir / "alice" / "f", "x");
    d.auto_fs = false;
    d.send("EPSV\r\nRETR f\r\n");
    ASSERT_EQ(d.fs_requests.back().op, FsOp::open);
    d.s().peer_closed();
    EXPECT_FALSE(d.closed);  // the open is in flight: its completion comes first
    d.s().complete(execute(d.fs_requests.back()));
    d.drain();
    EXPECT_FALSE(d.transfer);
    EXPECT_TRUE(d.closed);

    Driver u;  // the same for an upload: its fresh temporary is removed
    u.login();
    u.auto_fs = false;
    u.send("EPSV\r\nSTOR g\r\n");
    u.s().peer_closed();
    u.s().complete(execute(u.fs_requests.back()));
    u.auto_fs = true;
    u.drain();
    EXPECT_FALSE(u.transfer);
    EXPECT_TRUE(u.closed);
    EXPECT_EQ(std::distance(fs::directory_iterator(u.dir / "alice"), {}), 0);
}

TEST(FtpSession, UrgentAborDiscardsWhatWaitsBeforeIt) {
    Driver d;
    d.auto_delay = false;
    d.send("USER alice\r\nPASS wrong\r\n");  // an operation in flight: commands wait
    d.send("NOOP\r\nSYST\r\n");
    d.s().urgent();  // the Telnet Synch: what came before the mark is discarded (RFC 959 4.1.3)
    d.send("ABOR\r\n");
    d.s().complete(Delayed{});
    EXPECT_EQ(d.drain(), "530 Login incorrect.\r\n225 No transfer to abort.\r\n");
}

TEST(FtpSession, ANewPassiveReplacesTheOld) {
    Driver d;
    d.login();
    spit(d.dir / "alice" / "f", "x");
    d.send("PASV\r\nEPSV\r\n");
    EXPECT_EQ(d.passives, 2);  // each PassiveRequest closes the previous listener (requests.hpp)
    d.send("RETR f\r\n");
    d.finish({TransferStatus::done});
    EXPECT_EQ(d.send("RETR f\r\n").substr(0, 4), "425 ");  // one transfer per PASV/EPSV
}

TEST(FtpSession, TimeoutsClose) {
    Driver d;
    d.s().timed_out(Timeout::login);
    EXPECT_TRUE(d.drain().starts_with("421 "));
    EXPECT_TRUE(d.closed);
}

// ---- FTPS (RFC 4217): session_tls.cpp ----------------------------------------------

// A session of a site with TLS, after AUTH TLS and its handshake, logged in.
void tls_login(Driver& d) {
    d.site.tls = true;
    d.send("AUTH TLS\r\n");
    d.s().complete(TlsResult{});
    d.drain();
    d.login();
}

TEST(FtpSessionTls, WithoutACertificateAuthIsNotImplemented) {
    Driver d;
    EXPECT_EQ(d.send("AUTH TLS\r\n").substr(0, 4), "502 ");
    EXPECT_EQ(d.tls_requests, 0);
    EXPECT_FALSE(has(d.send("FEAT\r\n"), "AUTH TLS"));
}

TEST(FtpSessionTls, AuthTlsAsksForTheHandshakeAndDiscardsWhatCameInClearBehindIt) {
    Driver d;
    d.site.tls = true;
    std::string feat = d.send("FEAT\r\n");
    EXPECT_TRUE(has(feat, " AUTH TLS\r\n") && has(feat, " PBSZ\r\n") && has(feat, " PROT\r\n")) << feat;
    EXPECT_EQ(d.send("PBSZ 0\r\n").substr(0, 4), "503 ");  // not before AUTH TLS
    // The STARTTLS injection: USER and PASS sent in clear behind AUTH TLS, in one segment.
    EXPECT_EQ(d.send("AUTH TLS\r\nUSER alice\r\nPASS secret\r\n"), "234 AUTH TLS successful; start the TLS handshake.\r\n");
    EXPECT_EQ(d.tls_requests, 1);
    EXPECT_FALSE(d.s().wants_input()) << "the bytes are TLS's now";
    d.s().complete(TlsResult{});
    EXPECT_EQ(d.drain(), "") << "nothing sent in clear behind AUTH TLS runs";
    EXPECT_FALSE(d.s().logged_in());
    EXPECT_TRUE(d.s().tls());
    EXPECT_EQ(d.send("AUTH TLS\r\n").substr(0, 4), "503 ");  // once
    EXPECT_EQ(d.login().substr(0, 4), "230 ");
}

TEST(FtpSessionTls, ProtPMakesEveryTransferTls) {
    Driver d;
    tls_login(d);
    EXPECT_EQ(d.send("PROT P\r\n").substr(0, 4), "503 ");  // PBSZ first
    EXPECT_EQ(d.send("PBSZ 1024\r\n"), "200 PBSZ=0\r\n");   // any size asked: 0
    EXPECT_EQ(d.send("PROT S\r\n").substr(0, 4), "536 ");
    EXPECT_EQ(d.send("PROT X\r\n").substr(0, 4), "504 ");
    EXPECT_EQ(d.send("PROT p\r\n").substr(0, 4), "200 ");
    d.send("EPSV\r\n");
    d.send("LIST\r\n");
    ASSERT_TRUE(d.transfer);
    EXPECT_TRUE(d.transfer->tls);
    d.finish({.status = TransferStatus::done});
    EXPECT_EQ(d.send("PROT C\r\n").substr(0, 4), "200 ");
    d.send("EPSV\r\n");
    d.send("LIST\r\n");
    ASSERT_TRUE(d.transfer);
    EXPECT_FALSE(d.transfer->tls);
    EXPECT_TRUE(has(d.finish({.status = TransferStatus::tls_failed}), "425 "));
}

TEST(FtpSessionTls, ADataConnectionThatDoesNotResumeTheSessionGets522) {
    Driver d;
    tls_login(d);
    d.send("PBSZ 0\r\nPROT P\r\nEPSV\r\nLIST\r\n");
    ASSERT_TRUE(d.transfer);
    std::string out = d.finish({.status = TransferStatus::tls_not_resumed});
    EXPECT_TRUE(out.starts_with("522 ") && has(out, "session reuse required")) << out;
    EXPECT_EQ(d.send("NOOP\r\n").substr(0, 4), "200 ") << "the session goes on";
}

TEST(FtpSessionTls, RequireTlsRefusesLoginAndDataInClear) {
    Driver d;
    d.site.tls = true;
    d.site.require_tls = true;
    EXPECT_EQ(d.send("USER alice\r\n").substr(0, 4), "530 ");
    EXPECT_EQ(d.send("PASS secret\r\n").substr(0, 4), "503 ");  // no USER was taken
    EXPECT_FALSE(d.s().logged_in());
    d.send("AUTH TLS\r\n");
    d.s().complete(TlsResult{});
    d.drain();
    EXPECT_EQ(d.login().substr(0, 4), "230 ");
    d.send("EPSV\r\n");
    EXPECT_EQ(d.send("LIST\r\n").substr(0, 4), "521 ");  // no PROT P yet
    EXPECT_FALSE(d.transfer);
    d.send("PBSZ 0\r\n");
    EXPECT_EQ(d.send("PROT C\r\n").substr(0, 4), "534 ");
    EXPECT_EQ(d.send("PROT P\r\n").substr(0, 4), "200 ");
    d.send("EPSV\r\n");
    d.send("LIST\r\n");
    EXPECT_TRUE(d.transfer && d.transfer->tls);
}

TEST(FtpSessionTls, AFailedHandshakeEndsTheSession) {
    Driver d;
    d.site.tls = true;
    d.send("AUTH TLS\r\n");
    d.s().complete(TlsResult{.error = "wrong version number"});
    d.drain();
    EXPECT_TRUE(d.closed);
    EXPECT_TRUE(d.s().closed());
}

TEST(FtpSessionTls, AuthAfterLoginIsRefused) {
    Driver d;
    d.site.tls = true;
    d.login();
    EXPECT_EQ(d.send("AUTH TLS\r\n").substr(0, 4), "503 ");
    EXPECT_EQ(d.tls_requests, 0);
}

}  // namespace
}  // namespace iom::ftp
