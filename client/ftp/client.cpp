#include "client/ftp/client.hpp"

#include "client/lib/connection.hpp"
#include "common/error.hpp"

#include <fmt/format.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <vector>

namespace iom::client::ftp {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kBlock = 256 * 1024;  // one recv or send of a data connection

// The control connection: every address the host name resolves to, in order.
Fd connect_host(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    if (int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0)
        throw std::runtime_error(fmt::format("cannot resolve '{}': {}", host, gai_strerror(rc)));
    std::string errors;
    for (addrinfo* ai = found; ai; ai = ai->ai_next) {
        Address a;
        std::memcpy(&a.storage, ai->ai_addr, ai->ai_addrlen);
        a.len = ai->ai_addrlen;
        try {
            Fd fd = connect_within(a, timeout);
            freeaddrinfo(found);
            return fd;
        } catch (const std::exception& e) {
            errors += errors.empty() ? e.what() : std::string("; ") + e.what();
        }
    }
    freeaddrinfo(found);
    throw std::runtime_error(errors);
}

// Read a data connection to its end (the server closes it when the file or
// listing is over; under TLS, its close_notify or that EOF), each block to
// `sink`. Returns the bytes read.
std::uint64_t drain(Stream& data, std::chrono::milliseconds timeout, const std::string& what,
                    const std::function<void(std::string_view)>& sink) {
    std::vector<char> buf(kBlock);
    const std::string where = "the data connection of " + what;
    std::uint64_t got = 0;
    while (std::size_t n = data.read_some(buf.data(), buf.size(), timeout, "data connection", where.c_str())) {
        got += n;
        sink(std::string_view(buf.data(), n));
    }
    return got;
}

}  // namespace

// Wait for `events` on `fd`; throws naming `what` when the timeout passes.
void wait_for(int fd, short events, std::chrono::milliseconds timeout, const char* what) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        pollfd p{fd, events, 0};
        int rc = poll(&p, 1, static_cast<int>(std::max<long>(left, 0)));
        if (rc > 0) return;
        if (rc == 0) throw std::runtime_error(fmt::format("{}: nothing for {} ms", what, timeout.count()));
        if (errno != EINTR) throw_sys("poll");
    }
}

// Connect with a deadline (a non-blocking connect and poll), then make the
// socket blocking again: the transfers below are plain blocking calls.
Fd connect_within(const Address& to, std::chrono::milliseconds timeout) {
    Fd fd = start_connect(to);
    wait_for(fd.get(), POLLOUT, timeout, fmt::format("connect {}", to.to_string()).c_str());
    if (int err = connect_result(fd.get())) throw_errno(err, fmt::format("connect {}", to.to_string()));
    set_nonblocking(fd.get(), false);
    return fd;
}

Address with_port(Address a, std::uint16_t port) {
    if (a.family() == AF_INET) reinterpret_cast<sockaddr_in*>(&a.storage)->sin_port = htons(port);
    else reinterpret_cast<sockaddr_in6*>(&a.storage)->sin6_port = htons(port);
    return a;
}

// "229 Entering Extended Passive Mode (|||6446|)": the port.
static std::optional<std::uint16_t> epsv_port(const std::string& text) {
    auto open = text.find('(');
    if (open == std::string::npos || open + 4 >= text.size()) return std::nullopt;
    char d = text[open + 1];  // the delimiter, usually '|'
    if (text[open + 2] != d || text[open + 3] != d) return std::nullopt;
    unsigned port = 0;
    const char* first = text.data() + open + 4;
    const char* last = text.data() + text.size();
    auto [end, ec] = std::from_chars(first, last, port);
    // end == last: no closing delimiter (*end would read the string's terminating NUL).
    if (ec != std::errc() || end == last || *end != d || port == 0 || port > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(port);
}

// "227 Entering Passive Mode (127,0,0,1,25,46)": the port (p1 * 256 + p2).
// The address is ignored: the data connection goes to the control peer.
static std::optional<std::uint16_t> pasv_port(const std::string& text) {
    auto at = text.find_first_of("0123456789", 4);
    unsigned n[6];
    const char* p = text.data() + (at == std::string::npos ? text.size() : at);
    const char* last = text.data() + text.size();
    for (int i = 0; i < 6; ++i) {
        auto [end, ec] = std::from_chars(p, last, n[i]);
        if (ec != std::errc() || n[i] > 255 || (i < 5 && (end == last || *end != ','))) return std::nullopt;
        p = end + 1;
    }
    unsigned port = n[4] * 256 + n[5];
    if (port == 0) return std::nullopt;
    return static_cast<std::uint16_t>(port);
}

std::optional<std::uint16_t> passive_port(const Reply& r) {
    if (r.code == 229) return epsv_port(r.text);
    if (r.code == 227) return pasv_port(r.text);
    return std::nullopt;
}

Client::Client(Fd control, const Url& url, ClientOptions opt)
    : control_(std::move(control)), opt_(std::move(opt)), peer_(peer_address(control_.fd())), host_(url.host),
      epsv_(opt_.epsv) {}

Client Client::connect(const Url& url, ClientOptions opt) {
    Client c(connect_host(url.host, url.port, opt.timeout), url, opt);
    Reply greeting = c.read_reply();
    while (greeting.code == 120) greeting = c.read_reply();  // "ready in a few minutes"
    if (greeting.kind() != 2) throw FtpError("connect", greeting);
    if (c.opt_.tls) c.auth_tls();
    return c;
}

void Client::auth_tls() {
    Reply r = command("AUTH TLS");
    // --tls is curl's --ssl-reqd: no TLS, no session (never the password in clear).
    if (r.code != 234)
        throw std::runtime_error(fmt::format("the server refused AUTH TLS ({}): --tls never goes on in clear",
                                             r.last_line()));
    // A server that sent more after its 234 spoke in clear where TLS must start.
    if (parser_.buffered() != 0) throw std::runtime_error("bytes after the 234 reply to AUTH TLS, before the TLS handshake");
    control_.start_tls(*opt_.tls, host_, nullptr);
    control_.handshake(opt_.timeout, "the control connection");
}

void Client::protect_data() {
    expect("PBSZ 0", 2);
    expect("PROT P", 2);
    prot_p_ = true;
}

void Client::log_in(const Url& url) {
    Reply user = command("USER " + url.user);
    if (user.kind() == 3) {
        Reply pass = command("PASS " + url.password);
        if (pass.kind() != 2) throw FtpError("PASS (login as " + url.user + ")", pass);
    } else if (user.kind() != 2) {
        throw FtpError("USER " + url.user, user);
    }
    if (tls()) protect_data();
}

Client Client::login(const Url& url, ClientOptions opt) {
    Client c = connect(url, opt);
    c.log_in(url);
    c.expect("TYPE I", 2);
    return c;
}

void Client::send_line(const std::string& line) { send_raw(line + "\r\n"); }

void Client::send_raw(std::string_view rest, int flags) {
    control_.write_all(rest, opt_.timeout, "control connection", "the control connection", flags);
}

Reply Client::read_reply() {
    char buf[4096];
    for (;;) {
        if (auto r = parser_.next()) return *r;
        std::size_t n = control_.read_some(buf, sizeof buf, opt_.timeout, "waiting for the server's reply",
                                           "the control connection");
        if (n == 0) throw std::runtime_error("the server closed the control connection");
        parser_.feed(std::string_view(buf, n));
    }
}

Reply Client::command(const std::string& line) {
    send_line(line);
    return read_reply();
}

Reply Client::expect(const std::string& line, int kind) {
    Reply r = command(line);
    if (r.kind() != kind) throw FtpError(line, r);
    return r;
}

std::optional<std::uint64_t> Client::size(const std::string& path) {
    Reply r = command("SIZE " + path);
    if (r.code == 550) return std::nullopt;
    if (r.code != 213) throw FtpError("SIZE " + path, r);
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(r.text.data() + 4, r.text.data() + r.text.size(), n);
    if (ec != std::errc() || r.text.size() < 5) throw FtpError("SIZE " + path + " (not a number)", r);
    return n;
}

Stream Client::open_data() {
    Reply r;
    if (epsv_) {
        r = command("EPSV");
        // 500/502: the server does not know EPSV. Use PASV from now on.
        if (r.code == 500 || r.code == 502) epsv_ = false;
    }
    if (!epsv_) {
        if (peer_.family() != AF_INET) throw std::runtime_error("the server refuses EPSV, and PASV is IPv4 only");
        r = command("PASV");
    }
    auto port = passive_port(r);
    if (!port) throw FtpError(epsv_ ? "EPSV" : "PASV", r);
    return Stream(connect_within(with_port(peer_, *port), opt_.timeout));
}

void Client::secure_data(Stream& data, bool resume) {
    if (!prot_p_) return;
    // The control connection's session now: under TLS 1.3 its ticket came
    // after the handshake, and has been read with the replies since.
    tls::Session session = resume ? control_.session() : tls::Session();
    data.start_tls(*opt_.tls, host_, session.get());
    data.handshake(opt_.timeout, "the data connection");
}

// The data connection is the server's once it has said 1xx: under PROT P
// the TLS handshake starts then (the server may wait for the command
// before it accepts, and curl waits for the 150 too). A handshake the
// server refuses is explained by its reply on the control connection.
void Client::start_transfer(Stream& data, const std::string& what) {
    if (Reply r = command(what); r.kind() != 1) throw FtpError(what, r);
    try {
        secure_data(data);
    } catch (const std::exception& e) {
        data.reset();
        Reply r;
        try {
            r = read_reply();
        } catch (const std::exception&) {
            throw std::runtime_error(fmt::format("{}: {}", what, e.what()));
        }
        throw std::runtime_error(fmt::format("{}: {}; the server: {}", what, e.what(), r.last_line()));
    }
}

void Client::finish_transfer(const std::string& what) {
    Reply done = read_reply();
    if (done.kind() != 2) throw FtpError(what, done);
}

std::uint64_t Client::retrieve(const std::string& path, std::uint64_t offset,
                               const std::function<void(std::string_view)>& sink) {
    Stream data = open_data();
    if (offset) expect(fmt::format("REST {}", offset), 3);
    const std::string what = "RETR " + path;
    start_transfer(data, what);
    std::uint64_t got = drain(data, opt_.timeout, what, sink);
    data.reset();
    finish_transfer(what);
    return got;
}

std::uint64_t Client::store(const std::string& verb, const std::string& path, std::uint64_t offset,
                            const std::function<std::size_t(char*, std::size_t)>& source) {
    Stream data = open_data();
    if (offset) expect(fmt::format("REST {}", offset), 3);
    const std::string what = verb + " " + path;
    const std::string where = "the data connection of " + what;
    start_transfer(data, what);
    std::vector<char> buf(kBlock);
    std::uint64_t sent = 0;
    while (std::size_t n = source(buf.data(), buf.size())) {
        try {
            data.write_all(std::string_view(buf.data(), n), opt_.timeout, "data connection", where.c_str());
        } catch (...) {
            // The server closed the data connection early: its reply says why.
            data.reset();
            finish_transfer(what);
            throw;
        }
        sent += n;
    }
    // The end of the file is the end of the data connection; under TLS,
    // close_notify first, so the server can tell the end from a cut.
    data.close_notify(opt_.timeout, where.c_str());
    data.reset();
    finish_transfer(what);
    return sent;
}

std::string Client::list(const std::string& verb, const std::string& path) {
    Stream data = open_data();
    const std::string what = path.empty() ? verb : verb + " " + path;
    start_transfer(data, what);
    std::string out;
    drain(data, opt_.timeout, what, [&](std::string_view bytes) { out += bytes; });
    data.reset();
    finish_transfer(what);
    return out;
}

void Client::quit() noexcept {
    try {
        command("QUIT");
    } catch (...) {
        // The session ends with the connection whatever the server says.
    }
    control_.reset();
}

}  // namespace iom::client::ftp
