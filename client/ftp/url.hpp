// ftp:// URLs as ioclient ftp takes them (RFC 1738, section 3.2):
//   ftp://USER:PASS@HOST:PORT/PATH
// USER, PASS and PATH are percent-decoded (a password with '@' or ':' is
// written %40 or %3A); HOST may be a name, an IPv4 literal or [IPv6];
// PORT defaults to 21. Without a user the login is anonymous. PATH is what
// the server is asked for, from the root the user sees ("/" when empty).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace iom::client::ftp {

struct Url {
    std::string user = "anonymous";
    std::string password = "ioclient@";  // anonymous: an e-mail-like password, as RFC 1635 asks
    std::string host;                    // without the brackets of an IPv6 literal
    std::uint16_t port = 21;
    std::string path = "/";
    bool anonymous = true;

    // The last component of the path ("" for "/" or "/dir/").
    std::string basename() const;
    // "ftp://user@host:port/path", never the password: for messages.
    std::string to_string() const;
};

// Parse `text`. Throws std::invalid_argument with one clear line saying what
// is wrong ("not an ftp:// URL", "bad port", "bad percent escape", ...).
// Decoded characters CR, LF and NUL are refused: they would end the command
// that carries them and start another one on the control connection.
Url parse_url(std::string_view text);

// "%41b%2F" -> "Ab/". Throws std::invalid_argument on a bad escape.
std::string percent_decode(std::string_view text);

}  // namespace iom::client::ftp
