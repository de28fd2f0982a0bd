// The control connection's line reader: bytes in, command lines out.
//
// FTP's control connection is a Telnet connection (RFC 959 §4): lines end in
// CRLF (a bare LF is accepted, as every real server does), and Telnet
// commands may appear in the stream: IAC IP and IAC DM precede an urgent ABOR
// (lftp sends exactly that), IAC IAC stands for one 0xFF byte, and option
// negotiation (IAC WILL/WONT/DO/DONT x) is dropped: we negotiate nothing.
//
// Memory is bounded whatever the client sends: a line of more than
// `max_line` bytes before its LF (the CR counts) is reported once as
// `too_long` and the rest of it is discarded up to the next LF, so a client
// that never sends a line end costs at most `max_line` bytes.
//
// It does not interpret commands (parser.hpp does) and reads no socket.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace iom::ftp {

class LineReader {
public:
    explicit LineReader(std::size_t max_line) : max_line_(max_line) {}

    // What feed() found: a whole line, a line that was too long (its bytes
    // are dropped), or nothing yet.
    enum class Event { none, line, too_long };

    // Consume bytes from `in` until one line is complete (or all of `in` is
    // used). Removes what it consumed from the front of `in`. After
    // Event::line, line() holds the line without its end.
    Event feed(std::string_view& in);

    const std::string& line() const { return line_; }
    // Bytes held for a line not complete yet (the memory this reader costs).
    std::size_t pending() const { return partial_.size(); }

private:
    enum class Telnet { data, iac, option };  // where we are in a Telnet sequence
    std::size_t max_line_;
    std::string partial_;
    std::string line_;
    Telnet telnet_ = Telnet::data;
    bool discarding_ = false;  // inside a line already reported as too long
};

}  // namespace iom::ftp
