// Directory listings as text: pure functions from entries to the bytes of
// LIST, NLST, MLSD and MLST. No directory is read here (fs.hpp reads them).
//
//   LIST  `ls -l` lines, the format curl, lftp, ftplib and GUI clients parse:
//         "-rw-r--r--   1 ftp      ftp          1234 Jan 02 15:04 name"
//         (the year instead of the time for files older than 6 months).
//   NLST  names only, one a line.
//   MLSD/MLST  RFC 3659 facts: "type=file;size=1234;modify=20260102150405;
//         perm=adfrw;unique=803g1a2b; name" — machine-readable, times in UTC,
//         which is why lftp prefers it when FEAT lists MLST.
// Every line ends in CRLF: listings are sent in ASCII form whatever TYPE says.
// Times are UTC throughout (LIST too): the server's time zone is no business
// of the client's, and tests must not depend on it.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <vector>

namespace iom::ftp {

enum class EntryType { file, dir, link, other };  // link: a symlink that does not resolve inside the root

struct Entry {
    std::string name;
    EntryType type = EntryType::file;
    std::uint64_t size = 0;
    std::int64_t mtime = 0;  // seconds since the epoch
    std::uint32_t mode = 0;  // permission bits (07777)
    std::uint64_t nlink = 1;
    std::uint64_t dev = 0;
    std::uint64_t ino = 0;
};

// Which MLSx facts to send (OPTS MLST chooses; all by default).
enum Fact : unsigned { fact_type = 1, fact_size = 2, fact_modify = 4, fact_perm = 8, fact_unique = 16 };
constexpr unsigned all_facts = 31;

// "type*;size*;modify*;perm*;unique*;" for FEAT: a star marks a fact in `facts`.
std::string fact_list(unsigned facts);
// Parse OPTS MLST's argument ("type;size;"): the facts named (unknown names ignored).
unsigned parse_fact_list(const std::string& arg);

std::string list_line(const Entry& e, std::time_t now);  // one LIST line, CRLF included
std::string format_list(const std::vector<Entry>& entries, std::time_t now);
std::string format_nlst(const std::vector<Entry>& entries);
// One MLSx line without its end: "fact=value;...; name". `writable` says
// whether this session may change things (anonymous sessions may not).
// `cdir` marks the listed directory itself (MLSD's "type=cdir" line).
std::string mlsx_line(const Entry& e, unsigned facts, bool writable, bool cdir = false);
// MLSD: a "type=cdir" line for `dir` itself, then every entry. CRLF line ends.
std::string format_mlsd(const Entry& dir, const std::vector<Entry>& entries, unsigned facts, bool writable);

// "YYYYMMDDHHMMSS" in UTC (MDTM's and MLSx's modify=).
std::string ftp_time(std::int64_t t);

}  // namespace iom::ftp
