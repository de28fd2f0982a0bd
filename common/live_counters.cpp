#include "common/live_counters.hpp"

#include "common/error.hpp"
#include "common/fd.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <tuple>

namespace iom {

namespace {

constexpr std::array kCounterNames = {
#define IOM_NAME(name, merge, meaning) std::string_view(#name),
    IOM_COUNTERS(IOM_NAME)
#undef IOM_NAME
};
constexpr std::array kCounterIsPeak = {
#define IOM_PEAK(name, merge, meaning) std::string_view(#merge) == "max",
    IOM_COUNTERS(IOM_PEAK)
#undef IOM_PEAK
};
constexpr std::uint32_t kCounterCount = kCounterNames.size();
#ifdef IOM_NO_COUNTERS
constexpr std::uint32_t kCounting = 0;
#else
constexpr std::uint32_t kCounting = 1;
static_assert(sizeof(Counters) == kCounterCount * sizeof(std::uint64_t), "Counters is the counters, in order");
#endif

constexpr std::size_t kPage = 4096;
constexpr std::size_t kStride = (sizeof(Counters) + 63) / 64 * 64;
constexpr char kMagic[8] = {'i', 'o', 'm', 'l', 'i', 'v', 'e', '\n'};
constexpr std::uint32_t kVersion = 1;

// Page 0 of the file. Fixed-size fields only: C++ on both sides, the same build.
struct LiveHeader {
    char magic[8];
    std::uint32_t version;        // stored last, with release: a reader seeing it sees the rest
    std::uint32_t counter_count;  // counters per slot
    std::uint32_t counting;       // 0: built with -DIOM_COUNTERS=OFF (the slots hold nothing)
    std::uint32_t slot_stride;    // bytes from one slot to the next
    std::uint64_t slot_capacity;
    std::uint64_t slots_used;     // slots ever handed out: readers add up [0, slots_used)
    std::int64_t pid;
    std::int64_t started_unix_ms;
    std::uint32_t port;           // 0 until the server listens
    char name[40];
    char family[24];
};
static_assert(sizeof(LiveHeader) <= kPage);

template <typename T>
void publish(T& field, T value) noexcept {  // written while readers may look
    std::atomic_ref<T>(field).store(value, std::memory_order_release);
}
template <typename T>
T load(const T& field) noexcept {
    return std::atomic_ref<T>(const_cast<T&>(field)).load(std::memory_order_acquire);
}

template <std::size_t N>
void copy_text(char (&to)[N], std::string_view from) {  // truncated, NUL-terminated (the file starts zeroed)
    std::memcpy(to, from.data(), std::min(from.size(), N - 1));
}

// Map `size` bytes of `path`, created afresh, shared with every reader.
void* create_mapping(const std::string& path, std::size_t size) {
    Fd fd(open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) throw_sys("open {}", path);
    // Sparse: tmpfs gives a page memory only when it is first written, so
    // unused slots cost nothing.
    if (ftruncate(fd.get(), static_cast<off_t>(size)) != 0) throw_sys("ftruncate {}", path);
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (p == MAP_FAILED) throw_sys("mmap {}", path);
    return p;  // the mapping keeps the file's pages; the descriptor is not needed
}

bool gone(pid_t pid) { return kill(pid, 0) != 0 && errno == ESRCH; }

// Is `pid` running the program named `name`? (A pid may be reused by another program.)
bool runs(pid_t pid, std::string_view name) {
    std::ifstream comm(fmt::format("/proc/{}/comm", pid));
    std::string line;
    return std::getline(comm, line) && name.substr(0, 15) == line;  // the kernel keeps 15 characters
}

}  // namespace

std::string live_dir() {
    for (const char* var : {"IOM_LIVE_DIR", "XDG_RUNTIME_DIR"})
        if (const char* dir = std::getenv(var); dir && *dir) return dir;
    return "/dev/shm";
}

LiveCounters::LiveCounters(std::string_view name, std::string_view family, std::size_t slots)
    : owner_(getpid()), capacity_(std::max<std::size_t>(slots, 1)) {
    size_ = kPage + capacity_ * kStride;
    std::string path = fmt::format("{}/iomodels-{}-{}", live_dir(), name, owner_);
    try {
        map_ = create_mapping(path, size_);
        path_ = path;
    } catch (const std::system_error& e) {
        fmt::print(stderr, "{}: live counters off ({}): ioclient top will not see this server\n", name, e.what());
        map_ = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (map_ == MAP_FAILED) throw_sys("mmap {} counter slots", capacity_);
    }
    auto* h = static_cast<LiveHeader*>(map_);
    std::memcpy(h->magic, kMagic, sizeof(kMagic));
    h->counter_count = kCounterCount;
    h->counting = kCounting;
    h->slot_stride = kStride;
    h->slot_capacity = capacity_;
    h->slots_used = used_;
    h->pid = owner_;
    h->started_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
    copy_text(h->name, name);
    copy_text(h->family, family);
    publish(h->version, kVersion);
}

LiveCounters::~LiveCounters() {
    if (getpid() != owner_) return;  // a forked child ends with _exit, but be sure
    munmap(map_, size_);
    if (!path_.empty()) unlink(path_.c_str());
}

Counters& LiveCounters::slot(std::size_t i) noexcept {
    return *reinterpret_cast<Counters*>(static_cast<char*>(map_) + kPage + i * kStride);
}

Counters& LiveCounters::acquire() {
    std::lock_guard lock(m_);
    if (!free_.empty()) {
        std::size_t i = free_.back();
        free_.pop_back();
        return slot(i);
    }
    if (used_ == capacity_) throw std::runtime_error(fmt::format("all {} counter slots are taken", capacity_));
    publish(static_cast<LiveHeader*>(map_)->slots_used, std::uint64_t{used_ + 1});
    return slot(used_++);
}

void LiveCounters::release(Counters& s) noexcept {
    std::lock_guard lock(m_);
    free_.push_back(static_cast<std::size_t>(reinterpret_cast<char*>(&s) - static_cast<char*>(map_) - kPage) /
                    kStride);
}

Counters LiveCounters::total() {
    std::lock_guard lock(m_);
    Counters t;
    for (std::size_t i = 0; i < used_; ++i) t += slot(i);
    return t;
}

void LiveCounters::set_port(std::uint16_t port) noexcept {
    publish(static_cast<LiveHeader*>(map_)->port, std::uint32_t{port});
}

// --- the reader ------------------------------------------------------------------------------

std::uint64_t LiveServer::operator[](std::string_view counter) const {
    auto it = counters.find(counter);
    return it == counters.end() ? 0 : it->second;
}

std::vector<std::uint64_t> LiveServer::loop_connections() const {
    std::vector<std::uint64_t> out;
    for (const Counters& c : slots) {
        if (c.loops != 1) continue;
        const std::uint64_t in = c.accepts + c.handoffs, gone = c.refused + c.closed + c.resets + c.idle_timeouts;
        out.push_back(in > gone ? in - gone : 0);  // a reader may see an instant's lag between the two
    }
    return out;
}

std::optional<LiveServer> read_live_file(const std::string& path) {
    Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    if (!fd || fstat(fd.get(), &st) != 0 || static_cast<std::size_t>(st.st_size) < kPage) return std::nullopt;
    const auto size = static_cast<std::size_t>(st.st_size);
    void* p = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd.get(), 0);
    if (p == MAP_FAILED) return std::nullopt;
    struct Unmap {
        void* p;
        std::size_t n;
        ~Unmap() { munmap(p, n); }
    } unmap{p, size};
    const auto* h = static_cast<const LiveHeader*>(p);
    // A slot stride no writer makes (0, or not a multiple of a counter's alignment) is a damaged
    // file: skip it, rather than divide by it below or load a counter from a misaligned address.
    if (std::memcmp(h->magic, kMagic, sizeof(kMagic)) != 0 || load(h->version) != kVersion ||
        h->counter_count != kCounterCount || h->slot_stride == 0 || h->slot_stride % alignof(std::uint64_t) != 0 ||
        (h->counting && h->slot_stride < kCounterCount * sizeof(std::uint64_t)))
        return std::nullopt;
    LiveServer s;
    s.path = path;
    s.name.assign(h->name, strnlen(h->name, sizeof(h->name)));
    s.family.assign(h->family, strnlen(h->family, sizeof(h->family)));
    s.pid = static_cast<pid_t>(h->pid);
    if (gone(s.pid)) {  // killed outright: nobody else will remove it
        unlink(path.c_str());
        return std::nullopt;
    }
    if (!runs(s.pid, s.name)) return std::nullopt;  // its pid now another program's: not a server to show
    s.port = static_cast<std::uint16_t>(load(h->port));
    s.started_unix_ms = h->started_unix_ms;
    s.counting = h->counting != 0;
    std::uint64_t slots = std::min<std::uint64_t>(load(h->slots_used), (size - kPage) / h->slot_stride);
    std::array<std::uint64_t, kCounterCount> sum{};
    for (std::uint64_t i = 0; s.counting && i < slots; ++i) {
        const auto* c = reinterpret_cast<const std::uint64_t*>(static_cast<const char*>(p) + kPage + i * h->slot_stride);
        std::array<std::uint64_t, kCounterCount> own{};
        for (std::size_t j = 0; j < kCounterCount; ++j) {
            std::uint64_t v = std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(c[j])).load(std::memory_order_relaxed);
            own[j] = v;
            sum[j] = kCounterIsPeak[j] ? std::max(sum[j], v) : sum[j] + v;
        }
#ifndef IOM_NO_COUNTERS
        std::memcpy(static_cast<void*>(&s.slots.emplace_back()), own.data(), sizeof(Counters));  // the same layout (static_assert above)
#endif
    }
    for (std::size_t j = 0; j < kCounterCount; ++j) s.counters.emplace(kCounterNames[j], sum[j]);
    return s;
}

std::vector<LiveServer> read_live_servers(const std::string& dir) {
    std::vector<LiveServer> out;
    DIR* d = opendir(dir.c_str());
    if (!d) return out;
    while (const dirent* e = readdir(d)) {
        if (std::string_view(e->d_name).starts_with("iomodels-"))
            if (auto s = read_live_file(dir + "/" + e->d_name)) out.push_back(std::move(*s));
    }
    closedir(d);
    std::sort(out.begin(), out.end(), [](const LiveServer& a, const LiveServer& b) {
        return std::tie(a.name, a.pid) < std::tie(b.name, b.pid);
    });
    return out;
}

}  // namespace iom
