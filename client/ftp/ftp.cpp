#include "client/ftp/ftp.hpp"

#include "client/ftp/client.hpp"
#include "common/error.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>

namespace iom::client::ftp {

namespace {

using Clock = std::chrono::steady_clock;

// One transfer's bar on stderr: a frame at most every 100 ms, redrawn in
// place on a terminal, a line every 2 s otherwise, and a last frame at the end.
class Meter {
public:
    Meter(std::string label, std::uint64_t total, std::uint64_t start, ProgressMode mode)
        : mode_(resolve(mode)),
          bar_(std::move(label), total, mode_ == ProgressMode::bar ? terminal_width(STDERR_FILENO) - 1 : 72),
          printer_(mode_ == ProgressMode::bar, 2.0) {
        rate_.add(0, start);
    }
    Meter(const Meter&) = delete;
    Meter& operator=(const Meter&) = delete;
    // A transfer that failed mid-bar: end the bar's line, so the error
    // that follows starts on a line of its own.
    ~Meter() {
        if (mode_ == ProgressMode::bar && sampled_ > 0 && !done_) std::fputc('\n', stderr);
    }

    void update(std::uint64_t done, bool last = false) {
        if (mode_ == ProgressMode::none) return;
        double now = seconds();
        if (!last && now - sampled_ < 0.1) return;
        sampled_ = now;
        done_ = last;
        rate_.add(now, done);
        std::string out = printer_.frame({bar_.line(done, rate_.rate())}, now, last);
        std::fwrite(out.data(), 1, out.size(), stderr);
        std::fflush(stderr);
    }
    double seconds() const { return std::chrono::duration<double>(Clock::now() - t0_).count(); }

private:
    ProgressMode mode_;
    ProgressBar bar_;
    ProgressPrinter printer_;
    RateWindow rate_;
    Clock::time_point t0_ = Clock::now();
    double sampled_ = 0;
    bool done_ = false;
};

ClientOptions client_options(const TransferOptions& o) {
    return {std::chrono::milliseconds(static_cast<long>(o.timeout * 1000)), !o.pasv, make_tls(o.tls)};
}

// The file's size, or nullopt if it does not exist. Throws if it is not a
// regular file or cannot be looked at.
std::optional<std::uint64_t> local_size(const std::string& path) {
    struct stat st{};
    if (::stat(path.c_str(), &st) < 0) {
        if (errno == ENOENT) return std::nullopt;
        throw_sys("stat {}", path);
    }
    if (!S_ISREG(st.st_mode)) throw std::runtime_error(path + " is not a regular file");
    return static_cast<std::uint64_t>(st.st_size);
}

bool is_directory(const std::string& path) {
    struct stat st{};
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void done_line(const TransferOptions& o, const std::string& what, std::uint64_t bytes, double seconds) {
    if (resolve(o.progress) == ProgressMode::none) return;
    fmt::print(stderr, "{}: {} in {:.2f} s ({})\n", what, format_bytes(bytes), seconds,
               format_rate(seconds > 0 ? static_cast<double>(bytes) / seconds : -1));
}

int get(const TransferOptions& o) {
    Url url = parse_url(o.url);
    if (url.basename().empty()) throw std::invalid_argument(url.to_string() + " names a directory, not a file");
    std::string local = o.local.empty() ? url.basename() : o.local;
    if (is_directory(local)) local += "/" + url.basename();

    Client c = Client::login(url, client_options(o));
    const auto remote = [&]() -> std::optional<std::uint64_t> {
        try {
            return c.size(url.path);
        } catch (const FtpError&) {
            return std::nullopt;  // no SIZE (502): no percent, no size check beyond the transfer itself
        }
    }();
    const auto existing = local_size(local);
    std::uint64_t offset = o.resume && existing ? *existing : 0;
    if (remote && offset > *remote)
        throw std::runtime_error(fmt::format("{} has {} bytes, more than the {} of {}: not a part of it", local,
                                             offset, *remote, url.path));
    if (remote && o.resume && offset == *remote) {
        fmt::print(stderr, "{}: already whole ({} bytes)\n", local, offset);
        c.quit();
        return 0;
    }

    // Written in place from `offset` and cut to what arrived at the end: a
    // failed download leaves what did arrive, for -C to resume.
    Fd fd(::open(local.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    if (!fd) throw_sys("open {}", local);
    if (::lseek(fd.get(), static_cast<off_t>(offset), SEEK_SET) < 0) throw_sys("lseek {}", local);
    Meter meter(url.basename(), remote.value_or(0), offset, o.progress);
    std::uint64_t got = 0;
    auto keep_what_arrived = [&] {
        if (::ftruncate(fd.get(), static_cast<off_t>(offset + got)) < 0) throw_sys("ftruncate {}", local);
    };
    try {
        c.retrieve(url.path, offset, [&](std::string_view bytes) {
            while (!bytes.empty()) {
                ssize_t n = ::write(fd.get(), bytes.data(), bytes.size());
                if (n < 0 && errno == EINTR) continue;
                if (n < 0) throw_sys("write {}", local);
                bytes.remove_prefix(static_cast<std::size_t>(n));
                got += static_cast<std::uint64_t>(n);
            }
            meter.update(offset + got);
        });
    } catch (...) {
        // Nothing came: leave the local file as it was, or none at all.
        if (got > 0) keep_what_arrived();
        else if (!existing) ::unlink(local.c_str());
        throw;
    }
    keep_what_arrived();
    meter.update(offset + got, true);
    c.quit();
    if (remote && offset + got != *remote)
        throw std::runtime_error(fmt::format("{}: {} bytes arrived, the server's SIZE said {}", url.path,
                                             offset + got, *remote));
    done_line(o, fmt::format("{} -> {}", url.to_string(), local), got, meter.seconds());
    return 0;
}

int put(const TransferOptions& o) {
    Url url = parse_url(o.url);
    const auto size = local_size(o.local);
    if (!size) throw std::runtime_error(o.local + ": no such file");
    if (url.basename().empty()) url.path += o.local.substr(o.local.rfind('/') + 1);
    Fd fd(::open(o.local.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw_sys("open {}", o.local);

    Client c = Client::login(url, client_options(o));
    std::uint64_t offset = 0;
    if (o.resume) {
        // SIZE says how much of the file the server has; a 550 means none.
        offset = c.size(url.path).value_or(0);
        if (offset > *size)
            throw std::runtime_error(fmt::format("{} has {} bytes on the server, more than the {} of {}",
                                                 url.path, offset, *size, o.local));
        if (offset == *size) {
            fmt::print(stderr, "{}: already whole on the server ({} bytes)\n", url.path, offset);
            c.quit();
            return 0;
        }
    }
    Meter meter(url.basename(), *size, offset, o.progress);
    std::uint64_t at = offset;
    auto source = [&](char* buf, std::size_t n) -> std::size_t {
        for (;;) {
            ssize_t r = ::pread(fd.get(), buf, n, static_cast<off_t>(at));
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) throw_sys("read {}", o.local);
            meter.update(at);
            at += static_cast<std::uint64_t>(r);
            return static_cast<std::size_t>(r);
        }
    };
    // Resume: APPE adds to the end of what is there; REST + STOR writes from
    // the offset (what `curl -C -` and `lftp put -c` do, in turn).
    if (offset == 0) c.store("STOR", url.path, 0, source);
    else if (o.resume_with == "appe") c.store("APPE", url.path, 0, source);
    else c.store("STOR", url.path, offset, source);
    meter.update(at, true);
    // Whole only if the server has every byte: ask it.
    std::optional<std::uint64_t> now;
    try {
        now = c.size(url.path);
    } catch (const FtpError&) {
        // No SIZE: the transfer's own 226 is all we have.
    }
    c.quit();
    if (at != *size) throw std::runtime_error(fmt::format("{} changed while it was sent", o.local));
    if (now && *now != *size)
        throw std::runtime_error(fmt::format("{}: the server has {} bytes, {} has {}", url.path, *now, o.local, *size));
    done_line(o, fmt::format("{} -> {}", o.local, url.to_string()), at - offset, meter.seconds());
    return 0;
}

int ls(const TransferOptions& o) {
    Url url = parse_url(o.url);
    Client c = Client::login(url, client_options(o));
    std::string verb = o.format == "mlsd" ? "MLSD" : o.format == "nlst" ? "NLST" : "LIST";
    std::cout << c.list(verb, url.path) << std::flush;
    c.quit();
    return 0;
}

const char* const kUrlHelp =
    "ftp://USER:PASS@HOST:PORT/PATH; USER, PASS and PATH percent-decoded (%40 for '@'); no USER: anonymous; "
    "PORT: 21 when left out; PATH from the root the user sees";

}  // namespace

void add_tls_options(CLI::App* cmd, TlsOptions& tls) {
    auto* on = cmd->add_flag("--tls", tls.on,
                             "Explicit FTPS (RFC 4217): AUTH TLS after the greeting, the login inside TLS, then "
                             "PBSZ 0 and PROT P: every data connection TLS too, resuming the control connection's "
                             "session. A server that refuses AUTH TLS is an error: never a fallback to clear");
    cmd->add_option("--cacert", tls.cacert,
                    "With --tls: verify the server's certificate against this CA file (PEM; a self-signed "
                    "certificate is its own CA: scripts/ftps-cert.sh) and the URL's host name or IP address "
                    "(default: the system's CAs)")
        ->needs(on)->check(CLI::ExistingFile);
    cmd->add_flag("--insecure", tls.insecure,
                  "With --tls: do not verify the server's certificate at all (said once on stderr)")
        ->needs(on);
}

namespace {

// The options every subcommand has; `progress` null: no --progress (ls).
void add_common(CLI::App* cmd, double& timeout, bool& pasv, TlsOptions& tls, ProgressMode* progress) {
    cmd->add_option("--timeout", timeout, "Seconds to wait for a connect, a reply or data bytes before giving up")
        ->capture_default_str()->check(CLI::Range(0.01, 86400.0));
    cmd->add_flag("--pasv", pasv, "Open data connections with PASV only (default: EPSV, then PASV if refused)");
    add_tls_options(cmd, tls);
    if (!progress) return;
    std::map<std::string, ProgressMode> modes{{"auto", ProgressMode::automatic},
                                              {"bar", ProgressMode::bar},
                                              {"lines", ProgressMode::lines},
                                              {"none", ProgressMode::none}};
    cmd->add_option("--progress", *progress,
                    "auto: bars redrawn in place when stderr is a terminal, else a line every 2 s; bar; lines; "
                    "none")
        ->transform(CLI::CheckedTransformer(modes, CLI::ignore_case))
        ->option_text("auto|bar|lines|none")
        ->default_str("auto");
}

}  // namespace

void add_ftp_command(CLI::App& app, FtpCommand& cmd) {
    cmd.ftp = app.add_subcommand("ftp", "FTP client: get, put and ls with a progress bar; load: N sessions at "
                                        "once, every byte verified");
    cmd.ftp->require_subcommand(1);
    auto& t = cmd.transfer;

    cmd.get = cmd.ftp->add_subcommand("get", "Download one file; exit 0 only if every byte arrived (and as many "
                                             "as the server's SIZE says)");
    cmd.get->add_option("URL", t.url, kUrlHelp)->required();
    cmd.get->add_option("LOCAL", t.local, "Where to write it (default: the file's name, here; a directory: in it)");
    cmd.get->add_flag("-C,--continue", t.resume, "Resume: keep the local file and ask for the rest (REST + RETR)");

    cmd.put = cmd.ftp->add_subcommand("put", "Upload one file; exit 0 only if the server then has every byte "
                                             "(checked with SIZE)");
    cmd.put->add_option("LOCAL", t.local, "The file to send")->required();
    cmd.put->add_option("URL", t.url, std::string(kUrlHelp) + "; a PATH ending in '/': LOCAL's name in it")
        ->required();
    cmd.put->add_flag("-C,--continue", t.resume,
                      "Resume: ask the server how much it has (SIZE) and send the rest");
    cmd.put->add_option("--resume-with", t.resume_with,
                        "How -C sends the rest: appe (APPE, append) or rest (REST OFFSET, then STOR)")
        ->check(CLI::IsMember({"appe", "rest"}))->capture_default_str();

    cmd.ls = cmd.ftp->add_subcommand("ls", "List a directory on stdout");
    cmd.ls->add_option("URL", t.url, kUrlHelp)->required();
    cmd.ls->add_option("--format", t.format,
                       "list (LIST: ls -l lines), mlsd (MLSD: machine-readable facts) or nlst (NLST: names only)")
        ->check(CLI::IsMember({"list", "mlsd", "nlst"}))->capture_default_str();
    add_common(cmd.get, t.timeout, t.pasv, t.tls, &t.progress);
    add_common(cmd.put, t.timeout, t.pasv, t.tls, &t.progress);
    add_common(cmd.ls, t.timeout, t.pasv, t.tls, nullptr);

    auto& l = cmd.load_opt;
    cmd.load = cmd.ftp->add_subcommand("load", "N sessions at once, each downloading --get and uploading --put "
                                               "bytes (read back), a bar each and a total; every byte verified; "
                                               "exit 0 only if no transfer failed");
    cmd.load
        ->add_option("URL", l.url, std::string(kUrlHelp) + "; here PATH is the directory of FILE and of the uploads")
        ->required();
    cmd.load
        ->add_option("--sessions", l.sessions,
                     "Sessions at once, each its own login and connections, all on one epoll loop")
        ->capture_default_str()->check(CLI::Range(1u, 10000u));
    auto* get_opt = cmd.load->add_option("--get", l.get, "FILE each session downloads, relative to the URL's PATH");
    auto* put_opt = cmd.load->add_option("--put", l.put,
                                         "Bytes each session uploads (then reads back and deletes): 1048576, "
                                         "64KiB, 16MiB, 1GiB")
                        ->transform(CLI::AsSizeValue(false));
    cmd.load->add_option("--duration", l.duration, "Seconds to repeat rounds for (default: one round each)")
        ->check(CLI::Range(0.0, 86400.0));
    cmd.load->add_option("--expect-sha256", l.expect_sha256,
                         "The SHA-256 of FILE (hex): the reference copy downloads are checked against "
                         "(--local-root's, or a first download) must have it, or the load does not start")
        ->needs(get_opt);
    cmd.load->add_option("--local-root", l.local_root,
                         "The server's root on this machine: check downloads against FILE there "
                         "(default: against a first download); each by its XXH3-128")
        ->needs(get_opt);
    add_common(cmd.load, l.timeout, l.pasv, l.tls, &l.progress);
    cmd.load->add_flag("--json", cmd.json, "Print the result as one JSON object on stdout");
    add_check_command(*cmd.ftp, cmd.check);
    cmd.load->callback([get_opt, put_opt] {
        if (get_opt->count() == 0 && put_opt->count() == 0)
            throw CLI::ValidationError("load", "give --get FILE, --put SIZE or both");
    });
}

int ftp_main(const FtpCommand& cmd) {
    try {
        if (*cmd.get) return get(cmd.transfer);
        if (*cmd.put) return put(cmd.transfer);
        if (*cmd.ls) return ls(cmd.transfer);
        if (*cmd.check.cmd) return check_main(cmd.check, std::cout);
        if (*cmd.load) {
            LoadResult r = run_load(cmd.load_opt);
            std::cout << (cmd.json ? to_json(r) : to_text(r)) << std::flush;
            return r.failures == 0 && r.downloads + r.uploads > 0 ? 0 : 1;
        }
    } catch (const std::invalid_argument& e) {
        fmt::print(stderr, "ioclient ftp: {}\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        fmt::print(stderr, "ioclient ftp: {}\n", e.what());
        return 1;
    }
    return 0;
}

}  // namespace iom::client::ftp
