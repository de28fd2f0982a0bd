// Fuzz target client_url: ftp:// URLs as ioclient takes them
// (client/ftp/url: parse_url, percent_decode, Url::basename, Url::to_string).
//
// THE INPUT: all of it is the URL text (a command-line argument: any bytes).
//
// CHECKED: a URL either parses or throws std::invalid_argument with one line
// saying why (nothing else is thrown); a parsed URL has a host, a port from 1
// to 65535, a path that starts with '/', no CR, LF or NUL in the user, the
// password or the path (they would end the command that carries them), and
// is anonymous exactly when the user is anonymous or ftp; basename() has no
// '/'; percent_decode never makes a string longer than its text.
#include "fuzz_input.hpp"

#include "client/ftp/url.hpp"

#include <stdexcept>
#include <string>

namespace iom::fuzz {
namespace {

bool clean(const std::string& s) { return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos; }

void check_error(const std::invalid_argument& e) {
    std::string_view what = e.what();
    IOM_FUZZ_CHECK(!what.empty() && what.find_first_of("\r\n") == std::string_view::npos,
                   "an error that is not one line: '{}'", what);
}

}  // namespace
}  // namespace iom::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace iom::fuzz;
    namespace ftp = iom::client::ftp;
    std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        ftp::Url url = ftp::parse_url(text);
        IOM_FUZZ_CHECK(!url.host.empty(), "a URL without a host");
        IOM_FUZZ_CHECK(url.port >= 1, "port 0");
        IOM_FUZZ_CHECK(url.path.starts_with('/'), "a path not from the root: '{}'", url.path);
        IOM_FUZZ_CHECK(clean(url.user) && clean(url.password) && clean(url.path), "CR, LF or NUL got through");
        IOM_FUZZ_CHECK(url.anonymous == (url.user == "anonymous" || url.user == "ftp"), "anonymous is {} for user '{}'",
                       url.anonymous, url.user);
        IOM_FUZZ_CHECK(url.basename().find('/') == std::string::npos, "a basename with '/'");
        (void)url.to_string();
    } catch (const std::invalid_argument& e) {
        check_error(e);
    }
    try {
        std::string decoded = ftp::percent_decode(text);
        IOM_FUZZ_CHECK(decoded.size() <= text.size(), "decoding made the text longer");
    } catch (const std::invalid_argument& e) {
        check_error(e);
    }
    return 0;
}
