#include "common/echo.hpp"

#include <chrono>

namespace iom {

std::string_view echo_mode_name(EchoMode m) { return m == EchoMode::upper ? "upper" : "plain"; }

void simulate_work(unsigned us) noexcept {
    if (us == 0) return;
    auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
    while (std::chrono::steady_clock::now() < until) {
    }
}

}  // namespace iom
