// The data connection's addresses: PORT/EPRT parsed, PASV/EPSV replies made,
// and the RFC 2577 rule that keeps the server from being a bounce relay.
//
// PORT and EPRT tell the server where to connect. Obeyed blindly, they make
// the server connect anywhere the client names: a port scanner and a relay
// for someone else's traffic (the "bounce attack", RFC 2577). The rule here:
// the address must be the control connection's own peer and the port >= 1024.
// An IPv4 address and its IPv4-mapped IPv6 form (::ffff:a.b.c.d, what a
// dual-stack listener sees) are the same host.
//
// No socket is opened here: the server connects or listens.
#pragma once

#include "common/net.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace iom::ftp {

// "h1,h2,h3,h4,p1,p2" (RFC 959 PORT) -> an IPv4 address.
std::optional<Address> parse_port_arg(std::string_view arg);
// "|1|132.235.1.2|6275|" or "|2|::1|5282|" (RFC 2428 EPRT; any delimiter).
// `family_supported` is set to false for a network protocol other than 1 or 2.
std::optional<Address> parse_eprt_arg(std::string_view arg, bool& family_supported);

enum class ActiveCheck { ok, foreign_address, privileged_port };
// May the server connect to `target` for a client whose control connection
// comes from `control_peer`?
ActiveCheck check_active_target(const Address& target, const Address& control_peer);

// Same host, ignoring the port; IPv4 equals its IPv4-mapped IPv6 form.
bool same_host(const Address& a, const Address& b);

// The host part of `a` as raw bytes (4 for IPv4 and IPv4-mapped, 16 for
// IPv6): a key for counting sessions per client address.
std::string host_key(const Address& a);

// The RFC 2428 network protocol of an address: 1 for IPv4 (or IPv4-mapped), 2 for IPv6.
int net_protocol(const Address& a);

// "Entering Passive Mode (h1,h2,h3,h4,p1,p2)." for a 227 reply; nullopt when
// `local` has no IPv4 form (PASV cannot describe an IPv6 address: use EPSV).
std::optional<std::string> pasv_text(const Address& local, std::uint16_t port);
// "Entering Extended Passive Mode (|||port|)." for a 229 reply.
std::string epsv_text(std::uint16_t port);

}  // namespace iom::ftp
