// SIGINT/SIGTERM -> a clean stop, without a race.
//
// A signal can arrive at any moment, including just *before* a server enters
// a blocking call, where a flag alone would be seen too late. So the handler
// also makes every wait return:
//   - event loops add stop_fd() (an eventfd the handler writes: the
//     "self-pipe trick") to what they wait on;
//   - blocking models register their sockets with watch_for_stop(); the
//     handler shuts them down, so a blocked accept fails and a blocked recv
//     returns 0, and the server finds stop_requested() true.
// SIGPIPE is ignored: a peer that vanished must never kill the server (send
// then fails with EPIPE and only that connection is closed).
#pragma once

namespace iom {

// Install the SIGINT/SIGTERM handler (without SA_RESTART: interrupted calls
// return EINTR) and ignore SIGPIPE. Call once, before serving.
void install_stop_handlers();

bool stop_requested() noexcept;

// Ask for a stop from inside the program (what the handler does).
void request_stop() noexcept;

// An eventfd that becomes readable (and stays so) once a stop is requested.
int stop_fd();

// Blocking models: shut `fd` down when a stop is requested. Unwatch before
// closing it. Async-signal-safe and thread-safe.
void watch_for_stop(int fd) noexcept;
void unwatch_for_stop(int fd) noexcept;

}  // namespace iom
