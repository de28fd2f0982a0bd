#include "built_servers.hpp"

#include <stdexcept>

namespace iom::test {

const std::vector<ServerSpec>& all_servers() {
    static const std::vector<ServerSpec> servers = [] {
        auto list = client::load_manifest(IOM_BIN_DIR);
        if (list.empty()) throw std::runtime_error("no servers in " IOM_BIN_DIR "/servers.txt");
        return list;
    }();
    return servers;
}

const ServerSpec& server_named(const std::string& name) {
    for (const auto& s : all_servers())
        if (s.name == name) return s;
    throw std::invalid_argument("no server named " + name + " in this build");
}

std::string server_test_name(const ServerSpec& s) { return s.name; }

std::string ioclient_path() { return IOM_BIN_DIR "/ioclient"; }
std::string bin_path(const std::string& name) { return IOM_BIN_DIR "/" + name; }

}  // namespace iom::test
