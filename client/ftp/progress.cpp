#include "client/ftp/progress.hpp"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace iom::client::ftp {

std::string format_bytes(std::uint64_t bytes) {
    if (bytes < 1024) return fmt::format("{} B", bytes);
    static constexpr const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double value = static_cast<double>(bytes) / 1024;
    int unit = 0;
    // Switch units before the figure would need a fourth integer digit
    // once rounded: "1023.9 KiB" would not fit, "1.00 MiB" does.
    while (value >= 999.95 && unit < 5) {
        value /= 1024;
        ++unit;
    }
    return value < 9.995 ? fmt::format("{:.2f} {}", value, units[unit]) : fmt::format("{:.1f} {}", value, units[unit]);
}

std::string format_rate(double bytes_per_second) {
    if (!(bytes_per_second >= 0) || std::isinf(bytes_per_second)) return "--";
    return format_bytes(static_cast<std::uint64_t>(bytes_per_second)) + "/s";
}

std::string format_duration(double seconds) {
    if (!(seconds >= 0) || seconds >= 99 * 3600) return "--:--";
    auto s = static_cast<std::uint64_t>(std::ceil(seconds));
    if (s < 3600) return fmt::format("{}:{:02}", s / 60, s % 60);
    return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
}

ProgressBar::ProgressBar(std::string label, std::uint64_t total, std::size_t width)
    : label_(std::move(label)), total_(total), width_(width) {}

std::string ProgressBar::line(std::uint64_t done, double rate) const {
    std::string left = "--:--";
    if (total_ > 0 && done >= total_) left = format_duration(0);
    else if (total_ > 0 && rate > 0) left = format_duration(static_cast<double>(total_ - done) / rate);
    return draw(done, rate, std::min(done, total_), total_, left);
}

std::string ProgressBar::timed_line(std::uint64_t bytes, double rate, double elapsed, double duration) const {
    if (!(duration > 0)) return draw(bytes, rate, 0, 0, "--:--");
    auto ms = [](double seconds) { return static_cast<std::uint64_t>(std::max(0.0, seconds) * 1000); };
    return draw(bytes, rate, std::min(ms(elapsed), ms(duration)), ms(duration),
                format_duration(std::max(0.0, duration - elapsed)));
}

// The bar and the percent show part / whole (whole 0: unknown, neither).
std::string ProgressBar::draw(std::uint64_t done, double rate, std::uint64_t part, std::uint64_t whole,
                              const std::string& left) const {
    // Floor, so 100% means all of it: 99.96% must not read 100%.
    std::string percent = whole > 0 ? fmt::format("{}%", part * 100 / whole) : "";
    // The figures have fixed widths, so nothing moves as they change.
    std::string tail = fmt::format(" {:>4} {:>9} {:>11} {:>8}", percent, format_bytes(done), format_rate(rate), left);

    // The label takes at most a third of the line; the bar what is left,
    // and disappears when fewer than 10 columns remain.
    std::size_t label_width = std::min(label_.size(), width_ / 3);
    std::string label = label_.substr(0, label_width);
    std::string out = label;
    std::size_t used = label.size() + tail.size();
    if (width_ >= used + 13) {
        std::size_t cells = width_ - used - 3;
        std::size_t full = whole > 0 ? static_cast<std::size_t>(part * cells / whole) : 0;
        out += " [" + std::string(full, '#') + std::string(cells - full, '.') + "]";
    }
    out += tail;
    // Pad, or cut, to exactly the width.
    out.resize(width_, ' ');
    return out;
}

void RateWindow::add(double now, std::uint64_t bytes) {
    samples_.push_back({now, bytes});
    // Keep one sample older than the window, so the window is always spanned.
    std::size_t drop = 0;
    while (drop + 1 < samples_.size() && samples_[drop + 1].t <= now - window_) ++drop;
    samples_.erase(samples_.begin(), samples_.begin() + static_cast<std::ptrdiff_t>(drop));
}

double RateWindow::rate() const {
    if (samples_.size() < 2 || samples_.back().t <= samples_.front().t) return -1;
    if (samples_.back().bytes < samples_.front().bytes) return -1;  // a counter that went back: no rate
    return static_cast<double>(samples_.back().bytes - samples_.front().bytes) /
           (samples_.back().t - samples_.front().t);
}

std::string ProgressPrinter::frame(const std::vector<std::string>& lines, double now, bool last) {
    if (finished_) return "";
    std::string out;
    if (in_place_) {
        if (drawn_ > 1) out += fmt::format("\x1b[{}A", drawn_ - 1);  // back to the first line of the frame
        out += '\r';
        for (std::size_t i = 0; i < lines.size(); ++i) {
            out += lines[i];
            if (i + 1 < lines.size()) out += "\n";
        }
        drawn_ = lines.size();
    } else {
        if (!last && last_time_ >= 0 && now - last_time_ < interval_) return "";
        for (const auto& l : lines) {
            // Lines in a log need no padding.
            auto end = l.find_last_not_of(' ');
            out += l.substr(0, end == std::string::npos ? 0 : end + 1) + "\n";
        }
        last_time_ = now;
    }
    if (last) {
        if (in_place_) out += "\n";
        finished_ = true;
    }
    return out;
}

namespace {
volatile sig_atomic_t interrupted = 0;
void on_interrupt(int) { interrupted = 1; }
}  // namespace

InterruptGuard::InterruptGuard() {
    interrupted = 0;
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_);
}

InterruptGuard::~InterruptGuard() { sigaction(SIGINT, &old_, nullptr); }

bool InterruptGuard::requested() const { return interrupted != 0; }

void InterruptGuard::exit_by_the_signal() {
    std::fflush(stderr);
    signal(SIGINT, SIG_DFL);
    raise(SIGINT);
    std::_Exit(130);  // SIGINT was blocked or ignored by whoever started us
}

ProgressMode resolve(ProgressMode mode) {
    if (mode != ProgressMode::automatic) return mode;
    return isatty(STDERR_FILENO) ? ProgressMode::bar : ProgressMode::lines;
}

std::size_t terminal_width(int fd, std::size_t fallback) {
    winsize ws{};
    if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    return fallback;
}

}  // namespace iom::client::ftp
