#include "client/check/check.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace iom::client {

namespace {

using Clock = std::chrono::steady_clock;

// Where two byte strings first differ, for a useful failure message.
std::string first_difference(const std::string& want, const std::string& got) {
    std::size_t i = 0;
    while (i < want.size() && i < got.size() && want[i] == got[i]) ++i;
    return fmt::format("expected {} bytes, got {}; first difference at byte {}", want.size(), got.size(), i);
}

// Send `input`, expect its echo within the timeout.
CaseResult echo_once(Connection& c, const std::string& input, const CheckOptions& opt) {
    if (!c.send_all(input)) return fail("send failed");
    std::string partial;
    auto got = c.recv_exact(input.size(), opt.timeout, &partial);
    if (!got) return fail(fmt::format("echo incomplete: {} of {} bytes arrived", partial.size(), input.size()));
    std::string want = expected_echo(opt.echo, input);
    if (*got != want) return fail(first_difference(want, *got));
    return pass();
}

CaseResult one_echo(const CheckOptions& opt) {
    auto c = Connection::open(opt.server);
    return echo_once(c, "hello world\n", opt);
}

CaseResult fragmented(const CheckOptions& opt) {
    // TCP is a stream: 1-byte writes (TCP_NODELAY makes each its own
    // segment) must come back as the same bytes, however they are split.
    auto c = Connection::open(opt.server);
    std::string input = "Fragmented writes, one byte each: the server must not assume messages.";
    for (char ch : input)
        if (!c.send_all(std::string(1, ch))) return fail("send failed");
    auto got = c.recv_exact(input.size(), opt.timeout);
    if (!got) return fail("echo incomplete");
    if (*got != expected_echo(opt.echo, input)) return fail(first_difference(expected_echo(opt.echo, input), *got));
    return pass();
}

CaseResult large_payload(const CheckOptions& opt) {
    // 4 MiB, far more than any socket buffer: a writer thread sends while we
    // read, as a real client must (write it all first and both sides block).
    const std::string input = random_bytes(4 << 20, 4);
    auto c = Connection::open(opt.server);
    std::atomic<bool> sent{false};
    std::thread writer([&] { sent = c.send_all(input); });
    std::string partial;
    auto got = c.recv_exact(input.size(), opt.timeout * 3, &partial);
    if (!got) c.reset();  // unblock the writer
    writer.join();
    if (!sent) return fail("send failed");
    if (!got) return fail(fmt::format("echo incomplete: {} of {} bytes arrived", partial.size(), input.size()));
    if (*got != expected_echo(opt.echo, input)) return fail(first_difference(expected_echo(opt.echo, input), *got));
    return pass("4 MiB echoed exactly");
}

CaseResult concurrent_clients(const CheckOptions& opt) {
    // 64 clients all connected at once, each with its own random payload;
    // every one keeps its connection until all are echoed. A server that
    // serves one client at a time cannot pass this, so in sequential mode the
    // clients take turns instead.
    constexpr int n = 64;
    if (opt.sequential) {
        for (int i = 0; i < n; ++i) {
            auto c = Connection::open(opt.server);
            if (auto r = echo_once(c, random_bytes(8192, 100 + i), opt); !r.passed())
                return fail(fmt::format("client {}: {}", i, r.detail));
        }
        return pass("sequential: 64 clients served one after another");
    }
    std::vector<std::unique_ptr<Connection>> conns;
    for (int i = 0; i < n; ++i) conns.push_back(std::make_unique<Connection>(Connection::open(opt.server)));
    std::vector<CaseResult> results(n);
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
        threads.emplace_back([&, i] { results[i] = echo_once(*conns[i], random_bytes(65536, 100 + i), opt); });
    }
    for (auto& t : threads) t.join();
    for (int i = 0; i < n; ++i)
        if (!results[i].passed()) return fail(fmt::format("client {}: {}", i, results[i].detail));
    return pass("64 clients, 64 KiB each, all connected at once");
}

CaseResult half_close(const CheckOptions& opt) {
    // Send, then shut our write side: the server sees EOF but must still
    // echo everything it read, and only then close.
    auto c = Connection::open(opt.server);
    const std::string input = random_bytes(100000, 5);
    if (!c.send_all(input)) return fail("send failed");
    c.shutdown_write();
    std::string partial;
    auto got = c.recv_exact(input.size(), opt.timeout, &partial);
    if (!got) return fail(fmt::format("after half-close only {} of {} bytes came back", partial.size(), input.size()));
    if (*got != expected_echo(opt.echo, input)) return fail(first_difference(expected_echo(opt.echo, input), *got));
    if (!c.expect_eof(opt.timeout)) return fail("the server did not close after echoing everything");
    return pass();
}

CaseResult reset_mid_transfer(const CheckOptions& opt) {
    // A client sends a lot, reads nothing, and resets: the server must drop
    // that connection only, and carry on serving.
    {
        auto c = Connection::open(opt.server);
        c.send_all(random_bytes(256 << 10, 6));
        c.reset();
    }
    for (int i = 0; i < 3; ++i) {
        auto c = Connection::open(opt.server);
        if (auto r = echo_once(c, "still there?", opt); !r.passed()) return fail("after a reset: " + r.detail);
    }
    return pass();
}

CaseResult idle_client(const CheckOptions& opt) {
    if (opt.sequential) {
        // The iterative model's lesson: a second client waits, unserved,
        // until the first leaves, and is then served in full.
        auto first = Connection::open(opt.server);
        if (auto r = echo_once(first, "first", opt); !r.passed()) return fail("first client: " + r.detail);
        auto second = Connection::open(opt.server);
        if (!second.send_all("second")) return fail("send failed");
        if (!second.expect_silence(Millis(500))) return fail("the second client was served while the first stayed");
        first.close();
        auto got = second.recv_exact(6, opt.timeout);
        if (!got || *got != expected_echo(opt.echo, "second"))
            return fail("the second client was not served after the first left");
        return pass("sequential: the second client waited for the first to leave");
    }
    // An idle client (connected, silent) must not stop another being served.
    auto idle = Connection::open(opt.server);
    auto active = Connection::open(opt.server);
    for (int i = 0; i < 10; ++i)
        if (auto r = echo_once(active, fmt::format("message {}", i), opt); !r.passed()) return fail(r.detail);
    if (auto r = echo_once(idle, "awake", opt); !r.passed()) return fail("the idle client, once it spoke: " + r.detail);
    return pass();
}

CaseResult pingpong_4k(const CheckOptions& opt) {
    // 4 KiB round trips. Written in two sends, as many clients do; a server
    // without TCP_NODELAY that answers in two sends stalls ~40 ms on the
    // peer's delayed ACK. The median must stay far below that.
    auto c = Connection::open(opt.server);
    const std::string input = random_bytes(4096, 7);
    const std::string want = expected_echo(opt.echo, input);
    std::vector<double> ms;
    for (int i = 0; i < 40; ++i) {
        auto t0 = Clock::now();
        if (!c.send_all(std::string_view(input).substr(0, 2048)) || !c.send_all(std::string_view(input).substr(2048)))
            return fail("send failed");
        auto got = c.recv_exact(input.size(), opt.timeout);
        if (!got || *got != want) return fail("wrong or missing echo");
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
    double median = ms[ms.size() / 2];
    if (median >= 20.0) return fail(fmt::format("median round trip {:.1f} ms: a delayed-ACK stall (TCP_NODELAY?)", median));
    return pass(fmt::format("median round trip {:.3f} ms", median));
}

CaseResult all_bytes(const CheckOptions& opt) {
    // Every byte value, in every position of a 256-byte block, 256 times over.
    std::string input;
    for (int shift = 0; shift < 256; ++shift)
        for (int b = 0; b < 256; ++b) input.push_back(static_cast<char>((b + shift) & 0xff));
    auto c = Connection::open(opt.server);
    return echo_once(c, input, opt);
}

const std::vector<CheckCase> cases = {
    {"one-echo", "one short message comes back transformed", {}, one_echo},
    {"fragmented", "1-byte writes come back as the same stream", {}, fragmented},
    {"all-bytes", "every byte value 0-255 in every position comes back exactly", {}, all_bytes},
    {"large-payload", "4 MiB written while reading concurrently comes back exactly", {}, large_payload},
    {"concurrent-clients", "64 clients at once, random payloads, each verified", {}, concurrent_clients},
    {"half-close", "send, SHUT_WR: the whole echo, then EOF", {}, half_close},
    {"reset-mid-transfer", "a client resets mid-transfer; the server still serves", {}, reset_mid_transfer},
    {"idle-client", "an idle client does not stop another (sequential: the second waits)", {}, idle_client},
    {"pingpong-4k", "4 KiB ping-pong median far below the 40 ms delayed-ACK stall", {}, pingpong_4k},
};

}  // namespace

const std::vector<CheckCase>& check_cases() { return cases; }

CaseResult run_case(const std::string& name, const CheckOptions& opt) {
    return run_named_case("check", cases, name, opt);
}

bool detect_sequential(const CheckOptions& opt) {
    auto first = Connection::open(opt.server);
    if (!echo_once(first, "1", opt).passed()) throw std::runtime_error("the server does not echo");
    auto second = Connection::open(opt.server);
    second.send_all("2");
    return !second.recv_exact(1, Millis(1000)).has_value();
}

int run_check(const CheckOptions& opt, std::ostream& out) { return run_cases("check", cases, opt, out); }

}  // namespace iom::client
