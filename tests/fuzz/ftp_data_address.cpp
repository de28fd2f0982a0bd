// Fuzz target ftp_data_address: the data connection's addresses, both ends.
// The server's side (ftp/data_address): PORT and EPRT arguments from the
// client, the RFC 2577 rule on where the server may connect, and the 227/229
// replies it makes; the client's side (client/ftp/client.hpp passive_port):
// reading those replies back.
//
// THE INPUT
//   byte 0   the control connection's peer: one of 127.0.0.1, ::1,
//            ::ffff:127.0.0.1, 10.0.0.5, fe80::1 (byte % 5)
//   byte 1-2 a port for the 227/229 replies (big-endian)
//   the rest the argument of PORT, and of EPRT
//
// CHECKED: a parsed PORT is IPv4 and prints back to six numbers that parse
// to the same address; a parsed EPRT is IPv4 for "1" and IPv6 for "2", and
// an unsupported protocol parses to nothing; check_active_target says ok
// exactly when the target is the peer's own host (IPv4 and its mapped form
// alike, compared here independently) and the port >= 1024; same_host and
// host_key agree and are symmetric; the server's 227 and 229 replies give
// the client back the port they name (port 0 aside, which the client refuses).
#include "fuzz_input.hpp"

#include "client/ftp/client.hpp"
#include "ftp/command.hpp"
#include "ftp/data_address.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <string>

namespace iom::fuzz {
namespace {

using namespace iom::ftp;

std::string host_text(const Address& a) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (a.family() == AF_INET) inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&a.storage)->sin_addr, buf, sizeof buf);
    else inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&a.storage)->sin6_addr, buf, sizeof buf);
    return buf;
}

bool same(const Address& a, const Address& b) {
    return a.family() == b.family() && a.port() == b.port() && host16(a) == host16(b);
}

void check_target(const Address& target, const Address& peer) {
    bool same_host_here = host16(target) == host16(peer);
    IOM_FUZZ_CHECK(same_host(target, peer) == same_host_here && same_host(peer, target) == same_host_here,
                   "same_host({}, {}) is {}", target.to_string(), peer.to_string(), !same_host_here);
    IOM_FUZZ_CHECK((host_key(target) == host_key(peer)) == same_host_here, "host_key disagrees with same_host");
    ActiveCheck c = check_active_target(target, peer);
    ActiveCheck expected = !same_host_here ? ActiveCheck::foreign_address
                         : target.port() < 1024 ? ActiveCheck::privileged_port : ActiveCheck::ok;
    IOM_FUZZ_CHECK(c == expected, "check_active_target({}, {}) = {}, not {}", target.to_string(), peer.to_string(),
                   static_cast<int>(c), static_cast<int>(expected));
    auto h = host16(target);
    bool v4 = std::all_of(h.begin(), h.begin() + 10, [](unsigned char b) { return b == 0; }) && h[10] == 0xff && h[11] == 0xff;
    IOM_FUZZ_CHECK(net_protocol(target) == (v4 ? 1 : 2), "net_protocol of {}", target.to_string());
}

// What the client reads back from a reply the server made.
std::optional<std::uint16_t> client_reads(int code, const std::string& text) {
    std::string line;
    ftp::reply(line, code, text);
    line.resize(line.size() - 2);  // the parser hands the text over without its CRLF
    return iom::client::ftp::passive_port({code, line});
}

}  // namespace
}  // namespace iom::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace iom::fuzz;
    using namespace iom::ftp;
    Input in(data, size);
    static const char* const peers[] = {"127.0.0.1", "::1", "::ffff:127.0.0.1", "10.0.0.5", "fe80::1"};
    const iom::Address peer = iom::parse_address(peers[in.byte() % 5], 50000);
    const std::uint16_t port = in.u16();
    const std::string_view arg = in.rest();

    if (auto a = parse_port_arg(arg)) {
        IOM_FUZZ_CHECK(a->family() == AF_INET && a->len == sizeof(sockaddr_in), "PORT gave a non-IPv4 address");
        std::uint32_t h = ntohl(reinterpret_cast<const sockaddr_in*>(&a->storage)->sin_addr.s_addr);
        std::string again = fmt::format("{},{},{},{},{},{}", h >> 24, (h >> 16) & 255, (h >> 8) & 255, h & 255,
                                        a->port() >> 8, a->port() & 255);
        auto b = parse_port_arg(again);
        IOM_FUZZ_CHECK(b && same(*a, *b), "PORT {} does not parse back", again);
        check_target(*a, peer);
    }
    bool supported = true;
    auto e = parse_eprt_arg(arg, supported);
    if (!supported) IOM_FUZZ_CHECK(!e, "EPRT with an unsupported protocol gave an address");
    if (e) {
        IOM_FUZZ_CHECK((e->family() == AF_INET && e->len == sizeof(sockaddr_in)) ||
                           (e->family() == AF_INET6 && e->len == sizeof(sockaddr_in6)),
                       "EPRT gave family {} length {}", e->family(), e->len);
        std::string again = fmt::format("|{}|{}|{}|", e->family() == AF_INET ? 1 : 2, host_text(*e), e->port());
        bool again_supported = true;
        auto b = parse_eprt_arg(again, again_supported);
        IOM_FUZZ_CHECK(b && same(*e, *b), "EPRT {} does not parse back", again);
        check_target(*e, peer);
    }

    // The server's passive replies, read by the client.
    if (auto text = pasv_text(peer, port)) {
        auto got = client_reads(227, *text);
        IOM_FUZZ_CHECK(port == 0 ? !got : got == port, "227 '{}' read back as port {}", *text, got.value_or(0));
    } else {
        IOM_FUZZ_CHECK(net_protocol(peer) == 2, "no PASV text for IPv4 address {}", peer.to_string());
    }
    auto got = client_reads(229, epsv_text(port));
    IOM_FUZZ_CHECK(port == 0 ? !got : got == port, "229 for port {} read back as {}", port, got.value_or(0));
    return 0;
}
