// Fuzz target ftp_listing: directory listings, the bytes a client parses
// (ftp/listing: LIST's ls -l lines, NLST, MLSD and MLST facts, MDTM's time)
// and OPTS MLST's fact list, the one listing text a client sends.
//
// ioclient itself has no listing parser: `ioclient ftp ls` prints a listing
// as the server sent it. What a client's parser (curl's, lftp's, ftplib's)
// relies on is checked here instead, on listings of entries the fuzzer makes:
// a file name may hold any byte but '/' and NUL, and a time any value a
// filesystem can store.
//
// THE INPUT
//   byte 0   the MLSx facts (& 31), and whether the session may write (& 32)
//   then up to 8 entries, each: type (byte % 4), size (8 bytes), modification
//   time (8 bytes, signed), mode (2 bytes), nlink (8 bytes), name length (byte)
//   and the name
//   what is left: an OPTS MLST argument
//
// CHECKED: LIST, NLST and MLSD make exactly one CRLF-ended line per entry
// (MLSD: and one for the directory), however the names look; a LIST line
// starts with a ten-character mode; an MLSx line has its facts, "; ", then
// the name; parse_fact_list gives only known facts and reads back the list
// OPTS MLST answers with.
#include "fuzz_input.hpp"

#include "ftp/listing.hpp"

#include <string>
#include <vector>

namespace iom::fuzz {
namespace {

using namespace iom::ftp;

std::size_t crlf_lines(const std::string& text, const char* what) {
    std::size_t lines = 0, start = 0;
    while (start < text.size()) {
        auto end = text.find("\r\n", start);
        IOM_FUZZ_CHECK(end != std::string::npos, "{}: a line without CRLF", what);
        std::string_view l(text.data() + start, end - start);
        IOM_FUZZ_CHECK(l.find_first_of("\r\n") == std::string_view::npos, "{}: a CR or LF inside line {}", what, lines);
        ++lines;
        start = end + 2;
    }
    return lines;
}

}  // namespace
}  // namespace iom::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace iom::fuzz;
    using namespace iom::ftp;
    Input in(data, size);
    std::uint8_t flags = in.byte();
    unsigned facts = flags & 31;
    bool writable = flags & 32;
    constexpr std::time_t now = 1767225600;  // 2026-01-01: a fixed clock, so a finding replays

    std::vector<Entry> entries;
    for (int i = 0; i < 8 && in.left() > 4; ++i) {
        Entry e;
        e.type = static_cast<EntryType>(in.byte() % 4);
        e.size = in.u64();
        e.mtime = static_cast<std::int64_t>(in.u64());
        e.mode = in.u16() & 07777;
        e.nlink = in.u64();
        e.name = std::string(in.take(in.byte()));
        entries.push_back(std::move(e));
    }

    std::string list = format_list(entries, now);
    IOM_FUZZ_CHECK(crlf_lines(list, "LIST") == entries.size(), "LIST: not one line per entry");
    for (const auto& e : entries) {
        std::string line = list_line(e, now);
        IOM_FUZZ_CHECK(line.size() > 10 && std::string_view("-dl?").find(line[0]) != std::string_view::npos &&
                           line.find_first_not_of("rwx-", 1) == 10,
                       "a LIST line without its mode: '{}'", line.substr(0, 12));
        std::string fact_line = mlsx_line(e, facts, writable);
        // No fact value holds a space: the first one ends the facts ("type=file;size=5; name").
        std::string head = fact_line.substr(0, fact_line.find(' ') + 1);
        IOM_FUZZ_CHECK(head == " " || head.ends_with("; "), "an MLSx line without '; ' before the name: '{}'", head);
        if (facts & fact_type) IOM_FUZZ_CHECK(fact_line.starts_with("type="), "MLSx facts without type=");
        (void)ftp_time(e.mtime);
    }
    IOM_FUZZ_CHECK(crlf_lines(format_nlst(entries), "NLST") == entries.size(), "NLST: not one line per entry");
    Entry dir{.name = "dir", .type = EntryType::dir};
    IOM_FUZZ_CHECK(crlf_lines(format_mlsd(dir, entries, facts, writable), "MLSD") == entries.size() + 1,
                   "MLSD: not one line per entry");

    std::string opts(in.rest());
    IOM_FUZZ_CHECK((parse_fact_list(opts) & ~31u) == 0, "an unknown fact parsed");
    std::string chosen;  // what OPTS MLST answers with, as session.cpp makes it
    for (auto name : {"type", "size", "modify", "perm", "unique"})
        if (facts & parse_fact_list(name)) chosen += std::string(name) + ";";
    IOM_FUZZ_CHECK(parse_fact_list(chosen) == facts, "'{}' does not read back as facts {}", chosen, facts);
    return 0;
}
