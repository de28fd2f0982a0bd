// One FTP session (RFC 959, 2428, 3659), as a state machine with no I/O:
// the protocol core that epoll_ftp_server and uring_ftp_server both drive.
//
// The session never touches a socket or a file and never waits (its only
// look at a clock: LIST reads the time of day, for ls's date format; the
// timers are the server's). The server feeds it
// the control connection's bytes and takes back replies to write; whatever
// else the session needs is a Request (requests.hpp) the server performs and
// answers with complete(). That is what lets a reactor (which performs the
// requests with ordinary calls between epoll_waits) and a proactor (which
// submits them to io_uring and completes them from the completion queue)
// share every line of the protocol.
//
// DRIVING A SESSION
//     Session s(site, control_peer, control_local);   // site: limits, users, registry, root fd
//     s.start();                            // 220 greeting (or 421 + Close past the session limits)
//     on control bytes:  s.receive(bytes)   // any split; EOF or error: s.peer_closed()
//     on urgent data:    s.urgent()         // EPOLLPRI / POLLPRI: the client's Telnet Synch (ftplib's ABOR)
//     on a timer:        s.timed_out(Timeout::login | Timeout::idle)
//     after any of these, and after every complete():
//         while (auto req = s.next_request()) perform(*req);   // std::variant: visit it
//         write(s.take_output());          // the server handles partial writes
// Rules:
//   - Set SO_OOBINLINE on the control socket: urgent bytes then arrive in order
//     through receive(); urgent() only says a Synch is under way.
//   - At most ONE operation is outstanding at a time: an FsRequest, a
//     PassiveRequest, a DelayRequest or a TransferRequest; complete it with
//     the matching complete() overload (exactly once). While a Transfer is in
//     flight the session still reads the control connection and may emit an
//     AbortRequest (no completion of its own) and finally a CloseRequest.
//   - CloseRequest is the last request: abort what is in flight, write the
//     output left, close everything. Completions after it are ignored.
//   - peer_closed() during an operation does not close at once: an FsRequest
//     completes first; a transfer gets an AbortRequest and its TransferResult
//     is still awaited (an upload of a new name is then put in place), then CloseRequest.
//   - Read the control socket only while wants_input() (bounded memory: it
//     turns false while commands wait behind an operation, after QUIT, and
//     when the replies not yet taken pass a few KiB). Stop reading too while
//     your own unwritten output is large: a client that never reads must not
//     make the server buffer without end.
//   - Timers are the server's: the login timer runs until logged_in(), the
//     idle timer while !transferring() (reset by control input), the stall
//     and passive-connect timers inside a transfer (they end it: stalled /
//     connect_failed). Delay requests are timers too.
//
// SEQUENCES (C: client line, S: reply, -> request the server performs, <- its completion)
//   login        C: USER alice       S: 331
//                C: PASS secret      -> FsRequest open_home(site root, "alice") <- fd   S: 230
//                (wrong password:    -> DelayRequest <- Delayed   S: 530; the 3rd failure: S: 421, -> Close)
//   PWD/CWD      C: PWD              S: 257 "/"
//                C: CWD docs         -> FsRequest stat(root, "/docs") <- dir   S: 250
//   EPSV+RETR    C: EPSV             -> PassiveRequest <- port 40000   S: 229 (|||40000|)
//                C: RETR a.txt       -> FsRequest open(root, "/docs/a.txt", O_RDONLY...) <- fd, stat
//                                    S: 150  -> TransferRequest{send, passive, file} <- done   S: 226
//   PORT+STOR    C: PORT 127,0,0,1,156,64   S: 200 (checked: the client's own host, port >= 1024)
//                C: STOR b.bin       -> FsRequest create(root, "/docs", ".in.b.bin.XXXX", O_EXCL) <- fd, dir
//                                    S: 150  -> TransferRequest{receive, active, file} <- done
//                                    -> FsRequest rename(dir, ".in.b.bin.XXXX" -> "b.bin") <- ok   S: 226
//                                    (cut short: rename RENAME_NOREPLACE; EEXIST -> unlink the temporary)
//   LIST         C: PASV             -> PassiveRequest <- port   S: 227
//                C: LIST -la         -> FsRequest list(root, cwd) <- entries
//                                    S: 150  -> TransferRequest{send, data = the listing} <- done   S: 226
//   ABOR in RETR (transfer in flight)  C: ABOR   -> AbortRequest
//                                    <- TransferResult aborted   S: 426, S: 226
//                (no transfer:       C: ABOR   S: 225)
//   QUIT in transfer                 C: QUIT   (nothing more is read)
//                                    <- TransferResult done   S: 226, S: 221   -> CloseRequest
// Commands that arrive during an operation wait, in order, and run after it;
// during a transfer ABOR, and (when nothing waits before them) STAT and NOOP,
// are answered at once.
//
// DECISIONS (see the README for why):
//   STOR      a temporary ".in.NAME.XXXXXXXXXXXX" beside the target (O_CREAT|O_EXCL,
//             name chosen here, retried on EEXIST), renamed over the target when
//             the upload finished. Cut short (ABOR, lost, stalled) it is renamed
//             only where no file has the name (RENAME_NOREPLACE), so an interrupted
//             new upload is there for SIZE and resume, and else unlinked: an
//             unfinished upload never replaces a file. On ENOSPC (452), too
//             large (552), a file error (451) or no data connection (425) it is
//             unlinked and the old file stays as it was.
//   APPE, REST+STOR   written in place (O_APPEND / from the offset), no temp.
//   SIZE in TYPE A    550 "SIZE not allowed in ASCII mode" (vsftpd and pyftpdlib
//             do the same: the ASCII size would cost reading the whole file).
//   REST in TYPE A    501.
//   refused PORT/EPRT 501 (foreign host or port < 1024, RFC 2577); EPRT with an
//             unknown network protocol 522.
//   FTPS      explicit only (AUTH TLS or AUTH SSL, then 234 and the handshake);
//             bytes sent in clear behind the AUTH line are discarded, never run
//             after the handshake (the STARTTLS command injection). AUTH after
//             login: 503. PBSZ accepts 0 only (TLS has no buffer size); PROT C
//             and P, S and E 536. --require-tls: USER and PASS in clear 530,
//             PROT C 534, a transfer without PROT P 521. A data connection
//             whose TLS fails 425, one that does not resume the control's TLS
//             session under --tls-session-reuse required 522 (vsftpd's reply).
#pragma once

#include "common/net.hpp"
#include "ftp/access_log.hpp"
#include "ftp/auth.hpp"
#include "ftp/command.hpp"
#include "ftp/limits.hpp"
#include "ftp/line_reader.hpp"
#include "ftp/requests.hpp"

#include <chrono>
#include <deque>
#include <optional>
#include <string>

namespace iom::ftp {

// The replies a session holds, not yet taken, before it stops asking for
// input (wants_input). A server holds its own unsent replies to the same
// bound: a client that never reads must not make it buffer without end.
inline constexpr std::size_t max_unsent = 16 << 10;

// What every session of one server shares.
struct Site {
    Limits limits;
    bool anonymous = false;               // USER anonymous/ftp, any password: read-only, in ROOT/pub
    const Users* users = nullptr;         // nullptr: no named users
    SessionRegistry* registry = nullptr;  // nullptr: no session counting (tests)
    int root_fd = -1;                     // --root, opened by the server (fs.hpp: open_site_root)
    AccessLog* log = nullptr;             // --log: connections, logins, transfers (nullptr: none)
    Address passive_address;              // --passive-address: what PASV tells (len 0: the control's local)
    bool tls = false;                     // --tls-cert/--tls-key given: AUTH TLS, PBSZ, PROT (session_tls.cpp)
    bool require_tls = false;             // --require-tls: no login and no data connection in clear
};

class Session {
public:
    Session(const Site& site, const Address& control_peer, const Address& control_local);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    void start();
    void receive(std::string_view bytes);
    void urgent();
    void peer_closed();
    void timed_out(Timeout which);

    std::optional<Request> next_request();
    void complete(FsResult result);
    void complete(PassiveResult result);
    void complete(TransferResult result);
    void complete(Delayed);
    void complete(TlsResult result);

    std::string take_output() { return std::exchange(out_, {}); }
    bool has_output() const { return !out_.empty(); }
    bool wants_input() const;
    bool logged_in() const { return logged_in_; }
    bool transferring() const { return wait_ == Wait::transfer; }
    // The transfer in flight has moved `bytes` on its data connection so far:
    // what STAT during it tells. Call it as often as is cheap (each turn).
    void transferred(std::uint64_t bytes) { transferred_ = bytes; }
    bool closed() const { return wait_ == Wait::closed; }
    bool tls() const { return tls_; }  // the control connection is TLS (AUTH TLS done)
    const std::string& user() const { return user_; }

private:
    enum class Wait { none, fs, passive, delay, tls, transfer, closed };
    // How the operation in flight continues: the command that starts it names
    // a member written next to it; the matching complete() runs it.
    using FsThen = void (Session::*)(FsResult&);
    using PassiveThen = void (Session::*)(const PassiveResult&);
    using TransferThen = void (Session::*)(const TransferResult&);
    struct Line {
        bool too_long = false;
        Command cmd;
    };
    using Handler = void (Session::*)(const std::string&);
    struct CommandInfo {
        const char* verb;
        Handler handler;
        bool needs_login;
        bool needs_arg;
    };
    static const CommandInfo* find_command(const std::string& verb);

    // session.cpp: input, dispatch, operations and completions, login, the commands that need no file
    void pump();
    void execute(const Line& line);
    bool handle_now(const Command& cmd);  // during a transfer: ABOR, STAT, NOOP, QUIT
    void reply(int code, std::string_view text) { ftp::reply(out_, code, text); }
    void close_session();
    void finish_if_quitting();
    void request_fs(FsThen then, FsRequest req);
    void request_passive(PassiveThen then);
    Address local_without_port() const;
    void cmd_user(const std::string&);
    void cmd_pass(const std::string&);
    void login_done(FsResult& r);
    void login_failed();
    void login_refused();
    void cmd_quit(const std::string&);
    void cmd_noop(const std::string&);
    void cmd_syst(const std::string&);
    void cmd_feat(const std::string&);
    void cmd_opts(const std::string&);
    void cmd_help(const std::string&);
    void cmd_stat(const std::string&);
    void cmd_abor(const std::string&);
    void cmd_pwd(const std::string&);
    void cmd_type(const std::string&);
    void cmd_mode(const std::string&);
    void cmd_stru(const std::string&);
    void cmd_allo(const std::string&);
    void cmd_rest(const std::string&);
    void cmd_pasv(const std::string&);
    void pasv_listening(const PassiveResult& r);
    void cmd_epsv(const std::string&);
    void epsv_listening(const PassiveResult& r);
    bool passive_opened(const PassiveResult& r);
    void cmd_port(const std::string&);
    void set_active(const Address& target, std::string_view verb);
    void cmd_eprt(const std::string&);

    // session_tls.cpp: FTPS, RFC 4217 (AUTH TLS, PBSZ, PROT), and the policy of --require-tls
    void cmd_auth(const std::string&);
    void cmd_pbsz(const std::string&);
    void cmd_prot(const std::string&);
    bool refuse_clear_login();
    bool refuse_clear_data();

    // session_files.cpp: paths, files, listings, transfers (each command, then its continuation)
    std::string path_of(const std::string& arg) const;
    bool refuse_read_only(int code);
    bool need_data_connection();
    bool fs_failed(const FsResult& r, int code);
    void cmd_cwd(const std::string&);
    void cwd_done(FsResult& r);
    void cmd_cdup(const std::string&);
    void cmd_size(const std::string&);
    void size_done(FsResult& r);
    void cmd_mdtm(const std::string&);
    void mdtm_done(FsResult& r);
    void cmd_mfmt(const std::string&);
    void mfmt_done(FsResult& r);
    void cmd_mlst(const std::string&);
    void mlst_done(FsResult& r);
    void name_op(FsThen then, FsOp op, const std::string& arg);
    void cmd_mkd(const std::string&);
    void mkd_done(FsResult& r);
    void cmd_rmd(const std::string&);
    void rmd_done(FsResult& r);
    void cmd_dele(const std::string&);
    void dele_done(FsResult& r);
    void cmd_rnfr(const std::string&);
    void rnfr_done(FsResult& r);
    void cmd_rnto(const std::string&);
    void rnto_done(FsResult& r);
    void cmd_retr(const std::string&);
    void retr_opened(FsResult& r);
    void cmd_stor(const std::string&);
    void create_temp();
    void temp_created(FsResult& r);
    void temp_received(const TransferResult& r);
    void temp_renamed(FsResult& r);
    void temp_gone(FsResult& r);
    void stor_resume_opened(FsResult& r);
    void cmd_appe(const std::string&);
    void appe_opened(FsResult& r);
    void start_upload(FsResult& r, std::uint64_t at, TransferThen then);
    void listing(FsThen then, const std::string& arg);
    void cmd_list(const std::string&);
    void list_read(FsResult& r);
    void cmd_nlst(const std::string&);
    void nlst_read(FsResult& r);
    void cmd_mlsd(const std::string&);
    void mlsd_read(FsResult& r);
    void send_listing(std::string data);
    void start_transfer(TransferRequest t, std::string_view preliminary, TransferThen then);
    void transfer_done(const TransferResult& r);
    void transfer_reply(const TransferResult& r);
    void transfer_finished();
    void log_transfer(const TransferResult& r);

    const Site& site_;
    Address peer_, local_;
    LineReader reader_;
    std::deque<Line> queue_;  // commands waiting for the operation in flight
    std::size_t queued_bytes_ = 0;
    std::string out_;
    std::deque<Request> requests_;  // emitted, not yet taken by the server

    Wait wait_ = Wait::none;
    FsThen fs_then_ = nullptr;
    PassiveThen passive_then_ = nullptr;
    TransferThen transfer_then_ = nullptr;
    std::string step_path_;  // the virtual path the operation is about
    bool quit_pending_ = false;
    bool synch_ = false;      // urgent() seen: the next ABOR discards what waits before it
    bool registered_ = false;

    // login
    std::string user_;  // after USER; the logged-in user after PASS
    bool user_given_ = false;
    bool logged_in_ = false, anonymous_ = false, user_counted_ = false;
    unsigned failures_ = 0;
    Fd home_;

    // state the commands set
    std::string cwd_ = "/";
    bool ascii_ = true;  // RFC 959's default TYPE is A
    std::uint64_t rest_ = 0;
    std::string rename_from_;
    enum class DataMode { none, passive, active } data_mode_ = DataMode::none;
    Address active_target_;
    bool epsv_all_ = false;
    unsigned facts_ = all_facts;
    bool tls_ = false;           // AUTH TLS done: the control connection is TLS
    bool pbsz_ = false;          // PBSZ 0 given (PROT needs it)
    bool prot_private_ = false;  // PROT P: data connections are TLS

    // the transfer in flight (or about to start)
    std::uint64_t offset_ = 0;
    bool abort_requested_ = false;
    unsigned temp_tries_ = 0;
    Fd upload_dir_;           // STOR: the directory holding the temporary file
    std::string temp_name_;   // STOR: the temporary's name ("" when none)
    std::string target_name_; // STOR: the name it becomes
    std::string parent_path_; // STOR: the directory's virtual path
    TransferResult result_;   // kept while the temporary is renamed or removed
    std::uint64_t transferred_ = 0;
    std::int64_t mfmt_time_ = 0;      // MFMT: the time asked for  // bytes so far, as the server last told (transferred())
    const char* transfer_kind_ = "";  // for the log: download, upload, listing
    std::chrono::steady_clock::time_point transfer_start_{};
};

}  // namespace iom::ftp
