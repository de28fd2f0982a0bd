// ioclient ftp load: N sessions at once against one FTP server, each
// logged in on its own control connection, each with its own progress bar
// and a total: the projector demo, and the benchmark's load. Every byte is
// verified.
//
// A session repeats a round until --duration has passed (one round without
// it): download --get FILE, then upload --put SIZE bytes to a file of its
// own, read that file back and delete it. Half the sessions start the round
// with the upload (load_client.hpp, round_of): uploads and downloads run at
// the same moment, as the assignment's "several users at once" means. Under
// --duration the total bar fills by time; Ctrl-C draws the last frame over
// the ^C and ends the line before the load exits by the signal.
//
// Every download is checked against a reference copy of FILE: the local
// copy under --local-root, or else one download made before the sessions
// start. Each download's XXH3-128 must be the reference's (memory speed;
// SHA-256 on every byte made this client the bottleneck: digest.hpp). The
// reference's SHA-256 is reported, and with --expect-sha256 it must match
// or nothing starts. A first download only proves that every session got
// the same bytes as it did (and as many as SIZE says); give --local-root
// or --expect-sha256 to check against the real file. Uploads are pseudo-random bytes, different for each session
// and round, computed from their offset, so the read-back is compared as it
// arrives, without keeping a copy.
//
// One thread and one epoll loop for every session, like ioclient bench:
// each session is a LoadClient (load_client.hpp), a small state machine over
// its non-blocking control and data connections, moved on by each reply and
// each readiness event, so a thousand sessions cost no thread each. Per byte the client only receives
// into one 256 KiB buffer and hashes (XXH3-128) or compares, or makes upload
// bytes (a word at a time) and sends them: so that it is not the
// bottleneck (bench/ftp.sh compares it with curl on every run). The loop's timeout paces the frames of the bars;
// a session that hears nothing for --timeout fails.
// (get and put use the blocking client, Client in client.hpp: one transfer
// needs no loop.)
#pragma once

#include "client/ftp/progress.hpp"
#include "client/ftp/tls_stream.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace iom::client::ftp {

struct LoadOptions {
    std::string url;                // ftp://USER:PASS@HOST:PORT/DIR: where FILE is and the uploads go
    unsigned sessions = 4;
    std::string get;                // FILE to download, relative to the URL's directory (or absolute)
    std::uint64_t put = 0;          // bytes each upload sends; 0: no uploads
    double duration = 0;            // seconds of rounds; 0: one round each
    std::string expect_sha256;      // the SHA-256 of FILE, hex: the reference copy must have it
    std::string local_root;         // the server's root on this machine: FILE is local_root/PATH
    double timeout = 30;            // seconds, for any one wait
    bool pasv = false;
    ProgressMode progress = ProgressMode::automatic;
    TlsOptions tls;                 // every session explicit FTPS, every byte still verified
};

struct SessionResult {
    unsigned id = 0;
    std::uint64_t bytes = 0;        // every byte moved: downloads, uploads, read-backs
    double seconds = 0;             // from its login to its last transfer
    unsigned downloads = 0, uploads = 0;  // verified whole
    unsigned failures = 0;          // transfers that failed or brought wrong bytes
    std::string error;              // the first failure, in one line
};

struct LoadResult {
    std::string url;                // without the password
    unsigned sessions = 0;
    std::string file;               // --get
    std::uint64_t file_size = 0;
    std::string sha256, sha256_source;  // "local copy", "first download", or "given, and the ... has it"
    std::string xxh128;             // what each download's XXH3-128 must be
    std::uint64_t put = 0;
    double seconds = 0;             // wall time of the sessions, all of them
    std::uint64_t bytes = 0;
    unsigned downloads = 0, uploads = 0, failures = 0;
    std::vector<SessionResult> per_session;
    double aggregate_rate() const;  // bytes per second, every session together
    double session_rate_mean() const;
};

// Throws for what stops the load before it starts (a bad URL, no login, no
// such FILE); a failure inside a session is counted in the result.
LoadResult run_load(const LoadOptions& opt);
std::string to_text(const LoadResult& r);
std::string to_json(const LoadResult& r);

}  // namespace iom::client::ftp
