#include "ftp/access_log.hpp"

#include "common/error.hpp"
#include "common/json.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <ctime>

namespace iom::ftp {

namespace {

// UTC, to the millisecond: "2025-01-02T03:04:05.678Z".
std::string utc_now() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    std::tm tm{};
    gmtime_r(&ts.tv_sec, &tm);
    char buf[40];
    std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(buf + n, sizeof buf - n, ".%03ldZ", ts.tv_nsec / 1'000'000);
    return buf;
}

// The client's host, without its port (the port changes with every connection).
std::string host_of(const Address& a) {
    std::string s = a.to_string();
    auto colon = s.rfind(':');
    if (colon == std::string::npos) return s;
    s.resize(colon);
    if (s.size() >= 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
    return s;
}

Json event(std::string_view name, const Address& client) {
    return Json{{"time", utc_now()}, {"event", name}, {"client", host_of(client)}};
}

}  // namespace

AccessLog::AccessLog(const std::string& where) {
    if (where == "none") return;
    if (where.empty() || where == "-") {
        fd_ = STDERR_FILENO;
        return;
    }
    owned_ = Fd(::open(where.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640));
    if (!owned_) throw_sys("open the access log {}", where);
    fd_ = owned_.get();
}

void AccessLog::write(std::string line) {
    line += '\n';
    // One write: O_APPEND puts it whole at the end. A short or failed write
    // loses (part of) a log line, never the session.
    [[maybe_unused]] ssize_t n = ::write(fd_, line.data(), line.size());
}

void AccessLog::connect(const Address& client) {
    if (enabled()) write(json_line(event("connect", client)));
}

void AccessLog::refused(const Address& client) {
    if (enabled()) write(json_line(event("refused", client)));
}

void AccessLog::login(const Address& client, std::string_view user) {
    if (!enabled()) return;
    Json j = event("login", client);
    j["user"] = user;
    write(json_line(j));
}

void AccessLog::login_failed(const Address& client, std::string_view user, unsigned delay_ms) {
    if (!enabled()) return;
    Json j = event("login_failed", client);
    j["user"] = user;
    j["delay_ms"] = delay_ms;  // the wait before the 530: it doubles for an address that keeps guessing
    write(json_line(j));
}

void AccessLog::tls_failed(const Address& client, std::string_view reason) {
    if (!enabled()) return;
    Json j = event("tls_failed", client);
    j["reason"] = reason;
    write(json_line(j));
}

void AccessLog::transfer(const Address& client, std::string_view user, std::string_view direction,
                         std::string_view path, std::uint64_t bytes, double seconds, std::string_view result) {
    if (!enabled()) return;
    Json j = event("transfer", client);
    j["user"] = user;
    j["direction"] = direction;
    j["path"] = path;
    j["bytes"] = bytes;
    j["seconds"] = static_cast<double>(static_cast<long long>(seconds * 1000 + 0.5)) / 1000;
    j["result"] = result;
    write(json_line(j));
}

void AccessLog::disconnect(const Address& client, std::string_view user) {
    if (!enabled()) return;
    Json j = event("disconnect", client);
    j["user"] = user;
    write(json_line(j));
}

}  // namespace iom::ftp
