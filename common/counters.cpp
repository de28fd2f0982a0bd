#include "common/counters.hpp"

#include "common/error.hpp"
#include "common/json.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

namespace iom {

Counters& Counters::operator+=(const Counters& o) noexcept {
#define IOM_MERGE_sum(name) name += o.name;
#define IOM_MERGE_max(name) name = std::max(name, o.name);
#define IOM_MERGE(name, merge, meaning) IOM_MERGE_##merge(name)
    IOM_COUNTERS(IOM_MERGE)
#undef IOM_MERGE
#undef IOM_MERGE_sum
#undef IOM_MERGE_max
    return *this;
}

namespace {

Json counters_json(const Counters& c) {
    Json j = Json::object();
#define IOM_JSON(name, merge, meaning) j[#name] = static_cast<std::uint64_t>(c.name);
    IOM_COUNTERS(IOM_JSON)
#undef IOM_JSON
    return j;
}

}  // namespace

std::string Counters::to_json() const { return json_line(counters_json(*this)); }

std::string Counters::to_line() const {
    std::string out;
#define IOM_LINE(name, merge, meaning) \
    if (name != 0) out += fmt::format("{}{}={}", out.empty() ? "" : " ", #name, static_cast<unsigned long long>(name));
    IOM_COUNTERS(IOM_LINE)
#undef IOM_LINE
    return out.empty() ? "(all zero)" : out;
}

void write_stats_file(const std::string& path, std::string_view server, const Counters& c) {
    std::string tmp = path + ".tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "w");
    if (!f) throw_sys("open stats file {}", tmp);
    std::string text = json_line(Json{{"server", server}, {"counters", counters_json(c)}}) + "\n";
    bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    ok = (std::fclose(f) == 0) && ok;
    if (!ok) throw_sys("write stats file {}", tmp);
    if (std::rename(tmp.c_str(), path.c_str()) != 0) throw_sys("rename {} to {}", tmp, path);
}

}  // namespace iom
