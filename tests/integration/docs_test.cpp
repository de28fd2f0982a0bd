// The docs cannot drift from the code. docs/*.md, README.md and the header
// comment of every server may name only what exists:
//   - a test (`Suite.Test`, or Prefix/Suite.Test/param) defined in tests/;
//   - a file of the repository (common/..., docs/..., scripts/..., ...);
//   - an option that some --help of this build shows (a server's, an FTP
//     server's, ioclient's and its commands', the scripts'), or one of
//     another program's named below; a server's header, only its own
//     options and ioclient's;
//   - a default that --help states: the contract's table of options, and
//     "`--option` (default N" in prose;
//   - an `ioclient` command and an `ioclient lab` lab;
//   - another page, by a relative link ([x](ftp-performance.md#a-heading)),
//     and a heading of it;
//   - on the FTP pages, a build (build/NAME/bin) that the README's commands
//     make, or that the page says how to make;
//   - a trace line ("[  0.000231 16419] select -> 1 ready") that some
//     trace() call of the servers prints;
// and the scripts they point at parse.
#include "built_servers.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace iom::test {
namespace {

namespace fs = std::filesystem;
const fs::path source_dir = IOM_SOURCE_DIR;

std::string text_of(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// Every match of `re`'s group `group` in `text`.
std::vector<std::string> matches(const std::string& text, const std::regex& re, int group = 1) {
    std::vector<std::string> out;
    for (std::sregex_iterator it(text.begin(), text.end(), re), end; it != end; ++it) out.push_back((*it)[group].str());
    return out;
}

struct Doc {
    std::string name;  // "docs/blocking.md", "blocking/bio_server.cpp (header)"
    std::string text;
    std::string binary;  // a server's header: its built binary (its options are its own)
};

// The leading comment of a source file: its lesson.
std::string header_comment(const fs::path& p) {
    std::istringstream in(text_of(p));
    std::string out;
    for (std::string line; std::getline(in, line) && line.rfind("//", 0) == 0;) out += line + "\n";
    return out;
}

const std::vector<Doc>& documents() {
    static const std::vector<Doc> docs = [] {
        std::vector<Doc> d{{"README.md", text_of(source_dir / "README.md")}};
        std::set<fs::path> pages;
        for (const auto& e : fs::directory_iterator(source_dir / "docs"))
            if (e.path().extension() == ".md") pages.insert(e.path());
        for (const auto& p : pages) d.push_back({"docs/" + p.filename().string(), text_of(p)});
        std::set<fs::path> servers;
        for (const char* dir : {"blocking", "nonblocking", "multiplexing", "async", "ftp", "libraries", "bench"}) {
            if (!fs::exists(source_dir / dir)) continue;
            for (const auto& e : fs::directory_iterator(source_dir / dir)) {
                const std::string f = e.path().filename().string();
                if (f.size() > 11 && f.substr(f.size() - 11) == "_server.cpp") servers.insert(e.path());
            }
        }
        for (const auto& p : servers)
            d.push_back({fs::relative(p, source_dir).string() + " (header)", header_comment(p),
                         bin_path(p.stem().string())});
        return d;
    }();
    return docs;
}

// "Suite.Test" for every TEST, TEST_F and TEST_P in tests/.
std::set<std::string> defined_tests() {
    static const std::regex def(R"(TEST(?:_F|_P)?\(\s*(\w+),\s*(\w+)\))");
    std::set<std::string> names;
    for (const auto& e : fs::recursive_directory_iterator(source_dir / "tests")) {
        if (e.path().extension() != ".cpp") continue;
        const std::string code = text_of(e.path());
        for (std::sregex_iterator it(code.begin(), code.end(), def), end; it != end; ++it)
            names.insert((*it)[1].str() + "." + (*it)[2].str());
    }
    return names;
}

// ioclient's commands, as its --help lists them under "Subcommands:".
std::vector<std::string> ioclient_commands() {
    static const std::vector<std::string> commands = [] {
        std::vector<std::string> out;
        std::istringstream help(run_command({ioclient_path(), "--help"}).out);
        bool listing = false;
        for (std::string line; std::getline(help, line);) {
            if (line.rfind("Subcommands:", 0) == 0) {
                listing = true;
            } else if (listing && line.rfind("  ", 0) == 0 && line[2] != ' ') {
                out.push_back(line.substr(2, line.find(' ', 2) - 2));
            }
        }
        return out;
    }();
    return commands;
}

// ioclient's --help and each of its commands'.
const std::string& ioclient_help() {
    static const std::string help = [] {
        std::string h = run_command({ioclient_path(), "--help"}).out;
        for (const auto& c : ioclient_commands()) h += run_command({ioclient_path(), c, "--help"}).out;
        for (const char* c : {"get", "put", "ls", "load", "check"})
            h += run_command({ioclient_path(), "ftp", c, "--help"}).out;
        return h;
    }();
    return help;
}

// Every --help of this build, one text: the servers (echo and FTP),
// ioclient and each of its commands, and the scripts the docs run.
const std::string& all_help() {
    static const std::string help = [] {
        std::string h;
        for (const auto& s : all_servers()) h += run_command({s.path, "--help"}).out;
        for (const char* s : {"epoll_ftp_server", "uring_ftp_server"}) h += run_command({bin_path(s), "--help"}).out;
        h += ioclient_help();
        h += run_command({"/usr/bin/python3", (source_dir / "scripts/pyftpd_server.py").string(), "--help"}).out;
        for (const char* script : {"bench/run.sh", "bench/profile.sh", "bench/pair.sh", "bench/ftp.sh", "scripts/labs.sh",
                                   "scripts/per_message.sh", "scripts/fuzz.sh"}) {
            RunResult r = run_command({"/bin/bash", (source_dir / script).string(), "--help"});
            h += r.out + r.err;
        }
        return h;
    }();
    return help;
}

// Options of other programs that the docs show in use: not ours to check.
const std::set<std::string> other_programs_options = {
    "--preset", "--build", "--workflow", "--list-presets", "--test-dir", "--output-on-failure",  // cmake, ctest
    "--gtest_filter", "--ppid", "--nofile", "--tool",  // GoogleTest, ps, prlimit, valgrind
    "--ssl-reqd"};                                      // curl: what ioclient ftp --tls does

TEST(Docs, CiteOnlyTestsThatExist) {
    const auto tests = defined_tests();
    // `Suite.Test`, `Prefix/Suite.Test` or `Prefix/Suite.Test/param`; and, in
    // a header, "(tests/...: Name)".
    const std::regex cited(R"(`(?:\w+/)?([A-Z]\w+\.[A-Z]\w+)(?:[`/]))");
    const std::regex named(R"(tests/[\w/.]*: ([A-Z]\w+)(\.(?:\*|[A-Z]\w+))?)");
    for (const auto& doc : documents()) {
        for (const auto& t : matches(doc.text, cited))
            EXPECT_TRUE(tests.count(t)) << doc.name << " cites a test that does not exist: " << t;
        for (std::sregex_iterator it(doc.text.begin(), doc.text.end(), named), end; it != end; ++it) {
            const std::string suite = (*it)[1].str(), rest = (*it)[2].str();
            if (rest.empty()) {
                ADD_FAILURE() << doc.name << " cites a test without its suite (Suite.Test or Suite.*): " << suite;
            } else if (rest == ".*") {
                bool any = std::any_of(tests.begin(), tests.end(), [&](const std::string& t) { return t.rfind(suite + ".", 0) == 0; });
                EXPECT_TRUE(any) << doc.name << " cites a test suite that does not exist: " << suite;
            } else {
                EXPECT_TRUE(tests.count(suite + rest)) << doc.name << " cites a test that does not exist: " << suite + rest;
            }
        }
    }
}

TEST(Docs, TheFtpPageCitesTheTestOfEverySecurityRule) {
    const std::string page = text_of(source_dir / "docs/ftp.md");
    EXPECT_GE(matches(page, std::regex(R"(`([A-Z]\w+\.[A-Z]\w+)`)")).size(), 10u);
}

TEST(Docs, CiteOnlyFilesThatExist) {
    const std::regex path(
        R"((?:^|[^\w/.-])((?:common|client|blocking|nonblocking|multiplexing|async|ftp|libraries|tests|scripts|bench|docs)/[\w./*-]*[\w*]))");
    for (const auto& doc : documents()) {
        for (const auto& p : matches(doc.text, path)) {
            if (p.find('*') != std::string::npos) continue;  // a pattern (bench/min_*), not a file
            // A binary of bench/ (bench/min_client) is built from its .cpp.
            bool exists = fs::exists(source_dir / p) || fs::exists(source_dir / (p + ".cpp"));
            EXPECT_TRUE(exists) << doc.name << " cites a file that does not exist: " << p;
        }
    }
}

// GitHub's anchor of a heading: lower case, punctuation dropped, spaces to '-'.
std::string anchor_of(const std::string& heading) {
    std::string out;
    for (unsigned char c : heading) {
        if (std::isalnum(c) || c == '_' || c == '-' || c >= 0x80) out += static_cast<char>(std::tolower(c));
        else if (c == ' ') out += '-';
    }
    return out;
}

TEST(Docs, LinksBetweenPagesLandOnAPageAndAHeading) {
    const std::regex link(R"(\]\(([\w./-]+\.md)(?:#([\w-]+))?\))");
    const std::regex heading(R"((?:^|\n)#+ ([^\n]+))");
    int checked = 0;
    for (const auto& doc : documents()) {
        if (doc.name.find(" (header)") != std::string::npos) continue;
        const fs::path dir = (source_dir / doc.name).parent_path();
        for (std::sregex_iterator it(doc.text.begin(), doc.text.end(), link), end; it != end; ++it) {
            const fs::path target = dir / (*it)[1].str();
            ++checked;
            if (!fs::exists(target)) {
                ADD_FAILURE() << doc.name << " links to a page that does not exist: " << (*it)[1];
                continue;
            }
            if (!(*it)[2].matched) continue;
            std::vector<std::string> anchors;
            for (const auto& h : matches(text_of(target), heading)) anchors.push_back(anchor_of(h));
            EXPECT_NE(std::find(anchors.begin(), anchors.end(), (*it)[2].str()), anchors.end())
                << doc.name << " links to #" << (*it)[2] << ", a heading " << (*it)[1] << " does not have";
        }
    }
    EXPECT_GE(checked, 20) << "no links between pages were found";
}

// A reader of the FTP pages has run the README's commands (scripts/test.sh
// makes build/dev, scripts/demo.sh build/release): a command may run from
// those builds, or from one the page says how to make (-B build/NAME).
TEST(Docs, TheFtpPagesRunBuildsTheReadmeMakesOrSayHowToMakeThem) {
    std::string readme = text_of(source_dir / "README.md");
    std::replace(readme.begin(), readme.end(), '\n', ' ');
    const std::regex build(R"(build/([\w-]+)/bin)");
    for (const char* page : {"docs/ftp.md", "docs/ftp-performance.md"}) {
        const std::string text = text_of(source_dir / page);
        for (const auto& name : matches(text, build)) {
            bool readme_makes = readme.find("`build/" + name + "/bin` after `scripts/") != std::string::npos;
            bool page_says = text.find("-B build/" + name) != std::string::npos;
            EXPECT_TRUE(readme_makes || page_says)
                << page << " runs build/" << name << "/bin, which neither the README's commands make nor the page "
                << "says how to make";
        }
    }
}

// A pointer into the code, "NAME() at FILE:LINE" (the form the servers'
// comments use for a shared call, source_shape_test): the line it names
// makes that call, so a walk through the code cannot drift from the code.
TEST(Docs, PointersIntoTheCodeLandOnTheCallTheyName) {
    const std::regex pointer(R"((\w+)\(\) at ([\w./-]+\.[ch]pp):(\d+))");
    std::size_t pointers = 0;
    for (const auto& doc : documents()) {
        for (std::sregex_iterator m(doc.text.begin(), doc.text.end(), pointer), end; m != end; ++m) {
            ++pointers;
            const fs::path target = source_dir / (*m)[2].str();
            ASSERT_TRUE(fs::exists(target)) << doc.name << ": " << m->str() << " names a file that does not exist";
            std::istringstream in(text_of(target));
            std::string line;
            for (std::size_t n = std::stoul((*m)[3].str()); n > 0 && std::getline(in, line); --n) {
            }
            EXPECT_NE(line.find((*m)[1].str() + "("), std::string::npos)
                << doc.name << " says " << m->str() << ", but that line is: " << line;
        }
    }
    EXPECT_GE(pointers, 20u) << "docs/ftp.md walks one RETR and one STOR through both servers";
}

TEST(Docs, CiteOnlyOptionsSomeHelpShows) {
    const std::string& help = all_help();
    const std::regex option(R"((?:^|[^\w-])(--[a-z][a-z0-9_-]*[a-z0-9]))");
    for (const auto& doc : documents()) {
        // A server's header may name its own options and ioclient's, no other server's.
        const std::string own =
            doc.binary.empty() ? help : run_command({doc.binary, "--help"}).out + ioclient_help();
        for (const auto& o : matches(doc.text, option)) {
            if (other_programs_options.count(o)) continue;
            EXPECT_NE(own.find(o), std::string::npos)
                << doc.name << " cites an option " << (doc.binary.empty() ? "no" : "neither its nor ioclient's")
                << " --help shows: " << o;
        }
    }
}

// The default an echo server's --help states for `option` ("...=1000"), or "".
std::string help_default(const std::string& help, const std::string& option) {
    std::smatch m;
    const std::regex line("\\n\\s*" + option + " [^\\n]*=([0-9.]+)\\s*\\n");
    return std::regex_search(help, m, line) ? m[1].str() : "";
}

TEST(Docs, StateTheDefaultsHelpStates) {
    // The contract's table: | `--option` | DEFAULT | meaning |. A server
    // whose default differs must be named in the cell, with its value.
    const std::string contract = text_of(source_dir / "docs/contract.md");
    const std::regex row(R"(\n\| `(--[a-z-]+)` \| ([0-9][^|]*)\|)");
    int checked = 0;
    for (std::sregex_iterator it(contract.begin(), contract.end(), row), end; it != end; ++it) {
        const std::string option = (*it)[1].str(), cell = (*it)[2].str();
        const std::string stated = cell.substr(0, cell.find_first_not_of("0123456789."));
        for (const auto& s : all_servers()) {
            const std::string d = help_default(run_command({s.path, "--help"}).out, option);
            if (d.empty() || d == stated) continue;
            EXPECT_TRUE(cell.find(s.name) != std::string::npos && cell.find(d) != std::string::npos)
                << "docs/contract.md: " << option << " defaults to " << stated << ", but " << s.name << "'s --help says "
                << d << " (name it in the cell)";
        }
        ++checked;
    }
    EXPECT_GE(checked, 5) << "the table of options in docs/contract.md was not found";
    // Prose: "`--option` (default N" must be some server's default.
    const std::regex prose(R"(`(--[a-z][a-z0-9-]+)`[^.\n]{0,12}?\(default \**([0-9][0-9,]*))");
    for (const auto& doc : documents())
        for (std::sregex_iterator it(doc.text.begin(), doc.text.end(), prose), end; it != end; ++it) {
            std::string value = (*it)[2].str();
            value.erase(std::remove(value.begin(), value.end(), ','), value.end());
            bool someone = false;
            for (const auto& s : all_servers())
                someone = someone || help_default(run_command({s.path, "--help"}).out, (*it)[1].str()) == value;
            EXPECT_TRUE(someone) << doc.name << ": no server's --help gives " << (*it)[1].str() << " the default "
                                 << value;
        }
}

TEST(Docs, NameOnlyIoclientCommandsAndLabsThatExist) {
    const auto commands = ioclient_commands();
    EXPECT_GE(commands.size(), 7u) << "ioclient --help lists its commands under Subcommands:";
    const std::string labs = "\n" + run_command({ioclient_path(), "lab"}).out;
    const std::regex command(R"((?:^|`|/|\$ )ioclient ([a-z][\w-]*))");
    const std::regex lab(R"(ioclient lab ([a-z][\w-]*))");
    for (const auto& doc : documents()) {
        for (const auto& c : matches(doc.text, command))
            EXPECT_NE(std::find(commands.begin(), commands.end(), c), commands.end())
                << doc.name << " names an ioclient command that does not exist: " << c;
        for (const auto& l : matches(doc.text, lab))
            EXPECT_NE(labs.find("\n" + l + " "), std::string::npos)
                << doc.name << " names a lab that does not exist: " << l;
    }
}

// "diff A B   # NAME": a comparison to try in class; both files define NAME
// (a type or a return type before it: "void serve_client(", not a call
// "blocking::serve_client(").
TEST(Docs, DiffsCompareFilesThatBothHoldTheNamedCode) {
    const std::regex diff(R"(diff ([\w./-]+) ([\w./-]+)\s+# (\w+))");
    for (const auto& doc : documents())
        for (std::sregex_iterator it(doc.text.begin(), doc.text.end(), diff), end; it != end; ++it)
            for (int file : {1, 2}) {
                const std::string path = (*it)[file].str(), name = (*it)[3].str();
                const std::regex definition("[\\w>&*]\\s+" + name + "\\s*\\(");
                EXPECT_TRUE(std::regex_search(text_of(source_dir / path), definition))
                    << doc.name << ": `" << (*it)[0].str() << "`, but " << path << " does not define " << name;
            }
}

// docs/labs.md indexes every lab of `ioclient lab` under its claim, word
// for word (backticks aside), and every family page names some of them.
TEST(Docs, TheLabIndexStatesEachLabsClaim) {
    std::string index = text_of(source_dir / "docs/labs.md");
    index.erase(std::remove(index.begin(), index.end(), '`'), index.end());
    std::istringstream list(run_command({ioclient_path(), "lab"}).out);
    int labs = 0;
    for (std::string line; std::getline(list, line) && !line.empty(); ++labs) {
        const std::string name = line.substr(0, line.find(' '));
        const std::string claim = line.substr(line.find_first_not_of(' ', name.size()));
        EXPECT_NE(index.find("| " + claim + " | " + name + " |"), std::string::npos)
            << "docs/labs.md has no row for " << name << " with its claim: " << claim;
    }
    EXPECT_EQ(labs, 15);
    for (const char* page : {"blocking", "nonblocking", "multiplexing", "async"})
        EXPECT_NE(text_of(source_dir / "docs" / (std::string(page) + ".md")).find("\n## Labs\n"), std::string::npos)
            << "docs/" << page << ".md does not open with its labs";
}

// The scripts the pages point at, instead of pasting them, are files
// bash can read (running them is the measuring, not a test).
TEST(Docs, TheScriptsThePagesPointAtParse) {
    int scripts = 0;
    for (const char* dir : {"scripts", "bench"})
        for (const auto& e : fs::directory_iterator(source_dir / dir)) {
            if (e.path().extension() != ".sh") continue;
            RunResult r = run_command({"/bin/bash", "-n", e.path().string()});
            EXPECT_EQ(r.exit_code, 0) << e.path() << ": " << r.err;
            ++scripts;
        }
    EXPECT_GE(scripts, 4);
}

TEST(Docs, QuoteOnlyTraceLinesTheServersPrint) {
    // Every trace("...") format of the servers and common/, as a pattern:
    // each {} stands for at least one character.
    std::vector<std::regex> formats;
    const std::regex call(R"re(\btrace\(\s*((?:"(?:[^"\\]|\\.)*"\s*)+))re");
    const std::regex literal(R"re("((?:[^"\\]|\\.)*)")re");
    const std::regex special(R"([.^$|()\[\]{}*+?\\])");
    for (const char* dir : {"common", "blocking", "nonblocking", "multiplexing", "async", "ftp", "libraries"}) {
        if (!fs::exists(source_dir / dir)) continue;
        for (const auto& e : fs::directory_iterator(source_dir / dir)) {
            const std::string code = text_of(e.path());
            for (const auto& args : matches(code, call)) {
                std::string format, pattern;
                for (const auto& piece : matches(args, literal)) format += piece;
                std::size_t at = 0;
                for (std::size_t open; (open = format.find('{', at)) != std::string::npos;) {
                    pattern += std::regex_replace(format.substr(at, open - at), special, "\\$&") + ".+";
                    at = format.find('}', open) + 1;
                }
                pattern += std::regex_replace(format.substr(at), special, "\\$&");
                formats.emplace_back(pattern);
            }
        }
    }
    ASSERT_GE(formats.size(), 50u);
    const std::regex quoted(R"((?:^|\n)\[\s*\d+\.\d+\s+\d+\] ([^\n]*))");
    for (const auto& doc : documents())
        for (const auto& line : matches(doc.text, quoted)) {
            bool printed = std::any_of(formats.begin(), formats.end(),
                                       [&](const std::regex& f) { return std::regex_match(line, f); });
            EXPECT_TRUE(printed) << doc.name << " quotes a trace line no server prints: " << line;
        }
}

}  // namespace
}  // namespace iom::test
