// The session's driving half: control input, the command table, the
// operations and their completions, login, and the commands that need no file
// (session_files.cpp has the rest). The protocol a server follows to drive it
// is in session.hpp.
#include "ftp/session.hpp"

#include "ftp/data_address.hpp"
#include "ftp/path.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>

namespace iom::ftp {

namespace {

bool is_anonymous_name(const std::string& name) {
    std::string u = upper(name);
    return u == "ANONYMOUS" || u == "FTP";
}

}  // namespace

const Session::CommandInfo* Session::find_command(const std::string& verb) {
    // verb, handler, needs login, needs an argument
    static const CommandInfo table[] = {
        {"USER", &Session::cmd_user, false, true},  {"PASS", &Session::cmd_pass, false, false},
        {"QUIT", &Session::cmd_quit, false, false}, {"NOOP", &Session::cmd_noop, false, false},
        {"SYST", &Session::cmd_syst, false, false}, {"FEAT", &Session::cmd_feat, false, false},
        {"OPTS", &Session::cmd_opts, false, true},  {"HELP", &Session::cmd_help, false, false},
        {"STAT", &Session::cmd_stat, false, false}, {"ABOR", &Session::cmd_abor, false, false},
        {"PWD", &Session::cmd_pwd, true, false},    {"XPWD", &Session::cmd_pwd, true, false},
        {"CWD", &Session::cmd_cwd, true, true},     {"XCWD", &Session::cmd_cwd, true, true},
        {"CDUP", &Session::cmd_cdup, true, false},  {"XCUP", &Session::cmd_cdup, true, false},
        {"MKD", &Session::cmd_mkd, true, true},     {"XMKD", &Session::cmd_mkd, true, true},
        {"RMD", &Session::cmd_rmd, true, true},     {"XRMD", &Session::cmd_rmd, true, true},
        {"DELE", &Session::cmd_dele, true, true},   {"RNFR", &Session::cmd_rnfr, true, true},
        {"RNTO", &Session::cmd_rnto, true, true},   {"TYPE", &Session::cmd_type, true, true},
        {"MODE", &Session::cmd_mode, true, true},   {"STRU", &Session::cmd_stru, true, true},
        {"ALLO", &Session::cmd_allo, true, false},  {"ACCT", &Session::cmd_allo, false, false},
        {"PASV", &Session::cmd_pasv, true, false},  {"EPSV", &Session::cmd_epsv, true, false},
        {"PORT", &Session::cmd_port, true, true},   {"EPRT", &Session::cmd_eprt, true, true},
        {"REST", &Session::cmd_rest, true, true},   {"RETR", &Session::cmd_retr, true, true},
        {"STOR", &Session::cmd_stor, true, true},   {"APPE", &Session::cmd_appe, true, true},
        {"SIZE", &Session::cmd_size, true, true},   {"MDTM", &Session::cmd_mdtm, true, true},
        {"MFMT", &Session::cmd_mfmt, true, true},
        {"AUTH", &Session::cmd_auth, false, true},  {"PBSZ", &Session::cmd_pbsz, false, true},
        {"PROT", &Session::cmd_prot, false, true},
        {"MLST", &Session::cmd_mlst, true, false},  {"MLSD", &Session::cmd_mlsd, true, false},
        {"LIST", &Session::cmd_list, true, false},  {"NLST", &Session::cmd_nlst, true, false},
    };
    for (const auto& c : table)
        if (verb == c.verb) return &c;
    return nullptr;
}

Session::Session(const Site& site, const Address& control_peer, const Address& control_local)
    : site_(site), peer_(control_peer), local_(control_local), reader_(site.limits.max_line) {}

Session::~Session() {
    if (site_.log && registered_) site_.log->disconnect(peer_, logged_in_ ? user_ : "");
    if (site_.registry && registered_) site_.registry->close(peer_);
    if (site_.registry && user_counted_) site_.registry->logout(user_);
}

void Session::start() {
    if (site_.registry && site_.registry->guessing(peer_)) {  // too many failed logins from there, lately
        if (site_.log) site_.log->refused(peer_);
        reply(421, "Too many failed logins from your address; try again later.");
        return close_session();
    }
    if (site_.registry) {
        registered_ = site_.registry->open(peer_);
        if (!registered_) {
            if (site_.log) site_.log->refused(peer_);
            reply(421, "Too many sessions (in all or from your address); try again later.");
            return close_session();
        }
    }
    if (site_.log) site_.log->connect(peer_);
    reply(220, "iomodels FTP server ready.");
}

// ---- input -----------------------------------------------------------------

bool Session::wants_input() const {
    if (wait_ == Wait::closed || wait_ == Wait::tls || quit_pending_) return false;  // tls: the bytes are TLS's
    return queued_bytes_ < site_.limits.max_line && out_.size() < max_unsent;
}

void Session::receive(std::string_view bytes) {
    while (!bytes.empty() && wait_ != Wait::closed && !quit_pending_) {
        auto event = reader_.feed(bytes);
        if (event == LineReader::Event::none) break;
        Line line;
        line.too_long = event == LineReader::Event::too_long;
        if (!line.too_long) line.cmd = parse_command(reader_.line());
        bool is_abor = !line.too_long && line.cmd.verb == "ABOR";
        if (is_abor && synch_) {  // Telnet Synch: what came before the ABOR is discarded (RFC 959 4.1.3)
            synch_ = false;
            queue_.clear();
            queued_bytes_ = 0;
        }
        if (wait_ == Wait::transfer && !line.too_long && (queue_.empty() || is_abor) && handle_now(line.cmd))
            continue;
        queued_bytes_ += line.cmd.arg.size() + line.cmd.verb.size() + 2;
        queue_.push_back(std::move(line));
    }
    pump();
}

void Session::urgent() { synch_ = true; }

void Session::peer_closed() {
    if (wait_ == Wait::closed) return;
    queue_.clear();
    if (wait_ == Wait::transfer) {  // finish the upload's bookkeeping first, then close
        quit_pending_ = true;
        if (!abort_requested_) {
            abort_requested_ = true;
            requests_.emplace_back(AbortRequest{});
        }
    } else if (wait_ == Wait::fs) {
        quit_pending_ = true;  // the operation completes, then the session closes
    } else {
        close_session();
    }
}

void Session::timed_out(Timeout which) {
    if (wait_ == Wait::closed) return;
    reply(421, which == Timeout::login ? "Login time exceeded; closing." : "Idle too long; closing.");
    close_session();
}

std::optional<Request> Session::next_request() {
    if (requests_.empty()) return std::nullopt;
    Request r = std::move(requests_.front());
    requests_.pop_front();
    return r;
}

void Session::close_session() {
    if (wait_ == Wait::closed) return;
    wait_ = Wait::closed;
    queue_.clear();
    queued_bytes_ = 0;
    requests_.emplace_back(CloseRequest{});
}

void Session::finish_if_quitting() {
    if (quit_pending_ && wait_ == Wait::none) {
        reply(221, "Goodbye.");
        close_session();
    }
}

void Session::pump() {
    finish_if_quitting();
    while (wait_ == Wait::none && !queue_.empty()) {
        Line line = std::move(queue_.front());
        queue_.pop_front();
        queued_bytes_ -= std::min(queued_bytes_, line.cmd.arg.size() + line.cmd.verb.size() + 2);
        execute(line);
    }
}

// During a transfer: the commands answered at once. False: let it wait.
bool Session::handle_now(const Command& cmd) {
    if (cmd.verb == "ABOR") {
        if (abort_requested_) return false;
        abort_requested_ = true;
        requests_.emplace_back(AbortRequest{});
        return true;
    }
    if (cmd.verb == "NOOP") {
        reply(200, "NOOP ok.");
        return true;
    }
    if (cmd.verb == "STAT" && cmd.arg.empty()) {
        reply_multi(out_, 211, "Status:",
                    {fmt::format("Logged in as {}", user_),
                     fmt::format("A transfer is in progress: {} bytes so far", transferred_)},
                    "End of status.");
        return true;
    }
    if (cmd.verb == "QUIT") {  // RFC 959: answered when the transfer's reply is out
        quit_pending_ = true;
        return true;
    }
    return false;
}

void Session::execute(const Line& line) {
    if (line.too_long) return reply(500, "Command line too long.");
    const Command& cmd = line.cmd;
    std::string rename_from = std::exchange(rename_from_, {});  // RNFR holds only for the next command
    if (cmd.verb == "RNTO") rename_from_ = std::move(rename_from);
    const CommandInfo* info = find_command(cmd.verb);
    if (!info) return reply(502, fmt::format("Command {} not implemented.", cmd.verb.substr(0, 16)));
    if (has_forbidden_byte(cmd.arg)) return reply(501, "Names with CR, LF or NUL are refused.");
    if (info->needs_login && !logged_in_) return reply(530, "Please log in with USER and PASS.");
    if (info->needs_arg && cmd.arg.empty()) return reply(501, fmt::format("{} needs an argument.", cmd.verb));
    (this->*info->handler)(cmd.arg);
}

// ---- operations and their completions ----------------------------------------------
// A command that needs the server starts ONE operation and names the member
// that continues it, written next to the command. A completion ends the
// operation, runs that continuation, then the commands that waited behind it.

void Session::request_fs(FsThen then, FsRequest req) {
    fs_then_ = then;
    wait_ = Wait::fs;
    requests_.emplace_back(std::move(req));
}

void Session::request_passive(PassiveThen then) {
    passive_then_ = then;
    wait_ = Wait::passive;
    requests_.emplace_back(PassiveRequest{local_without_port(), peer_, site_.limits.passive_lo, site_.limits.passive_hi});
}

Address Session::local_without_port() const {
    Address local = local_;
    reinterpret_cast<sockaddr_in*>(&local.storage)->sin_port = 0;  // the same offset in sockaddr_in6
    return local;
}

void Session::complete(FsResult r) {
    if (wait_ != Wait::fs) return;
    wait_ = Wait::none;
    (this->*fs_then_)(r);
    pump();
}

void Session::complete(PassiveResult r) {
    if (wait_ != Wait::passive) return;
    wait_ = Wait::none;
    (this->*passive_then_)(r);
    pump();
}

void Session::complete(TransferResult r) {
    if (wait_ != Wait::transfer) return;
    wait_ = Wait::none;
    (this->*transfer_then_)(r);
    pump();
}

void Session::complete(Delayed) {  // the one delay: a failed login's (login_failed)
    if (wait_ != Wait::delay) return;
    wait_ = Wait::none;
    login_refused();
    pump();
}

// ---- login -------------------------------------------------------------------

void Session::cmd_user(const std::string& arg) {
    if (logged_in_) return reply(503, "Already logged in.");
    if (refuse_clear_login()) return;
    user_ = arg;
    user_given_ = true;
    if (site_.anonymous && is_anonymous_name(arg)) return reply(331, "Anonymous login ok; send any password.");
    reply(331, "Password required.");  // the same for a user that does not exist (RFC 2577)
}

void Session::cmd_pass(const std::string& arg) {
    if (logged_in_) return reply(503, "Already logged in.");
    if (!user_given_) return reply(503, "Send USER first.");
    if (refuse_clear_login()) return;
    user_given_ = false;
    anonymous_ = site_.anonymous && is_anonymous_name(user_);
    if (anonymous_) user_ = "anonymous";
    bool ok = anonymous_ || (site_.users && site_.users->check(user_, arg));
    if (!ok) return login_failed();
    if (site_.registry) {
        if (!site_.registry->login(user_)) {
            reply(421, "Too many sessions for this user; try again later.");
            return close_session();
        }
        user_counted_ = true;
    }
    FsRequest req;
    req.op = FsOp::open_home;
    req.dirfd = site_.root_fd;
    req.name = anonymous_ ? "pub" : user_;
    request_fs(&Session::login_done, std::move(req));
}

void Session::login_done(FsResult& r) {
    if (r.error) {
        if (site_.registry && user_counted_) site_.registry->logout(user_);
        user_counted_ = false;
        user_.clear();
        return reply(530, "Cannot open your home directory.");
    }
    home_ = std::move(r.fd);
    logged_in_ = true;
    if (site_.log) site_.log->login(peer_, user_);
    cwd_.assign(1, '/');  // not = "/": GCC 12 warns falsely (-Wrestrict) on that in a release build
    reply(230, anonymous_ ? "Anonymous access granted, read-only." : "Login successful.");
}

void Session::login_failed() {
    ++failures_;
    // The reply comes after the delay: guessing costs time, more from an address that guesses.
    unsigned ms = site_.registry ? site_.registry->login_failed(peer_) : site_.limits.login_delay_ms;
    if (site_.log) site_.log->login_failed(peer_, user_, ms);  // the name tried, never the password
    user_.clear();
    wait_ = Wait::delay;
    requests_.emplace_back(DelayRequest{ms});
}

void Session::login_refused() {
    if (failures_ >= site_.limits.max_login_failures) {
        reply(421, "Login incorrect; too many failures, closing.");
        return close_session();
    }
    reply(530, "Login incorrect.");
}

// ---- commands without files -------------------------------------------------------

void Session::cmd_quit(const std::string&) {
    reply(221, "Goodbye.");
    close_session();
}

void Session::cmd_noop(const std::string&) { reply(200, "NOOP ok."); }
void Session::cmd_syst(const std::string&) { reply(215, "UNIX Type: L8"); }
void Session::cmd_allo(const std::string&) { reply(202, "Not needed here."); }
void Session::cmd_abor(const std::string&) { reply(225, "No transfer to abort."); }
void Session::cmd_pwd(const std::string&) { reply(257, quote_path(cwd_) + " is the current directory."); }

void Session::cmd_feat(const std::string&) {
    std::vector<std::string> features = {"EPRT", "EPSV", "MDTM", "MFMT", "MLST " + fact_list(facts_),
                                         "PASV", "REST STREAM", "SIZE", "TVFS", "UTF8"};
    if (site_.tls) features.insert(features.begin(), {"AUTH TLS", "PBSZ", "PROT"});
    reply_multi(out_, 211, "Features:", features, "End");
}

void Session::cmd_opts(const std::string& arg) {
    std::string u = upper(arg);
    if (u == "UTF8 ON" || u == "UTF8" || u == "UTF-8 ON") return reply(200, "Always in UTF8 mode.");
    if (u.starts_with("MLST")) {
        facts_ = parse_fact_list(arg.size() > 5 ? arg.substr(5) : "");
        std::string list;  // only the chosen facts, "type;size;"
        for (auto name : {"type", "size", "modify", "perm", "unique"})
            if (facts_ & parse_fact_list(name)) list += std::string(name) + ";";
        return reply(200, "MLST OPTS " + list);
    }
    reply(501, "Option not understood.");
}

void Session::cmd_help(const std::string&) {
    reply_multi(out_, 214, "The following commands are recognized:",
                {"ABOR ACCT ALLO APPE AUTH CDUP CWD DELE EPRT EPSV FEAT HELP LIST MDTM MFMT MKD MLSD",
                 "MLST MODE NLST NOOP OPTS PASS PASV PBSZ PORT PROT PWD QUIT REST RETR RMD RNFR RNTO",
                 "SIZE STAT STOR STRU SYST TYPE USER XCUP XCWD XMKD XPWD XRMD"},
                "Help OK.");
}

void Session::cmd_stat(const std::string& arg) {
    if (!arg.empty()) return reply(504, "STAT with an argument is not supported; use LIST.");
    reply_multi(out_, 211, "Status:",
                {logged_in_ ? fmt::format("Logged in as {}", user_) : std::string("Not logged in"),
                 fmt::format("TYPE: {}; STRU: F; MODE: S", ascii_ ? "ASCII" : "BINARY"), "No transfer in progress"},
                "End of status.");
}

void Session::cmd_type(const std::string& arg) {
    std::string u = upper(arg);
    if (u == "A" || u == "A N") {
        ascii_ = true;
        return reply(200, "Type set to A.");
    }
    if (u == "I" || u == "L 8") {
        ascii_ = false;
        return reply(200, "Type set to I.");
    }
    reply(504, "Type not supported (A, A N, I, L 8).");
}

void Session::cmd_mode(const std::string& arg) {
    upper(arg) == "S" ? reply(200, "Mode set to S.") : reply(504, "Only MODE S (stream) is supported.");
}

void Session::cmd_stru(const std::string& arg) {
    upper(arg) == "F" ? reply(200, "Structure set to F.") : reply(504, "Only STRU F (file) is supported.");
}

void Session::cmd_rest(const std::string& arg) {
    if (ascii_) return reply(501, "Resuming transfers not allowed in ASCII mode.");
    std::uint64_t n = 0;
    auto [p, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), n);
    if (ec != std::errc{} || p != arg.data() + arg.size()) return reply(501, "REST needs a byte offset.");
    rest_ = n;
    reply(350, fmt::format("Restarting at {}. Send STOR or RETR.", n));
}

// ---- the data connection's set-up ------------------------------------------------

void Session::cmd_pasv(const std::string&) {
    if (epsv_all_) return reply(503, "EPSV ALL in effect: use EPSV.");
    if (!pasv_text(local_, 0)) return reply(500, "PASV cannot describe an IPv6 address; use EPSV.");
    request_passive(&Session::pasv_listening);
}

void Session::pasv_listening(const PassiveResult& r) {
    if (passive_opened(r)) reply(227, *pasv_text(site_.passive_address.len ? site_.passive_address : local_, r.port));
}

void Session::cmd_epsv(const std::string& arg) {
    if (upper(arg) == "ALL") {
        epsv_all_ = true;
        return reply(200, "EPSV ALL ok.");
    }
    if (!arg.empty() && arg != "1" && arg != "2") return reply(501, "EPSV takes 1, 2 or ALL.");
    int proto = net_protocol(local_);
    if (!arg.empty() && arg != std::to_string(proto))
        return reply(522, fmt::format("Network protocol not supported, use ({}).", proto));
    request_passive(&Session::epsv_listening);
}

void Session::epsv_listening(const PassiveResult& r) {
    if (passive_opened(r)) reply(229, epsv_text(r.port));
}

// PASV's and EPSV's continuations' common start: the next transfer is passive, or 425.
bool Session::passive_opened(const PassiveResult& r) {
    if (r.error) {
        data_mode_ = DataMode::none;
        reply(425, "Cannot open a passive connection.");
        return false;
    }
    data_mode_ = DataMode::passive;
    return true;
}

namespace {
const char* refusal(ActiveCheck c) {
    return c == ActiveCheck::foreign_address ? "Rejected: a data connection to another host (RFC 2577)."
                                             : "Rejected: a data connection to a privileged port (RFC 2577).";
}
}  // namespace

void Session::cmd_port(const std::string& arg) {
    if (epsv_all_) return reply(503, "EPSV ALL in effect: use EPSV.");
    data_mode_ = DataMode::none;  // refused, it leaves no data address: not even the one before it
    auto target = parse_port_arg(arg);
    if (!target) return reply(501, "PORT needs h1,h2,h3,h4,p1,p2.");
    set_active(*target, "PORT");
}

// PORT and EPRT: only to the client's own host and an unprivileged port (RFC 2577).
void Session::set_active(const Address& target, std::string_view verb) {
    if (auto check = check_active_target(target, peer_); check != ActiveCheck::ok) return reply(501, refusal(check));
    data_mode_ = DataMode::active;
    active_target_ = target;
    reply(200, fmt::format("{} command successful.", verb));
}

void Session::cmd_eprt(const std::string& arg) {
    if (epsv_all_) return reply(503, "EPSV ALL in effect: use EPSV.");
    data_mode_ = DataMode::none;  // as PORT: a refusal forgets the earlier data address
    bool supported = true;
    auto target = parse_eprt_arg(arg, supported);
    if (!supported) return reply(522, "Network protocol not supported, use (1,2).");
    if (!target) return reply(501, "EPRT needs |proto|address|port|.");
    set_active(*target, "EPRT");
}

}  // namespace iom::ftp
