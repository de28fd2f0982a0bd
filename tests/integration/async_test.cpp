// The io_uring servers' own lessons and pitfalls, each against the real
// binary: buffer ids and send ordering under churn (no byte may reach the
// wrong connection), an exhausted buffer ring, multishot versus single-shot
// SQEs, 5,000 idle connections, a client that never reads, EMFILE without a
// spin, and io_uring being unavailable (a seccomp filter in the child).
#include "client/lib/connection.hpp"
#include "built_servers.hpp"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <linux/sockios.h>
#include <memory>
#include <mutex>
#include <ostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace iom::test {
namespace {

using client::Connection;
using client::expected_echo;
using client::Millis;
using client::random_bytes;
using Clock = std::chrono::steady_clock;
using Clients = std::vector<std::unique_ptr<Connection>>;

struct Variant {
    std::string server;
    std::vector<std::string> args;
    std::string label;
};
void PrintTo(const Variant& v, std::ostream* os) { *os << v.label; }
std::string variant_name(const ::testing::TestParamInfo<Variant>& p) { return p.param.label; }

const Variant uring{"uring_server", {}, "uring_server"};
const Variant uring_single{"uring_server", {"--no-multishot"}, "uring_server_no_multishot"};
const Variant coro{"uring_coro_server", {}, "uring_coro_server"};

StartOptions with(const Variant& v, std::vector<std::string> extra = {}, std::optional<rlim_t> nofile = {}) {
    StartOptions o{.args = v.args, .nofile = nofile};
    o.args.insert(o.args.end(), extra.begin(), extra.end());
    return o;
}

Clients connect_many(const Address& server, std::size_t n) {
    Clients out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) out.push_back(std::make_unique<Connection>(Connection::open(server)));
    return out;
}

bool echoes(Connection& c, const std::string& text, Millis timeout = Millis(10000)) {
    return c.send_all(text) && c.recv_exact(text.size(), timeout) == expected_echo(EchoMode::upper, text);
}

std::string first_difference(const std::string& want, const std::string& got) {
    std::size_t i = 0;
    while (i < want.size() && i < got.size() && want[i] == got[i]) ++i;
    return "expected " + std::to_string(want.size()) + " bytes, got " + std::to_string(got.size()) +
           ", first difference at byte " + std::to_string(i);
}

// Stream `input` on `c` from a writer thread (in random-sized writes) while
// reading the echo here. Returns "" if the echo came back exactly.
std::string stream_and_verify(Connection& c, const std::string& input, std::uint32_t seed, Millis timeout) {
    std::thread writer([&] {
        std::mt19937 rng(seed);
        for (std::size_t at = 0; at < input.size();) {
            std::size_t n = std::min<std::size_t>(input.size() - at, 1 + rng() % 65536);
            if (!c.send_all(std::string_view(input).substr(at, n))) return;
            at += n;
        }
    });
    std::string partial;
    auto got = c.recv_exact(input.size(), timeout, &partial);
    if (!got) ::shutdown(c.fd(), SHUT_RDWR);  // unblock the writer
    writer.join();
    if (!got) return "echo incomplete: " + std::to_string(partial.size()) + " of " + std::to_string(input.size());
    const std::string want = expected_echo(EchoMode::upper, input);
    return *got == want ? "" : first_difference(want, *got);
}

// --- buffer ids and send order: a churn of short connections around long streams ----

class Churn : public ::testing::TestWithParam<Variant> {};

// Four long verified streams, each distinct random data, while hundreds of
// short connections open, send, and read, close or reset. A buffer handed
// to two connections (a buffer id taken from a CQE without
// IORING_CQE_F_BUFFER) or two sends in flight on one socket shows up as a
// stream whose bytes differ from what it sent.
TEST_P(Churn, NoByteReachesTheWrongConnection) {
    ServerProcess server(server_named(GetParam().server), with(GetParam()));
    const Address addr = server.address();
    constexpr int streams = 4;
    constexpr std::size_t stream_size = 3 << 20;
    std::atomic<int> streams_left{streams};
    std::atomic<int> short_done{0};
    std::mutex m;
    std::vector<std::string> failures;
    auto fail = [&](std::string what) {
        std::lock_guard lock(m);
        failures.push_back(std::move(what));
    };

    std::vector<std::thread> threads;
    for (int i = 0; i < streams; ++i) {
        threads.emplace_back([&, i] {
            auto c = Connection::open(addr);
            std::string r = stream_and_verify(c, random_bytes(stream_size, 1000 + i), i, Millis(120000));
            if (!r.empty()) fail("stream " + std::to_string(i) + ": " + r);
            --streams_left;
        });
    }
    for (int t = 0; t < 2; ++t) {
        threads.emplace_back([&, t] {
            std::mt19937 rng(77 + t);
            // At least 150 each, and on until the streams are done (capped).
            for (int j = 0; (j < 150 || streams_left > 0) && j < 5000; ++j, ++short_done) {
                auto c = Connection::open(addr);
                const std::string payload = random_bytes(1 + rng() % 20000, 100000 * (t + 1) + j);
                bool sent = c.send_all(payload);
                switch (j % 3) {
                    case 0: {  // read the echo: it must be ours, exactly
                        std::string partial;
                        auto got = c.recv_exact(payload.size(), Millis(30000), &partial);
                        const std::string want = expected_echo(EchoMode::upper, payload);
                        if (!sent || !got) fail("short " + std::to_string(j) + ": echo incomplete");
                        else if (*got != want) fail("short " + std::to_string(j) + ": " + first_difference(want, *got));
                        break;
                    }
                    case 1: c.close(); break;  // vanish with FIN, the echo unread
                    default: c.reset(); break; // vanish with RST (SO_LINGER 0)
                }
            }
        });
    }
    for (auto& t : threads) t.join();
    for (const auto& f : failures) ADD_FAILURE() << f;
    EXPECT_GE(short_done.load(), 300);
    EXPECT_EQ(server.stop(), 0) << server.stderr_text();
}

INSTANTIATE_TEST_SUITE_P(Servers, Churn, ::testing::Values(uring, uring_single, coro), variant_name);

// --- short sends ------------------------------------------------------------------

// Sends that took fewer bytes than asked, from the "-> N of M bytes" trace lines.
std::size_t short_sends(const std::string& trace) {
    std::size_t n = 0;
    for (std::size_t at = 0; (at = trace.find("send(fd", at)) != std::string::npos; ++at) {
        std::size_t arrow = trace.find("-> ", at), of = trace.find(" of ", at), eol = trace.find('\n', at);
        if (arrow > eol || of > eol) continue;
        long done = std::strtol(trace.c_str() + arrow + 3, nullptr, 10);
        long asked = std::strtol(trace.c_str() + of + 4, nullptr, 10);
        n += done > 0 && done < asked;
    }
    return n;
}

// Until `fd`'s unacknowledged output stops moving (the server reads no more
// of it), at most `limit`. An observation window, not synchronisation.
void wait_until_stalled(int fd, std::chrono::seconds limit = std::chrono::seconds(5)) {
    int last = -1;
    for (auto until = Clock::now() + limit; Clock::now() < until;) {
        int outq = 0;
        ::ioctl(fd, SIOCOUTQ, &outq);
        if (outq == last) return;
        last = outq;
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
}

class ShortSends : public ::testing::TestWithParam<Variant> {};

// The client writes 8 MiB and reads only after everything has stalled, a
// few times over: a server send that meets a full socket completes short,
// and the rest must go out before anything after it.
TEST_P(ShortSends, TheRestGoesFirstAndEveryByteArrivesInOrder) {
    ServerProcess server(server_named(GetParam().server), with(GetParam(), {"--trace"}));
    auto c = Connection::open(server.address());
    const std::string input = random_bytes(8 << 20, 99);
    std::thread writer([&] { c.send_all(input); });
    std::string got;
    for (int round = 0; round < 4; ++round) {
        wait_until_stalled(c.fd());
        auto part = c.recv_exact(1 << 20, Millis(30000));
        if (!part) break;
        got += *part;
    }
    std::string partial;
    auto rest = c.recv_exact(input.size() - got.size(), Millis(60000), &partial);
    if (!rest) ::shutdown(c.fd(), SHUT_RDWR);
    writer.join();
    got += rest ? *rest : partial;
    const std::string want = expected_echo(EchoMode::upper, input);
    EXPECT_TRUE(got == want) << first_difference(want, got);
    c.close();
    ASSERT_EQ(server.stop(), 0);
    std::size_t shorts = short_sends(server.stderr_text());
    std::printf("%s: %zu sends completed short\n", GetParam().label.c_str(), shorts);
    EXPECT_GT(shorts, 0u) << "no send completed short: this test proved nothing";
}

INSTANTIATE_TEST_SUITE_P(Servers, ShortSends, ::testing::Values(uring, uring_single, coro), variant_name);

// --- ENOBUFS: a buffer ring of four, many connections sending at once -----------

class RingExhaustion : public ::testing::TestWithParam<Variant> {};

TEST_P(RingExhaustion, ReceivingResumesAndEveryEchoCompletes) {
    ServerProcess server(server_named(GetParam().server),
                         with(GetParam(), {"--ring-buffers", "4", "--buffer-size", "4096"}));
    constexpr int n = 32;
    Clients clients = connect_many(server.address(), n);
    std::vector<std::string> results(n);
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
        threads.emplace_back([&, i] {
            results[i] = stream_and_verify(*clients[i], random_bytes(256 << 10, 500 + i), i, Millis(60000));
        });
    }
    for (auto& t : threads) t.join();
    for (int i = 0; i < n; ++i) EXPECT_EQ(results[i], "") << "client " << i;
    ASSERT_EQ(server.stop(), 0) << server.stderr_text();
    EXPECT_GT(server.counter("recv_nobufs"), 0u) << "the ring never ran dry: this test proved nothing";
}

INSTANTIATE_TEST_SUITE_P(Servers, RingExhaustion, ::testing::Values(uring, uring_single), variant_name);

TEST(UringServer, RingBuffersMustBeAPowerOfTwo) {
    ServerProcess ok(server_named("uring_server"), {.args = {"--ring-buffers", "1"}});
    EXPECT_EQ(ok.stop(), 0);
    EXPECT_THROW(ServerProcess(server_named("uring_server"), {.args = {"--ring-buffers", "3"}}), std::runtime_error);
    EXPECT_THROW(ServerProcess(server_named("uring_server"), {.args = {"--ring-buffers", "65536"}}), std::runtime_error);
}

// --- multishot: one recv SQE for many completions ------------------------------

struct PingPong {
    std::uint64_t sqes, recv_calls, send_calls, wait_calls;
};

PingPong ping_pong(const Variant& v, int round_trips, std::string* trace = nullptr) {
    std::vector<std::string> extra;
    if (trace) extra.push_back("--trace");
    ServerProcess server(server_named(v.server), with(v, extra));
    {
        auto c = Connection::open(server.address());
        for (int i = 0; i < round_trips; ++i) EXPECT_TRUE(echoes(c, "ping " + std::to_string(i)));
    }
    EXPECT_EQ(server.stop(), 0) << server.stderr_text();
    if (trace) *trace = server.stderr_text();
    return {server.counter("sqes"), server.counter("recv_calls"), server.counter("send_calls"),
            server.counter("wait_calls")};
}

TEST(UringServer, MultishotRecvIsOneSqeForEveryRecvSingleShotIsOneEach) {
    constexpr int n = 200;
    std::string multi_trace, single_trace;
    PingPong multi = ping_pong(uring, n, &multi_trace);
    PingPong single = ping_pong(uring_single, n, &single_trace);
    for (const auto& [name, r] : {std::pair{"multishot", multi}, std::pair{"single-shot", single}}) {
        std::printf("%s: %llu echoes, %llu SQEs, %llu recv completions, %llu io_uring_enter\n", name,
                    static_cast<unsigned long long>(n), static_cast<unsigned long long>(r.sqes),
                    static_cast<unsigned long long>(r.recv_calls), static_cast<unsigned long long>(r.wait_calls));
    }
    EXPECT_GE(multi.recv_calls, static_cast<std::uint64_t>(n));
    EXPECT_LT(multi.sqes, multi.send_calls + 10) << "multishot: sends, plus a handful (accept, one recv, stop)";
    EXPECT_GE(single.sqes, single.send_calls + single.recv_calls) << "single-shot: one SQE per recv";
    // Under --trace the probe says what it found and what it uses.
    EXPECT_NE(multi_trace.find("provided-buffer ring"), std::string::npos) << multi_trace.substr(0, 2000);
    EXPECT_NE(single_trace.find("multishot accept: no, single-shot; multishot recv: no, single-shot"),
              std::string::npos) << single_trace.substr(0, 2000);
}

// --- 5,000 idle connections ----------------------------------------------------

class Idle : public ::testing::TestWithParam<Variant> {};

TEST_P(Idle, FiveThousandIdleConnectionsWhileAnActiveOneIsServed) {
    constexpr std::size_t idle = 5000;
    if (raise_nofile_limit(idle + 1000) < idle + 200) GTEST_SKIP() << "cannot open enough descriptors here";
    ServerProcess server(server_named(GetParam().server), with(GetParam(), {}, idle + 500));
    Clients quiet = connect_many(server.address(), idle);
    auto active = Connection::open(server.address());
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(echoes(active, "message " + std::to_string(i))) << i;
    for (std::size_t i = 0; i < idle; i += 500) EXPECT_TRUE(echoes(*quiet[i], "awake")) << "idle client " << i;
    ASSERT_EQ(server.stop(), 0) << server.stderr_text();
    EXPECT_GE(server.counter("peak_connections"), idle + 1);
}

INSTANTIATE_TEST_SUITE_P(Servers, Idle, ::testing::Values(uring, coro), variant_name);

// uring_server's batch is sized by the connections that are *active*: sized
// by the open ones, 2,000 idle connections would make the one active client's
// every round trip wait for a batch that never comes, here 100 ms
// (--batch-wait-us 100000): 20 round trips, 2 s at least. Sized by the active
// ones, the wait is for one completion, and 20 round trips take milliseconds.
TEST(UringServer, IdleConnectionsMakeNoOneWaitForABatch) {
    constexpr std::size_t idle = 2000;
    if (raise_nofile_limit(idle + 1000) < idle + 200) GTEST_SKIP() << "cannot open enough descriptors here";
    ServerProcess server(server_named("uring_server"),
                         {.args = {"--batch-wait-us", "100000", "--max-connections", "3000", "--backlog", "4096"}});
    Clients quiet = connect_many(server.address(), idle);
    auto active = Connection::open(server.address());
    ASSERT_TRUE(echoes(active, "warm up"));
    auto t0 = Clock::now();
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(echoes(active, "message " + std::to_string(i))) << i;
    auto took = std::chrono::duration_cast<Millis>(Clock::now() - t0);
    EXPECT_LT(took, Millis(1000)) << "20 round trips took " << took.count()
                                  << " ms: each waited for a batch the idle connections can never fill";
    ASSERT_EQ(server.stop(), 0) << server.stderr_text();
}

// --- a client that never reads ---------------------------------------------------

class NoRead : public ::testing::TestWithParam<Variant> {};

// uring_server runs with a ring of 64 x 16 KiB (1 MiB): the bound is 8 MiB
// plus the ring, which is touched as it is used.
TEST_P(NoRead, SixteenMiBUnreadCannotGrowTheServerAndOthersAreServed) {
    const bool ring = GetParam().server == "uring_server";
    std::vector<std::string> ring_args;
    if (ring) ring_args = {"--ring-buffers", "64"};
    ServerProcess server(server_named(GetParam().server), with(GetParam(), ring_args));
    auto other = Connection::open(server.address());
    ASSERT_TRUE(echoes(other, "warm up"));
    long memory0 = server.memory_kib();

    auto hog = Connection::open(server.address());
    const std::string chunk(64 << 10, 'a');
    std::size_t sent = 0;
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (sent < (16u << 20) && Clock::now() < deadline) {
        pollfd p{hog.fd(), POLLOUT, 0};
        if (::poll(&p, 1, 1000) <= 0) break;  // no room for a second: the server stopped reading
        ssize_t n = ::send(hog.fd(), chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) sent += static_cast<std::size_t>(n);
        else if (errno != EAGAIN) break;
    }
    // Until the hog's unacknowledged bytes stop moving (the server reads no
    // more of it), bounded: then the server's memory is what it will be.
    int last = -1;
    for (auto until = Clock::now() + std::chrono::seconds(5); Clock::now() < until;) {
        int outq = 0;
        ::ioctl(hog.fd(), SIOCOUTQ, &outq);
        if (outq == last) break;
        last = outq;
        std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a window to observe, not a sync
    }
    long growth = server.memory_kib() - memory0;
    const long bound = 8 * 1024 + (ring ? 64 * 16 : 0);
    std::printf("%s: the hog sent %zu bytes unread; the server grew %ld KiB (bound %ld)\n",
                GetParam().label.c_str(), sent, growth, bound);
    EXPECT_LT(growth, bound) << "KiB grown after the hog sent " << sent << " bytes";
    EXPECT_TRUE(echoes(other, "still served"));
    ASSERT_EQ(server.stop(), 0) << server.stderr_text();
}

INSTANTIATE_TEST_SUITE_P(Servers, NoRead, ::testing::Values(uring, uring_single, coro), variant_name);

// --- EMFILE --------------------------------------------------------------------

// Ask each client to echo one byte, all at once; how many were served,
// closed by the server, or left silent until the deadline.
struct Fates {
    std::size_t served = 0, closed = 0, silent = 0;
};
Fates probe(const Clients& clients, Millis timeout) {
    std::vector<pollfd> waiting;
    for (const auto& c : clients) {
        ::send(c->fd(), "x", 1, MSG_NOSIGNAL);
        waiting.push_back({c->fd(), POLLIN, 0});
    }
    Fates f;
    std::size_t left = clients.size();
    for (auto deadline = Clock::now() + timeout; left > 0;) {
        auto ms = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
        if (ms <= 0 || ::poll(waiting.data(), waiting.size(), static_cast<int>(ms)) <= 0) break;
        for (auto& w : waiting) {
            if (w.fd < 0 || w.revents == 0) continue;
            char ch = 0;
            ssize_t n = ::recv(w.fd, &ch, 1, MSG_DONTWAIT);
            if (n < 0 && errno == EAGAIN) continue;
            ++(n == 1 && ch == 'X' ? f.served : f.closed);
            w.fd = -1;
            --left;
        }
    }
    f.silent = left;
    return f;
}

class OutOfDescriptors : public ::testing::TestWithParam<Variant> {};

TEST_P(OutOfDescriptors, NeitherSpinsNorDropsClients) {
    raise_nofile_limit(1000);
    ServerProcess server(server_named(GetParam().server), with(GetParam(), {}, 64));
    Clients first = connect_many(server.address(), 1);
    ASSERT_TRUE(echoes(*first[0], "first"));

    Clients storm = connect_many(server.address(), 150);  // far more than 64 descriptors
    Fates f = probe(storm, Millis(10000));
    EXPECT_GT(f.closed, 0u) << "some clients could not be held";
    EXPECT_EQ(f.silent, 0u) << "none is left hanging in the backlog";

    // A measuring window, not synchronisation: a server re-arming its accept
    // at once on EMFILE would burn a core through it.
    double cpu0 = server.cpu_seconds();
    std::this_thread::sleep_for(std::chrono::seconds(1));
    EXPECT_LT(server.cpu_seconds() - cpu0, 0.3) << "EMFILE must not spin";

    EXPECT_TRUE(echoes(*first[0], "still served")) << "an existing client is not dropped";
    storm.clear();
    bool served = false;
    for (auto until = Clock::now() + std::chrono::seconds(10); !served && Clock::now() < until;) {
        Clients one = connect_many(server.address(), 1);  // retried: descriptors free as EOFs are read
        served = probe(one, Millis(10000)).served == 1;
    }
    EXPECT_TRUE(served) << "descriptors freed: new clients served again";
    ASSERT_EQ(server.stop(), 0) << server.stderr_text();
    EXPECT_GT(server.counter("accept_errors"), 0u);
    // A pause of 100 ms per EMFILE: a few dozen in these seconds. Re-armed at
    // once, an io_uring accept fails at once, over and over: 100,000s.
    EXPECT_LT(server.counter("accept_errors"), 200u) << "EMFILE answered by an immediate retry";
    EXPECT_GT(server.counter("refused"), 0u);
}

INSTANTIATE_TEST_SUITE_P(Servers, OutOfDescriptors, ::testing::Values(uring, uring_single, coro), variant_name);

// --- io_uring unavailable --------------------------------------------------------

struct Exit {
    int code = -1;
    std::string out, err;
};

// Run `path --port 0` with io_uring_setup failing with `err`, as under
// Docker's default seccomp profile or sysctl kernel.io_uring_disabled=2: a
// seccomp filter in the child only, nothing machine-wide.
Exit run_without_io_uring(const std::string& path, int err) {
    int out[2], errp[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0) return {};
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        dup2(errp[1], STDERR_FILENO);
#if defined(__x86_64__)
        constexpr unsigned arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
        constexpr unsigned arch = AUDIT_ARCH_AARCH64;
#endif
        sock_filter filter[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (static_cast<unsigned>(err) & SECCOMP_RET_DATA)),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        sock_fprog prog{static_cast<unsigned short>(std::size(filter)), filter};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
            _exit(126);
        std::string port_opt = "--port", zero = "0";
        char* argv[] = {const_cast<char*>(path.c_str()), port_opt.data(), zero.data(), nullptr};
        execv(argv[0], argv);
        _exit(127);
    }
    ::close(out[1]);
    ::close(errp[1]);
    Exit e;
    pollfd p[2] = {{out[0], POLLIN, 0}, {errp[0], POLLIN, 0}};
    for (auto deadline = Clock::now() + std::chrono::seconds(10); p[0].fd >= 0 || p[1].fd >= 0;) {
        auto ms = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
        if (ms <= 0 || ::poll(p, 2, static_cast<int>(ms)) <= 0) break;  // still running: killed below
        for (int i = 0; i < 2; ++i) {
            if (p[i].fd < 0 || p[i].revents == 0) continue;
            char buf[4096];
            ssize_t n = ::read(p[i].fd, buf, sizeof buf);
            if (n <= 0) ::close(p[i].fd), p[i].fd = -1;
            else (i == 0 ? e.out : e.err).append(buf, static_cast<std::size_t>(n));
        }
    }
    for (auto& q : p)
        if (q.fd >= 0) ::close(q.fd);
    ::kill(pid, SIGKILL);  // a no-op if it has exited, as it should have
    int status = 0;
    waitpid(pid, &status, 0);
    e.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return e;
}

TEST(IoUringUnavailable, OneLineAndANonZeroExit) {
    for (const auto& [name, err] : {std::pair{"uring_server", EPERM}, std::pair{"uring_coro_server", ENOSYS},
                                    std::pair{"uring_server", ENOSYS}}) {
        Exit e = run_without_io_uring(server_named(name).path, err);
        std::printf("%s without io_uring_setup (%s): exit %d, stderr: %s", name, err == EPERM ? "EPERM" : "ENOSYS",
                    e.code, e.err.c_str());
        EXPECT_NE(e.code, 0) << name;
        EXPECT_NE(e.code, 126) << "could not install the seccomp filter";
        EXPECT_EQ(e.out, "") << name << ": no ready line";
        EXPECT_EQ(std::count(e.err.begin(), e.err.end(), '\n'), 1) << name << ": " << e.err;
        EXPECT_NE(e.err.find("io_uring is unavailable"), std::string::npos) << name << ": " << e.err;
        EXPECT_NE(e.err.find(std::string(name) + ": "), std::string::npos) << e.err;
    }
}

}  // namespace
}  // namespace iom::test
