// Fuzz target client_reply: what ioclient reads from an FTP server's control
// connection: client/ftp/reply's ReplyParser, and passive_port() (client.hpp)
// on every reply, which reads the port of 227 (PASV) and 229 (EPSV).
//
// THE INPUT
//   byte 0   how the stream is split the second time: pieces of 1 to 16
//            bytes from a small generator seeded by it
//   the rest the bytes a server sent
// The stream is parsed twice, in one piece and in pieces; both must give the
// same replies, and fail (std::runtime_error: a line that is no reply, a
// reply past 64 KiB) at the same one. Nothing else may be thrown.
//
// CHECKED: every reply's code is 100-599 and its text starts with that code;
// a multi-line reply ends with "CODE " (or the bare code); last_line() is the text's last line;
// passive_port() gives a port only for 227 or 229, never port 0, and for a
// 229 the port the text names between its delimiters.
#include "fuzz_input.hpp"

#include "client/ftp/client.hpp"
#include "client/ftp/reply.hpp"

#include <charconv>
#include <stdexcept>
#include <string>
#include <vector>

namespace iom::fuzz {
namespace {

using iom::client::ftp::Reply;
using iom::client::ftp::ReplyParser;

struct Parsed {
    std::vector<std::pair<int, std::string>> replies;
    bool failed = false;
    bool operator==(const Parsed&) const = default;
};

void check(const Reply& r) {
    IOM_FUZZ_CHECK(r.code >= 100 && r.code <= 599, "reply code {}", r.code);
    IOM_FUZZ_CHECK(r.text.size() >= 3 && r.text.substr(0, 3) == std::to_string(r.code), "the text does not start with the code");
    std::string last = r.last_line();
    IOM_FUZZ_CHECK(r.text.ends_with(last), "last_line() is not the text's last line");
    if (r.text.size() > 3 && r.text[3] == '-')  // ended by "CODE text", or the bare code (servers send it)
        IOM_FUZZ_CHECK(last == std::to_string(r.code) || last.starts_with(std::to_string(r.code) + " "),
                       "a multi-line reply ended by '{}'", last);

    auto port = iom::client::ftp::passive_port(r);
    if (!port) return;
    IOM_FUZZ_CHECK(r.code == 227 || r.code == 229, "a passive port from a {} reply", r.code);
    IOM_FUZZ_CHECK(*port != 0, "passive port 0");
    if (r.code == 229) {  // "(|||PORT|)" with any delimiter: the digits between the third and fourth
        auto open = r.text.find('(');
        IOM_FUZZ_CHECK(open != std::string::npos && r.text.size() > open + 4, "a 229 port without '('");
        std::size_t end = r.text.find(r.text[open + 1], open + 4);
        IOM_FUZZ_CHECK(end != std::string::npos, "229 port {} without its closing delimiter: '{}'", *port, r.text);
        unsigned named = 0;
        auto [p, ec] = std::from_chars(r.text.data() + open + 4, r.text.data() + end, named);
        IOM_FUZZ_CHECK(ec == std::errc{} && p == r.text.data() + end && named == *port, "229 port {} is not the one in '{}'",
                       *port, r.text);
    }
}

Parsed parse(std::string_view stream, std::uint8_t seed) {
    Parsed out;
    ReplyParser parser;
    Splitter split(seed);
    try {
        while (!stream.empty()) {
            std::size_t n = stream.size();
            if (seed) n = split.next(n);
            parser.feed(stream.substr(0, n));
            stream.remove_prefix(n);
            while (auto r = parser.next()) {  // as the client does after every read
                check(*r);
                out.replies.emplace_back(r->code, r->text);
            }
        }
    } catch (const std::runtime_error&) {
        out.failed = true;
    }
    return out;
}

}  // namespace
}  // namespace iom::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace iom::fuzz;
    Input in(data, size);
    std::uint8_t seed = in.byte() | 1;
    std::string_view stream = in.rest();
    Parsed whole = parse(stream, 0), pieces = parse(stream, seed);
    // A reply too long is found when the bytes waiting pass 64 KiB, which a split may reach a
    // reply earlier or later than one piece does; below that, failures must agree too.
    if (stream.size() <= ReplyParser::kMaxReply || (!whole.failed && !pieces.failed))
        IOM_FUZZ_CHECK(whole == pieces, "the split changed the replies: {} in one piece, {} in pieces",
                       whole.replies.size(), pieces.replies.size());
    return 0;
}
