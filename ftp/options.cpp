#include "ftp/options.hpp"

#include <cstdio>

namespace iom::ftp {

namespace {

// A number of seconds in [0, max], fractions allowed.
CLI::Validator seconds(double max) {
    return CLI::Validator(
        [max](std::string& in) {
            double v = 0;
            bool ok = CLI::detail::lexical_cast(in, v) && v >= 0 && v <= max;
            return ok ? std::string{} : "Value " + in + " is not a number of seconds from 0 to " + std::to_string(int(max));
        },
        "SECONDS");
}

}  // namespace

void add_ftp_options(CLI::App& app, Config& cfg) {
    add_server_options(app, cfg.server);
    for (const char* echo_only : {"--echo", "--work-us", "--buffer-size", "--max-connections", "--idle-timeout"})
        app.remove_option(app.get_option(echo_only));
    Limits& l = cfg.limits;
    // Every option below, in a file: `name = value` lines (TOML; INI is read too),
    // the command line winning over the file. CLI11's own parser, not ours.
    app.set_config("--config", "", "Read options from FILE: one `option = value` a line (TOML), e.g. "
                                    "port = 2121, user = [\"alice:secret\"]; the command line wins")
        ->type_name("FILE");
    // A key that is no option is an error, not ignored (CLI11's default): a typo must not pass silently.
    // CLI11 2.1.2 keeps no line numbers: its errors name the key and the value, not the line.
    app.allow_config_extras(CLI::config_extras_mode::error);

    app.add_option("--root", cfg.root, "Directory served (created if missing): user NAME sees ROOT/NAME/, "
                                       "created at first login; anonymous sees ROOT/pub/")
        ->capture_default_str();
    app.add_option("--user", cfg.user_entries, "A user, NAME:PASSWORD (repeatable); the password is compared "
                                               "in constant time")
        ->type_name("NAME:PASSWORD");
    app.add_option("--users", cfg.users_file, "A file of users, one name:crypt-hash a line (mkpasswd's output), "
                                              "checked with crypt(3)")
        ->check(CLI::ExistingFile);
    app.add_flag("--anonymous", cfg.anonymous, "Allow USER anonymous (or ftp) with any password: read-only, in ROOT/pub/");
    app.add_flag_callback("--no-sendfile", [&cfg] { cfg.sendfile = false; },
                          "Send files through a user-space buffer instead of sendfile(2) (io_uring: instead of "
                          "SPLICE through a pipe), to compare the two (see the counters)");

    app.add_option("--log", cfg.log, "The access log, one JSON line per connection, login, failed login, transfer "
                                     "and disconnect (never a password): a FILE (appended to), - for standard "
                                     "error, none for no log")
        ->capture_default_str()->type_name("FILE|-|none");
    app.add_option_function<std::string>(
           "--passive-ports",
           [&l](const std::string& range) {
               unsigned lo = 0, hi = 0;
               char dash = 0, extra = 0;
               if (std::sscanf(range.c_str(), "%u%c%u%c", &lo, &dash, &hi, &extra) != 3 || dash != '-' || lo < 1024 ||
                   hi > 65535 || lo > hi)
                   throw CLI::ValidationError("--passive-ports", "expected LO-HI, 1024 <= LO <= HI <= 65535: " + range);
               l.passive_lo = static_cast<std::uint16_t>(lo);
               l.passive_hi = static_cast<std::uint16_t>(hi);
           },
           "The ports PASV and EPSV listen on (as vsftpd's pasv_min_port/pasv_max_port): open them in the "
           "firewall. All in use: 425, and the session goes on")
        ->type_name("LO-HI");
    app.add_option("--passive-address", cfg.passive_address,
                   "The IPv4 address PASV tells the client (as vsftpd's pasv_address): the public address of a "
                   "server behind NAT. EPSV tells only the port")
        ->check(CLI::ValidIPV4);
    TlsOptions& t = cfg.tls;
    auto* cert = app.add_option("--tls-cert", t.cert, "FTPS (RFC 4217, explicit: AUTH TLS): the server's certificate chain, PEM "
                                         "(scripts/ftps-cert.sh makes one for a class). Needs --tls-key")
        ->type_name("FILE");
    auto* key = app.add_option("--tls-key", t.key, "FTPS: the private key of --tls-cert, PEM")->type_name("FILE");
    cert->needs(key);
    key->needs(cert);
    auto* require = app.add_flag("--require-tls", t.require, "FTPS only, as vsftpd's force_local_logins_ssl and force_local_data_ssl: "
                                             "no login (530) and no data connection (521) in clear");
    auto* reuse = app.add_option_function<std::string>(
           "--tls-session-reuse", [&t](const std::string& v) { t.reuse_required = v == "required"; },
           "required: a data connection must resume the control connection's TLS session (522 if not), as "
           "vsftpd's require_ssl_reuse; curl, lftp and FileZilla do, Python's ftplib.FTP_TLS does not unless told to "
           "(default: optional)")
        ->check(CLI::IsMember({"required", "optional"}))->type_name("required|optional");
    auto* read_once = app.add_flag("--tls-read-once", t.read_once,
                                   "A broken reader, for `ioclient lab tls-edge` (epoll_ftp_server): one TLS record "
                                   "per wakeup, not draining what OpenSSL read ahead (SSL_has_pending), so commands "
                                   "it holds wait for a readiness that never comes");
    for (auto* needs_tls : {require, reuse, read_once}) needs_tls->needs(cert);
    app.add_option("--max-line", l.max_line, "Longest command line in bytes; a longer one gets 500 and is discarded")
        ->capture_default_str()->check(CLI::Range(std::size_t{512}, std::size_t{65536}));
    app.add_option("--max-sessions", l.max_sessions, "Sessions at once, in all (past it: 421)")
        ->capture_default_str()->check(CLI::Range(std::size_t{1}, std::size_t{100000}));
    app.add_option("--max-per-address", l.max_per_address,
                   "Sessions at once from one client address (421 past it). The default suits a class on one "
                   "machine; on a server exposed to a network, set it low (e.g. 10)")
        ->capture_default_str()->check(CLI::Range(std::size_t{1}, std::size_t{100000}));
    app.add_option("--max-per-user", l.max_per_user,
                   "Sessions at once logged in as one user (421 past it). Set it low on a network-facing server")
        ->capture_default_str()->check(CLI::Range(std::size_t{1}, std::size_t{100000}));
    app.add_option("--login-failures", l.max_login_failures, "Failed logins before the session is closed (421)")
        ->capture_default_str()->check(CLI::Range(1u, 100u));
    app.add_option("--login-delay-ms", l.login_delay_ms, "Wait before answering a failed login, in milliseconds")
        ->capture_default_str()->check(CLI::Range(0u, 60000u));
    app.add_option("--throttle-after", l.throttle_after,
                   "Failed logins from one client address (across its sessions, within --throttle-window) before "
                   "each further failed login's reply waits twice as long as the one before")
        ->capture_default_str()->check(CLI::Range(0u, 100000u));
    app.add_option("--throttle-window", l.throttle_window, "Seconds a failed login counts against its address")
        ->capture_default_str()->check(seconds(86400));
    app.add_option("--throttle-max-ms", l.throttle_max_ms, "The longest wait before a failed login's reply, in ms")
        ->capture_default_str()->check(CLI::Range(0u, 3600000u));
    app.add_option("--refuse-guesser-after", l.guesser_refused_after,
                   "Failed logins from one address within --throttle-window past which its new sessions get 421")
        ->capture_default_str()->check(CLI::Range(1u, 10000000u));
    app.add_option("--login-timeout", l.login_timeout, "Seconds from connecting to logging in")
        ->capture_default_str()->check(seconds(86400));
    app.add_option("--idle-timeout", l.idle_timeout, "Seconds without a command, outside transfers; 0 = never")
        ->capture_default_str()->check(seconds(86400));
    app.add_option("--stall-timeout", l.stall_timeout, "Seconds a transfer may make no progress before it is aborted")
        ->capture_default_str()->check(seconds(86400));
    app.add_option("--passive-timeout", l.passive_timeout, "Seconds for the client to connect to a passive port (425 after)")
        ->capture_default_str()->check(seconds(3600));
    app.add_option("--max-upload", l.max_upload, "Largest file an upload may make, in bytes (K, M, G suffixes); 552 past it")
        ->default_str("1T")->transform(CLI::AsSizeValue(false))->check(CLI::PositiveNumber);
    app.add_option("--transfer-buffer", l.transfer_buffer, "Bytes of buffer per transfer (K, M suffixes): the bound "
                                                           "on a transfer's memory")
        ->default_str("256K")->transform(CLI::AsSizeValue(false))
        ->check(CLI::Range(std::size_t{4096}, std::size_t{64} << 20));
    app.add_option("--rate-limit", l.rate_limit, "Bytes per second per session (K, M suffixes); 0 = unlimited. On "
                                                 "loopback, what makes a progress bar visible")
        ->capture_default_str()->transform(CLI::AsSizeValue(false))->type_name("BYTES/S");
}

Users load_users(const Config& cfg) {
    Users users;
    for (const auto& entry : cfg.user_entries) users.add_plain(entry);
    if (!cfg.users_file.empty()) users.load_file(cfg.users_file);
    return users;
}

}  // namespace iom::ftp
