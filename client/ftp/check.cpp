#include "client/ftp/check.hpp"

#include "client/ftp/check_support.hpp"
#include "client/ftp/client.hpp"
#include "client/lib/connection.hpp"
#include "common/error.hpp"
#include "common/live_counters.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <ostream>
#include <thread>

namespace iom::client::ftp {

namespace {

using std::chrono::milliseconds;

constexpr std::size_t kBig = 16 << 20;  // more than a loopback connection's buffers, both ends

// ---- real clients --------------------------------------------------------

CaseResult curl_sequence(const CheckOptions& o) {
    Scratch s(o);
    const std::string name = s.name("curl"), bytes = content(300000, 1);
    {
        Client c = session(o);
        put(c, name, bytes);
        c.quit();
    }
    // curl: USER PASS PWD CWD EPSV TYPE I SIZE RETR.
    Client c = Client::connect(o.url, client_options(o));
    c.log_in(o.url);
    if (Reply r = c.command("PWD"); r.code != 257) return fail("PWD: " + r.last_line());
    if (o.url.path != "/") c.expect("CWD " + o.url.path, 2);
    Reply epsv = c.command("EPSV");
    auto port = passive_port(epsv);
    if (!port) return fail("EPSV (curl sends it first, then PASV): " + epsv.last_line());
    Stream data(dial(with_port(c.peer(), *port), nullptr, 0, o.timeout));
    c.expect("TYPE I", 2);
    if (Reply r = c.command("SIZE " + name); r.code != 213 || r.text.substr(4) != std::to_string(bytes.size()))
        return fail(fmt::format("SIZE {}: {} (want 213 {})", name, r.last_line(), bytes.size()));
    std::string got;
    Reply done = transfer(c, data, "RETR " + name, &got, o.timeout);
    if (done.kind() != 2) return fail("RETR: " + done.last_line());
    if (got != bytes) return fail(describe(bytes, got));
    c.quit();
    return pass();
}

CaseResult lftp_sequence(const CheckOptions& o) {
    Scratch s(o);
    const std::string name = s.name("lftp");
    Client c = Client::connect(o.url, client_options(o));
    Reply feat = c.command("FEAT");  // before USER, as lftp does
    if (feat.code != 211) return fail("FEAT before login (lftp sends it first): " + feat.last_line());
    c.log_in(o.url);
    if (Reply r = c.command("OPTS UTF8 ON"); r.kind() != 2) return fail("OPTS UTF8 ON: " + r.last_line());
    if (o.url.path != "/") c.expect("CWD " + o.url.path, 2);
    c.expect("TYPE I", 2);
    put(c, name, "lftp\n");
    if (feat.text.find("MLST") == std::string::npos) {
        c.quit();
        return pass("FEAT lists no MLST: lftp would not use MLSD, nor does this case");
    }
    std::string listing = c.list("MLSD", "");
    auto at = listing.find(name);
    if (at == std::string::npos) return fail("MLSD does not list " + name);
    auto line_start = listing.rfind('\n', at);
    std::string line = listing.substr(line_start == std::string::npos ? 0 : line_start + 1,
                                      at - (line_start == std::string::npos ? 0 : line_start + 1));
    if (line.find("size=5;") == std::string::npos && line.find("Size=5;") == std::string::npos)
        return fail("MLSD facts of " + name + " lack size=5: " + line);
    c.quit();
    return pass();
}

CaseResult ftplib_sequence(const CheckOptions& o) {
    Scratch s(o);
    const std::string name = s.name("ftplib"), bytes = content(100000, 2);
    Client c = session(o);
    put(c, name, bytes);
    // ftplib: retrlines('LIST') is TYPE A, PASV, LIST; retrbinary is TYPE I, PASV, RETR.
    c.expect("TYPE A", 2);
    Reply pasv = c.command("PASV");
    auto port = passive_port(pasv);
    if (!port) return fail("PASV (ftplib's default): " + pasv.last_line());
    Stream data(dial(with_port(c.peer(), *port), nullptr, 0, o.timeout));
    std::string listing;
    if (Reply r = transfer(c, data, "LIST", &listing, o.timeout); r.kind() != 2) return fail("LIST: " + r.last_line());
    if (listing.find(name) == std::string::npos) return fail("LIST does not show " + name);
    if (listing.find("\r\n") == std::string::npos) return fail("LIST in TYPE A without CRLF line ends");
    c.expect("TYPE I", 2);
    port = passive_port(c.command("PASV"));
    if (!port) return fail("second PASV refused");
    data = Stream(dial(with_port(c.peer(), *port), nullptr, 0, o.timeout));
    std::string got;
    if (Reply r = transfer(c, data, "RETR " + name, &got, o.timeout); r.kind() != 2) return fail("RETR: " + r.last_line());
    if (got != bytes) return fail(describe(bytes, got));
    c.quit();
    return pass();
}

// ---- TYPE A and resume ---------------------------------------------------

// TYPE A one way: the file goes up in one type and comes back in the
// other; LF on disk is CRLF on the wire (RFC 959, 3.1.1.1).
CaseResult type_a(const CheckOptions& o, bool download) {
    static const std::string lf = "one\ntwo\n\nthree", crlf = "one\r\ntwo\r\n\r\nthree";
    Scratch s(o);
    const std::string name = s.name(download ? "ascii-r" : "ascii-s");
    Client c = session(o);
    c.expect(download ? "TYPE I" : "TYPE A", 2);
    put(c, name, download ? lf : crlf);
    c.expect(download ? "TYPE A" : "TYPE I", 2);
    std::string got = get(c, name);
    c.quit();
    if (got != (download ? crlf : lf))
        return fail(fmt::format("TYPE A {} {:?}", download ? "RETR sent" : "STOR stored", got));
    return pass();
}

CaseResult resume_retr(const CheckOptions& o) {
    Scratch s(o);
    const std::string name = s.name("rest-retr"), bytes = content(1 << 20, 3);
    Client c = session(o);
    put(c, name, bytes);
    const std::uint64_t offset = 123457;
    std::string got = get(c, name, offset);  // REST 123457, RETR
    c.quit();
    if (got != bytes.substr(offset)) return fail("REST + RETR: " + describe(bytes.substr(offset), got));
    return pass();
}

CaseResult resume_stor(const CheckOptions& o, const std::string& how) {
    Scratch s(o);
    const std::string name = s.name("resume-" + how), bytes = content(1 << 20, 4);
    const std::size_t half = 400001;
    Client c = session(o);
    put(c, name, bytes.substr(0, half));
    auto have = c.size(name);
    if (!have) return skip("SIZE refused: a client cannot learn where to resume");
    if (*have != half) return fail(fmt::format("SIZE says {} after a {}-byte STOR", *have, half));
    try {
        if (how == "appe") put(c, name, bytes.substr(half), "APPE");
        else put(c, name, bytes.substr(half), "STOR", half);
    } catch (const FtpError& e) {
        // RFC 959 lets a server refuse REST before STOR (and APPE is optional in practice).
        if (e.code() == 502 || e.code() == 504 || e.code() == 500 || (how == "rest" && e.code() == 501))
            return skip(std::string("not supported: ") + e.what());
        throw;
    }
    std::string got = get(c, name);
    c.quit();
    if (got != bytes) return fail(describe(bytes, got));
    return pass();
}

// ---- concurrency ---------------------------------------------------------

CaseResult stalled_download(const CheckOptions& o) {
    Scratch s(o);
    const std::string name = s.name("big"), bytes = content(kBig, 5);
    Client stalled = session(o);
    put(stalled, name, bytes);
    // A download nobody reads: the server's send blocks (or would block).
    Stream data(dial(with_port(stalled.peer(), passive(stalled)), nullptr, 4096, o.timeout));
    if (Reply r = stalled.command("RETR " + name); r.kind() != 1) return fail("RETR: " + r.last_line());
    stalled.secure_data(data);
    // Meanwhile three others download the whole file, each from its own thread.
    constexpr int n = 3;
    std::string errors[n];
    std::vector<std::thread> others;
    for (int i = 0; i < n; ++i)
        others.emplace_back([&, i] {
            try {
                Client c = session(o);
                std::string got = get(c, name);
                if (got != bytes) errors[i] = describe(bytes, got);
                c.quit();
            } catch (const std::exception& e) {
                errors[i] = e.what();
            }
        });
    for (auto& t : others) t.join();
    for (const auto& e : errors)
        if (!e.empty()) return fail("beside a stalled download, another session: " + e);
    // Now the stalled one reads, and must get every byte too.
    auto got = read_all(data, o.timeout);
    if (!got || *got != bytes) return fail("the stalled download, resumed: " + describe(bytes, got.value_or("")));
    if (Reply r = stalled.read_reply(); r.kind() != 2) return fail("stalled RETR: " + r.last_line());
    stalled.quit();
    return pass(fmt::format("{} whole 16 MiB downloads while one stalled", n));
}

// ---- ABOR and STOR -------------------------------------------------------

CaseResult abort_oob(const CheckOptions& o) {
    Scratch s(o);
    const std::string name = s.name("abor"), bytes = content(kBig, 7);
    Client c = session(o);
    put(c, name, bytes);
    Stream data(dial(with_port(c.peer(), passive(c)), nullptr, 4096, o.timeout));
    if (Reply r = c.command("RETR " + name); r.kind() != 1) return fail("RETR: " + r.last_line());
    c.secure_data(data);
    if (!read_all(data, o.timeout, 65536)) return fail("no data after 150");
    // ftplib's abort(): "ABOR\r\n" sent as urgent data; the data connection
    // unread. Inside TLS there is no urgent data: ABOR goes as a command.
    c.send_raw("ABOR\r\n", c.tls() ? 0 : MSG_OOB);
    Reply first;
    try {
        first = c.read_reply();
    } catch (const std::exception& e) {
        return fail(std::string("no reply to ABOR while the download waits for us: ") + e.what());
    }
    data.reset();
    std::vector<int> codes{first.code};
    for (int code : replies_until_noop(c)) codes.push_back(code);
    std::string seen = fmt::format("{}", fmt::join(codes, " "));
    bool rfc = (codes == std::vector<int>{426, 226}) || (codes == std::vector<int>{226}) ||
               (codes == std::vector<int>{226, 225}) || (codes == std::vector<int>{226, 226}) ||
               (codes == std::vector<int>{426, 225});
    if (!rfc) return fail("ABOR answered " + seen + " (RFC 959: 426 then 226, or 226 then 225)");
    c.quit();
    return pass("ABOR answered " + seen);
}

CaseResult stor_atomic(const CheckOptions& o) {
    Scratch s(o);
    const std::string name = s.name("atomic"), old_bytes = content(1 << 20, 8), new_bytes = content(1 << 20, 9);
    Client writer = session(o);
    put(writer, name, old_bytes);
    Stream data(dial(with_port(writer.peer(), passive(writer)), nullptr, 0, o.timeout));
    if (Reply r = writer.command("STOR " + name); r.kind() != 1) return fail("STOR: " + r.last_line());
    writer.secure_data(data);
    const std::size_t half = new_bytes.size() / 2;
    if (!send_data(data, std::string_view(new_bytes).substr(0, half), o.timeout)) throw_sys("send half of the STOR");
    // Half the new file sent: what does a reader see now? It may wait (a
    // server that locks the file): read in a thread, and go on sending once
    // it is done or after a while, whichever comes first.
    Client reader = session(o);
    std::string during, reader_error;
    std::promise<void> read_done;
    std::thread reading([&] {
        try {
            during = get(reader, name);
        } catch (const std::exception& e) {
            reader_error = e.what();
        }
        read_done.set_value();
    });
    bool waited = read_done.get_future().wait_for(std::min(o.timeout / 2, milliseconds(2000))) !=
                  std::future_status::ready;
    bool sent = send_data(data, std::string_view(new_bytes).substr(half), o.timeout);
    if (sent) end_upload(data, o.timeout);
    data.reset();
    reading.join();
    if (!sent) return fail(fmt::format("sending the rest of the STOR: {}", std::strerror(errno)));
    if (Reply r = writer.read_reply(); r.kind() != 2) return fail("STOR: " + r.last_line());
    if (!reader_error.empty()) return fail("a RETR during the STOR: " + reader_error);
    std::string after = get(reader, name);
    writer.quit();
    reader.quit();
    if (after != new_bytes) return fail("after the STOR: " + describe(new_bytes, after));
    if (during != old_bytes && during != new_bytes)
        return fail(fmt::format("a RETR during the STOR read {} bytes, neither the old file nor the new",
                                during.size()));
    return pass(fmt::format("the reader {}saw the {} file", waited ? "waited for the upload and " : "",
                            during == old_bytes ? "old" : "new"));
}


// ---- what a team needs: the upload rule, a refused PORT, honest counters ---

// The data connection reset (SO_LINGER 0): a client that died, not the end of the file.
void reset(Stream& data) {
    linger l{.l_onoff = 1, .l_linger = 0};
    ::setsockopt(data.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
    data.reset();
}

// STOR half a file in a session of its own, then lose the data connection:
// what is left under `name`, as another session sees it.
std::optional<std::string> cut_short_upload(const std::string& name, const std::string& bytes, const CheckOptions& o) {
    Client c = session(o);
    Stream data(dial(with_port(c.peer(), passive(c)), nullptr, 0, o.timeout));
    if (Reply r = c.command("STOR " + name); r.kind() != 1) throw FtpError("STOR " + name, r);
    c.secure_data(data);
    if (!send_data(data, std::string_view(bytes).substr(0, bytes.size() / 2), o.timeout))
        throw_sys("send half of the STOR");
    reset(data);
    // The transfer's end (426; 226 from a server that took the reset for the
    // end) comes before TYPE's 200: TYPE waits for the transfer (NOOP may be
    // answered during it). pyftpdlib may answer late, or not at all: this
    // session is left as it is, and another one looks at the file.
    c.send_raw("TYPE I\r\n");
    for (int i = 0; i < 4 && c.read_reply().code != 200; ++i) {
    }
    Client v = session(o);
    if (Reply r = v.command("SIZE " + name); r.kind() != 2) return std::nullopt;
    std::string left = get(v, name);
    v.quit();
    return left;
}

// An upload cut short never replaces a file; one of a new name stays, to
// be resumed. RFC 959 leaves both open: a server that writes in place (and
// so loses the old file) is reported with a SKIP, not failed.
CaseResult stor_interrupted(const CheckOptions& o) {
    Scratch s(o);
    const std::string name = s.name("cut"), fresh = s.name("cut-new");
    const std::string old_bytes = content(1 << 20, 10), new_bytes = content(1 << 20, 11);
    Client c = session(o);
    put(c, name, old_bytes);
    c.quit();
    auto left = cut_short_upload(name, new_bytes, o);
    auto kept = cut_short_upload(fresh, new_bytes, o);
    std::string resumable = kept ? fmt::format("a cut-short new upload kept ({} bytes), to resume", kept->size())
                                 : "a cut-short new upload not kept: nothing to resume";
    if (!left) return skip("an upload cut short over a file left no file at all; " + resumable);
    if (*left != old_bytes)
        return skip(fmt::format("an upload cut short over a file replaced it: {} bytes left of the old {} (written in "
                                "place; RFC 959 leaves it open); {}",
                                left->size(), old_bytes.size(), resumable));
    if (!kept) return skip("the old file whole, but " + resumable);
    return pass("the old file whole; " + resumable);
}

// PORT to the client, then a PORT refused: the earlier address must not
// be used. A connection to 127.0.0.2 is a bounce (FAIL); a LIST to the
// earlier address is what RFC 959 leaves open (SKIP, reported).
CaseResult port_refused(const CheckOptions& o) {
    Client c = session(o);
    if (c.peer().family() != AF_INET) return skip("the server is not on IPv4");
    const std::string me = ipv4_of(local_address(c.control_fd()));
    Fd mine = listen_tcp(parse_address(me, 0), 8, true);
    Fd trap = listen_tcp(parse_address("127.0.0.2", 0), 8, true);
    const std::uint16_t mport = local_address(mine.get()).port(), tport = local_address(trap.get()).port();
    if (Reply r = c.command("PORT " + port_argument(me, mport)); r.kind() != 2)
        return skip("PORT to the client's own address refused: " + r.last_line());
    Reply refused = c.command("PORT " + port_argument("127.0.0.2", tport));
    Reply r = c.command("LIST");
    bool earlier = false;
    if (r.kind() == 1) {
        // Under PROT P a server that connected waits for our TLS handshake:
        // closed unanswered, the LIST ends (in an error) instead of at the timeout.
        if (c.protected_data() && connection_waiting(mine.get(), std::min(o.timeout, milliseconds(500)))) {
            earlier = true;
            Fd(::accept(mine.get(), nullptr, nullptr));
        }
        r = c.read_reply();
    }
    if (connection_waiting(trap.get(), std::min(o.timeout, milliseconds(500))))
        return fail("the server connected to 127.0.0.2 (a bounce)");
    if (refused.kind() == 2) return fail("PORT to 127.0.0.2 accepted: " + refused.last_line());
    earlier = earlier || connection_waiting(mine.get(), std::min(o.timeout, milliseconds(500)));
    c.quit();
    if (earlier)
        return skip(fmt::format("after PORT 200 and PORT {}, LIST got {} and connected to the earlier address "
                                "(RFC 959 leaves open what a refused PORT leaves)",
                                refused.code, r.code));
    return pass(fmt::format("PORT {}, then LIST {}: no connection anywhere", refused.code, r.code));
}

// Every client gone, the server counts no connection (data connections are
// not sessions): what `ioclient top` shows. Only this suite's servers publish
// live counters; any other is a SKIP.
CaseResult connections_back_to_zero(const CheckOptions& o) {
    auto find = [&]() -> std::optional<LiveServer> {
        for (const LiveServer& s : read_live_servers())
            if (s.port == o.url.port) return s;
        return std::nullopt;
    };
    if (!find()) return skip("no live counters for this server (only this suite's servers publish them)");
    long open = 0;
    for (auto end = std::chrono::steady_clock::now() + o.timeout; std::chrono::steady_clock::now() < end;) {
        auto s = find();
        if (!s) return skip("the server's live counters are gone");
        auto at = [&](const char* k) { return static_cast<long>((*s)[k]); };
        open = at("accepts") - at("refused") - at("closed") - at("resets") - at("idle_timeouts");
        if (open <= 0) return pass(fmt::format("accepts {}, closed {}: 0 connections", at("accepts"), at("closed")));
        std::this_thread::sleep_for(milliseconds(50));
    }
    return fail(fmt::format("{} connections counted with every client of the check gone", open));
}

}  // namespace

const std::vector<FtpCase>& ftp_check_cases() {
    static const std::vector<FtpCase> cases{
        {"curl-sequence", "curl's download: USER PASS PWD EPSV TYPE I SIZE RETR, the bytes whole", {}, curl_sequence},
        {"lftp-sequence", "lftp's start: FEAT before login, OPTS UTF8 ON; MLSD with a size fact if FEAT lists MLST",
         {}, lftp_sequence},
        {"ftplib-sequence", "Python ftplib: TYPE A, PASV, LIST (CRLF lines); TYPE I, PASV, RETR", {}, ftplib_sequence},
        {"type-a-retr", "TYPE A download: LF in the file goes out as CRLF", {},
         [](const CheckOptions& o) { return type_a(o, true); }},
        {"type-a-stor", "TYPE A upload: CRLF on the wire is stored as LF", {},
         [](const CheckOptions& o) { return type_a(o, false); }},
        {"resume-retr", "REST N + RETR sends the file from byte N", {}, resume_retr},
        {"resume-appe", "SIZE, then APPE the rest: the file whole (SKIP if APPE is refused with 50x)",
         {}, [](const CheckOptions& o) { return resume_stor(o, "appe"); }},
        {"resume-rest-stor", "SIZE, then REST N + STOR the rest: the file whole (SKIP if REST before STOR is refused)",
         {}, [](const CheckOptions& o) { return resume_stor(o, "rest"); }},
        {"stalled-download", "a 16 MiB download nobody reads; three other sessions download it whole meanwhile",
         {"uploads of 16 MiB", "4 sessions of one user from one address"}, stalled_download},
        {"port-bounce", "PORT and EPRT to 127.0.0.2 (not the client): refused, and no connection arrives there "
                        "(RFC 2577)", {"127.0.0.2 on this machine (Linux: all of 127/8 is loopback)"}, port_bounce},
        {"port-privileged", "PORT and EPRT to the client's own address, port 1023: 5xx (RFC 2577)", {},
         port_privileged},
        {"passive-stranger", "a stranger from 127.0.0.2 connects first to the passive port: it gets 0 bytes, "
                             "the client the whole file", {"127.0.0.2 on this machine"}, passive_stranger},
        {"pasv-loop", "200 PASV in a row: earlier passive listeners are closed; a transfer still works", {},
         pasv_loop},
        {"path-escape", "RETR ../../etc/passwd, /etc/passwd, CWD past the root: the system's files unreachable",
         {}, path_escape},
        {"symlink-escape", "a symlink planted in the URL's directory to a file and a directory outside the root: "
                           "RETR does not follow it out",
         {"--local-root DIR given to the check (the server runs here)"}, symlink_escape},
        {"bad-names", "MKD of names with CR or NUL: refused, nothing created", {}, bad_names},
        {"long-line", "a 5000-byte command line: one 500, then the session goes on (NOOP 200)", {}, long_line},
        {"abort-oob", "ABOR sent as urgent data (ftplib) during a 16 MiB download left unread: answered at once, "
                      "426+226 or 226+225", {"uploads of 16 MiB"}, abort_oob},
        {"stor-atomic", "a RETR while a STOR replaces a file reads the old file or the new, never a mix", {},
         stor_atomic},
        {"stor-interrupted", "a STOR over a file, its data connection reset halfway: the old file whole; a new "
                             "name's cut-short upload kept for a resume (SKIP, reported, if not: RFC 959 leaves it open)",
         {}, stor_interrupted},
        {"port-refused", "PORT to the client, then a refused PORT: LIST uses neither address (SKIP, reported, if it "
                         "uses the earlier one)", {"127.0.0.2 on this machine"}, port_refused},
        {"connections-zero", "the clients of the check gone, the server's live counters show 0 connections "
                             "(SKIP for a server that publishes none)", {"a server of this suite on this machine"},
         connections_back_to_zero},
    };
    return cases;
}

namespace {

// The clear cases, then the TLS ones.
std::vector<FtpCase> every_case() {
    std::vector<FtpCase> all = ftp_check_cases();
    all.insert(all.end(), ftp_tls_check_cases().begin(), ftp_tls_check_cases().end());
    return all;
}

}  // namespace

void add_check_command(CLI::App& parent, CheckCommand& c) {
    std::string footer = "Cases (each needs a user who may write in the URL's directory; the tls-* cases run with "
                         "--tls):\n";
    std::vector<std::string> names;
    for (const auto& k : every_case()) {
        footer += fmt::format("  {:<18} {}{}\n", k.name, k.description,
                              k.server_args.empty() ? "" : fmt::format(" [needs {}]", fmt::join(k.server_args, ", ")));
        names.push_back(k.name);
    }
    c.cmd = parent.add_subcommand("check", "The conformance and hostile suite for any FTP server: one line per "
                                           "case, PASS/FAIL/SKIP; exit 1 on any FAIL");
    c.cmd->footer(footer);
    auto* list = c.cmd->add_flag("--list", c.list, "List the cases and exit");
    c.cmd->add_option("URL", c.url, "ftp://USER:PASS@HOST:PORT/DIR: the login, and the directory the check "
                                    "writes its iomcheck-* files in")
        ->excludes(list);
    c.cmd->add_option("--case", c.cases, "Run only this case (repeatable; default: all)")
        ->check(CLI::IsMember(names));
    c.cmd->add_option("--local-root", c.local_root,
                      "The URL's directory on this machine, when the server runs here: lets symlink-escape plant "
                      "a symlink (else SKIP)");
    c.cmd->add_option("--timeout", c.timeout, "Seconds to wait for any reply or data")
        ->capture_default_str()->check(CLI::Range(0.1, 3600.0));
    add_tls_options(c.cmd, c.tls);
    c.cmd->callback([&c] {
        if (!c.list && c.url.empty()) throw CLI::ValidationError("check", "give the server's URL (or --list)");
    });
}

int check_main(const CheckCommand& c, std::ostream& out) {
    if (c.list) {
        for (const auto& k : every_case()) out << fmt::format("{:<18} {}\n", k.name, k.description);
        return 0;
    }
    CheckOptions o;
    o.url = parse_url(c.url);
    o.local_root = c.local_root;
    o.timeout = milliseconds(static_cast<long>(c.timeout * 1000));
    o.tls = make_tls(c.tls);
    // Without --tls the TLS cases run only when named (and then say they need it).
    const std::vector<FtpCase> cases = o.tls || !c.cases.empty() ? every_case() : ftp_check_cases();
    return run_cases("ftp check", cases, o, out, c.cases) == 0 ? 0 : 1;
}

}  // namespace iom::client::ftp
