#include "ftp/listing.hpp"

#include <fmt/format.h>

#include <cctype>
#include <iterator>

namespace iom::ftp {

namespace {

std::tm utc(std::int64_t t) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    return tm;
}

std::string mode_string(const Entry& e) {
    std::string s = "?rwxrwxrwx";
    s[0] = e.type == EntryType::dir ? 'd' : e.type == EntryType::link ? 'l' : e.type == EntryType::file ? '-' : '?';
    for (int bit = 0; bit < 9; ++bit)
        if (!(e.mode & (0400u >> bit))) s[1 + bit] = '-';
    return s;
}

std::string perm_fact(const Entry& e, bool writable) {
    bool w = writable && (e.mode & 0200);
    if (e.type == EntryType::dir) return fmt::format("{}{}{}", e.mode & 0100 ? "e" : "", e.mode & 0400 ? "l" : "", w ? "cdfmp" : "");
    return fmt::format("{}{}", w ? "adfw" : "", e.mode & 0400 ? "r" : "");
}

constexpr const char* fact_names[] = {"type", "size", "modify", "perm", "unique"};

// A name as a listing line shows it. A file name may hold any byte but '/' and NUL, and a local
// user can make one with CR or LF: written as it is, it would end the line early and the rest
// would read as an entry of its own (a forged one). CR and LF become spaces, as in replies
// (command.cpp); no FTP command can name such a file anyway (the session refuses CR and LF).
std::string one_line(std::string_view name) {
    std::string s(name);
    for (auto& c : s)
        if (c == '\r' || c == '\n') c = ' ';
    return s;
}

}  // namespace

std::string fact_list(unsigned facts) {
    std::string s;
    for (unsigned i = 0; i < 5; ++i) fmt::format_to(std::back_inserter(s), "{}{};", fact_names[i], facts & (1u << i) ? "*" : "");
    return s;
}

unsigned parse_fact_list(const std::string& arg) {
    unsigned facts = 0;
    std::size_t start = 0;
    while (start < arg.size()) {
        auto end = arg.find(';', start);
        std::string name = arg.substr(start, end - start);
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        for (unsigned i = 0; i < 5; ++i)
            if (name == fact_names[i]) facts |= 1u << i;
        if (end == std::string::npos) break;
        start = end + 1;
    }
    return facts;
}

std::string list_line(const Entry& e, std::time_t now) {
    static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::tm tm = utc(e.mtime);
    constexpr std::int64_t six_months = 180LL * 24 * 3600;
    // Within six months of now: the time of day, else the year (as ls -l). A file's time may be
    // any 64-bit value (utimensat sets what it is given): compare against now's window rather
    // than subtract (now - mtime overflows), and make the year a 64-bit sum (tm_year + 1900 is
    // an int overflow for years near INT_MAX, which gmtime_r returns).
    const auto t = static_cast<std::int64_t>(now);
    std::string when = e.mtime > t - six_months && e.mtime < t + six_months
                           ? fmt::format("{} {:02} {:02}:{:02}", months[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min)
                           : fmt::format("{} {:02}  {}", months[tm.tm_mon], tm.tm_mday, std::int64_t{tm.tm_year} + 1900);
    return fmt::format("{} {:>3} ftp      ftp      {:>12} {} {}\r\n", mode_string(e), e.nlink, e.size, when,
                       one_line(e.name));
}

std::string format_list(const std::vector<Entry>& entries, std::time_t now) {
    std::string out;
    for (const auto& e : entries) out += list_line(e, now);
    return out;
}

std::string format_nlst(const std::vector<Entry>& entries) {
    std::string out;
    for (const auto& e : entries) out += one_line(e.name) + "\r\n";
    return out;
}

std::string mlsx_line(const Entry& e, unsigned facts, bool writable, bool cdir) {
    std::string s;
    auto out = std::back_inserter(s);
    if (facts & fact_type) {
        const char* type = cdir ? "cdir" : e.type == EntryType::dir ? "dir" : e.type == EntryType::file ? "file"
                                       : e.type == EntryType::link                 ? "OS.unix=symlink"
                                                                                   : "OS.unix=special";
        fmt::format_to(out, "type={};", type);
    }
    if ((facts & fact_size) && e.type == EntryType::file) fmt::format_to(out, "size={};", e.size);
    if (facts & fact_modify) fmt::format_to(out, "modify={};", ftp_time(e.mtime));
    if (facts & fact_perm) fmt::format_to(out, "perm={};", perm_fact(e, writable));
    if (facts & fact_unique) fmt::format_to(out, "unique={:x}g{:x};", e.dev, e.ino);
    fmt::format_to(out, " {}", one_line(e.name));
    return s;
}

std::string format_mlsd(const Entry& dir, const std::vector<Entry>& entries, unsigned facts, bool writable) {
    Entry self = dir;
    self.name = ".";
    std::string out = mlsx_line(self, facts, writable, true) + "\r\n";
    for (const auto& e : entries) out += mlsx_line(e, facts, writable) + "\r\n";
    return out;
}

std::string ftp_time(std::int64_t t) {
    std::tm tm = utc(t);
    return fmt::format("{:04}{:02}{:02}{:02}{:02}{:02}", std::int64_t{tm.tm_year} + 1900, tm.tm_mon + 1, tm.tm_mday,
                       tm.tm_hour, tm.tm_min, tm.tm_sec);
}

}  // namespace iom::ftp
