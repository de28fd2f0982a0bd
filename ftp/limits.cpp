#include "ftp/limits.hpp"

#include "ftp/data_address.hpp"

#include <algorithm>

namespace iom::ftp {

bool SessionRegistry::open(const Address& peer) {
    auto& n = per_address_[ftp::host_key(peer)];
    if (total_ >= limits_.max_sessions || n >= limits_.max_per_address) {
        if (n == 0) per_address_.erase(ftp::host_key(peer));
        return false;
    }
    ++n;
    ++total_;
    return true;
}

void SessionRegistry::close(const Address& peer) {
    auto it = per_address_.find(ftp::host_key(peer));
    if (it == per_address_.end()) return;
    if (--it->second == 0) per_address_.erase(it);
    --total_;
}

bool SessionRegistry::login(const std::string& user) {
    auto& n = per_user_[user];
    if (n >= limits_.max_per_user) {
        if (n == 0) per_user_.erase(user);
        return false;
    }
    ++n;
    return true;
}

void SessionRegistry::logout(const std::string& user) {
    auto it = per_user_.find(user);
    if (it != per_user_.end() && --it->second == 0) per_user_.erase(it);
}

SessionRegistry::Failures& SessionRegistry::failures_of(const Address& peer) {
    auto t = now();
    // Forget what is older than the window, everywhere, now and then: the
    // map holds only the addresses that failed lately.
    if (failures_.size() > 4096)
        std::erase_if(failures_, [&](const auto& f) {
            return t - f.second.since > std::chrono::duration<double>(limits_.throttle_window);
        });
    Failures& f = failures_[ftp::host_key(peer)];
    if (f.count == 0 || t - f.since > std::chrono::duration<double>(limits_.throttle_window)) f = {0, t};
    return f;
}

unsigned SessionRegistry::login_failed(const Address& peer) {
    Failures& f = failures_of(peer);
    ++f.count;
    std::uint64_t ms = limits_.login_delay_ms;
    if (f.count > limits_.throttle_after) {
        ms = std::max<std::uint64_t>(ms, 1);
        for (unsigned i = limits_.throttle_after; i < f.count && ms < limits_.throttle_max_ms; ++i) ms *= 2;
        ms = std::min<std::uint64_t>(std::max<std::uint64_t>(ms, limits_.login_delay_ms), limits_.throttle_max_ms);
    }
    return static_cast<unsigned>(ms);
}

bool SessionRegistry::guessing(const Address& peer) {
    auto it = failures_.find(ftp::host_key(peer));
    if (it == failures_.end()) return false;
    if (now() - it->second.since > std::chrono::duration<double>(limits_.throttle_window)) {
        failures_.erase(it);
        return false;
    }
    return it->second.count > limits_.guesser_refused_after;
}

}  // namespace iom::ftp
