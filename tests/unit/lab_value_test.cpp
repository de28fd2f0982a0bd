// A lab's figures are looked up by row and column name (LabResult::value).
// A name that does not exist is the lab's mistake: it must fail loudly,
// naming the lab, the row and the column, never read as NaN (which every
// comparison takes for false: a silent "does not hold").
#include "client/lab/lab.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <string>

namespace iom::client {
namespace {

LabResult sample() {
    LabResult r;
    r.name = "scan-cost";
    r.columns = {"fds per wait", "msg/s"};
    r.rows = {{"epoll_server", {0.0, 1000.0}}, {"poll_server", {501.0, kNoValue}}};
    return r;
}

std::string error_of(const LabResult& r, const std::string& row, const std::string& column) {
    try {
        r.value(row, column);
    } catch (const std::logic_error& e) {
        return e.what();
    }
    return "no error";
}

TEST(LabValue, FindsTheFigureOfARowAndAColumn) {
    EXPECT_EQ(sample().value("poll_server", "fds per wait"), 501.0);
    EXPECT_EQ(sample().value("epoll_server", "msg/s"), 1000.0);
}

TEST(LabValue, AFigureTheRowDidNotMeasureIsNaN) {
    EXPECT_TRUE(std::isnan(sample().value("poll_server", "msg/s")));
}

TEST(LabValue, AColumnTypoThrowsNamingTheLabTheRowAndTheColumn) {
    std::string e = error_of(sample(), "epoll_server", "fds per wiat");
    EXPECT_NE(e.find("lab scan-cost"), std::string::npos) << e;
    EXPECT_NE(e.find("no column \"fds per wiat\""), std::string::npos) << e;
    EXPECT_NE(e.find("epoll_server"), std::string::npos) << e;
}

TEST(LabValue, ARowTypoThrowsNamingTheLabTheRowAndTheColumn) {
    std::string e = error_of(sample(), "epol_server", "fds per wait");
    EXPECT_NE(e.find("lab scan-cost"), std::string::npos) << e;
    EXPECT_NE(e.find("no row \"epol_server\""), std::string::npos) << e;
    EXPECT_NE(e.find("fds per wait"), std::string::npos) << e;
}

}  // namespace
}  // namespace iom::client
