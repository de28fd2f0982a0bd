// Live counters: a server's counters in a small shared-memory file, so that
// another process (`ioclient top`) can read them while the server runs.
//
// The file is DIR/iomodels-NAME-PID, DIR being $IOM_LIVE_DIR, else
// $XDG_RUNTIME_DIR, else /dev/shm (a tmpfs: the "file" is only memory).
// server_main() creates it once the options are parsed and removes it when
// the server exits, a SIGTERM included (the stop handler makes serve()
// return). A server killed outright (SIGKILL) leaves it behind: readers
// ignore, and remove, the file of a process that is gone.
//
//   page 0   LiveHeader: what the server is (name, family, pid, port, start)
//   page 1.. slots, each one Counters, 64-byte aligned (no false sharing)
//
// Nothing is added to the hot path. The server's Counters ARE this memory,
// mapped MAP_SHARED: `++k.recv_calls` is the same plain add to the same kind
// of memory as before; no system call, no lock, no atomic instruction. The
// kernel shares the pages with every process that maps the file. A reader
// maps it read-only and loads each counter with a relaxed atomic load: it may
// see a counter an instant old, never half a counter (an aligned 8-byte store
// is one store on every platform this runs on), and it only needs rates.
//
// A server with several threads or processes gives each connection's thread
// or process a slot of its own (acquire/release): each slot has one writer.
// Slots are never cleared: a released slot keeps its counts and the next
// owner adds to them, so the sum of all slots is the server's total at every
// moment, and nobody merges anything at the end.
#pragma once

#include "common/counters.hpp"

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace iom {

// Where servers publish and readers look: $IOM_LIVE_DIR, $XDG_RUNTIME_DIR or /dev/shm.
std::string live_dir();

class LiveCounters {
public:
    // Create DIR/iomodels-NAME-PID with room for `slots` slots (slot 0 is the
    // main thread's). If the file cannot be made, say so on stderr and count
    // in private memory: the server works the same, unseen by `ioclient top`.
    LiveCounters(std::string_view name, std::string_view family, std::size_t slots);
    ~LiveCounters();  // remove the file (in the process that made it only: not in a forked child)
    LiveCounters(const LiveCounters&) = delete;
    LiveCounters& operator=(const LiveCounters&) = delete;

    Counters& counters() noexcept { return slot(0); }  // the main thread's

    // A slot for one more thread or process that counts on its own, and its
    // return. Thread-safe. Throws std::runtime_error when every slot is taken.
    Counters& acquire();
    void release(Counters& slot) noexcept;

    // Every slot merged (sums and peaks, as Counters::operator+=). Exact once
    // the threads and processes that count in them are gone.
    Counters total();

    // Published once the server listens: `top` shows the port.
    void set_port(std::uint16_t port) noexcept;

    const std::string& path() const noexcept { return path_; }  // empty when counting in private memory

private:
    Counters& slot(std::size_t i) noexcept;

    std::string path_;
    pid_t owner_;
    void* map_ = nullptr;
    std::size_t size_ = 0, capacity_ = 0;
    std::mutex m_;  // guards the two below; never taken on the hot path
    std::size_t used_ = 1;
    std::vector<std::size_t> free_;
};

// One server as a reader sees it.
struct LiveServer {
    std::string path, name, family;
    pid_t pid = 0;
    std::uint16_t port = 0;            // 0: not listening yet
    std::int64_t started_unix_ms = 0;  // when the server started (wall clock)
    bool counting = true;              // false: built with -DIOM_COUNTERS=OFF, every counter 0
    std::map<std::string, std::uint64_t, std::less<>> counters;  // every counter, all slots merged
    // Each slot's own counters, in slot order (empty when not counting): a
    // server that gives each thread a slot for its life shows per-thread
    // figures here (epoll_loops_server: a slot per loop, marked loops=1).
    std::vector<Counters> slots;

    std::uint64_t operator[](std::string_view counter) const;  // 0 if unknown
    // For each loop's slot (loops=1), in slot order: the connections it holds
    // now, that is those accepted or handed to it, less those it closed or refused.
    std::vector<std::uint64_t> loop_connections() const;
};

// The server that published `path`; nullopt if it is not a live-counters
// file of this version, if its process is gone (the file is then removed),
// or if its pid now runs another program (left alone: it may be the same
// server under another executable name).
std::optional<LiveServer> read_live_file(const std::string& path);

// Every server publishing in `dir`, by name then pid.
std::vector<LiveServer> read_live_servers(const std::string& dir = live_dir());

}  // namespace iom
