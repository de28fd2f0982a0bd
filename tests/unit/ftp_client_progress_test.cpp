// The progress bar of ioclient ftp: fixed width whatever the figures, byte,
// rate and time formats, and what is written in place (a terminal) and in
// line mode (a log).
#include "client/ftp/progress.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

using namespace iom::client::ftp;

TEST(FtpClientProgress, Bytes) {
    EXPECT_EQ(format_bytes(0), "0 B");
    EXPECT_EQ(format_bytes(1023), "1023 B");
    EXPECT_EQ(format_bytes(1024), "1.00 KiB");
    EXPECT_EQ(format_bytes(1536), "1.50 KiB");
    EXPECT_EQ(format_bytes(12 * 1024 + 300), "12.3 KiB");
    EXPECT_EQ(format_bytes(1023 * 1024), "1.00 MiB")
        << "switches unit before four integer digits";
    EXPECT_EQ(format_bytes(100ULL << 20), "100.0 MiB");
    EXPECT_EQ(format_bytes(3ULL << 30), "3.00 GiB");
    for (std::uint64_t b = 1; b < (1ULL << 62); b = b * 3 + 1) EXPECT_LE(format_bytes(b).size(), 9u) << b;
}

TEST(FtpClientProgress, RateAndDuration) {
    EXPECT_EQ(format_rate(10.0 * 1024 * 1024), "10.0 MiB/s");
    EXPECT_EQ(format_rate(-1), "--");
    EXPECT_EQ(format_duration(0), "0:00");
    EXPECT_EQ(format_duration(7.2), "0:08") << "rounds up: never says 0:00 while time is left";
    EXPECT_EQ(format_duration(754), "12:34");
    EXPECT_EQ(format_duration(3723), "1:02:03");
    EXPECT_EQ(format_duration(-1), "--:--");
    EXPECT_EQ(format_duration(100 * 3600), "--:--");
}

TEST(FtpClientProgress, FixedWidthWhateverTheFigures) {
    for (std::size_t width : {20u, 40u, 60u, 80u, 132u}) {
        for (std::uint64_t total : {0ULL, 1ULL, 1000ULL, 5ULL << 30}) {
            ProgressBar bar("a-rather-long-file-name-that-goes-on.bin", total, width);
            for (std::uint64_t done : {0ULL, 1ULL, 999ULL, 5ULL << 29, 5ULL << 30})
                for (double rate : {-1.0, 0.0, 0.001, 1.0, 1e6, 1e19})
                    EXPECT_EQ(bar.line(done, rate).size(), width)
                        << width << " " << total << " " << done << " " << rate;
        }
    }
}

TEST(FtpClientProgress, LineShowsPercentBytesRateAndTimeLeft) {
    ProgressBar bar("f.bin", 100ULL << 20, 80);
    // 25 MiB done at 10 MiB/s: 75 MiB left, 7.5 s, shown as 0:08.
    std::string line = bar.line(25ULL << 20, 10.0 * (1 << 20));
    EXPECT_EQ(line.rfind("f.bin [", 0), 0u) << line;
    EXPECT_NE(line.find(" 25% "), std::string::npos) << line;
    EXPECT_NE(line.find("25.0 MiB"), std::string::npos) << line;
    EXPECT_NE(line.find("10.0 MiB/s"), std::string::npos) << line;
    EXPECT_NE(line.find("0:08"), std::string::npos) << line;
    // A quarter of the bar's cells are full.
    auto open = line.find('['), close = line.find(']');
    std::string cells = line.substr(open + 1, close - open - 1);
    EXPECT_EQ(std::count(cells.begin(), cells.end(), '#'), static_cast<long>(cells.size() / 4)) << line;
}

TEST(FtpClientProgress, RateOverTheWindowOnly) {
    RateWindow w(3.0);
    EXPECT_LT(w.rate(), 0) << "no rate before two samples";
    w.add(0, 90ULL << 20);  // a resumed transfer: 90 MiB were there before
    EXPECT_LT(w.rate(), 0);
    w.add(1, 100ULL << 20);
    EXPECT_DOUBLE_EQ(w.rate(), 10.0 * (1 << 20)) << "the bytes already there are no part of the rate";
    // A burst at the start, then a steady 1 MiB/s: after the window has
    // passed, the burst no longer counts.
    for (int t = 2; t <= 10; ++t) w.add(t, (100ULL << 20) + static_cast<std::uint64_t>(t - 1) * (1 << 20));
    EXPECT_DOUBLE_EQ(w.rate(), 1.0 * (1 << 20));
    w.add(11, 0);
    EXPECT_LT(w.rate(), 0) << "a counter that went back has no rate";
}

TEST(FtpClientProgress, ResumedTransferShowsTheRestAtTheRate) {
    ProgressBar bar("f", 100ULL << 20, 80);
    std::string line = bar.line(100ULL << 20, 10.0 * (1 << 20));
    EXPECT_NE(line.find("100%"), std::string::npos) << line;
    EXPECT_NE(line.find("0:00"), std::string::npos) << line;
}

TEST(FtpClientProgress, NeverRoundsUpToOneHundred) {
    ProgressBar bar("f", 10000, 80);
    EXPECT_NE(bar.line(9999, 1).find(" 99%"), std::string::npos);
}

TEST(FtpClientProgress, UnknownTotal) {
    ProgressBar bar("listing", 0, 60);
    std::string line = bar.line(2048, 2048);
    EXPECT_EQ(line.size(), 60u);
    EXPECT_EQ(line.find('%'), std::string::npos) << line;
    EXPECT_NE(line.find("2.00 KiB/s"), std::string::npos) << line;
    EXPECT_NE(line.find("--:--"), std::string::npos) << line;
}

TEST(FtpClientProgress, NarrowLinesDropTheBar) {
    ProgressBar bar("f", 100, 40);
    EXPECT_EQ(bar.line(50, 1).find('['), std::string::npos);
}

TEST(FtpClientProgress, InPlaceRedrawsOneLineWithCarriageReturn) {
    ProgressPrinter p(true, 2.0);
    EXPECT_EQ(p.frame({"one"}, 0.0), "\rone");
    EXPECT_EQ(p.frame({"two"}, 0.01), "\rtwo") << "in place, every frame is drawn";
    EXPECT_EQ(p.frame({"end"}, 0.02, true), "\rend\n") << "the last frame leaves the cursor below";
    EXPECT_EQ(p.frame({"late"}, 0.03), "") << "nothing after the last frame";
}

TEST(FtpClientProgress, InPlaceMovesUpOverSeveralLines) {
    ProgressPrinter p(true, 2.0);
    EXPECT_EQ(p.frame({"a", "b", "c"}, 0), "\ra\nb\nc");
    EXPECT_EQ(p.frame({"d", "e", "f"}, 1), "\x1b[2A\rd\ne\nf");
}

TEST(FtpClientProgress, LineModeWritesALineNowAndThen) {
    ProgressPrinter p(false, 2.0);
    EXPECT_EQ(p.frame({"first   "}, 0.0), "first\n") << "plain lines, trailing padding dropped";
    EXPECT_EQ(p.frame({"skipped"}, 1.0), "");
    EXPECT_EQ(p.frame({"second"}, 2.5), "second\n");
    EXPECT_EQ(p.frame({"last"}, 2.6, true), "last\n") << "the last frame is always written";
    EXPECT_EQ(p.frame({"x", "y"}, 9.0), "");
    ProgressPrinter q(false, 2.0);
    EXPECT_EQ(q.frame({"a", "b"}, 0), "a\nb\n");
    EXPECT_EQ(q.frame({"a"}, 0.5), "");
    EXPECT_EQ(std::string(q.frame({"c"}, 5)).find('\r'), std::string::npos);
}

// A load under --duration does not know its bytes to come: its total bar
// fills by time, with a percent, and the time left is the duration's.
TEST(FtpClientProgress, TimedLineFillsByTime) {
    ProgressBar bar("total 4 sessions", 0, 80);
    std::string line = bar.timed_line(30ULL << 20, 10.0 * (1 << 20), 5, 20);
    EXPECT_NE(line.find(" 25% "), std::string::npos) << line;
    EXPECT_NE(line.find("30.0 MiB"), std::string::npos) << line;
    EXPECT_NE(line.find("0:15"), std::string::npos) << line;
    auto open = line.find('['), close = line.find(']');
    std::string cells = line.substr(open + 1, close - open - 1);
    EXPECT_EQ(std::count(cells.begin(), cells.end(), '#'), static_cast<long>(cells.size() / 4)) << line;
    EXPECT_NE(bar.timed_line(1, 1, 25, 20).find("100%"), std::string::npos) << "past the duration: full, not more";
    EXPECT_EQ(bar.timed_line(1, 1, 25, 20).size(), 80u);
}
