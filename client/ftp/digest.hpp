// Two digests of the same bytes, for two jobs.
//
// SHA-256 (OpenSSL's libcrypto) names a file: it is what a user compares
// with `sha256sum`, and what `ioclient ftp load --expect-sha256` takes. At
// about 1.7 GB/s on one core here, it cannot check every byte of a load
// that moves 2 GiB/s without becoming the bottleneck (it did: 60 % of the
// client's time, `perf record` on `ioclient ftp load --sessions 20`).
//
// XXH3-128 (libxxhash) checks a transfer: it runs at memory speed (tens of
// GB/s), and two different byte streams share a 128-bit digest with odds
// of about 2^-128. It is no defence against a server that forges bytes on
// purpose, which is not what a load test looks for; the SHA-256 of the
// copy every transfer is compared with says which file that is.
#pragma once

#include <memory>
#include <string>
#include <string_view>

struct evp_md_ctx_st;
struct XXH3_state_s;

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

class Xxh128 {
public:
    Xxh128();
    ~Xxh128();
    Xxh128(Xxh128&&) noexcept;
    Xxh128& operator=(Xxh128&&) noexcept;

    void update(std::string_view bytes);
    // The digest in lower-case hex (32 characters); the hasher starts over.
    std::string hex();

private:
    struct Free {
        void operator()(XXH3_state_s* state) const;
    };
    std::unique_ptr<XXH3_state_s, Free> state_;
};

struct Digests {
    std::string sha256, xxh128;  // hex
};

// Both digests of one pass over the same bytes.
class BothDigests {
public:
    void update(std::string_view bytes) {
        sha_.update(bytes);
        xxh_.update(bytes);
    }
    Digests done() { return {sha_.hex(), xxh_.hex()}; }

private:
    Sha256 sha_;
    Xxh128 xxh_;
};

// The digests of a whole file. Throws std::system_error naming it.
Digests digests_of_file(const std::string& path);
inline std::string sha256_of_file(const std::string& path) { return digests_of_file(path).sha256; }

}  // namespace iom::client::ftp
