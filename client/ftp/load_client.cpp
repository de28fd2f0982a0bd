// One client of ioclient ftp load: the order of its commands, and why a
// transfer ends on two events, are in load_client.hpp.
#include "client/ftp/load_client.hpp"

#include "client/lib/connection.hpp"
#include "common/error.hpp"

#include <fmt/format.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstring>

namespace iom::client::ftp {

namespace {

using Clock = LoadClock;

std::uint64_t mix(std::uint64_t x) {  // splitmix64's finaliser
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

}  // namespace

std::vector<Task> round_of(const LoadPlan& plan, unsigned index) {
    std::vector<Task> round;
    if (!plan.file.empty()) round.push_back(Task::get);
    if (plan.put) round.insert(round.end(), {Task::put, Task::read_back, Task::dele});
    if (index % 2 == 1 && !plan.file.empty() && plan.put) std::rotate(round.begin(), round.begin() + 1, round.end());
    return round;
}

const char* phase_name(Phase phase) {
    constexpr const char* names[] = {"login", "get", "put", "check", "done", "FAILED"};
    return names[static_cast<int>(phase)];
}

LoadClient::LoadClient(const LoadPlan& plan, std::vector<Task> round, unsigned index, int epoll_fd,
                       LoadBuffers& buffers, LiveProgress& live)
    : plan_(plan), index_(index), ep_(epoll_fd), buffers_(buffers), live_(live), epsv_(plan.client.epsv),
      tasks_(std::move(round)) {
    result.id = index + 1;
    upload_path_ = fmt::format("{}ioclient-load-{}-{}.bin", plan.upload_dir, getpid(), result.id);
}

void LoadClient::start() {
    started_ = Clock::now();
    last_progress_ = started_;
    try {
        ctl_ = Stream(start_connect(plan_.server));
        watch(ctl_, false, EPOLLOUT, EPOLL_CTL_ADD);
    } catch (const std::exception& e) {
        fail(e.what());
    }
}

void LoadClient::on_event(bool data, std::uint32_t events) {
    if (over_) return;
    try {
        if (data) on_data(events);
        else on_control(events);
    } catch (const std::exception& e) {
        fail(e.what());
    }
}

void LoadClient::check_stall(LoadClock::time_point now) {
    if (!over_ && now - last_progress_ > plan_.client.timeout)
        fail(fmt::format("nothing from the server for {} ms (waiting in {})", plan_.client.timeout.count(),
                         kStateNames[static_cast<int>(state_)]));
}

void LoadClient::watch(const Stream& s, bool data, std::uint32_t events, int how) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = std::uint64_t{index_} << 1 | (data ? 1 : 0);
    check_sys(epoll_ctl(ep_, how, s.fd(), &ev), "epoll_ctl");
    if (data) data_watch_ = events;
}

void LoadClient::watch_for(const Stream& s, bool data, const Io& io) {
    watch(s, data, io.status == Io::want_write ? EPOLLOUT : EPOLLIN, EPOLL_CTL_MOD);
}

// --- the control connection -------------------------------------------

void LoadClient::on_control(std::uint32_t events) {
    if (state_ == State::connecting) {
        if (int err = connect_result(ctl_.fd())) throw_errno(err, "connect " + plan_.server.to_string());
        state_ = State::greeting;
        watch(ctl_, false, EPOLLIN, EPOLL_CTL_MOD);
        return;
    }
    if (state_ == State::handshake) {
        Io io = ctl_.handshake_step("the control connection");
        if (io.status != Io::done) return watch_for(ctl_, false, io);
        last_progress_ = Clock::now();
        send("USER " + plan_.url.user);  // the login, inside TLS
        state_ = State::user;
        return;
    }
    // A TLS write may have waited for the socket to turn readable.
    if ((events & EPOLLOUT) || (ctl_.tls() && !out_.empty())) flush();
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !ctl_.pending()) return;
    char buf[4096];
    for (;;) {
        Io io = ctl_.read_step(buf, sizeof buf, "the control connection");
        if (io.status == Io::want_write) watch(ctl_, false, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
        if (io.status == Io::want_read || io.status == Io::want_write) break;
        if (io.status == Io::eof) {
            if (state_ == State::quit) return finish();
            throw std::runtime_error("the server closed the control connection");
        }
        parser_.feed(std::string_view(buf, io.n));
    }
    while (!over_) {
        auto reply = parser_.next();
        if (!reply) break;
        last_progress_ = Clock::now();
        on_reply(*reply);
    }
}

void LoadClient::send(const std::string& line) {
    last_command_ = line;
    out_ += line + "\r\n";
    flush();
}

// Commands are a few bytes: they nearly always go at once. What does not
// waits for EPOLLOUT.
void LoadClient::flush() {
    while (!out_.empty()) {
        Io io = ctl_.write_step(out_.data(), out_.size(), "the control connection");
        if (io.status != Io::done) break;
        out_.erase(0, io.n);
    }
    watch(ctl_, false, out_.empty() ? EPOLLIN : EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
}

void LoadClient::refused(const Reply& r) { throw std::runtime_error(last_command_ + ": " + r.last_line()); }

void LoadClient::on_reply(const Reply& r) {
    switch (state_) {
    case State::greeting:
        if (r.code == 120) return;  // "ready in a few minutes": another reply follows
        if (r.kind() != 2) refused(r);
        if (plan_.client.tls) {
            send("AUTH TLS");
            state_ = State::auth;
            return;
        }
        send("USER " + plan_.url.user);
        state_ = State::user;
        return;
    case State::auth:
        if (r.code != 234) refused(r);  // --tls: never on in clear
        ctl_.start_tls(*plan_.client.tls, plan_.url.host, nullptr);
        state_ = State::handshake;
        return on_control(0);
    case State::handshake:
        refused(r);  // no reply comes during the handshake
    case State::user:
        if (r.kind() == 3) {
            send("PASS " + plan_.url.password);
            state_ = State::pass;
            return;
        }
        [[fallthrough]];  // 230: no password needed
    case State::pass:
        if (r.kind() != 2) refused(r);
        if (ctl_.tls()) {
            send("PBSZ 0");
            state_ = State::pbsz;
            return;
        }
        send("TYPE I");
        state_ = State::type;
        return;
    case State::pbsz:
        if (r.kind() != 2) refused(r);
        send("PROT P");
        state_ = State::prot;
        return;
    case State::prot:
        if (r.kind() != 2) refused(r);
        send("TYPE I");
        state_ = State::type;
        return;
    case State::type:
        if (r.kind() != 2) refused(r);
        return next_task();
    case State::passive:
        if (epsv_ && (r.code == 500 || r.code == 502)) {  // no EPSV here: PASV from now on
            epsv_ = false;
            send("PASV");
            return;
        }
        if (auto port = passive_port(r)) {
            data_ = Stream(start_connect(with_port(plan_.server, *port)));
            data_tls_ = DataTls::none;
            watch(data_, true, EPOLLOUT, EPOLL_CTL_ADD);
            state_ = State::data_connecting;
            return;
        }
        refused(r);
    case State::transfer:
        if (r.kind() == 1) {  // 150: the server is at the data connection; an upload may start
            if (data_ && ctl_.tls()) {
                // PROT P: the TLS handshake, resuming the control connection's session.
                data_.start_tls(*plan_.client.tls, plan_.url.host, ctl_.session().get());
                data_tls_ = DataTls::handshake;
                watch(data_, true, EPOLLOUT, EPOLL_CTL_ADD);
                return data_tls_step();
            }
            if (task_ == Task::put && data_) watch(data_, true, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
            return;
        }
        if (r.kind() != 2) refused(r);
        final_reply_ = true;
        return transfer_over();
    case State::dele:
        if (r.kind() != 2) refused(r);
        return next_task();
    case State::quit:
        return finish();
    case State::connecting:
    case State::data_connecting:
        refused(r);  // nothing was asked
    }
}

// The next task of the round; after the round, another until the
// deadline, then QUIT.
void LoadClient::next_task() {
    if (next_ == tasks_.size()) {
        if (Clock::now() >= plan_.deadline) {
            result.seconds = std::chrono::duration<double>(Clock::now() - started_).count();
            send("QUIT");
            state_ = State::quit;
            return;
        }
        next_ = 0;
        ++round_;
    }
    task_ = tasks_[next_++];
    if (task_ == Task::dele) {
        send("DELE " + upload_path_);
        state_ = State::dele;
        return;
    }
    moved_ = 0;
    first_wrong_ = UINT64_MAX;
    data_over_ = final_reply_ = false;
    if (task_ != Task::get)  // the upload and its read-back: the same bytes
        seed_ = mix(static_cast<std::uint64_t>(getpid()) << 40 ^ std::uint64_t{index_} << 20 ^ round_);
    live_.phase = task_ == Task::get ? Phase::get : task_ == Task::put ? Phase::put : Phase::read_back;
    live_.op_total = task_ == Task::get ? plan_.file_size : plan_.put;
    live_.op_done = 0;
    send(epsv_ ? "EPSV" : "PASV");
    state_ = State::passive;
}

// --- the data connection ----------------------------------------------

void LoadClient::on_data(std::uint32_t events) {
    if (!data_) return;
    last_progress_ = Clock::now();
    if (state_ == State::data_connecting) {
        if (int err = connect_result(data_.fd())) throw_errno(err, "connect the data connection");
        state_ = State::transfer;
        send((task_ == Task::put ? "STOR " : "RETR ") + (task_ == Task::get ? plan_.file : upload_path_));
        // A download reads at once; an upload waits for the 150 (on_reply).
        // Under TLS nothing is read before the 150 and the handshake: out
        // of the set until then.
        if (ctl_.tls()) check_sys(epoll_ctl(ep_, EPOLL_CTL_DEL, data_.fd(), nullptr), "epoll_ctl");
        else watch(data_, true, EPOLLIN, EPOLL_CTL_MOD);
        return;
    }
    if (data_tls_ != DataTls::none) return data_tls_step();
    if (task_ == Task::put && (events & EPOLLOUT)) return send_upload();
    // A download's bytes, or, during an upload, the server ending the
    // data connection early (its reply will say why). Under TLS, up to
    // OpenSSL's WANT_READ: what it holds raises no event.
    for (;;) {
        Io io = data_.read_step(buffers_.in.data(), buffers_.in.size(), "the data connection");
        if (io.status == Io::want_read) {
            // Under TLS a read or a write may have waited the other way: back to the transfer's own wait.
            std::uint32_t own = task_ == Task::put ? EPOLLIN | EPOLLOUT : EPOLLIN;
            if (data_.tls() && data_watch_ != own) watch(data_, true, own, EPOLL_CTL_MOD);
            return;
        }
        if (io.status == Io::want_write) return watch_for(data_, true, io);
        if (io.status == Io::eof) return end_of_data();
        received(std::string_view(buffers_.in.data(), io.n));
    }
}

// A TLS data connection's handshake, or its close_notify at an upload's end.
void LoadClient::data_tls_step() {
    if (data_tls_ == DataTls::closing) {
        Io io = data_.shutdown_step("the data connection");
        if (io.status == Io::eof) return end_of_data();
        return watch_for(data_, true, io);
    }
    Io io = data_.handshake_step("the data connection");
    if (io.status != Io::done) return watch_for(data_, true, io);
    data_tls_ = DataTls::none;
    if (task_ == Task::put) {
        watch(data_, true, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
        return send_upload();
    }
    watch(data_, true, EPOLLIN, EPOLL_CTL_MOD);
    on_data(EPOLLIN);  // bytes may have come with the handshake's last flight
}

void LoadClient::end_of_data() {
    data_.reset();  // closing it also takes it out of the epoll set
    data_tls_ = DataTls::none;
    data_over_ = true;
    transfer_over();
}

void LoadClient::received(std::string_view bytes) {
    if (task_ == Task::get) {
        hash_.update(bytes);  // XXH3-128: memory speed (client/ftp/digest.hpp says why not SHA-256)
    } else if (task_ == Task::read_back) {
        fill_upload_bytes(buffers_.expected.data(), bytes.size(), seed_, moved_);
        if (first_wrong_ == UINT64_MAX && std::memcmp(buffers_.expected.data(), bytes.data(), bytes.size()) != 0)
            first_wrong_ = moved_;
    }
    count(bytes.size());
}

void LoadClient::count(std::size_t n) {
    moved_ += n;
    live_.op_done += n;
    live_.bytes += n;
    result.bytes += n;
}

// Upload bytes are made a block at a time, as the socket takes them,
// from their offset: what a send leaves is made again for the next, so
// a client keeps no buffer of its own.
void LoadClient::send_upload() {
    for (;;) {
        if (moved_ == plan_.put) {
            // The end of the file is the end of the data connection; under
            // TLS, after close_notify and the server's answer to it.
            if (!data_.tls()) return end_of_data();
            data_tls_ = DataTls::closing;
            return data_tls_step();
        }
        auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buffers_.in.size(), plan_.put - moved_));
        // Under TLS a write that waited must be retried with the same bytes: they are made again alike.
        fill_upload_bytes(buffers_.in.data(), n, seed_, moved_);
        Io io = data_.write_step(buffers_.in.data(), n, upload_path_.c_str());
        if (io.status == Io::want_write) return;
        if (io.status == Io::want_read) return watch(data_, true, EPOLLIN, EPOLL_CTL_MOD);
        if (io.status == Io::eof) throw std::runtime_error("the server closed the data connection of " + upload_path_);
        count(io.n);
    }
}

// Both ends of a transfer seen: check its bytes, and go on.
void LoadClient::transfer_over() {
    if (!data_over_ || !final_reply_) return;
    if (task_ == Task::get) {
        std::string xxh = hash_.hex();
        if (moved_ != plan_.file_size)
            note_failure(fmt::format("get {}: {} bytes, expected {}", plan_.file, moved_, plan_.file_size));
        else if (xxh != plan_.xxh128)
            note_failure(fmt::format("get {}: other bytes than the reference copy (XXH3-128 {}, expected {})",
                                     plan_.file, xxh, plan_.xxh128));
        else
            ++result.downloads;
    } else if (task_ == Task::put) {
        if (moved_ != plan_.put)
            note_failure(fmt::format("put {}: {} bytes sent of {}", upload_path_, moved_, plan_.put));
    } else if (moved_ != plan_.put) {
        note_failure(fmt::format("put {}: {} bytes read back, {} sent", upload_path_, moved_, plan_.put));
    } else if (first_wrong_ != UINT64_MAX) {
        note_failure(fmt::format("put {}: the bytes read back differ from those sent, from the block at {}",
                                 upload_path_, first_wrong_));
    } else {
        ++result.uploads;
    }
    next_task();
}

// --- the end ----------------------------------------------------------

void LoadClient::note_failure(const std::string& why) {
    ++result.failures;
    if (result.error.empty()) result.error = why;
}

void LoadClient::fail(const std::string& why) {
    note_failure(why);
    if (result.seconds == 0) result.seconds = std::chrono::duration<double>(Clock::now() - started_).count();
    finish();
}

void LoadClient::finish() {
    data_.reset();
    ctl_.reset();
    over_ = true;
    live_.phase = result.failures ? Phase::failed : Phase::done;
}

// ---- the upload bytes ---------------------------------------------------

void fill_upload_bytes(char* buf, std::size_t n, std::uint64_t seed, std::uint64_t offset) {
    // Byte k of word w is bits 8k..8k+7 of mix(seed + w): the words whole
    // are copied as they are (on this little-endian machine the same
    // bytes), the ends byte by byte.
    static_assert(std::endian::native == std::endian::little);
    std::size_t i = 0;
    auto one_byte = [&] {
        buf[i] = static_cast<char>(mix(seed + (offset + i) / 8) >> (8 * ((offset + i) % 8)));
        ++i;
    };
    while (i < n && (offset + i) % 8 != 0) one_byte();
    for (; i + 8 <= n; i += 8) {
        std::uint64_t word = mix(seed + (offset + i) / 8);
        std::memcpy(buf + i, &word, 8);
    }
    while (i < n) one_byte();
}

}  // namespace iom::client::ftp
