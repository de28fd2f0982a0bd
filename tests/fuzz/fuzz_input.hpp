// What every fuzz target shares: the entry point libFuzzer calls, a reader
// of the fuzzer's bytes, and the way a broken promise is reported.
//
// Each target defines LLVMFuzzerTestOneInput. Built with the `fuzz` preset
// (clang, -fsanitize=fuzzer) libFuzzer supplies main() and mutates inputs;
// in every other preset replay_main.cpp supplies a plain main() that runs the
// files of the corpus, so the same assertions guard the ordinary test suite.
#pragma once

#include "common/net.hpp"

#include <fmt/format.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace iom::fuzz {

// A broken promise: say which, then abort, so libFuzzer keeps the input and
// the replay fails. Not assert(): it must hold in release builds too.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> what, Args&&... args) {
    fmt::print(stderr, "CONTRACT VIOLATED: {}\n", fmt::format(what, std::forward<Args>(args)...));
    std::fflush(stderr);
    std::abort();
}

#define IOM_FUZZ_CHECK(cond, ...) \
    do {                          \
        if (!(cond)) ::iom::fuzz::fail(__VA_ARGS__); \
    } while (0)

// The fuzzer's bytes, read front to back. Past the end every read gives 0
// (or an empty view): any input, however short, is a complete program.
class Input {
public:
    Input(const std::uint8_t* data, std::size_t size) : p_(data), left_(size) {}

    bool empty() const { return left_ == 0; }
    std::size_t left() const { return left_; }
    std::uint8_t peek() const { return left_ ? *p_ : 0; }

    std::uint8_t byte() {
        if (!left_) return 0;
        --left_;
        return *p_++;
    }
    std::uint16_t u16() { return static_cast<std::uint16_t>(byte() << 8 | byte()); }  // big-endian: readable in a hex dump
    std::uint64_t u64() {
        std::uint64_t v = 0;
        for (int i = 0; i < 8; ++i) v = v << 8 | byte();
        return v;
    }
    // Up to `n` bytes.
    std::string_view take(std::size_t n) {
        n = std::min(n, left_);
        std::string_view s(reinterpret_cast<const char*>(p_), n);
        p_ += n;
        left_ -= n;
        return s;
    }
    // The bytes up to and including the next `end` (or all that is left).
    std::string_view take_through(char end) {
        std::string_view all(reinterpret_cast<const char*>(p_), left_);
        auto at = all.find(end);
        return take(at == std::string_view::npos ? left_ : at + 1);
    }
    std::string_view rest() { return take(left_); }

private:
    const std::uint8_t* p_;
    std::size_t left_;
};

// Where a target makes its files: tmpfs when there is one (millions of inputs make millions of
// system calls), a directory of its own per process.
inline std::filesystem::path scratch_dir(std::string_view target) {
    namespace fsys = std::filesystem;
    fsys::path base = fsys::is_directory("/dev/shm") ? fsys::path("/dev/shm") : fsys::temp_directory_path();
    return base / fmt::format("iom-fuzz-{}.{}", target, ::getpid());
}

// The host of an address as 16 bytes, IPv4 as IPv4-mapped IPv6, so that the two forms of one host
// compare equal. Written here, not taken from ftp/data_address, so the checks do not share the
// code they check.
inline std::array<unsigned char, 16> host16(const Address& a) {
    std::array<unsigned char, 16> h{};
    if (a.family() == AF_INET) {
        h[10] = h[11] = 0xff;
        std::memcpy(&h[12], &reinterpret_cast<const sockaddr_in*>(&a.storage)->sin_addr, 4);
    } else if (a.family() == AF_INET6) {
        std::memcpy(h.data(), &reinterpret_cast<const sockaddr_in6*>(&a.storage)->sin6_addr, 16);
    } else {
        fail("an address of family {} where IPv4 or IPv6 was due", a.family());
    }
    return h;
}

// Another split of a stream into pieces of 1 to 16 bytes, from a seed: any split of a TCP stream
// is legal, so a reader must give the same result for this split as for the stream in one piece.
class Splitter {
public:
    explicit Splitter(std::uint8_t seed) : state_(seed) {}
    std::size_t next(std::size_t left) {
        state_ = state_ * 1103515245u + 12345u;
        return std::min<std::size_t>(left, 1 + (state_ >> 16) % 16);
    }

private:
    unsigned state_;
};

}  // namespace iom::fuzz
