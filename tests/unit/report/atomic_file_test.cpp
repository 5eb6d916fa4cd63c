// The atomic file writer: a committed file replaces the old one whole and leaves no temporary; one that is
// not committed leaves the old file as it was, and no temporary either.
#include "report/atomic_file.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdlib.h>
#include <string>
#include <sys/stat.h>

#include <gtest/gtest.h>

namespace msgflash::report {
namespace {

namespace fs = std::filesystem;

class AtomicFile : public ::testing::Test {
  protected:
    AtomicFile() {
        std::string pattern = (fs::temp_directory_path() / "msgflash-report-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        root_ = pattern;
        std::error_code ec;
        dir_ = dir_handle::open((root_ / "reports").string(), ec);
        EXPECT_FALSE(ec) << ec.message();
    }
    ~AtomicFile() override {
        std::error_code ec;
        fs::remove_all(root_, ec);
    }
    std::string read(const std::string& name) const {
        std::ifstream in(root_ / "reports" / name, std::ios::binary);
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }
    std::size_t entries() const {
        return static_cast<std::size_t>(
            std::distance(fs::directory_iterator(root_ / "reports"), fs::directory_iterator{}));
    }

    fs::path root_;
    dir_handle dir_;
};

TEST_F(AtomicFile, CommitReplacesTheOldFileAndLeavesNoTemporary) {
    EXPECT_TRUE(fs::is_directory(root_ / "reports")) << "created when missing";
    {
        std::error_code ec;
        atomic_file f(dir_.fd(), "b.csv", ec);
        ASSERT_FALSE(ec) << ec.message();
        EXPECT_TRUE(fs::exists(root_ / "reports" / ".b.csv.tmp"));
        ASSERT_FALSE(f.write("first\n"));
        ASSERT_FALSE(f.commit());
    }
    EXPECT_EQ(read("b.csv"), "first\n");
    EXPECT_EQ(entries(), 1u);
    const auto mode = fs::status(root_ / "reports" / "b.csv").permissions();
    EXPECT_EQ(mode & fs::perms::others_all, fs::perms::none) << "reports are not world-readable";
    {
        std::error_code ec;
        atomic_file f(dir_.fd(), "b.csv", ec);
        ASSERT_FALSE(ec);
        // More than the writer's buffer, so it goes to the file in several writes.
        const std::string big(1'000'000, 'x');
        ASSERT_FALSE(f.write(big));
        ASSERT_FALSE(f.write("\n"));
        // Until the rename, readers see the old file whole.
        EXPECT_EQ(read("b.csv"), "first\n");
        ASSERT_FALSE(f.commit());
    }
    EXPECT_EQ(read("b.csv").size(), 1'000'001u);
    EXPECT_EQ(entries(), 1u);
}

TEST_F(AtomicFile, WithoutACommitTheOldFileStaysAndTheTemporaryGoes) {
    {
        std::error_code ec;
        atomic_file f(dir_.fd(), "b.csv", ec);
        ASSERT_FALSE(f.write("old\n"));
        ASSERT_FALSE(f.commit());
    }
    {
        std::error_code ec;
        atomic_file f(dir_.fd(), "b.csv", ec);
        ASSERT_FALSE(f.write("half of a new one"));
    }
    EXPECT_EQ(read("b.csv"), "old\n");
    EXPECT_EQ(entries(), 1u);
}

TEST_F(AtomicFile, ALeftoverTemporaryOfACrashIsReplaced) {
    std::ofstream(root_ / "reports" / ".b.csv.tmp") << "leftover of a crash";
    std::error_code ec;
    atomic_file f(dir_.fd(), "b.csv", ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_FALSE(f.write("new\n"));
    ASSERT_FALSE(f.commit());
    EXPECT_EQ(read("b.csv"), "new\n");
    EXPECT_EQ(entries(), 1u);
}

}  // namespace
}  // namespace msgflash::report
