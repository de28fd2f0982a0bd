// The security cases of ioclient ftp check (the rules docs/ftp.md lists):
// the data connection as RFC 2577 has it (the PORT bounce, a privileged
// port, a stranger on the passive port, PASV in a loop), paths out of the
// root, names with CR or NUL, an over-long command line.
#include "client/ftp/check_support.hpp"

#include "client/lib/connection.hpp"
#include "common/error.hpp"

#include <fmt/format.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace iom::client::ftp {

namespace {

// PORT or EPRT to `ip`:`port`; then, if it was accepted, LIST. Returns what
// happened in words, and whether a connection reached `listener`.
struct Bounce {
    Reply port_reply;
    bool connected = false;
};

Bounce try_port(Client& c, const std::string& command, int listener, milliseconds timeout) {
    Bounce b;
    b.port_reply = c.command(command);
    if (b.port_reply.kind() == 2) {
        Reply r = c.command("LIST");
        if (r.kind() == 1) r = c.read_reply();
    }
    // A server that connects does so before its 150 (or its 425): the
    // connection, if any, is in the accept queue by now. A short grace for
    // one that answers first.
    b.connected = listener >= 0 && connection_waiting(listener, std::min(timeout, milliseconds(500)));
    return b;
}

// RETR `path`: the bytes, or nullopt if refused.
std::optional<std::string> try_get(Client& c, const std::string& path) {
    try {
        return get(c, path);
    } catch (const FtpError&) {
        return std::nullopt;
    }
}

}  // namespace

// ---- the data connection -------------------------------------------------

CaseResult port_bounce(const CheckOptions& o) {
    Address stranger = parse_address("127.0.0.2", 0);
    Fd listener = listen_tcp(stranger, 8, true);
    std::uint16_t port = local_address(listener.get()).port();
    Client c = session(o);
    if (c.peer().family() != AF_INET) return skip("the server is not on IPv4: 127.0.0.2 means nothing to it");
    std::vector<std::string> said;
    for (const std::string& cmd : {"PORT " + port_argument("127.0.0.2", port), fmt::format("EPRT |1|127.0.0.2|{}|", port)}) {
        Bounce b = try_port(c, cmd, listener.get(), o.timeout);
        if (b.connected) return fail(fmt::format("{}: the server connected to 127.0.0.2 (a bounce)", cmd));
        said.push_back(fmt::format("{} -> {}", cmd.substr(0, 4), b.port_reply.code));
    }
    c.quit();
    return pass(fmt::format("{}; no connection to 127.0.0.2", fmt::join(said, ", ")));
}

CaseResult port_privileged(const CheckOptions& o) {
    Client c = session(o);
    if (c.peer().family() != AF_INET) return skip("the server is not on IPv4");
    const std::string me = ipv4_of(local_address(c.control_fd()));
    for (const std::string& cmd : {"PORT " + port_argument(me, 1023), fmt::format("EPRT |1|{}|1023|", me)}) {
        Reply r = c.command(cmd);
        if (cmd[0] == 'E' && (r.code == 500 || r.code == 502)) continue;  // no EPRT: nothing to bounce with
        if (r.kind() != 5) return fail(fmt::format("{}: {} (a port below 1024 must get 5xx)", cmd, r.last_line()));
    }
    c.quit();
    return pass();
}

CaseResult passive_stranger(const CheckOptions& o) {
    Scratch s(o);
    const std::string name = s.name("stranger"), bytes = content(200000, 6);
    Client c = session(o);
    if (c.peer().family() != AF_INET) return skip("the server is not on IPv4");
    put(c, name, bytes);
    Address where = with_port(c.peer(), passive(c));
    Address from = parse_address("127.0.0.2", 0);
    Fd stranger = dial(where, &from, 0, o.timeout);  // first in the queue
    Stream data(dial(where, nullptr, 0, o.timeout));
    std::string got;
    Reply r = transfer(c, data, "RETR " + name, &got, o.timeout);
    // What reached the stranger: whatever is there now (the server is done).
    set_nonblocking(stranger.get());
    char buf[4096];
    ssize_t n = ::recv(stranger.get(), buf, sizeof buf, 0);
    if (n > 0) return fail(fmt::format("the stranger from 127.0.0.2 received {}+ bytes of the file", n));
    if (r.kind() != 2) {
        // Was the refusal a reply to RETR, or a stray one about the stranger?
        // What comes before NOOP's 200 says.
        std::vector<int> later = replies_until_noop(c);
        return fail(fmt::format("after the stranger, RETR got {}{}", r.last_line(),
                                later.empty() ? "" : fmt::format(", then {} before NOOP's 200 (a stray reply)",
                                                                 fmt::join(later, " "))));
    }
    if (got != bytes) return fail("the real client: " + describe(bytes, got));
    c.quit();
    return pass("the stranger got 0 bytes, the client the whole file");
}

CaseResult pasv_loop(const CheckOptions& o) {
    Client c = session(o);
    if (c.peer().family() != AF_INET) return skip("the server is not on IPv4");
    constexpr int n = 200;
    std::vector<std::uint16_t> ports;
    for (int i = 0; i < n; ++i) {
        auto port = passive_port(c.command("PASV"));
        if (!port) return fail(fmt::format("PASV number {} refused", i + 1));
        ports.push_back(*port);
    }
    // Only the last listener should remain: count the earlier ones still open.
    int open = 0;
    for (int i = 0; i + 1 < n; ++i) {
        if (ports[i] == ports.back()) continue;
        try {
            dial(with_port(c.peer(), ports[i]), nullptr, 0, o.timeout);
            ++open;
        } catch (const std::system_error&) {
            // refused: that listener was closed
        }
    }
    // A few may be another program's listeners on a reused port number.
    if (open > n / 10) return fail(fmt::format("{} of {} earlier passive listeners are still open", open, n - 1));
    Scratch s(o);
    const std::string name = s.name("pasv");
    put(c, name, "still works\n");
    if (get(c, name) != "still works\n") return fail("a transfer after the loop went wrong");
    c.quit();
    return pass(fmt::format("{} of {} earlier listeners open", open, n - 1));
}

// ---- paths and names -----------------------------------------------------

CaseResult path_escape(const CheckOptions& o) {
    Client c = session(o);
    for (const std::string& p : {std::string("../../../../../../../../etc/passwd"), std::string("/etc/passwd"),
                                 std::string("/../../../../etc/passwd"), std::string("..%2f..%2f..%2fetc/passwd")}) {
        auto got = try_get(c, p);
        if (got && got->find("root:") != std::string::npos) return fail("RETR " + p + " read the system's passwd file");
    }
    c.expect("CWD ..", 2);  // allowed: it stays at the root
    c.command("CWD ../../../../../..");
    auto got = try_get(c, "etc/passwd");
    if (got && got->find("root:") != std::string::npos) return fail("CWD .. past the root, then RETR etc/passwd");
    c.quit();
    return pass();
}

CaseResult symlink_escape(const CheckOptions& o) {
    namespace fs = std::filesystem;
    if (o.local_root.empty())
        return skip("needs --local-root DIR (the URL's directory on this machine) to plant a symlink: FTP cannot make one");
    char tmpl[] = "/tmp/iomcheck-outside-XXXXXX";
    if (!::mkdtemp(tmpl)) throw_sys("mkdtemp");
    fs::path outside = tmpl;
    const std::string secret = "outside the root " + std::to_string(::getpid()) + "\n";
    std::ofstream(outside / "secret") << secret;
    fs::permissions(outside, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                 fs::perms::others_read | fs::perms::others_exec);
    Scratch s(o);
    const std::string file_link = s.name("link"), dir_link = s.name("dirlink");
    fs::path here = o.local_root;
    std::error_code ec;
    fs::create_symlink(outside / "secret", here / file_link, ec);
    if (!ec) fs::create_directory_symlink(outside, here / dir_link, ec);
    CaseResult result = pass();
    if (ec) {
        result = skip("cannot plant a symlink in " + o.local_root + ": " + ec.message());
    } else {
        Client c = session(o);
        for (const std::string& p : {file_link, dir_link + "/secret"}) {
            auto got = try_get(c, p);
            if (got && *got == secret) {
                result = fail("RETR " + p + " followed a symlink out of the root");
                break;
            }
        }
        c.quit();
    }
    fs::remove(here / file_link, ec);
    fs::remove(here / dir_link, ec);
    fs::remove_all(outside, ec);
    return result;
}

CaseResult bad_names(const CheckOptions& o) {
    Scratch s(o);
    Client c = session(o);
    // LF always ends a command line, so it cannot reach a name; CR and NUL can.
    const std::string base = s.name("bad");
    std::vector<std::string> accepted;
    for (const std::string& name : {base + "\r" + "x", base + std::string(1, '\0') + "x"}) {
        const char* what = name.find('\r') != std::string::npos ? "CR" : "NUL";
        try {
            Reply r = c.command("MKD " + name);
            if (r.kind() != 2) continue;
            // What was created: the NLST line with our name in it, as bytes.
            std::string names = c.list("NLST", ""), made;
            if (auto at = names.find(base); at != std::string::npos) {
                auto end = names.find("\r\n", at);
                made = names.substr(at, end == std::string::npos ? std::string::npos : end - at);
            }
            accepted.push_back(fmt::format("{}: {} created {:?}", what, r.code, made));
            c.command("RMD " + name);
        } catch (const std::exception& e) {
            accepted.push_back(fmt::format("{}: {}", what, e.what()));
            break;
        }
    }
    c.quit();
    if (!accepted.empty()) return fail("MKD not refused, " + fmt::format("{}", fmt::join(accepted, "; ")));
    return pass();
}

CaseResult long_line(const CheckOptions& o) {
    Client c = session(o);
    c.send_raw("NOOP " + std::string(5000, 'x') + "\r\nNOOP\r\n");
    Reply first;
    try {
        first = c.read_reply();
    } catch (const std::exception& e) {
        return fail(std::string("no reply to a 5 KB line: ") + e.what());
    }
    if (first.kind() != 5) return fail("a 5 KB line: " + first.last_line() + " (want 500)");
    Reply second;
    try {
        second = c.read_reply();
    } catch (const std::exception& e) {
        return fail(fmt::format("after the long line's {}: {}", first.last_line(), e.what()));
    }
    if (second.code != 200)
        return fail(fmt::format("after the long line's {}, NOOP got {} (the rest of the line read as commands?)",
                                first.code, second.last_line()));
    c.quit();
    return pass(fmt::format("{}, then NOOP 200", first.code));
}

}  // namespace iom::client::ftp
