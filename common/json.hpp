// JSON, written and read with nlohmann-json (Debian nlohmann-json3-dev): the
// library escapes strings, formats numbers (NaN and infinities become null)
// and parses. Objects keep their keys in the order they were added
// (ordered_json), so the output reads in the order the code states it.
//
// Two layouts: json_line for what is one line of output (a server's stats
// file, `ioclient bench --json`), {"key": value, "key": value}, the spacing
// people and grep read; and Json::dump(2) for whole documents
// (compare's results.json, the soak's --json file).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace iom {

using Json = nlohmann::ordered_json;

// `j` on one line, with ": " after each key and ", " between members.
// Strings that are not valid UTF-8 get U+FFFD for the bad bytes, not an
// exception.
std::string json_line(const Json& j);

// The whole document on indented lines.
std::string json_document(const Json& j);

}  // namespace iom
