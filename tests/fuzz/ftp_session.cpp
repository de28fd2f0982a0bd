// Fuzz target ftp_session: the fuzzer plays an FTP client and every
// completion the server would deliver, driving one ftp::Session through a
// real directory tree, and checks the core's contract (session.hpp) after
// every step, not only "no crash".
//
// THE INPUT (any bytes are a valid input; past the end every read is 0)
//   byte 0: the site, bit by bit
//     0x01 anonymous logins allowed       0x06 registry: 0 none, 1 roomy, 2 full (421 at start),
//     0x18 addresses: 0 client 127.0.0.1       3 no room for any user (421 at PASS)
//          1 [::1], 2 ::ffff:127.0.0.1 (v4-mapped), 3 client 10.0.0.5 with the server on 127.0.0.1
//          (a roomy registry with address 3: 10.0.0.5 has failed too many logins lately, a guesser: 421)
//     0x20 max_upload 4096 (else 1 TiB)   0x40 max_line 64 (else 4096)   0x80 max_login_failures 1
//   then steps, each chosen by its first byte:
//     0x09-0x0D, 0x20-0x7E  a text line: that byte and those after it up to and including the next
//                           LF are one read of the control connection ("USER alice\r\n")
//     0x80-0xFF             raw control bytes: the next (byte & 0x7F) + 1 bytes are one read (IAC, NUL...)
//     0x00 N16              raw control bytes: the next N16 % 4097 bytes are one read
//     0x01 urgent()   0x02 timed_out(login)   0x03 timed_out(idle)   0x04 the client closes (peer_closed)
//     0x05 K                hold the next operation of kind K % 4 (fs, passive, delay, transfer):
//                           it stays outstanding until a completion below (else completed at once)
//     0x06 E                a filesystem result: E % 5 = the real one (fs.hpp execute()), ENOENT,
//                           EACCES, ENOSPC, EEXIST (injected: nothing is executed)
//     0x07 P N16            a passive result: P odd = error (EADDRINUSE), else listening on port N16
//     0x08 S N16            a transfer result: status S % 10 (requests.hpp order: done, aborted,
//                           connect_failed, connection_lost, stalled, no_space, too_large,
//                           file_error, tls_failed, tls_not_resumed) after N16 bytes
//     0x0E                  Delayed
//     0x0F                  the server stops (or starts again) taking the session's output: the
//                           client does not read its replies, so they pile up in the session
//     0x10 N + a text line  that line N % 64 + 1 times in a row, read 4096 bytes at a time (a
//                           flood: 64 HELP lines are 21 KiB of replies, past the 16 KiB at which
//                           the session stops reading; more would only make each input slower)
//     other bytes           nothing
//   A completion completes the held operation of its kind; with none held it is kept for the
//   next operation of that kind (one-shot); after CloseRequest it is delivered anyway (the
//   session must ignore it). Unheld operations complete at once: the filesystem for real,
//   passive on port 40000, delays at once, transfers done with every byte.
//   When the input ends, the client closes and every held operation completes: the session
//   must then end with CloseRequest.
//
// THE RULES A SERVER FOLLOWS, the harness follows too: control bytes are read (receive(), at
// most 4096 at a time, as both servers read) only while wants_input(), the rest waits as in a
// socket; nothing is read after the client closed; the login timer fires only before login and
// the idle timer only outside transfers; each operation is completed exactly once.
//
// THE CONTRACT CHECKED after each step (abort with a message on a violation):
//   - at most one operation outstanding; an AbortRequest only for a transfer in flight, once (or
//     just after its result, when the server completed it inside perform(): its result then
//     answers the ABOR, as epoll_ftp_server's perform(AbortRequest) says);
//   - the output is whole RFC 959 replies: "DDD text" CRLF, first digit 1-5, second 0-5, no CR
//     or LF inside a line, multi-line replies closed by "DDD " and their inner lines not
//     starting with a digit; every take_output() ends at the end of a reply;
//   - the output not yet taken stays under the bound below (kOutputBound);
//   - every FsRequest names a virtual path inside the user's root: "/" or "/a/b" with no empty,
//     "." or ".." component (or "" for a directory the session holds), one-component names,
//     and the descriptor of the right directory;
//   - a TransferRequest (or PassiveRequest) goes only to the control connection's own host, an
//     active one only to a port >= 1024: a PORT/EPRT the rules refuse never gets that far;
//   - transferring() is true exactly while a transfer is outstanding;
//   - after CloseRequest: no request, no output, closed() for good;
//   - the access log (always on, in memory) is one JSON object per line, each naming its event.
// Every descriptor the session hands out (requests.hpp: Fd, owned) is closed by the harness.
#include "fuzz_input.hpp"

#include "common/json.hpp"
#include "ftp/access_log.hpp"
#include "ftp/fs.hpp"
#include "ftp/session.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

namespace iom::fuzz {
namespace {

using namespace iom::ftp;
namespace fsys = std::filesystem;

constexpr std::size_t kReadSize = 4096;  // what both servers read from the control socket at once
// The output bound. The session stops asking for input once 16 KiB of replies wait
// (session.cpp: max_pending_output) or a read's worth of commands waits; what it has read by
// then still runs. So at most two reads of commands (2 x 4096 bytes) run on top of 16 KiB, and
// no command line makes more than 70 bytes of reply per byte it costs (HELP, the most: a 5-byte
// line, a 270-byte reply; a bare LF, 31 bytes of 502; MLST of a long path: about twice the path).
constexpr std::size_t kOutputBound = (16 << 10) + 2 * kReadSize * 70;

// ---- the directory tree the sessions work in ------------------------------------------------
// Rebuilt only after an input changed it (a successful mkdir, rmdir, unlink, rename, create or write-open).
class TestRoot {
public:
    TestRoot() {
        top_ = scratch_dir("session");
        build();
    }
    ~TestRoot() {
        root_.reset();
        std::error_code ec;
        fsys::remove_all(top_, ec);
    }
    int fd() const { return root_.get(); }
    void changed() { dirty_ = true; }
    void refresh() {
        if (dirty_) build();
    }

private:
    static void write(const fsys::path& p, std::string_view bytes) {
        std::ofstream(p, std::ios::binary) << bytes;
    }
    void build() {
        root_.reset();
        std::error_code ec;
        fsys::remove_all(top_, ec);
        fsys::path root = top_ / "root", home = root / "alice";
        fsys::create_directories(home / "docs" / "deep");
        fsys::create_directories(home / "empty");
        fsys::create_directories(root / "pub");
        fsys::create_directories(top_ / "outside");
        write(top_ / "outside" / "secret", "outside the root\n");
        write(home / "a.txt", "hello\r\nworld\n");
        write(home / "docs" / "b.bin", std::string(3000, 'b'));
        write(home / "docs" / "deep" / "c", "c");
        write(home / "sp ace.txt", "");
        write(home / ".in.old.000000000000", "a leftover upload");
        write(root / "pub" / "readme.txt", "read me\n");
        // Symlinks that point out of the root: the kernel keeps them in (RESOLVE_IN_ROOT).
        fsys::create_symlink("../../outside", home / "link-out");
        fsys::create_symlink("/etc", home / "link-etc");
        fsys::create_symlink("docs", home / "link-docs");
        root_ = open_site_root(root.string());
        dirty_ = false;
    }
    fsys::path top_;
    Fd root_;
    bool dirty_ = true;
};

// ---- the contract's pieces --------------------------------------------------------------------

bool one_name(const std::string& n) {
    return !n.empty() && n != "." && n != ".." && n.find('/') == std::string::npos && n.find('\0') == std::string::npos;
}

// "/" or "/a/b": absolute, no empty, "." or ".." component, no NUL (it would cut the C string).
bool virtual_path(const std::string& p) {
    if (p.empty() || p.front() != '/' || p.find('\0') != std::string::npos) return false;
    if (p == "/") return true;
    std::string_view rest(p);
    rest.remove_prefix(1);
    while (true) {
        auto slash = rest.find('/');
        std::string_view part = rest.substr(0, slash);
        if (part.empty() || part == "." || part == "..") return false;
        if (slash == std::string_view::npos) return true;
        rest.remove_prefix(slash + 1);
    }
}

// The control connection's output, reply by reply (RFC 959 section 4.2).
class ReplyChecker {
public:
    void feed(std::string_view out) {
        buf_ += out;
        std::size_t start = 0;
        for (auto nl = buf_.find('\n'); nl != std::string::npos; nl = buf_.find('\n', start)) {
            IOM_FUZZ_CHECK(nl > start && buf_[nl - 1] == '\r', "a reply line ends in a bare LF: '{}'",
                           buf_.substr(start, nl - start));
            line(std::string_view(buf_).substr(start, nl - 1 - start));
            start = nl + 1;
        }
        buf_.erase(0, start);
        // The session appends whole replies: what it hands over ends where a reply ends.
        IOM_FUZZ_CHECK(buf_.empty(), "take_output() ended inside a line: '{}'", buf_);
        IOM_FUZZ_CHECK(open_ < 0, "take_output() ended inside multi-line reply {}", open_);
    }

private:
    static bool digit(char c) { return c >= '0' && c <= '9'; }
    void line(std::string_view l) {
        IOM_FUZZ_CHECK(l.find_first_of("\r\n") == std::string_view::npos, "a CR inside a reply line: '{}'", l);
        bool coded = l.size() >= 4 && digit(l[0]) && digit(l[1]) && digit(l[2]);
        if (open_ >= 0) {  // inside a multi-line reply: its end, or a line that cannot be taken for one
            if (coded && std::stoi(std::string(l.substr(0, 3))) == open_ && l[3] == ' ') {
                open_ = -1;
                return;
            }
            IOM_FUZZ_CHECK(l.empty() || !digit(l[0]), "an inner line of reply {} starts with a digit: '{}'", open_, l);
            return;
        }
        IOM_FUZZ_CHECK(coded && (l[3] == ' ' || l[3] == '-'), "not a reply line: '{}'", l);
        IOM_FUZZ_CHECK(l[0] >= '1' && l[0] <= '5' && l[1] <= '5', "reply code out of RFC 959's range: '{}'", l);
        IOM_FUZZ_CHECK(l.size() > 4, "a reply without text: '{}'", l);
        if (l[3] == '-') open_ = std::stoi(std::string(l.substr(0, 3)));
    }
    std::string buf_;
    int open_ = -1;
};

// ---- the harness: a server of the session's contract, every choice the fuzzer's ------------------

enum class Kind { fs, passive, delay, transfer, none };

// The access log, in memory: a memfd that every input empties, opened by path as --log opens a file.
struct MemoryLog {
    int fd = [] {
        int m = ::memfd_create("access-log", 0);
        IOM_FUZZ_CHECK(m >= 0, "memfd_create: {}", std::strerror(errno));
        return m;
    }();
    AccessLog log{fmt::format("/proc/self/fd/{}", fd)};
    void clear() { IOM_FUZZ_CHECK(::ftruncate(fd, 0) == 0, "ftruncate of the log: {}", std::strerror(errno)); }
    void check() {
        struct stat st {};
        ::fstat(fd, &st);
        std::string text(static_cast<std::size_t>(st.st_size), '\0');
        IOM_FUZZ_CHECK(::pread(fd, text.data(), text.size(), 0) == st.st_size, "reading the log back");
        IOM_FUZZ_CHECK(text.empty() || text.back() == '\n', "the log ends inside a line");
        for (std::size_t start = 0, nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
            std::string_view line(text.data() + start, nl - start);
            Json j = Json::parse(line, nullptr, false);
            IOM_FUZZ_CHECK(j.is_object() && j.contains("event") && j.contains("time"),
                           "a log line that is not one JSON event: '{}'", line);
        }
    }
};
MemoryLog& memory_log() {
    static MemoryLog log;  // one for the whole run: each input empties it
    return log;
}

class Harness {
public:
    Harness(TestRoot& root, std::uint8_t site_byte) : root_(root), registry_(site_.limits) {
        static Users users = [] {
            Users u;
            u.add_plain("alice:secret");
            return u;
        }();
        site_.anonymous = site_byte & 0x01;
        site_.users = &users;
        site_.root_fd = root.fd();
        switch ((site_byte >> 1) & 3) {
        case 0: break;
        case 1: site_.registry = &registry_; break;
        case 2: site_.limits.max_sessions = 0; site_.registry = &registry_; break;
        case 3: site_.limits.max_per_user = 0; site_.registry = &registry_; break;
        }
        static const char* const addresses[4][2] = {{"127.0.0.1", "127.0.0.1"}, {"::1", "::1"},
                                                    {"::ffff:127.0.0.1", "::ffff:127.0.0.1"}, {"10.0.0.5", "127.0.0.1"}};
        peer_ = parse_address(addresses[(site_byte >> 3) & 3][0], 50000);
        local_ = parse_address(addresses[(site_byte >> 3) & 3][1], 2121);
        if (site_byte & 0x20) site_.limits.max_upload = 4096;
        if (site_byte & 0x40) site_.limits.max_line = 64;
        if (site_byte & 0x80) site_.limits.max_login_failures = 1;
        if (((site_byte >> 1) & 3) == 1 && ((site_byte >> 3) & 3) == 3)  // a guesser from another host
            for (unsigned i = 0; i <= site_.limits.guesser_refused_after; ++i) registry_.login_failed(peer_);
        site_.log = &log_.log;
        log_.clear();
        site_.tls = true;                                  // AUTH TLS, PBSZ, PROT: the handshake always succeeds here
        site_.require_tls = (site_byte & 0x60) == 0x60;    // and, on a quarter of those sites, no login in clear
        session_ = std::make_unique<Session>(site_, peer_, local_);
        session_->start();
        settle();
    }
    ~Harness() {
        session_.reset();  // before the registry it reports to (and its last log line: disconnect)
        log_.check();
    }

    void step(Input& in) {
        transfer_just_ended_ = false;
        std::uint8_t op = in.peek();
        if ((op >= 0x09 && op <= 0x0D) || (op >= 0x20 && op <= 0x7E)) return control(in.take_through('\n'));
        in.byte();
        if (op >= 0x80) return control(in.take((op & 0x7F) + 1u));
        switch (op) {
        case 0x00: return control(in.take(in.u16() % (kReadSize + 1)));
        case 0x01:
            if (!peer_gone_ && !closed_) session_->urgent();  // urgent data comes on the control connection
            return settle();
        case 0x02:
            if (!session_->logged_in() && !closed_) session_->timed_out(Timeout::login);  // the login timer's rule
            return settle();
        case 0x03:
            if (!session_->transferring() && !closed_) session_->timed_out(Timeout::idle);  // the idle timer's
            return settle();
        case 0x04: return client_closes();
        case 0x05: hold_ = static_cast<Kind>(in.byte() % 4); return;
        case 0x06: {
            static constexpr int errors[] = {0, ENOENT, EACCES, ENOSPC, EEXIST};
            return fs_result(errors[in.byte() % 5]);
        }
        case 0x07: {
            std::uint8_t p = in.byte();
            std::uint16_t port = in.u16();
            return passive_result(p % 2 ? PassiveResult{EADDRINUSE, 0} : PassiveResult{0, port});
        }
        case 0x08: {
            // Every status requests.hpp names, up to its last (one added after it goes here too: --coverage
            // shows its reply unreached until it does).
            constexpr int kStatuses = static_cast<int>(TransferStatus::tls_not_resumed) + 1;
            auto status = static_cast<TransferStatus>(in.byte() % kStatuses);
            std::uint16_t bytes = in.u16();
            int err = status == TransferStatus::file_error ? EIO : status == TransferStatus::connection_lost ? ECONNRESET : 0;
            return transfer_result({status, bytes, err});
        }
        case 0x0E: return delayed();
        case 0x0F:
            taking_output_ = !taking_output_;
            return settle();
        case 0x10: {
            std::size_t times = in.byte() % 64 + 1u;
            std::string line(in.take_through('\n')), flood;
            for (std::size_t i = 0; i < times; ++i) flood += line;
            return control(flood);
        }
        default: return;
        }
    }

    // The input is over: the client goes, every held operation completes; the session must close.
    void finish() {
        taking_output_ = true;
        if (!peer_gone_) client_closes();
        for (int round = 0; round < 8 && !closed_; ++round) {
            switch (held_) {
            case Kind::fs: fs_result(0); break;
            case Kind::passive: passive_result({0, 40000}); break;
            case Kind::delay: delayed(); break;
            case Kind::transfer: transfer_result({TransferStatus::aborted, 0, 0}); break;
            case Kind::none: break;
            }
        }
        IOM_FUZZ_CHECK(closed_, "the client closed and every operation completed, but no CloseRequest came");
        IOM_FUZZ_CHECK(session_->closed() && !session_->wants_input(), "CloseRequest came but the session is open");
    }

private:
    // ---- the fuzzer's moves ----
    void control(std::string_view bytes) {
        if (peer_gone_) return;  // nothing is read after EOF
        backlog_ += bytes;
        settle();
    }

    void client_closes() {
        if (peer_gone_) return;
        deliver();
        backlog_.clear();
        peer_gone_ = true;
        session_->peer_closed();
        settle();
    }

    void fs_result(int error) {
        if (held_ != Kind::fs && !closed_) {
            next_fs_error_ = error;
            return;
        }
        FsResult r = error ? FsResult{.error = error} : closed_ ? FsResult{} : execute_fs(held_fs_);
        held_ = held_ == Kind::fs ? Kind::none : held_;
        outstanding_ = Kind::none;
        session_->complete(std::move(r));
        settle();
    }

    void passive_result(PassiveResult r) {
        if (held_ != Kind::passive && !closed_) {
            next_passive_ = r;
            return;
        }
        held_ = held_ == Kind::passive ? Kind::none : held_;
        outstanding_ = Kind::none;
        session_->complete(r);
        settle();
    }

    void delayed() {
        if (held_ != Kind::delay && !closed_) return;  // a delay not held is over already
        held_ = held_ == Kind::delay ? Kind::none : held_;
        outstanding_ = Kind::none;
        session_->complete(Delayed{});
        settle();
    }

    void transfer_result(TransferResult r) {
        if (held_ != Kind::transfer && !closed_) {
            next_transfer_ = r;
            return;
        }
        held_ = held_ == Kind::transfer ? Kind::none : held_;
        held_transfer_.file.reset();  // the server closes the file (and the data connection) at the end
        outstanding_ = Kind::none;
        transfer_just_ended_ = true;
        session_->complete(r);
        settle();
    }

    // ---- the server's loop: read what may be read, perform the requests, take the replies ----
    void settle() {
        drain();
        deliver();
        check_state();
    }

    void deliver() {
        while (!backlog_.empty() && !peer_gone_ && !closed_ && session_->wants_input()) {
            std::size_t n = std::min(backlog_.size(), kReadSize);
            std::string chunk = backlog_.substr(0, n);
            backlog_.erase(0, n);
            session_->receive(chunk);
            drain();
        }
    }

    void drain() {
        while (auto req = session_->next_request()) {
            IOM_FUZZ_CHECK(!closed_, "a request after CloseRequest");
            std::visit([this](auto& r) { perform(r); }, *req);
        }
        if (taking_output_ || closed_) {  // at CloseRequest the server writes what is left
            std::string out = session_->take_output();
            IOM_FUZZ_CHECK(out.size() <= kOutputBound, "{} bytes of replies waited to be taken (bound {})",
                           out.size(), kOutputBound);
            if (closed_ && close_flushed_)
                IOM_FUZZ_CHECK(out.empty(), "output after CloseRequest: '{}'", out.substr(0, 200));
            replies_.feed(out);
            if (closed_) close_flushed_ = true;
        }
    }

    void check_state() {
        IOM_FUZZ_CHECK(session_->transferring() == (outstanding_ == Kind::transfer),
                       "transferring() is {} with {} outstanding", session_->transferring(), kind_name(outstanding_));
        IOM_FUZZ_CHECK(session_->closed() == closed_, "closed() is {} though CloseRequest {}", session_->closed(),
                       closed_ ? "came" : "did not come");
        if (closed_) IOM_FUZZ_CHECK(!session_->wants_input(), "a closed session wants input");
    }

    static const char* kind_name(Kind k) {
        static const char* const names[] = {"a filesystem request", "a passive request", "a delay", "a transfer", "nothing"};
        return names[static_cast<int>(k)];
    }

    // An operation begins: the one-at-a-time rule, then complete it now unless the fuzzer holds it.
    bool begin(Kind k) {
        IOM_FUZZ_CHECK(outstanding_ == Kind::none, "{} while {} is outstanding", kind_name(k), kind_name(outstanding_));
        outstanding_ = k;
        transfer_just_ended_ = false;
        if (k == Kind::transfer) aborted_ = false;
        if (hold_ != k) return false;
        hold_ = Kind::none;
        held_ = k;
        return true;
    }

    void perform(FsRequest& r) {
        check_fs(r);
        if (begin(Kind::fs)) {
            held_fs_ = std::move(r);
            return;
        }
        FsResult result = next_fs_error_ ? FsResult{.error = std::exchange(next_fs_error_, 0)} : execute_fs(r);
        outstanding_ = Kind::none;
        session_->complete(std::move(result));
    }

    FsResult execute_fs(const FsRequest& r) {
        FsResult result = execute(r);
        bool writes = r.op == FsOp::mkdir || r.op == FsOp::rmdir || r.op == FsOp::unlink || r.op == FsOp::rename ||
                      r.op == FsOp::create || (r.op == FsOp::open && (r.flags & O_ACCMODE) != O_RDONLY);
        if (writes && !result.error) root_.changed();
        if (r.op == FsOp::open_home && result.fd) home_fd_ = result.fd.get();
        if (r.op == FsOp::create && result.dir) upload_dir_fd_ = result.dir.get();
        return result;
    }

    void check_fs(const FsRequest& r) {
        const char* op = name_of(r.op);
        auto where = fmt::format("FsRequest {} dirfd {} path '{}' name '{}' path2 '{}' name2 '{}'", op, r.dirfd, r.path,
                                 r.name, r.path2, r.name2);
        switch (r.op) {
        case FsOp::open_home:
            IOM_FUZZ_CHECK(r.dirfd == root_.fd() && r.path.empty() && one_name(r.name), "{}: not a home in the site root", where);
            return;
        case FsOp::stat:
        case FsOp::open:
        case FsOp::list:
            IOM_FUZZ_CHECK(r.dirfd == home_fd_ && home_fd_ >= 0 && virtual_path(r.path) && r.name.empty(),
                           "{}: not a virtual path in the user's root", where);
            return;
        case FsOp::create:
        case FsOp::mkdir:
        case FsOp::rmdir:
        case FsOp::unlink:
        case FsOp::set_mtime: {  // MFMT: a name in a directory of the user's root
            bool in_home = r.dirfd == home_fd_ && home_fd_ >= 0 && virtual_path(r.path);
            bool in_upload_dir = r.op == FsOp::unlink && r.dirfd == upload_dir_fd_ && upload_dir_fd_ >= 0 && r.path.empty();
            IOM_FUZZ_CHECK((in_home || in_upload_dir) && one_name(r.name), "{}: outside the user's root", where);
            return;
        }
        case FsOp::rename: {
            bool in_home = r.dirfd == home_fd_ && home_fd_ >= 0 && virtual_path(r.path) && virtual_path(r.path2);
            bool commit = r.dirfd == upload_dir_fd_ && upload_dir_fd_ >= 0 && r.path.empty() && r.path2.empty();
            IOM_FUZZ_CHECK((in_home || commit) && one_name(r.name) && one_name(r.name2), "{}: outside the user's root", where);
            return;
        }
        }
        fail("{}: an unknown operation", where);
    }

    void perform(PassiveRequest& p) {
        IOM_FUZZ_CHECK(host16(p.local) == host16(local_) && p.local.port() == 0,
                       "PassiveRequest listens on {}, not the control connection's host", p.local.to_string());
        IOM_FUZZ_CHECK(host16(p.peer) == host16(peer_), "PassiveRequest accepts {}, not the client's host",
                       p.peer.to_string());
        if (begin(Kind::passive)) return;
        PassiveResult r = next_passive_.value_or(PassiveResult{0, 40000});
        next_passive_.reset();
        outstanding_ = Kind::none;
        session_->complete(r);
    }

    void perform(DelayRequest& d) {
        IOM_FUZZ_CHECK(d.ms == site_.limits.login_delay_ms, "a delay of {} ms", d.ms);
        if (begin(Kind::delay)) return;
        outstanding_ = Kind::none;
        session_->complete(Delayed{});
    }

    void perform(TransferRequest& t) {
        // RFC 2577: data connections only with the client's own host; an active one (PORT, EPRT)
        // never to a privileged port.
        IOM_FUZZ_CHECK(host16(t.peer) == host16(peer_), "a {} transfer with {}, not the client's host {}",
                       t.passive ? "passive" : "active", t.peer.to_string(), peer_.to_string());
        IOM_FUZZ_CHECK(t.passive || t.peer.port() >= 1024, "an active transfer to privileged port {}", t.peer.port());
        IOM_FUZZ_CHECK(host16(t.local) == host16(local_) && t.local.port() == 0, "a transfer from {}", t.local.to_string());
        if (t.direction == Direction::receive) {
            IOM_FUZZ_CHECK(t.file && t.data.empty(), "an upload with no file");
            IOM_FUZZ_CHECK(t.max_bytes > 0 && t.offset + t.max_bytes <= site_.limits.max_upload,
                           "an upload at {} of up to {} bytes passes max_upload {}", t.offset, t.max_bytes,
                           site_.limits.max_upload);
        } else if (!t.file) {
            IOM_FUZZ_CHECK(t.data.empty() || t.data.ends_with("\r\n"), "a listing whose last line has no CRLF");
        } else {
            IOM_FUZZ_CHECK(t.offset <= t.file_size, "a download from {} of a {}-byte file", t.offset, t.file_size);
        }
        std::uint64_t all = t.file ? t.file_size - std::min(t.offset, t.file_size) : t.data.size();
        if (begin(Kind::transfer)) {
            held_transfer_ = std::move(t);
            return;
        }
        TransferResult r = next_transfer_.value_or(TransferResult{TransferStatus::done, all, 0});
        next_transfer_.reset();
        t.file.reset();
        outstanding_ = Kind::none;
        transfer_just_ended_ = true;
        session_->complete(r);
    }

    void perform(AbortRequest&) {
        bool in_flight = outstanding_ == Kind::transfer;
        bool just_ended = outstanding_ == Kind::none && transfer_just_ended_;  // completed inside perform()
        IOM_FUZZ_CHECK(in_flight || just_ended, "AbortRequest with {} outstanding", kind_name(outstanding_));
        IOM_FUZZ_CHECK(!aborted_, "a second AbortRequest for one transfer");
        aborted_ = true;  // the transfer's result (to come, or come already) answers it
    }

    // AUTH TLS: the server would write the 234 and do the handshake; here it succeeds at once.
    void perform(TlsRequest&) {
        IOM_FUZZ_CHECK(outstanding_ == Kind::none, "TlsRequest while {} is outstanding", kind_name(outstanding_));
        IOM_FUZZ_CHECK(!session_->wants_input(), "the session wants input in clear during its TLS handshake");
        session_->complete(TlsResult{});
    }

    void perform(CloseRequest&) {
        closed_ = true;
        // The server aborts what is in flight and closes every descriptor.
        held_ = outstanding_ = Kind::none;
        held_transfer_.file.reset();
        held_fs_ = {};
    }

    MemoryLog& log_ = memory_log();

    TestRoot& root_;
    Site site_;
    SessionRegistry registry_;
    Address peer_, local_;
    std::unique_ptr<Session> session_;
    ReplyChecker replies_;

    std::string backlog_;  // control bytes sent and not read yet: the socket's receive queue
    bool peer_gone_ = false, taking_output_ = true;
    Kind hold_ = Kind::none;         // the kind of the next operation to hold
    Kind held_ = Kind::none;         // the operation held, waiting for the fuzzer's completion
    Kind outstanding_ = Kind::none;  // the operation the session waits for
    bool transfer_just_ended_ = false;  // a transfer ended in this step, and nothing began since
    FsRequest held_fs_;
    TransferRequest held_transfer_;
    bool aborted_ = false, closed_ = false, close_flushed_ = false;
    int next_fs_error_ = 0;
    std::optional<PassiveResult> next_passive_;
    std::optional<TransferResult> next_transfer_;
    int home_fd_ = -1, upload_dir_fd_ = -1;
};

}  // namespace
}  // namespace iom::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace iom::fuzz;
    static TestRoot root;
    root.refresh();
    Input in(data, size);
    {
        Harness h(root, in.byte());
        while (!in.empty()) h.step(in);
        h.finish();
    }
    return 0;
}
