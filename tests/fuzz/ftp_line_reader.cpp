// Fuzz target ftp_line_reader: the control connection's text, as the server
// reads and writes it: ftp/line_reader (Telnet, CRLF, the line limit),
// ftp/command's parse_command, and the replies made from what was read.
//
// THE INPUT
//   byte 0   the line limit: 1 + byte when below 128, else 4096 (the default)
//   byte 1   how the stream is split the second time (see below)
//   the rest the bytes of the control connection
// The stream is read twice: in one piece, and in pieces of 1 to 16 bytes
// (a small generator seeded by byte 1). Any split of a TCP stream is legal,
// so both must give the same lines, in the same order.
//
// CHECKED: the same events whatever the split; no line holds an LF or passes
// the limit; pending() never passes the limit (a client that sends no line
// end costs at most max_line bytes); parse_command gives an upper-case verb
// without a space and the argument exactly as sent; a reply or multi-line
// reply made from the line is whole RFC 959 lines, CRLF-ended, with no CR or
// LF inside; quote_path's quoting undoes to the line.
#include "fuzz_input.hpp"

#include "ftp/command.hpp"
#include "ftp/line_reader.hpp"

#include <cctype>
#include <string>
#include <utility>
#include <vector>

namespace iom::fuzz {
namespace {

using ftp::LineReader;
using Event = std::pair<LineReader::Event, std::string>;

std::vector<Event> read_all(std::size_t max_line, std::string_view stream, std::uint8_t split_seed) {
    LineReader reader(max_line);
    std::vector<Event> events;
    Splitter split(split_seed);
    while (!stream.empty()) {
        std::size_t n = stream.size();
        if (split_seed) n = split.next(n);
        std::string_view piece = stream.substr(0, n);
        stream.remove_prefix(n);
        while (!piece.empty()) {
            auto e = reader.feed(piece);
            IOM_FUZZ_CHECK(reader.pending() <= max_line, "the reader holds {} bytes, limit {}", reader.pending(), max_line);
            if (e == LineReader::Event::none) break;
            events.emplace_back(e, e == LineReader::Event::line ? reader.line() : std::string());
        }
    }
    return events;
}

void check_line(const std::string& line, std::size_t max_line) {
    IOM_FUZZ_CHECK(line.find('\n') == std::string::npos, "a line holds an LF");
    IOM_FUZZ_CHECK(line.size() <= max_line, "a line of {} bytes passed the limit {}", line.size(), max_line);

    ftp::Command c = ftp::parse_command(line);
    IOM_FUZZ_CHECK(c.verb.find(' ') == std::string::npos, "a verb with a space");
    for (std::size_t i = 0; i < c.verb.size(); ++i)
        IOM_FUZZ_CHECK(std::toupper(static_cast<unsigned char>(line[i])) == static_cast<unsigned char>(c.verb[i]),
                       "the verb is not the line's first word upper-cased");
    if (c.verb.size() < line.size())
        IOM_FUZZ_CHECK(line[c.verb.size()] == ' ' && c.arg == line.substr(c.verb.size() + 1),
                       "the argument is not what followed the first space");
    else
        IOM_FUZZ_CHECK(c.arg.empty(), "an argument from a line without a space");

    // Replies quoting what a client sent: never a forged line.
    std::string out;
    ftp::reply(out, 550, line);
    IOM_FUZZ_CHECK(out.starts_with("550 ") && out.ends_with("\r\n") && out.find_first_of("\r\n") == out.size() - 2,
                   "reply() made more than one line");
    out.clear();
    ftp::reply_multi(out, 211, line, {line, c.arg}, line);
    std::size_t lines = 0, start = 0;
    for (auto end = out.find("\r\n"); end != std::string::npos; end = out.find("\r\n", start)) {
        std::string_view l(out.data() + start, end - start);
        IOM_FUZZ_CHECK(l.find_first_of("\r\n") == std::string_view::npos, "a CR or LF inside a reply line");
        const char* prefix = lines == 0 ? "211-" : lines == 3 ? "211 " : " ";
        IOM_FUZZ_CHECK(l.starts_with(prefix), "line {} of a multi-line reply does not start with '{}'", lines, prefix);
        ++lines;
        start = end + 2;
    }
    IOM_FUZZ_CHECK(lines == 4 && start == out.size(), "reply_multi made {} lines, not 4", lines);

    std::string q = ftp::quote_path(line), unquoted;
    IOM_FUZZ_CHECK(q.size() >= 2 && q.front() == '"' && q.back() == '"', "quote_path without its quotes");
    for (std::size_t i = 1; i + 1 < q.size(); ++i) {
        unquoted += q[i];
        if (q[i] == '"') {
            IOM_FUZZ_CHECK(q[i + 1] == '"', "a quote inside quote_path's output is not doubled");
            ++i;
        }
    }
    IOM_FUZZ_CHECK(unquoted == line, "quote_path does not undo to the path");
}

}  // namespace
}  // namespace iom::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace iom::fuzz;
    Input in(data, size);
    std::uint8_t limit = in.byte();
    std::size_t max_line = limit < 128 ? limit + 1u : 4096u;
    std::uint8_t seed = in.byte() | 1;  // never 0: 0 means "in one piece"
    std::string_view stream = in.rest();
    auto whole = read_all(max_line, stream, 0);
    auto pieces = read_all(max_line, stream, seed);
    IOM_FUZZ_CHECK(whole == pieces, "the split changed what was read: {} events in one piece, {} in pieces",
                   whole.size(), pieces.size());
    for (const auto& [event, line] : whole)
        if (event == iom::ftp::LineReader::Event::line) check_line(line, max_line);
    return 0;
}
