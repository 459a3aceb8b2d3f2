#pragma once
// A scratch directory under /tmp, removed with everything in it.
#include <cstdlib>
#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace sb::test {

class temp_dir {
public:
    explicit temp_dir(const char* prefix = "sb_test") {
        std::string tmpl = std::string("/tmp/") + prefix + "_XXXXXX";
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path_ = tmpl;
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    std::string operator/(const std::string& name) const { return path_ + "/" + name; }
    const std::string& path() const { return path_; }
    void write(const std::string& name, std::string_view data) const {
        std::ofstream f(path_ + "/" + name, std::ios::binary | std::ios::trunc);
        f.write(data.data(), static_cast<std::streamsize>(data.size()));
    }

private:
    std::string path_;
};

}  // namespace sb::test
