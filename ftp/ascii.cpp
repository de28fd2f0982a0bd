#include "ftp/ascii.hpp"

namespace iom::ftp {

std::size_t AsciiEncoder::convert(const char* in, std::size_t n, char* out) {
    std::size_t w = 0;
    for (std::size_t i = 0; i < n; ++i) {
        char c = in[i];
        if (c == '\n' && !last_was_cr_) out[w++] = '\r';
        out[w++] = c;
        last_was_cr_ = c == '\r';
    }
    return w;
}

std::size_t AsciiDecoder::convert(const char* in, std::size_t n, char* out) {
    std::size_t w = 0;
    for (std::size_t i = 0; i < n; ++i) {
        char c = in[i];
        if (held_cr_) {
            held_cr_ = false;
            if (c != '\n') out[w++] = '\r';  // a lone CR is data
        }
        if (c == '\r') {
            held_cr_ = true;  // wait for the next byte: CRLF or a lone CR?
            continue;
        }
        out[w++] = c;
    }
    return w;
}

std::size_t AsciiDecoder::finish(char* out) {
    if (!held_cr_) return 0;
    held_cr_ = false;
    out[0] = '\r';
    return 1;
}

}  // namespace iom::ftp
