#include "ftp/command.hpp"

#include <cctype>

namespace iom::ftp {

std::string upper(std::string_view s) {
    std::string u(s);
    for (auto& c : u) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return u;
}

Command parse_command(std::string_view line) {
    Command c;
    auto space = line.find(' ');
    c.verb = upper(line.substr(0, space));
    if (space != std::string_view::npos) c.arg = std::string(line.substr(space + 1));
    return c;
}

namespace {
void append_text(std::string& out, std::string_view text) {
    for (char ch : text) out.push_back(ch == '\r' || ch == '\n' ? ' ' : ch);
}
}  // namespace

void reply(std::string& out, int code, std::string_view text) {
    out += std::to_string(code);
    out += ' ';
    append_text(out, text);
    out += "\r\n";
}

void reply_multi(std::string& out, int code, std::string_view first, const std::vector<std::string>& lines,
                 std::string_view last) {
    out += std::to_string(code);
    out += '-';
    append_text(out, first);
    out += "\r\n";
    for (const auto& line : lines) {
        out += ' ';
        append_text(out, line);
        out += "\r\n";
    }
    reply(out, code, last);
}

std::string quote_path(std::string_view path) {
    std::string q = "\"";
    for (char ch : path) {
        q.push_back(ch);
        if (ch == '"') q.push_back('"');
    }
    q.push_back('"');
    return q;
}

}  // namespace iom::ftp
