// What the cases of ioclient ftp check (check.cpp, and the TLS cases of
// check_tls.cpp) share: sessions logged in as the check's options say
// (over TLS with --tls), scratch files deleted after each case, whole
// transfers, and data connections handled by hand, clear or TLS.
#pragma once

#include "client/ftp/check.hpp"
#include "client/ftp/client.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace iom::client::ftp {

using std::chrono::milliseconds;

ClientOptions client_options(const CheckOptions& o);

// A session logged in (over TLS, PROT P, with --tls), binary, in the URL's directory.
Client session(const CheckOptions& o);

// The files a case makes, deleted by a session of their own when the case
// ends, passed, failed or thrown (a session in the middle of a transfer
// cannot be trusted to).
class Scratch {
public:
    explicit Scratch(const CheckOptions& o) : opt_(o) {}
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    ~Scratch();
    // A fresh name, "iomcheck-PID-TAG", to be deleted at the end.
    std::string name(const std::string& tag);

private:
    const CheckOptions& opt_;
    std::vector<std::string> names_;
};

void put(Client& c, const std::string& name, const std::string& bytes, const std::string& verb = "STOR",
         std::uint64_t offset = 0);
std::string get(Client& c, const std::string& name, std::uint64_t offset = 0);
// "expected N bytes, got M; they differ from byte K"
std::string describe(const std::string& want, const std::string& got);
// A test file of `n` bytes, the same every run for one seed.
std::string content(std::size_t n, std::uint64_t seed);

// The passive port the server announces, with EPSV or (refused) PASV.
std::uint16_t passive(Client& c);

// A TCP connection to `to`, from `from` when given (127.0.0.2: a stranger),
// with a small receive buffer when `rcvbuf` > 0 (so a transfer not read
// stalls in the server, not in our kernel).
Fd dial(const Address& to, const Address* from, int rcvbuf, milliseconds timeout);

// Read `data` to its end (or `limit` bytes); nullopt if it stays silent for
// the timeout. A reset is an end too.
std::optional<std::string> read_all(Stream& data, milliseconds timeout, std::size_t limit = SIZE_MAX);

// A reply to a transfer command, then its end: "150 ... / 226 ..." read,
// with the data connection secured (under PROT P) and drained in between.
Reply transfer(Client& c, Stream& data, const std::string& command, std::string* bytes, milliseconds timeout);

// Every byte on a data connection; false on an error (errno set).
bool send_data(Stream& data, std::string_view bytes, milliseconds timeout);
// An upload's end: close_notify under TLS, then the connection closed.
void end_upload(Stream& data, milliseconds timeout);

// NOOP, and the codes of every reply before its 200: what was still due.
std::vector<int> replies_until_noop(Client& c);

// Has a connection arrived on `listener` (waiting in its accept queue)?
bool connection_waiting(int listener, milliseconds wait);
// "127.0.0.1" of an IPv4 address; "h1,h2,h3,h4,p1,p2" of PORT's argument.
std::string ipv4_of(const Address& a);
std::string port_argument(const std::string& ip, std::uint16_t port);

// The security cases of check_security.cpp: the data connection (RFC 2577),
// paths and names, an over-long line.
CaseResult port_bounce(const CheckOptions& o);
CaseResult port_privileged(const CheckOptions& o);
CaseResult passive_stranger(const CheckOptions& o);
CaseResult pasv_loop(const CheckOptions& o);
CaseResult path_escape(const CheckOptions& o);
CaseResult symlink_escape(const CheckOptions& o);
CaseResult bad_names(const CheckOptions& o);
CaseResult long_line(const CheckOptions& o);

}  // namespace iom::client::ftp
