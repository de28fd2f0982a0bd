// OpenSSL, the little that both ends of FTPS share (the servers' TLS is in
// ftp/tls.hpp, the client's in client/ftp/): owning handles, and OpenSSL's
// errors as one line of text.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>

namespace iom::tls {

struct ContextFree {
    void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
struct SslFree {
    void operator()(SSL* s) const noexcept { SSL_free(s); }
};
struct SessionFree {
    void operator()(SSL_SESSION* s) const noexcept { SSL_SESSION_free(s); }
};
using Context = std::unique_ptr<SSL_CTX, ContextFree>;
using Ssl = std::unique_ptr<SSL, SslFree>;
using Session = std::unique_ptr<SSL_SESSION, SessionFree>;

// OpenSSL's error queue of this thread, emptied, as one line: the reasons
// joined by "; " ("" when the queue is empty). Call it right after a
// failed call, and clear the queue (this does) before the next one:
// SSL_get_error reads the queue too.
std::string errors();

// The name of an SSL_get_error() value: "SSL_ERROR_WANT_READ", ... (--trace).
const char* error_name(int ssl_error);

}  // namespace iom::tls
