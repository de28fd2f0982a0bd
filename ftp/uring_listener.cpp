#include "ftp/uring_listener.hpp"

#include "common/trace.hpp"
#include "ftp/data_address.hpp"
#include "ftp/server_setup.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <system_error>
#include <utility>

namespace iom::ftp {

std::optional<PassiveResult> UringListener::open(const PassiveRequest& r) {
    if (!in_flight_) return listen(r);
    retire();
    next_ = r;
    return std::nullopt;
}

std::optional<PassiveResult> UringListener::listen(const PassiveRequest& r) {
    sock_.reset();
    retired_ = false;
    try {
        sock_ = listen_passive(r);  // non-blocking (for ReserveFd::shed), in --passive-ports
    } catch (const std::system_error& e) {  // out of descriptors, say: 425, the session goes on
        trace("fd {}: passive listener: {}", trace_fd_, e.what());
        return PassiveResult{.error = e.code().value()};
    }
    peer_ = r.peer;
    accept();
    auto port = local_address(sock_.get()).port();
    trace("fd {}: passive listener fd {} on port {}: ACCEPT submitted", trace_fd_, sock_.get(), port);
    return PassiveResult{.port = port};
}

void UringListener::accept() {
    from_.len = sizeof from_.storage;
    io_uring_prep_accept(ring_.submit(), sock_.get(), from_.sa(), &from_.len, SOCK_CLOEXEC);
    in_flight_ = true;
}

void UringListener::retire() {
    if (!in_flight_) return sock_.reset();
    if (retired_) return;
    retired_ = true;
    ring_.cancel();
}

UringListener::Outcome UringListener::completed(int res) {
    in_flight_ = false;
    Fd conn(res >= 0 ? res : -1);
    if (res >= 0) ++k_.data_accepts;  // not `accepts`: top counts connections as accepts - closed
    if (retired_) {  // cancelled (or raced in): the listener goes, its connection too
        retired_ = false;
        sock_.reset();
        if (next_) return {.reply = listen(*std::exchange(next_, std::nullopt))};
        return {};
    }
    bool stranger = res >= 0 && !same_host(from_, peer_);
    if (stranger || res == -ECONNABORTED || res == -EINTR) {  // a stranger is closed unserved; the wait goes on
        trace("cqe accept(fd {}) -> {}: {}", sock_.get(), res, stranger ? "not the client's host, closed" : "again");
        k_.data_strangers += stranger;
        accept();
        return {};
    }
    if (res < 0) {  // out of descriptors: shed the waiting one; no data connection for this PASV
        ++k_.accept_errors;
        if (res == -EMFILE || res == -ENFILE) reserve_.shed(sock_.get());
        sock_.reset();
        return {.error = -res};
    }
    trace("cqe accept(fd {}) -> data connection fd {}", sock_.get(), res);
    sock_.reset();  // it served its one connection
    return {.data = std::move(conn)};
}

}  // namespace iom::ftp
