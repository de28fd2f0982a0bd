#include "client/ftp/url.hpp"

#include <fmt/format.h>

#include <charconv>
#include <optional>
#include <stdexcept>

namespace iom::client::ftp {

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Part of the URL as an error message quotes it: the message is one line whatever the URL
// holds, so control bytes (a CR or LF would start a line of its own) are shown as '?'.
std::string shown(std::string_view text) {
    std::string s(text);
    for (auto& c : s)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
    return s;
}

std::string decoded(std::string_view text, const char* what) {
    std::string out = percent_decode(text);
    if (out.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
        throw std::invalid_argument(fmt::format("the {} holds CR, LF or NUL", what));
    return out;
}

}  // namespace

std::string percent_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out += text[i];
            continue;
        }
        int hi = i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
        int lo = hi >= 0 ? hex_value(text[i + 2]) : -1;
        if (lo < 0) throw std::invalid_argument(fmt::format("bad percent escape '{}'", shown(text.substr(i, 3))));
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return out;
}

Url parse_url(std::string_view text) {
    constexpr std::string_view scheme = "ftp://";
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    bool is_ftp = text.size() >= scheme.size();
    for (std::size_t i = 0; is_ftp && i < scheme.size(); ++i) is_ftp = lower(text[i]) == scheme[i];
    if (!is_ftp && text.size() >= 7 && lower(text[3]) == 's' && text.substr(4, 3) == "://" && lower(text[0]) == 'f' &&
        lower(text[1]) == 't' && lower(text[2]) == 'p')
        throw std::invalid_argument("ftps:// is implicit FTPS (TLS from the first byte, port 990), which ioclient "
                                    "does not speak: give ftp://... with --tls (explicit FTPS: AUTH TLS)");
    if (!is_ftp) throw std::invalid_argument(fmt::format("'{}' is not an ftp:// URL", shown(text)));
    std::string_view rest = text.substr(scheme.size());

    Url url;
    auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    if (slash != std::string_view::npos) url.path = decoded(rest.substr(slash), "path");

    // The user information ends at the last '@': the host part has none.
    if (auto at = authority.rfind('@'); at != std::string_view::npos) {
        std::string_view userinfo = authority.substr(0, at);
        authority = authority.substr(at + 1);
        auto colon = userinfo.find(':');
        url.user = decoded(userinfo.substr(0, colon), "user name");
        url.password = colon == std::string_view::npos ? "" : decoded(userinfo.substr(colon + 1), "password");
        if (url.user.empty()) throw std::invalid_argument("the user name before '@' is empty");
        url.anonymous = url.user == "anonymous" || url.user == "ftp";
    }

    std::optional<std::string_view> port;
    if (!authority.empty() && authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos) throw std::invalid_argument("an IPv6 host lacks its closing ']'");
        url.host = authority.substr(1, close - 1);
        std::string_view after = authority.substr(close + 1);
        if (!after.empty() && after.front() != ':')
            throw std::invalid_argument(fmt::format("unexpected '{}' after the host", shown(after)));
        if (!after.empty()) port = after.substr(1);
    } else {
        auto colon = authority.find(':');
        url.host = authority.substr(0, colon);
        if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    }
    if (url.host.empty()) throw std::invalid_argument(fmt::format("'{}' names no host", shown(text)));
    if (port) {
        unsigned value = 0;
        const char* last = port->data() + port->size();
        auto [end, ec] = std::from_chars(port->data(), last, value);
        if (port->empty() || ec != std::errc() || end != last || value == 0 || value > 65535)
            throw std::invalid_argument(fmt::format("bad port '{}' (1 to 65535)", shown(*port)));
        url.port = static_cast<std::uint16_t>(value);
    }
    return url;
}

std::string Url::basename() const {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string Url::to_string() const {
    std::string host_part = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return fmt::format("ftp://{}{}:{}{}", anonymous ? "" : user + "@", host_part, port, path);
}

}  // namespace iom::client::ftp
