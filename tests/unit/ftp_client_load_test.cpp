// The upload bytes of ioclient ftp load are computed from their offset, so a
// read-back can be checked block by block, however TCP splits it.
#include "client/ftp/load_client.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using iom::client::ftp::fill_upload_bytes;

TEST(FtpClientLoad, UploadBytesDependOnlyOnSeedAndOffset) {
    std::string whole(1000, '\0');
    fill_upload_bytes(whole.data(), whole.size(), 42, 0);
    for (std::size_t at : {0u, 1u, 7u, 8u, 9u, 500u, 999u})
        for (std::size_t n : {1u, 3u, 8u, 17u}) {
            if (at + n > whole.size()) continue;
            std::string part(n, '\0');
            fill_upload_bytes(part.data(), n, 42, at);
            EXPECT_EQ(part, whole.substr(at, n)) << at << "+" << n;
        }
    std::string other(1000, '\0');
    fill_upload_bytes(other.data(), other.size(), 43, 0);
    EXPECT_NE(other, whole) << "another session or round sends other bytes";
}

// With --get and --put, half the sessions start with the upload: both
// directions at the same moment. With one of them, every session does it.
TEST(FtpClientLoad, HalfTheSessionsUploadWhileTheOtherHalfDownload) {
    using namespace iom::client::ftp;
    LoadPlan both;
    both.file = "/file.bin";
    both.put = 1000;
    EXPECT_EQ(round_of(both, 0), (std::vector<Task>{Task::get, Task::put, Task::read_back, Task::dele}));
    EXPECT_EQ(round_of(both, 1), (std::vector<Task>{Task::put, Task::read_back, Task::dele, Task::get}));
    EXPECT_EQ(round_of(both, 2).front(), Task::get);
    LoadPlan get_only = both, put_only = both;
    get_only.put = 0;
    put_only.file.clear();
    EXPECT_EQ(round_of(get_only, 1), std::vector<Task>{Task::get});
    EXPECT_EQ(round_of(put_only, 1).front(), Task::put);
}
