// Progress bars for ioclient ftp: one transfer (get, put) or many at once
// (load), drawn on stderr.
//
// On a terminal the bars are redrawn in place: '\r' goes back to the start
// of the line, and for several bars the cursor moves up over the previous
// frame (ESC [ n A) before the new one is written. Anywhere else (a pipe, a
// log file, a test) a frame is written as plain lines, at most one every
// `interval` seconds, and the last frame always: a log gets a line now and
// then instead of thousands of carriage returns.
//
// ProgressBar formats, ProgressPrinter decides what to write and when; both
// are pure (no clock, no terminal): the caller passes the time and writes
// the bytes they return, which is what makes them testable.
#pragma once

#include <signal.h>

#include <cstdint>
#include <string>
#include <vector>

namespace iom::client::ftp {

// "0 B", "999 B", "1.0 KiB", "12.3 MiB", "1.50 GiB": at most 9 characters.
std::string format_bytes(std::uint64_t bytes);
// format_bytes per second: "12.3 MiB/s"; "--" when unknown (no time yet).
std::string format_rate(double bytes_per_second);
// "0:07", "12:34", "1:02:03"; "--:--" when unknown (no rate, or over 99 h).
std::string format_duration(double seconds);

class ProgressBar {
public:
    // `total` 0: the size is unknown (no percent, no bar fill, no time left).
    // `width`: the columns of every line, whatever the figures.
    ProgressBar(std::string label, std::uint64_t total, std::size_t width);

    void set_total(std::uint64_t total) { total_ = total; }
    std::uint64_t total() const { return total_; }

    // The line for `done` bytes moving at `rate` bytes per second (negative:
    // unknown), exactly width() columns:
    //   label [#########.........]  45%  12.3 MiB  4.1 MiB/s  0:02
    // The time left is what remains at that rate.
    std::string line(std::uint64_t done, double rate) const;
    // A bar that fills by time (a load under --duration: the bytes to come
    // are not known): the percent and the fill are elapsed / duration, the
    // time left is what remains of the duration; the bytes and the rate are
    // those moved so far.
    std::string timed_line(std::uint64_t bytes, double rate, double elapsed, double duration) const;
    std::size_t width() const { return width_; }

private:
    std::string draw(std::uint64_t done, double rate, std::uint64_t part, std::uint64_t whole,
                     const std::string& left) const;
    std::string label_;
    std::uint64_t total_;
    std::size_t width_;
};

// The rate over the last `window` seconds: what a bar shows. An average
// since the start would be wrong twice: the first blocks fill socket
// buffers at memory speed, and a transfer that slows down would be shown
// fast for a long time.
class RateWindow {
public:
    explicit RateWindow(double window = 5.0) : window_(window) {}
    // `bytes` in all (a running total) at time `now` (seconds).
    void add(double now, std::uint64_t bytes);
    // Bytes per second over the window; negative until two samples span time.
    double rate() const;

private:
    struct Sample {
        double t;
        std::uint64_t bytes;
    };
    double window_;
    std::vector<Sample> samples_;
};

class ProgressPrinter {
public:
    // `in_place`: a terminal (isatty). `interval`: seconds between frames in
    // line mode (in place, every frame is drawn: the caller paces them).
    ProgressPrinter(bool in_place, double interval) : in_place_(in_place), interval_(interval) {}

    // The bytes to write for a frame of `lines` at time `now` (seconds), or
    // "" when this frame is skipped. `last`: the final frame, always written,
    // and on a terminal followed by a newline so the prompt starts below.
    std::string frame(const std::vector<std::string>& lines, double now, bool last = false);

private:
    bool in_place_;
    double interval_;
    std::size_t drawn_ = 0;  // lines of the frame on screen (in place)
    double last_time_ = -1;  // when the last frame was written (line mode)
    bool finished_ = false;
};

// Ctrl-C while bars are drawn. The terminal echoes "^C" where the cursor
// is, on a bar's line; while a guard lives, SIGINT only sets a flag (and
// interrupts the wait, no SA_RESTART), so the caller draws its last frame
// over it, ends the line, and exit_by_the_signal() then ends the process
// by SIGINT itself (the shell sees an interrupted command, status 130).
class InterruptGuard {
public:
    InterruptGuard();
    ~InterruptGuard();
    InterruptGuard(const InterruptGuard&) = delete;
    InterruptGuard& operator=(const InterruptGuard&) = delete;
    bool requested() const;
    [[noreturn]] void exit_by_the_signal();

private:
    struct sigaction old_{};
};

// --progress: auto (bars in place on a terminal, lines otherwise), bar,
// lines, none.
enum class ProgressMode { automatic, bar, lines, none };
// The mode `mode` means for stderr: never automatic.
ProgressMode resolve(ProgressMode mode);

// The columns of the terminal on `fd`, or `fallback` when it is not one.
std::size_t terminal_width(int fd, std::size_t fallback = 80);

}  // namespace iom::client::ftp
