// One of the N clients of `ioclient ftp load` (load.hpp): one FTP session on
// a non-blocking control connection and, during a transfer, a non-blocking
// data connection, both in the load's one epoll loop (load.cpp). Every reply
// and every readiness event moves it one step on, as the blocking Client's
// calls (client.hpp) would, in this order:
//   connect, greeting, [AUTH TLS, handshake,] USER, PASS, [PBSZ 0, PROT P,]
//   TYPE I, then each round, its tasks
//   (round_of: the odd clients start at put, the even ones at get):
//   get        [EPSV, connect data, RETR FILE]
//   put        [EPSV, connect data, STOR up]
//   read_back  [EPSV, connect data, RETR up]
//   dele       [DELE up]                     ...and QUIT after the last round.
// A transfer is over when the data connection has ended *and* its final
// reply has come, in either order. Every byte is verified: a download's
// XXH3-128 against the plan's, an upload's read-back against the bytes sent.
//
// With --tls (the bracketed steps) both connections are TLS Streams
// (tls_stream.hpp), non-blocking: what the epoll set waits for is what
// OpenSSL wants (WANT_READ: EPOLLIN, WANT_WRITE: EPOLLOUT), and a read goes
// on until OpenSSL wants the socket, so no byte it holds already is left
// waiting for readiness that will not come. A data connection's handshake
// starts at the 150 and resumes the control connection's session; an
// upload ends with close_notify, then waits for the server's end.
#pragma once

#include "client/ftp/client.hpp"
#include "client/ftp/digest.hpp"
#include "client/ftp/load.hpp"
#include "client/ftp/reply.hpp"
#include "client/ftp/tls_stream.hpp"
#include "common/fd.hpp"
#include "common/net.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace iom::client::ftp {

using LoadClock = std::chrono::steady_clock;

// What a load does, decided before its clients start (load.cpp, make_plan).
struct LoadPlan {
    Url url;
    ClientOptions client;
    std::string file;           // the remote path of --get ("" if none)
    std::uint64_t file_size = 0;
    std::string sha256, xxh128;  // of the copy every download is compared with
    std::uint64_t put = 0;
    std::string upload_dir;     // where the uploads go, ending in '/'
    Address server;             // the control connection's address, resolved once
    LoadClock::time_point t0, deadline;
};

// One task of a client's round (see the order above).
enum class Task { get, put, read_back, dele };

// What client `index` does each round: download FILE, upload a file of its
// own, read it back and delete it. With both --get and --put, the odd
// clients start with the upload (put, read_back, dele, get): from the first
// moment half the sessions upload while the other half download, and their
// rounds stay out of step, so the server carries both directions at once.
std::vector<Task> round_of(const LoadPlan& plan, unsigned index);

// One client's progress, as the bars show it.
enum class Phase { login, get, put, read_back, done, failed };
const char* phase_name(Phase phase);
struct LiveProgress {
    Phase phase = Phase::login;
    std::uint64_t op_total = 0, op_done = 0, bytes = 0;
};

// The loop's buffers, shared by every client (one runs at a time): what a
// recv brings, and the upload bytes a read-back is compared with.
struct LoadBuffers {
    std::vector<char> in = std::vector<char>(256 * 1024), expected = std::vector<char>(256 * 1024);
};

class LoadClient {
public:
    // Runs `round` (a download, an upload and its read-back, ...) until the
    // plan's deadline. Events for this client carry its index, and 1 for the
    // data connection.
    LoadClient(const LoadPlan& plan, std::vector<Task> round, unsigned index, int epoll_fd, LoadBuffers& buffers,
               LiveProgress& live);

    void start();
    void on_event(bool data, std::uint32_t events);
    // A client that has heard nothing for --timeout has failed.
    void check_stall(LoadClock::time_point now);

    bool over() const { return over_; }
    SessionResult result;

private:
    enum class State {
        connecting, greeting, auth, handshake, user, pass, pbsz, prot, type, passive, data_connecting, transfer,
        dele, quit
    };
    static constexpr const char* kStateNames[] = {"connect", "greeting",  "AUTH TLS",     "TLS handshake",
                                                  "USER",    "PASS",      "PBSZ",         "PROT",
                                                  "TYPE",    "EPSV/PASV", "data connect", "transfer",
                                                  "DELE",    "QUIT"};
    // What a data connection under TLS is doing besides moving bytes.
    enum class DataTls { none, handshake, closing };

    void watch(const Stream& s, bool data, std::uint32_t events, int how);
    void watch_for(const Stream& s, bool data, const Io& io);  // what OpenSSL wants
    // the control connection
    void on_control(std::uint32_t events);
    void send(const std::string& line);
    void flush();
    [[noreturn]] void refused(const Reply& r);
    void on_reply(const Reply& r);
    void next_task();  // the round's next task; another round; QUIT
    // the data connection
    void on_data(std::uint32_t events);
    void data_tls_step();
    void received(std::string_view bytes);
    void count(std::size_t n);
    void send_upload();
    void end_of_data();
    void transfer_over();
    // the end
    void note_failure(const std::string& why);
    void fail(const std::string& why);
    void finish();

    const LoadPlan& plan_;
    unsigned index_;
    int ep_;
    LoadBuffers& buffers_;
    LiveProgress& live_;
    bool epsv_;
    std::vector<Task> tasks_;  // the round
    std::size_t next_ = 0;
    unsigned round_ = 0;
    std::string upload_path_;

    Stream ctl_, data_;
    DataTls data_tls_ = DataTls::none;
    std::uint32_t data_watch_ = 0;  // what the data connection waits for now
    ReplyParser parser_;
    std::string out_, last_command_;
    State state_ = State::connecting;
    Task task_ = Task::get;
    bool data_over_ = false, final_reply_ = false, over_ = false;
    std::uint64_t moved_ = 0, seed_ = 0, first_wrong_ = UINT64_MAX;
    Xxh128 hash_;
    LoadClock::time_point started_, last_progress_;
};

// The pseudo-random upload bytes of `seed` at `offset`, into buf[0..n):
// different for each client and round, computed from their offset, so a
// read-back is compared as it arrives, without keeping a copy.
void fill_upload_bytes(char* buf, std::size_t n, std::uint64_t seed, std::uint64_t offset);

}  // namespace iom::client::ftp
