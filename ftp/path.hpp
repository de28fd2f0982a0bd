// Virtual paths: what the client sees ("/docs/a.txt"), never a host path.
//
// The session keeps its working directory as a virtual absolute path and
// joins each argument to it here, lexically: "." and empty components go,
// ".." drops the previous component and stops at "/". That is only so PWD has
// something to print and every request carries one absolute path; it is NOT
// the security boundary. The executor hands the path to the kernel with
// openat2(root_fd, path, RESOLVE_IN_ROOT), which keeps "..", absolute paths
// and symlinks inside the user's root whatever the string says (fs.hpp).
#pragma once

#include <string>
#include <string_view>

namespace iom::ftp {

// `arg` relative to `cwd` (or absolute when it starts with '/'), normalised.
// The result starts with '/' and has no "." or ".." component.
std::string join_path(std::string_view cwd, std::string_view arg);

// "/a/b" -> {"/a", "b"}; "/b" -> {"/", "b"}; "/" -> {"/", ""} (no name: the root).
struct ParentAndName {
    std::string parent;
    std::string name;
};
ParentAndName split_path(std::string_view path);

// True when `name` contains a byte a path must not carry on this protocol
// (CR, LF or NUL: they would end or forge a line on the control connection).
bool has_forbidden_byte(std::string_view name);

}  // namespace iom::ftp
