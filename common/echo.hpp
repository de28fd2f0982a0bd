// What an echo server does to the bytes it echoes, and the simulated work.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace iom {

// upper: every ASCII letter comes back upper-cased ("hello" -> "HELLO"), as
//        in the classic examples, so a class sees the server did something;
// plain: the bytes come back unchanged, for external benchmark tools.
enum class EchoMode { upper, plain };

std::string_view echo_mode_name(EchoMode m);

// Transform `bytes` in place. TCP is a stream: this works on any split of
// the input, because it looks at one byte at a time.
inline void echo_transform(EchoMode mode, std::span<char> bytes) noexcept {
    if (mode == EchoMode::plain) return;
    for (char& ch : bytes) {
        // 'a'..'z' -> 'A'..'Z'; one compare, no locale, every other byte untouched.
        if (static_cast<unsigned char>(ch - 'a') < 26u) ch = static_cast<char>(ch - ('a' - 'A'));
    }
}

// Spin the CPU for `us` microseconds: the "slow handler" of --work-us. It
// burns CPU rather than sleeping, because a real handler computes.
void simulate_work(unsigned us) noexcept;

}  // namespace iom
