#include "ftp/auth.hpp"

#include <crypt.h>
#include <fmt/format.h>

#include <fstream>
#include <memory>
#include <stdexcept>

namespace iom::ftp {

bool constant_time_equal(std::string_view expected, std::string_view given) {
    unsigned diff = expected.size() == given.size() ? 0 : 1;
    for (std::size_t i = 0; i < given.size(); ++i) {
        unsigned char e = expected.empty() ? 0 : static_cast<unsigned char>(expected[i % expected.size()]);
        diff |= e ^ static_cast<unsigned char>(given[i]);
    }
    return diff == 0;
}

bool Users::valid_name(std::string_view name) {
    if (name.empty() || name.size() > 64 || name.front() == '.' || name == "pub") return false;
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

void Users::add(std::string name, Secret secret, const std::string& where) {
    if (!valid_name(name))
        throw std::invalid_argument(fmt::format("{}: bad user name '{}' (letters, digits, . _ -; not 'pub')", where, name));
    if (secret.hashed && dummy_hash_.empty()) dummy_hash_ = secret.value;
    users_[std::move(name)] = std::move(secret);
}

void Users::add_plain(std::string_view entry) {
    auto colon = entry.find(':');
    if (colon == std::string_view::npos)
        throw std::invalid_argument(fmt::format("--user {}: expected NAME:PASSWORD", entry.substr(0, 64)));
    std::string name(entry.substr(0, colon));
    add(name, {std::string(entry.substr(colon + 1)), false}, "--user " + name);
}

void Users::load_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error(fmt::format("{}: cannot read the users file", path));
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
        if (line.empty() || line.front() == '#') continue;
        std::string where = fmt::format("{}:{}", path, n);
        auto colon = line.find(':');
        if (colon == std::string::npos || colon + 1 == line.size())
            throw std::runtime_error(where + ": expected name:crypt-hash");
        add(line.substr(0, colon), {line.substr(colon + 1), true}, where);
    }
}

bool Users::check(std::string_view name, std::string_view password) const {
    auto it = users_.find(name);
    bool known = it != users_.end();
    const Secret* secret = known ? &it->second : nullptr;

    bool hash_ok = false;
    if (!dummy_hash_.empty()) {  // always one crypt call when hashes exist, whoever asks
        const std::string& setting = known && secret->hashed ? secret->value : dummy_hash_;
        auto data = std::make_unique<crypt_data>();  // ~32 KiB: not on the loop's stack
        std::string phrase(password);
        const char* out = crypt_rn(phrase.c_str(), setting.c_str(), data.get(), sizeof *data);
        hash_ok = out != nullptr && out[0] != '*' && constant_time_equal(setting, out);
    }
    static const std::string no_password = "\x01 never a password \x01";
    bool plain_ok = constant_time_equal(known && !secret->hashed ? secret->value : no_password, password);
    return known && (secret->hashed ? hash_ok : plain_ok);
}

}  // namespace iom::ftp
