#include "ftp/path.hpp"

namespace iom::ftp {

std::string join_path(std::string_view cwd, std::string_view arg) {
    std::string out = "/";
    auto add = [&out](std::string_view path) {
        while (!path.empty()) {
            auto slash = path.find('/');
            std::string_view part = path.substr(0, slash);
            path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
            if (part.empty() || part == ".") continue;
            if (part == "..") {
                if (out.size() > 1) out.erase(out.rfind('/') == 0 ? 1 : out.rfind('/'));
                continue;
            }
            if (out.size() > 1) out.push_back('/');
            out.append(part);
        }
    };
    if (arg.empty() || arg.front() != '/') add(cwd);
    add(arg);
    return out;
}

ParentAndName split_path(std::string_view path) {
    auto slash = path.rfind('/');
    if (slash == std::string_view::npos) return {"/", std::string(path)};
    std::string parent(path.substr(0, slash));
    if (parent.empty()) parent = "/";
    return {parent, std::string(path.substr(slash + 1))};
}

bool has_forbidden_byte(std::string_view name) {
    return name.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

}  // namespace iom::ftp
