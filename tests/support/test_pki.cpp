// Runs the openssl CLI through popen; the commands and their output are kept for the error message.
#include "tests/support/test_pki.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <unistd.h>

namespace msgflash::test {

namespace {

std::string quote(const std::filesystem::path& p) {
    std::string out = "'";
    for (char c : p.string()) {
        if (c == '\'') {
            out += "'\\''";
        } else {
            out += c;
        }
    }
    return out + "'";
}

void run_openssl(const std::string& args) {
    const std::string command = "openssl " + args + " 2>&1";
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) {
        throw std::runtime_error("cannot run: " + command);
    }
    std::string output;
    std::array<char, 512> chunk{};
    while (std::fgets(chunk.data(), static_cast<int>(chunk.size()), pipe) != nullptr) {
        output += chunk.data();
    }
    const int status = ::pclose(pipe);
    if (status != 0) {
        throw std::runtime_error("test PKI: `" + command + "` failed (" + std::to_string(status) + "):\n" +
                                 output);
    }
}

constexpr const char* key_options = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

void make_ca(const std::filesystem::path& dir, const std::string& name, const std::string& cn) {
    run_openssl(std::string("req -x509 ") + key_options + " -days 2 -subj " + quote("/CN=" + cn) +
                " -keyout " + quote(dir / (name + ".key")) + " -out " + quote(dir / (name + ".pem")) +
                " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign");
}

}  // namespace

temp_dir::temp_dir(std::string_view prefix) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
    }
    path_ = pattern;
}

temp_dir::~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

test_pki make_test_pki(const std::filesystem::path& dir) {
    make_ca(dir, "ca", "msgflash test CA (throw-away)");
    make_ca(dir, "other-ca", "unrelated test CA (throw-away)");

    const auto ext = dir / "server.ext";
    {
        std::ofstream out(ext);
        out << "basicConstraints=CA:FALSE\n"
               "keyUsage=critical,digitalSignature,keyEncipherment\n"
               "extendedKeyUsage=serverAuth\n"
               "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
    }
    run_openssl(std::string("req ") + key_options + " -subj /CN=localhost -keyout " +
                quote(dir / "server.key") + " -out " + quote(dir / "server.csr"));
    run_openssl("x509 -req -days 2 -in " + quote(dir / "server.csr") + " -CA " + quote(dir / "ca.pem") +
                " -CAkey " + quote(dir / "ca.key") + " -CAcreateserial -CAserial " + quote(dir / "ca.srl") +
                " -extfile " + quote(ext) + " -out " + quote(dir / "server.pem"));

    test_pki pki;
    pki.ca_cert = dir / "ca.pem";
    pki.server_cert = dir / "server.pem";
    pki.server_key = dir / "server.key";
    pki.other_ca_cert = dir / "other-ca.pem";
    return pki;
}

}  // namespace msgflash::test
