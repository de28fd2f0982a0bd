// TYPE A (ASCII) line-end conversion, in the shape both servers need: a
// buffer in, a buffer out, no allocation, state carried across chunks.
//
// RFC 959 §3.1.1.1: in TYPE A the bytes on the data connection use CRLF line
// ends, whatever the host uses. Files here end lines in LF, so:
//   out (RETR, listings are already CRLF):  LF -> CRLF. A CRLF already in the
//        file stays CRLF (no CR CR LF), as vsftpd does.
//   in  (STOR/APPE):  CRLF -> LF; a CR not followed by LF is kept.
// A chunk may end between the CR and the LF: the decoder holds that CR until
// it sees the next byte (or finish() at the end of the data).
//
// TYPE I (image) moves bytes unchanged and needs none of this; the sendfile
// path is only possible in TYPE I for that reason.
#pragma once

#include <cstddef>

namespace iom::ftp {

class AsciiEncoder {
public:
    // Convert `n` bytes of `in` into `out`, which must hold 2 * n bytes.
    // Returns the bytes written.
    std::size_t convert(const char* in, std::size_t n, char* out);

private:
    bool last_was_cr_ = false;
};

class AsciiDecoder {
public:
    // Convert `n` bytes of `in` into `out`, which must hold n + 1 bytes (a CR
    // held from the previous chunk may come out first). Returns the bytes written.
    std::size_t convert(const char* in, std::size_t n, char* out);
    // At the end of the data: the CR still held, if any (`out` holds 1 byte).
    std::size_t finish(char* out);

private:
    bool held_cr_ = false;
};

}  // namespace iom::ftp
