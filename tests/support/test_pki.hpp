// Throw-away TLS material for tests, made with the openssl CLI at test time: a CA, a server certificate for
// localhost/127.0.0.1 signed by it, and a second, unrelated CA (for "client trusts the wrong CA" tests).
#pragma once

#include <filesystem>
#include <string_view>

namespace msgflash::test {

// A fresh directory under the system temp dir, removed with everything in it at destruction.
class temp_dir {
  public:
    explicit temp_dir(std::string_view prefix = "msgflash-test");
    ~temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

struct test_pki {
    std::filesystem::path ca_cert;      // trust this to talk to the server
    std::filesystem::path server_cert;  // CN=localhost, SAN DNS:localhost, IP:127.0.0.1, signed by ca_cert
    std::filesystem::path server_key;
    std::filesystem::path other_ca_cert;  // a CA that signed nothing the server has
};

// Writes the files into `dir` (which must exist). Throws std::runtime_error with openssl's output if a
// step fails. Takes a few tens of milliseconds (EC P-256 keys).
test_pki make_test_pki(const std::filesystem::path& dir);

}  // namespace msgflash::test
