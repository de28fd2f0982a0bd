#include "ftp/line_reader.hpp"

namespace iom::ftp {

namespace {
constexpr unsigned char IAC = 255, WILL = 251, WONT = 252, DO = 253, DONT = 254;
}

LineReader::Event LineReader::feed(std::string_view& in) {
    while (!in.empty()) {
        auto c = static_cast<unsigned char>(in.front());
        in.remove_prefix(1);
        // Telnet first: its sequences never reach the line.
        if (telnet_ == Telnet::option) {  // the option byte after WILL/WONT/DO/DONT
            telnet_ = Telnet::data;
            continue;
        }
        if (telnet_ == Telnet::iac) {
            telnet_ = c >= WILL && c <= DONT ? Telnet::option : Telnet::data;
            if (c != IAC) continue;  // IAC IP, IAC DM, ...: dropped; IAC IAC: one 0xFF byte, below
        } else if (c == IAC) {
            telnet_ = Telnet::iac;
            continue;
        }
        if (c == '\n') {
            bool was_discarding = discarding_;
            discarding_ = false;
            if (was_discarding) {
                partial_.clear();
                continue;  // the end of a line already answered with too_long
            }
            if (!partial_.empty() && partial_.back() == '\r') partial_.pop_back();
            line_.swap(partial_);
            partial_.clear();
            return Event::line;
        }
        if (discarding_) continue;
        if (partial_.size() >= max_line_) {
            partial_.clear();
            partial_.shrink_to_fit();  // give the memory back: the line is lost anyway
            discarding_ = true;
            return Event::too_long;
        }
        partial_.push_back(static_cast<char>(c));
    }
    return Event::none;
}

}  // namespace iom::ftp
