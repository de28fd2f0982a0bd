// What every fuzz target shares: the entry point libFuzzer calls, a reader
// of the fuzzer's bytes, and the way a broken promise is reported.
//
// Each target defines LLVMFuzzerTestOneInput. Built with the `fuzz` preset
// (clang, -fsanitize=fuzzer) libFuzzer supplies main() and mutates inputs;
// in every other preset replay_main.cpp supplies a plain main() that runs the
// files of the corpus, so the same assertions guard the ordinary test suite.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
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

}  // namespace iom::fuzz
