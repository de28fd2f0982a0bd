#include "client/top/screen.hpp"

#include <fmt/format.h>
#include <langinfo.h>
#include <ncurses.h>
#include <signal.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <clocale>
#include <cmath>
#include <cstring>
#include <deque>
#include <map>

namespace iom::client {

namespace {

std::string rate(double v) {
    if (!std::isfinite(v)) return "-";
    if (v < 10 && v != std::floor(v)) return fmt::format("{:.1f}", v);
    if (v < 100'000) return fmt::format("{:.0f}", v);
    if (v < 100'000'000) return fmt::format("{:.0f}k", v / 1e3);
    return fmt::format("{:.0f}M", v / 1e6);
}
std::string ratio(double v) {
    if (!std::isfinite(v)) return "-";
    return v < 100 ? fmt::format("{:.1f}", v) : fmt::format("{:.0f}", v);
}
std::string memory(long kib) {
    if (kib < 0) return "-";
    if (kib < 10'000) return fmt::format("{}K", kib);
    if (kib < 10'000'000) return fmt::format("{}M", kib / 1024);
    return fmt::format("{}G", kib / (1024 * 1024));
}
std::string short_name(const TopRow& r) {  // "epoll_server" -> "epoll": the suffix says nothing here
    std::string_view n = r.name;
    if (n.ends_with("_server")) n.remove_suffix(7);
    return std::string(n.substr(0, 11));
}

// In display order. `extra`: shown only on a terminal wider than 80 columns.
struct ColumnSpec {
    Column column;
    bool extra;
};
const std::array kColumns = {
    ColumnSpec{{"SERVER", "name", 11, "the server (its name without _server)", short_name}, false},
    ColumnSpec{{"FAMILY", "family", 12, "its family: the folder it lives in", [](const TopRow& r) { return r.family; }},
               true},
    ColumnSpec{{"PORT", "port", 5, "the port it listens on", [](const TopRow& r) { return std::to_string(r.port); }},
               false},
    ColumnSpec{{"CONN", "connections", 5, "connections open now (accepted, not yet closed)",
                [](const TopRow& r) { return fmt::format("{:.0f}", r.connections); }},
               false},
    ColumnSpec{{"MSG/S", "msgs_per_s", 7, "messages per second: reads that brought data",
                [](const TopRow& r) { return rate(r.msgs_per_s); }},
               false},
    ColumnSpec{{"MB/S", "mb_per_s", 6, "megabytes per second, received + sent",
                [](const TopRow& r) { return ratio(r.mb_per_s); }},
               true},
    ColumnSpec{{"SYS/M", "syscalls_per_msg", 5, "system calls per message (io_uring: io_uring_enter only)",
                [](const TopRow& r) { return ratio(r.syscalls_per_msg); }},
               false},
    ColumnSpec{{"WAIT/S", "waits_per_s", 7, "calls per second to the model's wait (select, poll, epoll_wait...)",
                [](const TopRow& r) { return rate(r.waits_per_s); }},
               true},
    ColumnSpec{{"FD/WT", "fds_per_wait", 6, "descriptors handed to or scanned by each wait",
                [](const TopRow& r) { return ratio(r.fds_per_wait); }},
               false},
    ColumnSpec{{"EAGN/S", "eagain_per_s", 7, "EAGAIN answers per second: the kernel said 'nothing yet'",
                [](const TopRow& r) { return rate(r.eagain_per_s); }},
               false},
    ColumnSpec{{"CPU%", "cpu_percent", 4, "CPU, % of one core, all its threads and processes",
                [](const TopRow& r) { return rate(std::round(r.cpu_percent)); }},
               false},
    ColumnSpec{{"USR%", "cpu_user_percent", 4, "of which in user space (the server's own code)",
                [](const TopRow& r) { return rate(std::round(r.cpu_user_percent)); }},
               true},
    ColumnSpec{{"SYS%", "cpu_system_percent", 4, "of which in the kernel (system calls, the network stack)",
                [](const TopRow& r) { return rate(std::round(r.cpu_system_percent)); }},
               true},
    ColumnSpec{{"MEM", "memory_kib", 5, "memory it allocated (Pss_Anon of its processes)",
                [](const TopRow& r) { return memory(r.memory_kib); }},
               false},
    ColumnSpec{{"THR", "threads", 4, "threads, all its processes together",
                [](const TopRow& r) { return r.threads < 0 ? std::string("-") : std::to_string(r.threads); }},
               false},
    ColumnSpec{{"LOOPS", "per_loop", 9, "connections open on each event loop (epoll_loops_server: how the deal spread them)",
                [](const TopRow& r) { return r.per_loop.substr(0, 9); }},
               true},
    ColumnSpec{{"HO/M", "handoffs_per_msg", 5, "hand-offs between threads per message (a pool: to a worker, and back)",
                [](const TopRow& r) { return ratio(r.handoffs_per_msg); }},
               true},
    ColumnSpec{{"SESS", "ftp_sessions", 5, "FTP servers: sessions started",
                [](const TopRow& r) { return r.ftp ? std::to_string(r.ftp_sessions) : std::string(); }},
               true},
    ColumnSpec{{"XFER", "ftp_transfers", 5, "FTP servers: transfers started",
                [](const TopRow& r) { return r.ftp ? std::to_string(r.ftp_transfers) : std::string(); }},
               true},
    ColumnSpec{{"FMB/S", "file_mb_per_s", 6, "FTP servers: file megabytes per second, read + written",
                [](const TopRow& r) { return r.ftp ? ratio(r.file_mb_per_s) : std::string(); }},
               true},
};

// --- the sparkline: messages/s over the last minute -----------------------------------

struct History {
    std::deque<double> msgs_per_s;  // oldest first, one per reading
};

std::string sparkline(const std::deque<double>& samples, std::size_t capacity, int width, bool utf8) {
    static const std::array<const char*, 9> blocks = {" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
    static const std::string_view ascii = " .:-=+*#%";
    if (width <= 0) return {};
    double top = 1;
    for (double v : samples) top = std::max(top, v);
    // The minute is `capacity` readings; each character averages its share,
    // the newest on the right (the left stays blank until a minute has passed).
    std::string out;
    const double per = static_cast<double>(capacity) / width;
    const auto missing = static_cast<double>(capacity - samples.size());
    for (int c = 0; c < width; ++c) {
        const double from = c * per - missing, to = (c + 1) * per - missing;
        double sum = 0;
        int n = 0;
        for (auto i = static_cast<std::size_t>(std::max(0.0, std::ceil(from)));
             static_cast<double>(i) < to && i < samples.size(); ++i, ++n)
            sum += samples[i];
        int level = n == 0 ? 0 : static_cast<int>(std::ceil(sum / n / top * 8));
        if (n > 0 && sum > 0) level = std::max(level, 1);
        out += utf8 ? blocks[static_cast<std::size_t>(level)] : std::string(1, ascii[static_cast<std::size_t>(level)]);
    }
    return out;
}

// --- the screen ----------------------------------------------------------------------

std::atomic<bool> interrupted{false};
extern "C" void on_interrupt(int) { interrupted = true; }

enum class Sort { port, msgs, cpu, connections, name };
constexpr std::array<std::string_view, 5> kSortNames = {"port", "msg/s", "cpu", "connections", "name"};

void sort_rows(std::vector<TopRow>& rows, Sort by) {
    auto key = [by](const TopRow& r) {
        switch (by) {
        case Sort::msgs: return -std::max(0.0, std::isfinite(r.msgs_per_s) ? r.msgs_per_s : 0);
        case Sort::cpu: return -std::max(0.0, std::isfinite(r.cpu_percent) ? r.cpu_percent : 0);
        case Sort::connections: return -r.connections;
        default: return 0.0;
        }
    };
    std::stable_sort(rows.begin(), rows.end(), [&](const TopRow& a, const TopRow& b) {
        if (by == Sort::name) return a.name < b.name;
        if (key(a) != key(b)) return key(a) < key(b);
        return a.port < b.port;
    });
}

void draw_help(const std::vector<Column>& columns) {
    erase();
    int y = 0;
    mvaddstr(y++, 0, "ioclient top: every running server of the suite, live. Keys:");
    mvaddstr(y++, 2, "s  sort by the next key (port, msg/s, cpu, connections, name)");
    mvaddstr(y++, 2, "p  pause / resume the readings (the screen stays still)");
    mvaddstr(y++, 2, "h  this help (any key returns)      q  quit");
    ++y;
    for (const Column& c : columns)
        mvaddstr(y++, 2, fmt::format("{:<7} {}", c.header, c.meaning).substr(0, std::size_t(std::max(0, COLS - 3))).c_str());
    ++y;
    mvaddstr(y++, 0, "Highlighted: a figure that holds a lesson right now.");
    mvaddstr(y++, 2, "CPU%    busy with no messages (busy polling)");
    mvaddstr(y++, 2, "FD/WT   far above the ready ones (select and poll scan every idle connection)");
    mvaddstr(y++, 2, "EAGN/S  above MSG/S: asking the kernel in vain");
    mvaddstr(y++, 2, "THR     threads following the clients (a thread or process each)");
    mvaddstr(y++, 2, "SYS/M   below 1: fewer system calls than messages (io_uring batches)");
    mvaddstr(y++, 0, "LAST MINUTE: messages/s, newest on the right, scaled to the row's own peak.");
    refresh();
}

void draw(const std::vector<TopRow>& rows, const std::map<std::string, History>& history, std::size_t capacity,
          Sort sort, bool paused, bool utf8) {
    const int spare = 12;
    const auto columns = choose_columns(COLS, spare);
    erase();
    attron(A_REVERSE);
    std::string title = fmt::format(" ioclient top   {} server{}   sort: {}{}   h help  q quit", rows.size(),
                                     rows.size() == 1 ? "" : "s", kSortNames[static_cast<std::size_t>(sort)],
                                     paused ? "   PAUSED" : "");
    title.resize(std::size_t(std::max(COLS, 1)), ' ');
    mvaddstr(0, 0, title.c_str());
    attroff(A_REVERSE);
    std::string header = header_line(columns);
    int spark_x = static_cast<int>(header.size()) + 1;
    mvaddstr(1, 0, (header + " LAST MINUTE").substr(0, std::size_t(std::max(COLS, 1))).c_str());
    int y = 2;
    for (const TopRow& r : rows) {
        if (y >= LINES) break;
        int x = 0;
        for (const Column& c : columns) {
            bool mark = r.marked(c.figure);
            if (mark) attron(A_REVERSE | A_BOLD);
            mvaddstr(y, x, fmt::format("{:>{}}", c.cell(r), c.width).c_str());
            if (mark) attroff(A_REVERSE | A_BOLD);
            x += c.width + 1;
        }
        auto h = history.find(fmt::format("{}-{}", r.name, r.pid));
        if (h != history.end())
            mvaddstr(y, spark_x, sparkline(h->second.msgs_per_s, capacity, COLS - spark_x - 1, utf8).c_str());
        ++y;
    }
    if (rows.empty())
        mvaddstr(3, 2, fmt::format("no server is running (looked in {}): start one, or scripts/classroom.sh",
                                   live_dir()).c_str());
    refresh();
}

}  // namespace

std::vector<Column> choose_columns(int width, int spare) {
    int used = 0;
    for (const auto& s : kColumns) used += s.extra ? 0 : s.column.width + 1;
    std::vector<bool> shown(kColumns.size());
    for (std::size_t i = 0; i < kColumns.size(); ++i) {
        shown[i] = !kColumns[i].extra;
        if (kColumns[i].extra && width > 80 && used + kColumns[i].column.width + 1 + spare <= width) {
            shown[i] = true;
            used += kColumns[i].column.width + 1;
        }
    }
    std::vector<Column> out;
    for (std::size_t i = 0; i < kColumns.size(); ++i)
        if (shown[i]) out.push_back(kColumns[i].column);
    return out;
}

std::string header_line(const std::vector<Column>& columns) {
    std::string out;
    for (const Column& c : columns) out += fmt::format("{:>{}} ", c.header, c.width);
    out.pop_back();
    return out;
}

int run_screen(const TopOptions& opt) {
    std::setlocale(LC_ALL, "");
    const bool utf8 = std::strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
    signal(SIGINT, on_interrupt);
    signal(SIGTERM, on_interrupt);
    initscr();
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    curs_set(0);
    timeout(100);  // getch waits at most 100 ms: keys answer at once, readings keep their pace

    const auto interval = std::chrono::duration<double>(opt.interval);
    const auto capacity = static_cast<std::size_t>(std::ceil(60 / opt.interval));
    std::map<std::string, History> history;
    std::vector<TopReading> previous = read_servers();
    std::vector<TopRow> rows = rows_between({}, previous);
    auto last = std::chrono::steady_clock::now();
    Sort sort = Sort::port;
    bool paused = false, help = false;
    while (!interrupted) {
        auto now = std::chrono::steady_clock::now();
        if (!paused && now - last >= interval) {
            std::vector<TopReading> current = read_servers();
            rows = rows_between(previous, current);
            std::map<std::string, History> kept;  // servers gone since drop their history
            for (const TopRow& r : rows) {
                std::string key = fmt::format("{}-{}", r.name, r.pid);
                History& h = kept[key] = std::move(history[key]);
                h.msgs_per_s.push_back(std::isfinite(r.msgs_per_s) ? r.msgs_per_s : 0);
                if (h.msgs_per_s.size() > capacity) h.msgs_per_s.pop_front();
            }
            history = std::move(kept);
            previous = std::move(current);
            last = now;
        }
        sort_rows(rows, sort);
        if (help) draw_help(choose_columns(COLS, 0));
        else draw(rows, history, capacity, sort, paused, utf8);
        int key = getch();
        if (key == ERR || key == KEY_RESIZE) continue;
        if (help) {
            help = false;
            continue;
        }
        switch (key) {
        case 'q': case 'Q': interrupted = true; break;
        case 's': case 'S': sort = static_cast<Sort>((static_cast<int>(sort) + 1) % kSortNames.size()); break;
        case 'p': case 'P': case ' ': paused = !paused; break;
        case 'h': case 'H': case '?': help = true; break;
        default: break;
        }
    }
    endwin();
    return 0;
}

}  // namespace iom::client
