#include "client/lib/procfs.hpp"

#include <fmt/format.h>

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

namespace iom::client {

std::optional<std::string> read_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) return std::nullopt;
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

namespace {

// The names in a directory that are numbers (pids, tids, descriptors).
std::vector<long> numeric_entries(const std::string& dir, bool* ok = nullptr) {
    std::vector<long> out;
    DIR* d = opendir(dir.c_str());
    if (ok) *ok = d != nullptr;
    if (!d) return out;
    while (dirent* e = readdir(d)) {
        long v = 0;
        const char* end = e->d_name + std::char_traits<char>::length(e->d_name);
        auto [p, ec] = std::from_chars(e->d_name, end, v);
        if (ec == std::errc() && p == end) out.push_back(v);
    }
    closedir(d);
    return out;
}

std::optional<StatFields> stat_of(pid_t pid) {
    auto text = read_file(fmt::format("/proc/{}/stat", pid));
    if (!text) return std::nullopt;
    return parse_stat(*text);
}

// A figure of one process, summed over the tree (a process gone meanwhile adds 0).
template <typename T>
T sum_over_tree(pid_t pid, std::optional<T> (*figure)(pid_t)) {
    T sum{};
    for (pid_t p : process_tree(pid)) sum += figure(p).value_or(T{});
    return sum;
}

}  // namespace

std::optional<StatFields> parse_stat(std::string_view stat) {
    auto close = stat.rfind(')');  // the command name may hold spaces and ')'
    if (close == std::string_view::npos || close + 2 > stat.size()) return std::nullopt;
    std::istringstream rest{std::string(stat.substr(close + 2))};
    std::string field;
    StatFields out;
    for (int i = 3; i <= 17; ++i) {  // 3 state, 4 ppid ... 14 utime, 15 stime, 16 cutime, 17 cstime
        if (!(rest >> field)) return std::nullopt;
        if (i == 3) out.state = field.empty() ? '?' : field[0];
        if (i != 4 && i < 14) continue;
        long long v = 0;
        auto [p, ec] = std::from_chars(field.data(), field.data() + field.size(), v);
        if (ec != std::errc() || p != field.data() + field.size()) return std::nullopt;
        if (i == 4) out.ppid = static_cast<pid_t>(v);
        else (i % 2 == 0 ? out.user_ticks : out.system_ticks) += v;  // 14, 16 user; 15, 17 system
    }
    out.cpu_ticks = out.user_ticks + out.system_ticks;
    return out;
}

std::optional<long> parse_field(std::string_view text, std::string_view key) {
    std::size_t at = 0;
    while (at < text.size()) {
        std::size_t eol = text.find('\n', at);
        std::string_view line = text.substr(at, eol == std::string_view::npos ? std::string_view::npos : eol - at);
        if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == ':') {
            std::string_view v = line.substr(key.size() + 1);
            while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
            long n = 0;
            auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
            if (ec != std::errc()) return std::nullopt;
            return n;
        }
        if (eol == std::string_view::npos) break;
        at = eol + 1;
    }
    return std::nullopt;
}

std::vector<Child> children(pid_t pid) {
    std::vector<Child> out;
    for (long tid : numeric_entries(fmt::format("/proc/{}/task", pid))) {
        std::ifstream list(fmt::format("/proc/{}/task/{}/children", pid, tid));
        for (pid_t child = 0; list >> child;)
            if (auto f = stat_of(child)) out.push_back({child, f->state});
    }
    return out;
}

std::vector<pid_t> process_tree(pid_t pid) {
    std::vector<pid_t> out;
    if (pid <= 0 || !stat_of(pid)) return out;
    out.push_back(pid);
    for (std::size_t i = 0; i < out.size(); ++i)  // breadth first: `out` grows as children are found
        for (const Child& c : children(out[i]))
            if (c.state != 'Z') out.push_back(c.pid);  // a zombie holds no memory, threads or descriptors
    return out;
}

std::optional<long> open_fds(pid_t pid) {
    bool ok = false;
    auto fds = numeric_entries(fmt::format("/proc/{}/fd", pid), &ok);
    if (!ok) return std::nullopt;
    return static_cast<long>(fds.size());
}

bool holds_listener(pid_t pid, std::uint16_t port) {
    // Lines of /proc/net/tcp: "sl local_address rem_address st ... uid timeout inode ...",
    // local_address as HEXADDR:HEXPORT, st 0A for LISTEN.
    std::vector<std::string> inodes;
    for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        std::ifstream in(table);
        std::string line;
        std::getline(in, line);  // the header
        while (std::getline(in, line)) {
            std::istringstream fields(line);
            std::string sl, local, remote, state, queues, timer, retrans, uid, timeout, inode;
            if (!(fields >> sl >> local >> remote >> state >> queues >> timer >> retrans >> uid >> timeout >> inode))
                continue;
            auto colon = local.rfind(':');
            if (state != "0A" || colon == std::string::npos) continue;
            if (std::stoul(local.substr(colon + 1), nullptr, 16) == port) inodes.push_back("socket:[" + inode + "]");
        }
    }
    if (inodes.empty()) return false;
    const std::string dir = fmt::format("/proc/{}/fd", pid);
    bool ok = false;
    for (const auto& fd : numeric_entries(dir, &ok)) {
        char target[64];
        ssize_t n = ::readlink(fmt::format("{}/{}", dir, fd).c_str(), target, sizeof target - 1);
        if (n <= 0) continue;
        if (std::find(inodes.begin(), inodes.end(), std::string(target, static_cast<std::size_t>(n))) != inodes.end())
            return true;
    }
    return false;
}

long tree_open_fds(pid_t pid) { return sum_over_tree(pid, open_fds); }

std::optional<long> memory_kib(pid_t pid) {
    auto rollup = read_file(fmt::format("/proc/{}/smaps_rollup", pid));
    if (!rollup) return std::nullopt;
    if (auto v = parse_field(*rollup, "Pss_Anon")) return v;
    return parse_field(*rollup, "Pss");
}

long tree_memory_kib(pid_t pid) { return sum_over_tree(pid, memory_kib); }

std::optional<long> threads(pid_t pid) {
    auto status = read_file(fmt::format("/proc/{}/status", pid));
    if (!status) return std::nullopt;
    return parse_field(*status, "Threads");
}

std::optional<double> cpu_seconds(pid_t pid) {
    auto f = stat_of(pid);
    if (!f) return std::nullopt;
    return static_cast<double>(f->cpu_ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::optional<double> tree_cpu_seconds(pid_t pid) {
    if (!stat_of(pid)) return std::nullopt;
    return sum_over_tree(pid, cpu_seconds);
}

std::optional<double> runnable_seconds(pid_t pid) {
    auto text = read_file("/proc/" + std::to_string(pid) + "/schedstat");
    if (!text) return std::nullopt;
    std::istringstream in(*text);
    double on_cpu_ns = 0, waiting_ns = 0;
    if (!(in >> on_cpu_ns >> waiting_ns)) return std::nullopt;
    return (on_cpu_ns + waiting_ns) / 1e9;
}

ProcSample sample_tree(pid_t pid) {
    ProcSample s;
    auto fds = open_fds(pid);
    if (!fds) return s;  // gone (or not ours): every figure stays -1
    s.fds = *fds;
    s.memory_kib = s.threads = 0;
    s.cpu_seconds = s.cpu_user_seconds = 0;
    const auto tick = static_cast<double>(sysconf(_SC_CLK_TCK));
    for (pid_t p : process_tree(pid)) {
        s.children += p != pid;
        s.memory_kib += memory_kib(p).value_or(0);
        s.threads += threads(p).value_or(0);
        if (auto f = stat_of(p)) {  // cpu_seconds(), with its split
            s.cpu_seconds += static_cast<double>(f->cpu_ticks) / tick;
            s.cpu_user_seconds += static_cast<double>(f->user_ticks) / tick;
        }
    }
    return s;
}

}  // namespace iom::client
