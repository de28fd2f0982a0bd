// The session's file half: paths, the commands that touch the filesystem,
// listings and transfers. Each command is followed by its continuation: the
// member it names when it starts an operation, which the matching complete()
// (session.cpp) runs when the server reports the result. The decisions (temp
// file, APPE in place, SIZE in TYPE A) are explained in session.hpp and
// ftp/README.md.
#include "ftp/session.hpp"

#include "ftp/path.hpp"

#include <fcntl.h>
#include <stdio.h>  // RENAME_NOREPLACE
#include <fmt/format.h>

#include <time.h>  // strptime, timegm

#include <atomic>
#include <random>
#include <system_error>

namespace iom::ftp {

namespace {

constexpr std::string_view temp_prefix = ".in.";
constexpr unsigned temp_attempts = 8;

std::string error_text(int err) { return std::generic_category().message(err) + "."; }

// A suffix no client can predict, for the temporary file's name. O_EXCL
// makes a collision harmless (EEXIST: the session tries another).
std::string temp_suffix() {
    static std::atomic<std::uint64_t> counter{std::random_device{}() * 0x9E3779B97F4A7C15ULL};
    std::uint64_t x = counter.fetch_add(0x9E3779B97F4A7C15ULL) * 0xBF58476D1CE4E5B9ULL;
    return fmt::format("{:012x}", x >> 16);
}

// LIST and NLST of a file list that file alone.
std::vector<Entry> listed_entries(FsResult& r) {
    if (r.stat.type != EntryType::dir) return {r.stat};
    return std::move(r.entries);
}

}  // namespace

std::string Session::path_of(const std::string& arg) const { return join_path(cwd_, arg); }

bool Session::refuse_read_only(int code) {
    if (!anonymous_) return false;
    reply(code, "Permission denied: anonymous access is read-only.");
    return true;
}

bool Session::need_data_connection() {
    if (refuse_clear_data()) return false;
    if (data_mode_ != DataMode::none) return true;
    reply(425, "Use PASV, EPSV, PORT or EPRT first.");
    return false;
}

// A continuation's first line: the operation failed, say why with `code`.
bool Session::fs_failed(const FsResult& r, int code) {
    if (!r.error) return false;
    reply(code, error_text(r.error));
    return true;
}

// ---- commands on one path --------------------------------------------------------

void Session::cmd_cwd(const std::string& arg) {
    step_path_ = path_of(arg);
    request_fs(&Session::cwd_done, {.op = FsOp::stat, .dirfd = home_.get(), .path = step_path_});
}

void Session::cwd_done(FsResult& r) {
    if (fs_failed(r, 550)) return;
    if (r.stat.type != EntryType::dir) return reply(550, "Not a directory.");
    cwd_ = step_path_;
    reply(250, "Directory changed to " + cwd_);
}

void Session::cmd_cdup(const std::string&) { cmd_cwd(".."); }

void Session::cmd_size(const std::string& arg) {
    if (ascii_) return reply(550, "SIZE not allowed in ASCII mode: the size would depend on the line ends; send TYPE I.");
    step_path_ = path_of(arg);
    request_fs(&Session::size_done, {.op = FsOp::stat, .dirfd = home_.get(), .path = step_path_});
}

void Session::size_done(FsResult& r) {
    if (fs_failed(r, 550)) return;
    if (r.stat.type != EntryType::file) return reply(550, "Not a regular file.");
    reply(213, std::to_string(r.stat.size));
}

void Session::cmd_mdtm(const std::string& arg) {
    step_path_ = path_of(arg);
    request_fs(&Session::mdtm_done, {.op = FsOp::stat, .dirfd = home_.get(), .path = step_path_});
}

void Session::mdtm_done(FsResult& r) {
    if (fs_failed(r, 550)) return;
    if (r.stat.type != EntryType::file) return reply(550, "Not a regular file.");
    reply(213, ftp_time(r.stat.mtime));
}

// MFMT YYYYMMDDHHMMSS path (draft-somers-ftp-mfxx): set a file's time, as
// `lftp mirror -R` and FileZilla send after an upload. The time is UTC.
void Session::cmd_mfmt(const std::string& arg) {
    if (refuse_read_only(550)) return;
    auto space = arg.find(' ');
    std::tm tm{};
    const std::string stamp = arg.substr(0, space);
    const char* end = space == std::string::npos || stamp.size() < 14 ? nullptr : strptime(stamp.c_str(), "%Y%m%d%H%M%S", &tm);
    if (!end || (*end && *end != '.')) return reply(501, "MFMT needs YYYYMMDDHHMMSS and a path.");
    mfmt_time_ = timegm(&tm);
    name_op(&Session::mfmt_done, FsOp::set_mtime, arg.substr(space + 1));
    if (wait_ == Wait::fs) std::get<FsRequest>(requests_.back()).mtime = mfmt_time_;
}

void Session::mfmt_done(FsResult& r) {
    if (!fs_failed(r, 550)) reply(213, fmt::format("Modify={}; {}", ftp_time(mfmt_time_), step_path_));
}

void Session::cmd_mlst(const std::string& arg) {
    step_path_ = path_of(arg);
    request_fs(&Session::mlst_done, {.op = FsOp::stat, .dirfd = home_.get(), .path = step_path_});
}

void Session::mlst_done(FsResult& r) {
    if (fs_failed(r, 550)) return;
    Entry e = r.stat;
    e.name = step_path_;
    reply_multi(out_, 250, "Listing " + step_path_, {mlsx_line(e, facts_, !anonymous_)}, "End");
}

// ---- commands on one name in a directory -----------------------------------------

void Session::name_op(FsThen then, FsOp op, const std::string& arg) {
    step_path_ = path_of(arg);
    auto [parent, name] = split_path(step_path_);
    if (name.empty()) return reply(550, "Not allowed on the root directory.");
    if (name.starts_with(temp_prefix) && (op == FsOp::mkdir || op == FsOp::rename))
        return reply(553, "Names starting with .in. are reserved for uploads in progress.");
    FsRequest req{.op = op, .dirfd = home_.get(), .path = parent, .name = name, .mode = 0755};
    if (op == FsOp::rename) {  // RNTO: from rename_from_ to this path
        auto [from_parent, from_name] = split_path(rename_from_);
        req.path2 = std::move(req.path);
        req.name2 = std::move(req.name);
        req.path = from_parent;
        req.name = from_name;
    }
    request_fs(then, std::move(req));
}

void Session::cmd_mkd(const std::string& arg) {
    if (!refuse_read_only(550)) name_op(&Session::mkd_done, FsOp::mkdir, arg);
}
void Session::mkd_done(FsResult& r) {
    if (!fs_failed(r, 550)) reply(257, quote_path(step_path_) + " created.");
}

void Session::cmd_rmd(const std::string& arg) {
    if (!refuse_read_only(550)) name_op(&Session::rmd_done, FsOp::rmdir, arg);
}
void Session::rmd_done(FsResult& r) {
    if (!fs_failed(r, 550)) reply(250, "Directory removed.");
}

void Session::cmd_dele(const std::string& arg) {
    if (!refuse_read_only(550)) name_op(&Session::dele_done, FsOp::unlink, arg);
}
void Session::dele_done(FsResult& r) {
    if (!fs_failed(r, 550)) reply(250, "File deleted.");
}

void Session::cmd_rnfr(const std::string& arg) {
    if (refuse_read_only(550)) return;
    step_path_ = path_of(arg);
    if (step_path_ == "/") return reply(550, "Not allowed on the root directory.");
    request_fs(&Session::rnfr_done, {.op = FsOp::stat, .dirfd = home_.get(), .path = step_path_});
}

void Session::rnfr_done(FsResult& r) {
    if (fs_failed(r, 550)) return;
    rename_from_ = step_path_;
    reply(350, "Ready for RNTO.");
}

void Session::cmd_rnto(const std::string& arg) {
    if (refuse_read_only(553)) return;
    if (rename_from_.empty()) return reply(503, "Send RNFR first.");
    name_op(&Session::rnto_done, FsOp::rename, arg);
}
void Session::rnto_done(FsResult& r) {
    if (!fs_failed(r, 550)) reply(250, "Renamed.");
}

// ---- download ----------------------------------------------------------------------

void Session::cmd_retr(const std::string& arg) {
    offset_ = std::exchange(rest_, 0);
    if (!need_data_connection()) return;
    step_path_ = path_of(arg);
    request_fs(&Session::retr_opened, {.op = FsOp::open, .dirfd = home_.get(), .path = step_path_,
                                       .flags = O_RDONLY | O_NONBLOCK | O_NOCTTY});  // O_NONBLOCK: a FIFO must not hang the open
}

void Session::retr_opened(FsResult& r) {
    const Entry& st = r.stat;
    if (fs_failed(r, 550)) return;
    if (st.type != EntryType::file) return reply(550, "Not a regular file.");
    if (offset_ > st.size) return reply(554, "Invalid REST parameter: past the end of the file.");
    TransferRequest t{.direction = Direction::send, .file = std::move(r.fd), .offset = offset_, .file_size = st.size,
                      .ascii = ascii_};
    start_transfer(std::move(t),
                   fmt::format("Opening {} mode data connection for {} ({} bytes).", ascii_ ? "ASCII" : "BINARY",
                               split_path(step_path_).name, st.size),
                   &Session::transfer_done);
}

// ---- uploads -----------------------------------------------------------------------
// STOR: into a new temporary, put in place when the data connection ends;
// REST+STOR and APPE: into the file itself.

void Session::cmd_stor(const std::string& arg) {
    offset_ = std::exchange(rest_, 0);
    if (refuse_read_only(553) || !need_data_connection()) return;
    step_path_ = path_of(arg);
    auto [parent, name] = split_path(step_path_);
    if (name.empty() || name.starts_with(temp_prefix)) return reply(553, "File name not allowed.");
    if (offset_ > 0) {  // resume: write in place from the offset (README: why not a temporary)
        return request_fs(&Session::stor_resume_opened, {.op = FsOp::open, .dirfd = home_.get(), .path = step_path_,
                                                         .flags = O_WRONLY | O_NONBLOCK | O_NOCTTY});
    }
    parent_path_ = parent;
    target_name_ = name;
    temp_tries_ = 0;
    create_temp();
}

void Session::create_temp() {
    // ".in.NAME.XXXXXXXXXXXX", NAME cut so that the whole stays within NAME_MAX (255).
    temp_name_ = fmt::format("{}{}.{}", temp_prefix, target_name_.substr(0, 200), temp_suffix());
    request_fs(&Session::temp_created,
               {.op = FsOp::create, .dirfd = home_.get(), .path = parent_path_, .name = temp_name_,
                .flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK, .mode = 0644});
}

void Session::temp_created(FsResult& r) {
    if (r.error == EEXIST && ++temp_tries_ < temp_attempts) return create_temp();  // the name is taken: another
    if (r.error) {
        temp_name_.clear();
        return reply(553, error_text(r.error));
    }
    upload_dir_ = std::move(r.dir);
    start_upload(r, 0, &Session::temp_received);
}

// STOR's transfer ended. Finished: rename the temporary over the target.
// Cut short (ABOR, a lost data or control connection, a stall): rename it
// only if no file has the name (RENAME_NOREPLACE, atomic: no check-then-act),
// so that an interrupted new upload is there for SIZE and a resume; over an
// existing file, remove it and keep the old one whole. On ENOSPC, the size
// limit, a file error or no data connection: remove it.
void Session::temp_received(const TransferResult& r) {
    result_ = r;
    bool cut_short = r.status == TransferStatus::aborted || r.status == TransferStatus::connection_lost ||
                     r.status == TransferStatus::stalled;
    bool keep = r.status == TransferStatus::done || cut_short;
    FsRequest req{.op = keep ? FsOp::rename : FsOp::unlink, .dirfd = upload_dir_.get(), .name = temp_name_};
    if (keep) req.name2 = target_name_;
    if (cut_short) req.rename_flags = RENAME_NOREPLACE;
    request_fs(keep ? &Session::temp_renamed : &Session::temp_gone, std::move(req));
}

void Session::temp_renamed(FsResult& r) {
    if (r.error == EEXIST && result_.status != TransferStatus::done) {  // cut short over a file: the old one stays
        return request_fs(&Session::temp_gone, {.op = FsOp::unlink, .dirfd = upload_dir_.get(), .name = temp_name_});
    }
    if (r.error) {  // the rename failed: remove the temporary, answer 451
        result_ = {.status = TransferStatus::file_error, .bytes = result_.bytes, .error = r.error};
        return request_fs(&Session::temp_gone, {.op = FsOp::unlink, .dirfd = upload_dir_.get(), .name = temp_name_});
    }
    temp_gone(r);
}

// The temporary is in place or removed: the transfer's reply, at last.
void Session::temp_gone(FsResult&) {
    temp_name_.clear();
    upload_dir_.reset();
    transfer_reply(result_);
    transfer_finished();
}

void Session::stor_resume_opened(FsResult& r) {
    if (fs_failed(r, 550)) return;
    if (r.stat.type != EntryType::file) return reply(553, "Not a regular file.");
    if (offset_ > r.stat.size) return reply(554, "Invalid REST parameter: past the end of the file.");
    start_upload(r, offset_, &Session::transfer_done);
}

void Session::cmd_appe(const std::string& arg) {
    rest_ = 0;  // APPE writes at the end, whatever REST said
    if (refuse_read_only(553) || !need_data_connection()) return;
    step_path_ = path_of(arg);
    auto name = split_path(step_path_).name;
    if (name.empty() || name.starts_with(temp_prefix)) return reply(553, "File name not allowed.");
    request_fs(&Session::appe_opened, {.op = FsOp::open, .dirfd = home_.get(), .path = step_path_,
                                       .flags = O_WRONLY | O_CREAT | O_APPEND | O_NONBLOCK | O_NOCTTY, .mode = 0644});
}

void Session::appe_opened(FsResult& r) {
    if (fs_failed(r, 553)) return;
    if (r.stat.type != EntryType::file) return reply(553, "Not a regular file.");
    start_upload(r, r.stat.size, &Session::transfer_done);
}

// Every upload, once its file is open: receive into it from `at`, up to the size limit.
void Session::start_upload(FsResult& r, std::uint64_t at, TransferThen then) {
    if (at >= site_.limits.max_upload) return reply(552, "The file is already at the upload size limit.");
    TransferRequest t{.direction = Direction::receive, .file = std::move(r.fd), .offset = at, .ascii = ascii_,
                      .max_bytes = site_.limits.max_upload - at};
    start_transfer(std::move(t), "Ok to send data.", then);
}

// ---- listings ----------------------------------------------------------------------

void Session::listing(FsThen then, const std::string& arg) {
    if (!need_data_connection()) return;
    // "LIST -la dir": options are ignored (clients send ls options; we have one format).
    std::string_view rest = arg;
    while (rest.starts_with('-')) {
        auto space = rest.find(' ');
        rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
    }
    step_path_ = path_of(std::string(rest));
    request_fs(then, {.op = FsOp::list, .dirfd = home_.get(), .path = step_path_});
}

void Session::cmd_list(const std::string& arg) { listing(&Session::list_read, arg); }
void Session::list_read(FsResult& r) {
    if (!fs_failed(r, 550)) send_listing(format_list(listed_entries(r), std::time(nullptr)));
}

void Session::cmd_nlst(const std::string& arg) { listing(&Session::nlst_read, arg); }
void Session::nlst_read(FsResult& r) {
    if (!fs_failed(r, 550)) send_listing(format_nlst(listed_entries(r)));
}

void Session::cmd_mlsd(const std::string& arg) { listing(&Session::mlsd_read, arg); }
void Session::mlsd_read(FsResult& r) {
    if (fs_failed(r, 550)) return;
    if (r.stat.type != EntryType::dir) return reply(501, "Not a directory.");
    send_listing(format_mlsd(r.stat, r.entries, facts_, !anonymous_));
}

void Session::send_listing(std::string data) {
    start_transfer({.direction = Direction::send, .data = std::move(data)}, "Here comes the listing.",
                   &Session::transfer_done);
}

// ---- the transfer ------------------------------------------------------------------

void Session::start_transfer(TransferRequest t, std::string_view preliminary, TransferThen then) {
    transfer_kind_ = t.direction == Direction::receive ? "upload" : t.file ? "download" : "listing";
    transfer_start_ = AccessLog::now();
    transferred_ = 0;
    if (quit_pending_) {  // the control connection is gone: no transfer; drop a fresh temporary
        wait_ = Wait::none;
        if (!temp_name_.empty()) {
            result_ = {.status = TransferStatus::aborted};
            return request_fs(&Session::temp_gone, {.op = FsOp::unlink, .dirfd = upload_dir_.get(), .name = temp_name_});
        }
        return finish_if_quitting();
    }
    t.passive = data_mode_ == DataMode::passive;
    t.peer = t.passive ? peer_ : active_target_;
    t.local = local_without_port();
    t.tls = prot_private_;
    data_mode_ = DataMode::none;  // one transfer per PASV/PORT
    abort_requested_ = false;
    reply(150, preliminary);
    wait_ = Wait::transfer;
    transfer_then_ = then;
    requests_.emplace_back(std::move(t));
    // An ABOR that came while the file was being opened is for this transfer.
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
        if (!it->too_long && it->cmd.verb == "ABOR") {
            queued_bytes_ -= std::min(queued_bytes_, std::size_t{6});
            queue_.erase(it);
            handle_now(Command{"ABOR", {}});
            break;
        }
    }
}

// Every transfer's continuation but STOR's (temp_received): the reply.
void Session::transfer_done(const TransferResult& r) {
    transfer_reply(r);
    transfer_finished();
}

void Session::log_transfer(const TransferResult& r) {
    if (!site_.log) return;
    double seconds = std::chrono::duration<double>(AccessLog::now() - transfer_start_).count();
    site_.log->transfer(peer_, user_, transfer_kind_, step_path_, r.bytes, seconds, name_of(r.status));
}

void Session::transfer_reply(const TransferResult& r) {
    log_transfer(r);
    switch (r.status) {
    case TransferStatus::done: reply(226, "Transfer complete."); break;
    case TransferStatus::aborted: reply(426, "Transfer aborted."); break;
    case TransferStatus::connect_failed: reply(425, "Cannot open the data connection."); break;
    case TransferStatus::connection_lost: reply(426, "Data connection lost; transfer aborted."); break;
    case TransferStatus::stalled: reply(426, "Transfer stalled; aborted."); break;
    case TransferStatus::no_space: reply(452, "No space left on the device."); break;
    case TransferStatus::too_large: reply(552, "Upload size limit exceeded."); break;
    case TransferStatus::file_error: reply(451, "File error: " + error_text(r.error)); break;
    case TransferStatus::tls_failed: reply(425, "TLS on the data connection failed (PROT P: it must be TLS)."); break;
    case TransferStatus::tls_not_resumed:
        reply(522, "TLS connection failed: session reuse required (the data connection must resume "
                   "the control connection's TLS session).");
        break;
    }
    if (abort_requested_)
        r.status == TransferStatus::aborted ? reply(226, "ABOR command successful.") : reply(225, "No transfer to abort.");
}

void Session::transfer_finished() {
    abort_requested_ = false;
    finish_if_quitting();
}

}  // namespace iom::ftp
