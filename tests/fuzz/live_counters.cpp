// Fuzz target live_counters: a server's live-counters file as `ioclient top`
// reads it (common/live_counters: read_live_file; client/top: the rows, the
// table, the JSON). The file is written by another process and may be from
// another build, half-written or damaged: whatever it holds, top must skip it
// or show it, never crash.
//
// THE INPUT: changes to a real file. The harness makes one valid file at
// start (a LiveCounters of this process, so the pid and the program name
// match and the reader goes all the way to the counters), then per input:
//   byte 0   bit 0: cut the file to the length in bytes 1-2 (big-endian)
//            bit 1: make it 4 KiB longer (slots past what the header says)
//   the rest XORed over the file from its first byte (so an input of zeros
//            is the valid file, and the fuzzer flips the header's fields)
// Both readings of top (before and after) read the changed file.
//
// CHECKED: read_live_file returns (a server or nothing) for any bytes: no
// crash, no division by zero, no misaligned or out-of-bounds load; a server
// it returns has every counter, a name and family within their fields; the
// rows, the text table and the JSON are made from it without a throw.
#include "fuzz_input.hpp"

#include "client/top/top.hpp"
#include "common/live_counters.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

namespace iom::fuzz {
namespace {

namespace fsys = std::filesystem;

struct Template {
    fsys::path dir;
    std::unique_ptr<LiveCounters> live;  // keeps the valid file in place while the process lives
    std::string bytes;                   // its contents

    Template() {
        dir = scratch_dir("live");
        fsys::create_directories(dir);
        ::setenv("IOM_LIVE_DIR", dir.c_str(), 1);
        // The reader shows a file only if its pid runs a program of its name: ours.
        std::string comm;
        std::getline(std::ifstream("/proc/self/comm"), comm);
        live = std::make_unique<LiveCounters>(comm, "fuzz", 4);
        live->set_port(2121);
        ++live->counters().recv_calls;
        ++live->acquire().accepts;
        std::ifstream in(live->path(), std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    ~Template() {
        live.reset();
        std::error_code ec;
        fsys::remove_all(dir, ec);
    }
};

void write_file(const std::string& path, const std::string& bytes) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    IOM_FUZZ_CHECK(fd >= 0, "cannot write {}", path);
    IOM_FUZZ_CHECK(::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()), "short write");
    ::close(fd);
}

using iom::client::ProcSample;
using iom::client::TopReading;

std::optional<TopReading> reading(const std::string& path) {
    auto s = read_live_file(path);
    if (!s) return std::nullopt;
    IOM_FUZZ_CHECK(s->name.size() <= 40 && s->family.size() <= 24, "a name or family past its field");
    IOM_FUZZ_CHECK(s->counters.count("recv_calls") && s->counters.count("sendfile_calls"), "a counter is missing");
    ProcSample proc;  // /proc is not what is fuzzed here
    proc.cpu_seconds = 1;
    return TopReading{std::move(*s), proc, std::chrono::steady_clock::time_point{}};
}

}  // namespace
}  // namespace iom::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace iom::fuzz;
    static Template t;
    Input in(data, size);
    std::uint8_t how = in.byte();
    std::uint16_t cut = in.u16();
    std::string bytes = t.bytes;
    if (how & 2) bytes.append(4096, '\0');
    if (how & 1) bytes.resize(std::min<std::size_t>(bytes.size(), cut));
    std::string_view flips = in.rest();
    for (std::size_t i = 0; i < flips.size() && i < bytes.size(); ++i) bytes[i] ^= flips[i];

    const std::string path = (t.dir / "iomodels-fuzzed").string();
    write_file(path, bytes);
    auto before = reading(path);
    auto after = reading(path);  // a second look, as top takes (gone if the first removed it)
    if (before) before->at = std::chrono::steady_clock::time_point{} - std::chrono::seconds(1);
    std::vector<TopReading> b, a;
    if (before) b.push_back(std::move(*before));
    if (after) a.push_back(std::move(*after));
    auto rows = iom::client::rows_between(b, a);
    (void)iom::client::rows_text(rows, 200);
    (void)iom::client::rows_json(rows);
    return 0;
}
