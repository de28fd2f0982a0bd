#include "ftp/limits.hpp"

#include "ftp/data_address.hpp"

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

}  // namespace iom::ftp
