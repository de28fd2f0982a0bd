// FTP replies (RFC 959, section 4.2): a three-digit code and text. A reply
// is one line "226 Done.\r\n", or several: the first line's code is
// followed by '-', and the reply ends at the first later line that starts
// with the same code and a space:
//   211-Features:\r\n EPSV\r\n MLST size*;modify*;\r\n211 End\r\n
// The lines between may start with anything, digits included.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace iom::client::ftp {

struct Reply {
    int code = 0;
    std::string text;  // every line of the reply, codes included, joined by '\n' (no CR/LF at the end)

    // The first digit: 1 preliminary (more replies follow), 2 done, 3 send
    // the next command of the sequence, 4 failed this time, 5 failed.
    int kind() const { return code / 100; }
    // The last line, "226 Transfer complete.": what error messages quote.
    std::string last_line() const;
};

// Replies out of the bytes of a control connection, however they were split.
class ReplyParser {
public:
    // The longest reply accepted: a server that sends more without ending
    // its reply is broken or hostile.
    static constexpr std::size_t kMaxReply = 64 * 1024;

    void feed(std::string_view bytes) { buffer_.append(bytes); }
    // The next complete reply, or nullopt until more bytes arrive. Throws
    // std::runtime_error on a line that is not a reply, or a reply too long.
    std::optional<Reply> next();
    // Bytes fed and not yet part of a reply.
    std::size_t buffered() const { return buffer_.size(); }

private:
    std::string buffer_;
};

}  // namespace iom::client::ftp
