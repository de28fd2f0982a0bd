#include "client/ftp/check_support.hpp"

#include "client/lib/connection.hpp"
#include "common/error.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

namespace iom::client::ftp {

ClientOptions client_options(const CheckOptions& o) { return {o.timeout, true, o.tls}; }

Client session(const CheckOptions& o) {
    Client c = Client::login(o.url, client_options(o));
    if (o.url.path != "/" && !o.url.path.empty()) c.expect("CWD " + o.url.path, 2);
    return c;
}

Scratch::~Scratch() {
    if (names_.empty()) return;
    try {
        Client c = session(opt_);
        for (const auto& n : names_) c.command("DELE " + n);
        c.quit();
    } catch (...) {
        // A server that broke during the case: nothing more to do.
    }
}

std::string Scratch::name(const std::string& tag) {
    names_.push_back(fmt::format("iomcheck-{}-{}", ::getpid(), tag));
    return names_.back();
}

void put(Client& c, const std::string& name, const std::string& bytes, const std::string& verb, std::uint64_t offset) {
    std::size_t at = 0;
    c.store(verb, name, offset, [&](char* buf, std::size_t n) {
        n = std::min(n, bytes.size() - at);
        std::copy_n(bytes.data() + at, n, buf);
        at += n;
        return n;
    });
}

std::string get(Client& c, const std::string& name, std::uint64_t offset) {
    std::string out;
    c.retrieve(name, offset, [&](std::string_view b) { out += b; });
    return out;
}

std::string describe(const std::string& want, const std::string& got) {
    std::size_t i = 0;
    while (i < want.size() && i < got.size() && want[i] == got[i]) ++i;
    return fmt::format("expected {} bytes, got {}; they differ from byte {}", want.size(), got.size(), i);
}

std::uint16_t passive(Client& c) {
    Reply r = c.command("EPSV");
    if (r.code == 500 || r.code == 502) r = c.command("PASV");
    auto port = passive_port(r);
    if (!port) throw FtpError("EPSV/PASV", r);
    return *port;
}

Fd dial(const Address& to, const Address* from, int rcvbuf, milliseconds timeout) {
    Fd fd(::socket(to.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw_sys("socket");
    if (rcvbuf > 0) ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (from && ::bind(fd.get(), from->sa(), from->len) < 0) throw_sys("bind {}", from->to_string());
    timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(fd.get(), to.sa(), to.len) < 0) throw_sys("connect {}", to.to_string());
    return fd;
}

std::optional<std::string> read_all(Stream& data, milliseconds timeout, std::size_t limit) {
    std::string out;
    char buf[65536];
    try {
        while (out.size() < limit) {
            if (!data.pending()) {  // bytes inside OpenSSL raise no POLLIN
                pollfd p{data.fd(), POLLIN, 0};
                int rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
                if (rc == 0) return std::nullopt;
                if (rc < 0 && errno == EINTR) continue;
            }
            Io io = data.read_step(buf, std::min(sizeof buf, limit - out.size()), "the data connection");
            if (io.status == Io::eof) break;
            out.append(buf, io.n);
        }
    } catch (const std::system_error&) {
        // A reset: the end too.
    }
    return out;
}

Reply transfer(Client& c, Stream& data, const std::string& command, std::string* bytes, milliseconds timeout) {
    Reply r = c.command(command);
    if (r.kind() != 1) return r;
    c.secure_data(data);
    auto got = read_all(data, timeout);
    if (!got) throw std::runtime_error(command + ": the data connection stayed silent");
    if (bytes) *bytes = *got;
    return c.read_reply();
}

bool send_data(Stream& data, std::string_view bytes, milliseconds timeout) {
    try {
        data.write_all(bytes, timeout, "data connection", "the data connection");
        return true;
    } catch (const std::system_error& e) {
        errno = e.code().value();
        return false;
    } catch (const std::exception&) {
        errno = ECONNRESET;
        return false;
    }
}

void end_upload(Stream& data, milliseconds timeout) {
    data.close_notify(timeout, "the data connection");
    data.reset();
}

std::vector<int> replies_until_noop(Client& c) {
    std::vector<int> codes;
    c.send_raw("NOOP\r\n");
    for (Reply r = c.read_reply(); r.code != 200; r = c.read_reply()) {
        codes.push_back(r.code);
        if (codes.size() > 4) throw std::runtime_error(fmt::format("replies {} and no end", fmt::join(codes, " ")));
    }
    return codes;
}

std::string content(std::size_t n, std::uint64_t seed) { return random_bytes(n, seed); }

bool connection_waiting(int listener, milliseconds wait) {
    pollfd p{listener, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(wait.count())) > 0;
}

std::string ipv4_of(const Address& a) {
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&a.storage)->sin_addr, text, sizeof text);
    return text;
}

std::string port_argument(const std::string& ip, std::uint16_t port) {
    std::string h = ip;
    std::replace(h.begin(), h.end(), '.', ',');
    return fmt::format("{},{},{}", h, port >> 8, port & 0xff);
}

}  // namespace iom::client::ftp
