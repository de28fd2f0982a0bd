// The table `ioclient top` draws: its columns (shared by the live screen and
// --once), and the live screen itself, on ncurses.
#pragma once

#include "client/top/top.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace iom::client {

struct Column {
    std::string_view header;
    std::string_view figure;  // the TopRow figure it shows, as named in the JSON and in TopRow::marks
    int width;                // characters, right-aligned, plus one for a mark or a space
    std::string_view meaning; // for the help screen
    std::string (*cell)(const TopRow&);
};

// The columns that fit `width` characters, keeping `spare` for the
// sparkline: the essentials always (they fit 80), more on a wider terminal.
std::vector<Column> choose_columns(int width, int spare);
std::string header_line(const std::vector<Column>& columns);

// The interactive screen: refresh every opt.interval, keys s/p/h/q.
int run_screen(const TopOptions& opt);

}  // namespace iom::client
