#include "common/tls.hpp"

#include <openssl/err.h>

namespace iom::tls {

std::string errors() {
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        char text[256];
        ERR_error_string_n(e, text, sizeof text);
        if (!out.empty()) out += "; ";
        const char* reason = ERR_reason_error_string(e);
        out += reason ? reason : text;
    }
    return out;
}

const char* error_name(int ssl_error) {
    switch (ssl_error) {
    case SSL_ERROR_NONE: return "SSL_ERROR_NONE";
    case SSL_ERROR_SSL: return "SSL_ERROR_SSL";
    case SSL_ERROR_WANT_READ: return "SSL_ERROR_WANT_READ";
    case SSL_ERROR_WANT_WRITE: return "SSL_ERROR_WANT_WRITE";
    case SSL_ERROR_SYSCALL: return "SSL_ERROR_SYSCALL";
    case SSL_ERROR_ZERO_RETURN: return "SSL_ERROR_ZERO_RETURN (close_notify)";
    default: return "SSL_ERROR_(other)";
    }
}

}  // namespace iom::tls
