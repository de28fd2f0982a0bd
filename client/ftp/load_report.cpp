// ioclient ftp load's report: text for a person, one JSON line for a script.
#include "client/ftp/load.hpp"

#include "client/ftp/progress.hpp"
#include "common/json.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace iom::client::ftp {

double LoadResult::aggregate_rate() const { return seconds > 0 ? static_cast<double>(bytes) / seconds : 0; }

double LoadResult::session_rate_mean() const {
    double sum = 0;
    for (const auto& s : per_session) sum += s.seconds > 0 ? static_cast<double>(s.bytes) / s.seconds : 0;
    return per_session.empty() ? 0 : sum / static_cast<double>(per_session.size());
}

std::string to_text(const LoadResult& r) {
    std::string out = fmt::format("ftp load {}: {} sessions, {:.2f} s\n", r.url, r.sessions, r.seconds);
    if (!r.file.empty())
        out += fmt::format("  downloads  {} verified whole ({}, {}): each one's XXH3-128 against the copy of SHA-256 "
                           "{}... ({})\n",
                           r.downloads, r.file, format_bytes(r.file_size), r.sha256.substr(0, 16), r.sha256_source);
    if (r.put)
        out += fmt::format("  uploads    {} verified whole ({} each, read back)\n", r.uploads, format_bytes(r.put));
    double lo = 0, hi = 0;
    for (std::size_t i = 0; i < r.per_session.size(); ++i) {
        const auto& s = r.per_session[i];
        double rate = s.seconds > 0 ? static_cast<double>(s.bytes) / s.seconds : 0;
        lo = i == 0 ? rate : std::min(lo, rate);
        hi = std::max(hi, rate);
    }
    out += fmt::format("  moved      {}, {} in all\n", format_bytes(r.bytes), format_rate(r.aggregate_rate()));
    out += fmt::format("  a session  {} mean ({} min, {} max)\n", format_rate(r.session_rate_mean()), format_rate(lo),
                       format_rate(hi));
    out += fmt::format("  failures   {}\n", r.failures);
    for (const auto& s : r.per_session)
        if (!s.error.empty()) out += fmt::format("  session {}: {}\n", s.id, s.error);
    return out;
}

std::string to_json(const LoadResult& r) {
    Json sessions = Json::array();
    for (const auto& s : r.per_session)
        sessions.push_back({{"id", s.id},
                            {"bytes", s.bytes},
                            {"seconds", s.seconds},
                            {"bytes_per_second", s.seconds > 0 ? static_cast<double>(s.bytes) / s.seconds : 0},
                            {"downloads", s.downloads},
                            {"uploads", s.uploads},
                            {"failures", s.failures},
                            {"error", s.error}});
    Json j = {{"url", r.url},
              {"sessions", r.sessions},
              {"file", r.file},
              {"file_size", r.file_size},
              {"sha256", r.sha256},
              {"sha256_source", r.sha256_source},
              {"xxh128", r.xxh128},
              {"put", r.put},
              {"seconds", r.seconds},
              {"bytes", r.bytes},
              {"bytes_per_second", r.aggregate_rate()},
              {"session_bytes_per_second_mean", r.session_rate_mean()},
              {"downloads", r.downloads},
              {"uploads", r.uploads},
              {"failures", r.failures},
              {"per_session", sessions}};
    return json_line(j) + "\n";
}

}  // namespace iom::client::ftp
