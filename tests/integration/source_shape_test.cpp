// The shape of the server sources, as README.md (The shape of a server file)
// states it, for every server folder, ftp/ and libraries/ included:
//   - a server's *code*, the file minus its leading header comment, fits in
//     250 lines, or its header says why not, in a paragraph of its own that
//     begins "LENGTH." (as uring_server's does);
//   - an FTP server (ftp/) is its model's loop and its handlers: at most 400
//     lines of code (lines neither blank nor a comment, what cloc counts);
//     what is not the lesson lives in ftp/'s other files; its header (the
//     model, where it waits, what the disk does, how to try it) has at most
//     50 lines: figures live in docs, beside the command that made them;
//   - a library server's (libraries/) has under 120 lines of code;
//   - a comment that points at a shared call, "NAME() at FILE:LINE" as
//     nio_server points at its recv(), lands on a line that makes that call,
//     so a reader who follows it finds the call the lesson is about.
// No server runs here: this reads the source tree.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

const fs::path source_dir{IOM_SOURCE_DIR};

const std::vector<std::string> families = {"blocking", "nonblocking", "multiplexing", "async", "libraries", "ftp"};

std::vector<std::string> lines_of(const fs::path& file) {
    std::ifstream in(file);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

// Lines after the leading header comment that are neither blank nor a comment.
std::size_t code_lines(const std::vector<std::string>& lines) {
    std::size_t header = 0, code = 0;
    while (header < lines.size() && lines[header].starts_with("//")) ++header;
    for (std::size_t i = header; i < lines.size(); ++i) {
        auto first = lines[i].find_first_not_of(" \t");
        if (first != std::string::npos && lines[i].compare(first, 2, "//") != 0) ++code;
    }
    return code;
}

std::vector<fs::path> sources_in(const std::string& folder, const std::string& suffix) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(source_dir / folder)) {
        const std::string name = e.path().filename().string();
        if (name.size() > suffix.size() && name.ends_with(suffix)) out.push_back(e.path());
    }
    return out;
}

TEST(SourceShape, EveryServersCodeFitsIn250LinesOrItsHeaderSaysWhy) {
    std::size_t servers = 0;
    for (const auto& family : families) {
        for (const auto& file : sources_in(family, "_server.cpp")) {
            ++servers;
            auto lines = lines_of(file);
            std::size_t header = 0;
            std::string header_text;
            while (header < lines.size() && lines[header].starts_with("//")) header_text += lines[header++] + "\n";
            const std::size_t code = lines.size() - header;
            EXPECT_GT(header, 0u) << file << ": no header comment";
            if (family == "ftp") {
                EXPECT_LE(header, 50u) << file << ": a header of " << header << " lines";
            }
            if (code > 250) {
                EXPECT_NE(header_text.find("\n// LENGTH. "), std::string::npos)
                    << file << ": " << code << " lines of code (header aside), and the header does not say why";
            }
        }
    }
    EXPECT_GE(servers, 16u) << "the servers of blocking/, nonblocking/, multiplexing/, async/, libraries/, ftp/";
}

TEST(SourceShape, EachFtpServerIsItsLoopAndHandlersInAtMost400LinesOfCode) {
    std::size_t servers = 0;
    for (const auto& file : sources_in("ftp", "_server.cpp")) {
        ++servers;
        EXPECT_LE(code_lines(lines_of(file)), 400u) << file << ": more than the loop and its handlers";
    }
    EXPECT_EQ(servers, 2u) << "epoll_ftp_server, uring_ftp_server";
}

// libraries/ shows what an event library takes off your hands: the same
// echo, the same contract, in far less code than the hand-written servers.
// Each has under 120 lines of code: the header aside, lines that are
// neither blank nor a comment (what cloc counts).
TEST(SourceShape, EveryLibraryServerHasUnder120LinesOfCode) {
    std::size_t servers = 0;
    for (const auto& file : sources_in("libraries", "_server.cpp")) {
        ++servers;
        EXPECT_LT(code_lines(lines_of(file)), 120u) << file;
    }
    EXPECT_EQ(servers, 3u) << "libuv_server, libevent_server, asio_coro_server";
}

TEST(SourceShape, EveryPointerToASharedCallLandsOnThatCall) {
    // "NAME() at PATH:LINE", as the servers write them in comments.
    const std::regex pointer(R"((\w+)\(\) at ([\w./-]+\.[ch]pp):(\d+))");
    std::size_t pointers = 0;
    for (const std::string folder : {"common", "blocking", "nonblocking", "multiplexing", "async", "libraries", "ftp"}) {
        for (const std::string suffix : {".cpp", ".hpp"}) {
            for (const auto& file : sources_in(folder, suffix)) {
                auto lines = lines_of(file);
                for (std::size_t i = 0; i < lines.size(); ++i) {
                    for (std::sregex_iterator m(lines[i].begin(), lines[i].end(), pointer), end; m != end; ++m) {
                        ++pointers;
                        const std::string call = (*m)[1].str() + "(";
                        const fs::path target = source_dir / (*m)[2].str();
                        const std::size_t at = std::stoul((*m)[3].str());
                        const std::string where = file.string() + ":" + std::to_string(i + 1);
                        ASSERT_TRUE(fs::exists(target)) << where << " points at a file that does not exist";
                        auto target_lines = lines_of(target);
                        ASSERT_TRUE(at >= 1 && at <= target_lines.size()) << where << ": past the end of " << target;
                        EXPECT_NE(target_lines[at - 1].find(call), std::string::npos)
                            << where << " says " << m->str() << ", but that line is: " << target_lines[at - 1];
                    }
                }
            }
        }
    }
    EXPECT_GE(pointers, 4u) << "nio_server and sigio_server point at their recv and accept4";
}

}  // namespace
