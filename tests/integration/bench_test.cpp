// ioclient bench: correctness, not speed. Short runs (well under a second of
// load each) against bio_server and against small echo servers written here,
// some of them deliberately wrong, to prove that bench verifies what it
// counts, spreads connections over threads, holds idle connections open and
// always ends on time.
#include "client/bench/bench.hpp"
#include "client/lib/connection.hpp"
#include "common/error.hpp"
#include "common/json.hpp"
#include "common/net.hpp"
#include "built_servers.hpp"

#include <sys/socket.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace iom::test {
namespace {

using client::BenchOptions;
using client::BenchResult;
using client::run_bench;
using Clock = std::chrono::steady_clock;

// A blocking echo server, one thread per connection, with ways to be wrong.
class FakeServer {
public:
    enum class Mode {
        echo,    // correct (upper-cases, as the suite's default)
        replay,  // answers every message with the first one it got: stale bytes
        swap,    // with two clients: sends each one the other's first message
        silent,  // accepts and never answers: a stalled server
        hangup,  // echoes the first message, then closes the connection
        once,    // echoes the first message, then never answers again
        slow,    // echoes the first message at once, every later one 0.6 s late
    };

    // rcvbuf > 0: the accepted sockets' receive buffer (SO_RCVBUF, which
    // also turns off its autotuning), so a large message cannot fit at once.
    explicit FakeServer(Mode mode, std::size_t size = 0, int rcvbuf = 0)
        : mode_(mode), size_(size), listener_(listen_tcp(parse_address("127.0.0.1", 0), 64, false)),
          address_(local_address(listener_.get())) {
        if (rcvbuf > 0) {
            check_sys(::setsockopt(listener_.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), "SO_RCVBUF");
        }
        acceptor_ = std::thread([this] { accept_loop(); });
    }

    ~FakeServer() {
        ::shutdown(listener_.get(), SHUT_RDWR);  // wakes the blocked accept()
        acceptor_.join();
        {
            std::lock_guard lock(mu_);
            for (auto& c : conns_) ::shutdown(c.fd.get(), SHUT_RDWR);  // wakes blocked recv()s
        }
        for (auto& t : threads_) t.join();
    }

    const Address& address() const { return address_; }

    struct ConnInfo {
        Fd fd;
        std::uint64_t bytes = 0;                   // received
        Clock::time_point last_byte{}, closed{};  // closed: when it saw EOF
        bool eof = false;
    };

    // Wait (generously bounded) until `n` connections have closed; then a copy
    // of what each connection saw, in accept order.
    struct Seen {
        std::uint64_t bytes;
        Clock::time_point last_byte, closed;
    };
    std::vector<Seen> wait_closed(std::size_t n) {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, std::chrono::seconds(10), [&] {
            std::size_t closed = 0;
            for (auto& c : conns_) closed += c.eof;
            return closed >= n;
        });
        std::vector<Seen> out;
        for (auto& c : conns_) out.push_back({c.bytes, c.last_byte, c.closed});
        return out;
    }

private:
    void accept_loop() {
        for (;;) {
            int fd = ::accept(listener_.get(), nullptr, nullptr);
            if (fd < 0) {
                if (errno == EINTR || errno == ECONNABORTED) continue;
                return;
            }
            std::lock_guard lock(mu_);
            conns_.push_back({Fd(fd)});
            std::size_t i = conns_.size() - 1;
            if (mode_ == Mode::swap) {
                if (i % 2 == 1) threads_.emplace_back([this, i] { swap_pair(i - 1, i); });
            } else {
                threads_.emplace_back([this, i] { serve(i); });
            }
        }
    }

    int fd_of(std::size_t i) {
        std::lock_guard lock(mu_);
        return conns_[i].fd.get();
    }

    // Receive up to `want` bytes; records them. 0 on EOF or error.
    std::size_t receive(std::size_t i, char* buf, std::size_t want) {
        ssize_t n = ::recv(fd_of(i), buf, want, 0);
        std::lock_guard lock(mu_);
        auto& c = conns_[i];
        if (n <= 0) {
            c.eof = true;
            c.closed = Clock::now();
            cv_.notify_all();
            return 0;
        }
        c.bytes += static_cast<std::size_t>(n);
        c.last_byte = Clock::now();
        return static_cast<std::size_t>(n);
    }

    bool receive_exact(std::size_t i, std::string& out, std::size_t n) {
        out.resize(n);
        for (std::size_t got = 0; got < n;) {
            std::size_t r = receive(i, out.data() + got, n - got);
            if (r == 0) return false;
            got += r;
        }
        return true;
    }

    bool send_all(std::size_t i, std::string_view bytes) {
        int fd = fd_of(i);
        while (!bytes.empty()) {
            ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n <= 0) return false;
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    void drain(std::size_t i) {
        char buf[65536];
        while (receive(i, buf, sizeof buf) > 0) {
        }
    }

    void serve(std::size_t i) {
        if (mode_ == Mode::silent) return drain(i);  // reads, never answers
        if (mode_ == Mode::hangup) {
            std::string first;
            if (receive_exact(i, first, size_)) send_all(i, client::expected_echo(EchoMode::upper, first));
            ::shutdown(fd_of(i), SHUT_RDWR);  // FIN now; the fd is closed with the server
            return;
        }
        if (mode_ == Mode::once || mode_ == Mode::slow) {
            std::string msg;
            for (bool first = true; receive_exact(i, msg, size_); first = false) {
                if (!first && mode_ == Mode::once) return drain(i);
                if (!first) std::this_thread::sleep_for(std::chrono::milliseconds(600));  // a slow handler
                if (!send_all(i, client::expected_echo(EchoMode::upper, msg))) return drain(i);
            }
            return;
        }
        if (mode_ == Mode::replay) {
            std::string first, msg;
            if (!receive_exact(i, first, size_)) return;
            first = client::expected_echo(EchoMode::upper, first);
            if (!send_all(i, first)) return drain(i);
            while (receive_exact(i, msg, size_))
                if (!send_all(i, first)) return drain(i);
            return;
        }
        char buf[65536];
        for (;;) {
            std::size_t n = receive(i, buf, sizeof buf);
            if (n == 0) return;
            echo_transform(EchoMode::upper, std::span<char>(buf, n));
            if (!send_all(i, std::string_view(buf, n))) return drain(i);
        }
    }

    void swap_pair(std::size_t a, std::size_t b) {
        std::string ma, mb;
        if (receive_exact(a, ma, size_) && receive_exact(b, mb, size_)) {
            send_all(a, client::expected_echo(EchoMode::upper, mb));
            send_all(b, client::expected_echo(EchoMode::upper, ma));
        }
        drain(a);
        drain(b);
    }

    Mode mode_;
    std::size_t size_;
    Fd listener_;
    Address address_;
    std::thread acceptor_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<ConnInfo> conns_;
    std::vector<std::thread> threads_;
};

BenchOptions short_run(const Address& server, unsigned connections = 1, std::size_t size = 64) {
    BenchOptions opt;
    opt.server = server;
    opt.connections = connections;
    opt.size = size;
    opt.warmup = 0.1;
    opt.duration = 0.4;
    return opt;
}

void expect_sane_latency(const BenchResult& r) {
    EXPECT_GT(r.p50_us, 0);
    EXPECT_LE(r.p50_us, r.p99_us);
    EXPECT_LE(r.p99_us, r.p999_us);
    EXPECT_LE(r.p999_us, r.max_us);
}

TEST(Bench, BioServerOneConnectionEchoesVerified) {
    ServerProcess server(server_named("bio_server"));
    BenchResult r = run_bench(short_run(server.address()));
    EXPECT_GT(r.messages, 0u);
    EXPECT_EQ(r.errors, 0u) << r.first_error;
    EXPECT_EQ(r.first_error, "");
    EXPECT_EQ(r.bytes, r.messages * 64);
    EXPECT_DOUBLE_EQ(r.seconds, 0.4);
    EXPECT_NEAR(r.messages_per_second, static_cast<double>(r.messages) / 0.4, 1e-6);
    EXPECT_EQ(r.unanswered, 0u);
    EXPECT_EQ(r.server_cpu_seconds, -1);  // no --server-pid
    expect_sane_latency(r);
    EXPECT_EQ(server.stop(), 0) << server.stderr_text();
}

// The bytes are random (all 256 values): a server that does not upper-case
// its echo returns lower-case letters where bench expects capitals.
TEST(Bench, VerificationCatchesAServerWithTheWrongEchoMode) {
    ServerProcess server(server_named("bio_server"), {.args = {"--echo", "plain"}});
    BenchResult r = run_bench(short_run(server.address()));
    EXPECT_GT(r.errors, 0u);
    EXPECT_EQ(r.messages, 0u);
    EXPECT_NE(r.first_error.find("expected"), std::string::npos) << r.first_error;
    EXPECT_NE(r.first_error.find("--echo plain"), std::string::npos) << r.first_error;
    EXPECT_EQ(server.stop(), 0) << server.stderr_text();

    // ...and bench told the truth (--echo plain) passes.
    ServerProcess plain(server_named("bio_server"), {.args = {"--echo", "plain"}});
    auto opt = short_run(plain.address());
    opt.echo = EchoMode::plain;
    BenchResult ok = run_bench(opt);
    EXPECT_GT(ok.messages, 0u);
    EXPECT_EQ(ok.errors, 0u) << ok.first_error;
    EXPECT_EQ(plain.stop(), 0) << plain.stderr_text();
}

// Messages larger than any socket buffer are sent and received in pieces.
class BenchSizes : public ::testing::TestWithParam<std::size_t> {};

TEST_P(BenchSizes, LargeMessagesArriveInPiecesAndVerify) {
    ServerProcess server(server_named("bio_server"));
    BenchResult r = run_bench(short_run(server.address(), 1, GetParam()));
    EXPECT_GT(r.messages, 0u);
    EXPECT_EQ(r.errors, 0u) << r.first_error;
    EXPECT_EQ(r.bytes, r.messages * GetParam());
    expect_sane_latency(r);
    EXPECT_EQ(server.stop(), 0) << server.stderr_text();
}

INSTANTIATE_TEST_SUITE_P(Sizes, BenchSizes, ::testing::Values(4096, 100'000, 1 << 20));

// 8 MiB is more than a client socket's send buffer may ever hold here
// (net.ipv4.tcp_wmem max 4 MiB) plus the server's small receive window:
// each message goes out in several partial sends, resumed on EPOLLOUT.
TEST(Bench, MessagesLargerThanTheSendBufferGoOutInPieces) {
    FakeServer fake(FakeServer::Mode::echo, 0, 65536);
    auto opt = short_run(fake.address(), 1, 8 << 20);
    opt.warmup = 0;
    opt.duration = 2.0;  // room for a slow (sanitized, loaded) machine: one message is enough
    BenchResult r = run_bench(opt);
    EXPECT_GT(r.messages, 0u);
    EXPECT_EQ(r.errors, 0u) << r.first_error;
}

TEST(Bench, TwoThreadsDriveTwoConnections) {
    FakeServer fake(FakeServer::Mode::echo);
    auto opt = short_run(fake.address(), 2);
    opt.threads = 2;
    BenchResult r = run_bench(opt);
    EXPECT_GT(r.messages, 0u);
    EXPECT_EQ(r.errors, 0u) << r.first_error;
    EXPECT_EQ(r.threads, 2u);
    expect_sane_latency(r);
    auto seen = fake.wait_closed(2);
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_GT(seen[0].bytes, 0u);
    EXPECT_GT(seen[1].bytes, 0u);
}

// Each connection sends different bytes: a server that crosses two
// connections' replies is caught, although every reply is a valid echo.
TEST(Bench, BytesDeliveredToTheWrongConnectionAreCaught) {
    FakeServer fake(FakeServer::Mode::swap, 64);
    BenchResult r = run_bench(short_run(fake.address(), 2));
    EXPECT_EQ(r.errors, 2u) << r.first_error;
    EXPECT_EQ(r.messages, 0u);
    EXPECT_NE(r.first_error.find("expected"), std::string::npos) << r.first_error;
}

// Each message differs from the last: a server that answers with an old
// message is caught.
TEST(Bench, AStaleReplyIsCaught) {
    FakeServer fake(FakeServer::Mode::replay, 64);
    BenchResult r = run_bench(short_run(fake.address()));
    EXPECT_EQ(r.errors, 1u) << r.first_error;
    EXPECT_NE(r.first_error.find("message 1 "), std::string::npos) << r.first_error;
}

// Round trips completed during the warm-up are not counted...
TEST(Bench, TheWarmupIsNotMeasured) {
    FakeServer fake(FakeServer::Mode::once, 64);
    auto opt = short_run(fake.address());
    opt.warmup = 0.5;  // the first echo comes back long before this
    opt.duration = 0.2;
    BenchResult r = run_bench(opt);
    EXPECT_EQ(r.messages, 0u);
    EXPECT_EQ(r.errors, 0u) << r.first_error;
    EXPECT_EQ(r.unanswered, 1u);
}

// ...nor those completed after the end (the second echo comes back at ~0.6 s).
TEST(Bench, RepliesAfterTheEndAreNotMeasured) {
    FakeServer fake(FakeServer::Mode::slow, 64);
    auto opt = short_run(fake.address());
    opt.warmup = 0;
    opt.duration = 0.3;
    BenchResult r = run_bench(opt);
    EXPECT_EQ(r.messages, 1u);
    EXPECT_EQ(r.errors, 0u) << r.first_error;
}

// A connection the server closes before the echo is complete is an error.
TEST(Bench, AConnectionClosedByTheServerIsAnError) {
    FakeServer fake(FakeServer::Mode::hangup, 64);
    BenchResult r = run_bench(short_run(fake.address(), 2));
    EXPECT_EQ(r.errors, 2u) << r.first_error;
    EXPECT_NE(r.first_error.find("closed the connection"), std::string::npos) << r.first_error;
}

// --think-us: each connection pauses after each reply. 4 connections with a
// 50 ms pause can complete at most 4 x (0.4 s / 50 ms + 1) messages in the
// measured 0.4 s (unpaced, they complete thousands), and the pause is not
// part of a message's round trip.
TEST(Bench, ThinkTimePacesEachConnectionAndIsNotLatency) {
    FakeServer fake(FakeServer::Mode::echo);
    auto opt = short_run(fake.address(), 4);
    opt.think_us = 50'000;
    BenchResult r = run_bench(opt);
    EXPECT_EQ(r.errors, 0u) << r.first_error;
    EXPECT_GT(r.messages, 0u);
    EXPECT_LE(r.messages, 4u * 9u);
    EXPECT_LT(r.p50_us, 50'000) << "the pause was counted as latency";
    EXPECT_EQ(r.unanswered, 0u) << "a connection pausing at the end is not waiting for a reply";
    EXPECT_EQ(r.think_us, 50'000u);
    auto seen = fake.wait_closed(4);
    ASSERT_EQ(seen.size(), 4u);
    for (const auto& s : seen)
        EXPECT_GT(s.bytes, 0u) << "every connection sends within the run, its first pause included";
}

// A server that closes the connection while the client pauses is caught at
// once, and named as such (not as a message cut short).
TEST(Bench, AServerThatClosesDuringThePauseIsAnError) {
    FakeServer fake(FakeServer::Mode::hangup, 64);
    auto opt = short_run(fake.address(), 1);
    opt.think_us = 1'000'000;  // longer than the run: the close can only be seen during the pause
    opt.warmup = 0;            // so that the one message is counted
    BenchResult r = run_bench(opt);
    EXPECT_EQ(r.errors, 1u) << r.first_error;
    EXPECT_EQ(r.messages, 1u);
    EXPECT_NE(r.first_error.find("closed the connection during the pause after message 0"), std::string::npos)
        << r.first_error;
}

// A server that never answers gives no messages and no hang: bench ends at
// warmup + duration + a short grace (bound here very generously).
TEST(Bench, AStalledServerEndsOnTime) {
    FakeServer fake(FakeServer::Mode::silent);
    auto started = Clock::now();
    BenchResult r = run_bench(short_run(fake.address(), 3));
    EXPECT_LT(Clock::now() - started, std::chrono::seconds(10));
    EXPECT_EQ(r.messages, 0u);
    EXPECT_EQ(r.errors, 0u) << r.first_error;
    EXPECT_EQ(r.unanswered, 3u);
    EXPECT_EQ(r.p50_us, 0);
}

TEST(Bench, RefusedConnectsAreErrors) {
    // A bound socket that does not listen: connecting to it is refused.
    Fd sock(::socket(AF_INET, SOCK_STREAM, 0));
    Address any = parse_address("127.0.0.1", 0);
    ASSERT_EQ(::bind(sock.get(), any.sa(), any.len), 0);
    BenchResult r = run_bench(short_run(local_address(sock.get()), 3));
    EXPECT_EQ(r.errors, 3u);
    EXPECT_EQ(r.messages, 0u);
    EXPECT_NE(r.first_error.find("Connection refused"), std::string::npos) << r.first_error;
}

// --idle: the extra connections are open before the load starts, send
// nothing, and are still open when the load ends.
TEST(Bench, IdleConnectionsStayOpenAndSilent) {
    FakeServer fake(FakeServer::Mode::echo);
    auto opt = short_run(fake.address(), 2);
    opt.idle = 5;
    BenchResult r = run_bench(opt);
    EXPECT_EQ(r.errors, 0u) << r.first_error;
    EXPECT_GT(r.messages, 0u);
    EXPECT_EQ(r.idle, 5u);
    auto seen = fake.wait_closed(7);
    ASSERT_EQ(seen.size(), 7u);
    Clock::time_point last_load_byte{};
    for (std::size_t i = 5; i < 7; ++i) {  // the active ones were accepted after the idle ones
        EXPECT_GT(seen[i].bytes, 0u);
        last_load_byte = std::max(last_load_byte, seen[i].last_byte);
    }
    for (std::size_t i = 0; i < 5; ++i) {
        EXPECT_EQ(seen[i].bytes, 0u) << "idle connection " << i;
        EXPECT_GT(seen[i].closed, last_load_byte) << "idle connection " << i << " closed before the load ended";
    }
}

TEST(Bench, ServerPidReportsTheServersCpu) {
    ServerProcess server(server_named("bio_server"));
    auto opt = short_run(server.address());
    opt.server_pid = server.pid();
    BenchResult r = run_bench(opt);
    EXPECT_EQ(r.errors, 0u) << r.first_error;
    EXPECT_GE(r.server_cpu_seconds, 0);
    EXPECT_GE(r.server_cpu_us_per_message, 0);
    EXPECT_NE(client::to_text(r).find("us/message"), std::string::npos) << client::to_text(r);
    EXPECT_EQ(server.stop(), 0) << server.stderr_text();

    opt.server_pid = 0x3fffff0;  // above any pid_max: no such process
    EXPECT_THROW(run_bench(opt), std::runtime_error);
}

// --- the output --------------------------------------------------------------

TEST(BenchOutput, JsonIsOneObjectWithEveryField) {
    FakeServer fake(FakeServer::Mode::echo);
    BenchResult r = run_bench(short_run(fake.address()));
    const std::string text = client::to_json(r);
    EXPECT_EQ(text.find('\n'), std::string::npos) << "one line: " << text;
    Json json = Json::parse(text);
    ASSERT_TRUE(json.is_object()) << text;
    std::set<std::string> keys;
    for (auto& [k, v] : json.items()) {
        keys.insert(k);
        EXPECT_TRUE(v.is_number() || v.is_string()) << k << " in " << text;
    }
    std::set<std::string> want = {"messages", "bytes", "seconds", "messages_per_second", "megabytes_per_second",
                                  "p50_us", "p99_us", "p999_us", "max_us", "errors", "first_error",
                                  "server_cpu_seconds", "server_cpu_us_per_message", "unanswered",
                                  "connections", "size", "threads", "idle", "think_us", "echo"};
    EXPECT_EQ(keys, want);
    EXPECT_EQ(json["messages"].get<std::uint64_t>(), r.messages);
    EXPECT_EQ(json["errors"].get<std::uint64_t>(), 0u);
    EXPECT_EQ(json["echo"].get<std::string>(), "upper");
    EXPECT_DOUBLE_EQ(json["p99_us"].get<double>(), r.p99_us);
    // The layout scripts and docs grep: "key": value, one space after the colon.
    EXPECT_NE(text.find(fmt::format("\"messages\": {},", r.messages)), std::string::npos) << text;
}

TEST(BenchOutput, JsonEscapesTheErrorText) {
    BenchResult r;
    r.errors = 1;
    r.first_error = "connection 0: \"quoted\"\n\\back\tslash\x01";
    EXPECT_EQ(Json::parse(client::to_json(r))["first_error"].get<std::string>(), r.first_error);
}

TEST(BenchOutput, TextNamesEveryFigure) {
    BenchResult r;
    r.messages = 1000;
    r.seconds = 1;
    r.messages_per_second = 1000;
    r.errors = 2;
    r.first_error = "connection 3: boom";
    std::string t = client::to_text(r);
    for (const char* word : {"msg/s", "MB/s", "p50", "p99", "p99.9", "max", "errors", "connection 3: boom"})
        EXPECT_NE(t.find(word), std::string::npos) << word << " missing from:\n" << t;
    EXPECT_EQ(t.find("server CPU"), std::string::npos) << "no --server-pid, no CPU line:\n" << t;
    EXPECT_EQ(t.find("pause"), std::string::npos) << "no --think-us, no pause:\n" << t;
    r.think_us = 2000;
    t = client::to_text(r);
    EXPECT_NE(t.find("a 2000 us pause after each reply"), std::string::npos) << t;
}

}  // namespace
}  // namespace iom::test
