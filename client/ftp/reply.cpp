#include "client/ftp/reply.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace iom::client::ftp {

namespace {

// The code of a line "NNN..." or -1. `sep` gets the fourth character.
int code_of(std::string_view line, char* sep) {
    if (line.size() < 3) return -1;
    for (int i = 0; i < 3; ++i)
        if (line[i] < '0' || line[i] > '9') return -1;
    *sep = line.size() > 3 ? line[3] : ' ';
    return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

std::string_view strip_cr(std::string_view line) {
    return !line.empty() && line.back() == '\r' ? line.substr(0, line.size() - 1) : line;
}

}  // namespace

std::string Reply::last_line() const {
    auto nl = text.rfind('\n');
    return nl == std::string::npos ? text : text.substr(nl + 1);
}

std::optional<Reply> ReplyParser::next() {
    std::string_view all = buffer_;
    auto first_end = all.find('\n');
    if (first_end == std::string_view::npos) {
        if (all.size() > kMaxReply) throw std::runtime_error("the server sent a reply line longer than 64 KiB");
        return std::nullopt;
    }
    std::string_view first = strip_cr(all.substr(0, first_end));
    char sep = 0;
    int code = code_of(first, &sep);
    if (code < 100 || code > 599 || (sep != ' ' && sep != '-'))
        throw std::runtime_error(fmt::format("the server sent a line that is not an FTP reply: '{}'", first));

    Reply reply{code, std::string(first)};
    std::size_t end = first_end + 1;
    if (sep == '-') {
        // Read lines until "NNN " with the same code.
        while (true) {
            auto nl = all.find('\n', end);
            if (nl == std::string_view::npos) {
                if (all.size() > kMaxReply) throw std::runtime_error("the server sent a reply longer than 64 KiB");
                return std::nullopt;
            }
            std::string_view line = strip_cr(all.substr(end, nl - end));
            reply.text += '\n';
            reply.text += line;
            end = nl + 1;
            char s = 0;
            if (code_of(line, &s) == code && s == ' ') break;
        }
    }
    buffer_.erase(0, end);
    return reply;
}

}  // namespace iom::client::ftp
