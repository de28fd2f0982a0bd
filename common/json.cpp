#include "common/json.hpp"

namespace iom {

namespace {

// Scalars (and empty containers) as the library writes them.
std::string scalar(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

}  // namespace

std::string json_line(const Json& j) {
    if (j.empty() || !j.is_structured()) return scalar(j);
    std::string out(1, j.is_object() ? '{' : '[');
    const char* sep = "";
    for (auto it = j.begin(); it != j.end(); ++it) {
        out += sep;
        if (j.is_object()) out += scalar(it.key()) + ": ";
        out += json_line(it.value());
        sep = ", ";
    }
    return out + (j.is_object() ? '}' : ']');
}

std::string json_document(const Json& j) { return j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n"; }

}  // namespace iom
