#include "client/lib/server_process.hpp"

#include "client/lib/syscalls.hpp"
#include "common/error.hpp"
#include "common/json.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace iom::client {

bool ServerSpec::has(const std::string& trait) const {
    return std::find(traits.begin(), traits.end(), trait) != traits.end();
}

std::vector<ServerSpec> load_manifest(const std::string& bin_dir) {
    std::vector<ServerSpec> out;
    std::istringstream in(read_file(bin_dir + "/servers.txt").value_or(""));
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#') continue;
        auto tab = line.find('	');
        ServerSpec s{line.substr(0, tab), bin_dir + "/" + line.substr(0, tab), {}};
        if (tab != std::string::npos) {
            std::istringstream traits(line.substr(tab + 1));
            for (std::string t; std::getline(traits, t, ';');)
                if (!t.empty()) s.traits.push_back(t);
        }
        out.push_back(std::move(s));
    }
    return out;
}

std::vector<ServerSpec> select_servers(const std::string& bin_dir, const std::vector<std::string>& names) {
    auto all = load_manifest(bin_dir);
    if (all.empty()) throw std::runtime_error(bin_dir + "/servers.txt lists no servers: build them first, "
                                              "or say where they are with --bin-dir");
    if (names.empty()) return all;
    std::vector<ServerSpec> chosen;
    for (const auto& name : names) {
        auto it = std::find_if(all.begin(), all.end(), [&](const ServerSpec& s) { return s.name == name; });
        if (it == all.end()) {
            std::string known;
            for (const auto& s : all) known += " " + s.name;
            throw std::invalid_argument("--servers: no server named " + name + "; this build has:" + known);
        }
        if (std::none_of(chosen.begin(), chosen.end(), [&](const ServerSpec& s) { return s.name == name; }))
            chosen.push_back(*it);
    }
    return chosen;
}

std::string program_dir() { return std::filesystem::read_symlink("/proc/self/exe").parent_path().string(); }

std::string command_line(int argc, char** argv) {
    std::string line;
    for (int i = 0; i < argc; ++i) {
        if (i) line += ' ';  // not (i ? " " : "") + ...: GCC 12 warns falsely (-Wrestrict) on that, -O3
        line += argv[i];
    }
    return line;
}

std::string utc_now() {
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    char date[32];
    std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    return date;
}

ServerProcess::ServerProcess(const ServerSpec& spec, StartOptions opt) : spec_(spec) {
    char tmpl[] = "/tmp/iomodels-test-XXXXXX";
    if (!mkdtemp(tmpl)) throw_sys("mkdtemp");
    dir_ = tmpl;

    std::vector<std::string> args{spec.path, "--port", "0", "--stats-file", dir_ + "/stats.json"};
    args.insert(args.end(), opt.args.begin(), opt.args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    int out[2];
    check_sys(pipe2(out, O_CLOEXEC), "pipe2");
    std::string err_path = dir_ + "/stderr.txt";
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) throw_sys("fork");
    if (pid_ == 0) {
        // The child: killed if we die first (a client killed mid-run, say by
        // a test's timeout, leaves no server behind), stdout to our pipe,
        // stderr to a file, then exec. (The death that counts is the forking
        // *thread's*: a ServerProcess must be made by a thread that outlives it.)
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);  // we died before prctl took effect
        dup2(out[1], STDOUT_FILENO);
        int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (err >= 0) dup2(err, STDERR_FILENO);
        if (opt.nofile) {
            rlimit lim{*opt.nofile, *opt.nofile};
            getrlimit(RLIMIT_NOFILE, &lim);
            lim.rlim_cur = std::min(*opt.nofile, lim.rlim_max);
            setrlimit(RLIMIT_NOFILE, &lim);
        }
        signal(SIGPIPE, SIG_DFL);
        execv(argv[0], argv.data());
        _exit(127);
    }
    ::close(out[1]);
    Fd pipe_out(out[0]);

    // Wait for the ready line: "listening on HOST:PORT\n".
    auto deadline = std::chrono::steady_clock::now() + opt.ready_timeout;
    std::string text;
    while (text.find('\n') == std::string::npos) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd p{pipe_out.get(), POLLIN, 0};
        if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
            exited_ = true;
            throw std::runtime_error(spec.name + " printed no ready line in time; stderr: " + stderr_text());
        }
        char buf[256];
        ssize_t n = ::read(pipe_out.get(), buf, sizeof buf);
        if (n <= 0) {
            int status = 0;
            waitpid(pid_, &status, 0);
            exited_ = true;
            exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            throw std::runtime_error(fmt::format("{} exited ({}) before its ready line; stderr: {}", spec.name,
                                                 exit_status_, stderr_text()));
        }
        text.append(buf, static_cast<std::size_t>(n));
    }
    ready_line_ = text.substr(0, text.find('\n'));
    const std::string prefix = "listening on ";
    auto colon = ready_line_.rfind(':');
    if (ready_line_.rfind(prefix, 0) != 0 || colon == std::string::npos) {
        throw std::runtime_error(spec.name + ": unexpected ready line '" + ready_line_ + "'");
    }
    port_ = static_cast<std::uint16_t>(std::stoi(ready_line_.substr(colon + 1)));
    address_ = parse_address(ready_line_.substr(prefix.size(), colon - prefix.size()), port_);
}

ServerProcess::~ServerProcess() {
    if (!exited_ && pid_ > 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
    // Remove our temp dir (two files at most).
    ::unlink((dir_ + "/stderr.txt").c_str());
    ::unlink((dir_ + "/stats.json").c_str());
    ::rmdir(dir_.c_str());
}

bool ServerProcess::running() {
    if (exited_) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return false;
    }
    return true;
}

int ServerProcess::stop(int sig, std::chrono::milliseconds timeout) {
    if (exited_) return exit_status_;
    kill(pid_, sig);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (!running()) return exit_status_;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    exited_ = true;
    exit_status_ = -1;
    return -1;
}

std::string ServerProcess::stderr_text() const { return read_file(dir_ + "/stderr.txt").value_or(""); }

std::uint64_t ServerProcess::counter(const std::string& name) const {
    auto text = read_file(dir_ + "/stats.json");
    if (!text || text->empty()) throw std::runtime_error(spec_.name + " wrote no stats file");
    Json stats = Json::parse(*text, nullptr, false);
    if (stats.is_discarded()) throw std::runtime_error(spec_.name + " wrote a stats file that is not JSON: " + *text);
    const Json* counters = stats.contains("counters") ? &stats["counters"] : nullptr;
    if (!counters || !counters->contains(name) || !(*counters)[name].is_number_unsigned())
        throw std::runtime_error(spec_.name + " stats have no counter " + name);
    return (*counters)[name].get<std::uint64_t>();
}


double ServerProcess::cpu_seconds() const { return tree_cpu_seconds(pid_).value_or(0); }
long ServerProcess::threads() const { return client::threads(pid_).value_or(-1); }
long ServerProcess::memory_kib() const { return tree_memory_kib(pid_); }

int ServerProcess::zombie_children() const {
    auto c = children(pid_);
    return static_cast<int>(std::count_if(c.begin(), c.end(), [](const Child& k) { return k.state == 'Z'; }));
}

int ServerProcess::live_children() const {
    auto c = children(pid_);
    return static_cast<int>(std::count_if(c.begin(), c.end(), [](const Child& k) { return k.state != 'Z'; }));
}

ProcSample ServerProcess::sample() const { return sample_tree(pid_); }

double counter_or_nan(const ServerProcess& srv, const std::string& name) {
    try {
        return static_cast<double>(srv.counter(name));
    } catch (const std::exception&) {
        return std::numeric_limits<double>::quiet_NaN();
    }
}

double syscalls(const ServerProcess& srv) {
    if (srv.spec().has("library")) return std::numeric_limits<double>::quiet_NaN();
    return system_calls([&](const char* name) { return counter_or_nan(srv, name); }, srv.spec().has("uring"));
}

Machine describe_machine() {
    Machine m;
    utsname u{};
    if (uname(&u) == 0) m.kernel = u.release;
    m.nproc = static_cast<unsigned>(sysconf(_SC_NPROCESSORS_ONLN));
    std::istringstream cpu(read_file("/proc/cpuinfo").value_or(""));
    for (std::string line; std::getline(cpu, line);) {
        if (line.rfind("model name", 0) != 0) continue;
        m.cpu_model = line.substr(line.find(':') + 2);
        break;
    }
    return m;
}

RunResult run_command(const std::vector<std::string>& args, const std::string& input,
                      std::chrono::milliseconds timeout) {
    char tmpl[] = "/tmp/iomodels-run-XXXXXX";
    if (!mkdtemp(tmpl)) throw_sys("mkdtemp");
    std::string dir = tmpl;
    std::string in_path = dir + "/in", out_path = dir + "/out", err_path = dir + "/err";
    {
        std::ofstream in(in_path);
        in << input;
    }
    pid_t pid = fork();
    if (pid < 0) throw_sys("fork");
    if (pid == 0) {
        int in = ::open(in_path.c_str(), O_RDONLY);
        int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(in, STDIN_FILENO);
        dup2(out, STDOUT_FILENO);
        dup2(err, STDERR_FILENO);
        signal(SIGPIPE, SIG_DFL);
        std::vector<char*> argv;
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        execv(argv[0], argv.data());
        _exit(127);
    }
    RunResult r;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    for (;;) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            break;
        }
        if (std::chrono::steady_clock::now() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    r.out = read_file(out_path).value_or("");
    r.err = read_file(err_path).value_or("");
    for (const auto& p : {in_path, out_path, err_path}) ::unlink(p.c_str());
    ::rmdir(dir.c_str());
    return r;
}

rlim_t raise_nofile_limit(rlim_t n) {
    rlimit lim{};
    getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = std::min(n, lim.rlim_max);
    setrlimit(RLIMIT_NOFILE, &lim);
    getrlimit(RLIMIT_NOFILE, &lim);
    return lim.rlim_cur;
}

}  // namespace iom::client
