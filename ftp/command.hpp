// Commands in, replies out: the two text formats of the control connection.
//
// A command line is a verb (case-insensitive, "retr" is RETR) and, after one
// space, an argument taken exactly as sent (a file name may start with or
// contain spaces). A reply is RFC 959 §4.2: "CODE text" CRLF, or for several
// lines "CODE-first", lines, "CODE last". Reply text never carries a CR or LF
// (a file name made on the server's side could hold one: it is replaced), so
// a client cannot be fed a forged reply line.
//
// It knows no command's meaning (session.cpp does) and reads no socket.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace iom::ftp {

struct Command {
    std::string verb;  // upper-cased
    std::string arg;   // after the first space, as sent; may be empty
};

Command parse_command(std::string_view line);

// `s` in upper case (ASCII): verbs, and arguments compared without case (TYPE a, PROT p).
std::string upper(std::string_view s);

// Append "CODE text\r\n" to `out`.
void reply(std::string& out, int code, std::string_view text);
// Append a multi-line reply: "CODE-first", each of `lines` (each prefixed
// with one space, as RFC 959 asks for lines that could start with digits),
// then "CODE last".
void reply_multi(std::string& out, int code, std::string_view first, const std::vector<std::string>& lines,
                 std::string_view last);

// A path in a 257 reply: inside double quotes, with every quote doubled
// (RFC 959 appendix II): /a"b is "/a""b".
std::string quote_path(std::string_view path);

}  // namespace iom::ftp
