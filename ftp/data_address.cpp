#include "ftp/data_address.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <charconv>
#include <cstring>
#include <vector>

namespace iom::ftp {

namespace {

bool parse_uint(std::string_view s, unsigned max, unsigned& v) {
    if (s.empty() || s.size() > 5) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc{} && p == s.data() + s.size() && v <= max;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> parts;
    for (;;) {
        auto at = s.find(sep);
        parts.push_back(s.substr(0, at));
        if (at == std::string_view::npos) return parts;
        s.remove_prefix(at + 1);
    }
}

Address ipv4(in_addr addr, std::uint16_t port) {
    Address a;
    auto* sin = reinterpret_cast<sockaddr_in*>(&a.storage);
    sin->sin_family = AF_INET;
    sin->sin_addr = addr;
    sin->sin_port = htons(port);
    a.len = sizeof(sockaddr_in);
    return a;
}

// The IPv4 address of `a`, if it is IPv4 or IPv4-mapped IPv6.
std::optional<in_addr> ipv4_of(const Address& a) {
    if (a.family() == AF_INET) return reinterpret_cast<const sockaddr_in*>(&a.storage)->sin_addr;
    if (a.family() == AF_INET6) {
        const auto& sin6 = *reinterpret_cast<const sockaddr_in6*>(&a.storage);
        if (IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr)) {
            in_addr v4;
            std::memcpy(&v4, &sin6.sin6_addr.s6_addr[12], 4);
            return v4;
        }
    }
    return std::nullopt;
}

}  // namespace

std::optional<Address> parse_port_arg(std::string_view arg) {
    auto parts = split(arg, ',');
    if (parts.size() != 6) return std::nullopt;
    unsigned v[6];
    for (int i = 0; i < 6; ++i)
        if (!parse_uint(parts[i], 255, v[i])) return std::nullopt;
    in_addr addr;
    addr.s_addr = htonl(v[0] << 24 | v[1] << 16 | v[2] << 8 | v[3]);
    return ipv4(addr, static_cast<std::uint16_t>(v[4] << 8 | v[5]));
}

std::optional<Address> parse_eprt_arg(std::string_view arg, bool& family_supported) {
    family_supported = true;
    if (arg.size() < 2 || arg.front() < 33 || arg.front() > 126) return std::nullopt;
    auto parts = split(arg, arg.front());  // "", proto, address, port, ""
    if (parts.size() != 5 || !parts[0].empty() || !parts[4].empty()) return std::nullopt;
    unsigned port = 0;
    if (!parse_uint(parts[3], 65535, port)) return std::nullopt;
    std::string host(parts[2]);
    if (parts[1] == "1") {
        in_addr addr;
        if (inet_pton(AF_INET, host.c_str(), &addr) != 1) return std::nullopt;
        return ipv4(addr, static_cast<std::uint16_t>(port));
    }
    if (parts[1] == "2") {
        Address a;
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
        if (inet_pton(AF_INET6, host.c_str(), &sin6->sin6_addr) != 1) return std::nullopt;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(static_cast<std::uint16_t>(port));
        a.len = sizeof(sockaddr_in6);
        return a;
    }
    family_supported = false;
    return std::nullopt;
}

bool same_host(const Address& a, const Address& b) {
    auto a4 = ipv4_of(a), b4 = ipv4_of(b);
    if (a4 || b4) return a4 && b4 && a4->s_addr == b4->s_addr;
    if (a.family() != AF_INET6 || b.family() != AF_INET6) return false;
    const auto& x = reinterpret_cast<const sockaddr_in6*>(&a.storage)->sin6_addr;
    const auto& y = reinterpret_cast<const sockaddr_in6*>(&b.storage)->sin6_addr;
    return std::memcmp(&x, &y, sizeof x) == 0;
}

ActiveCheck check_active_target(const Address& target, const Address& control_peer) {
    if (!same_host(target, control_peer)) return ActiveCheck::foreign_address;
    if (target.port() < 1024) return ActiveCheck::privileged_port;
    return ActiveCheck::ok;
}

std::string host_key(const Address& a) {
    if (auto v4 = ipv4_of(a)) return std::string(reinterpret_cast<const char*>(&v4->s_addr), 4);
    if (a.family() != AF_INET6) return {};
    const auto& v6 = reinterpret_cast<const sockaddr_in6*>(&a.storage)->sin6_addr;
    return std::string(reinterpret_cast<const char*>(&v6), sizeof v6);
}

int net_protocol(const Address& a) { return ipv4_of(a) ? 1 : 2; }

std::optional<std::string> pasv_text(const Address& local, std::uint16_t port) {
    auto v4 = ipv4_of(local);
    if (!v4) return std::nullopt;
    std::uint32_t h = ntohl(v4->s_addr);
    return fmt::format("Entering Passive Mode ({},{},{},{},{},{}).", h >> 24, (h >> 16) & 255, (h >> 8) & 255, h & 255,
                       port >> 8, port & 255);
}

std::string epsv_text(std::uint16_t port) { return fmt::format("Entering Extended Passive Mode (|||{}|).", port); }

}  // namespace iom::ftp
