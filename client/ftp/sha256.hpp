// SHA-256, incrementally, from OpenSSL's libcrypto (EVP): what ioclient ftp
// load checks every downloaded byte against.
#pragma once

#include <memory>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace iom::client::ftp {

class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(Sha256&&) noexcept;
    Sha256& operator=(Sha256&&) noexcept;

    void update(std::string_view bytes);
    // The digest in lower-case hex (64 characters); the hasher starts over.
    std::string hex();

private:
    struct Free {
        void operator()(evp_md_ctx_st* ctx) const;
    };
    std::unique_ptr<evp_md_ctx_st, Free> ctx_;
};

// The SHA-256 of a whole file, hex. Throws std::system_error naming it.
std::string sha256_of_file(const std::string& path);

}  // namespace iom::client::ftp
